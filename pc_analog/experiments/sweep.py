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
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import io
import itertools
import json
import math
import os
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = [
    "SWEEP_FORMAT",
    "PARAMETERS",
    "QUANTITIES",
    "SweepConfig",
    "SweepResult",
    "load_sweep_config",
    "run_point",
    "run_sweep",
    "read_sweep_csv",
    "find_crossover",
    "crossover_table",
    "RATIO_COLUMNS",
]

RATIO_COLUMNS = {
    "latency (batch 1)": "time_ratio",
    "throughput": "throughput_time_ratio",
    "energy": "energy_ratio",
}
"""The timing ratios a crossover is looked for in: label -> column."""

SWEEP_FORMAT = "pc-analog.sweep/1"

QUANTITIES = ("settling", "devices", "timing")
"""What a point can measure.

``settling``
    ``ode`` backend, first-order (``dynamics="RC"``) or spring-network
    (``"inertial"``) relaxation of the point's network as programmed into its
    devices: ``settling_time_s``, ``settling_time_tau``, ``lambda_min`` (slowest mode
    of the Hessian at the equilibrium), ``predicted_tau`` (one-mode estimate
    ``ln(1/band)/lambda_min``, or ``ln(1/band)/sqrt(lambda_min)`` inertial) and
    ``success`` (:func:`pc_analog.experiments.studies.settling_row`).
``devices``
    The weights programmed into the point's devices against the ideal ones, and the
    equilibria (input and target clamped) of both: ``weight_rel_error``
    ``= ||W_dev - W||_F / ||W||_F`` over all layers, and ``state_error_max_V`` /
    ``state_error_rms_V``, the largest and RMS ``|x_dev* - x*|`` over the free units.
``timing``
    :func:`pc_analog.costs.timing.timing_report` of the programmed network on the point's
    analog spec (``analog`` preset with the point's ``c_F``, ``g0_S``, ``g_unit_S``)
    against one digital reference (``digital``): every column of
    :meth:`~pc_analog.costs.timing.TimingReport.as_row` (``analog.*``, ``digital.*`` with
    the machine's name dropped, ``cpu.*`` when ``measure_cpu``; of ``config.*`` only
    ``config.sizes``, ``config.pc_step_size_tau``, ``config.pc_steps_same_residual``),
    and four headline columns: ``n_weights`` (``sum n_l n_{l-1}``), ``time_ratio``
    (analog settling time / digital backprop latency, batch 1), ``throughput_time_ratio``
    (analog time per sample / digital backprop time per sample at
    ``throughput_batch``) and ``energy_ratio`` (analog energy per inference / digital
    backprop energy per sample).  Below 1 the analog circuit wins.  Deterministic unless
    ``measure_cpu`` is true or ``digital`` is ``"cpu-measured"``.
"""

_DYNAMICS = ("RC", "inertial")
_DASK_CONNECT_TIMEOUT_S = 10.0
_NETWORKS = ("random", "chain")


def _c(v, name):  # positive finite float
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
        raise InvalidInputError(f"{name}: must be a positive number, got {v!r}")
    return float(v)


def _i(lo):
    def check(v, name):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InvalidInputError(f"{name}: must be an integer >= {lo}, got {v!r}")
        return int(v)

    return check


def _opt(check):
    def opt(v, name):
        return None if v is None else check(v, name)

    return opt


def _choice(options):
    def check(v, name):
        if v not in options:
            raise InvalidInputError(f"{name}: must be one of {', '.join(options)}, got {v!r}")
        return v

    return check


def _band(v, name):
    v = _c(v, name)
    if not v < 1:
        raise InvalidInputError(f"{name}: must be in (0, 1), got {v!r}")
    return v


