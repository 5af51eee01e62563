"""Device state and its physics: one crossbar's :class:`DeviceArray` and the pure functions
that fabricate, program and read it.

The conventions (split of a weight change over the pair, stochastic rounding, write and
read noise, drift) are in :mod:`pc_analog.hardware.devices`, which re-exports
everything here.  All functions are pure: they return new objects; randomness comes
only from the ``rng`` argument, consumed in a fixed order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pc_analog.circuit.ir import DifferentialPair
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.device_config import _SNAP, DeviceConfig, _number

__all__ = [
    "DeviceArray",
    "fabricate",
    "apply_update",
    "apply_accumulated",
    "read",
    "read_pair",
    "weights",
]


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
    stuck : ndarray or None
        Shape ``(2,) + shape``, int8: 0 a working device, 1 stuck at ``g_min``, 2 stuck
        at ``g_max`` (drawn in :func:`fabricate`; a stuck device ignores programming).
        ``None``: no stuck device.
    """

    config: DeviceConfig
    pair: DifferentialPair
    up_scale: np.ndarray
    down_scale: np.ndarray
    pulses: int = 0
    stuck: np.ndarray | None = None

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
        if self.stuck is not None:
            st = np.array(self.stuck, dtype=np.int8)
            if st.shape != want or not np.all((st >= 0) & (st <= 2)):
                raise InvalidInputError(f"device array.stuck: codes 0/1/2 of shape {want}")
            st.setflags(write=False)
            object.__setattr__(self, "stuck", st)
        _check_range(self)

    @property
    def shape(self) -> tuple[int, ...]:
        """The weight-array shape."""
        return self.pair.g_pos_S.shape

    @property
    def conductances_S(self) -> np.ndarray:
        """``(2,) + shape``: the G+ and G- arrays stacked (a new array)."""
        return np.stack([self.pair.g_pos_S, self.pair.g_neg_S])


def _check_range(arr: DeviceArray) -> None:
    """Raise unless every conductance of ``arr.pair`` lies in ``[g_min, g_max]``."""
    c, p = arr.config, arr.pair
    lo = min(p.g_pos_S.min(initial=np.inf), p.g_neg_S.min(initial=np.inf))
    hi = max(p.g_pos_S.max(initial=-np.inf), p.g_neg_S.max(initial=-np.inf))
    if lo < c.g_min_S or hi > c.g_max_S:
        raise InvalidInputError(
            "device array.pair: conductances outside [g_min_S, g_max_S] of the config"
        )


def _evolve(arr: DeviceArray, pair: DifferentialPair, pulses: int) -> DeviceArray:
    """``dataclasses.replace(arr, pair=pair, pulses=pulses)`` for an update made here.

    The private fast path of the programming functions: the step multipliers and stuck
    codes are ``arr``'s own arrays, checked when ``arr`` was built, and ``pulses`` is a
    count ``>= 0``, so only the new pair's range is checked, as ``__post_init__`` checks
    it; with an :attr:`~DeviceConfig.exact_writes` config (range ``[0, inf)``) not even
    that, since the pair's own check (finite, ``>= 0``) implies it.  A training batch
    programs every crossbar, so re-validating the whole ``(2,) + shape`` multiplier
    arrays each time cost more than the update itself.
    """
    new = object.__new__(DeviceArray)
    for name in ("config", "up_scale", "down_scale", "stuck"):
        object.__setattr__(new, name, getattr(arr, name))
    object.__setattr__(new, "pair", pair)
    object.__setattr__(new, "pulses", int(pulses))
    if not arr.config.exact_writes:
        _check_range(new)
    return new


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
    """``value`` as a float array (not copied when it is one: every caller only reads it),
    checked for ``shape`` and finiteness."""
    try:
        a = np.asarray(value, dtype=float)
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


def _pin(c: DeviceConfig, stuck, G: np.ndarray) -> np.ndarray:
    """``G`` with the stuck devices at their stuck conductance (``g_min`` or ``g_max``)."""
    if stuck is None:
        return G
    return np.where(stuck == 1, c.g_min_S, np.where(stuck == 2, c.g_max_S, G))


