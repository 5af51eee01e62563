"""Device models for crossbar conductances, configured as data (in the spirit of aihwkit).

A weight is stored in a differential pair of two non-negative devices,
``W = (G+ - G-) / g_unit`` (:class:`~pc_analog.circuit.ir.DifferentialPair`).  This module
says how those conductances behave when they are programmed, updated and read:

- :class:`DeviceConfig` -- the physics of one device technology, as plain data
  (range, levels, pulse step, write noise, device-to-device variation, up/down
  asymmetry, soft bounds, read noise, drift), loadable from JSON or a preset name;
- :class:`DeviceArray` -- the state of one crossbar's devices: the programmed pair,
  the fabrication-time step multipliers of every device, and the pulse count;
- :func:`fabricate` -- build a crossbar and program initial weights into it;
- :func:`apply_update` -- apply a desired weight change through the device physics;
- :func:`apply_accumulated` -- the same through a per-pair digital accumulator
  (mixed-precision training: only whole pulses are programmed);
- :func:`read` / :func:`weights` -- the weights a read sees (noisy, drifted) or the
  noiseless programmed ones.

All functions are pure: they return new objects.  Randomness comes only from the
``rng`` argument (a :class:`numpy.random.Generator` or an integer seed), consumed in a
fixed order, so the same seed gives bit-identical results.

Conventions
-----------
- All quantities are SI: conductances in siemens (``_S``), times in seconds (``_s``).
- ``range = g_max - g_min`` is the conductance range of one device.
- **Write noise is a fraction of the range**: ``write_noise = 0.02`` ("2 % write
  noise") adds a Gaussian error of standard deviation ``0.02 * (g_max - g_min)`` to
  every device that a write event touches.
- **Read noise is relative to the conductance**: ``read_noise = 0.01`` multiplies
  every device's conductance by ``1 + 0.01 * N(0, 1)`` on every read.
- A desired weight change ``dW`` is split evenly across the pair,
  ``dG+ = +g_unit dW / 2``, ``dG- = -g_unit dW / 2`` (open-loop programming: both
  devices receive pulses, neither is read back).  A device that sits at a bound
  cannot follow its half of the request; that part of the update is lost.  With the
  fabrication mapping below one device of every pair starts at ``g_min``, so an update
  that *grows* ``|W|`` achieves only half of ``dW`` there while one that shrinks ``|W|``
  achieves all of it.  This is the physical behaviour of the scheme, not a bug;
  the ideal configuration is exempt (see :func:`apply_update`).

Typical published ranges (guidance from the literature, not values verified here):
RRAM (HfOx, TaOx) devices span roughly 1-100 uS with tens to a few hundred
distinguishable states, a few per cent cycle-to-cycle noise and ~10 % device-to-device
variation; PCM (GST) devices span roughly 0.1-25 uS, potentiate gradually (partial
SET) but depress abruptly (RESET), and drift as ``g(t) = g_prog (t/t0)^-nu`` with
``nu`` around 0.05 for the amorphous phase (aihwkit's PCM noise model takes
``t0 = 20 s``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from pc_analog.circuit.ir import DifferentialPair
from pc_analog.errors import InvalidInputError

__all__ = [
    "DEVICE_FORMAT",
    "DeviceConfig",
    "DeviceArray",
    "PRESETS",
    "load_device_config",
    "fabricate",
    "apply_update",
    "apply_accumulated",
    "read",
    "weights",
]

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
        no write noise, no device-to-device variation, no asymmetry, no soft bounds.
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
    p = Path(spec)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(
            f"device: {str(spec)!r} is neither a preset ({', '.join(PRESETS)}) nor a file"
        ) from None
    except IsADirectoryError:
        raise InvalidInputError(f"device: is a directory: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"device: cannot read {p}: {exc}") from None
    try:
        d = json.loads(text)
    except RecursionError:
        raise InvalidInputError(f"device: JSON nested too deeply in {p}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"device: invalid JSON in {p}: {exc.msg} at line {exc.lineno}"
        ) from None
    return DeviceConfig.from_dict(d)


# ---------------------------------------------------------------- device state
def _ro(a) -> np.ndarray:
    if (
        isinstance(a, np.ndarray)
        and a.dtype == np.float64
        and a.flags.owndata
        and not a.flags.writeable
    ):
        return a  # already a private read-only copy (e.g. carried over by `replace`)
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class DeviceArray:
    """The state of one crossbar's devices.

    Attributes
    ----------
    config : DeviceConfig
        The device technology.
    pair : DifferentialPair
        The currently programmed conductances; ``W = (G+ - G-) / g_unit``.  Every
        conductance lies in ``[g_min, g_max]``.
    up_scale, down_scale : ndarray
        Shape ``(2,) + shape``: the fabrication-time multipliers of every device's
        potentiation and depression step (index 0: the G+ device, 1: the G- device).
        All ones without device-to-device variation.
    pulses : int
        Cumulative number of programming pulses (analog devices: write events)
        applied since fabrication, initial programming excluded.
    """

    config: DeviceConfig
    pair: DifferentialPair
    up_scale: np.ndarray
    down_scale: np.ndarray
    pulses: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.config, DeviceConfig):
            raise InvalidInputError("device array.config: must be a DeviceConfig")
        if not isinstance(self.pair, DifferentialPair):
            raise InvalidInputError("device array.pair: must be a DifferentialPair")
        want = (2,) + self.pair.g_pos_S.shape
        for name in ("up_scale", "down_scale"):
            s = _ro(getattr(self, name))
            if s.shape != want:
                raise InvalidInputError(f"device array.{name}: shape {s.shape}, expected {want}")
            if not (np.all(np.isfinite(s)) and np.all(s > 0)):
                raise InvalidInputError(f"device array.{name}: must be finite and > 0")
            object.__setattr__(self, name, s)
        if isinstance(self.pulses, bool) or not isinstance(self.pulses, (int, np.integer)):
            raise InvalidInputError(f"device array.pulses: must be an integer, got {self.pulses!r}")
        if self.pulses < 0:
            raise InvalidInputError(f"device array.pulses: must be >= 0, got {self.pulses!r}")
        object.__setattr__(self, "pulses", int(self.pulses))
        c = self.config
        p = self.pair
        lo = min(p.g_pos_S.min(initial=np.inf), p.g_neg_S.min(initial=np.inf))
        hi = max(p.g_pos_S.max(initial=-np.inf), p.g_neg_S.max(initial=-np.inf))
        if lo < c.g_min_S or hi > c.g_max_S:
            raise InvalidInputError(
                "device array.pair: conductances outside [g_min_S, g_max_S] of the config"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """The weight-array shape."""
        return self.pair.g_pos_S.shape

    @property
    def conductances_S(self) -> np.ndarray:
        """``(2,) + shape``: the G+ and G- arrays stacked (a new array)."""
        return np.stack([self.pair.g_pos_S, self.pair.g_neg_S])


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise InvalidInputError(
        f"rng: must be a numpy.random.Generator or a non-negative integer seed, got {rng!r}"
    )


def _g_unit(g_unit_S) -> float:
    g = _number(g_unit_S, "g_unit_S")
    if not (math.isfinite(g) and g > 0):
        raise InvalidInputError(f"g_unit_S: must be a positive number, got {g_unit_S!r}")
    return g


def _finite(value, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: not an array of numbers") from None
    if shape is not None and a.shape != shape:
        raise InvalidInputError(f"{name}: shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise InvalidInputError(f"{name}: contains non-finite numbers (NaN or inf)")
    return a


def _snap(x: np.ndarray) -> np.ndarray:
    r = np.rint(x)
    return np.where(np.abs(x - r) <= _SNAP * np.maximum(1.0, np.abs(r)), r, x)


def _lognormal(rng: np.random.Generator, rel_std: float, shape) -> np.ndarray:
    """Multipliers ``exp(s N - s^2/2)`` with ``s^2 = ln(1 + rel_std^2)``: mean 1, rel. std."""
    s = math.sqrt(math.log1p(rel_std**2))
    return np.exp(s * rng.standard_normal(shape) - 0.5 * s * s)


def _quantize(c: DeviceConfig, G: np.ndarray, u: np.ndarray | None) -> np.ndarray:
    """Put ``G`` on the level grid: nearest level (``u is None``), else stochastic rounding.

    Stochastic rounding moves to the upper neighbour with probability equal to the
    fractional level index (``u`` uniform on [0, 1)), so the expected conductance is
    unchanged and sub-level effects (asymmetry, soft bounds, d2d) survive on average.
    """
    dg = c.level_spacing_S
    k = _snap((G - c.g_min_S) / dg)
    k = np.rint(k) if u is None else np.floor(k) + (u < k - np.floor(k))
    return c.g_min_S + np.clip(k, 0, c.levels - 1) * dg


def _pair(G: np.ndarray) -> DifferentialPair:
    return DifferentialPair(G[0], G[1])


def fabricate(config: DeviceConfig, W, g_unit_S: float, rng) -> DeviceArray:
    """Fabricate a crossbar of differential pairs and program the weights ``W`` into it.

    Parameters
    ----------
    config : DeviceConfig
        The device technology.
    W : array_like
        Initial weights (any shape, finite).
    g_unit_S : float
        Conductance of a unit weight (siemens), ``W = (G+ - G-) / g_unit``.
    rng : numpy.random.Generator or int
        Source of the device-to-device multipliers and the initial write noise.

    Returns
    -------
    DeviceArray
        With ``pulses = 0``.

    Notes
    -----
    Device-to-device multipliers are drawn first (up, then down, each of shape
    ``(2,) + W.shape``; lognormal with mean 1 and relative std ``d2d_variation``).
    Programming then targets

        G+ = g_min + g_unit max(W, 0),   G- = g_min + g_unit max(-W, 0),

    so ``(G+ - G-) / g_unit = W`` whenever it fits: ``|W| > (g_max - g_min) / g_unit``
    cannot be stored and is clipped to that bound.  Each device gets one write-noise
    draw (std ``write_noise * range``), is clipped to ``[g_min, g_max]`` and, with
    ``levels``, set to the nearest level (program-and-verify lands on the closest
    state).  Step multipliers do not affect this initial programming.  With an
    :attr:`~DeviceConfig.exact_writes` config the pair is exactly
    ``DifferentialPair.ideal(W, g_unit)``.
    """
    if not isinstance(config, DeviceConfig):
        raise InvalidInputError("config: must be a DeviceConfig (see load_device_config)")
    W = _finite(W, "W")
    g = _g_unit(g_unit_S)
    rng = _as_rng(rng)
    full = (2,) + W.shape
    if config.d2d_variation > 0:
        up = _lognormal(rng, config.d2d_variation, full)
        down = _lognormal(rng, config.d2d_variation, full)
    else:
        up = down = np.ones(full)
    if config.exact_writes:
        return DeviceArray(config, DifferentialPair.ideal(W, g), up, down, 0)
    G = config.g_min_S + g * np.stack([np.maximum(W, 0.0), np.maximum(-W, 0.0)])
    if config.write_noise > 0:
        G = G + rng.normal(0.0, config.write_noise * config.range_S, full)
    G = np.clip(G, config.g_min_S, config.g_max_S)
    if config.levels is not None:
        G = _quantize(config, G, None)
    return DeviceArray(config, _pair(G), up, down, 0)


def _pulse(c: DeviceConfig, G: np.ndarray, n: np.ndarray, up: np.ndarray, m: np.ndarray):
    """``G`` after ``n`` pulses of step ``m * pulse_step`` (up where ``up``), no noise.

    Hard bounds: ``G +- n s``; soft bounds: the per-pulse factor ``(1 - s/R)`` applied
    ``n`` times in closed form (see :func:`apply_update`).  Not yet clipped or rounded.
    """
    s = m * c.pulse_step_S
    if c.soft_bounds:
        f = np.clip(1.0 - s / c.range_S, 0.0, 1.0) ** n
        return np.where(up, c.g_max_S - (c.g_max_S - G) * f, c.g_min_S + (G - c.g_min_S) * f)
    return G + np.where(up, n * s, -n * s)


def apply_update(arr: DeviceArray, dW, g_unit_S: float, rng) -> tuple[DeviceArray, int]:
    """Apply a desired weight change ``dW`` through the device physics.

    Parameters
    ----------
    arr : DeviceArray
        The crossbar before the update.
    dW : array_like
        Desired weight change, shape ``arr.shape``.
    g_unit_S : float
        Conductance of a unit weight (siemens).
    rng : numpy.random.Generator or int
        Source of stochastic rounding, write noise and level rounding.

    Returns
    -------
    new : DeviceArray
        The crossbar after the update (``pulses`` increased by ``n_pulses``).
    n_pulses : int
        Pulses applied by this update.  Analog devices count one write event per
        device asked to change (``2 * count_nonzero(dW)``).

    Notes
    -----
    The desired conductance change is split over the pair,
    ``dG+ = +g_unit dW / 2`` and ``dG- = -g_unit dW / 2``.  For a device asked to move
    up (``dG > 0``) its nominal step multiplier is ``m = up_scale``; down,
    ``m = (1 - asymmetry) down_scale``.  ``R = g_max - g_min``.

    *Analog* (``pulse_step_S is None``): the device moves by ``delta = m |dG|``;
    with soft bounds in the continuous limit of the soft-bound law,
    ``g' = g_max - (g_max - g) exp(-delta / R)`` up and
    ``g' = g_min + (g - g_min) exp(-delta / R)`` down (to first order
    ``delta (g_max - g) / R``, the soft-bound scaling).

    *Pulsed*: ``n = floor(x) + Bernoulli(x - floor(x))`` pulses with
    ``x = |dG| / pulse_step`` (stochastic rounding, ``E[n] = x``, so updates smaller
    than one pulse still move the conductance on average).  With step
    ``s = m pulse_step`` the device moves ``n s`` (hard bounds) or, applying the
    per-pulse soft-bound factor ``n`` times in closed form,
    ``g' = g_max - (g_max - g)(1 - s/R)^n`` up and
    ``g' = g_min + (g - g_min)(1 - s/R)^n`` down.

    Every device written (nonzero change, or ``n > 0``) then gets one write-noise
    draw of std ``write_noise * R``; all are clipped to ``[g_min, g_max]`` and, with
    ``levels``, rounded stochastically to a neighbouring level (unbiased: a pulse
    smaller than a level moves a level with the corresponding probability).

    With an :attr:`~DeviceConfig.exact_writes` config the new pair is
    ``DifferentialPair.ideal(W + dW)``: the update is exact (digital SGD) even
    where a device of the pair would have had to go below zero.

    Random numbers are drawn in a fixed order (rounding uniforms if pulsed, write
    noise if any, level uniforms if ``levels``), each of shape ``(2,) + shape``.
    """
    if not isinstance(arr, DeviceArray):
        raise InvalidInputError("arr: must be a DeviceArray (see fabricate)")
    c = arr.config
    g = _g_unit(g_unit_S)
    dW = _finite(dW, "dW", arr.shape)
    rng = _as_rng(rng)
    if c.exact_writes:
        n = 2 * int(np.count_nonzero(dW))
        pair = DifferentialPair.ideal(arr.pair.weights(g) + dW, g)
        return replace(arr, pair=pair, pulses=arr.pulses + n), n
    G = arr.conductances_S
    d = (0.5 * g) * np.stack([dW, -dW])
    up = d > 0
    mag = np.abs(d)
    m = np.where(up, arr.up_scale, (1.0 - c.asymmetry) * arr.down_scale)
    R = c.range_S
    if c.pulse_step_S is None:
        written = mag > 0
        n_pulses = int(np.count_nonzero(written))
        delta = m * mag
        if c.soft_bounds:
            f = np.exp(-delta / R)
            new = np.where(up, c.g_max_S - (c.g_max_S - G) * f, c.g_min_S + (G - c.g_min_S) * f)
        else:
            new = G + np.where(up, delta, -delta)
    else:
        x = _snap(mag / c.pulse_step_S)
        fl = np.floor(x)
        n = fl + (rng.random(G.shape) < x - fl)
        written = n > 0
        n_pulses = int(n.sum())
        new = _pulse(c, G, n, up, m)
    new = np.where(written, new, G)
    if c.write_noise > 0:
        noise = rng.normal(0.0, c.write_noise * R, G.shape)
        new = new + np.where(written, noise, 0.0)
    new = np.clip(new, c.g_min_S, c.g_max_S)
    if c.levels is not None:
        new = _quantize(c, new, rng.random(G.shape))
    return replace(arr, pair=_pair(new), pulses=arr.pulses + n_pulses), n_pulses


def apply_accumulated(
    arr: DeviceArray, chi, dW, g_unit_S: float, rng
) -> tuple[DeviceArray, np.ndarray, int]:
    """Mixed-precision update: accumulate ``dW`` digitally, program only whole pulses.

    The update scheme of Nandakumar et al., "Mixed-precision deep learning based on
    computational memory", Frontiers in Neuroscience 14:406 (2020): every differential
    pair has a high-precision (float64) accumulator ``chi`` in weight units, kept in
    digital memory beside the crossbar.  With the weight step of one pulse on one
    device of a pair,

        epsilon = pulse_step / g_unit,

    one update is

        chi   <- chi + dW
        n     =  trunc(chi / epsilon)          (an integer, sign kept)
        chi   <- chi - n epsilon

    and the pair receives ``|n|`` pulses in sign-magnitude fashion, as in the paper's
    differential configuration where each pulse goes to one device: for ``n > 0``
    the G- device is first stepped down, by at most the whole steps it holds above
    ``g_min`` (``floor((G- - g_min) / pulse_step)``), and the remaining pulses step
    G+ up (mirrored for ``n < 0``).  So one device of a pair stays at ``g_min`` as
    :func:`fabricate` programs it, and, unlike the even split of
    :func:`apply_update`, no half of an update is lost to a device sitting at
    ``g_min``.  The nominal amount ``n epsilon`` is subtracted (open loop, nothing is
    read back but the coarse "which device is above ``g_min``"); what the devices
    fail to follow (``g_max``, soft-bound shrinking, asymmetry, d2d multipliers,
    write noise) is not returned to ``chi``.  Sub-step requests wait in ``chi``
    instead of becoming random pulses, so noise and level rounding act only when a
    device really is written: devices without pulses are left exactly as they are
    and get no write-noise draw.

    Parameters
    ----------
    arr : DeviceArray
        The crossbar before the update; its config must have a pulse step
        (``levels`` or ``pulse_step_S``).
    chi : array_like
        The accumulators before the update, shape ``arr.shape`` (weight units; start
        from zeros).
    dW : array_like
        Desired weight change, shape ``arr.shape``.
    g_unit_S : float
        Conductance of a unit weight (siemens).
    rng : numpy.random.Generator or int
        Source of write noise and level rounding.

    Returns
    -------
    new : DeviceArray
        The crossbar after the update (``pulses`` increased by ``n_pulses``).
    chi : ndarray
        The accumulators after the update, ``|chi| < epsilon`` elementwise (new array).
    n_pulses : int
        Device pulses applied, ``sum |n|``.

    Raises
    ------
    InvalidInputError
        For an analog config (no pulse step: there is no whole pulse to wait for),
        or bad shapes and non-finite numbers.

    Notes
    -----
    The physics of a written device is that of :func:`apply_update` (steps
    ``m pulse_step`` with the d2d and asymmetry multipliers, soft bounds in closed
    form, one write-noise draw of std ``write_noise * (g_max - g_min)``, clipping,
    stochastic level rounding).  Random numbers are drawn only for the ``w`` written
    devices, in a fixed order: ``w`` write-noise normals (if ``write_noise > 0``),
    then ``w`` level-rounding uniforms (if ``levels``), in C order over
    ``(2,) + shape``.
    """
    if not isinstance(arr, DeviceArray):
        raise InvalidInputError("arr: must be a DeviceArray (see fabricate)")
    c = arr.config
    if c.pulse_step_S is None:
        raise InvalidInputError(
            f"device {c.name!r}: accumulated (mixed-precision) updates need a pulse step "
            "(levels or pulse_step_S); this device is analog"
        )
    g = _g_unit(g_unit_S)
    dW = _finite(dW, "dW", arr.shape)
    chi = _finite(chi, "chi", arr.shape)
    rng = _as_rng(rng)
    eps = c.pulse_step_S / g
    total = chi + dW
    k = np.trunc(_snap(total / eps))
    chi_new = total - k * eps
    G = arr.conductances_S
    # Sign-magnitude programming: first take the opposite device down towards g_min
    # (as many whole steps as it holds above g_min), the rest goes up on the own one.
    room = np.floor(_snap((G - c.g_min_S) / c.pulse_step_S))  # whole steps above g_min
    a = np.abs(k)
    grow = np.where(k > 0, 0, 1)  # index of the device that goes up: 0 = G+, 1 = G-
    other = np.take_along_axis(room, (1 - grow)[None], 0)[0]
    down = np.minimum(a, other)
    rest = a - down
    dev = np.arange(2).reshape((2,) + (1,) * k.ndim)
    n = np.where(dev == grow, rest, down)
    up = (dev == grow) & (n > 0)
    m = np.where(up, arr.up_scale, (1.0 - c.asymmetry) * arr.down_scale)
    written = n > 0
    count = int(np.count_nonzero(written))
    n_pulses = int(n.sum())
    new = np.where(written, _pulse(c, G, n, up, m), G)
    if count:
        if c.write_noise > 0:
            new[written] += rng.normal(0.0, c.write_noise * c.range_S, count)
        new[written] = np.clip(new[written], c.g_min_S, c.g_max_S)
        if c.levels is not None:
            new[written] = _quantize(c, new[written], rng.random(count))
    out = replace(arr, pair=_pair(new), pulses=arr.pulses + n_pulses)
    return out, chi_new, n_pulses


def read(arr: DeviceArray, g_unit_S: float, rng=None, t_s: float | None = None) -> np.ndarray:
    """The effective weights a read of the crossbar sees.

    ``W_read = (G+_read - G-_read) / g_unit`` with, for each device,

        G_read = g (t / t0)^(-nu) (1 + read_noise N(0, 1)),

    the drift factor applied only when ``t_s`` is given and ``t_s > drift_t0_s``
    (``t_s`` is the time since programming, seconds), the noise only when ``rng`` is
    given and ``read_noise > 0``.  Reading does not change the state.

    Parameters
    ----------
    arr : DeviceArray
    g_unit_S : float
        Conductance of a unit weight (siemens).
    rng : numpy.random.Generator or int, optional
        Source of read noise; None reads without noise.
    t_s : float, optional
        Time since programming (seconds); None reads without drift.
    """
    if not isinstance(arr, DeviceArray):
        raise InvalidInputError("arr: must be a DeviceArray (see fabricate)")
    c = arr.config
    g = _g_unit(g_unit_S)
    G = arr.conductances_S
    if t_s is not None:
        t = _number(t_s, "t_s")
        if not (math.isfinite(t) and t >= 0):
            raise InvalidInputError(f"t_s: must be a finite time >= 0, got {t_s!r}")
        if c.drift_nu > 0 and t > c.drift_t0_s:
            G = G * (t / c.drift_t0_s) ** (-c.drift_nu)
    if rng is not None:
        rng = _as_rng(rng)
        if c.read_noise > 0:
            G = G * (1.0 + c.read_noise * rng.standard_normal(G.shape))
    return (G[0] - G[1]) / g


def weights(arr: DeviceArray, g_unit_S: float) -> np.ndarray:
    """The noiseless programmed weights ``(G+ - G-) / g_unit``."""
    if not isinstance(arr, DeviceArray):
        raise InvalidInputError("arr: must be a DeviceArray (see fabricate)")
    return arr.pair.weights(_g_unit(g_unit_S))
