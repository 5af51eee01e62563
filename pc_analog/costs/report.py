"""The timing report: its record, JSON forms and the printed table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pc_analog.costs.specs import AnalogSpec, DigitalSpec

__all__ = ["TimingReport"]


@dataclass(frozen=True)
class TimingReport:
    """Analog settle vs digital backprop and digital PC for one network.

    Attributes
    ----------
    config : dict
        Network sizes, activations, batch, dynamics, band, seed, spec names.
    analog : dict
        Settling times, spectral prediction, energy terms (means per inference),
        device counts, area, amplifier and rail checks.
    digital : dict
        Per reference machine (roofline): backprop and PC latency (batch 1),
        throughput (large batch) and energy; ratios analog / digital.
    cpu : dict or None
        Wall-clock medians on this CPU (``None`` when not measured).
    analog_spec, digital_specs :
        The specs used.
    rest_point : tuple of ndarray or None
        The analog circuit's rest point (per layer ``(batch, n_l)``) its settling time
        was measured against: the non-ideal circuit's own for a non-ideal spec.
    """

    config: dict
    analog: dict
    digital: dict
    cpu: dict | None
    analog_spec: AnalogSpec = field(repr=False)
    digital_specs: tuple[DigitalSpec, ...] = field(repr=False)
    rest_point: tuple | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """Nested, JSON-serialisable (non-finite numbers become ``None``)."""
        return _clean(
            {
                "config": self.config,
                "analog": self.analog,
                "digital": self.digital,
                "cpu": self.cpu,
                "analog_spec": self.analog_spec.to_dict(),
                "digital_specs": [s.to_dict() for s in self.digital_specs],
            }
        )

    def as_row(self) -> dict:
        """One flat dict (``section.key``), JSON-serialisable.

        Deterministic when the report was made with ``measure_cpu=False`` and
        without the ``cpu-measured`` digital reference.
        """
        row: dict = {}

        def put(prefix, d):
            for k, v in d.items():
                key = f"{prefix}.{k}" if prefix else k
                if isinstance(v, dict):
                    put(key, v)
                elif isinstance(v, (list, tuple)):
                    row[key] = "-".join(map(str, v)) if key.endswith("sizes") else list(v)
                else:
                    row[key] = v

        put("config", self.config)
        put("analog", self.analog)
        put("digital", self.digital)
        if self.cpu is not None:
            put("cpu", self.cpu)
        return _clean(row)

    def table(self) -> str:
        """The printed report."""
        return _table(self)


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        v = float(o)
        return v if math.isfinite(v) else None
    return o


def _div(a: float, b: float) -> float:
    """``a / b`` with ``inf`` for ``b == 0`` and ``nan`` propagated."""
    return math.inf if b == 0 else a / b


# ------------------------------------------------------------------ printing
def _si(v, unit: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if v == 0:
        return f"0 {unit}"
    prefixes = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"),
                (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a")]  # fmt: skip
    for scale, p in prefixes:
        if abs(v) >= scale:
            return f"{v / scale:.3g} {p}{unit}"
    return f"{v:.3g} {unit}"


def _ratio(v) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.3g}x"


def _table(r: TimingReport) -> str:
    """The printed report: the analog section, the machine table, the ratios."""
    return "\n".join(_analog_lines(r) + _machine_lines(r) + _ratio_lines(r))


def _analog_lines(r: TimingReport) -> list[str]:
    c, a = r.config, r.analog
    dev = a["devices"]
    return [
        f"pc-analog timing: {'-'.join(map(str, c['sizes']))} "
        f"({'/'.join(c['activations'])}), batch {c['batch']}, target {c['target']}, "
        f"{c['dynamics']} dynamics, band {c['band']:g}",
        f"analog spec {c['analog_spec']!r} (device {c['device']}), "
        f"tau = C/g0 = {_si(a['tau_s'], 's')}",
        "",
        "analog (simulated transient, ode backend)"
        + ("" if a["success"] else f"  [{a.get('status', 'NOT_SETTLED').replace('_', ' ')}]"),
        *_nonideal_lines(a),
        f"  settling time (max over batch)  {_si(a['settling_time_s'], 's')} = "
        f"{a['settling_time_tau']:.4g} tau   (mean {_si(a['settling_time_mean_s'], 's')})",
        f"  spectral prediction             {_si(a['predicted_settling_s'], 's')} = "
        f"{a['predicted_settling_tau']:.4g} tau   (ln(1/band)/rate, lambda_min = "
        f"{a['lambda_min']:.4g})",
        f"  energy / inference              {_si(a['energy_J'], 'J')} = springs "
        f"{_si(a['energy_springs_J'], 'J')} + crossbars {_si(a['energy_crossbars_J'], 'J')} "
        f"+ amplifiers {_si(a['energy_amplifiers_J'], 'J')}",
        f"    (to end of transient {_si(a['t_end_s'], 's')}: springs "
        f"{_si(a['energy_springs_to_end_J'], 'J')}, crossbars "
        f"{_si(a['energy_crossbars_to_end_J'], 'J')})",
        f"  devices                         {dev['capacitors']} capacitors, "
        f"{dev['crossbar_cells']} crossbar cells, {dev['springs']} springs, "
        f"{dev['amplifiers']} amplifiers, {dev['voltage_sources']} clamps; "
        f"area ~ {a['devices']['area_m2'] * 1e6:.3g} mm^2",
        f"  amplifier tau                   {_si(a['amp_tau_s'], 's')} "
        f"({'LIMITS the settle' if a['amp_limited'] else 'fast enough'}: tau/amp_tau = "
        f"{a['tau_s'] / a['amp_tau_s']:.3g})",
        f"  node voltages                   max |V| {a['max_abs_V']:.3g} V "
        f"{'within' if a['rails_ok'] else 'EXCEEDS'} the +-{r.analog_spec.supply_V:g} V rails",
        f"  published AIMC chip, same forward MVMs: {_si(a['aimc_forward_energy_J'], 'J')} "
        "(context only)",
        "",
        f"digital PC: step {c['pc_step_size_tau']:.3g} tau, "
        f"T = {c['pc_steps_same_residual']:.0f} steps to the analog residual "
        f"max|dF/dx| = {a['residual_at_settle']:.3g}; "
        f"no digital PC needs fewer than L = {len(c['sizes']) - 1} steps",
        "",
    ]


def _nonideal_lines(a: dict) -> list[str]:
    """The non-ideal circuit's lines (none for an ideal spec)."""
    if "nonideal_fields" not in a:
        return []
    lines = [
        f"  non-ideal circuit ({a['circuit_level']} level): {', '.join(a['nonideal_fields'])}",
        f"  rest-point shift vs ideal       max |x - x_ideal| = {a['rest_point_shift_V']:.3g} V",
        f"  energy model                    {a['energy_model']}",
        f"  spectral prediction and digital PC: the {a['prediction_of']}'s",
    ]
    if "noise" in a:
        lines.append(f"  noise                           {a['noise']}")
    if not a["success"]:
        lines.append(f"  failure                         {a['message']}")
    return lines


