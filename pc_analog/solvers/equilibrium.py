"""The rest point of the inference flow, found directly.

The flow ``tau dx/dt = -dF/dx`` (free units only) comes to rest where the
gradient vanishes.  :func:`solve_equilibrium` starts from the given state (usually
the feedforward state, the flow's own start) and takes one of two paths.

*Structured path* (layered clamps: every layer fully clamped or fully free, the
input clamped; the usual case of learning and inference).  Gauss-Newton in error
coordinates with a Woodbury solve of rank ``n_top`` per sample
(:mod:`pc_analog.solvers._gauss_newton`, where the exact condition and the equations are):
``O(n_top * weights)`` per sample and iteration; where its linear rate is slow it takes
Newton-Krylov steps (CG on the exact Hessian, preconditioned by the Woodbury factors).
Samples it cannot finish (a failed line search) go on with the dense path from where
they are.

*Dense path* (any clamp, and the fallback).  Levenberg-Marquardt damped Newton steps

    (H_ff + lambda I) p = -g_f ,      x_f <- x_f + alpha p

with ``H_ff`` the block-tridiagonal Hessian restricted to the free units,
solved by block Cholesky elimination layer by layer (cost ``sum_l n_l^3`` rather
than ``(sum_l n_l)^3``).  ``lambda`` adapts per sample (raised when the damped
Hessian is not positive definite or a step is refused, lowered after full
steps), and a backtracking line search keeps the energy from rising, so the
iteration descends like the flow does and, from the same start, rests at the
same minimum for the networks pc-analog targets.  Near the minimum ``lambda ->
0`` and convergence is quadratic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve

from pc_analog._threads import single_threaded_blas
from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import check_state, energy, grad_x, hessian_blocks
from pc_analog.model.network import Clamp, Network, State
from pc_analog.solvers._crossbar_newton import crossbar_rest_point
from pc_analog.solvers._gauss_newton import layered_segments, solve_segments
from pc_analog.solvers.base import (
    Backend,
    SettleResult,
    Status,
    apply_on_failure,
    check_on_failure,
)
from pc_analog.solvers.rest_point import newton_rest_point

__all__ = [
    "EquilibriumResult",
    "solve_equilibrium",
    "GTOL_DEFAULT",
    "EquilibriumBackend",
    "reference_rest_point",
]

#: Default tolerance on ``max |dF/dx|`` over free units and samples.
GTOL_DEFAULT = 1e-10
_ARMIJO = 1e-4
_LAMBDA_UP = 10.0
_LAMBDA_DOWN = 0.1
_LAMBDA_MAX = 1e12
# Energy differences below this fraction of |F| are rounding noise: a step whose
# energy change is that small is judged by whether it lowers the gradient instead.
_ROUNDOFF = 1e-13


@dataclass(frozen=True)
class EquilibriumResult:
    """Outcome of :func:`solve_equilibrium`.

    Attributes
    ----------
    x : tuple of ndarray
        The rest state, ``x[l]`` of shape ``(batch, n_l)``.
    energy : ndarray
        Per-sample energy at ``x``.
    grad_max : ndarray
        Per-sample ``max |dF/dx|`` over free units.
    status : Status
        ``SUCCESS`` if every sample met ``gtol``; else ``MAX_ITER`` (the iteration
        limit was reached), ``STALLED`` (no step was accepted at the largest
        damping) or ``NON_FINITE``.
    message : str
    nit : int
        Newton iterations.
    nfev : int
        Energy evaluations (each over the whole batch).
    njev : int
        Gradient evaluations.
    nhev : int
        Hessian (block) evaluations.
    nfact : int
        Factorisations performed, each over the batch: all free blocks of the
        Hessian (dense path) or the ``n_top x n_top`` Woodbury matrices of a segment
        (structured path).
    nhvp : int
        Exact Hessian-vector products (the Newton-Krylov steps of the structured path),
        each over the batch.
    method : str
        ``"gauss-newton"`` (structured path), ``"newton"`` (dense path), or
        ``"gauss-newton+newton"`` when some samples were finished by the dense path.
    """

    x: State
    energy: np.ndarray
    grad_max: np.ndarray
    status: Status
    message: str
    nit: int
    nfev: int
    njev: int
    nhev: int
    nfact: int
    method: str = "newton"
    nhvp: int = 0

    @property
    def success(self) -> bool:
        """bool : Whether ``status`` is ``SUCCESS``."""
        return self.status is Status.SUCCESS


def _free_blocks(clamp: Clamp) -> list[tuple[int, np.ndarray]]:
    """(layer, indices of free units) for every layer that has free units."""
    return [(l, np.flatnonzero(f)) for l, f in enumerate(clamp.free) if f.any()]


def batched_cholesky(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors ``L L^T = S[b]`` of a stack of symmetric matrices, and which
    samples are positive definite.  One LAPACK call for the whole stack; only when it fails
    are the samples factorised one by one, a failed sample's factor being the identity (a
    placeholder its caller discards).

    Returns
    -------
    L : ndarray, shape (batch, n, n)
    ok : ndarray of bool, shape (batch,)
    """
    ok = np.ones(S.shape[0], dtype=bool)
    try:
        return np.linalg.cholesky(S), ok
    except np.linalg.LinAlgError:
        L = np.empty_like(S)
        for b in range(S.shape[0]):
            try:
                L[b] = np.linalg.cholesky(S[b])
            except np.linalg.LinAlgError:
                ok[b] = False
                L[b] = np.eye(S.shape[-1])
        return L, ok


