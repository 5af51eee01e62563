"""The digital references of the timing stage: :class:`DigitalSpec` (a machine for the
roofline model), its presets and :func:`cpu_measured_spec` (this CPU, measured once per
process).  Re-exported by :mod:`pc_analog.costs.specs`; sources in ``docs/hardware.md``."""

from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict, dataclass
from types import MappingProxyType

import numpy as np

from pc_analog.costs._spec_fields import _fields_from, _positive
from pc_analog.errors import InvalidInputError
from pc_analog.io.formats import _read_json

__all__ = ["DIGITAL_SPEC_FORMAT", "DIGITAL_PRESETS", "DigitalSpec", "cpu_measured_spec",
           "load_digital_spec"]  # fmt: skip

DIGITAL_SPEC_FORMAT = "pc-analog.digital-spec/1"


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
