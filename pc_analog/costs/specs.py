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

import functools
import json
import math
import os
import time
from dataclasses import MISSING, asdict, dataclass, fields
from types import MappingProxyType

import numpy as np

from pc_analog.circuit.ir import Hardware
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
    "require_ideal",
    "NOT_IMPLEMENTED",
]

ANALOG_SPEC_FORMAT = "pc-analog.analog-spec/2"
#: The first format, still read (and written for a spec that sets no ``/2`` field).
ANALOG_SPEC_FORMAT_V1 = "pc-analog.analog-spec/1"
DIGITAL_SPEC_FORMAT = "pc-analog.digital-spec/1"


#: Every physical number of a spec lies in this range (SI units).  Values far outside it
#: (a 1e-300 F node, a 1e300 S spring) make time constants that no integrator can step
#: and energies that overflow; the CLI's hardware flags use the same bounds.
SPEC_RANGE = (1e-30, 1e30)


def _positive(value, label: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{label}: must be a positive number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise InvalidInputError(f"{label}: must be a positive finite number, got {value!r}")
    lo, hi = SPEC_RANGE
    if not lo <= v <= hi:
        raise InvalidInputError(f"{label}: {v:g} is outside [{lo:g}, {hi:g}]")
    return v


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
        Gain-bandwidth product (``None``: infinite).  Not implemented yet: refused.
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
        Crossbar wire segment resistance.  Not implemented yet: refused unless 0.
    dac_bits, dac_range_V : int or None, float
        Clamped (driven) nodes quantised to ``dac_bits`` over ``+-dac_range_V``.
    adc_bits, adc_range_V : int or None, float
        Read-outs quantised to ``adc_bits`` over ``+-adc_range_V``.
    thermal_noise : bool
        Thermal current noise ``4kTG`` of every physical conductance.  Implemented (as
        ``amp_noise_V_rtHz``).
    temperature_K : float
        Temperature for thermal noise (default 300 K).
    mismatch_seed : int
        Seeds every per-chip random draw (the amplifier offsets).
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

    def apply(self, circuit):
        """``circuit`` with this spec's implemented non-idealities as IR data.

        The amplifiers (``amp_gain``, ``amp_offset_V`` drawn by ``mismatch_seed``,
        ``amp_rail_V``) become :attr:`Circuit.amplifiers
        <pc_analog.circuit.ir.Circuit.amplifiers>`; the DAC quantises the clamp values
        (``dac_bits`` over ``+-dac_range_V``).  With every non-ideality off the circuit
        is returned as it is (the ideal circuit, every backend's result unchanged).
        """
        return apply_analog_spec(circuit, self)


@dataclass(frozen=True)
class DigitalSpec:
    """A digital machine for the roofline model.

    ``time(kernel) = max(flops / peak_flops, bytes / mem_bandwidth_Bps) + launch_latency_s``;
    ``energy = flops * energy_per_flop_J``.

    Attributes
    ----------
    name : str
    peak_flops : float
        Peak arithmetic rate (FLOP/s) at the precision used.
    energy_per_flop_J : float or None
        Energy per FLOP; ``None`` when unknown (energies are then reported as missing).
    mem_bandwidth_Bps : float
        Memory bandwidth (bytes/s).
    launch_latency_s : float
        Fixed cost of launching one kernel (or, on the CPU, of one numpy call).
    bytes_per_value : float
        Bytes per stored number (4 for float32, 8 for float64).
    measured : bool
        Whether the numbers were measured on this machine (else taken from a datasheet).
    """

    name: str
    peak_flops: float
    energy_per_flop_J: float | None
    mem_bandwidth_Bps: float
    launch_latency_s: float
    bytes_per_value: float = 4.0
    measured: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"digital.name: must be a non-empty string, got {self.name!r}")
        for name in ("peak_flops", "mem_bandwidth_Bps", "launch_latency_s", "bytes_per_value"):
            object.__setattr__(self, name, _positive(getattr(self, name), f"digital.{name}"))
        object.__setattr__(
            self,
            "energy_per_flop_J",
            _positive(self.energy_per_flop_J, "digital.energy_per_flop_J", allow_none=True),
        )
        if not isinstance(self.measured, bool):
            raise InvalidInputError(
                f"digital.measured: must be true or false, got {self.measured!r}"
            )

    def to_dict(self) -> dict:
        return {"format": DIGITAL_SPEC_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> DigitalSpec:
        return cls(**_fields_from(cls, d, "digital", DIGITAL_SPEC_FORMAT))


#: Fields of format /2 (non-idealities), each validated by :func:`_check_v2`.
_V2_FIELDS = frozenset(
    {
        "amp_gain", "amp_gbw_Hz", "amp_offset_V", "amp_rail_V", "amp_noise_V_rtHz",
        "wire_r_ohm", "dac_bits", "dac_range_V", "adc_bits", "adc_range_V",
        "thermal_noise", "temperature_K", "mismatch_seed",
    }
)  # fmt: skip
#: Non-idealities a spec may name but the simulator does not model yet: refused when
#: set away from ideal, never accepted and ignored.
NOT_IMPLEMENTED = ("amp_gbw_Hz", "wire_r_ohm")


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
    for name in ("amp_offset_V", "amp_noise_V_rtHz", "wire_r_ohm"):  # null/0: ideal; >= 0
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


def apply_analog_spec(circuit, spec: AnalogSpec):
    """``circuit`` with ``spec``'s implemented non-idealities as IR data (see
    :meth:`AnalogSpec.apply`): amplifiers drawn by ``mismatch_seed``, clamp values
    quantised by the DAC, noise sources (``thermal_noise``, ``temperature_K``,
    ``amp_noise_V_rtHz``).  Every non-ideality off: ``circuit`` itself."""
    import dataclasses

    from pc_analog.circuit.amplifiers import draw_amplifiers

    spec = load_analog_spec(spec)
    amps = draw_amplifiers(
        circuit.sizes,
        open_loop_gain=spec.amp_gain,
        offset_V=spec.amp_offset_V,
        rail_V=spec.amp_rail_V,
        seed=spec.mismatch_seed,
    )
    out = circuit
    if amps is not None:
        out = dataclasses.replace(out, amplifiers=amps)
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


def _fields_from(cls, d, what: str, fmt: str) -> dict:
    if not isinstance(d, dict):
        raise InvalidInputError(f"{what}: expected a JSON object, got {type(d).__name__}")
    known = [f.name for f in fields(cls)]
    for key in d:
        if key != "format" and key not in known:
            raise InvalidInputError(
                f"{what}.{key}: unknown field (known: format, {', '.join(known)})"
            )
    if "format" in d and d["format"] != fmt:
        raise InvalidInputError(f"{what}.format: unknown {d['format']!r} (expected {fmt!r})")
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in d:
            raise InvalidInputError(f"{what}.{f.name}: missing")
    return {k: v for k, v in d.items() if k != "format"}


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

DIGITAL_PRESETS: MappingProxyType[str, DigitalSpec] = MappingProxyType(
    {
        # NVIDIA A100 SXM4 40 GB, FP32 (non-tensor-core): 19.5 TFLOP/s, 1555 GB/s HBM2,
        # 400 W TDP -> 400 / 19.5e12 = 20.5 pJ/FLOP at full load; null-kernel launch ~3 us.
        "gpu-a100": DigitalSpec(
            "gpu-a100",
            peak_flops=19.5e12,
            energy_per_flop_J=400.0 / 19.5e12,
            mem_bandwidth_Bps=1555e9,
            launch_latency_s=3e-6,
            bytes_per_value=4.0,
        ),
    }
)
"""Named digital specs (read-only); ``"cpu-measured"`` is built by :func:`cpu_measured_spec`."""


def _median_time(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


@functools.lru_cache(maxsize=1)
def cpu_measured_spec() -> DigitalSpec:
    """This CPU measured with numpy (float64), once per process.

    - ``peak_flops``: ``2 n^3 / t`` of a 512 x 512 matmul (median of 7);
    - ``mem_bandwidth_Bps``: ``2 * 32 MiB / t`` of copying a 32 MiB array
      (read + write; median of 7);
    - ``launch_latency_s``: median time of one ``np.add`` on two 1-element arrays
      (the fixed cost of any numpy call, the CPU analogue of a kernel launch);
    - ``energy_per_flop_J``: ``None`` -- not measurable here (no power meter).

    BLAS runs with one thread, as in the library's hot loops (on a shared 2-core
    machine spinning BLAS threads make small matmuls several times slower).
    """
    from pc_analog._threads import single_threaded_blas

    with single_threaded_blas():
        return _measure_cpu_spec()


def _measure_cpu_spec() -> DigitalSpec:
    rng = np.random.default_rng(0)
    n = 512
    a, b = rng.random((n, n)), rng.random((n, n))
    a @ b  # warm-up
    t_mm = _median_time(lambda: a @ b, 7)
    big = np.ones(32 * 2**20 // 8)
    dst = np.empty_like(big)
    np.copyto(dst, big)
    t_cp = _median_time(lambda: np.copyto(dst, big), 7)
    one, two, out = np.ones(1), np.ones(1), np.empty(1)
    calls = 2000

    def many():
        for _ in range(calls):
            np.add(one, two, out=out)

    t_call = _median_time(many, 5) / calls
    return DigitalSpec(
        "cpu-measured",
        peak_flops=2.0 * n**3 / t_mm,
        energy_per_flop_J=None,
        mem_bandwidth_Bps=2.0 * big.nbytes / t_cp,
        launch_latency_s=t_call,
        bytes_per_value=8.0,
        measured=True,
    )


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


def load_digital_spec(spec: str | os.PathLike | DigitalSpec) -> DigitalSpec:
    """A :class:`DigitalSpec` from a preset name, ``"cpu-measured"``, a JSON file or a spec."""
    if isinstance(spec, DigitalSpec):
        return spec
    if spec == "cpu-measured":
        return cpu_measured_spec()
    if isinstance(spec, str) and spec in DIGITAL_PRESETS:
        return DIGITAL_PRESETS[spec]
    if not isinstance(spec, (str, os.PathLike)):
        raise InvalidInputError(f"digital: expected a preset name or a path, got {spec!r}")
    d = _read_json(spec, "digital", missing_ok=True)
    if d is None:
        known = ", ".join([*DIGITAL_PRESETS, "cpu-measured"])
        raise InvalidInputError(f"digital: {str(spec)!r} is neither a preset ({known}) nor a file")
    return DigitalSpec.from_dict(d)


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


def require_ideal(spec: AnalogSpec, where: str) -> AnalogSpec:
    """``spec`` if it sets no non-ideality, else the one-line refusal of a stage that does
    not simulate them yet (rather than accept and ignore them)."""
    if spec.nonideal_fields:
        raise InvalidInputError(
            f"analog.{spec.nonideal_fields[0]}: non-idealities in {where}: "
            "not implemented yet (issue 11)"
        )
    return spec
