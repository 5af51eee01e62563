"""The structured path of :func:`pc_analog.solvers.equilibrium.solve_equilibrium`: Gauss-Newton
in error coordinates for layered clamps.

When it applies
---------------
The clamp is *layered*: every layer is either fully clamped or fully free, and the
input layer 0 is clamped.  The free layers then form maximal runs ``a..b`` (segments);
layer ``a-1`` is clamped, and either ``b = L`` (*open* segment) or layer ``b+1`` is
clamped (*closed* segment, its clamped top ``t = b+1`` of width ``k = n_t``).  A
closed segment is taken only if ``k <= sum_{l=a..b} n_l`` (the low-rank part below is
no larger than the segment itself); otherwise the clamp is not treated as layered.
Segments share no energy term, so each is solved on its own.

The problem of a closed segment
-------------------------------
With the errors ``eps_l`` (``l = a..b``) as unknowns the free activities follow by a
forward pass, ``x_a = mu_a + eps_a`` (``mu_a`` fixed by the clamped layer ``a-1``) and
``x_l = W_l phi_{l-1}(x_{l-1}) + b_l + eps_l``, and the segment's energy is the
least-squares function

    F(eps) = sum_{l=a..b} 1/2 eps_l^T Pi_l eps_l + 1/2 r^T Pi_t r ,   r = y - mu_t(eps)

(``y`` the clamped top, ``Pi = diag(pi)``).  The map ``eps -> x`` is a diffeomorphism
(its Jacobian is unit lower block-triangular), so ``F`` has the same stationary points
in either coordinates.  Its gradient is a backward pass with the backprop deltas
``d_t = Pi_t r``, ``q_l = d_{l+1} W_{l+1}``, ``d_l = phi_l'(x_l) * q_l``:

    dF/deps_l = Pi_l eps_l - d_l .

Each iteration solves ``(D + G^T Pi_t G) p = -dF/deps`` with ``G = d mu_t / d eps``
(``k`` rows: ``G_b = W_t diag(phi_b')``, ``G_l = G_{l+1} W_{l+1} diag(phi_l')``, built
by ``k`` backward passes) and the diagonal

    D_l = max(pi_l - phi_l''(x_l) * q_l ,  D_FLOOR * pi_l) ,

the Gauss-Newton matrix plus the curvature of each layer's own activation (for a
one-layer segment this *is* the Hessian wherever the floor is not active: exact
Newton).  By the Woodbury identity, with ``u = D^{-1} g``,

    p = -(u - D^{-1} G^T M^{-1} G u) ,   M = Pi_t^{-1} + G D^{-1} G^T   (k x k),

``O(k * weights)`` per sample to build and ``O(k * sum n_l)`` per solve, against
``O(sum n_l^3)`` for the dense block Cholesky.  The dropped curvature (cross-layer
``phi''`` terms) makes Gauss-Newton linear; once an iteration lowers the gradient by less
than ``REFRESH_RATIO``, steps become Newton-Krylov: CG on the exact ``H p = -g`` (``H v``
by a forward and a backward tangent pass) preconditioned by the kept Woodbury factors,
rebuilt only when CG needs ``max(REFRESH_CG, k/2)`` iterations (a one-layer segment,
where ``G = W_t diag(phi_b')`` is free, rebuilds them every step: exact Newton).  An
Armijo backtracking line search keeps ``F`` from rising.  The stop test is the solver's:
``max |dF/dx| <= gtol`` over the free units, in the original coordinates
``dF/dx_l = Pi_l eps_l - phi_l'(x_l) * ((Pi_{l+1} eps_{l+1}) W_{l+1})``.

An open segment (``b = L``) has ``F = sum 1/2 eps^T Pi eps``: its only stationary point
is ``eps = 0``, the feedforward pass from layer ``a-1``, reached in one step.

Samples whose line search fails, or whose gradient has not fallen tenfold in
``SLOW_ITERS`` iterations, are reported as stalled; the caller hands them (and any left unconverged)
to the dense solver.  No Python loop runs over samples or units:
each iteration is a few batched matrix products per layer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from pc_analog.model.energy import _input_prediction, _phi_f_df, _remember_phi
from pc_analog.model.network import Clamp, Network
from pc_analog.solvers._gauss_newton_open import _inv_or_nan, _solve_open

__all__ = ["layered_segments", "solve_segments", "SegmentsOutcome"]

#: Rebuild ``G`` and ``M`` when an iteration lowers ``max |dF/dx|`` of some sample by
#: less than this factor (the kept factors have gone stale).
REFRESH_RATIO = 0.1
#: A sample whose ``max |dF/dx|`` has not fallen tenfold in this many iterations goes on
#: with the dense Newton path (Gauss-Newton's linear rate has degraded there; on the
#: benchmark networks it falls 10-20x per iteration).
SLOW_ITERS = 8
#: Floor of the diagonal ``D_l`` relative to ``pi_l`` (keeps the matrix positive definite
#: where the activation's curvature would make it indefinite).
D_FLOOR = 0.1
#: Newton-Krylov (``_Segment.newton_krylov``): largest forcing term, conjugate-gradient
#: iterations at most per step, and the count from which the Gauss-Newton factors (the
#: preconditioner) are rebuilt for the next step.
CG_ETA = 0.5
CG_MAX = 20
REFRESH_CG = 4
#: The rest of a solve runs on the active samples alone once they are at most this
#: fraction of a batch of at least ``COMPACT_MIN``.
COMPACT_FRACTION = 0.25
COMPACT_MIN = 16
_ARMIJO = 1e-4
# Largest K (k copies of W_b, see _Segment) worth holding, in float64 elements (64 MiB).
_K_MAX_ELEMENTS = 8 * 2**20
_BACKTRACKS = 40
# Energy differences below this fraction of |F| are rounding noise (as in equilibrium).
_ROUNDOFF = 1e-13


def layered_segments(net: Network, clamp: Clamp) -> list[tuple[int, int]] | None:
    """The free segments ``(a, b)`` of a layered clamp, or ``None`` if the clamp is not
    layered (see the module docstring for the exact condition)."""
    masks = clamp.masks
    if not masks[0].all():
        return None
    free = []
    for m in masks:
        if m.all():
            free.append(False)
        elif not m.any():
            free.append(True)
        else:
            return None
    L = net.n_layers
    segments, l = [], 1
    while l <= L:
        if not free[l]:
            l += 1
            continue
        a = l
        while l + 1 <= L and free[l + 1]:
            l += 1
        b = l
        if b < L and net.sizes[b + 1] > sum(net.sizes[a : b + 1]):
            return None
        segments.append((a, b))
        l += 1
    return segments


@dataclass
class _Point:
    """The forward pass of a closed segment at one ``eps`` (layers indexed from ``a``)."""

    eps: list
    x: list
    f: list
    df: list
    r: np.ndarray  # y - mu_t
    F: np.ndarray  # per-sample segment energy


@dataclass(frozen=True)
class SegmentsOutcome:
    """What :func:`solve_segments` did to a state (which it updates in place)."""

    grad_max: np.ndarray  # per sample, max |dF/dx| over the free units of all segments
    energy: np.ndarray  # per sample, the whole network's energy at the final state
    stalled: np.ndarray  # per sample: a line search failed, or progress too slow
    nit: int
    nfev: int
    njev: int
    nhev: int
    nfact: int
    nhvp: int = 0


class _Segment:
    """A closed segment ``a..b`` with clamped top ``t = b+1``."""

    def __init__(self, net: Network, x: list, a: int, b: int):
        self.a, self.b, self.t = a, b, b + 1
        self.net = net
        self.layers = list(range(a, b + 1))
        self.W = {l: net.W(l) for l in range(a + 1, b + 2)}
        self.bias = {l: net.b(l) for l in range(a + 1, b + 2)}
        self.pi = {l: net.pi(l) for l in range(a, b + 2)}
        self.act = {l: net.phi(l) for l in range(a, b + 1)}
        # mu_a, fixed; for a = 1 the input's prediction, which the feedforward start of the
        # same batch already computed (_input_prediction remembers it: the same numbers)
        if a == 1:
            self.c = _input_prediction(net, x[0])
        else:
            self.c = net.phi(a - 1).f(x[a - 1]) @ net.W(a).T + net.b(a)
        self.y = x[b + 1]
        self.k = net.sizes[b + 1]
        # One free layer: G is W_t diag(phi') (no backward passes), so rebuilding the
        # factors costs less than an iteration saves, and every step is exact Newton
        # (quadratic convergence) where D is above its floor.
        self.cheap_factors = a == b
        # G_{b-1}[s] = W_t diag(phi_b'[s]) W_b = sum_j phi_b'[s, j] W_t[:, j] W_b[j, :]: one
        # wide product phi_b' @ K with K[j] = W_t[:, j] (x) W_b[j, :], the same flops as the
        # tall (batch k x n_b) @ W_b but about 3x faster in BLAS.  K holds k copies of W_b.
        self.K = None
        if a < b and self.k * net.W(b).size <= _K_MAX_ELEMENTS:
            Wt, Wb = net.W(b + 1), net.W(b)
            self.K = (Wt.T[:, :, None] * Wb[:, None, :]).reshape(Wb.shape[0], -1)
        # One free layer: KK[j] = W_t[:, j] (x) W_t[:, j] gives M as one GEMM (factors).
        self.KK = None
        if a == b and self.k * self.k * net.sizes[a] <= _K_MAX_ELEMENTS:
            Wt = net.W(b + 1)
            self.KK = (Wt.T[:, :, None] * Wt.T[:, None, :]).reshape(Wt.shape[1], -1)
        self._bufs: dict = {}

    def subset(self, idx: np.ndarray) -> _Segment:
        """The same segment for the samples ``idx`` only (a shallow copy)."""
        new = copy.copy(self)
        new.c, new.y, new._bufs = self.c[idx], self.y[idx], {}
        return new

    def _scratch(self, key, shape) -> np.ndarray:
        """A work array kept across iterations (its contents never outlive one call)."""
        buf = self._bufs.get(key)
        if buf is None or buf.shape != shape:
            buf = self._bufs[key] = np.empty(shape)
        return buf

    def _energy(self, eps: list, r: np.ndarray) -> np.ndarray:
        """``F = 1/2 sum_l pi_l . eps_l^2 + 1/2 pi_t . r^2`` per sample."""
        sq = np.multiply(r, r, out=self._scratch("r2", r.shape))
        F = sq @ self.pi[self.t]
        for i, l in enumerate(self.layers):
            sq = np.multiply(eps[i], eps[i], out=self._scratch(("e2", i), eps[i].shape))
            F += sq @ self.pi[l]
        F *= 0.5
        return F

    def _residual(self, f_b: np.ndarray) -> np.ndarray:
        """``r = y - mu_t`` from ``phi_b(x_b)``."""
        r = f_b @ self.W[self.t].T
        r += self.bias[self.t]
        return np.subtract(self.y, r, out=r)

    def point(self, eps: list) -> _Point:
        xs, fs, dfs = [], [], []
        prev = None
        for i, l in enumerate(self.layers):
            if i == 0:
                xl = np.add(self.c, eps[0])
            else:
                xl = prev @ self.W[l].T
                xl += self.bias[l]
                xl += eps[i]
            fl, dfl = self.act[l].f_df(xl)
            xs.append(xl)
            fs.append(fl)
            dfs.append(dfl)
            prev = fl
        r = self._residual(prev)
        return _Point(list(eps), xs, fs, dfs, r, self._energy(eps, r))

    def point_from_x(self, x: list) -> _Point:
        """The forward quantities at a given state (``eps`` read off it)."""
        xs = [x[l] for l in self.layers]
        # phi at the feedforward start: the start's own prediction evaluated it already
        fd = [_phi_f_df(self.net, l, xl) for l, xl in zip(self.layers, xs)]
        fs, dfs = [v[0] for v in fd], [v[1] for v in fd]
        eps = [np.subtract(xs[0], self.c)]
        for i, l in enumerate(self.layers[1:], 1):
            e = fs[i - 1] @ self.W[l].T
            e += self.bias[l]
            eps.append(np.subtract(xs[i], e, out=e))
        r = self._residual(fs[-1])
        return _Point(eps, xs, fs, dfs, r, self._energy(eps, r))

    def gradient(self, pt: _Point):
        """``(dF/deps, q, max |dF/dx| per sample)``; ``q[i] = d_{l+1} W_{l+1}``."""
        n = len(self.layers)
        g, q = [None] * n, [None] * n
        d = self.pi[self.t] * pt.r
        gm = np.zeros(pt.r.shape[0])
        for i in range(n - 1, -1, -1):
            l = self.layers[i]
            W = self.W[l + 1]
            gi = np.multiply(self.pi[l], pt.eps[i])  # pi_l eps_l, then dF/deps_l
            q[i] = d @ W
            tmp = self._scratch(("t", i), gi.shape)
            if i < n - 1:  # dF/dx_l = pi_l eps_l - phi_l' * ((pi_{l+1} eps_{l+1}) W_{l+1})
                e = self._scratch(("e", i), pt.eps[i + 1].shape)
                np.multiply(self.pi[l + 1], pt.eps[i + 1], out=e)
                np.matmul(e, W, out=tmp)
                tmp *= pt.df[i]
                np.subtract(gi, tmp, out=tmp)
                np.abs(tmp, out=tmp)
                np.maximum(gm, tmp.max(axis=1), out=gm)
            d = np.multiply(pt.df[i], q[i], out=self._scratch(("d", i), gi.shape))
            gi -= d
            g[i] = gi
            if i == n - 1:  # the top free layer: dF/dx_b = dF/deps_b
                np.abs(gi, out=tmp)
                np.maximum(gm, tmp.max(axis=1), out=gm)
        return g, q, gm

    def factors(self, pt: _Point, q: list):
        """``S_l = G_l D_l^{-1/2}`` (``G`` scaled in place), ``s_l = D_l^{-1/2}`` and
        ``M^{-1}`` with ``M = Pi_t^{-1} + sum_l S_l S_l^T``.

        One free layer: ``S = W_t diag(w)`` with ``w = phi_b' s_b`` is kept as ``w`` alone
        (a ``(batch, n_b)`` array instead of ``(batch, k, n_b)``), and
        ``M = Pi_t^{-1} + (w * w) @ KK`` with ``KK[j] = W_t[:, j] (x) W_t[:, j]``: one GEMM."""
        n = len(self.layers)
        B = pt.r.shape[0]
        if self.KK is not None:
            l = self.b
            Dl = self.pi[l] - self.act[l].d2f_given(pt.x[0], pt.f[0], pt.df[0]) * q[0]
            np.maximum(Dl, D_FLOOR * self.pi[l], out=Dl)
            sl = np.sqrt(Dl, out=Dl)
            np.divide(1.0, sl, out=sl)
            w = pt.df[0] * sl
            M = np.multiply(w, w) @ self.KK
            M = M.reshape(B, self.k, self.k)
            M[:, np.arange(self.k), np.arange(self.k)] += 1.0 / self.pi[self.t]
            return [w], [sl], _inv_or_nan(M)
        G = [None] * n
        G[n - 1] = self.W[self.t][None, :, :] * pt.df[n - 1][:, None, :]
        for i in range(n - 2, -1, -1):
            l = self.layers[i]
            if i == n - 2 and self.K is not None:
                Gi = (pt.df[n - 1] @ self.K).reshape(B, self.k, -1)
            else:
                Gi = (G[i + 1].reshape(B * self.k, -1) @ self.W[l + 1]).reshape(B, self.k, -1)
            Gi *= pt.df[i][:, None, :]  # in place: no second (batch, k, n) buffer
            G[i] = Gi
        scale = []
        M = np.zeros((B, self.k, self.k))
        M[:, np.arange(self.k), np.arange(self.k)] = 1.0 / self.pi[self.t]
        for i, l in enumerate(self.layers):
            Dl = self.pi[l] - self.act[l].d2f_given(pt.x[i], pt.f[i], pt.df[i]) * q[i]
            sl = 1.0 / np.sqrt(np.maximum(Dl, D_FLOOR * self.pi[l]))
            scale.append(sl)
            G[i] *= sl[:, None, :]  # S_l
            M += G[i] @ np.transpose(G[i], (0, 2, 1))
        return G, scale, _inv_or_nan(M)

    def step(self, g, fac):
        """``p = -(D^{-1} g - D^{-1/2} S^T M^{-1} S D^{-1/2} g)`` (Woodbury)."""
        S, scale, Minv = fac
        u = [gi * si for gi, si in zip(g, scale)]  # D^{-1/2} g
        if S[0].ndim == 2:  # one free layer: S = W_t diag(w), see factors
            (w,), (ui,), (si,) = S, u, scale
            Su = np.multiply(ui, w) @ self.W[self.t].T  # (B, k)
            v = (Minv @ Su[:, :, None])[:, :, 0]
            t = v @ self.W[self.t]
            t *= w
            ui -= t
            ui *= si
            np.negative(ui, out=ui)
            return u
        w = sum((Si @ ui[:, :, None]) for Si, ui in zip(S, u))  # (B, k, 1)
        vt = np.transpose(Minv @ w, (0, 2, 1))  # (B, 1, k)
        for i, (ui, Si, si) in enumerate(zip(u, S, scale)):
            ui -= np.matmul(vt, Si, out=self._scratch(("v", i), (ui.shape[0], 1, ui.shape[1])))[
                :, 0, :
            ]
            ui *= si
            np.negative(ui, out=ui)
        return u

    def hvp(self, pt: _Point, q: list, d2f: list, v: list) -> list:
        """Exact ``H v`` in ``eps``: the tangent ``dx_a = v_a``, ``dx_l = W_l (phi'_{l-1}
        dx_{l-1}) + v_l``, ``dd_t = -Pi_t W_t (phi'_b dx_b)``, then backward ``dd_l =
        phi_l'' dx_l q_l + phi_l' (dd_{l+1} W_{l+1})`` and ``(H v)_l = Pi_l v_l - dd_l``."""
        n = len(self.layers)
        dx = [v[0]]
        for i in range(1, n):
            t = np.multiply(pt.df[i - 1], dx[i - 1]) @ self.W[self.layers[i]].T
            t += v[i]
            dx.append(t)
        dd = np.multiply(pt.df[n - 1], dx[n - 1]) @ self.W[self.t].T
        dd *= -self.pi[self.t]
        out = [None] * n
        for i in range(n - 1, -1, -1):
            l = self.layers[i]
            dq = dd @ self.W[l + 1]
            dq *= pt.df[i]
            dq += d2f[i] * dx[i] * q[i]  # dd_l
            out[i], dd = self.pi[l] * v[i] - dq, dq
        return out

    def newton_krylov(self, pt: _Point, g: list, q: list, fac, active: np.ndarray):
        """``p ~ -H^{-1} g`` by conjugate gradients on the exact Hessian (:meth:`hvp`),
        preconditioned by the Gauss-Newton factors ``fac`` (:meth:`step`), per sample.

        Each sample stops when ``max |H p + g| <= eta max |g|`` with the forcing term
        ``eta = min(CG_ETA, sqrt(max |g|))`` (superlinear outer convergence), at
        ``CG_MAX`` iterations, or on a direction of non-positive curvature (then the
        iterate so far is kept; on the first iteration the Gauss-Newton step itself, a
        descent direction because the Gauss-Newton matrix is positive definite).
        Returns ``(p, iterations, Hessian-vector products)``.
        """
        d2f = [self.act[l].d2f_given(pt.x[i], pt.f[i], pt.df[i]) for i, l in enumerate(self.layers)]

        def dot(a, b):
            return sum(np.einsum("ij,ij->i", u, w) for u, w in zip(a, b))

        gnorm = np.max([np.abs(gi).max(axis=1) for gi in g], axis=0)
        tol = np.minimum(CG_ETA, np.sqrt(gnorm)) * gnorm
        r = [-gi for gi in g]
        z = [-zi for zi in self.step(r, fac)]  # GN^{-1} r
        p = [np.zeros_like(gi) for gi in g]
        d = [zi.copy() for zi in z]
        rz = dot(r, z)
        run = active.copy()
        its = nhvp = 0
        while run.any() and its < CG_MAX:
            its += 1
            Hd = self.hvp(pt, q, d2f, d)
            nhvp += 1
            dHd = dot(d, Hd)
            neg = run & ~(dHd > 0)
            if its == 1:  # no curvature along the GN step: take the GN step as it is
                for pi_, zi in zip(p, z):
                    pi_[neg] = zi[neg]
            run &= ~neg
            alpha = np.where(run, rz / np.where(run, dHd, 1.0), 0.0)[:, None]
            for pi_, di, ri, hi in zip(p, d, r, Hd):
                pi_ += alpha * di
                ri -= alpha * hi
            rnorm = np.max([np.abs(ri).max(axis=1) for ri in r], axis=0)
            run &= ~(rnorm <= tol)
            if not run.any():
                break
            z = [-zi for zi in self.step(r, fac)]
            rz_new = dot(r, z)
            beta = np.where(run, rz_new / np.where(run, rz, 1.0), 0.0)[:, None]
            rz = rz_new
            d = [zi + beta * di for zi, di in zip(z, d)]
        return p, its, nhvp


def _merge(ok: np.ndarray, new: _Point, old: _Point) -> _Point:
    if ok.all():
        return new
    sel = ok[:, None]

    def pick(a, b):
        return [np.where(sel, u, v) for u, v in zip(a, b)]

    return _Point(
        pick(new.eps, old.eps),
        pick(new.x, old.x),
        pick(new.f, old.f),
        pick(new.df, old.df),
        np.where(sel, new.r, old.r),
        np.where(ok, new.F, old.F),
    )


def _solve_closed(seg: _Segment, x: list, gtol: float, max_iter: int, krylov=False, fac=None):
    """Gauss-Newton on one closed segment from the state ``x`` (updated in place).

    Long because the step, the line search and the progress tests share per-sample
    state.  Once Gauss-Newton is slow (the rate ``REFRESH_RATIO`` missed), steps are
    Newton-Krylov (``krylov``).  When at most ``COMPACT_FRACTION`` of the samples are
    still active, the rest of the solve runs on those samples alone (a recursive call on
    the compacted batch), so a long tail of hard samples does not cost batch-sized work.
    """
    pt = seg.point_from_x(x)
    g, q, gm = seg.gradient(pt)
    nfev = njev = 1
    nit = nhev = nfact = nhvp = 0

    def counts():
        return dict(nit=nit, nfev=nfev, njev=njev, nhev=nhev, nfact=nfact, nhvp=nhvp)

    batch = gm.shape[0]
    stalled = np.zeros(batch, dtype=bool)
    mark, since = gm.copy(), np.zeros(batch, dtype=int)  # progress check
    while nit < max_iter:
        active = (gm > gtol) & ~stalled
        if not active.any():
            break
        if batch >= COMPACT_MIN and active.sum() <= COMPACT_FRACTION * batch:
            sub = (krylov, fac)
            return _compact(seg, x, pt, gm, stalled, active, gtol, max_iter, sub, counts())
        nit += 1
        if fac is None:
            fac = seg.factors(pt, q)
            nhev += 1
            nfact += 1
        cg_its = 0
        if krylov:
            p, cg_its, n_hv = seg.newton_krylov(pt, g, q, fac, active)
            nhvp += n_hv
        else:
            p = seg.step(g, fac)
        slope = sum((gi * pi).sum(axis=1) for gi, pi in zip(g, p))
        alpha = np.where(active, 1.0, 0.0)
        todo = active.copy()
        base = pt
        gt = None
        for round_ in range(_BACKTRACKS):
            step = np.where(todo, alpha, 0.0)[:, None]
            trial = seg.point([np.add(e, np.multiply(step, pi)) for e, pi in zip(base.eps, p)])
            nfev += 1
            ok = trial.F <= base.F + _ARMIJO * alpha * slope
            tiny = np.abs(trial.F - base.F) <= _ROUNDOFF * np.maximum(1.0, np.abs(base.F))
            ok &= todo
            pending = todo & ~ok & tiny
            gt = None
            if pending.any():  # energy flat to rounding: judge by the gradient instead
                gt = seg.gradient(trial)
                njev += 1
                ok |= pending & (gt[2] < gm)
            if round_ == 0 and np.all(ok | ~active):
                pt = trial  # the usual case: every full step taken (the rest did not move)
            else:
                pt, gt = _merge(ok, trial, pt), None
            todo &= ~ok
            if not todo.any():
                break
            alpha = np.where(todo, 0.5 * alpha, alpha)
        stalled |= todo
        backtracked = np.any(active & (alpha < 1.0))
        if gt is None:
            gt = seg.gradient(pt)
            njev += 1
        g, q, gm_new = gt
        # Too slow: a sample whose gradient has not fallen tenfold in SLOW_ITERS iterations
        # (the Gauss-Newton model is poor there: large errors, strong curvature) is
        # stalled too.
        gained = gm_new <= 0.1 * mark
        mark = np.where(gained, gm_new, mark)
        since = np.where(gained, 0, since + active)
        stalled |= active & (since >= SLOW_ITERS) & (gm_new > gtol)
        still = active & ~stalled & (gm_new > gtol)
        slow = np.any(still & (gm_new > REFRESH_RATIO * gm))
        if seg.cheap_factors:
            fac = None  # exact Newton on one layer: the factors are the step
        elif slow and not krylov:
            # Gauss-Newton's linear rate: switch to Newton-Krylov steps, the factors kept
            # as its preconditioner (rebuilding them would not remove the dropped curvature).
            krylov = True
        elif cg_its >= max(REFRESH_CG, seg.k // 2) or (backtracked and not krylov):
            # Rebuilding costs about k/2 Hessian-vector products (k backward passes).
            fac = None
        gm = gm_new
    for i, l in enumerate(seg.layers):
        x[l] = pt.x[i]
        # phi at the rest point, for the Hebbian update's prediction and dW (f_df of pt.x)
        _remember_phi(seg.net, l, pt.x[i], pt.f[i], pt.df[i])
    return gm, pt.F, stalled, counts()


def _compact(seg, x, pt, gm, stalled, active, gtol, max_iter, state, counts):
    """Finish the samples ``active`` on their own (see :func:`_solve_closed`), keeping the
    step kind and those samples' factors (``state``)."""
    for i, l in enumerate(seg.layers):
        x[l] = np.array(pt.x[i])
    idx = np.flatnonzero(active)
    sub_x = [v[idx] for v in x]
    krylov, fac = state
    if fac is not None:
        fac = ([S[idx] for S in fac[0]], [s[idx] for s in fac[1]], fac[2][idx])
    g_s, F_s, st_s, c_s = _solve_closed(
        seg.subset(idx), sub_x, gtol, max_iter - counts["nit"], krylov, fac
    )
    for l in seg.layers:
        x[l][idx] = sub_x[l]
    gm, F, stalled = gm.copy(), np.array(pt.F), stalled.copy()
    gm[idx], F[idx], stalled[idx] = g_s, F_s, stalled[idx] | st_s
    return gm, F, stalled, {k: counts[k] + c_s[k] for k in counts}


def solve_segments(
    net: Network, x: list, segments: list[tuple[int, int]], gtol: float, max_iter: int
) -> SegmentsOutcome:
    """Bring every segment of a layered clamp to rest, updating ``x`` in place.

    Counters are summed over the segments (each is a separate problem over the batch).
    """
    batch = x[0].shape[0]
    gm = np.zeros(batch)
    stalled = np.zeros(batch, dtype=bool)
    total = dict(nit=0, nfev=0, njev=0, nhev=0, nfact=0, nhvp=0)
    # Energy terms of layers that touch no free unit (l and l-1 both clamped) stay fixed.
    touched = {l for a, b in segments for l in range(a, min(b + 1, net.n_layers) + 1)}
    F = np.zeros(batch)
    for l in range(1, net.n_layers + 1):
        if l not in touched:
            eps = x[l] - (net.phi(l - 1).f(x[l - 1]) @ net.W(l).T + net.b(l))
            F = F + 0.5 * (net.pi(l) * eps * eps).sum(axis=1)
    for a, b in segments:
        if b == net.n_layers:
            gms, Fs, counts = _solve_open(net, x, a, gtol, max_iter)
        else:
            gms, Fs, st, counts = _solve_closed(_Segment(net, x, a, b), x, gtol, max_iter)
            stalled |= st
        gm = np.maximum(gm, gms)
        F = F + Fs
        for key, v in counts.items():
            total[key] += v
    return SegmentsOutcome(grad_max=gm, energy=F, stalled=stalled, **total)