def _block_solve(diag, upper, blocks, rhs, lam):
    """Solve ``(H_ff + diag(lam)) p = rhs`` by block Cholesky elimination.

    Forward elimination forms the Schur complements
    ``S_k = A_k - B_k^T S_{k-1}^{-1} B_k`` (``A_k`` the damped diagonal block,
    ``B_k`` the coupling to the previous free layer) and factorises each once;
    back substitution then gives ``p_k = S_k^{-1} (r_k - B_{k+1} p_{k+1})``.

    Parameters
    ----------
    diag, upper : lists from :func:`hessian_blocks`.
    blocks : list of (layer, free indices).
    rhs : list of ndarray, one ``(batch, n_free_l)`` per block.
    lam : ndarray, ``(batch,)`` damping.

    Returns
    -------
    p : list of ndarray
        The step per block (meaningless for the samples flagged ``bad``).
    bad : ndarray of bool, ``(batch,)``
        Samples whose damped Hessian is not positive definite.
    """
    batch = lam.shape[0]
    chol, couplings = [], []
    r = [v.copy() for v in rhs]
    bad = np.zeros(batch, dtype=bool)
    for k, (l, idx) in enumerate(blocks):
        S = diag[l][:, idx[:, None], idx[None, :]]
        S[:, np.arange(idx.size), np.arange(idx.size)] += lam[:, None]
        B = None
        if k > 0 and blocks[k - 1][0] == l - 1:
            B = upper[l - 1][:, blocks[k - 1][1][:, None], idx[None, :]]  # (batch, n_prev, n_l)
            Y = cho_solve(
                (chol[k - 1], True),
                np.concatenate([B, r[k - 1][:, :, None]], axis=2),
                check_finite=False,
            )
            Bt = np.transpose(B, (0, 2, 1))
            S -= Bt @ Y[:, :, :-1]
            r[k] -= (Bt @ Y[:, :, -1:])[:, :, 0]
        couplings.append(B)
        C, ok = batched_cholesky(S)  # a failed sample's factor is I; its step is discarded
        bad |= ~ok
        chol.append(C)
    p = [None] * len(blocks)
    for k in range(len(blocks) - 1, -1, -1):
        rk = r[k]
        if k + 1 < len(blocks) and couplings[k + 1] is not None:
            rk = rk - (couplings[k + 1] @ p[k + 1][:, :, None])[:, :, 0]
        p[k] = cho_solve((chol[k], True), rk[:, :, None], check_finite=False)[:, :, 0]
    return p, bad


