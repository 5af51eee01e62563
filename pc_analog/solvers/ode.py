"""The ``ode`` backend: the circuit's KCL integrated by scipy in physical time.

First order (the RC circuit):   ``C dx/dt = I(x)``.
Second order (spring network with mass): ``m d2x/dt2 + gamma dx/dt = I(x)``, with
the damping ``gamma`` set by a damping ratio ``zeta`` of the slowest mode at the
equilibrium: ``gamma = 2 zeta sqrt(m g0 lambda_min(H))``.  ``m`` is in F*s, ``gamma``
in F (so ``gamma = C`` and ``m = 0`` is the RC circuit).

Both integrate :func:`scipy.integrate.solve_ivp` over the free units of the whole
batch, with the analytic sparse Jacobian (block diagonal over samples, block
tridiagonal within one), and stop on a steady-state event: every sample's distance
to the equilibrium has shrunk by a factor far below the settling band.  The solver
works in the dimensionless time ``s = t / tau`` (and velocities in volts per
``tau``) so that positions and velocities share one scale; every time it reports is
physical, ``t = s tau``.
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp
from scipy.integrate._ivp.bdf import BdfDenseOutput
from scipy.integrate._ivp.rk import Dop853DenseOutput, RkDenseOutput

from pc_analog.circuit.ir import Circuit
from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import energy, hessian_blocks
from pc_analog.solvers._block_bdf import BlockBDF, BlockMatrix, block_bdf_fits
from pc_analog.solvers._dense_settling import (
    LazyDOP853,
    batched_settling_time,
    dop853_stack,
    solver_nfev,
)
from pc_analog.solvers.base import Backend, SettleResult, Status
from pc_analog.solvers.dynamics import (
    FreeIndex,
    PackedCurrents,
    current_jacobian_blocks,
    energy_trace,
    node_currents,
    residual_max,
)
from pc_analog.solvers.equilibrium import reference_rest_point
from pc_analog.solvers.stability import pole_dynamics
from pc_analog.solvers.transient import SETTLE_BAND_DEFAULT, settling_time

__all__ = ["OdeBackend", "free_hessian", "slowest_mode"]

_METHODS = ("auto", "RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
# LSODA takes a dense Jacobian only; above this many states "auto" uses sparse BDF.
_AUTO_DENSE_MAX = 2000
_STIFF = ("Radau", "BDF", "LSODA")
# Above _AUTO_DENSE_MAX states, "auto" integrates a gradient flow whose Hessian spectrum at
# the rest point spans at most this ratio (lambda_max / lambda_min over the batch) with the
# explicit DOP853: its stability limit then costs fewer steps than BDF's linear algebra.
_AUTO_EXPLICIT_STIFFNESS = 8.0
# The run stops once every sample is this much deeper inside the band than the band itself.
_EVENT_DEPTH = 1e-4
#: A run that did not settle and ends this many times farther from rest (in the stop
#: event's measure: deviation, or speed, relative to the start) than it began is
#: reported as UNSTABLE rather than NOT_SETTLED.
UNSTABLE_GROWTH = 10.0


def _spectrum(circuit: Circuit, x_eq) -> np.ndarray | None:
    """Eigenvalues of the free-unit Hessian at ``x_eq``, ``(batch, n_free)`` ascending."""
    free = circuit.clamp.free
    if not any(f.any() for f in free):
        return None
    return np.linalg.eigvalsh(free_hessian(circuit.network(), x_eq, free))


def free_hessian(net, x, free) -> np.ndarray:
    """``dense_hessian(net, x)`` restricted to the free units (rows and columns in layer
    order), built from the free layers' blocks only: the same values, without the
    clamped layers' blocks and the full ``(batch, N, N)`` matrix."""
    layers = [l for l, f in enumerate(free) if f.any()]
    diag, upper = hessian_blocks(net, x, layers=layers)
    idx = [np.flatnonzero(free[l]) for l in layers]
    if len(layers) == 1 and idx[0].size == free[layers[0]].size:
        return diag[layers[0]]  # one whole free layer: its block is the matrix
    offs = np.concatenate([[0], np.cumsum([i.size for i in idx])])
    H = np.zeros((x[0].shape[0], offs[-1], offs[-1]))
    for k, l in enumerate(layers):
        a = slice(offs[k], offs[k + 1])
        H[:, a, a] = diag[l][:, idx[k][:, None], idx[k][None, :]]
        if k + 1 < len(layers) and layers[k + 1] == l + 1:
            b = slice(offs[k + 1], offs[k + 2])
            U = upper[l][:, idx[k][:, None], idx[k + 1][None, :]]
            H[:, a, b] = U
            H[:, b, a] = np.transpose(U, (0, 2, 1))
    return H


