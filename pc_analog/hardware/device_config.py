"""Device technologies as data: :class:`DeviceConfig`, the named :data:`PRESETS`, files.

The physics each field describes, and the conventions (SI units, write noise as a
fraction of the range, read noise relative to the conductance), are in
:mod:`pc_analog.hardware.devices`, which re-exports everything here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = ["DEVICE_FORMAT", "DeviceConfig", "PRESETS", "load_device_config"]

DEVICE_FORMAT = "pc-analog.device/1"

# A requested pulse count (or a level index) within this of an integer is that
# integer: it only absorbs floating-point noise such as 2 * (x / 2) != x.
_SNAP = 1e-9


def _number(value, label: str) -> float:
    """``value`` as a float (not NaN); ``label`` names the field in the error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{label}: must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v):
        raise InvalidInputError(f"{label}: must be a number, got NaN")
    return v


@dataclass(frozen=True)
class DeviceConfig:
    """The physics of one programmable conductance device (one side of a differential pair).

    Every field is a physical property of the device technology; all are SI.  The
    defaults describe an ideal device: an unbounded, continuously programmable,
    noiseless conductance (see ``PRESETS["ideal"]``).

    Attributes
    ----------
    name : str
        A label for reports and files.
    g_min_S : float
        Lowest conductance a device can be programmed to (siemens), e.g. the
        high-resistance (RESET / amorphous) state.  Ideal: 0.  Must be finite, >= 0.
    g_max_S : float
        Highest conductance (siemens), e.g. the low-resistance (SET / crystalline)
        state.  Ideal: ``inf`` (no upper bound).  Must exceed ``g_min_S``.  Weights with
        ``|W| > (g_max - g_min) / g_unit`` cannot be stored and saturate.
    levels : int or None
        Number of programmable states evenly spaced on ``[g_min, g_max]`` (both ends
        included), e.g. 16 for a 4-bit device.  ``None``: an analog device whose
        conductance is continuous.  Needs a finite ``g_max_S``; at least 2.
    pulse_step_S : float or None
        Nominal conductance change of one programming pulse (siemens), the minimum
        change a device can make.  ``None``: analog updates with no minimum step (the
        requested change is written directly).  When ``levels`` is set and this is
        ``None`` it defaults to one level spacing ``(g_max - g_min) / (levels - 1)``.
    write_noise : float
        Cycle-to-cycle variation: the standard deviation of the additive Gaussian
        error of one write event, **as a fraction of the range** ``g_max - g_min``
        ("2 % write noise" is 0.02).  Drawn independently for every device each time
        it is written (devices a write leaves untouched get none).  Needs a finite range.
    d2d_variation : float
        Device-to-device variation: relative standard deviation of the fixed,
        fabrication-time multipliers on each device's up and down step sizes.  Every
        device draws two independent lognormal multipliers (mean 1, relative std
        exactly this value) once, in :func:`fabricate`; they never change afterwards.
    asymmetry : float
        Up/down asymmetry in ``[0, 1)``: a depression (conductance-decreasing) step
        is ``(1 - asymmetry)`` times a potentiation step, so repeated +/- pulse pairs
        drift upwards (the classic failure of SGD on asymmetric devices).
    soft_bounds : bool
        State-dependent steps: a potentiation step is scaled by
        ``(g_max - g) / (g_max - g_min)`` and a depression step by
        ``(g - g_min) / (g_max - g_min)``, so steps shrink linearly as a device
        approaches the bound it moves towards and the bounds are reached only
        asymptotically.  ``False``: constant steps, hard clipping at the bounds.
        Needs a finite range.
    read_noise : float
        Standard deviation of the multiplicative Gaussian noise of every read,
        relative to the conductance: a read sees ``g (1 + read_noise * N(0, 1))``
        (e.g. thermal and 1/f noise of the read current).  Does not change the state.
    drift_nu : float
        Drift exponent: a programmed conductance read ``t`` seconds after programming
        is ``g_prog (t / t0) ** -nu`` for ``t > t0`` (structural relaxation of the
        amorphous phase of PCM; ``nu ~ 0.05`` is typical there, 0 for no drift).
    drift_t0_s : float
        The reference time ``t0`` of the drift law (seconds), the time after
        programming at which ``g_prog`` is defined; no drift is applied before it.
    stuck_fraction : float
        Fraction of devices in ``[0, 1]`` stuck at fabrication (stuck-at faults): each
        device is stuck independently with this probability, drawn once per chip by
        the fabrication ``rng``; a stuck device keeps its conductance whatever it is
        programmed to.  0: none.
    stuck_high_fraction : float
        Share in ``[0, 1]`` of the stuck devices stuck at ``g_max`` (the others sit at
        ``g_min``).  Needs a finite ``g_max_S`` when some devices stick high.

    Raises
    ------
    InvalidInputError
        For a field out of range; the one-line message names the field.
    """

    name: str = "custom"
    g_min_S: float = 0.0
    g_max_S: float = math.inf
    levels: int | None = None
    pulse_step_S: float | None = None
    write_noise: float = 0.0
    d2d_variation: float = 0.0
    asymmetry: float = 0.0
    soft_bounds: bool = False
    read_noise: float = 0.0
    drift_nu: float = 0.0
    drift_t0_s: float = 1.0
    stuck_fraction: float = 0.0
    stuck_high_fraction: float = 0.0

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(f"device.name: must be a non-empty string, got {self.name!r}")
        g_min = _number(self.g_min_S, "device.g_min_S")
        if not (math.isfinite(g_min) and g_min >= 0):
            raise InvalidInputError(f"device.g_min_S: must be finite and >= 0, got {g_min!r}")
        g_max = _number(self.g_max_S, "device.g_max_S")
        if not g_max > g_min:
            raise InvalidInputError(
                f"device.g_max_S: must exceed g_min_S = {g_min!r}, got {g_max!r}"
            )
        put("g_min_S", g_min)
        put("g_max_S", g_max)
        bounded = math.isfinite(g_max)
        rng_S = g_max - g_min
        if self.levels is not None:
            if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)):
                raise InvalidInputError(
                    f"device.levels: must be an integer or None, got {self.levels!r}"
                )
            if self.levels < 2:
                raise InvalidInputError(f"device.levels: must be >= 2, got {self.levels!r}")
            if not bounded:
                raise InvalidInputError("device.levels: needs a finite g_max_S")
            put("levels", int(self.levels))
        if self.pulse_step_S is None:
            if self.levels is not None:
                put("pulse_step_S", rng_S / (self.levels - 1))
        else:
            step = _number(self.pulse_step_S, "device.pulse_step_S")
            if not (math.isfinite(step) and step > 0):
                raise InvalidInputError(
                    f"device.pulse_step_S: must be finite and > 0 (or None), got {step!r}"
                )
            if step > rng_S:
                raise InvalidInputError(
                    f"device.pulse_step_S: must not exceed the range g_max_S - g_min_S "
                    f"= {rng_S!r}, got {step!r}"
                )
            put("pulse_step_S", step)
        for name in ("write_noise", "d2d_variation", "read_noise", "drift_nu"):
            v = _number(getattr(self, name), f"device.{name}")
            if not (math.isfinite(v) and v >= 0):
                raise InvalidInputError(f"device.{name}: must be finite and >= 0, got {v!r}")
            put(name, v)
        if self.write_noise > 0 and not bounded:
            raise InvalidInputError(
                "device.write_noise: is a fraction of the range and needs a finite g_max_S"
            )
        a = _number(self.asymmetry, "device.asymmetry")
        if not 0 <= a < 1:
            raise InvalidInputError(f"device.asymmetry: must be in [0, 1), got {a!r}")
        put("asymmetry", a)
        if not isinstance(self.soft_bounds, (bool, np.bool_)):
            raise InvalidInputError(
                f"device.soft_bounds: must be true or false, got {self.soft_bounds!r}"
            )
        put("soft_bounds", bool(self.soft_bounds))
        if self.soft_bounds and not bounded:
            raise InvalidInputError("device.soft_bounds: needs a finite g_max_S")
        t0 = _number(self.drift_t0_s, "device.drift_t0_s")
        if not (math.isfinite(t0) and t0 > 0):
            raise InvalidInputError(f"device.drift_t0_s: must be finite and > 0, got {t0!r}")
        put("drift_t0_s", t0)
        for name in ("stuck_fraction", "stuck_high_fraction"):
            v = _number(getattr(self, name), f"device.{name}")
            if not 0.0 <= v <= 1.0:
                raise InvalidInputError(f"device.{name}: must be in [0, 1], got {v!r}")
            put(name, v)
        if self.stuck_fraction > 0 and self.stuck_high_fraction > 0 and not bounded:
            raise InvalidInputError("device.stuck_high_fraction: needs a finite g_max_S")

    # ------------------------------------------------------------ derived
    @property
    def range_S(self) -> float:
        """The conductance range ``g_max - g_min`` of one device (``inf`` if unbounded)."""
        return self.g_max_S - self.g_min_S

    @property
    def bounded(self) -> bool:
        """Whether ``g_max`` is finite."""
        return math.isfinite(self.g_max_S)

    @property
    def level_spacing_S(self) -> float | None:
        """The distance between adjacent levels, ``range / (levels - 1)``, or None (analog)."""
        return None if self.levels is None else self.range_S / (self.levels - 1)

    @property
    def exact_writes(self) -> bool:
        """Whether programming is exact: the device is a perfect digital memory.

        True for ``g_min = 0``, ``g_max = inf``, analog (no levels, no pulse step),
        no write noise, no device-to-device variation, no asymmetry, no soft bounds,
        no stuck devices.
        Then :func:`fabricate` stores ``DifferentialPair.ideal(W)`` and
        :func:`apply_update` is exact digital SGD.  (Read noise and drift affect
        reads only, not this property.)
        """
        return (
            self.g_min_S == 0.0
            and not self.bounded
            and self.pulse_step_S is None
            and self.write_noise == 0.0
            and self.d2d_variation == 0.0
            and self.asymmetry == 0.0
            and not self.soft_bounds
            and self.stuck_fraction == 0.0
        )

    # ------------------------------------------------------------ files
    def to_dict(self) -> dict:
        """A JSON-ready dict (``pc-analog.device/1``); an infinite ``g_max_S`` becomes None.

        ``pulse_step_S`` is written as resolved (the level spacing when it defaulted),
        so ``DeviceConfig.from_dict(c.to_dict()) == c``.
        """
        d = {"format": DEVICE_FORMAT}
        for f in fields(self):
            d[f.name] = getattr(self, f.name)
        if not self.bounded:
            d["g_max_S"] = None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DeviceConfig:
        """Build and validate a config from a dict such as :meth:`to_dict` gives.

        Missing fields take their defaults; ``g_max_S: None`` (JSON ``null``) means
        unbounded; the optional ``format`` key must be ``"pc-analog.device/1"``;
        any other key is rejected by name.
        """
        if not isinstance(d, dict):
            raise InvalidInputError("device: a device config must be a JSON object")
        known = [f.name for f in fields(cls)]
        for key in d:
            if key != "format" and key not in known:
                raise InvalidInputError(
                    f"device.{key}: unknown field (known: format, {', '.join(known)})"
                )
        if "format" in d and d["format"] != DEVICE_FORMAT:
            raise InvalidInputError(
                f"device.format: unknown {d['format']!r} (expected {DEVICE_FORMAT!r})"
            )
        kw = {k: v for k, v in d.items() if k != "format"}
        if "g_max_S" in kw and kw["g_max_S"] is None:
            kw["g_max_S"] = math.inf
        return cls(**kw)