def _low_rank_layer(net: Network, blocks) -> int | None:
    """The free layer ``l`` if the free units form one layer whose Hessian block is
    ``diag + J^T diag(pi_{l+1}) J`` with ``J`` (``n_{l+1} x n_l``) of low rank, else None."""
    if len(blocks) != 1:
        return None
    l, idx = blocks[0]
    if l == net.n_layers or 2 * net.sizes[l + 1] > idx.size:
        return None
    return l


def _woodbury_solve(net: Network, x: State, l: int, idx: np.ndarray, rhs: np.ndarray, lam):
    """Solve ``(H_ll + lam I) p = rhs`` on the free units ``idx`` of layer ``l`` when every
    other unit is clamped, by the Woodbury identity.

    Here ``H_ll = D + J^T P J`` with ``D = diag(pi_l - phi_l'' * (W^T pi_{l+1} eps_{l+1}))``,
    ``J = W_{l+1} diag(phi_l')`` and ``P = diag(pi_{l+1})``, so

        p = D^{-1} r - D^{-1} J^T (P^{-1} + J D^{-1} J^T)^{-1} J D^{-1} r

    costs ``O(n_l n_{l+1}^2)`` per sample instead of ``O(n_l^3)``.  With ``D > 0``
    the damped Hessian is positive definite; samples with some ``D <= 0`` are flagged.

    Returns ``(p, bad)`` like :func:`_block_solve`.
    """
    W = net.W(l + 1)
    pi_next = net.pi(l + 1)
    e_next = net.pi(l + 1) * (x[l + 1] - (net.phi(l).f(x[l]) @ W.T + net.b(l + 1)))
    xl = x[l][:, idx]
    d = -net.phi(l).d2f(xl) * (e_next @ W[:, idx]) + lam[:, None]
    if l > 0:
        d = d + net.pi(l)[idx]
    bad = ~np.all(d > 0, axis=1)
    d = np.where(bad[:, None], 1.0, d)  # placeholder: these samples' steps are discarded
    J = W[None, :, idx] * net.phi(l).df(xl)[:, None, :]  # (B, k, n)
    JD = J / d[:, None, :]
    M = JD @ np.transpose(J, (0, 2, 1))
    k = M.shape[1]
    M[:, np.arange(k), np.arange(k)] += 1.0 / pi_next
    u = rhs / d
    Ju = J @ u[:, :, None]
    try:
        v = np.linalg.solve(M, Ju)[:, :, 0]
    except np.linalg.LinAlgError:  # numerically singular M (blown-up weights): flag those
        v = np.zeros(u.shape[:1] + (k,))
        for b in range(M.shape[0]):
            try:
                v[b] = np.linalg.solve(M[b], Ju[b])[:, 0]
            except np.linalg.LinAlgError:
                bad[b] = True
    bad |= ~np.isfinite(v).all(axis=1)
    p = u - (np.transpose(JD, (0, 2, 1)) @ v[:, :, None])[:, :, 0]
    return [p], bad


