"""Running ngspice decks: :func:`run_netlist` and :func:`run_netlists`.

A deck runs either in process through PySpice's ``NgSpiceShared``
(:mod:`pc_analog.spice.shared`; ~2-5 ms fixed cost) or as a subprocess
``ngspice -b -n -r`` (:func:`pc_analog.spice.batch.run_ngspice_batch`; ~15-20 ms
fixed cost, killed on timeout, runs in parallel across processes).  Both return a
:class:`SpiceRun` with the same vector names: bare node names (``x1_0``), ``time``,
and ``v1#branch`` for source currents.  ngspice's own failures (singular matrix,
time step too small, parse errors, a transient that stopped short of its end time)
raise :class:`~pc_analog.errors.BackendError` with ngspice's error report
(:func:`pc_analog.spice.batch.ngspice_error_block`: from the first failure line on).

Decks are run as they are, except that pc-analog's own ``*#`` run commands (written
for a plain ``ngspice -b deck.cir``) are removed
(:func:`pc_analog.spice.sandbox.strip_run_commands`): the runners read the raw file.
Untrusted text goes through :func:`pc_analog.spice.sandbox.check_netlist` first.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from pc_analog.errors import BackendError, BackendUnavailableError, InvalidInputError
from pc_analog.spice import shared as _shared
from pc_analog.spice.batch import ngspice_error_block, run_ngspice_batch
from pc_analog.spice.sandbox import _has_card, _tran_stop, strip_run_commands
from pc_analog.spice.shared import _normalise_name

__all__ = ["SpiceRun", "run_netlist", "run_netlists", "MODES"]

MODES = ("auto", "shared", "subprocess")

#: How to install what this backend needs on Debian/Ubuntu.
INSTALL_HINT = "apt-get install ngspice libngspice0-dev"

#: "auto" runs decks larger than this in a subprocess (the shared library keeps
#: the whole deck and its output in this process's memory).
AUTO_MAX_LINES = 20_000
AUTO_MAX_BYTES = 2_000_000

#: A transient must end at ``t >= t_stop (1 - TSTOP_RTOL)``.
TSTOP_RTOL = 1e-9

#: Default wall-clock limit of one ngspice run (seconds).
TIMEOUT_DEFAULT_S = 600.0


# =========================================================================== results


@dataclass(frozen=True, eq=False)
class SpiceRun:
    """What one ngspice run produced.

    Attributes
    ----------
    plots : Mapping of str to Mapping of str to ndarray
        Every plot ngspice made, keyed by analysis kind (``"tran"``, ``"op"``,
        ``"ac"``, ``"dc"``, ...; a second plot of one kind gets ``"tran2"``), in
        ngspice's order.  Each maps vector name to a read-only array: ``"time"``
        (or ``"frequency"``...), bare node names (``"x1_0"``) and source currents
        (``"v1#branch"``), the same names in both modes.
    time : ndarray or None
        The transient's time points (seconds), if a ``.tran`` ran.
    voltages : Mapping of str to ndarray
        Node voltages of the transient (node name -> array over ``time``); empty
        without a ``.tran``.
    op : Mapping of str to float or None
        The operating point (node voltages and ``#branch`` currents), if an
        ``.op`` ran.
    stdout, stderr : str
        ngspice's messages (in shared mode as the library delivered them).
    mode : {"shared", "subprocess"}
        The path that actually ran.
    seconds : float
        Wall time of the run (load, simulate, read, clean up).
    note : str
        Why ``"auto"``/``"shared"`` ran as a subprocess (empty otherwise).
    """

    plots: Mapping[str, Mapping[str, np.ndarray]]
    time: np.ndarray | None
    voltages: Mapping[str, np.ndarray]
    op: Mapping[str, float] | None
    stdout: str
    stderr: str
    mode: str
    seconds: float
    note: str = ""

    @property
    def t_end_s(self) -> float | None:
        """float or None : The transient's last time point."""
        return None if self.time is None or self.time.size == 0 else float(self.time[-1])

    def final_voltages(self) -> dict[str, float]:
        """Node voltages at the end of the transient, else at the operating point."""
        if self.time is not None:
            return {k: float(v[-1]) for k, v in self.voltages.items()}
        if self.op is not None:
            return {k: v for k, v in self.op.items() if _is_node(k)}
        return {}


def _is_node(name: str) -> bool:
    return (
        "#" not in name
        and not name.startswith("@")
        and name not in ("time", "frequency", "temp-sweep", "v-sweep", "i-sweep")
    )


# =========================================================================== both modes

_BATCH_PLOT_KINDS = {
    "transient analysis": "tran",
    "operating point": "op",
    "ac analysis": "ac",
    "dc transfer characteristic": "dc",
    "noise spectral density curves": "noise",
    "integrated noise": "noise",
    "transfer function": "tf",
    "sensitivity analysis": "sens",
    "pole-zero analysis": "pz",
    "distortion analysis": "disto",
    "distortion - 2nd harmonic": "disto",
    "distortion - 3rd harmonic": "disto",
}


def _natural_key(name: str):
    """``x2_10`` after ``x2_9``: digit runs compare as numbers."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]


def _plot_kind(name: str) -> str:
    low = name.strip().lower()
    if low in _BATCH_PLOT_KINDS:
        return _BATCH_PLOT_KINDS[low]
    slug = re.sub(r"[^a-z0-9]+", "_", re.sub(r"\d+$", "", low)).strip("_")
    return slug or "plot"


def _assemble(
    raw_plots: list[tuple[str, dict[str, np.ndarray]]],
    text: str,
    stdout: str,
    stderr: str,
    mode: str,
    seconds: float,
    note: str,
) -> SpiceRun:
    plots: dict[str, Mapping[str, np.ndarray]] = {}
    for name, vectors in raw_plots:
        kind = _plot_kind(name)
        key, k = kind, 1
        while key in plots:
            k += 1
            key = f"{kind}{k}"
        vecs = {}
        for vname in sorted(vectors, key=_natural_key):
            arr = vectors[vname]
            arr = np.asarray(arr)
            arr.setflags(write=False)
            vecs[vname] = arr
        plots[key] = MappingProxyType(vecs)

    t = None
    voltages: dict[str, np.ndarray] = {}
    if "tran" in plots:
        tran = plots["tran"]
        if "time" not in tran:
            raise BackendError("ngspice produced a transient without a time vector")
        t = np.real(tran["time"])
        if t.size == 0:
            raise BackendError("ngspice produced no points for the transient")
        t_stop = _tran_stop(text)
        if t_stop is not None and t[-1] < t_stop * (1 - TSTOP_RTOL):
            problem = ngspice_error_block(stderr, stdout)
            raise BackendError(
                f"ngspice stopped the transient at t = {t[-1]:.6g} s of {t_stop:.6g} s"
                + (f": {problem}" if problem else "")
            )
        voltages = {k: np.real(v) for k, v in tran.items() if _is_node(k)}
    elif _has_card(text, ".tran"):
        problem = ngspice_error_block(stderr, stdout)
        raise BackendError(f"ngspice produced no transient: {problem or 'no message'}")
    op = None
    if "op" in plots:
        op = {k: float(np.real(v[0])) for k, v in plots["op"].items() if v.size}
    elif _has_card(text, ".op"):
        problem = ngspice_error_block(stderr, stdout)
        raise BackendError(f"ngspice produced no operating point: {problem or 'no message'}")
    return SpiceRun(
        plots=MappingProxyType(plots),
        time=t,
        voltages=MappingProxyType(voltages),
        op=MappingProxyType(op) if op is not None else None,
        stdout=stdout,
        stderr=stderr,
        mode=mode,
        seconds=seconds,
        note=note,
    )


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InvalidInputError(f"mode: unknown {mode!r} (known: {', '.join(MODES)})")


def _is_large(text: str) -> bool:
    return len(text) > AUTO_MAX_BYTES or text.count("\n") > AUTO_MAX_LINES


def _choose(text: str, mode: str) -> tuple[str, str]:
    """``(mode to run, note)`` for a requested mode."""
    if mode == "subprocess":
        return "subprocess", ""
    if mode == "auto" and _is_large(text):
        if shutil.which("ngspice") is not None:
            return "subprocess", ""
        note = "large netlist, but no ngspice binary: ran in shared mode"
        mode = "shared"
    else:
        note = ""
    with _shared._SHARED_LOCK:
        try:
            _shared._shared_instance()
            return "shared", note
        except _shared._SharedUnavailable as exc:
            reason = str(exc)
    if shutil.which("ngspice") is None:
        raise BackendUnavailableError(
            f"ngspice is not available: no ngspice binary on PATH and {reason} "
            f"(on Debian/Ubuntu: {INSTALL_HINT})"
        )
    return "subprocess", f"shared mode unavailable, ran as a subprocess: {reason}"


def _run_subprocess(text: str, timeout_s: float, workdir, progress=None) -> tuple[list, str, str]:
    if shutil.which("ngspice") is None:
        raise BackendUnavailableError(
            f"ngspice binary not found on PATH (on Debian/Ubuntu: {INSTALL_HINT})"
        )
    plots, stdout, stderr, _ = run_ngspice_batch(
        text, timeout_s=timeout_s, workdir=workdir, progress=progress
    )
    raw = [(p.plotname, {_normalise_name(k): p.data[k] for k in p.variables}) for p in plots]
    return raw, stdout, stderr


def run_netlist(
    text: str,
    *,
    mode: str = "auto",
    timeout_s: float = TIMEOUT_DEFAULT_S,
    workdir: str | os.PathLike[str] | None = None,
    progress=None,
) -> SpiceRun:
    """Run one ngspice deck and read every vector it produced.

    Parameters
    ----------
    text : str
        The deck, run as it is: pass untrusted text through :func:`check_netlist`
        first (``.control`` blocks and ``*#`` lines execute commands).
    mode : {"auto", "shared", "subprocess"}
        ``"shared"``: in this process through PySpice's ``NgSpiceShared`` (one
        instance per process, reused under a lock, cleaned after every run).
        ``"subprocess"``: ``ngspice -b -n -r`` in a scratch directory.
        ``"auto"``: a subprocess for decks over 20 000 lines or 2 MB, else shared.
        If the shared library cannot be loaded (PySpice or libngspice missing, or a
        failed load, which cannot be retried in one process), ``"auto"`` and
        ``"shared"`` run a subprocess and say why in :attr:`SpiceRun.note`.
    timeout_s : float
        Wall-clock limit; the subprocess is killed, the shared run halted.
    workdir : str or os.PathLike, optional
        Subprocess mode: directory kept with ``in.cir`` and ``out.raw``.  Shared
        mode: ``in.cir`` is written there for reference.
    progress : callable, optional
        Subprocess mode: called with each line ngspice prints while it runs.

    Returns
    -------
    SpiceRun

    Raises
    ------
    BackendError
        ngspice reported a failure (the message quotes its error report, from the
        first failure line on, possibly several lines),
        timed out, or ended a transient before its stop time.
    BackendUnavailableError
        Neither the shared library nor the ngspice binary is available.
    InvalidInputError
        For an unknown mode or a non-positive timeout.
    """
    _check_mode(mode)
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0 and math.isfinite(timeout_s)):
        raise InvalidInputError(f"timeout_s: must be a positive number, got {timeout_s!r}")
    text = strip_run_commands(text)  # pc-analog's own "*#" block for plain ngspice -b
    chosen, note = _choose(text, mode)
    t0 = time.perf_counter()
    if chosen == "shared":
        if workdir is not None:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            (Path(workdir) / "in.cir").write_text(text, encoding="utf-8")
        plots, stdout, stderr = _shared._run_shared(text, timeout_s)
        problem = ngspice_error_block(stderr, stdout)
        if problem is not None:
            raise BackendError(f"ngspice reported: {problem}")
        raw = list(plots.items())
    else:
        raw, stdout, stderr = _run_subprocess(text, timeout_s, workdir, progress)
    return _assemble(raw, text, stdout, stderr, chosen, time.perf_counter() - t0, note)


def run_netlists(
    texts: Sequence[str],
    *,
    mode: str = "auto",
    timeout_s: float = TIMEOUT_DEFAULT_S,
    workdir: str | os.PathLike[str] | None = None,
    max_workers: int | None = None,
) -> list[SpiceRun]:
    """Run several decks; subprocess runs go in parallel, shared runs one after another.

    Parameters
    ----------
    texts : sequence of str
    mode : {"auto", "shared", "subprocess"}
        As in :func:`run_netlist`.  For several transients on a machine with more
        than one CPU, ``"auto"`` runs subprocesses in parallel (one ngspice per
        process is all the shared library allows); operating points (~5 ms each
        in shared mode, ~20 ms as a subprocess) stay in shared mode.
    timeout_s : float
        Per deck.
    workdir : str or os.PathLike, optional
        Deck ``k`` runs in ``workdir/run<k>``.
    max_workers : int, optional
        Parallel subprocesses; default ``os.cpu_count()``.

    Returns
    -------
    list of SpiceRun
        In the order of `texts`.  The first failure is raised after all runs end.
    """
    _check_mode(mode)
    texts = list(texts)
    workers = max(1, min(len(texts), max_workers or os.cpu_count() or 1))
    if (
        mode == "auto"
        and len(texts) > 1
        and workers > 1
        and any(_has_card(t, ".tran") for t in texts)
        and shutil.which("ngspice")
    ):
        mode = "subprocess"  # transients: CPU-bound, so parallel processes win

    def wd(k):
        return None if workdir is None else Path(workdir) / f"run{k}"

    if mode != "subprocess" or workers == 1:
        return [
            run_netlist(t, mode=mode, timeout_s=timeout_s, workdir=wd(k))
            for k, t in enumerate(texts)
        ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run_netlist, t, mode="subprocess", timeout_s=timeout_s, workdir=wd(k))
            for k, t in enumerate(texts)
        ]
        concurrent.futures.wait(futures)
    return [f.result() for f in futures]
