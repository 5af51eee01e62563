"""The rest point of a circuit with non-idealities: the zero of its own KCL residual.

With finite amplifier gain, offsets or rails the circuit's currents are no longer
``-g0 dF/dx`` (:mod:`pc_analog.solvers._amps`), so the rest point is not a minimum of
``F``: it is where every free node's current vanishes,

    r(x_f) = I_f(x) / g0 = 0 .

:func:`newton_rest_point` solves it by Newton's method with the analytic Jacobian
``J = dI_f/dx_f / g0`` (sparse: block diagonal over samples, block tridiagonal within
one), ``J p = -r``, and a backtracking line search on ``||r||^2`` (halving the step
until it falls).  The start is the ideal circuit's rest point (the caller's), a few
percent away for realistic gains and offsets, so Newton converges quadratically.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from pc_analog.solvers.base import Status
from pc_analog.solvers.dynamics import FreeIndex, current_jacobian_blocks, node_currents

__all__ = ["newton_rest_point"]

_HALVINGS = 40


def _residual(circ, fi, y):
    g0 = circ.hardware.g0_S
    return fi.pack(node_currents(circ, fi.unpack(y))) / g0


def _per_sample_max(fi, r) -> np.ndarray:
    if fi.n_free == 0:
        return np.zeros(fi.batch)
    return np.abs(r.reshape(fi.batch, fi.n_free)).max(axis=1)


def newton_rest_point(circ, start, *, gtol: float, max_iter: int):
    """Newton on the KCL residual from ``start`` (full state; clamps from the circuit).

    Returns
    -------
    (x, residual_max, status, message, nit, nfev, njev)
        ``residual_max`` per sample is ``max |I| / g0`` over free units (volts).
    """
    fi = FreeIndex(circ)
    base = circ.x_init
    y = fi.pack(start)
    with np.errstate(all="ignore"):
        r = _residual(circ, fi, y)
    nit = nfev = njev = 0
    nfev += 1
    status = None
    while fi.size and np.max(_per_sample_max(fi, r)) > gtol:
        if nit >= max_iter:
            status = Status.MAX_ITER
            break
        if not np.all(np.isfinite(r)):
            status = Status.NON_FINITE
            break
        nit += 1
        J = fi.sparse(*current_jacobian_blocks(circ, fi.unpack(y, base))) / circ.hardware.g0_S
        njev += 1
        p = spla.spsolve(J.tocsc(), -r)
        if not np.all(np.isfinite(p)):
            status = Status.STALLED
            break
        phi0 = float(r @ r)
        alpha, accepted = 1.0, False
        for _ in range(_HALVINGS):
            with np.errstate(all="ignore"):
                r_new = _residual(circ, fi, y + alpha * p)
            nfev += 1
            if np.all(np.isfinite(r_new)) and float(r_new @ r_new) < phi0:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            status = Status.STALLED
            break
        y, r = y + alpha * p, r_new
    gm = _per_sample_max(fi, r)
    x = fi.unpack(y, base)
    if status is None:
        status = Status.SUCCESS
        msg = (
            f"converged: KCL residual max |I|/g0 = {np.max(gm, initial=0.0):.3g} V <= gtol = "
            f"{gtol:g} after {nit} Newton iterations (non-ideal circuit)"
        )
    else:
        msg = (
            f"not converged ({status.message}): KCL residual max |I|/g0 = "
            f"{np.max(gm, initial=0.0):.3g} V > gtol = {gtol:g} after {nit} Newton iterations "
            "(non-ideal circuit)"
        )
    return x, gm, status, msg, nit, nfev, njev