def solve_equilibrium(
    net: Network,
    x_init: State,
    clamp: Clamp,
    *,
    gtol: float = GTOL_DEFAULT,
    max_iter: int = 200,
    lam0: float = 1e-3,
    structured: bool = True,
    on_failure: str = "warn",
) -> EquilibriumResult:
    """Find the rest point of ``tau dx/dt = -dF/dx`` on the free units.

    Parameters
    ----------
    net : Network
    x_init : sequence of ndarray
        Start state (use :func:`pc_analog.model.energy.initial_state` for the
        feedforward start); clamped units keep their values throughout.
    clamp : Clamp
    gtol : float
        Stop when ``max |dF/dx_free| <= gtol`` for every sample.
    max_iter : int
        Newton iterations at most.
    lam0 : float
        Smallest non-zero Levenberg-Marquardt damping, relative to the mean
        precision.  Steps start undamped (pure Newton); damping is switched on
        for a sample whose Hessian is not positive definite or whose full step
        is refused, and switched off again after full steps.
    structured : bool
        Take the structured path where it applies: Gauss-Newton in error
        coordinates for layered clamps (see the module docstring), and, for other
        clamps whose free units sit in one layer, the Woodbury identity inside the
        dense Newton iteration.  ``False`` forces the general block-Cholesky Newton
        path (the reference the tests compare with).
    on_failure : {"warn", "raise", "return"}
        If ``gtol`` was not met: a :class:`~pc_analog.errors.ConvergenceWarning`
        (default), :class:`~pc_analog.errors.ConvergenceError` carrying the
        result, or nothing (read ``status``).

    Returns
    -------
    EquilibriumResult
        ``success=False`` with a failure ``status`` if ``gtol`` was not met.

    Notes
    -----
    Runs with one BLAS thread: batched small factorisations lose badly to thread
    hand-offs (see :mod:`pc_analog._threads`).  ``nit`` counts the iterations of both
    paths; on the structured path with several segments, their sum.
    """
    check_on_failure(on_failure)
    clamp.check(net.sizes)
    x = [np.array(v, dtype=float) for v in check_state(net, x_init)]
    with single_threaded_blas():
        segments = layered_segments(net, clamp) if structured else None
        if segments is None:
            res = _newton(net, x, clamp, gtol, max_iter, lam0, structured)
        else:
            res = _structured(net, x, clamp, segments, gtol, max_iter, lam0)
    return apply_on_failure(res, on_failure)


def _message(gm, gtol, nit, batch, method, max_iter, x) -> tuple[Status, str]:
    top = gm.max() if gm.size else 0.0
    if not (np.all(np.isfinite(gm)) and all(np.isfinite(v).all() for v in x)):
        status = Status.NON_FINITE
    elif bool(np.all(gm <= gtol)):
        return Status.SUCCESS, (
            f"converged: max |dF/dx| = {top:.3g} <= gtol = {gtol:g} after {nit} iterations "
            f"({method})"
        )
    else:
        status = Status.MAX_ITER if nit >= max_iter else Status.STALLED
    return status, (
        f"not converged ({status.message}): max |dF/dx| = {top:.3g} > gtol = {gtol:g} "
        f"after {nit} iterations ({int(np.sum(~(gm <= gtol)))} of {batch} samples; {method})"
    )


def _structured(net, x, clamp, segments, gtol, max_iter, lam0) -> EquilibriumResult:
    """The structured path; unfinished samples go on with the dense path."""
    out = solve_segments(net, x, segments, gtol, max_iter)
    gm, F = out.grad_max, out.energy
    counts = dict(
        nit=out.nit, nfev=out.nfev, njev=out.njev, nhev=out.nhev, nfact=out.nfact, nhvp=out.nhvp
    )
    method = "gauss-newton"
    left = gm > gtol
    if left.any() and out.nit < max_iter:
        sub = [v[left] for v in x]
        ref = _newton(net, sub, clamp, gtol, max_iter - out.nit, lam0, True)
        for l in range(len(x)):
            x[l][left] = ref.x[l]
        gm = np.where(left, 0.0, gm)
        gm[left] = ref.grad_max
        F = F.copy()
        F[left] = ref.energy
        for key in counts:
            counts[key] += getattr(ref, key)
        method = "gauss-newton+newton"
    status, message = _message(gm, gtol, counts["nit"], gm.shape[0], method, max_iter, x)
    return EquilibriumResult(
        x=tuple(x),
        energy=F,
        grad_max=gm,
        status=status,
        message=message,
        method=method,
        **counts,
    )


