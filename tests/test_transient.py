"""Reading a transient (:mod:`pc_analog.solvers.transient`) against hand-built
trajectories and closed forms.

Oracles:

- ``settling_time`` (SPEC section 4: the earliest ``t`` after which
  ``max_i |x_i(t') - x_i*| <= delta max_i |x_i(0) - x_i*|`` for every later ``t'``) on
  trajectories whose crossing is known in closed form: an exponential
  (``ln(1/delta)/rate``), a transient that leaves the band again late, one that never
  settles, one that starts settled, batches where another unit or sample is the slow one;
  linear interpolation between samples has the known error bound ``dt^2 |d''| / (8 |d'|)``;
- ``predicted_settling_tau``: the roots of ``s^2 + 2 zeta sqrt(lam) s + lam = 0``
  (RC: ``lam``; under/critically damped: ``zeta sqrt(lam)``; overdamped: the *slow*
  root ``sqrt(lam)(zeta - sqrt(zeta^2 - 1))``);
- the inertial ODE of one free unit against its exact solution (all three damping
  regimes), so the damping, the slow overdamped root and the time horizon the backend
  derives from it are all checked against physics, not against the code.
"""

from __future__ import annotations

import numpy as np
import pytest
from _tolerances import ODE_SETTLING_RTOL, ODE_TRAJ_RTOL, SETTLING_DENSE_RTOL
from scipy.optimize import brentq

import pc_analog as pa
from pc_analog.circuit.ir import compile_network
from pc_analog.solvers.ode import OdeBackend
from pc_analog.solvers.transient import deviation, predicted_settling_tau, settling_time

DELTA = 1e-3


def _col(d):
    """A scalar trajectory ``(n_t,)`` as ``(n_t, batch=1, n=1)``."""
    return np.asarray(d, float)[:, None, None]


# ------------------------------------------------------------------ settling_time
def test_exponential_crossing_with_dense_output_is_exact():
    rate = 0.7
    t = np.linspace(0.0, 20.0, 201)

    def dense(ts):
        return _col(np.exp(-rate * np.asarray(ts)))

    st = settling_time(t, dense(t), np.zeros((1, 1)), band=DELTA, dense=dense)
    assert st.shape == (1,)
    assert st[0] == pytest.approx(np.log(1 / DELTA) / rate, rel=SETTLING_DENSE_RTOL)


@pytest.mark.parametrize("dt", [0.1, 0.03, 0.01])
def test_exponential_crossing_by_linear_interpolation_within_its_error_bound(dt):
    """Linear interpolation of a convex deviation crosses late by at most
    ``dt^2 |d''| / (8 |d'|)`` at the crossing: ``dt^2 rate / 8`` for ``exp(-rate t)``."""
    rate = 1.3
    t = np.arange(0.0, 12.0 + dt / 2, dt)
    x_star = np.array([[0.25]])
    traj = x_star[None] + _col(-2.0 * np.exp(-rate * t))  # approach from below
    st = settling_time(t, traj, x_star, band=DELTA)[0]
    exact = np.log(1 / DELTA) / rate
    bound = dt**2 * rate / 8
    assert 0.0 <= st - exact <= 1.01 * bound
    # and to leading order exactly theta (1 - theta) dt^2 rate / 2, theta the crossing's
    # position inside its sampling interval: the interpolation is linear, nothing else
    theta = (exact - t[0]) / dt % 1.0
    assert st - exact == pytest.approx(theta * (1 - theta) * dt**2 * rate / 2, rel=2 * dt * rate)


def test_a_transient_that_leaves_the_band_late_settles_after_its_last_exit():
    """Under the band from t = 6.9, out again in a bump around t = 15: the settling time
    is the bump's last exit, not the first entry."""
    t = np.linspace(0.0, 30.0, 3001)
    bump = 5e-3 * np.exp(-((t - 15.0) ** 2))
    d = np.exp(-t) + bump
    dev_fn = lambda ts: np.exp(-ts) + 5e-3 * np.exp(-((ts - 15.0) ** 2))  # noqa: E731
    thresh = DELTA * dev_fn(0.0)
    exact = brentq(lambda s: dev_fn(s) - thresh, 15.0, 20.0, xtol=1e-14)
    first = brentq(lambda s: dev_fn(s) - thresh, 5.0, 8.0, xtol=1e-14)
    st = settling_time(t, _col(d), np.zeros((1, 1)), band=DELTA)[0]
    assert st > 15.0 and first < 8.0
    assert st == pytest.approx(exact, abs=(t[1] - t[0]) ** 2)
    st_dense = settling_time(
        t, _col(d), np.zeros((1, 1)), band=DELTA, dense=lambda ts: _col(dev_fn(np.asarray(ts)))
    )[0]
    assert st_dense == pytest.approx(exact, rel=SETTLING_DENSE_RTOL)


