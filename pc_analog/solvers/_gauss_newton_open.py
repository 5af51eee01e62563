"""Two small pieces of the structured path (:mod:`pc_analog.solvers._gauss_newton`): the
open segment (a free top, solved by one feedforward pass) and the guarded batched inverse
of the Woodbury matrices."""

from __future__ import annotations

import numpy as np

from pc_analog.model.network import Network


def _inv_or_nan(M: np.ndarray) -> np.ndarray:
    """Batched inverse of the ``(B, k, k)`` matrices ``M``; NaN for samples where it fails.

    ``M = Pi_t^{-1} + sum_l S_l S_l^T`` is symmetric positive definite in exact
    arithmetic, but weights that have blown up (a diverging training run) can make it
    non-finite or numerically singular.  Those samples get a NaN inverse: their step
    fails the line search and they go on with the dense path, which reports them as not
    converged, instead of one sample's LinAlgError ending the whole batch.
    """
    finite = np.isfinite(M).all(axis=(1, 2))
    if finite.all():
        try:
            return np.linalg.inv(M)
        except np.linalg.LinAlgError:
            pass
    out = np.full_like(M, np.nan)
    for b in np.flatnonzero(finite):  # failure path only: one sample at a time
        try:
            out[b] = np.linalg.inv(M[b])
        except np.linalg.LinAlgError:
            pass
    return out


def _solve_open(net: Network, x: list, a: int, gtol: float, max_iter: int):
    """An open segment: the feedforward pass from layer ``a-1`` (``eps = 0``)."""
    L = net.n_layers
    g = [None] * (L + 1)
    prev = net.phi(a - 1).f(x[a - 1])
    mus = []
    for l in range(a, L + 1):
        mu = prev @ net.W(l).T + net.b(l)
        mus.append(mu)
        prev = net.phi(l).f(x[l]) if l < L else None
    # dF/dx at the start: pi_l eps_l - phi'(x_l) (pi_{l+1} eps_{l+1}) W_{l+1}
    e = [net.pi(l) * (x[l] - mu) for l, mu in zip(range(a, L + 1), mus)]
    gm = np.zeros(x[0].shape[0])
    for i, l in enumerate(range(a, L + 1)):
        g[l] = e[i] - (net.phi(l).df(x[l]) * (e[i + 1] @ net.W(l + 1)) if l < L else 0.0)
        gm = np.maximum(gm, np.abs(g[l]).max(axis=1))
    if max_iter < 1 or not np.any(gm > gtol):
        F = sum(0.5 * (ei * ei / net.pi(l)).sum(axis=1) for l, ei in zip(range(a, L + 1), e))
        return gm, F, dict(nit=0, nfev=1, njev=1, nhev=0, nfact=0, nhvp=0)
    prev = net.phi(a - 1).f(x[a - 1])
    for l in range(a, L + 1):
        x[l] = prev @ net.W(l).T + net.b(l)
        prev = net.phi(l).f(x[l]) if l < L else None
    # eps = 0 exactly, hence F = 0 and dF/dx = 0 on the segment.
    return (
        np.zeros_like(gm),
        np.zeros_like(gm),
        dict(nit=1, nfev=1, njev=1, nhev=0, nfact=0, nhvp=0),
    )
