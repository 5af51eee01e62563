"""Closed-form transients shared by the oracle tests (no pc_analog code inside).

A linear network's free units obey, in ``s = t / tau``, either the RC flow
``x' = -H (x - x*)`` or the inertial one ``x'' + k_d x' + H (x - x*) = 0`` with
``k_d = 2 zeta sqrt(lambda_min)`` (mass ``C tau``).  Both decouple in the eigenvectors of
``H``; each mode has a textbook solution.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy.optimize import brentq


def damped_unit_step(s, lam: float, k_d: float):
    """``q(s)`` with ``q(0) = 1``, ``q'(0) = 0`` solving ``q'' + k_d q' + lam q = 0``."""
    s = np.asarray(s, float)
    w = np.sqrt(lam)
    zeta = k_d / (2 * w)
    if np.isclose(zeta, 1.0, rtol=1e-12, atol=0):
        return (1 + w * s) * np.exp(-w * s)
    if zeta > 1:
        q = np.sqrt(zeta * zeta - 1)
        r1, r2 = w * (zeta - q), w * (zeta + q)
        return (r2 * np.exp(-r1 * s) - r1 * np.exp(-r2 * s)) / (r2 - r1)
    wd = w * np.sqrt(1 - zeta * zeta)
    return np.exp(-zeta * w * s) * (np.cos(wd * s) + zeta * w / wd * np.sin(wd * s))


def linear_transient(H, x0, x_star, *, inertial=False, damping_ratio=1.0):
    """``dev(s) -> x(s) - x*`` (shape ``(len(s), n)``) of the free units, from rest."""
    lam, V = np.linalg.eigh(H)
    c = V.T @ (np.asarray(x0, float) - np.asarray(x_star, float))
    k_d = 2 * damping_ratio * np.sqrt(lam[0])

    def dev(s):
        s = np.atleast_1d(np.asarray(s, float))
        if inertial:
            modes = np.stack([damped_unit_step(s, lk, k_d) for lk in lam], axis=1)
        else:
            modes = np.exp(-np.outer(s, lam))
        return (modes * c) @ V.T

    return dev


def settling_time_exact(dev, s_max: float, band: float = 1e-3, n_grid: int = 200001):
    """SPEC settling time of ``dev`` (last exit from the band ``band * max|dev(0)|``),
    located on a fine grid and polished by ``brentq``."""
    thresh = band * np.abs(dev(0.0)).max()

    def excess(s):
        return float(np.abs(dev(s)).max()) - thresh

    grid = np.linspace(0.0, s_max, n_grid)
    vals = np.abs(dev(grid)).max(axis=1) - thresh
    above = np.flatnonzero(vals > 0)
    assert above.size and above[-1] < n_grid - 1, "s_max too short for the band"
    k = above[-1]
    return brentq(excess, grid[k], grid[k + 1], xtol=1e-14)


def state_gap(a, b) -> float:
    """``max |a_l - b_l|`` over every layer of two states (volts)."""
    return max(float(np.abs(u - v).max(initial=0.0)) for u, v in zip(a, b))


#: Tests that run the ngspice binary or library.
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")


def central_differences(f, y, h: float):
    """Jacobian ``df/dy`` of a vector function by central differences, column by column:
    ``(f(y + h e_k) - f(y - h e_k)) / 2h`` (the finite-difference oracle of every analytic
    Jacobian test)."""
    y = np.asarray(y, dtype=float)
    cols = []
    for k in range(y.size):
        e = np.zeros_like(y)
        e[k] = h
        cols.append((np.asarray(f(y + e)) - np.asarray(f(y - e))) / (2 * h))
    return np.stack(cols, axis=1)


def random_network(rng, sizes, act: str = "linear"):
    """A random layered network: weights N(0, 1/fan-in), biases N(0, 0.1^2), precisions
    U(0.5, 2), one activation throughout (the noise tests' random family)."""
    from pc_analog.model.network import Network

    W = tuple(
        rng.normal(0, 1 / np.sqrt(sizes[i]), (sizes[i + 1], sizes[i]))
        for i in range(len(sizes) - 1)
    )
    b = tuple(rng.normal(0, 0.1, s) for s in sizes[1:])
    pis = tuple(rng.uniform(0.5, 2.0, s) for s in sizes[1:])
    return Network(W, b, pis, (act,) * (len(sizes) - 1))


#: Family-wise false-alarm rate of every Bonferroni z-test of a sampled covariance.
Z_ALPHA = 1e-3


def z_scores(cov_hat, Sigma, N):
    """Per-entry z (upper triangle) of a sample covariance (ddof 1) of N independent
    Gaussian draws: Var(S_ij) = (Sigma_ij^2 + Sigma_ii Sigma_jj) / (N - 1)."""
    d = np.diag(Sigma)
    sd = np.sqrt((Sigma**2 + np.outer(d, d)) / (N - 1))
    iu = np.triu_indices(Sigma.shape[0])
    return ((cov_hat - Sigma) / sd)[iu]


def trace_z(cov_hat, Sigma, N):
    """z of the total variance: for N Gaussian draws ``Var(tr S) = 2 tr(Sigma^2) / (N-1)``
    exactly, one statistic for a scale error of the noise (a 10 % error is >= 4.5 sigma at
    N = 4000), unlike the mean of correlated per-entry z^2."""
    return (np.trace(cov_hat) - np.trace(Sigma)) / np.sqrt(2 * np.trace(Sigma @ Sigma) / (N - 1))
