"""Non-ideal amplifiers of the behavioural circuit: finite DC gain, input offsets, rails.

Every active stage of the behavioural level is modelled as an operational amplifier of
open-loop DC gain ``A`` with an input offset ``V_os`` (its own, fixed per chip) in a
unity-gain follower configuration fed by the ideal (behavioural) value ``u`` it should
reproduce.  The op-amp drives its output to ``v = A (u + V_os - v)``, so

    v = a (u + V_os),      a = A / (1 + A)                       (closed loop)

and an output stage that cannot swing beyond its rails clips it:
``v = clip(a (u + V_os), -rail, +rail)``.  ``A -> inf``, ``V_os = 0`` and no rail give
``v = u``, the ideal circuit.

The three stages (DESIGN "The physics mapping"):

- prediction ``m<l>_<j>``:   ``u = sum_i W_ji phi(x_{l-1,i}) + b_j``;
- error buffer ``e<l>_<j>``: ``u = v(x<l>_<j>) - v(m<l>_<j>)``;
- feedback sum ``s<l>_<i>``:  ``u = sum_j Wfb_ij pi_j v(e<l+1>_<j>)``; the ``phi'`` block
  then injects ``g0 phi'(x) v(s)`` into ``x<l>_<i>`` (the multiplier is ideal).

The spring still connects ``x`` and ``m`` (not ``e``), so the KCL at a free node reads

    C dx_l/dt = -pi_l g0 (x_l - m_l) + g0 phi_l'(x_l) s_l .

Offsets are drawn once per amplifier from ``N(0, sigma^2)`` with a seeded generator
(:func:`draw_amplifiers`), in one fixed order: for ``l = 1..L`` the ``n_l`` predictions,
then the ``n_l`` error buffers, then the ``n_{l-1}`` feedback sums of layer ``l-1`` (one
per unit, free or not, so an offset belongs to its amplifier whatever is clamped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = ["Amp", "Amplifiers", "draw_amplifiers"]


def _ro(a) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Amp:
    """One non-ideal unity-gain stage: ``v = clip(gain (u + offset_V), -rail_V, rail_V)``.

    ``gain`` is the closed-loop gain ``A / (1 + A)`` (1.0 for an infinite open-loop
    gain), ``rail_V`` ``None`` for no rail.
    """

    gain: float = 1.0
    offset_V: float = 0.0
    rail_V: float | None = None

    def apply(self, u):
        """The stage's output for the ideal value ``u`` (arrays welcome)."""
        out = self.gain * (u + self.offset_V)
        if self.rail_V is not None:
            out = np.clip(out, -self.rail_V, self.rail_V)
        return out

    def spice(self, expr: str) -> str:
        """The same as an ngspice expression (no blanks): ``min(max(a*(u+os),-r),r)``.

        ngspice 39's ``limit()`` does not clip in a B source; ``min``/``max`` do.
        """
        from pc_analog.circuit._text import num

        inner = expr
        if self.offset_V != 0.0:
            sign = "-" if self.offset_V < 0 else "+"
            inner = f"{expr}{sign}{num(abs(self.offset_V))}"
        out = f"{num(self.gain)}*({inner})" if self.gain != 1.0 else f"({inner})"
        if self.rail_V is not None:
            r = num(self.rail_V)
            out = f"min(max({out},-{r}),{r})"
        return out


@dataclass(frozen=True, eq=False)
class Amplifiers:
    """The circuit's amplifier non-idealities (data of the IR, read by every backend).

    Attributes
    ----------
    open_loop_gain : float or None
        ``A`` (``None``: infinite).
    rail_V : float or None
        Output saturation ``+-rail`` (``None``: none).
    offset_pred, offset_err : tuple of ndarray
        ``[l-1]``: ``(n_l,)`` input offsets (volts) of layer ``l``'s predictions and
        error buffers, ``l = 1..L``.
    offset_fb : tuple of ndarray
        ``[l]``: ``(n_l,)`` input offsets of the feedback sums into layer ``l``,
        ``l = 0..L-1``.
    """

    open_loop_gain: float | None
    rail_V: float | None
    offset_pred: tuple[np.ndarray, ...]
    offset_err: tuple[np.ndarray, ...]
    offset_fb: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        A, r = self.open_loop_gain, self.rail_V
        if A is not None and not (math.isfinite(A) and A > 0):
            raise InvalidInputError(f"amplifiers: open-loop gain must be > 0, got {A!r}")
        if r is not None and not (math.isfinite(r) and r > 0):
            raise InvalidInputError(f"amplifiers: rail must be > 0, got {r!r}")
        for name in ("offset_pred", "offset_err", "offset_fb"):
            arrs = tuple(_ro(a) for a in getattr(self, name))
            if not all(np.all(np.isfinite(a)) for a in arrs):
                raise InvalidInputError(f"amplifiers: {name} must be finite")
            object.__setattr__(self, name, arrs)

    @property
    def closed_loop_gain(self) -> float:
        """``a = A / (1 + A)`` (1.0 when ``A`` is infinite)."""
        A = self.open_loop_gain
        return 1.0 if A is None else A / (1.0 + A)

    def check(self, sizes) -> None:
        """Refuse offsets whose shapes do not match layer sizes ``(n_0, ..., n_L)``."""
        L = len(sizes) - 1
        ok = (
            len(self.offset_pred) == L
            and len(self.offset_err) == L
            and len(self.offset_fb) == L
            and all(self.offset_pred[l - 1].shape == (sizes[l],) for l in range(1, L + 1))
            and all(self.offset_err[l - 1].shape == (sizes[l],) for l in range(1, L + 1))
            and all(self.offset_fb[l].shape == (sizes[l],) for l in range(L))
        )
        if not ok:
            raise InvalidInputError("amplifiers: offset arrays do not match the layer sizes")

    def _amp(self, offset: float) -> Amp:
        return Amp(self.closed_loop_gain, float(offset), self.rail_V)

    def prediction(self, l: int, j: int) -> Amp:
        return self._amp(self.offset_pred[l - 1][j])

    def error(self, l: int, j: int) -> Amp:
        return self._amp(self.offset_err[l - 1][j])

    def feedback(self, l: int, i: int) -> Amp:
        """The feedback sum into unit ``i`` of layer ``l`` (``l = 0..L-1``)."""
        return self._amp(self.offset_fb[l][i])


def draw_amplifiers(
    sizes, *, open_loop_gain=None, offset_V: float = 0.0, rail_V=None, seed: int = 0
) -> Amplifiers | None:
    """Per-amplifier offsets drawn from ``N(0, offset_V^2)`` by ``seed`` (module docstring
    gives the order); ``None`` when every non-ideality is off (the ideal circuit)."""
    if open_loop_gain is None and not offset_V and rail_V is None:
        return None
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    pred, err, fb = [], [], []
    for l in range(1, L + 1):
        pred.append(rng.normal(0.0, 1.0, sizes[l]) * offset_V)
        err.append(rng.normal(0.0, 1.0, sizes[l]) * offset_V)
        fb.append(rng.normal(0.0, 1.0, sizes[l - 1]) * offset_V)
    return Amplifiers(open_loop_gain, rail_V, tuple(pred), tuple(err), tuple(fb))