def test_an_oscillation_settles_when_its_envelope_does():
    """``cos(w t) exp(-a t)`` re-crosses the band every half period; the settling time is
    the last crossing of the band by ``|x|``, found between samples by the dense output."""
    a, w = 0.3, 2.0
    f = lambda ts: np.cos(w * np.asarray(ts)) * np.exp(-a * np.asarray(ts))  # noqa: E731
    t = np.linspace(0.0, 40.0, 401)
    st = settling_time(t, _col(f(t)), np.zeros((1, 1)), band=DELTA, dense=lambda s: _col(f(s)))
    # exact: scan finely for the last point above the band, then brentq
    grid = np.linspace(0.0, 40.0, 400001)
    k = np.flatnonzero(np.abs(f(grid)) > DELTA)[-1]
    exact = brentq(lambda s: abs(f(s)) - DELTA, grid[k], grid[k + 1], xtol=1e-14)
    assert exact > np.log(1 / DELTA) / a - np.pi / w  # the envelope bound, one half period
    assert st[0] == pytest.approx(exact, rel=SETTLING_DENSE_RTOL)


def test_never_settles_gives_nan_and_already_settled_gives_zero():
    t = np.linspace(0.0, 5.0, 51)
    slow = _col(np.exp(-0.1 * t))  # at t = 5 still at 0.6 of the start
    assert np.isnan(settling_time(t, slow, np.zeros((1, 1)), band=DELTA)[0])
    const = np.full((t.size, 1, 2), 0.3)  # starts at x*: nothing to settle
    assert settling_time(t, const, np.full((1, 2), 0.3), band=DELTA)[0] == 0.0
    # inside the band by the first sample: the crossing lies in the first interval
    fast = _col(np.exp(-100.0 * t))
    st = settling_time(t, fast, np.zeros((1, 1)), band=DELTA)[0]
    assert 0.0 < st <= t[1]


def test_batch_and_units_the_slowest_unit_of_each_sample_decides():
    rates = np.array([[1.0, 0.5], [2.0, 3.0], [0.25, 4.0]])  # (batch, n)
    amp = np.array([[1.0, 1.0], [1.0, -2.0], [0.5, 1.0]])
    t = np.linspace(0.0, 60.0, 601)

    def dense(ts):
        ts = np.asarray(ts)[:, None, None]
        return amp[None] * np.exp(-rates[None] * ts)

    x_star = np.zeros((3, 2))
    st = settling_time(t, dense(t), x_star, band=DELTA, dense=dense)
    assert st.shape == (3,)
    # exact per sample: the last time max_i |amp_i| e^{-r_i t} exceeds delta max_i |amp_i|
    for b in range(3):
        thresh = DELTA * np.abs(amp[b]).max()
        exact = max(np.log(abs(amp[b, i]) / thresh) / rates[b, i] for i in range(2))
        assert st[b] == pytest.approx(exact, rel=SETTLING_DENSE_RTOL)
    # deviation is the max over units, per time and sample
    dv = deviation(dense(t), x_star)
    assert dv.shape == (t.size, 3)
    np.testing.assert_array_equal(dv, np.abs(dense(t)).max(axis=2))
    assert deviation(np.zeros((4, 3, 0)), np.zeros((3, 0))).shape == (4, 3)


def test_settling_time_is_invariant_to_the_scale_and_sign_of_the_step():
    t = np.linspace(0.0, 15.0, 301)
    base = _col(np.exp(-t) * (1 + 0.3 * np.sin(3 * t)))
    ref = settling_time(t, base, np.zeros((1, 1)), band=DELTA)
    for c, off in ((1e-6, 0.0), (-3.0, 2.0), (1e4, -1.0)):
        got = settling_time(t, off + c * base, np.full((1, 1), off), band=DELTA)
        np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_band_must_be_a_fraction():
    t = np.linspace(0, 1, 3)
    for band in (0.0, 1.0, -0.1, 2.0):
        with pytest.raises(pa.InvalidInputError, match="band"):
            settling_time(t, _col(t), np.zeros((1, 1)), band=band)


# ----------------------------------------------------- predicted_settling_tau
def _roots(lam, zeta):
    """Decay rates (positive) of s^2 + 2 zeta sqrt(lam) s + lam = 0, slow one first."""
    r = np.roots([1.0, 2 * zeta * np.sqrt(lam), lam])
    return np.sort(-r.real)


@pytest.mark.parametrize("lam", [0.05, 1.0, 7.0])
def test_predicted_settling_tau_is_log_band_over_the_slowest_decay_rate(lam):
    assert predicted_settling_tau(lam, DELTA) == pytest.approx(np.log(1 / DELTA) / lam, rel=1e-14)
    for zeta in (0.2, 0.7, 1.0, 1.01, 1.5, 3.0, 10.0):
        slow = _roots(lam, zeta)[0]  # for zeta <= 1 both roots share the real part
        got = predicted_settling_tau(lam, DELTA, inertial=True, damping_ratio=zeta)
        assert got == pytest.approx(np.log(1 / DELTA) / slow, rel=1e-6)
    # overdamping slows settling down: the slow root -> lam / (2 zeta sqrt(lam))
    big = predicted_settling_tau(lam, DELTA, inertial=True, damping_ratio=100.0)
    assert big == pytest.approx(np.log(1 / DELTA) * 2 * 100.0 / np.sqrt(lam), rel=1e-4)
    # continuous at critical damping
    below = predicted_settling_tau(lam, DELTA, inertial=True, damping_ratio=1 - 1e-9)
    above = predicted_settling_tau(lam, DELTA, inertial=True, damping_ratio=1 + 1e-9)
    assert above == pytest.approx(below, rel=1e-4)