def _newton(net, x, clamp, gtol, max_iter, lam0, structured) -> EquilibriumResult:
    """The damped Newton iteration of :func:`solve_equilibrium` (``x`` is updated).

    Long because the step, the line search and the damping update share per-sample
    state; splitting them would pass a dozen arrays between helpers.

    Over 80 lines: one loop whose per-sample state (damping, step, line search,
    counters) is updated together; the module docstring gives the equations.
    """
    blocks = _free_blocks(clamp)
    batch = x[0].shape[0]
    nfev = njev = nhev = nfact = nit = 0

    def free_grad(state):
        g = grad_x(net, state)
        return [g[l][:, idx] for l, idx in blocks]

    def gmax(gf):
        if not gf:
            return np.zeros(batch)
        return np.max(np.stack([np.abs(v).max(axis=1) for v in gf]), axis=0)

    F = energy(net, x)
    gf = free_grad(x)
    nfev += 1
    njev += 1
    gm = gmax(gf)
    # Scale the damping with the typical curvature (precisions set it).
    scale = float(np.mean([np.mean(net.pi(l)) for l in range(1, net.n_layers + 1)]))
    lam_min = lam0 * scale
    lam = np.zeros(batch)  # pure Newton first; damping only where it is needed
    low_rank = _low_rank_layer(net, blocks) if structured else None
    while nit < max_iter and np.any(gm > gtol):
        nit += 1
        active = gm > gtol
        bad = None
        if low_rank is not None:
            p, bad = _woodbury_solve(net, tuple(x), low_rank, blocks[0][1], -gf[0], lam)
        if bad is None or bad.any():
            # General path (also when D has a non-positive entry: H may still be PD).
            diag, upper = hessian_blocks(net, tuple(x), layers=[l for l, _ in blocks])
            p, bad = _block_solve(diag, upper, blocks, [-v for v in gf], lam)
        nhev += 1
        nfact += 1
        slope = sum((v * pv).sum(axis=1) for v, pv in zip(gf, p))
        bad |= ~(slope < 0)
        lam = np.where(active & bad, np.clip(lam * _LAMBDA_UP**2, lam_min, _LAMBDA_MAX), lam)
        # Line search on the samples with a usable direction.
        alpha = np.where(active & ~bad, 1.0, 0.0)
        todo = alpha > 0
        accepted = np.zeros(batch, dtype=bool)
        for _ in range(40):
            if not todo.any():
                break
            trial = [xl.copy() for xl in x]
            for (l, idx), pv in zip(blocks, p):
                trial[l][:, idx] += np.where(todo, alpha, 0.0)[:, None] * pv
            F_new = energy(net, tuple(trial))
            nfev += 1
            ok = F_new <= F + _ARMIJO * alpha * slope
            tiny = np.abs(F_new - F) <= _ROUNDOFF * np.maximum(1.0, np.abs(F))
            if np.any(todo & ~ok & tiny):
                gt = gmax(free_grad(tuple(trial)))
                njev += 1
                ok |= tiny & (gt < gm)
            ok &= todo
            for l, idx in blocks:
                x[l][:, idx] = np.where(ok[:, None], trial[l][:, idx], x[l][:, idx])
            F = np.where(ok, F_new, F)
            accepted |= ok
            todo &= ~ok
            alpha = np.where(todo, alpha * 0.5, alpha)
        full = accepted & (alpha == 1.0)
        lam = np.where(
            full, np.where(lam * _LAMBDA_DOWN < lam_min * 1e-3, 0.0, lam * _LAMBDA_DOWN), lam
        )
        lam = np.where(active & ~bad & ~full, np.clip(lam * _LAMBDA_UP, lam_min, _LAMBDA_MAX), lam)
        gf = free_grad(tuple(x))
        njev += 1
        gm = gmax(gf)
        if not accepted.any() and np.all(lam[active] >= _LAMBDA_MAX):
            break
    status, message = _message(gm, gtol, nit, batch, "newton", max_iter, x)
    return EquilibriumResult(
        x=tuple(x),
        energy=energy(net, tuple(x)),
        grad_max=gm,
        status=status,
        message=message,
        nit=nit,
        nfev=nfev + 1,
        njev=njev,
        nhev=nhev,
        nfact=nfact,
    )