def slowest_mode(circuit: Circuit, x_eq) -> np.ndarray:
    """``lambda_min`` of the free-unit Hessian at ``x_eq``, per sample (units of ``g0/C``-rate)."""
    lam = _spectrum(circuit, x_eq)
    return np.full(circuit.batch, np.inf) if lam is None else lam[:, 0]


def _sample_dense(dense_sol, tau: float, lo: int, hi: int):
    """``ts -> (len(ts), 1, hi - lo)``: rows ``lo:hi`` of ``solve_ivp``'s dense output.

    BDF and Runge-Kutta segments are evaluated on those columns only (a shallow copy
    with its coefficient arrays sliced: the same arithmetic per column); any other
    interpolant evaluates every state and is sliced afterwards.
    """
    ts_sorted, side, n_seg = dense_sol.ts_sorted, dense_sol.side, dense_sol.n_segments
    parts = {}  # segment -> its interpolant on columns lo:hi (or None: slice afterwards)

    def part(k):
        if k not in parts:
            interp = dense_sol.interpolants[k]
            parts[k] = None
            if isinstance(interp, BdfDenseOutput):
                parts[k] = copy.copy(interp)
                parts[k].D = np.ascontiguousarray(interp.D[:, lo:hi])
            elif isinstance(interp, Dop853DenseOutput):
                parts[k] = copy.copy(interp)
                parts[k].F = np.ascontiguousarray(np.asarray(interp.F)[:, lo:hi])
                parts[k].y_old = interp.y_old[lo:hi]
            elif isinstance(interp, RkDenseOutput):
                parts[k] = copy.copy(interp)
                parts[k].Q, parts[k].y_old = interp.Q[lo:hi], interp.y_old[lo:hi]
        return parts[k]

    find = bisect.bisect_left if side == "left" else bisect.bisect_right
    ts_list = list(ts_sorted)

    def dense(ts):
        s = np.atleast_1d(np.asarray(ts, dtype=float)) / tau
        if s.size == 1:  # the bisection's calls: one segment, no grouping
            k = min(max(find(ts_list, s[0]) - 1, 0), n_seg - 1)
            p = part(k)
            y = p(s[0]) if p is not None else dense_sol.interpolants[k](s[0])[lo:hi]
            return y[None, None, :]
        seg = np.clip(np.searchsorted(ts_sorted, s, side=side) - 1, 0, n_seg - 1)
        out = np.empty((s.size, hi - lo))
        for k in np.unique(seg):
            at, p = seg == k, part(k)
            if p is not None:
                out[at] = p(s[at]).T
            else:
                out[at] = dense_sol.interpolants[k](s[at])[lo:hi].T
        return out[:, None, :]

    return dense


def _nfev(sol) -> int:
    """Right-hand-side calls of the run, the lazily built dense outputs' included."""
    n = solver_nfev(sol.sol)
    return int(sol.nfev) if n is None else n


@dataclass(frozen=True)
class _Dynamics:
    """The first- or second-order system in ``s = t / tau`` that one settle integrates."""

    rhs: object
    jac: object
    z0: np.ndarray
    rate: float  # slowest decay rate (1/s), for the default horizon
    mass_Fs: float
    damping_F: float
    blocks: object = None  # jac as per-sample dense blocks (a BlockMatrix), if available


