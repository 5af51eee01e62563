"""Settling times of a whole batch at once from a DOP853 dense output.

:func:`pc_analog.solvers.transient.settling_time` refines each sample's last exit from
the band on its own (a 65-point grid, then up to 60 bisection steps, each one call of
the dense output).  On a batch of 256 that is ~8000 small interpolant calls, more than
the integration itself.  :func:`batched_settling_time` runs the same algorithm for every
sample in lockstep: one grid evaluation for the batch, then one evaluation per
bisection step for the samples still bisecting.

The result is bit-identical to the per-sample path: the DOP853 interpolant
(:class:`scipy.integrate._ivp.rk.Dop853DenseOutput`) is evaluated with the same
elementwise operations in the same order,

    x = (s - s_old) / h,   y = 0;  for f in reversed(F): y += f; y *= (x or 1 - x);  y += y_old

only gathered per sample (each sample's columns at its own times), and the grid, the
bisection and its stopping rule are the same arithmetic.  ``tests/test_ode_speed.py``
checks the equality against the per-sample path.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import DOP853
from scipy.integrate._ivp import dop853_coefficients
from scipy.integrate._ivp.base import DenseOutput
from scipy.integrate._ivp.rk import Dop853DenseOutput

from pc_analog.solvers.transient import BISECT_MAX, BISECT_RTOL, deviation

__all__ = ["LazyDOP853", "dop853_stack", "batched_settling_time", "solver_nfev"]


class _LazyDop853Output(DenseOutput):
    """DOP853's dense output of one step, computed on first use.

    Holds the step's stages (a copy of ``K``) and runs the same arithmetic as
    ``DOP853._dense_output_impl`` (three extra right-hand-side calls) only when the
    interpolant is evaluated, so that the steps no settling time falls in cost nothing.
    """

    def __init__(self, solver, K, h, t_old, t, y_old, y, f):
        super().__init__(t_old, t)
        self.solver, self._K, self._h = solver, K, h
        self._y_old, self._y, self._f = y_old, y, f
        self._real = None

    def real(self) -> Dop853DenseOutput:
        if self._real is None:
            sv, h = self.solver, self._h
            K = np.empty_like(sv.K_extended)
            K[: self._K.shape[0]] = self._K
            for s, (a, c) in enumerate(zip(sv.A_EXTRA, sv.C_EXTRA), start=sv.n_stages + 1):
                dy = np.dot(K[:s].T, a[:s]) * h
                K[s] = sv.fun(self.t_old + c * h, self._y_old + dy)
            F = np.empty((dop853_coefficients.INTERPOLATOR_POWER, sv.n), dtype=self._y_old.dtype)
            f_old = K[0]
            delta_y = self._y - self._y_old
            F[0] = delta_y
            F[1] = h * f_old - delta_y
            F[2] = 2 * delta_y - h * (self._f + f_old)
            F[3:] = h * np.dot(sv.D, K)
            self._real = Dop853DenseOutput(self.t_old, self.t, self._y_old, F)
            self._K = None
        return self._real

    def _call_impl(self, t):
        return self.real()._call_impl(t)


class LazyDOP853(DOP853):
    """:class:`scipy.integrate.DOP853` whose per-step dense output is computed on demand.

    ``solve_ivp(..., dense_output=True)`` asks every step for its interpolant, which costs
    DOP853 three more right-hand-side calls per step; here a step's interpolant is
    built (bit-identically) only when evaluated: by the stop event's root search, the
    settling-time refinement or a ``t_eval`` grid.  ``nfev`` counts those calls when
    they happen (read it after the interpolants are used).
    """

    def dense_output(self):
        if self.t == self.t_old:
            return super().dense_output()
        K = self.K_extended[: self.n_stages + 1].copy()
        return _LazyDop853Output(
            self, K, self.h_previous, self.t_old, self.t, self.y_old, self.y, self.f
        )


def solver_nfev(dense_sol) -> int | None:
    """The :class:`LazyDOP853` solver's ``nfev`` now (its interpolants used so far
    included), or None if ``dense_sol`` is not a lazy run's."""
    for p in getattr(dense_sol, "interpolants", ()):
        if isinstance(p, _LazyDop853Output):
            return int(p.solver.nfev)
    return None


def _interp(p) -> Dop853DenseOutput:
    return p.real() if isinstance(p, _LazyDop853Output) else p


def dop853_stack(dense_sol, batch: int, n: int):
    """Segment access for the batched refinement, or None if a segment is not DOP853.

    Returns ``(ts_sorted, side, interpolants, batch, n)``; the segments' coefficients
    are gathered by :func:`_segments` for the segments a refinement touches only.
    """
    interps = dense_sol.interpolants
    dop = (Dop853DenseOutput, _LazyDop853Output)
    if not interps or not all(isinstance(p, dop) for p in interps):
        return None
    return dense_sol.ts_sorted, dense_sol.side, interps, batch, n


def _segment_of(stack, s: np.ndarray) -> np.ndarray:
    ts_sorted, side, interps = stack[:3]
    return np.clip(np.searchsorted(ts_sorted, s, side=side) - 1, 0, len(interps) - 1)