# ------------------------------------------------ one free unit, exact solution
# x1 between a clamped input (1.0, w = 1, pi = 1) and a clamped output (-0.4, w = 0.5,
# pi = 2): lambda = 1 + 2 * 0.25 = 1.5, x* = (1 - 2 * 0.5 * 0.4) / 1.5 = 0.4, and the
# feedforward start x(0) = 1.0.
LAM, X_STAR, X0 = 1.5, 0.4, 1.0


def _one_mode_circuit():
    net = pa.Network(
        (np.eye(1), np.array([[0.5]])),
        (np.zeros(1), np.zeros(1)),
        (1.0, 2.0),
        ("linear", "linear"),
    )
    return compile_network(net, [[1.0]], [[-0.4]])


def _exact_unit_step(s, zeta, lam=LAM):
    """``g(s)`` with ``g(0) = 1, g'(0) = 0`` solving ``g'' + 2 zeta w g' + w^2 g = 0``."""
    w = np.sqrt(lam)
    s = np.asarray(s, float)
    if zeta > 1:
        q = np.sqrt(zeta * zeta - 1)
        r1, r2 = w * (zeta - q), w * (zeta + q)
        return (r2 * np.exp(-r1 * s) - r1 * np.exp(-r2 * s)) / (r2 - r1)
    if zeta == 1:
        return (1 + w * s) * np.exp(-w * s)
    wd = w * np.sqrt(1 - zeta * zeta)
    return np.exp(-zeta * w * s) * (np.cos(wd * s) + zeta * w / wd * np.sin(wd * s))


def _exact_settling(zeta):
    grid = np.linspace(0.0, 2000.0, 400001)
    k = np.flatnonzero(np.abs(_exact_unit_step(grid, zeta)) > DELTA)[-1]
    return brentq(
        lambda s: abs(_exact_unit_step(s, zeta)) - DELTA, grid[k], grid[k + 1], xtol=1e-14
    )


@pytest.mark.parametrize("zeta", [0.3, 1.0, 1.5, 4.0, 10.0])
def test_inertial_one_mode_follows_the_exact_solution(zeta):
    circ = _one_mode_circuit()
    res = OdeBackend(inertial=True, damping_ratio=zeta, t_eval_points=2001).settle(circ)
    assert res.success, res.message
    assert res.x_eq[1][0, 0] == pytest.approx(X_STAR, rel=1e-12)
    s = res.t / circ.tau_s
    x = res.trajectory[1][:, 0, 0]
    exact = X_STAR + (X0 - X_STAR) * _exact_unit_step(s, zeta)
    assert np.abs(x - exact).max() <= ODE_TRAJ_RTOL * abs(X0 - X_STAR)
    s_settle = _exact_settling(zeta)
    assert res.settling_time_s[0] / circ.tau_s == pytest.approx(s_settle, rel=ODE_SETTLING_RTOL)
    # the damping the backend chose: gamma = 2 zeta sqrt(m g0 lambda), m = C tau
    hw = circ.hardware
    m = hw.c_F * circ.tau_s
    assert res.stats["mass_Fs"] == pytest.approx(m, rel=1e-12)
    assert res.stats["damping_F"] == pytest.approx(2 * zeta * np.sqrt(m * hw.g0_S * LAM), rel=1e-9)


@pytest.mark.parametrize("zeta", [1.5, 4.0, 10.0])
def test_overdamped_decay_rate_is_the_slow_root(zeta):
    """Late in the transient only the slow root is left: the measured log-slope of the
    deviation is ``sqrt(lam)(zeta - sqrt(zeta^2 - 1))`` and the one-mode prediction
    misses the exact settling time only by the mode's amplitude factor
    ``ln(r2 / (r2 - r1)) / r1``."""
    circ = _one_mode_circuit()
    res = OdeBackend(
        inertial=True, damping_ratio=zeta, t_eval_points=4001, rtol=1e-11, atol=1e-14
    ).settle(circ)
    s = res.t / circ.tau_s
    dev = np.abs(res.trajectory[1][:, 0, 0] - X_STAR) / abs(X0 - X_STAR)
    late = (dev < 1e-1) & (dev > 1e-4)
    slope = np.polyfit(s[late], np.log(dev[late]), 1)[0]
    r1, r2 = _roots(LAM, zeta)
    assert -slope == pytest.approx(r1, rel=1e-3)
    assert not -slope == pytest.approx(r2, rel=0.5)
    pred = predicted_settling_tau(LAM, DELTA, inertial=True, damping_ratio=zeta)
    offset = np.log(r2 / (r2 - r1)) / r1
    assert _exact_settling(zeta) == pytest.approx(pred + offset, rel=1e-3)
    assert res.settling_time_s[0] / circ.tau_s == pytest.approx(pred + offset, rel=1e-3)