_RANGE_S = 2e-5  # 0..20 uS: with the default g_unit = 10 uS, |W| <= 2 is representable

PRESETS: MappingProxyType[str, DeviceConfig] = MappingProxyType(
    {
        # A perfect digital memory: training through it is exactly digital SGD.
        "ideal": DeviceConfig("ideal"),
        # Only a finite range: weights saturate at |W| = range / g_unit.
        "bounded": DeviceConfig("bounded", g_min_S=0.0, g_max_S=_RANGE_S),
        # 16 levels (4 bit) on the same range; one pulse = one level.
        "4bit": DeviceConfig("4bit", g_min_S=0.0, g_max_S=_RANGE_S, levels=16),
        "4bit-noisy": DeviceConfig(
            "4bit-noisy", g_min_S=0.0, g_max_S=_RANGE_S, levels=16, write_noise=0.02
        ),
        # Filamentary RRAM (HfOx-like): 1-20 uS, 64 states, soft-bounded (saturating)
        # and asymmetric pulse response, ~10 % device-to-device spread.  Illustrative
        # values inside the published ranges (1-100 uS, tens-hundreds of states).
        "rram": DeviceConfig(
            "rram",
            g_min_S=1e-6,
            g_max_S=2e-5,
            levels=64,
            write_noise=0.01,
            d2d_variation=0.1,
            asymmetry=0.2,
            soft_bounds=True,
            read_noise=0.01,
        ),
        # Phase-change memory (GST-like): 0-25 uS, analog partial-SET pulses of
        # 0.25 uS (~100 pulses over the range), saturating SET response.  PCM
        # depression is abrupt -- RESET melt-quenches the cell to the amorphous state in
        # one shot -- so it has no usable gradual depression; within this one-step
        # model that shows as a strong asymmetry (depression steps half as effective).
        # Amorphous-phase drift nu = 0.05 from t0 = 20 s (aihwkit's PCM model t0).
        "pcm": DeviceConfig(
            "pcm",
            g_min_S=0.0,
            g_max_S=2.5e-5,
            pulse_step_S=2.5e-7,
            write_noise=0.02,
            d2d_variation=0.1,
            asymmetry=0.5,
            soft_bounds=True,
            read_noise=0.01,
            drift_nu=0.05,
            drift_t0_s=20.0,
        ),
    }
)
"""Named device configurations (read-only).  See each entry's comment for its physics."""


def load_device_config(spec: str | os.PathLike | DeviceConfig) -> DeviceConfig:
    """A device config from a preset name, a JSON file, or a config (returned as is).

    Parameters
    ----------
    spec : str, path-like or DeviceConfig
        A key of :data:`PRESETS` (preset names win over files of the same name), or
        the path of a JSON file holding a :meth:`DeviceConfig.to_dict` object.

    Raises
    ------
    InvalidInputError
        Unknown preset, unreadable file, invalid JSON, or an invalid config.
    """
    if isinstance(spec, DeviceConfig):
        return spec
    if isinstance(spec, str) and spec in PRESETS:
        return PRESETS[spec]
    if not isinstance(spec, (str, os.PathLike)):
        raise InvalidInputError(f"device: expected a preset name or a path, got {spec!r}")
    from pc_analog.io.formats import _read_json

    d = _read_json(spec, "device", missing_ok=True)
    if d is None and not Path(spec).exists():
        raise InvalidInputError(
            f"device: {str(spec)!r} is neither a preset ({', '.join(PRESETS)}) nor a file"
        )
    return DeviceConfig.from_dict(d)