def _draw_stuck(c: DeviceConfig, rng, full) -> np.ndarray | None:
    """Stuck codes: each device stuck with probability ``stuck_fraction`` and, if stuck,
    high with probability ``stuck_high_fraction`` (two uniforms per device)."""
    if c.stuck_fraction == 0.0:
        return None
    stuck = rng.random(full) < c.stuck_fraction
    high = rng.random(full) < c.stuck_high_fraction
    return np.where(stuck, np.where(high, 2, 1), 0).astype(np.int8)


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
    ``(2,) + W.shape``; lognormal with mean 1 and relative std ``d2d_variation``),
    then, with ``stuck_fraction > 0``, the stuck devices (two uniforms per device:
    stuck, then high); a stuck device ends at ``g_min`` or ``g_max`` whatever ``W``.
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
    stuck = _draw_stuck(config, rng, full)
    if config.exact_writes:
        return DeviceArray(config, DifferentialPair.ideal(W, g), up, down, 0)
    G = config.g_min_S + g * np.stack([np.maximum(W, 0.0), np.maximum(-W, 0.0)])
    if config.write_noise > 0:
        G = G + rng.normal(0.0, config.write_noise * config.range_S, full)
    G = np.clip(G, config.g_min_S, config.g_max_S)
    if config.levels is not None:
        G = _quantize(config, G, None)
    return DeviceArray(config, _pair(_pin(config, stuck, G)), up, down, 0, stuck)


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

    Long because of its docstring (the device physics it applies); the code is ~40 lines.

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

    (Over 80 lines only by this docstring: the code is one update of ~40 lines,
    kept together so the order of the random draws is visible in one place.)
    """
    if not isinstance(arr, DeviceArray):
        raise InvalidInputError("arr: must be a DeviceArray (see fabricate)")
    c = arr.config
    g = _g_unit(g_unit_S)
    dW = _finite(dW, "dW", arr.shape)
    rng = _as_rng(rng)
    if c.exact_writes:
        n = 2 * int(np.count_nonzero(dW != 0))  # (dW is finite) a count of bools is faster
        pair = DifferentialPair.ideal(arr.pair._weights(g) + dW, g)
        return _evolve(arr, pair, arr.pulses + n), n
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
    new = _pin(c, arr.stuck, new)  # stuck devices ignore the pulses
    return _evolve(arr, _pair(new), arr.pulses + n_pulses), n_pulses


def apply_accumulated(
    arr: DeviceArray, chi, dW, g_unit_S: float, rng
) -> tuple[DeviceArray, np.ndarray, int]:
    """Mixed-precision update: accumulate ``dW`` digitally, program only whole pulses.

    Long because of its docstring (the update rule and its bookkeeping); the code is ~40
    lines.

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
    ``(2,) + shape``.  (Over 80 lines mostly by this docstring: the code is one
    update of ~50 lines, kept together so the draw order is visible in one place.)
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
    out = _evolve(arr, _pair(_pin(c, arr.stuck, new)), arr.pulses + n_pulses)
    return out, chi_new, n_pulses


def _read_conductances(arr: DeviceArray, rng, t_s) -> np.ndarray | None:
    """``(2,) + shape`` conductances a read sees, or None when it sees the programmed ones."""
    if not isinstance(arr, DeviceArray):
        raise InvalidInputError("arr: must be a DeviceArray (see fabricate)")
    c = arr.config
    G = None
    if t_s is not None:
        t = _number(t_s, "t_s")
        if not (math.isfinite(t) and t >= 0):
            raise InvalidInputError(f"t_s: must be a finite time >= 0, got {t_s!r}")
        if c.drift_nu > 0 and t > c.drift_t0_s:
            G = arr.conductances_S * (t / c.drift_t0_s) ** (-c.drift_nu)
    if rng is not None:
        rng = _as_rng(rng)
        if c.read_noise > 0:
            G = arr.conductances_S if G is None else G
            G = G * (1.0 + c.read_noise * rng.standard_normal(G.shape))
    return G


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
    g = _g_unit(g_unit_S)
    G = _read_conductances(arr, rng, t_s)
    if G is None:
        G = arr.conductances_S
    return (G[0] - G[1]) / g


def read_pair(arr: DeviceArray, rng=None, t_s: float | None = None) -> DifferentialPair:
    """The conductances a read of the crossbar sees, as a :class:`DifferentialPair`.

    The same draws and formula as :func:`read` (which divides this pair's difference
    by ``g_unit``), so ``read_pair(a, r1).weights(g) == read(a, g, r2)`` for equally
    seeded ``r1``, ``r2``, up to a read conductance below zero, which is set to zero
    (a read current cannot reverse; with ``read_noise`` of a few per cent it would
    take a draw beyond ``-1 / read_noise`` standard deviations).  Without noise and
    drift this is the programmed pair itself (``arr.pair``, not a copy).
    """
    G = _read_conductances(arr, rng, t_s)
    if G is None:
        return arr.pair
    return _pair(np.maximum(G, 0.0))


def weights(arr: DeviceArray, g_unit_S: float) -> np.ndarray:
    """The noiseless programmed weights ``(G+ - G-) / g_unit``."""
    if not isinstance(arr, DeviceArray):
        raise InvalidInputError("arr: must be a DeviceArray (see fabricate)")
    return arr.pair.weights(_g_unit(g_unit_S))
