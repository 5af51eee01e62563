"""Reading a transient: the settling time of SPEC section 4.

The settling time is the earliest ``t`` after which
``max_i |x_i(t') - x_i*| <= delta * max_i |x_i(0) - x_i*|`` for all later ``t'``
(``delta = 1e-3`` by default), with ``x*`` the equilibrium.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = ["SETTLE_BAND_DEFAULT", "settling_time", "deviation", "predicted_settling_tau"]

SETTLE_BAND_DEFAULT = 1e-3


#: Bisection on the last band crossing: steps at most, and the relative width that ends it
#: (shared with the batched refinement of ``_dense_settling``, which must equal this one).
BISECT_MAX, BISECT_RTOL = 60, 1e-12


def deviation(traj: np.ndarray, x_star: np.ndarray) -> np.ndarray:
    """``max_i |x_i(t) - x_i*|`` per time point and sample.

    Parameters
    ----------
    traj : ndarray, shape (n_t, batch, n)
    x_star : ndarray, shape (batch, n)

    Returns
    -------
    ndarray, shape (n_t, batch)
    """
    if traj.shape[2] == 0:
        return np.zeros(traj.shape[:2])
    return np.abs(traj - x_star[None]).max(axis=2)


def settling_time(
    t: np.ndarray,
    traj: np.ndarray,
    x_star: np.ndarray,
    *,
    band: float = SETTLE_BAND_DEFAULT,
    dense: Callable[[np.ndarray], np.ndarray] | None = None,
    refine_points: int = 64,
) -> np.ndarray:
    """Per-sample settling time from a sampled transient.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
        Increasing time points (seconds), ``t[0]`` the start.
    traj : ndarray, shape (n_t, batch, n)
        Free-unit voltages at ``t``.
    x_star : ndarray, shape (batch, n)
        The equilibrium.
    band : float
        ``delta``.
    dense : callable, optional
        ``dense(ts) -> (len(ts), batch, n)``, an interpolant of the trajectory
        (e.g. an ODE solver's dense output).  With it, the last exit from the
        band is located between samples by a fine grid and bisection; without
        it, by linear interpolation of the deviation between samples.
    refine_points : int
        Grid points per interval when refining with ``dense``.

    Returns
    -------
    ndarray, shape (batch,)
        Settling times; ``nan`` where the transient never enters the band for good
        (it ended outside the band).  Zero where the start is already at ``x*``.
    """
    if not 0 < band < 1:
        raise InvalidInputError("settle band: must be between 0 and 1")
    d = deviation(traj, x_star)  # (n_t, batch)
    thresh = band * d[0]
    out = np.zeros(d.shape[1])
    for b in range(d.shape[1]):
        if d[0, b] == 0.0:
            continue
        above = np.flatnonzero(d[:, b] > thresh[b])
        if above.size == 0:
            continue
        k = above[-1]
        if k == d.shape[0] - 1:
            out[b] = np.nan
            continue
        t0, t1 = t[k], t[k + 1]
        if dense is None:
            d0, d1 = d[k, b], d[k + 1, b]
            out[b] = t0 + (t1 - t0) * (d0 - thresh[b]) / (d0 - d1)
            continue

        def dev(ts, b=b):
            return deviation(dense(np.atleast_1d(ts))[:, b : b + 1], x_star[b : b + 1])[:, 0]

        grid = np.linspace(t0, t1, refine_points + 1)
        dg = dev(grid)
        above = np.flatnonzero(dg > thresh[b])
        j = above[-1] if above.size else 0
        lo, hi = grid[j], grid[min(j + 1, refine_points)]
        for _ in range(BISECT_MAX):  # bisection on the last crossing
            mid = 0.5 * (lo + hi)
            if dev(mid)[0] > thresh[b]:
                lo = mid
            else:
                hi = mid
            if hi - lo <= BISECT_RTOL * max(abs(hi), 1e-300):
                break
        out[b] = hi
    return out


def predicted_settling_tau(
    lambda_min: float, band: float = 1e-3, *, inertial: bool = False, damping_ratio: float = 1.0
) -> float:
    """The one-mode (spectral) settling time in units of ``tau``: ``ln(1/band) / rate``.

    ``rate = lambda_min`` for RC dynamics.  For inertial dynamics with the default
    mass ``C tau`` the slowest mode ``s^2 + 2 zeta sqrt(lam) s + lam = 0`` decays at
    ``rate = zeta sqrt(lam)`` (``zeta <= 1``) or
    ``sqrt(lam) (zeta - sqrt(zeta^2 - 1))`` (``zeta > 1``).
    """
    if not inertial:
        rate = lambda_min
    elif damping_ratio <= 1:
        rate = damping_ratio * np.sqrt(lambda_min)
    else:
        z = damping_ratio
        rate = np.sqrt(lambda_min) * (z - np.sqrt(z * z - 1))
    return float(np.log(1 / band) / rate)