def _fraction(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
        raise InvalidInputError(f"{name}: must be a number >= 0, got {v!r}")
    return float(v)


def _activation(v, name):
    from pc_analog.model.activations import ACTIVATIONS

    return _choice(tuple(sorted(ACTIVATIONS)))(v, name)


def _device(v, name):
    from pc_analog.hardware.devices import PRESETS

    return _choice(tuple(PRESETS))(v, name)


def _bool(v, name):
    if not isinstance(v, bool):
        raise InvalidInputError(f"{name}: must be true or false, got {v!r}")
    return v


def _analog(v, name):
    from pc_analog.costs.specs import load_analog_spec

    if not isinstance(v, str) or not v:
        raise InvalidInputError(f"{name}: must be a preset name or a JSON file, got {v!r}")
    load_analog_spec(v)
    return v


def _digital(v, name):
    from pc_analog.costs.specs import load_digital_spec

    if not isinstance(v, str) or not v:
        raise InvalidInputError(f"{name}: must be a preset name or a JSON file, got {v!r}")
    if v != "cpu-measured":
        load_digital_spec(v)
    return v


PARAMETERS: Mapping[str, tuple[object, object, str]] = {
    "network": ("random", _choice(_NETWORKS), "'random' (seeded, biases) or 'chain' (gain*I)"),
    "depth": (3, _i(1), "number of weight layers L"),
    "width": (8, _i(1), "units per layer (every layer)"),
    "activation": ("tanh", _activation, "activation of the hidden layers"),
    "gain": (1.0, _c, "weight scale (random: U(-g/sqrt(n), g/sqrt(n)); chain: g*I)"),
    "batch": (1, _i(1), "samples settled together"),
    "analog": ("default", _analog, "analog spec (pc_analog.costs.specs preset or JSON file)"),
    "c_F": (None, _opt(_c), "node capacitance C (F); default: the analog spec's"),
    "g0_S": (None, _opt(_c), "unit conductance g0 (S), tau = C/g0; default: the analog spec's"),
    "g_unit_S": (None, _opt(_c), "crossbar S of a unit weight; default: the analog spec's"),
    "dynamics": ("RC", _choice(_DYNAMICS), "'RC' (first order) or 'inertial' (mass+damping)"),
    "damping_ratio": (1.0, _c, "inertial: damping ratio of the slowest mode"),
    "band": (1e-3, _band, "settling band delta of the settling time"),
    "device": (None, _opt(_device), "device preset (devices.PRESETS); default: the analog spec's"),
    "bits": (None, _opt(_i(1)), "override: 2**bits levels on the preset's range"),
    "write_noise": (None, _opt(_fraction), "override: write noise, fraction of the range"),
    "repeat": (0, _i(0), "replicate index: another network/data draw"),
    "digital": ("gpu-a100", _digital, "timing: digital reference (specs preset, JSON file)"),
    "throughput_batch": (256, _i(1), "timing: batch of the throughput figures"),
    "measure_cpu": (False, _bool, "timing: also time backprop/PC on this CPU (not reproducible)"),
}
"""Point parameters: name -> (default, validator, meaning)."""


def _check_param(name: str, value, where: str):
    if name not in PARAMETERS:
        raise InvalidInputError(
            f"{where}.{name}: unknown parameter (known: {', '.join(PARAMETERS)})"
        )
    return PARAMETERS[name][1](value, f"{where}.{name}")


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: grid, fixed settings, seed and quantities.

    Attributes
    ----------
    grid : tuple of (name, tuple of values)
        In the order given; the last varies fastest.
    fixed : tuple of (name, value)
    seed : int
    quantities : tuple of str
    """

    grid: tuple[tuple[str, tuple], ...]
    fixed: tuple[tuple[str, object], ...] = ()
    seed: int = 0
    quantities: tuple[str, ...] = ("settling",)

    def __post_init__(self) -> None:
        grid = []
        seen = set()
        if not self.grid:
            raise InvalidInputError("grid: needs at least one parameter with a list of values")
        for name, values in self.grid:
            if not isinstance(values, (list, tuple)) or len(values) == 0:
                raise InvalidInputError(f"grid.{name}: must be a non-empty list of values")
            vals = tuple(_check_param(name, v, "grid") for v in values)
            if len(set(map(repr, vals))) != len(vals):
                raise InvalidInputError(f"grid.{name}: repeated value")
            grid.append((name, vals))
            seen.add(name)
        fixed = []
        for name, value in self.fixed:
            if name in seen:
                raise InvalidInputError(f"fixed.{name}: also in grid (name it in one place)")
            fixed.append((name, _check_param(name, value, "fixed")))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidInputError(f"seed: must be an integer >= 0, got {self.seed!r}")
        q = self.quantities
        if isinstance(q, str) or not isinstance(q, (list, tuple)) or not q:
            raise InvalidInputError(
                f"quantities: must be a non-empty list of {', '.join(QUANTITIES)}"
            )
        for name in q:
            if name not in QUANTITIES:
                raise InvalidInputError(
                    f"quantities: unknown {name!r} (known: {', '.join(QUANTITIES)})"
                )
        object.__setattr__(self, "grid", tuple(grid))
        object.__setattr__(self, "fixed", tuple(fixed))
        object.__setattr__(self, "quantities", tuple(dict.fromkeys(q)))
        pts = self.points()
        if "timing" in self.quantities and min(p["depth"] for p in pts) < 2:
            where = "grid" if "depth" in seen else "fixed"
            raise InvalidInputError(
                f"{where}.depth: the timing quantity needs depth >= 2 (a free layer to settle)"
            )
        keys = {(p["device"], p["bits"], p["write_noise"]) for p in pts}
        for device, bits, wn in keys:  # an override that cannot apply fails here, not in a worker
            _device_config({"device": device, "bits": bits, "write_noise": wn})

    @property
    def n_points(self) -> int:
        """Number of grid points (the product of the grid lengths)."""
        return math.prod(len(v) for _, v in self.grid)

    def points(self) -> list[dict]:
        """Every point's full parameter dict, in sweep order (last grid key fastest).

        ``c_F``, ``g0_S``, ``g_unit_S`` and ``device`` left unset take the values of the
        point's ``analog`` spec, so every row holds numbers.
        """
        base = {k: d for k, (d, _, _) in PARAMETERS.items()}
        base.update(self.fixed)
        names = [k for k, _ in self.grid]
        out = []
        for combo in itertools.product(*(v for _, v in self.grid)):
            p = dict(base)
            p.update(zip(names, combo))
            out.append(_resolved(p))
        return out

    def to_dict(self) -> dict:
        """The JSON-ready form (``from_dict(c.to_dict()) == c``)."""
        return {
            "format": SWEEP_FORMAT,
            "grid": {k: list(v) for k, v in self.grid},
            "fixed": dict(self.fixed),
            "seed": self.seed,
            "quantities": list(self.quantities),
        }

    @classmethod
    def from_dict(cls, d) -> SweepConfig:
        """Validate a dict read from JSON/TOML; unknown keys are rejected by name."""
        if not isinstance(d, dict):
            raise InvalidInputError("sweep: the config must be an object/table")
        known = ("format", "grid", "fixed", "seed", "quantities")
        for key in d:
            if key not in known:
                raise InvalidInputError(f"{key}: unknown field (known: {', '.join(known)})")
        if d.get("format") != SWEEP_FORMAT:
            raise InvalidInputError(f"format: expected {SWEEP_FORMAT!r}, got {d.get('format')!r}")
        grid = d.get("grid")
        if not isinstance(grid, dict):
            raise InvalidInputError("grid: must be an object of parameter -> list of values")
        fixed = d.get("fixed", {})
        if not isinstance(fixed, dict):
            raise InvalidInputError("fixed: must be an object of parameter -> value")
        return cls(
            grid=tuple((k, v) for k, v in grid.items()),
            fixed=tuple(fixed.items()),
            seed=d.get("seed", 0),
            quantities=d.get("quantities", ["settling"]),
        )


def load_sweep_config(spec: str | os.PathLike | Mapping | SweepConfig) -> SweepConfig:
    """A :class:`SweepConfig` from a ``.json``/``.toml`` file, a dict, or a config.

    Raises
    ------
    InvalidInputError
        Unreadable file, bad JSON/TOML, or a field out of range (named in the message).
    """
    if isinstance(spec, SweepConfig):
        return spec
    if isinstance(spec, Mapping):
        return SweepConfig.from_dict(dict(spec))
    p = Path(spec)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        if p.suffix.lower() == ".toml":
            d = tomllib.loads(raw.decode("utf-8"))
        else:
            d = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nesting
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(
            f"{p}: not valid {'TOML' if p.suffix == '.toml' else 'JSON'}: {msg}"
        ) from None
    return SweepConfig.from_dict(d)


# ---------------------------------------------------------------- one point


def _resolved(p: Mapping) -> dict:
    """``p`` with unset hardware fields and device taken from its analog spec."""
    from pc_analog.costs.specs import load_analog_spec

    p = dict(p)
    if any(p[k] is None for k in _FROM_SPEC):
        spec = load_analog_spec(p["analog"])
        for k in _FROM_SPEC:
            if p[k] is None:
                p[k] = getattr(spec, k)
    return p


_FROM_SPEC = ("c_F", "g0_S", "g_unit_S", "device")


def _device_config(p: Mapping):
    """The point's DeviceConfig: the preset, with ``bits``/``write_noise`` overrides."""
    from pc_analog.hardware.devices import PRESETS

    dev = PRESETS[p["device"]]
    over = {}
    if p["bits"] is not None:
        over["levels"] = 2 ** p["bits"]
        over["pulse_step_S"] = None  # one pulse = one level of the new grid
    if p["write_noise"] is not None:
        over["write_noise"] = p["write_noise"]
    if not over:
        return dev
    if not dev.bounded:
        raise InvalidInputError(
            f"device {p['device']!r}: bits/write_noise need a bounded device "
            "(e.g. 'bounded', '4bit', 'rram')"
        )
    name = dev.name + "".join(
        f"-{k}={v}" for k, v in (("bits", p["bits"]), ("wn", p["write_noise"])) if v is not None
    )
    return replace(dev, name=name, **over)


def _network_and_data(p: Mapping, seed0: int):
    from pc_analog.experiments.studies import chain_network
    from pc_analog.model.network import Network

    L, w, B = p["depth"], p["width"], p["batch"]
    if p["network"] == "chain":
        net = chain_network(L, w, activation=p["activation"], gain=p["gain"])
        return net, np.ones((B, w)), np.zeros((B, w))
    rng = np.random.default_rng([seed0, p["repeat"]])
    net = Network.random([w] * (L + 1), p["activation"], seed=rng, gain=p["gain"])
    return net, rng.uniform(-1, 1, size=(B, w)), rng.uniform(-1, 1, size=(B, w))


def run_point(params: Mapping, seed: Sequence[int], quantities: Sequence[str] = ("settling",)):
    """Evaluate one sweep point; a pure top-level function (picklable for any executor).

    Parameters
    ----------
    params : mapping
        A full parameter dict (:meth:`SweepConfig.points`).
    seed : (int, int)
        ``(sweep seed, point index)``: the network and data come from
        ``default_rng([seed[0], params["repeat"]])``, the devices from
        ``default_rng(list(seed))``.
    quantities : sequence of str
        From :data:`QUANTITIES`.

    Returns
    -------
    dict
        ``point``, every parameter, then the measured columns of each quantity.
    """
    import warnings

    from pc_analog._threads import single_threaded_blas
    from pc_analog.circuit.ir import Hardware
    from pc_analog.errors import ConvergenceWarning
    from pc_analog.experiments.studies import settling_row
    from pc_analog.hardware.hebbian import HardwareNetwork
    from pc_analog.settling.registry import settle

    seed0, index = int(seed[0]), int(seed[1])
    params = _resolved(params)
    net, x0, y = _network_and_data(params, seed0)
    hw = Hardware(c_F=params["c_F"], g0_S=params["g0_S"], g_unit_S=params["g_unit_S"])
    dev = _device_config(params)
    dev_rng = np.random.default_rng([seed0, index])
    if dev.exact_writes and dev.read_noise == 0 and dev.drift_nu == 0:
        net_dev = net
    else:
        hwnet = HardwareNetwork.fabricate(net, dev, hardware=hw, rng=dev_rng)
        net_dev = hwnet.network(rng=dev_rng)
    row = {"point": index, "seed": seed0, **params}
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if "settling" in quantities:
            r = settling_row(
                net_dev,
                x0,
                y,
                hardware=hw,
                inertial=params["dynamics"] == "inertial",
                damping_ratio=params["damping_ratio"],
                band=params["band"],
            )
            r.pop("dynamics")
            row.update(r)
        if "devices" in quantities:
            num = sum(
                float(np.sum((net_dev.W(l) - net.W(l)) ** 2)) for l in range(1, net.n_layers + 1)
            )
            den = sum(float(np.sum(net.W(l) ** 2)) for l in range(1, net.n_layers + 1))
            ref = settle(net, x0, y, hardware=hw, backend="equilibrium")
            got = settle(net_dev, x0, y, hardware=hw, backend="equilibrium")
            d = np.concatenate(
                [np.abs(a - b).ravel() for a, b in zip(got.x[1:-1], ref.x[1:-1])] + [np.zeros(0)]
            )
            row["weight_rel_error"] = math.sqrt(num / den) if den > 0 else 0.0
            row["state_error_max_V"] = float(d.max()) if d.size else 0.0
            row["state_error_rms_V"] = float(np.sqrt(np.mean(d**2))) if d.size else 0.0
            row["device_success"] = bool(np.all(ref.success) and np.all(got.success))
        if "timing" in quantities:
            row.update(_timing_columns(net_dev, x0, y, params, seed0))
    return row


_TIMING_CONFIG_KEPT = ("config.sizes", "config.pc_step_size_tau", "config.pc_steps_same_residual")


def _timing_columns(net, x0, y, p: Mapping, seed0: int) -> dict:
    """The ``timing`` quantity of one point (see :data:`QUANTITIES`)."""
    from pc_analog.costs.specs import load_analog_spec
    from pc_analog.costs.timing import timing_report

    # The weights are already programmed into the point's devices (``net``), so the
    # timing stage compiles them as they are (device "ideal").
    spec = replace(
        load_analog_spec(p["analog"]),
        c_F=p["c_F"],
        g0_S=p["g0_S"],
        g_unit_S=p["g_unit_S"],
        device="ideal",
    )
    rep = timing_report(
        net,
        x0,
        y,
        analog=spec,
        digital=(p["digital"],),
        inertial=p["dynamics"] == "inertial",
        damping_ratio=p["damping_ratio"],
        band=p["band"],
        measure_cpu=p["measure_cpu"],
        throughput_batch=p["throughput_batch"],
        seed=seed0,
    )
    name = rep.digital_specs[0].name
    out = {}
    for k, v in rep.as_row().items():
        if k.startswith("config.") and k not in _TIMING_CONFIG_KEPT:
            continue
        if k.startswith(f"digital.{name}."):
            k = "digital." + k[len(f"digital.{name}.") :]
        out[k] = "-".join(map(str, v)) if isinstance(v, list) else v
    s = net.sizes
    out["n_weights"] = int(sum(s[l - 1] * s[l] for l in range(1, len(s))))
    out["time_ratio"] = out["digital.analog_over_bp_latency"]
    a_thr, d_thr = out["analog.throughput_per_s"], out["digital.bp_throughput_per_s"]
    out["throughput_time_ratio"] = None if not (a_thr and d_thr) else d_thr / a_thr
    out["energy_ratio"] = out["digital.analog_over_bp_energy"]
    return out


# ---------------------------------------------------------------- executors


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


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class SweepResult:
    """Rows of a sweep, one per point in sweep order.

    Attributes
    ----------
    config : SweepConfig
    rows : tuple of dict
        ``point``, ``seed``, every parameter, then the measured columns.
    executor : str
        Where it ran (e.g. ``"processes (2 workers)"``, ``"dask tcp://..."``).
    seconds : float
        Wall-clock time of the whole sweep.
    """

    config: SweepConfig
    rows: tuple[dict, ...]
    executor: str = ""
    seconds: float = float("nan")
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        cols = {}
        for r in self.rows:
            cols.update(dict.fromkeys(r))
        object.__setattr__(self, "columns", tuple(cols))

    def to_csv_text(self) -> str:
        """The tidy CSV: a header of :attr:`columns`, one line per point (None -> empty)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for r in self.rows:
            w.writerow(["" if r.get(c) is None else _cell(r.get(c)) for c in self.columns])
        return buf.getvalue()

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_csv_text` atomically to ``path``."""
        from pc_analog.io.formats import atomic_write_text

        atomic_write_text(path, self.to_csv_text())


def _cell(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _parse(s: str):
    if s == "":
        return None
    if s in ("true", "false"):
        return s == "true"
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def read_sweep_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a sweep CSV, values typed back (int, float, bool, None, str).

    Parameters whose values are strings (``network``, ``activation``, ``dynamics``,
    ``device``, ``analog``, ``digital``) stay strings.
    """
    text_cols = {"network", "activation", "dynamics", "device", "analog", "digital"}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (v if k in text_cols else _parse(v)) for k, v in r.items()} for r in rows]


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
    fn = partial(run_point, quantities=cfg.quantities)
    ex, close, where = _executor(executor, max_workers)
    t0 = time.perf_counter()
    rows: list = [None] * len(points)
    futures: dict = {}
    try:
        futures = {ex.submit(fn, p, (cfg.seed, k)): k for k, p in enumerate(points)}
        with tqdm(total=len(points), desc="sweep", unit="point", disable=not progress) as bar:
            for f in cf.as_completed(futures):
                rows[futures[f]] = f.result()
                bar.update(1)
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    finally:
        close()
    return SweepResult(cfg, tuple(rows), where, time.perf_counter() - t0)


def find_crossover(x: Sequence[float], ratio: Sequence[float]) -> float | None:
    """The smallest ``x`` where ``ratio`` crosses 1 (e.g. analog/digital time).

    Points are sorted by ``x``; between the first bracketing pair
    ``(ratio_i - 1)(ratio_{i+1} - 1) <= 0`` the crossing is interpolated linearly in
    log-log space, ``log x* = log x_i + (log x_{i+1} - log x_i) (-log r_i) /
    (log r_{i+1} - log r_i)``.  Returns ``None`` when the ratio stays on one side
    (non-finite points are skipped).
    """
    xs = np.asarray(x, float)
    rs = np.asarray(ratio, float)
    ok = np.isfinite(xs) & np.isfinite(rs) & (xs > 0) & (rs > 0)
    xs, rs = xs[ok], rs[ok]
    order = np.argsort(xs, kind="stable")
    lx, lr = np.log(xs[order]), np.log(rs[order])
    for i in range(lx.size):
        if lr[i] == 0:
            return float(np.exp(lx[i]))
        if i + 1 < lx.size and lr[i] * lr[i + 1] < 0:
            f = -lr[i] / (lr[i + 1] - lr[i])
            return float(np.exp(lx[i] + f * (lx[i + 1] - lx[i])))
    return None


def crossover_table(rows: Sequence[Mapping], *, x: str = "n_weights", varying=()) -> list[dict]:
    """Where each timing ratio crosses 1 against the size ``x``, per group of the other
    varying parameters.

    Parameters
    ----------
    rows : sequence of mapping
        Rows with the ``timing`` quantity.
    x : str
        The size column (default ``n_weights``).
    varying : sequence of str
        Grid parameters that vary; those other than ``depth``/``width`` (the size axes)
        split the rows into groups.

    Returns
    -------
    list of dict
        One per group and ratio that has a finite value (a digital reference without an
        energy figure has no energy row): the group's parameters, ``ratio`` (label of
        :data:`RATIO_COLUMNS`), ``min``/``max`` of the ratio over the group, and
        ``crossover`` (the ``x`` where it crosses 1, :func:`find_crossover`, or
        ``None``).
    """
    keys = [k for k in varying if k not in ("depth", "width")]
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for g, rs in groups.items():
        xs = [r[x] for r in rs]
        for label, col in RATIO_COLUMNS.items():
            if col not in rs[0]:
                continue
            ys = [np.nan if r[col] is None else r[col] for r in rs]
            if not np.isfinite(ys).any():  # e.g. energy against a machine without a figure
                continue
            out.append(
                {
                    **dict(zip(keys, g)),
                    "ratio": label,
                    "min": float(np.nanmin(ys)),
                    "max": float(np.nanmax(ys)),
                    "crossover": find_crossover(xs, ys),
                }
            )
    return out