class EquilibriumBackend(Backend):
    """The rest point found directly (:func:`solve_equilibrium`).

    Parameters
    ----------
    gtol, max_iter :
        As for :func:`solve_equilibrium`.
    structured : bool
        ``False`` forces the dense block-Newton path (for comparisons).
    on_failure : {"warn", "raise", "return"}
        See :class:`~pc_analog.solvers.base.Backend`.
    """

    name = "equilibrium"
    supports_amplifiers = True
    requires_symmetric = True

    def __init__(
        self,
        gtol: float = GTOL_DEFAULT,
        max_iter: int = 200,
        structured: bool = True,
        on_failure: str = "warn",
    ):
        super().__init__(on_failure=on_failure)
        if not gtol > 0 or max_iter < 1:
            raise InvalidInputError("equilibrium backend: need gtol > 0 and max_iter >= 1")
        self.gtol, self.max_iter, self.structured = gtol, max_iter, bool(structured)

    def _settle(self, circuit):
        if not circuit.ideal:
            return self._settle_nonideal(circuit)
        r = solve_equilibrium(
            circuit.network(),
            circuit.x_init,
            circuit.clamp,
            gtol=self.gtol,
            max_iter=self.max_iter,
            structured=self.structured,
            on_failure="return",
        )
        return SettleResult(
            self.name,
            r.x,
            r.energy,
            r.status,
            r.message,
            r.grad_max,
            x_eq=r.x,
            nit=r.nit,
            nfev=r.nfev,
            njev=r.njev,
            nfact=r.nfact,
            stats={
                "nit": r.nit,
                "nfev": r.nfev,
                "njev": r.njev,
                "nhev": r.nhev,
                "nfact": r.nfact,
                "nhvp": r.nhvp,
                "method": r.method,
            },
        )

    def _settle_nonideal(self, circuit):
        """Non-ideal amplifiers: Newton on the KCL residual from the ideal rest point
        (:mod:`pc_analog.solvers.rest_point`); ``energy`` is ``F`` of the circuit's
        network at that point, ``grad_max`` the residual ``max |I|/g0``."""
        ideal = solve_equilibrium(
            circuit.network(),
            circuit.x_init,
            circuit.clamp,
            gtol=self.gtol,
            max_iter=self.max_iter,
            structured=self.structured,
            on_failure="return",
        )
        start = ideal.x if ideal.success else circuit.x_init
        solve = newton_rest_point if circuit.crossbar is None else crossbar_rest_point
        x, gm, status, msg, nit, nfev, njev = solve(
            circuit, start, gtol=self.gtol, max_iter=self.max_iter
        )
        return SettleResult(
            self.name,
            x,
            energy(circuit.network(), x),
            status,
            msg,
            gm,
            x_eq=x,
            nit=nit,
            nfev=nfev,
            njev=njev,
            stats={
                "nit": nit,
                "nfev": nfev,
                "njev": njev,
                "method": "newton-kcl" if circuit.crossbar is None else "chord-newton-kcl",
                "ideal_start_converged": ideal.success,
            },
        )


def reference_rest_point(circuit, gtol: float = 1e-13):
    """``(x, converged)``: the rest point a time-domain backend measures settling against,
    or ``(None, None)`` where none is known in advance (asymmetric feedback crossbars).

    Ideal amplifiers: :func:`solve_equilibrium` (the minimum of ``F``); non-ideal ones:
    Newton on the KCL residual started there (:mod:`pc_analog.solvers.rest_point`).
    """
    if not circuit.symmetric:
        return None, None
    eq = solve_equilibrium(
        circuit.network(), circuit.x_init, circuit.clamp, gtol=gtol, on_failure="return"
    )
    if circuit.ideal:
        return eq.x, eq.success
    start = eq.x if eq.success else circuit.x_init
    x, _, status, _, _, _, _ = newton_rest_point(circuit, start, gtol=gtol, max_iter=200)
    return x, status is Status.SUCCESS