class OdeBackend(Backend):
    """Integrate the circuit with :func:`scipy.integrate.solve_ivp`.

    Parameters
    ----------
    method : str
        A ``solve_ivp`` method; stiff ones (``Radau``, ``BDF``) get the analytic
        sparse Jacobian, ``LSODA`` the same as a dense matrix.  Default ``"auto"``:
        ``LSODA`` (which switches between Adams and BDF as the problem turns stiff
        or oscillatory) up to 2000 states; beyond, ``DOP853`` for a gradient flow
        that is not stiff (Hessian spectrum at the rest point within a ratio of 8
        over the batch: explicit steps, no linear algebra) and ``BDF`` otherwise.
    rtol, atol : float
        Integration tolerances (``atol`` in volts).
    settle_band : float
        ``delta`` of the SPEC settling time.
    t_max_s : float, optional
        Hard stop; default ``100 ln(1/delta) / lambda_min`` time constants.
    inertial : bool
        Second-order (spring network with mass) dynamics instead of RC.
    mass_Fs : float, optional
        Mass per node for inertial dynamics (F*s); default ``C * tau``, so a unit
        spring's natural period is ``2 pi tau``.
    damping_ratio : float
        ``zeta`` of the slowest mode (inertial only); 1 is critical damping.
    t_eval_points : int, optional
        If given, report the transient at this many evenly spaced times
        (from the dense output) instead of the solver's own steps.
    structured : bool
        RC dynamics under ``BDF``: factorise the Newton matrix per sample
        (:class:`~pc_analog.solvers._block_bdf.BlockBDF`: one eigendecomposition of
        each sample's dense Jacobian block, reused for every step size) and read
        settling times from each sample's own columns of the dense output.  False:
        scipy's sparse BDF on the whole batch, settling times read from the whole
        batch's dense output, and no explicit method chosen by ``"auto"`` (the
        earlier implementation, kept for comparison).
    on_failure : {"warn", "raise", "return"}
        See :class:`~pc_analog.solvers.base.Backend`.

    Notes
    -----
    Status: ``SUCCESS`` when every sample settled; ``NOT_SETTLED`` when the run
    reached ``t_max_s`` first; ``UNSTABLE`` when it also ended ``UNSTABLE_GROWTH``
    times farther from rest than it started; ``BACKEND_FAILED`` when ``solve_ivp``
    failed (its message is kept).  A state that became non-finite is ``UNSTABLE``
    too (a circuit with finite inputs only blows up by running away).
    """

    name = "ode"
    supports_amplifiers = True

    def __init__(
        self,
        method: str = "auto",
        rtol: float = 1e-8,
        atol: float = 1e-12,
        settle_band: float = SETTLE_BAND_DEFAULT,
        t_max_s: float | None = None,
        inertial: bool = False,
        mass_Fs: float | None = None,
        damping_ratio: float = 1.0,
        t_eval_points: int | None = None,
        structured: bool = True,
        on_failure: str = "warn",
    ):
        super().__init__(on_failure=on_failure)
        if method not in _METHODS:
            raise InvalidInputError(
                f"ode method: unknown {method!r} (known: {', '.join(_METHODS)})"
            )
        if not (rtol > 0 and atol > 0 and 0 < settle_band < 1 and damping_ratio > 0):
            raise InvalidInputError("ode backend: need rtol, atol, damping_ratio > 0, 0 < band < 1")
        if mass_Fs is not None and not mass_Fs > 0:
            raise InvalidInputError("ode backend: mass_Fs must be > 0")
        if t_max_s is not None and not t_max_s > 0:
            raise InvalidInputError("ode backend: t_max_s must be > 0")
        self.method, self.rtol, self.atol = method, rtol, atol
        self.settle_band, self.t_max_s = settle_band, t_max_s
        self.inertial, self.mass_Fs, self.damping_ratio = inertial, mass_Fs, damping_ratio
        self.t_eval_points = t_eval_points
        self.structured = bool(structured)
        self._stiffness = np.inf  # set per settle by _reference
        #: ``(x_eq, eigenvalues (batch, n_free) ascending)`` of the free-unit Hessian at the
        #: last settle's reference rest point (None without one): what
        #: :func:`slowest_mode` would compute there, for callers that need it again.
        self.last_spectrum = None
        self._batched = True  # settling times of a DOP853 run refined for the batch at once

    def _settle(self, circuit: Circuit) -> SettleResult:
        tau = circuit.tau_s
        fi = FreeIndex(circuit)
        x_eq, eq_ok, lam_min = self._reference(circuit)
        known_rest = x_eq is not None
        if fi.size == 0:
            return self._trivial(circuit)
        if circuit.amplifiers is not None and circuit.amplifiers.gbw_Hz is not None:
            dyn = pole_dynamics(self, circuit, fi, lam_min, x_eq)  # a state per amplifier pole
        else:
            dyn = self._dynamics(circuit, fi, lam_min)
        band = self.settle_band
        t_max = self.t_max_s if self.t_max_s is not None else 100 * np.log(1 / band) / dyn.rate
        settled = self._stop_event(circuit, fi, dyn, x_eq)
        method, integrator, kw = self._integrator(circuit, dyn, known_rest)
        sol = solve_ivp(
            dyn.rhs,
            (0.0, t_max / tau),
            dyn.z0,
            method=integrator,
            rtol=self.rtol,
            atol=self.atol,
            dense_output=True,
            events=[settled],
            **kw,
        )
        t, Y, traj, x_eq, st = self._transient(circuit, fi, sol, x_eq)
        nfev = _nfev(sol)  # after the transient: lazy dense outputs call the rhs too
        x_final = tuple(v[-1] for v in traj)
        with np.errstate(all="ignore"):  # a runaway state is judged in _status
            end_value = settled(sol.t[-1], sol.y[:, -1])
        status, msg = self._status(sol, st, t, tau, method, end_value, known_rest)
        if getattr(dyn, "unstable", None):  # unstable rest point (solvers.stability)
            status, msg, st = Status.UNSTABLE, dyn.unstable, np.full_like(st, np.nan)
        return SettleResult(
            self.name,
            x_final,
            energy(circuit.network(), x_final),
            status,
            msg,
            residual_max(circuit, fi, x_final),
            t=t,
            energy_trace=energy_trace(circuit, traj),
            settling_time_s=st,
            tau_s=tau,
            trajectory=traj,
            x_eq=x_eq,
            nfev=nfev,
            njev=int(sol.njev),
            nfact=int(sol.nlu),
            n_steps=int(sol.t.size - 1),
            stats={
                "method": method,
                "linear_algebra": "dense blocks" if integrator is BlockBDF else "sparse",
                "nfev": nfev,
                "njev": int(sol.njev),
                "nlu": int(sol.nlu),
                "n_points": int(t.size),
                "t_end_s": float(sol.t[-1] * tau),
                "lambda_min": lam_min,
                "stiffness_ratio": self._stiffness,
                "mass_Fs": dyn.mass_Fs,
                "damping_F": dyn.damping_F,
                "x_eq_converged": eq_ok,
            },
        )

    def _integrator(self, circuit: Circuit, dyn, known_rest: bool):
        """``(method name, solve_ivp method, its jac keyword)`` for this settle.

        ``auto``: LSODA up to the dense size, else BDF, or DOP853 for a gradient flow
        that is not stiff (see the class docstring).
        """
        method = self.method
        if method == "auto":
            dense_max = getattr(dyn, "dense_max", _AUTO_DENSE_MAX)  # poles: sparse sooner
            method = "LSODA" if dyn.z0.size <= dense_max else "BDF"
            gradient_flow = known_rest and circuit.amplifiers is None and not self.inertial
            gradient_flow = gradient_flow and self.structured
            gradient_flow = gradient_flow and (circuit.crossbar is None or circuit.ideal)
            if method == "BDF" and gradient_flow and self._stiffness <= _AUTO_EXPLICIT_STIFFNESS:
                method = "DOP853"  # not stiff: explicit steps, no linear algebra
        kw, integrator = {}, method
        if method == "LSODA":
            kw["jac"] = lambda s, z: dyn.jac(s, z).toarray()
        elif method == "BDF" and self.structured and getattr(dyn, "blocks", None) is not None:
            kw["jac"], integrator = dyn.blocks, BlockBDF  # batched dense factorisations
        elif method == "DOP853" and self.structured and self._batched:
            integrator = LazyDOP853  # a step's dense output only where it is read
        elif method in _STIFF:
            kw["jac"] = dyn.jac
        return method, integrator, kw

    # ------------------------------------------------------------------ helpers
    def _transient(self, circuit: Circuit, fi: FreeIndex, sol, x_eq):
        """``(t, Y, trajectory, x_eq, settling times)`` read from ``solve_ivp``'s solution.

        ``Y`` is ``(n_t, batch * n_free)``; without a known ``x_eq`` the run's end
        point stands in for it.
        """
        tau, N = circuit.tau_s, fi.size
        if self.t_eval_points:
            s_out = np.linspace(0.0, sol.t[-1], self.t_eval_points)
            Y = sol.sol(s_out).T[:, :N]
        else:
            s_out = sol.t
            Y = sol.y.T[:, :N]
        t = s_out * tau
        traj = fi.unpack_many(Y)
        if x_eq is None:
            x_eq = tuple(v[-1] for v in traj)
        y_eq_b = fi.pack(x_eq).reshape(circuit.batch, fi.n_free)

        shaped = Y.reshape(t.size, circuit.batch, fi.n_free)
        if not self.structured:

            def dense(ts):
                y = sol.sol(np.asarray(ts) / tau)[:N].T
                return y.reshape(len(ts), circuit.batch, fi.n_free)

            st = settling_time(t, shaped, y_eq_b, band=self.settle_band, dense=dense)
            return t, Y, traj, x_eq, st
        stack = dop853_stack(sol.sol, circuit.batch, fi.n_free) if self._batched else None
        if stack is not None:  # every sample refined in lockstep (bit-identical)
            st = batched_settling_time(t, shaped, y_eq_b, stack, tau, self.settle_band)
            return t, Y, traj, x_eq, st
        # One sample at a time (settling_time refines each sample on its own), each
        # reading only its own columns of the dense output: linear in the batch.
        st = np.concatenate(
            [
                settling_time(
                    t,
                    shaped[:, b : b + 1],
                    y_eq_b[b : b + 1],
                    band=self.settle_band,
                    dense=_sample_dense(sol.sol, tau, b * fi.n_free, (b + 1) * fi.n_free),
                )
                for b in range(circuit.batch)
            ]
        )
        return t, Y, traj, x_eq, st

    def _reference(self, circuit: Circuit):
        """``(x_eq or None, whether it converged, lambda_min)``.

        The reference rest point is the equilibrium solver's where the dynamics are a
        gradient flow; otherwise None (the transient's own end point is used).
        ``lambda_min`` (of the slowest mode) only sets the time horizon and damping.
        """
        x_eq, eq_ok = reference_rest_point(circuit, gtol=1e-13)
        # without a known rest point the start state gives a scale for the horizon only
        spec = _spectrum(circuit, x_eq if x_eq is not None else circuit.x_init)
        # for callers that need the same spectrum (the timing stage): (x_eq, eigenvalues)
        self.last_spectrum = (x_eq, spec) if x_eq is not None and spec is not None else None
        lam = np.full(circuit.batch, np.inf) if spec is None else spec[:, 0]
        lam_min = float(np.min(lam)) if np.all(np.isfinite(lam)) else 1.0
        if not lam_min > 0:
            lam_min = 1e-3
        self._stiffness = np.inf  # lambda_max / lambda_min over the batch, at x_eq
        if spec is not None and np.all(np.isfinite(spec)) and spec[:, 0].min() > 0:
            self._stiffness = float(spec[:, -1].max() / spec[:, 0].min())
        return x_eq, eq_ok, lam_min

    def _dynamics(self, circuit: Circuit, fi: FreeIndex, lam_min: float) -> _Dynamics:
        """RC (``C dx/dt = I``) or inertial (``m x'' + gamma x' = I``) in ``s = t / tau``."""
        C, g0, tau = circuit.hardware.c_F, circuit.hardware.g0_S, circuit.tau_s
        y0 = fi.pack(circuit.x_init)
        N = y0.size

        if self.structured and PackedCurrents.applies(circuit):  # constants cached, bit-identical
            force = PackedCurrents(circuit, fi)
        else:

            def force(y):  # tau/C * I = I/g0: the current in units of g0 * volt
                return fi.pack(node_currents(circuit, fi.unpack(y), free_only=True)) / g0

        def jac_force(y):
            d, u, lo = current_jacobian_blocks(circuit, fi.unpack(y))
            return fi.sparse(d, u, lo) / g0

        def jac_blocks(s, y):
            d, u, lo = current_jacobian_blocks(circuit, fi.unpack(y))
            return BlockMatrix(fi.dense_blocks(d, u, lo) / g0)

        if not self.inertial:
            return _Dynamics(
                rhs=lambda s, z: force(z),
                jac=lambda s, z: jac_force(z).tocsc(),
                z0=y0,
                rate=g0 * lam_min / C,
                mass_Fs=0.0,
                damping_F=float(C),
                blocks=jac_blocks if block_bdf_fits(fi.batch, fi.n_free) else None,
            )
        m = self.mass_Fs if self.mass_Fs is not None else C * tau
        gamma = 2.0 * self.damping_ratio * np.sqrt(m * g0 * lam_min)
        rate = min(gamma / (2 * m), np.sqrt(g0 * lam_min / m))
        if self.damping_ratio > 1:  # overdamped: the slow root sets the rate
            z = self.damping_ratio
            rate = np.sqrt(g0 * lam_min / m) * (z - np.sqrt(z * z - 1))
        # In s = t/tau with w = tau dx/dt:  dw/ds = (tau^2 g0 / m) f - (gamma tau / m) w.
        k_f = tau * tau * g0 / m
        k_d = gamma * tau / m

        def rhs(s, z):
            return np.concatenate([z[N:], k_f * force(z[:N]) - k_d * z[N:]])

        def jac(s, z):
            Z = sp.csr_matrix((N, N))
            eye = sp.identity(N, format="csr")
            top = sp.hstack([Z, eye])
            bot = sp.hstack([k_f * jac_force(z[:N]), -k_d * eye])
            return sp.vstack([top, bot], format="csc")

        return _Dynamics(
            rhs, jac, np.concatenate([y0, np.zeros(N)]), float(rate), float(m), float(gamma)
        )

    def _stop_event(self, circuit: Circuit, fi: FreeIndex, dyn: _Dynamics, x_eq):
        """The terminal event: negative once every sample is deep inside the band.

        Its value plus ``band * _EVENT_DEPTH`` is the worst sample's distance from
        rest relative to its start (deviation from ``x_eq``, or, with no ``x_eq``
        known, speed), which :meth:`_status` also reads to tell a runaway.
        """
        band = self.settle_band
        B, n = circuit.batch, fi.n_free
        N = fi.size
        if x_eq is not None:
            y_eq = fi.pack(x_eq).reshape(B, n)
            d0 = np.abs(dyn.z0[:N].reshape(B, n) - y_eq).max(axis=1)
            scale = np.where(d0 > 0, d0, 1.0)

            def settled(s, z):
                dev = np.abs(z[:N].reshape(B, n) - y_eq).max(axis=1)
                return float(np.max(dev / scale)) - band * _EVENT_DEPTH

        else:
            # No rest point known in advance (feedback copies differ from the forward
            # crossbars): stop on the vector field itself, once every sample's velocity
            # has fallen far below its initial value.
            v0 = np.abs(dyn.rhs(0.0, dyn.z0)).reshape(-1, B, n).max(axis=(0, 2))
            vscale = np.where(v0 > 0, v0, 1.0)

            def settled(s, z):
                v = np.abs(dyn.rhs(s, z)).reshape(-1, B, n).max(axis=(0, 2))
                return float(np.max(v / vscale)) - band * _EVENT_DEPTH

        settled.terminal = True
        settled.direction = -1
        return settled

    def _status(self, sol, st, t, tau, method, end_value, known_rest) -> tuple[Status, str]:
        """The run's :class:`Status` and message from ``solve_ivp``'s outcome.

        Without a rest point known in advance (``known_rest`` False) the settling
        time is measured against the run's own end point, so it is finite by
        construction: only the stop event (``sol.status == 1``, or an end value of
        the event function at or below zero, as for a run that starts at rest) shows
        that the run came to rest.
        """
        what = f"{method}, {'inertial' if self.inertial else 'RC'} dynamics"
        if not np.all(np.isfinite(sol.y[:, -1])):
            return Status.UNSTABLE, (
                f"{Status.UNSTABLE.message}: the state became non-finite by "
                f"t = {t[-1]:.3g} s ({what})"
            )
        if sol.status < 0:
            return Status.BACKEND_FAILED, f"solve_ivp failed at t = {t[-1]:.3g} s: {sol.message}"
        came_to_rest = sol.status == 1 or known_rest or end_value <= 0
        if came_to_rest and not np.any(np.isnan(st)):  # every sample settled
            return Status.SUCCESS, (
                f"settled: {what}; max settling time {np.max(st):.4g} s = "
                f"{np.max(st) / tau:.4g} tau"
            )
        growth = end_value + self.settle_band * _EVENT_DEPTH
        if not growth <= UNSTABLE_GROWTH:
            return Status.UNSTABLE, (
                f"{Status.UNSTABLE.message}: {growth:.3g} times its initial distance from rest "
                f"at t = {t[-1]:.3g} s ({what})"
            )
        return Status.NOT_SETTLED, f"not settled within {t[-1]:.3g} s ({what}; {sol.message})"

    def _trivial(self, circuit):
        net = circuit.network()
        x = circuit.x_init
        z = np.zeros(circuit.batch)
        return SettleResult(
            self.name,
            x,
            energy(net, x),
            Status.SUCCESS,
            "no free units",
            z,
            t=np.zeros(1),
            settling_time_s=z,
            tau_s=circuit.tau_s,
            x_eq=x,
        )
