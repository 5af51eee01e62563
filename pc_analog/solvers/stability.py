"""Small-signal stability of the behavioural circuit at its rest point (issue 11 item 3).

The circuit with amplifier poles (:mod:`pc_analog.solvers._poles`) is linearised at its
rest point ``x*`` (the zero of the KCL residual; the amplifiers at rest there): with the
state ``z = [free x | amplifier outputs w]``,

    dz/dt = J z,     J = D + E / tau_a,      tau_a = 1 / (2 pi GBW)

(``D`` the node rows, ``E`` the amplifier rows times ``tau_a``).  The circuit is stable
when every eigenvalue has ``Re < 0``; the slowest decay rate is ``-max Re``; the worst
damping ratio ``min -Re/|lambda|`` over the oscillatory (complex) modes.  Amplifier states
that drive nothing are left out: a stage saturated on its rail (its output does not move
with ``w``) and a feedback sum into a clamped unit.  Without a finite GBW the eigenvalues
are those of the node Jacobian ``(dI/dx) / C``.

**The GBW bound.**  The rest point does not depend on GBW, so ``D`` and ``E`` are fixed
and only the scale ``2 pi GBW`` of the amplifier rows moves the eigenvalues.  Each error
signal returns to its node through three amplifiers in series (prediction, error buffer,
feedback sum), so the loop is the node pole and a triple amplifier pole.  For one free unit
``x1`` between clamped ``x0`` and ``x2`` (linear, every stage gain ``a = A0/(1+A0)`` and
time constant ``a tau_a``), with ``T = C/g0``, ``P = pi_1`` and the loop gain
``K = a^3 pi_2 w_2^2 (1 + g_phi) phi'_hat``:

    (s T + P)(1 + s a tau_a)^3 + K = 0 .

In ``p = s a tau_a``, ``rho = a tau_a / T``, ``c = rho P`` it reads
``p^4 + (3+c) p^3 + (3+3c) p^2 + (1+3c) p + rho (P + K) = 0``, and Routh-Hurwitz
(``a3 a2 a1 > a1^2 + a3^2 a0``; the other conditions always hold) gives stability iff

    rho (P + K) (3 + c)^2 < (1 + 3c)(8 + 9c + 3c^2),

i.e. the cubic ``(P^2 Q - 9 P^3) rho^3 + (6 P Q - 30 P^2) rho^2 + (9 Q - 33 P) rho - 8 < 0``
with ``Q = P + K``.  Its smallest positive root ``rho*`` gives the bound
``GBW* = a / (2 pi T rho*)`` (``~ 9 Q / (16 pi T)`` for fast amplifiers: the loop needs a
gain-bandwidth of about ``Q`` times the node bandwidth).  At ``GBW*`` a complex pair
crosses the imaginary axis (a Hopf point): below it the transient oscillates with growing
amplitude (or a rail-limited limit cycle), above it it settles.  :func:`one_unit_gbw_bound`
is that closed form; :func:`gbw_bound` finds the same crossing for any circuit
numerically (the largest GBW on a log grid where ``J`` has an eigenvalue with ``Re > 0``,
refined by bisection): above the bound the rest point is stable for every GBW.  Very slow
amplifiers can be stable again (for one unit when ``K < 8 P``), so the unstable GBWs form
a band whose top edge is the bound.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.solvers._poles import (
    PoleDynamics,
    PoleLayout,
    amp_states_at_rest,
    free_rows,
    jacobian,
)
from pc_analog.solvers.base import Status

__all__ = [
    "StabilityReport",
    "stability",
    "assess",
    "gbw_bound",
    "one_unit_gbw_bound",
    "pole_dynamics",
    "rest_point_verdict",
]

#: A real part above this fraction of the largest ``|lambda|`` counts as growth.
_RE_TOL = 1e-10
#: GBW grid of :func:`gbw_bound`, in units of the node bandwidth ``g0 / (2 pi C)``.
_GRID = np.logspace(-3, 6, 91)
_BISECT = 60
#: Largest per-sample state count for which a time-domain settle checks its rest point's
#: eigenvalues (:func:`rest_point_verdict`).
VERDICT_MAX_STATES = 400
#: A time-domain run of an unstable rest point ends once its fastest mode grew this much.
_GROWTH_SHOWN = 1e6


@dataclass(frozen=True)
class StabilityReport:
    """The linearised circuit at its rest point.

    Attributes
    ----------
    status : Status
        ``SUCCESS`` (stable), ``UNSTABLE``, or the rest-point solver's failure.
    message : str
    stable : bool
    eigenvalues : tuple of ndarray
        Per sample, the complex eigenvalues (1/s), largest real part first.
    max_real_per_s : float
        ``max Re(lambda)`` over the batch.
    slowest_decay_per_s : float
        ``-max Re(lambda)`` (negative: the growth rate of an unstable circuit).
    worst_damping_ratio : float
        ``min -Re/|lambda|`` over complex eigenvalues (1.0 when every mode is real).
    gbw_Hz : float or None
        The amplifiers' gain-bandwidth (None: infinite, node dynamics only).
    gbw_bound_Hz : float or None
        The GBW below which the rest point oscillates (0.0: stable at every GBW;
        ``inf``: unstable even with infinitely fast amplifiers); None if not computed.
    x_rest : tuple of ndarray
        The rest point (per layer, ``(batch, n_l)``).
    n_states : int
        States per sample in the linearisation.
    """

    status: Status
    message: str
    stable: bool
    eigenvalues: tuple
    max_real_per_s: float
    slowest_decay_per_s: float
    worst_damping_ratio: float
    gbw_Hz: float | None
    gbw_bound_Hz: float | None
    x_rest: tuple
    n_states: int

    @property
    def success(self) -> bool:
        return self.status is Status.SUCCESS

    def to_dict(self) -> dict:
        """JSON data (SPEC section 4: ``stable``, ``eigenvalues`` as ``[re, im]`` pairs per
        sample; an infinite ``gbw_bound_Hz`` is written ``null`` by the CLI's strict JSON,
        as is a bound not computed, and ``message`` then says which)."""
        return {
            "stable": self.stable,
            "status": self.status.name.lower(),
            "message": self.message,
            "eigenvalues": [[[float(z.real), float(z.imag)] for z in e] for e in self.eigenvalues],
            "max_real_per_s": self.max_real_per_s,
            "slowest_decay_per_s": self.slowest_decay_per_s,
            "worst_damping_ratio": self.worst_damping_ratio,
            "gbw_Hz": self.gbw_Hz,
            "gbw_bound_Hz": self.gbw_bound_Hz,
            "n_states": self.n_states,
        }


def _with_gbw(circ, gbw_Hz: float):
    """``circ`` whose amplifiers have gain-bandwidth ``gbw_Hz`` (ideal ones if it has none)."""
    from pc_analog.circuit.amplifiers import Amplifiers

    amps = circ.amplifiers
    if amps is None:
        z = [np.zeros(n) for n in circ.sizes]
        amps = Amplifiers(None, None, tuple(z[1:]), tuple(z[1:]), tuple(z[:-1]))
    return dataclasses.replace(circ, amplifiers=dataclasses.replace(amps, gbw_Hz=gbw_Hz))


def _active(circ, lay, x, W) -> np.ndarray:
    """Per-sample state indices kept (module docstring); the same for every sample is not
    required, so this returns a ``(batch, n)`` boolean mask."""
    from pc_analog.solvers._amps import _clip

    B = x[0].shape[0]
    keep = np.zeros((B, lay.n), dtype=bool)
    keep[:, free_rows(circ, lay)] = True
    r = circ.amplifiers.rail_V
    if r is not None:
        _, k = _clip(W, r)
        keep[:, lay.n_x :] &= k > 0
    for l in range(circ.n_layers):
        keep[:, lay.s[l]] &= circ.clamp.free[l][None, :]
    return keep


def _pole_matrices(circ, x):
    """Per sample ``(D, E)`` restricted to the kept states (lists: sizes may differ)."""
    lay = PoleLayout(circ)
    W = amp_states_at_rest(circ, x)
    D, E = jacobian(circ, lay, x, W)
    keep = _active(circ, lay, x, W)
    out = []
    for b in range(D.shape[0]):
        k = np.flatnonzero(keep[b])
        out.append((D[b][np.ix_(k, k)], E[b][np.ix_(k, k)]))
    return out


def _node_matrices(circ, x):
    from pc_analog.solvers.dynamics import FreeIndex, current_jacobian_blocks

    fi = FreeIndex(circ)  # per-sample blocks: never the (batch n)^2 dense matrix
    return list(fi.dense_blocks(*current_jacobian_blocks(circ, x)) / circ.hardware.c_F)


def _max_re(mats, omega: float) -> float:
    worst = -np.inf
    for D, E in mats:
        ev = np.linalg.eigvals(D + omega * E)
        if ev.size:
            scale = np.abs(ev).max()
            worst = max(worst, float(ev.real.max()) - _RE_TOL * scale)
    return worst


def gbw_bound(circ, x_rest) -> float:
    """The GBW (Hz) above which the linearisation at ``x_rest`` is stable for every GBW
    (module docstring); 0.0 if stable on the whole grid, ``inf`` if unstable at its top."""
    c = _with_gbw(circ, 1.0)
    mats = _pole_matrices(c, x_rest)
    f0 = circ.hardware.g0_S / (2 * math.pi * circ.hardware.c_F)
    grid = f0 * _GRID
    unstable = [_max_re(mats, 2 * math.pi * f) > 0 for f in grid]
    if unstable[-1]:
        return math.inf
    if not any(unstable):
        return 0.0
    k = max(i for i, u in enumerate(unstable) if u)
    lo, hi = math.log(grid[k]), math.log(grid[k + 1])
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        if _max_re(mats, 2 * math.pi * math.exp(mid)) > 0:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def one_unit_gbw_bound(pi1: float, loop_gain: float, tau_s: float, a: float = 1.0) -> float:
    """Closed-form GBW bound of one free unit (module docstring): ``a / (2 pi T rho*)``
    with ``rho*`` the smallest positive root of the Routh-Hurwitz cubic, ``loop_gain = K``."""
    P, Q = pi1, pi1 + loop_gain
    roots = np.roots([P * P * Q - 9 * P**3, 6 * P * Q - 30 * P * P, 9 * Q - 33 * P, -8.0])
    real = [r.real for r in roots if abs(r.imag) < 1e-12 * max(1.0, abs(r)) and r.real > 0]
    if not real:
        return 0.0
    return a / (2 * math.pi * tau_s * min(real))


def assess(circ, x_rest, *, bound: bool = True) -> StabilityReport:
    """:class:`StabilityReport` of ``circ`` linearised at ``x_rest`` (no rest-point solve)."""
    amps = circ.amplifiers
    gbw = None if amps is None else amps.gbw_Hz
    if gbw is not None:
        mats = _pole_matrices(circ, x_rest)
        Js = [D + E / amps.tau_a_s for D, E in mats]
    else:
        Js = _node_matrices(circ, x_rest)
    eig = []
    for J in Js:
        ev = np.linalg.eigvals(J) if J.size else np.zeros(0, complex)
        eig.append(ev[np.argsort(-ev.real, kind="stable")])
    allev = np.concatenate(eig) if eig else np.zeros(0)
    if allev.size == 0:
        max_re, zeta = -math.inf, 1.0
    else:
        max_re = float(allev.real.max())
        osc = allev[np.abs(allev.imag) > 1e-9 * np.abs(allev)]
        zeta = float(np.min(-osc.real / np.abs(osc))) if osc.size else 1.0
    scale = float(np.abs(allev).max()) if allev.size else 0.0
    stable = bool(max_re < -_RE_TOL * scale) if allev.size else True
    bnd = gbw_bound(circ, x_rest) if bound else None
    tau = circ.tau_s
    if stable:
        status = Status.SUCCESS
        msg = (
            f"stable: slowest decay {-max_re:.4g} /s (time constant {-1 / max_re / tau:.4g} tau), "
            f"worst damping ratio {zeta:.3g}"
        )
    else:
        status = Status.UNSTABLE
        msg = (
            "the circuit is unstable: its linearisation at the rest point has an eigenvalue "
            f"with Re = {max_re:.4g} /s > 0"
        )
    if gbw is not None:
        msg += f" (amp_gbw_Hz = {gbw:.4g})"
    if bnd is not None:
        if math.isinf(bnd):
            msg += "; unstable even with infinitely fast amplifiers"
        else:
            msg += f"; oscillates below GBW {bnd:.4g} Hz" if bnd > 0 else "; stable at every GBW"
    return StabilityReport(
        status,
        msg,
        stable,
        tuple(eig),
        max_re,
        -max_re,
        zeta,
        gbw,
        bnd,
        tuple(np.array(v) for v in x_rest),
        int(max((e.size for e in eig), default=0)),
    )


def stability(circuit, *, bound: bool = True) -> StabilityReport:
    """Solve the rest point of ``circuit`` (KCL residual, :func:`~pc_analog.solvers.
    equilibrium.reference_rest_point`) and :func:`assess` it.

    Raises
    ------
    InvalidInputError
        For a circuit without a known rest point (asymmetric feedback crossbars).
    """
    from pc_analog.solvers.equilibrium import reference_rest_point

    x, ok = reference_rest_point(circuit, gtol=1e-13)
    if x is None:
        raise InvalidInputError(
            "stability: the feedback crossbars differ from the forward ones; no rest point "
            "is known in advance"
        )
    if not ok:
        rep = assess(circuit, x, bound=False)
        return dataclasses.replace(
            rep,
            status=Status.MAX_ITER,
            message="stability: the rest-point solver (Newton on the KCL residual) failed",
        )
    return assess(circuit, x, bound=bound)


def rest_point_verdict(circ, x_eq) -> StabilityReport | None:
    """:func:`assess` (no bound) for a time-domain backend, or None when a sample has more
    than ``VERDICT_MAX_STATES`` states (dense eigenvalues cost ``O(n^3)`` per sample; the
    transient itself then shows a runaway, and ``pc-analog stability`` still answers)."""
    n = sum(int(f.sum()) for f in circ.clamp.free) + PoleLayout(circ).n_w
    return assess(circ, x_eq, bound=False) if n <= VERDICT_MAX_STATES else None


def pole_dynamics(backend, circ, fi, lam_min: float, x_eq) -> PoleDynamics:
    """The ``ode`` backend's system for a circuit with a finite ``amp_gbw_Hz``
    (:class:`~pc_analog.solvers._poles.PoleDynamics`), its horizon set by the slowest mode
    with the poles and, when the rest point ``x_eq`` is unstable, the reason the settle
    must fail (``unstable``): it never reports a settling time for such a circuit."""
    if backend.inertial or x_eq is None:
        what = "inertial dynamics" if backend.inertial else "asymmetric feedback crossbars"
        raise InvalidInputError(
            f"ode backend: amplifier poles (amp_gbw_Hz) with {what}: not implemented yet"
        )
    dyn = PoleDynamics(circ, fi, lam_min)
    rep = rest_point_verdict(circ, x_eq)
    if rep is None:
        return dyn
    if not rep.stable:
        dyn.unstable = rep.message
        # horizon: until the fastest-growing mode has grown _GROWTH_SHOWN-fold
        # (OdeBackend's default horizon is 100 ln(1/band) / rate)
        growth = max(rep.max_real_per_s, 1e-12 / circ.tau_s)
        dyn.rate = 100 * math.log(1 / backend.settle_band) * growth / math.log(_GROWTH_SHOWN)
    elif np.isfinite(rep.slowest_decay_per_s) and rep.slowest_decay_per_s > 0:
        dyn.rate = min(dyn.rate, rep.slowest_decay_per_s)
    return dyn
