"""Co-design sweeps: a grid of circuit, network and device parameters, one tidy row per point.

A sweep is data (a JSON or TOML file, format ``pc-analog.sweep/1``)::

    {
      "format": "pc-analog.sweep/1",
      "grid":  {"depth": [2, 4, 8], "dynamics": ["RC", "inertial"]},
      "fixed": {"network": "chain", "width": 1},
      "seed": 0,
      "quantities": ["settling"]
    }

- ``grid``: parameter -> list of values.  The points are the Cartesian product in the
  order the keys are written, the **last key varying fastest** (as
  :func:`itertools.product`); point ``k`` is the ``k``-th of that order.
- ``fixed``: parameter -> one value for every point.  A parameter named in neither
  takes its default (:data:`PARAMETERS`); one named in both is an error.
- ``seed``: integer >= 0.  The network and its data come from
  ``default_rng([seed, repeat])`` (the same network for every point of equal
  structure, so dynamics or devices are compared on one network), the device
  fabrication, write and read noise of point ``k`` from ``default_rng([seed, k])``.
  No random number depends on which worker runs a point or when.
- ``quantities``: what each point measures (:data:`QUANTITIES`; default
  ``["settling"]``).

Each point is evaluated by :func:`run_point`, a top-level function of
``(params, seed)``, so it runs unchanged in a local process pool, in threads, or on
the workers of a Dask cluster (:func:`run_sweep` takes any
:class:`concurrent.futures.Executor`, a scheduler address, or nothing for local
processes).  Rows are returned in point order whatever the order of completion.

The code lives in three modules, re-exported here (the import path of every name):
:mod:`~pc_analog.experiments.sweep_config` (parameters, validation, the sweep file),
:mod:`~pc_analog.experiments.sweep_point` (one point) and
:mod:`~pc_analog.experiments.sweep_results` (rows, CSV, crossovers); this module runs
the points through an executor.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time

from pc_analog.errors import InvalidInputError
from pc_analog.experiments.sweep_config import (
    PARAMETERS,
    QUANTITIES,
    SWEEP_FORMAT,
    SweepConfig,
    load_sweep_config,
)
from pc_analog.experiments.sweep_point import group_key, run_group, run_point
from pc_analog.experiments.sweep_results import (
    RATIO_COLUMNS,
    SweepResult,
    crossover_table,
    find_crossover,
    read_sweep_csv,
)

__all__ = [
    "SWEEP_FORMAT",
    "PARAMETERS",
    "QUANTITIES",
    "SweepConfig",
    "SweepResult",
    "load_sweep_config",
    "run_point",
    "run_group",
    "run_sweep",
    "read_sweep_csv",
    "find_crossover",
    "crossover_table",
    "RATIO_COLUMNS",
]

_DASK_CONNECT_TIMEOUT_S = 10.0


class _SerialExecutor(cf.Executor):
    """Runs each submission at once in the calling thread (debugging, notebooks)."""

    def submit(self, fn, /, *args, **kwargs):
        f = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller via the future
            f.set_exception(exc)
        return f


def _executor(executor, max_workers: int | None):
    """``(executor, close, description)`` for what :func:`run_sweep` was given."""
    if executor is None or executor == "processes":
        n = max_workers or os.cpu_count() or 1
        ex = cf.ProcessPoolExecutor(max_workers=n)
        return ex, lambda: ex.shutdown(cancel_futures=True), f"processes ({n} workers)"
    if executor == "serial":
        return _SerialExecutor(), lambda: None, "serial"
    if executor == "threads":
        n = max_workers or os.cpu_count() or 1
        ex = cf.ThreadPoolExecutor(max_workers=n)
        return ex, lambda: ex.shutdown(cancel_futures=True), f"threads ({n} workers)"
    if isinstance(executor, str):
        address = executor
        if address.startswith("dask://"):
            address = "tcp://" + address[len("dask://") :]
        try:
            from dask.distributed import Client
        except ImportError:
            from pc_analog.errors import BackendUnavailableError

            raise BackendUnavailableError(
                "dask: a scheduler address needs dask[distributed] (pip install 'pc-analog[dask]')"
            ) from None
        try:
            client = Client(address, timeout=f"{_DASK_CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            from pc_analog.errors import BackendUnavailableError

            raise BackendUnavailableError(f"dask scheduler {address}: {exc}") from None
        return client.get_executor(), client.close, f"dask {address}"
    if isinstance(executor, cf.Executor):
        return executor, lambda: None, type(executor).__name__
    raise InvalidInputError(
        f"executor: expected None, 'processes', 'threads', 'serial', a scheduler address or "
        f"a concurrent.futures.Executor, got {executor!r}"
    )


def run_sweep(
    config,
    executor=None,
    *,
    max_workers: int | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run every point of a sweep through an executor; rows in point order.

    Parameters
    ----------
    config : SweepConfig, mapping, or path of a ``.json``/``.toml`` file
    executor : None, str or concurrent.futures.Executor
        ``None`` or ``"processes"``: a local :class:`~concurrent.futures.ProcessPoolExecutor`
        of ``max_workers`` (default ``os.cpu_count()``) processes; ``"threads"``: a thread
        pool; ``"serial"``: in this thread; any other string is a Dask scheduler address
        (``"dask://host:port"``, ``"tcp://host:port"``) run through
        ``dask.distributed.Client(address).get_executor()``; an Executor instance is
        used as it is (and not shut down).
    max_workers : int, optional
        Pool size for local processes/threads.
    progress : bool
        Show a tqdm progress bar (on stderr).

    Returns
    -------
    SweepResult
        The same rows whatever the executor: every random number comes from the
        sweep seed and the point index (see the module docstring).
    """
    from functools import partial

    from tqdm.auto import tqdm

    cfg = load_sweep_config(config)
    points = cfg.points()
    fn = partial(run_group, quantities=cfg.quantities)
    # points that can share work (see run_group) go to one task, in point order
    groups: dict = {}
    for k, p in enumerate(points):
        groups.setdefault(group_key(p, cfg.quantities), []).append(k)
    ex, close, where = _executor(executor, max_workers)
    t0 = time.perf_counter()
    rows: list = [None] * len(points)
    futures: dict = {}
    try:
        futures = {
            ex.submit(fn, [(points[k], (cfg.seed, k)) for k in ks]): ks for ks in groups.values()
        }
        with tqdm(total=len(points), desc="sweep", unit="point", disable=not progress) as bar:
            for f in cf.as_completed(futures):
                for k, row in zip(futures[f], f.result()):
                    rows[k] = row
                bar.update(len(futures[f]))
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    finally:
        close()
    return SweepResult(cfg, tuple(rows), where, time.perf_counter() - t0)