def _segments(stack, used: np.ndarray):
    """``(slot, t_old, h, F (U, K, batch, n), y_old (U, batch, n))`` of segments ``used``."""
    interps, batch, n = stack[2], stack[3], stack[4]
    N = batch * n
    ps = [_interp(interps[k]) for k in used]
    slot = np.full(len(interps), -1)
    slot[used] = np.arange(used.size)
    F = np.stack([np.asarray(p.F)[:, :N] for p in ps]).reshape(used.size, -1, batch, n)
    y_old = np.stack([p.y_old[:N] for p in ps]).reshape(used.size, batch, n)
    t_old = np.array([p.t_old for p in ps])
    h = np.array([p.h for p in ps])
    return slot, t_old, h, F, y_old


def _evaluate(stack, segs, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """States of samples ``b`` (shape ``(R,)``) at solver times ``s`` ``(R, m)``: ``(R, m, n)``."""
    slot, t_old, h, F, y_old = segs
    seg = slot[_segment_of(stack, s)]
    x = ((s - t_old[seg]) / h[seg])[:, :, None]
    bb = b[:, None]
    y = np.zeros(s.shape + (F.shape[-1],))
    if np.all(seg == seg[:, :1]):  # one segment per sample: gather its coefficients once
        Fb = F[seg[:, 0], :, b][:, None]  # (R, 1, K, n)
        for i in range(F.shape[1]):
            y += Fb[:, :, F.shape[1] - 1 - i]
            if i % 2 == 0:
                y *= x
            else:
                y *= 1 - x
        y += y_old[seg[:, 0], b][:, None]
        return y
    for i in range(F.shape[1]):
        y += F[seg, F.shape[1] - 1 - i, bb]
        if i % 2 == 0:
            y *= x
        else:
            y *= 1 - x
    y += y_old[seg, bb]
    return y


def batched_settling_time(
    t: np.ndarray,
    traj: np.ndarray,
    x_star: np.ndarray,
    stack,
    tau: float,
    band: float,
    refine_points: int = 64,
) -> np.ndarray:
    """:func:`~pc_analog.solvers.transient.settling_time` with the dense output ``stack``.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
        Physical times (s) of the samples ``traj``; the solver's time is ``t / tau``.
    traj : ndarray, shape (n_t, batch, n)
    x_star : ndarray, shape (batch, n)
    stack : tuple
        :func:`dop853_stack` of the run's dense output.
    tau, band, refine_points : as in ``settling_time``.

    Returns
    -------
    ndarray, shape (batch,)
        Equal, bit for bit, to ``settling_time`` with a per-sample dense output.
    """
    d = deviation(traj, x_star)
    thresh = band * d[0]
    out = np.zeros(d.shape[1])
    above = d > thresh[None]
    has = above.any(axis=0) & (d[0] != 0.0)
    last = d.shape[0] - 1 - np.argmax(above[::-1], axis=0)  # last index above the band
    out[has & (last == d.shape[0] - 1)] = np.nan
    b = np.flatnonzero(has & (last < d.shape[0] - 1))
    if b.size == 0:
        return out
    k = last[b]
    xs, th = x_star[b], thresh[b]

    # the segments the refinement can touch: those spanning [t_k, t_{k+1}]
    lo_seg, hi_seg = _segment_of(stack, t[k] / tau), _segment_of(stack, t[k + 1] / tau)
    used = np.unique(np.concatenate([np.arange(a, c + 1) for a, c in zip(lo_seg, hi_seg)]))
    segs = _segments(stack, used)

    def dev(ts):  # (R, m) physical times -> (R, m) deviations of samples b
        y = _evaluate(stack, segs, b_now, np.asarray(ts) / tau)
        return np.abs(y - xs_now[:, None]).max(axis=2)

    b_now, xs_now = b, xs
    grid = np.linspace(t[k], t[k + 1], refine_points + 1, axis=1)  # (R, m)
    # the last grid point (t_{k+1}) may lie in the next segment: evaluated on its own
    ga = np.concatenate([dev(grid[:, :-1]), dev(grid[:, -1:])], axis=1) > th[:, None]
    j = np.where(ga.any(axis=1), refine_points - np.argmax(ga[:, ::-1], axis=1), 0)
    rows = np.arange(b.size)
    lo, hi = grid[rows, j], grid[rows, np.minimum(j + 1, refine_points)]
    active = np.ones(b.size, dtype=bool)
    for _ in range(BISECT_MAX):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        b_now, xs_now = b[idx], xs[idx]
        mid = 0.5 * (lo[idx] + hi[idx])
        up = dev(mid[:, None])[:, 0] > th[idx]
        lo[idx] = np.where(up, mid, lo[idx])
        hi[idx] = np.where(up, hi[idx], mid)
        done = hi[idx] - lo[idx] <= BISECT_RTOL * np.maximum(np.abs(hi[idx]), 1e-300)
        active[idx[done]] = False
    out[b] = hi
    return out
