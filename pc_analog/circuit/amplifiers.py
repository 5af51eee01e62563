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

**Gain-bandwidth** (``amp_gbw_Hz``).  With a single-pole open loop
``A(s) = A0 / (1 + s/w_p)``, ``w_p = 2 pi GBW / A0``, the follower's internal (pre-rail)
output ``w`` obeys ``w (1 + s/w_p) = A0 (u + V_os - v)``, i.e. in time

    tau_a dw/dt = (u + V_os) - v - w / A0,      v = clip(w),      tau_a = 1 / (2 pi GBW)

(``A0 = inf``: ``tau_a dw/dt = (u + V_os) - v``).  Its rest point is the DC stage above
(``w = a (u + V_os)`` inside the rails), so the equilibrium ignores GBW; the ``ode``
backend integrates one ``w`` per amplifier (:mod:`pc_analog.solvers._poles`) and the
netlist writes each stage as the macro-model ``pc_amp`` (:func:`amp_subcircuit`).

**phi / phi' block errors** (``phi_gain_error``, ``phi_offset_V``, ``dphi_gain_error``,
``dphi_offset_V``).  Unit ``i`` of layer ``l`` has one ``phi`` block (feeding every
prediction of layer ``l+1``) and, when free, one ``phi'`` block (its feedback
multiplier); each has its own relative gain error ``g`` and output offset ``o``:

    phi_hat(x) = (1 + g) phi(x) + o,      phi'_hat(x) = (1 + g') phi'(x) + o' .

They are drawn after the amplifier offsets from the same generator, for ``l = 0..L-1``:
the ``n_l`` phi gain errors, phi offsets, phi' gain errors, phi' offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = ["Amp", "Amplifiers", "draw_amplifiers", "amp_subcircuit", "amp_params", "block_spice"]


def _ro(a) -> np.ndarray:
    if (
        isinstance(a, np.ndarray)
        and a.dtype == np.float64
        and a.flags.owndata
        and not a.flags.writeable
    ):
        return a  # already a private read-only array (the copy would equal it, layout too)
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
    #: Gain-bandwidth product (``None``: infinite); with it the stage is the ``pc_amp``
    #: macro-model in the netlist (:meth:`lines`).
    gbw_Hz: float | None = None
    #: ``A0`` (``None``: infinite), read by the macro-model only.
    open_loop_gain: float | None = None

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

    def lines(self, node: str, expr: str) -> list[str]:
        """The deck lines of this stage driving ``node`` from the ideal value ``expr``.

        Infinite GBW: one B source ``V=clip(a (expr + V_os))`` (:meth:`spice`).  Finite
        GBW: a B source ``i<node> = expr + V_os`` (the offset source in series with the
        input) feeding a ``pc_amp`` macro-model wired as a follower (:func:`amp_subcircuit`).
        """
        if self.gbw_Hz is None:
            return [f"B{node} {node} 0 V={self.spice(expr)}"]
        inp = f"i{node}"
        return [
            f"B{inp} {inp} 0 V={Amp(1.0, self.offset_V).spice(expr)}",
            f"X{node} {inp} {node} {node} pc_amp",
        ]


def amp_subcircuit(amps) -> dict[str, list[str]]:
    """``{"pc_amp": lines}``: the single-pole op-amp macro-model (ports ``p n out``) of an
    :class:`Amp` or :class:`Amplifiers` ``amps``, or ``{}`` without a finite GBW.

    ``G1`` (1 S) drives the internal node ``w`` with ``v(p) - v(n)``; ``R1 = A0`` ohm
    (absent for an infinite DC gain) and ``C1 = tau_a = 1/(2 pi GBW)`` farad give
    ``tau_a dw/dt = (v(p) - v(n)) - w/A0``, i.e. ``A(s) = A0/(1 + s A0 tau_a)`` with the
    pole at ``GBW / A0``; the output stage ``out = clip(w)`` saturates at the rails.
    Every value is a ``.param`` (:func:`amp_params`).
    """
    if amps is None or amps.gbw_Hz is None:
        return {}
    from pc_analog.circuit._text import subckt

    body = ["G1 0 w p n 1"]
    if amps.open_loop_gain is not None:
        body.append("R1 w 0 {amp_A0}")
    body.append("C1 w 0 {amp_tau}")
    if amps.rail_V is None:
        body.append("E1 out 0 w 0 1")
    else:
        body.append("B1 out 0 V=min(max(v(w),-amp_rail),amp_rail)")
    return {"pc_amp": subckt("pc_amp", "p n out", body)}


def amp_params(amps) -> list[str]:
    """The ``.param`` card of the ``pc_amp`` macro-model (empty without a finite GBW)."""
    if amps is None or amps.gbw_Hz is None:
        return []
    from pc_analog.circuit._text import num

    items = [f"amp_gbw={num(amps.gbw_Hz)}"]
    if amps.open_loop_gain is not None:
        items.insert(0, f"amp_A0={num(amps.open_loop_gain)}")
    if amps.rail_V is not None:
        items.append(f"amp_rail={num(amps.rail_V)}")
    return [".param " + " ".join(items), f".param amp_tau={{1/({num(2 * math.pi)}*amp_gbw)}}"]


