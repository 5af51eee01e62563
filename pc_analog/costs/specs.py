"""Hardware assumptions as data: the analog substrate and the digital references.

Two frozen records feed the timing stage (:mod:`pc_analog.costs.timing`):

- :class:`AnalogSpec` -- the analog circuit: node capacitance, unit conductance,
  crossbar conductance of a unit weight, the device technology (a preset of
  :mod:`pc_analog.hardware.devices`), the amplifiers (bandwidth, static power, area), the
  supply, and the area of a crossbar cell and of capacitance;
- :class:`DigitalSpec` -- a digital machine for the roofline model: peak FLOP/s,
  energy per FLOP, memory bandwidth, kernel-launch latency, bytes per value.

Named presets live in :data:`ANALOG_PRESETS` and :data:`DIGITAL_PRESETS`;
:func:`cpu_measured_spec` measures this CPU (matmul FLOP/s, copy bandwidth, the
overhead of one small numpy call) once per process.  Where each default comes
from -- a published figure or a plainly stated engineering assumption -- is in
``docs/hardware.md``.

Specs load from a preset name or a JSON file (:func:`load_analog_spec`,
:func:`load_digital_spec`) and are validated field by field; a bad field raises
:class:`~pc_analog.errors.InvalidInputError` naming it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

import numpy as np

from pc_analog.circuit.ir import Hardware
from pc_analog.costs._spec_fields import SPEC_RANGE, _fields_from, _positive
from pc_analog.costs.digital_spec import (
    DIGITAL_PRESETS,
    DIGITAL_SPEC_FORMAT,
    DigitalSpec,
    cpu_measured_spec,
    load_digital_spec,
)
from pc_analog.errors import InvalidInputError
from pc_analog.io.formats import _read_json

__all__ = [
    "ANALOG_SPEC_FORMAT",
    "ANALOG_SPEC_FORMAT_V1",
    "DIGITAL_SPEC_FORMAT",
    "AnalogSpec",
    "DigitalSpec",
    "ANALOG_PRESETS",
    "DIGITAL_PRESETS",
    "cpu_measured_spec",
    "load_analog_spec",
    "load_digital_spec",
    "save_spec",
    "apply_analog_spec",
    "read_out",
    "NOT_IMPLEMENTED",
    "SPEC_RANGE",
]

ANALOG_SPEC_FORMAT = "pc-analog.analog-spec/2"
#: The first format, still read (and written for a spec that sets no ``/2`` field).
ANALOG_SPEC_FORMAT_V1 = "pc-analog.analog-spec/1"


@dataclass(frozen=True)
class AnalogSpec:
    """The analog substrate of the timing model (SI units).

    Attributes
    ----------
    name : str
        A label for reports.
    c_F : float
        Node capacitance ``C`` (farad); ``tau = C / g0``.
    g0_S : float
        Unit conductance ``g0`` (siemens): a precision ``pi`` is a spring ``pi g0``.
    g_unit_S : float
        Crossbar conductance of a unit weight, ``W = (G+ - G-) / g_unit``.
    device : str
        A device preset of :data:`pc_analog.hardware.devices.PRESETS`; non-ideal devices
        program the weights through :class:`pc_analog.hardware.hebbian.HardwareNetwork`.
    amp_bandwidth_Hz : float
        Unity-gain bandwidth of one amplifier (buffer or transimpedance stage).
        Its time constant ``1 / (2 pi f)`` is compared with ``tau``: the
        behavioural circuit assumes amplifiers much faster than the nodes.
    amp_static_power_W : float
        Quiescent power of one amplifier, drawn for the whole settling time.
    supply_V : float
        Supply rail; node voltages beyond ``+-supply_V`` cannot be represented
        (the report flags it).
    cell_area_m2 : float
        Area of one crossbar device (one side of a differential pair).
    amp_area_m2 : float
        Area of one amplifier.
    cap_density_F_per_m2 : float
        Capacitance per area of the node capacitors (MIM), for the area proxy.
    mac_energy_J : float
        Energy per multiply-accumulate of a published clocked analog in-memory
        chip (with its converters); used only as a context row: the energy such a
        chip would spend on the same network's forward MVMs.

    The non-idealities of format ``/2`` (SPEC section 5, ``docs/hardware.md``) default
    to ideal (``None``, ``0`` or ``False``):

    amp_gain : float or None
        Open-loop DC gain ``A`` of every amplifier (``None``: infinite).  Implemented.
    amp_gbw_Hz : float or None
        Single-pole gain-bandwidth product (``None``: infinite).  Implemented: one pole
        state per amplifier (``ode``, ngspice ``pc_amp``); the rest point ignores it.
    amp_offset_V : float
        Standard deviation of each amplifier's input offset, drawn once per chip by
        ``mismatch_seed``.  Implemented.
    amp_rail_V : float or None
        Amplifier outputs saturate at ``+-amp_rail_V`` (``None``: no rail).  Implemented.
    amp_noise_V_rtHz : float
        Input-referred white voltage noise density of every amplifier (V/sqrt(Hz)).
        Implemented (read by the ``sde`` backend and the noise analyses,
        :mod:`pc_analog.circuit.noise`).
    wire_r_ohm : float
        Resistance of one crossbar wire segment between adjacent cells, rows and columns
        alike (ohm, ``>= 0``).  Implemented at the crossbar level
        (:mod:`pc_analog.circuit.wires`).
    dac_bits, dac_range_V : int or None, float
        Clamped (driven) nodes quantised to ``dac_bits`` over ``+-dac_range_V``.
    adc_bits, adc_range_V : int or None, float
        Read-outs quantised to ``adc_bits`` over ``+-adc_range_V``.
    thermal_noise : bool
        Thermal current noise ``4kTG`` of every physical conductance.  Implemented (as
        ``amp_noise_V_rtHz``).
    temperature_K : float
        Temperature for thermal noise (default 300 K).
    phi_gain_error, phi_offset_V, dphi_gain_error, dphi_offset_V : float
        Standard deviations of each ``phi`` (and ``phi'``) block's relative gain error and
        output offset, drawn per block by ``mismatch_seed``.  Implemented.
    mismatch_seed : int
        Seeds every per-chip random draw (amplifier offsets, block errors).
    """

    name: str = "default"
    c_F: float = 1e-12
    g0_S: float = 1e-6
    g_unit_S: float = 1e-5
    device: str = "ideal"
    amp_bandwidth_Hz: float = 100e6
    amp_static_power_W: float = 10e-6
    supply_V: float = 1.8
    cell_area_m2: float = 4 * (14e-9) ** 2
    amp_area_m2: float = 100e-12
    cap_density_F_per_m2: float = 2e-3
    mac_energy_J: float = 2.0 / 9.76e12
    # ---- format /2: non-idealities (every default is ideal)
    amp_gain: float | None = None
    amp_gbw_Hz: float | None = None
    amp_offset_V: float = 0.0
    amp_rail_V: float | None = None
    amp_noise_V_rtHz: float = 0.0
    phi_gain_error: float = 0.0
    phi_offset_V: float = 0.0
    dphi_gain_error: float = 0.0
    dphi_offset_V: float = 0.0
    wire_r_ohm: float = 0.0
    dac_bits: int | None = None
    dac_range_V: float = 1.0
    adc_bits: int | None = None
    adc_range_V: float = 1.0
    thermal_noise: bool = False
    temperature_K: float = 300.0
    mismatch_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"analog.name: must be a non-empty string, got {self.name!r}")
        for f in fields(self):
            if f.name in ("name", "device") or f.name in _V2_FIELDS:
                continue
            object.__setattr__(self, f.name, _positive(getattr(self, f.name), f"analog.{f.name}"))
        _check_v2(self)
        from pc_analog.hardware.devices import PRESETS

        if self.device not in PRESETS:
            raise InvalidInputError(
                f"analog.device: unknown {self.device!r} (known: {', '.join(PRESETS)})"
            )

    def hardware(self) -> Hardware:
        """The circuit parameters: ``Hardware(c_F, g0_S, g_unit_S)``."""
        return Hardware(c_F=self.c_F, g0_S=self.g0_S, g_unit_S=self.g_unit_S)

    @property
    def tau_s(self) -> float:
        """``C / g0`` in seconds."""
        return self.c_F / self.g0_S

    @property
    def amp_tau_s(self) -> float:
        """An amplifier's time constant ``1 / (2 pi f_bw)``."""
        return 1.0 / (2 * math.pi * self.amp_bandwidth_Hz)

    @property
    def nonideal_fields(self) -> tuple[str, ...]:
        """The ``/2`` fields set away from their ideal defaults."""
        return tuple(
            f.name
            for f in fields(self)
            if f.name in _V2_FIELDS and getattr(self, f.name) != f.default
        )

    def to_dict(self) -> dict:
        """The spec as JSON data: format ``/1`` with the ``/1`` fields when no ``/2`` field
        differs from its default (so older readers still read it), else ``/2``."""
        d = asdict(self)
        if not self.nonideal_fields:
            return {"format": ANALOG_SPEC_FORMAT_V1, **{k: v for k, v in d.items()
                                                        if k not in _V2_FIELDS}}  # fmt: skip
        return {"format": ANALOG_SPEC_FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict) -> AnalogSpec:
        if isinstance(d, dict) and d.get("format") == ANALOG_SPEC_FORMAT_V1:
            for key in d:
                if key in _V2_FIELDS:
                    raise InvalidInputError(
                        f"analog.{key}: a field of format {ANALOG_SPEC_FORMAT!r}, "
                        f"not of {ANALOG_SPEC_FORMAT_V1!r}"
                    )
            d = {**d, "format": ANALOG_SPEC_FORMAT}
        return cls(**_fields_from(cls, d, "analog", ANALOG_SPEC_FORMAT))

    def apply(self, circuit, level: str = "behavioural"):
        """``circuit`` with this spec's implemented non-idealities as IR data.

        ``level="crossbar"`` simulates the crossbars in every backend (wires of
        ``wire_r_ohm``, transimpedance readouts: :mod:`pc_analog.circuit.wires`);
        ``wire_r_ohm > 0`` needs it.

        The amplifiers (``amp_gain``, ``amp_offset_V`` drawn by ``mismatch_seed``,
        ``amp_rail_V``) become :attr:`Circuit.amplifiers
        <pc_analog.circuit.ir.Circuit.amplifiers>`; the DAC quantises the clamp values
        (``dac_bits`` over ``+-dac_range_V``).  With every non-ideality off the circuit
        is returned as it is (the ideal circuit, every backend's result unchanged).
        """
        return apply_analog_spec(circuit, self, level)

    def read_out(self, result):
        """What this spec's ADCs read of a settled ``result`` (:func:`read_out`)."""
        return read_out(result, self)


#: Fields of format /2 (non-idealities), each validated by :func:`_check_v2`.
_V2_FIELDS = frozenset(
    {
        "amp_gain", "amp_gbw_Hz", "amp_offset_V", "amp_rail_V", "amp_noise_V_rtHz",
        "wire_r_ohm", "dac_bits", "dac_range_V", "adc_bits", "adc_range_V",
        "thermal_noise", "temperature_K", "mismatch_seed",
        "phi_gain_error", "phi_offset_V", "dphi_gain_error", "dphi_offset_V",
    }
)  # fmt: skip
#: Non-idealities a spec may name but the simulator does not model yet: refused when
#: set away from ideal, never accepted and ignored.
NOT_IMPLEMENTED: tuple[str, ...] = ()
#: Modelled at the behavioural level only; refused at the crossbar level.  (Amplifier noise:
#: at the crossbar level every readout's input noise would pass the row's noise gain
#: ``1 + D/g`` and the column drivers would add their own; not modelled yet.)
_BEHAVIOURAL_ONLY = ("amp_gbw_Hz", "phi_gain_error", "phi_offset_V", "dphi_gain_error",
                     "dphi_offset_V", "amp_noise_V_rtHz")  # fmt: skip


def _number(value, label: str, *, minimum: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{label}: must be a number, got {value!r}")
    v = float(value)
    ok = math.isfinite(v) and (v > minimum if strict else v >= minimum)
    if not ok:
        rel = ">" if strict else ">="
        raise InvalidInputError(
            f"{label}: must be a finite number {rel} {minimum:g}, got {value!r}"
        )
    return v


def _integer(value, label: str, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(f"{label}: must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        top = "" if maximum is None else f" and <= {maximum}"
        raise InvalidInputError(f"{label}: must be >= {minimum}{top}, got {value!r}")
    return int(value)


def _check_v2(spec: AnalogSpec) -> None:
    """Validate (and normalise) the ``/2`` fields; refuse the ones not implemented yet."""

    def put(name, value):
        object.__setattr__(spec, name, value)

    def get(name):
        return getattr(spec, name)

    for name in ("amp_gain", "amp_gbw_Hz", "amp_rail_V"):  # null: ideal; else > 0
        if get(name) is not None:
            put(name, _number(get(name), f"analog.{name}", minimum=0.0, strict=True))
    blocks = ("phi_gain_error", "phi_offset_V", "dphi_gain_error", "dphi_offset_V")
    for name in ("amp_offset_V", "amp_noise_V_rtHz", "wire_r_ohm", *blocks):  # null/0: ideal
        v = get(name)
        put(name, 0.0 if v is None else _number(v, f"analog.{name}", minimum=0.0, strict=False))
    for name in ("dac_bits", "adc_bits"):  # null: ideal; else an integer >= 1
        if get(name) is not None:
            put(name, _integer(get(name), f"analog.{name}", minimum=1, maximum=32))
    for name in ("dac_range_V", "adc_range_V", "temperature_K"):
        put(name, _number(get(name), f"analog.{name}", minimum=0.0, strict=True))
    if get("thermal_noise") is None:
        put("thermal_noise", False)
    if not isinstance(get("thermal_noise"), bool):
        raise InvalidInputError(
            f"analog.thermal_noise: must be true or false, got {get('thermal_noise')!r}"
        )
    seed = get("mismatch_seed")
    put("mismatch_seed", 0 if seed is None else _integer(seed, "analog.mismatch_seed", minimum=0))
    for name in NOT_IMPLEMENTED:
        if get(name) not in (None, 0.0, False):
            raise InvalidInputError(f"analog.{name}: not implemented yet (issue 11)")


def apply_analog_spec(circuit, spec: AnalogSpec, level: str = "behavioural"):
    """``circuit`` with ``spec``'s implemented non-idealities as IR data (see
    :meth:`AnalogSpec.apply`): amplifiers drawn by ``mismatch_seed``, clamp values
    quantised by the DAC, noise sources (``thermal_noise``, ``temperature_K``,
    ``amp_noise_V_rtHz``), at ``level="crossbar"`` the crossbar model with its wires.
    Every non-ideality off: ``circuit`` itself."""
    import dataclasses

    from pc_analog.circuit.amplifiers import draw_amplifiers
    from pc_analog.circuit.wires import CrossbarModel

    spec = load_analog_spec(spec)
    if level not in ("behavioural", "crossbar"):
        raise InvalidInputError(f"level: unknown {level!r} (known: behavioural, crossbar)")
    if spec.wire_r_ohm > 0 and level != "crossbar":
        raise InvalidInputError(
            "analog.wire_r_ohm: wire resistance is a crossbar-level non-ideality; "
            "use level crossbar"
        )
    if level == "crossbar":  # modelled at the behavioural level only: refused, never ignored
        for name in _BEHAVIOURAL_ONLY:
            if getattr(spec, name) not in (None, 0.0):
                raise InvalidInputError(
                    f"analog.{name}: not implemented at the crossbar level yet (the crossbar "
                    "model carries wires and transimpedance readouts); use level behavioural"
                )
    amps = draw_amplifiers(
        circuit.sizes,
        open_loop_gain=spec.amp_gain,
        offset_V=spec.amp_offset_V,
        rail_V=spec.amp_rail_V,
        seed=spec.mismatch_seed,
        gbw_Hz=spec.amp_gbw_Hz,
        phi_gain_error=spec.phi_gain_error,
        phi_offset_V=spec.phi_offset_V,
        dphi_gain_error=spec.dphi_gain_error,
        dphi_offset_V=spec.dphi_offset_V,
    )
    out = circuit
    if amps is not None:
        out = dataclasses.replace(out, amplifiers=amps)
    # thermal noise at the crossbar level: the cells and wires are noise sources, so the
    # circuit carries the crossbar model even when it is otherwise ideal (same dynamics)
    if level == "crossbar" and (amps is not None or spec.wire_r_ohm > 0 or spec.thermal_noise):
        out = dataclasses.replace(out, crossbar=CrossbarModel(spec.wire_r_ohm))
    noise = _noise_sources(spec)
    if noise is not None:
        out = dataclasses.replace(out, noise=noise)
    if spec.dac_bits is not None:
        from pc_analog.circuit.converters import dac_circuit

        out = dac_circuit(out, spec.dac_bits, spec.dac_range_V)
    return out


def _noise_sources(spec: AnalogSpec):
    """The spec's noise sources as IR data (:mod:`pc_analog.circuit.noise`), or ``None``
    when ``thermal_noise`` is off and ``amp_noise_V_rtHz`` is 0."""
    from pc_analog.circuit.noise import NoiseSources

    noise = NoiseSources(
        thermal=spec.thermal_noise,
        temperature_K=spec.temperature_K,
        amp_noise_V_rtHz=spec.amp_noise_V_rtHz,
    )
    return noise if noise.active else None


# ------------------------------------------------------------------ presets
# Sources and the reasoning behind every number: docs/hardware.md.
ANALOG_PRESETS: MappingProxyType[str, AnalogSpec] = MappingProxyType(
    {
        "default": AnalogSpec(),
        # The same circuit with the weights programmed into the RRAM / PCM device
        # presets of pc_analog.hardware.devices (bounded ranges, finite states, d2d spread).
        "rram": AnalogSpec(name="rram", device="rram"),
        "pcm": AnalogSpec(name="pcm", device="pcm"),
        # A slower, lower-power corner: 10 pF nodes, 1 uW amplifiers of 10 MHz.
        "low-power": AnalogSpec(
            name="low-power", c_F=10e-12, amp_bandwidth_Hz=10e6, amp_static_power_W=1e-6
        ),
    }
)
"""Named analog specs (read-only)."""


# ------------------------------------------------------------------ loading
def load_analog_spec(spec: str | os.PathLike | AnalogSpec | None = None) -> AnalogSpec:
    """An :class:`AnalogSpec` from a preset name, a JSON file, or a spec (returned as is).

    ``None`` is the ``"default"`` preset.  A JSON file holds the fields of
    :meth:`AnalogSpec.to_dict`; missing fields take the defaults.
    """
    if spec is None:
        return ANALOG_PRESETS["default"]
    if isinstance(spec, AnalogSpec):
        return spec
    if isinstance(spec, str) and spec in ANALOG_PRESETS:
        return ANALOG_PRESETS[spec]
    if not isinstance(spec, (str, os.PathLike)):
        raise InvalidInputError(f"hardware: expected a preset name or a path, got {spec!r}")
    d = _read_json(spec, "hardware", missing_ok=True)
    if d is None:
        raise InvalidInputError(
            f"hardware: {str(spec)!r} is neither a preset ({', '.join(ANALOG_PRESETS)}) nor a file"
        )
    return AnalogSpec.from_dict(d)


def save_spec(spec: AnalogSpec | DigitalSpec, path: str | os.PathLike) -> None:
    """Write a spec as JSON (atomically)."""
    from pc_analog.io.formats import atomic_write_text

    atomic_write_text(path, json.dumps(spec.to_dict(), indent=2) + "\n")


def read_out(result, spec: AnalogSpec | str | None = None):
    """The settled activities as the ADC reads them: ``result.x`` (a settle result, or a
    state) quantised to ``adc_bits`` over ``+-adc_range_V``
    (:func:`pc_analog.circuit.converters.quantise`); an ideal ADC (``adc_bits`` null)
    returns the state unchanged."""
    from pc_analog.circuit.converters import quantise

    spec = load_analog_spec(spec)
    x = getattr(result, "x", result)
    if spec.adc_bits is None:
        return tuple(x)
    return tuple(quantise(v, spec.adc_bits, spec.adc_range_V) for v in x)