def _machine_lines(r: TimingReport) -> list[str]:
    c, a = r.config, r.analog
    hdr = (
        f"{'machine':<22}{'BP latency':>12}{'PC latency':>12}"
        f"{'BP thrpt/s':>12}{'PC thrpt/s':>12}{'BP energy':>12}{'PC energy':>12}"
    )
    lines = [
        f"latency = batch 1; throughput = inferences/s at batch {c['throughput_batch']}",
        hdr,
        "-" * len(hdr),
    ]

    def row(name, d):
        return (
            f"{name:<22}{_si(d.get('bp_latency_s'), 's'):>12}{_si(d.get('pc_latency_s'), 's'):>12}"
            f"{d.get('bp_throughput_per_s', math.nan):>12.3g}"
            f"{d.get('pc_throughput_per_s', math.nan):>12.3g}"
            f"{_si(d.get('bp_energy_J'), 'J'):>12}{_si(d.get('pc_energy_J'), 'J'):>12}"
        )

    if r.cpu is not None:
        lines.append(row("this CPU (measured)", r.cpu))
    for name, d in r.digital.items():
        lines.append(row(f"{name} (roofline)", d))
    lines.append(
        f"{'analog (one circuit)':<22}{_si(a['latency_s'], 's'):>12}{'':>12}"
        f"{a['throughput_per_s']:>12.3g}{'':>12}{_si(a['energy_J'], 'J'):>12}"
    )
    L = len(c["sizes"]) - 1
    lines.append(
        f"digital PC at its minimum of L = {L} steps: "
        + ", ".join(
            f"{name} {_si(d['pc_latency_at_L_steps_s'], 's')}"
            for name, d in ([("this CPU", r.cpu)] if r.cpu is not None else [])
            + list(r.digital.items())
        )
    )
    return lines


def _ratio_lines(r: TimingReport) -> list[str]:
    lines = ["", "analog / digital (below 1: analog wins)"]
    if r.cpu is not None:
        lines.append(
            f"  vs this CPU: latency {_ratio(r.cpu['analog_over_bp_latency'])} of BP, "
            f"{_ratio(r.cpu['analog_over_pc_latency'])} of PC"
        )
    for name, d in r.digital.items():
        lines.append(
            f"  vs {name}: latency {_ratio(d['analog_over_bp_latency'])} of BP, "
            f"{_ratio(d['analog_over_pc_latency'])} of PC; energy "
            f"{_ratio(d['analog_over_bp_energy'])} of BP"
        )
    return lines