def block_spice(expr: str, gain_error: float, offset_V: float) -> str:
    """``(1 + g) expr + o`` as an ngspice expression without blanks (``expr`` unchanged
    when ``g = o = 0``)."""
    from pc_analog.circuit._text import num

    if gain_error == 0.0 and offset_V == 0.0:
        return expr
    out = f"{num(1.0 + gain_error)}*{expr}" if gain_error != 0.0 else expr
    if offset_V != 0.0:
        out += ("-" if offset_V < 0 else "+") + num(abs(offset_V))
    return f"({out})"


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
    gbw_Hz : float or None
        Gain-bandwidth product of every amplifier (``None``: infinite, no pole state).
    phi_gain, phi_offset, dphi_gain, dphi_offset : tuple of ndarray or None
        ``[l]``: ``(n_l,)`` relative gain errors and output offsets (volts) of the
        ``phi`` and ``phi'`` blocks of layer ``l = 0..L-1``; ``None``: ideal blocks.
    """

    open_loop_gain: float | None
    rail_V: float | None
    offset_pred: tuple[np.ndarray, ...]
    offset_err: tuple[np.ndarray, ...]
    offset_fb: tuple[np.ndarray, ...]
    gbw_Hz: float | None = None
    phi_gain: tuple[np.ndarray, ...] | None = None
    phi_offset: tuple[np.ndarray, ...] | None = None
    dphi_gain: tuple[np.ndarray, ...] | None = None
    dphi_offset: tuple[np.ndarray, ...] | None = None

    def __post_init__(self) -> None:
        A, r, f = self.open_loop_gain, self.rail_V, self.gbw_Hz
        if A is not None and not (math.isfinite(A) and A > 0):
            raise InvalidInputError(f"amplifiers: open-loop gain must be > 0, got {A!r}")
        if r is not None and not (math.isfinite(r) and r > 0):
            raise InvalidInputError(f"amplifiers: rail must be > 0, got {r!r}")
        if f is not None and not (math.isfinite(f) and f > 0):
            raise InvalidInputError(f"amplifiers: gain-bandwidth must be > 0, got {f!r}")
        names = ["offset_pred", "offset_err", "offset_fb"]
        names += [n for n in _BLOCKS if getattr(self, n) is not None]
        for name in names:
            arrs = tuple(_ro(a) for a in getattr(self, name))
            if not all(np.all(np.isfinite(a)) for a in arrs):
                raise InvalidInputError(f"amplifiers: {name} must be finite")
            object.__setattr__(self, name, arrs)

    @property
    def tau_a_s(self) -> float:
        """``tau_a = 1 / (2 pi GBW)`` (0 for an infinite GBW)."""
        return 0.0 if self.gbw_Hz is None else 1.0 / (2.0 * math.pi * self.gbw_Hz)

    def block(self, name: str, l: int, n: int) -> np.ndarray:
        """``name`` (one of ``phi_gain``, ``phi_offset``, ``dphi_gain``, ``dphi_offset``)
        of layer ``l`` (zeros of length ``n`` for ideal blocks)."""
        arrs = getattr(self, name)
        return np.zeros(n) if arrs is None else arrs[l]

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
            and all(
                getattr(self, n) is None
                or (
                    len(getattr(self, n)) == L
                    and all(getattr(self, n)[l].shape == (sizes[l],) for l in range(L))
                )
                for n in _BLOCKS
            )  # fmt: skip
        )
        if not ok:
            raise InvalidInputError("amplifiers: offset arrays do not match the layer sizes")

    def _amp(self, offset: float) -> Amp:
        return Amp(
            self.closed_loop_gain, float(offset), self.rail_V, self.gbw_Hz, self.open_loop_gain
        )

    def prediction(self, l: int, j: int) -> Amp:
        return self._amp(self.offset_pred[l - 1][j])

    def error(self, l: int, j: int) -> Amp:
        return self._amp(self.offset_err[l - 1][j])

    def feedback(self, l: int, i: int) -> Amp:
        """The feedback sum into unit ``i`` of layer ``l`` (``l = 0..L-1``)."""
        return self._amp(self.offset_fb[l][i])


def draw_amplifiers(
    sizes,
    *,
    open_loop_gain=None,
    offset_V: float = 0.0,
    rail_V=None,
    seed: int = 0,
    gbw_Hz=None,
    phi_gain_error: float = 0.0,
    phi_offset_V: float = 0.0,
    dphi_gain_error: float = 0.0,
    dphi_offset_V: float = 0.0,
) -> Amplifiers | None:
    """Per-amplifier offsets drawn from ``N(0, offset_V^2)`` by ``seed``, then the block
    errors from ``N(0, std^2)`` (module docstring gives the order); ``None`` when every
    non-ideality is off (the ideal circuit).  A block kind whose both stds are 0 stays
    ``None`` (ideal), so the amplifier draws are the same with or without it."""
    stds = (phi_gain_error, phi_offset_V, dphi_gain_error, dphi_offset_V)
    if open_loop_gain is None and not offset_V and rail_V is None and gbw_Hz is None:
        if not any(stds):
            return None
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    pred, err, fb = [], [], []
    for l in range(1, L + 1):
        pred.append(rng.normal(0.0, 1.0, sizes[l]) * offset_V)
        err.append(rng.normal(0.0, 1.0, sizes[l]) * offset_V)
        fb.append(rng.normal(0.0, 1.0, sizes[l - 1]) * offset_V)
    blocks = {n: [] for n in _BLOCKS}
    for l in range(L):
        for n, sd in zip(_BLOCKS, stds):
            blocks[n].append(rng.normal(0.0, 1.0, sizes[l]) * sd)
    phi_on, dphi_on = any(stds[:2]), any(stds[2:])
    kw = {n: tuple(v) for n, v in blocks.items() if (phi_on if n[0] == "p" else dphi_on)}
    return Amplifiers(open_loop_gain, rail_V, tuple(pred), tuple(err), tuple(fb), gbw_Hz, **kw)


_BLOCKS = ("phi_gain", "phi_offset", "dphi_gain", "dphi_offset")
