"""The rest point of a crossbar-level circuit: chord Newton on its KCL residual, batched.

The residual and its analytic Jacobian are those of :mod:`pc_analog.solvers._crossbar`;
each sample's free-unit Jacobian is dense (a few hundred units), so it is inverted once
by batched LAPACK and reused (a chord method) while the residual keeps falling fast,
instead of a sparse factorisation of the whole batch per iteration.
"""

from __future__ import annotations

import numpy as np

from pc_analog._threads import single_threaded_blas
from pc_analog.solvers._crossbar import crossbar_jacobian_blocks, crossbar_node_currents
from pc_analog.solvers.base import Status
from pc_analog.solvers.dynamics import FreeIndex

__all__ = ["crossbar_rest_point"]


#: Halvings of the line search; a chord step that shrinks the residual by less than this
#: factor triggers a fresh Jacobian.
_HALVINGS, _REFRESH = 30, 0.25


def crossbar_rest_point(circ, start, *, gtol: float, max_iter: int):
    """The zero of the KCL residual ``r = I_f / g0`` by chord Newton steps, per sample.

    ``J p = -r`` with ``J`` the analytic Jacobian (:func:`crossbar_jacobian_blocks`),
    dense per sample and inverted once (batched LAPACK), reused while each step shrinks
    ``|r|`` by at least ``1/_REFRESH`` (refreshed otherwise: Newton again); every sample
    has its own backtracking step (halving until ``|r|^2`` falls).  Returns
    ``(x, residual_max, status, message, nit, nfev, njev)`` like
    :func:`~pc_analog.solvers.rest_point.newton_rest_point`.
    """
    fi = FreeIndex(circ)
    B, N, g0 = fi.batch, fi.n_free, circ.hardware.g0_S

    def residual(y):
        with np.errstate(all="ignore"):
            I = fi.pack(crossbar_node_currents(circ, fi.unpack(y.ravel(), start)))
        return I.reshape(B, N) / g0

    nit = nfev = njev = 0
    status = None
    with single_threaded_blas():
        y = fi.pack(start).reshape(B, N) if N else np.zeros((B, 0))
        r = residual(y) if N else y
        nfev += 1
        Jinv = None
        while N and np.abs(r).max() > gtol:
            if nit >= max_iter or not np.all(np.isfinite(r)):
                status = Status.MAX_ITER if nit >= max_iter else Status.NON_FINITE
                break
            nit += 1
            fresh = Jinv is None
            if fresh:
                blocks = crossbar_jacobian_blocks(circ, fi.unpack(y.ravel(), start))
                Jinv = np.linalg.inv(fi.dense_blocks(*blocks) / g0)
                njev += 1
            p = -(Jinv @ r[:, :, None])[:, :, 0]
            n0 = (r * r).sum(axis=1)
            alpha = np.ones(B)
            todo = np.abs(r).max(axis=1) > gtol
            alpha[~todo] = 0.0
            for _ in range(_HALVINGS):
                r_new = residual(y + alpha[:, None] * p)
                nfev += 1
                n1 = (r_new * r_new).sum(axis=1)
                bad = todo & ~(np.isfinite(n1) & (n1 < n0))
                if not bad.any():
                    break
                alpha = np.where(bad, alpha * 0.5, alpha)
            if bad.any():
                if not fresh:
                    Jinv = None  # a stale chord: try a fresh Jacobian first
                    continue
                status = Status.STALLED
                break
            y = y + alpha[:, None] * p
            slow = np.any(n1[todo] > _REFRESH**2 * n0[todo])
            r = r_new
            if slow:
                Jinv = None
    gm = np.abs(r).max(axis=1) if N else np.zeros(B)
    x = fi.unpack(y.ravel(), start) if N else tuple(start)
    top = float(gm.max(initial=0.0))
    if status is None:
        status = Status.SUCCESS
        msg = (
            f"converged: KCL residual max |I|/g0 = {top:.3g} V <= gtol = {gtol:g} after "
            f"{nit} chord-Newton iterations, {njev} Jacobians (crossbar level)"
        )
    else:
        msg = (
            f"not converged ({status.message}): KCL residual max |I|/g0 = {top:.3g} V > "
            f"gtol = {gtol:g} after {nit} chord-Newton iterations (crossbar level)"
        )
    return x, gm, status, msg, nit, nfev, njev
