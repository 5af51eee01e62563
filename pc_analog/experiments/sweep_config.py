"""Sweep configuration: the parameters of a point, their validation, and the sweep file.

The format and the meaning of every field are in :mod:`pc_analog.experiments.sweep`,
which re-exports everything here.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pc_analog.errors import InvalidInputError

__all__ = [
    "SWEEP_FORMAT",
    "PARAMETERS",
    "ANALOG_FIELDS",
    "QUANTITIES",
    "SweepConfig",
    "load_sweep_config",
    "point_analog_spec",
]

SWEEP_FORMAT = "pc-analog.sweep/1"

QUANTITIES = ("settling", "devices", "timing")
"""What a point can measure.

``settling``
    ``ode`` backend, first-order (``dynamics="RC"``) or spring-network
    (``"inertial"``) relaxation of the point's device circuit (its network programmed
    into its devices, :func:`pc_analog.hardware.hebbian.device_circuit`):
    ``settling_time_s``, ``settling_time_tau``, ``lambda_min`` (slowest mode of the
    Hessian at the equilibrium), ``predicted_tau`` (one-mode estimate
    ``ln(1/band)/lambda_min``, or ``ln(1/band)/sqrt(lambda_min)`` inertial) and
    ``success`` (the columns of :func:`pc_analog.experiments.studies.settling_row`).
``devices``
    The device circuit against the ideal compile of the same network (both IRs,
    effective weights ``(G+ - G-) / g_unit_l``), and the equilibria (input and target
    clamped) of both: ``weight_rel_error`` ``= ||W_dev - W||_F / ||W||_F`` over all
    layers (exactly 0 for ideal devices), and ``state_error_max_V`` /
    ``state_error_rms_V``, the largest and RMS ``|x_dev* - x*|`` over the free units.
``timing``
    :func:`pc_analog.costs.timing.timing_report` of the point's network on its analog
    spec (``analog`` preset with the point's ``c_F``, ``g0_S``, ``g_unit_S`` and
    ``device``, programmed by the timing stage through the same device path from the
    point's device seed, so the crossbar energy counts the devices' conductances; not
    available with ``bits``/``write_noise`` overrides, which a preset name cannot carry)
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


def _analog_fields() -> tuple[str, ...]:
    from dataclasses import fields

    from pc_analog.costs.specs import _V2_FIELDS, AnalogSpec

    return tuple(f.name for f in fields(AnalogSpec) if f.name in _V2_FIELDS)


ANALOG_FIELDS: tuple[str, ...] = _analog_fields()
"""The analog spec ``/2`` fields (SPEC section 5), each also a point parameter: named in
``grid`` or ``fixed`` it overrides the point's ``analog`` spec (and becomes a column);
left out, the spec's own value holds and no column is added."""


def _analog_field(name: str, v, label: str):
    """``v`` validated (and normalised) as the ``/2`` field ``name`` of an analog spec."""
    from pc_analog.costs.specs import AnalogSpec

    try:
        return getattr(AnalogSpec(**{name: v}), name)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{label}: {str(exc).removeprefix(f'analog.{name}: ')}") from None


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
    if name in ANALOG_FIELDS:
        return _analog_field(name, value, f"{where}.{name}")
    if name not in PARAMETERS:
        raise InvalidInputError(
            f"{where}.{name}: unknown parameter (known: {', '.join(PARAMETERS)}; "
            f"analog spec fields: {', '.join(ANALOG_FIELDS)})"
        )
    return PARAMETERS[name][1](value, f"{where}.{name}")


def point_analog_spec(p: Mapping):
    """The analog spec of a resolved point: its ``analog`` spec with the point's
    ``c_F``, ``g0_S``, ``g_unit_S``, ``device`` and every ``/2`` field it names."""
    from pc_analog.costs.specs import load_analog_spec

    over = {k: p[k] for k in ("c_F", "g0_S", "g_unit_S", "device", *ANALOG_FIELDS) if k in p}
    return replace(load_analog_spec(p["analog"]), **over)


def _check_point_spec(p: Mapping) -> None:
    """Refuse a point whose analog spec no circuit level simulates (wires with a
    behavioural-only non-ideality), here rather than in a worker."""
    from pc_analog.costs.specs import _BEHAVIOURAL_ONLY

    spec = point_analog_spec(p)
    if spec.wire_r_ohm > 0:
        for name in _BEHAVIOURAL_ONLY:
            if getattr(spec, name) not in (None, 0.0, False):
                raise InvalidInputError(
                    f"{name}: not simulated together with wire_r_ohm > 0 (wires need the "
                    "crossbar level, which does not model it yet); sweep them separately"
                )


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
        if "timing" in self.quantities:
            over = [k for k in ("bits", "write_noise") if any(p[k] is not None for p in pts)]
            if over:
                raise InvalidInputError(
                    f"{over[0]}: the timing quantity cannot use a bits/write_noise override "
                    "(the timing stage names its device by preset); use 'settling' or 'devices'"
                )
        for p in {repr(sorted(p.items())): p for p in pts}.values():
            _check_point_spec(p)
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
        point's ``analog`` spec, so every row holds numbers.  An analog spec field
        (:data:`ANALOG_FIELDS`) is in the dict only when ``grid`` or ``fixed`` names it
        (so a sweep without one has today's columns).
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
