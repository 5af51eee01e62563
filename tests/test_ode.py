"""The ode backend against analytic solutions, the equilibrium solver and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import eigh
from scipy.optimize import brentq

import pc_analog as pa
from pc_analog.circuit.ir import (
    Circuit,
    CircuitLayer,
    DifferentialPair,
    Hardware,
    compile_network,
)
from pc_analog.solvers.ode import OdeBackend, slowest_mode

# Tolerances named once: the ODE runs at rtol 1e-10 for the analytic comparisons.
TRANSIENT_RTOL = 1e-6  # issue: transient vs expm(-H t / tau), relative to |x0 - x*|
SETTLING_RTOL = 1e-7  # vs the exact solution (issue: 1 %); measured 5.3e-10 at rtol 1e-10
AGREE_RTOL = 1e-6  # backends agree relative to max |x|


def _rel(a, b):
    num = max(np.abs(u - v).max() for u, v in zip(a, b))
    den = max(np.abs(v).max() for v in b)
    return num / den


def test_single_rc_node_decays_as_exp_minus_t_over_tau():
    hw = Hardware(c_F=2e-12, g0_S=1e-6, g_unit_S=1e-5)
    pi = 1.5
    layer = CircuitLayer(
        forward=DifferentialPair.ideal(np.zeros((1, 1)), hw.g_unit_S),
        feedback=DifferentialPair.ideal(np.zeros((1, 1)), hw.g_unit_S),
        bias=DifferentialPair.ideal(np.zeros(1), hw.g_unit_S),
        g_spring_S=np.array([pi * hw.g0_S]),
        activation="linear",
    )
    clamp = pa.Clamp((np.array([True]), np.array([False])))
    v0 = 0.8
    circ = Circuit(hw, (layer,), clamp, (np.zeros((1, 1)), np.full((1, 1), v0)))
    res = OdeBackend(rtol=1e-11, atol=1e-14).settle(circ)
    assert res.success
    tau_eff = hw.c_F / (pi * hw.g0_S)
    exact = v0 * np.exp(-res.t / tau_eff)
    np.testing.assert_allclose(res.trajectory[1][:, 0, 0], exact, rtol=0, atol=1e-8 * v0)
    # Settling to delta = 1e-3 of a single exponential takes ln(1000) time constants.
    assert res.settling_time_s[0] == pytest.approx(np.log(1e3) * tau_eff, rel=1e-6)
    assert res.tau_s == pytest.approx(2e-6)


def _exact_linear(circ, x_eq):
    """x(t) = x* + expm(-H t / tau)(x0 - x*) via the eigendecomposition of H."""
    free = np.concatenate(circ.clamp.free)
    H = pa.dense_hessian(circ.network(), circ.x_init)[:, free][:, :, free]
    X0 = np.concatenate(circ.x_init, axis=1)[:, free]
    Xs = np.concatenate(x_eq, axis=1)[:, free]
    parts = []
    for b in range(circ.batch):
        w, V = eigh(H[b])
        c = V.T @ (X0[b] - Xs[b])
        parts.append((w, V, c, Xs[b], X0[b]))

    def at(b, t):
        w, V, c, xs, _ = parts[b]
        return xs + V @ (np.exp(-w * t / circ.tau_s) * c)

    return at, parts, free


@pytest.mark.parametrize("method", ["LSODA", "Radau", "BDF", "DOP853"])
def test_linear_transient_matches_matrix_exponential(method):
    net = pa.Network.random([3, 5, 4, 2], "linear", precisions=[1.0, [0.5, 1, 2, 3], 0.7], seed=2)
    rng = np.random.default_rng(2)
    circ = compile_network(net, rng.normal(size=(3, 3)), rng.normal(size=(3, 2)))
    res = OdeBackend(method=method, rtol=1e-10, atol=1e-13).settle(circ)
    assert res.success
    at, parts, free = _exact_linear(circ, res.x_eq)
    traj = np.concatenate(res.trajectory, axis=2)[:, :, free]
    for b in range(circ.batch):
        scale = np.abs(parts[b][4] - parts[b][3]).max()
        for k in range(0, res.t.size, max(1, res.t.size // 200)):
            err = np.abs(traj[k, b] - at(b, res.t[k])).max() / scale
            assert err <= TRANSIENT_RTOL, (b, k, err)


def test_linear_settling_time_matches_exact_solution():
    net = pa.Network.random([2, 6, 6, 3], "linear", precisions=[1.0, 2.0, 0.5], seed=4)
    rng = np.random.default_rng(4)
    circ = compile_network(net, rng.normal(size=(2, 2)), rng.normal(size=(2, 3)))
    res = OdeBackend(rtol=1e-10, atol=1e-13).settle(circ)
    at, parts, _ = _exact_linear(circ, res.x_eq)
    for b in range(circ.batch):
        xs, x0 = parts[b][3], parts[b][4]
        band = 1e-3 * np.abs(x0 - xs).max()

        def excess(t, b=b, xs=xs, band=band):
            return np.abs(at(b, t) - xs).max() - band

        grid = np.linspace(0, 200 * circ.tau_s, 40001)
        vals = np.array([excess(t) for t in grid])
        k = np.flatnonzero(vals > 0)[-1]
        t_exact = brentq(excess, grid[k], grid[k + 1], xtol=1e-15)
        assert res.settling_time_s[b] == pytest.approx(t_exact, rel=SETTLING_RTOL)
        # and far tighter than the 1% the issue asks for:
        assert res.settling_time_s[b] == pytest.approx(t_exact, rel=1e-5)


def test_settling_time_vs_spectral_prediction():
    """For a single dominant slow mode the settling time is ln(c/delta)/lambda_min tau."""
    L = 8
    net = pa.Network(
        tuple(np.eye(1) for _ in range(L)),
        tuple(np.zeros(1) for _ in range(L)),
        tuple(1.0 for _ in range(L)),
        tuple("linear" for _ in range(L)),
    )
    circ = compile_network(net, np.ones((1, 1)), np.zeros((1, 1)))
    lam = slowest_mode(circ, circ.x_init)[0]
    # Chain with L-1 free nodes between two clamps: lambda_min = 4 sin^2(pi / (2L)).
    assert lam == pytest.approx(4 * np.sin(np.pi / (2 * L)) ** 2, rel=1e-12)
    res = OdeBackend(rtol=1e-10, atol=1e-13).settle(circ)
    t_pred = np.log(1e3) / lam * circ.tau_s
    # The slowest mode dominates but is not alone: within 30 % of the one-mode estimate.
    assert res.settling_time_s[0] == pytest.approx(t_pred, rel=0.3)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "linear", "softplus"])
@pytest.mark.parametrize("with_target", [True, False])
def test_ode_agrees_with_equilibrium_and_energy_never_rises(act, with_target):
    rng = np.random.default_rng(11)
    net = pa.Network.random(
        [4, 6, 5, 3], act, precisions=[1.0, rng.uniform(0.5, 2, 5), 0.8], seed=12, gain=1.4
    )
    x0 = rng.normal(size=(3, 4))
    y = rng.normal(size=(3, 3)) if with_target else None
    r_ode = pa.settle(net, x0, y, backend="ode")
    r_eq = pa.settle(net, x0, y, backend="equilibrium")
    assert r_ode.success and r_eq.success
    assert _rel(r_ode.x, r_eq.x) <= AGREE_RTOL
    # Energy never rises along the RC flow (an invariant of gradient flows).
    de = np.diff(r_ode.energy_trace, axis=0)
    assert np.all(de <= 1e-12 * (1 + r_ode.energy_trace[:-1]))


def test_ode_with_clamps_in_the_middle_agrees_with_equilibrium():
    rng = np.random.default_rng(13)
    net = pa.Network.random([3, 5, 5, 2], "tanh", precisions=[1.0, 2.0, 0.5], seed=14)
    clamp = pa.Clamp(
        (np.ones(3, bool), np.array([0, 1, 0, 1, 0], bool), np.zeros(5, bool), np.ones(2, bool))
    )
    values = tuple(rng.normal(size=(2, n)) for n in net.sizes)
    r_ode = pa.settle(net, clamp=clamp, values=values, backend="ode")
    r_eq = pa.settle(net, clamp=clamp, values=values, backend="equilibrium")
    assert _rel(r_ode.x, r_eq.x) <= AGREE_RTOL


def test_inertial_dynamics_settle_to_the_same_point_and_beat_rc_on_a_deep_chain():
    L = 16
    net = pa.Network(
        tuple(np.eye(1) for _ in range(L)),
        tuple(np.zeros(1) for _ in range(L)),
        tuple(1.0 for _ in range(L)),
        tuple("linear" for _ in range(L)),
    )
    circ = compile_network(net, np.ones((1, 1)), np.zeros((1, 1)))
    rc = OdeBackend().settle(circ)
    crit = OdeBackend(inertial=True, damping_ratio=1.0).settle(circ)
    assert rc.success and crit.success
    assert _rel(crit.x, rc.x_eq) <= AGREE_RTOL
    # RC settling ~ 1/lambda_min ~ L^2; critically damped ~ 1/sqrt(lambda_min) ~ L.
    assert crit.settling_time_s[0] < rc.settling_time_s[0] / 3


def test_asymmetric_feedback_runs_in_ode_and_is_refused_by_gradient_backends():
    net = pa.Network.random([3, 4, 2], "tanh", seed=3)
    circ = compile_network(net, np.ones((1, 3)), np.zeros((1, 2)))
    layers = list(circ.layers)
    fb = layers[1].feedback
    layers[1] = CircuitLayer(
        layers[1].forward,
        DifferentialPair(fb.g_pos_S * 1.1, fb.g_neg_S),
        layers[1].bias,
        layers[1].g_spring_S,
        layers[1].activation,
    )
    skew = Circuit(circ.hardware, tuple(layers), circ.clamp, circ.x_init)
    assert not skew.symmetric
    res = OdeBackend(on_failure="raise").settle(skew)
    assert res.grad_max[0] < 1e-6  # the node currents vanish at its rest point
    # No equilibrium is known in advance here: the vector-field event must stop the run
    # long before the default horizon (100 ln(1/delta)/lambda_min time constants).
    assert res.success and res.stats["t_end_s"] < 100 * skew.tau_s
    with pytest.raises(pa.InvalidInputError, match="feedback"):
        pa.settle(skew, backend="equilibrium")


def test_ode_backend_rejects_bad_options():
    with pytest.raises(pa.InvalidInputError):
        OdeBackend(method="Euler")
    with pytest.raises(pa.InvalidInputError):
        OdeBackend(settle_band=1.5)
    with pytest.raises(pa.InvalidInputError):
        OdeBackend(mass_Fs=-1.0)


# ---------------------------------------------------------------- structured BDF (issue 16)
def _tanh_batch(seed=21, batch=6):
    net = pa.Network.random([5, 9, 7, 3], "tanh", gain=1.5, seed=seed)
    rng = np.random.default_rng(seed)
    return compile_network(net, rng.normal(size=(batch, 5)), 0.5 * rng.normal(size=(batch, 3)))


def _skewed(circ):
    layers = list(circ.layers)
    fb = layers[1].feedback
    layers[1] = CircuitLayer(
        layers[1].forward,
        DifferentialPair(fb.g_pos_S * 1.1, fb.g_neg_S),
        layers[1].bias,
        layers[1].g_spring_S,
        layers[1].activation,
    )
    return Circuit(circ.hardware, tuple(layers), circ.clamp, circ.x_init)


def test_dense_blocks_equal_the_sparse_jacobian_blocks():
    from pc_analog.solvers.dynamics import FreeIndex, current_jacobian_blocks

    circ = _tanh_batch()
    fi = FreeIndex(circ)
    x = fi.unpack(fi.pack(circ.x_init) + 0.3 * np.random.default_rng(0).normal(size=fi.size))
    blocks = current_jacobian_blocks(circ, x)
    dense = fi.dense_blocks(*blocks)
    full = fi.sparse(*blocks).toarray()
    n = fi.n_free
    for b in range(circ.batch):
        np.testing.assert_array_equal(dense[b], full[b * n : (b + 1) * n, b * n : (b + 1) * n])
    # block diagonal over samples: nothing outside the per-sample blocks
    for b in range(circ.batch):
        full[b * n : (b + 1) * n, b * n : (b + 1) * n] = 0
    assert not full.any()


@pytest.mark.parametrize("symmetric", [True, False])
def test_block_factor_solves_the_bdf_newton_system(symmetric):
    from pc_analog.solvers._block_bdf import BlockMatrix, _factor, _Identity, _solve

    rng = np.random.default_rng(5)
    B, n, c = 4, 7, 0.37
    A = rng.normal(size=(B, n, n))
    J = -(A @ A.transpose(0, 2, 1)) - np.eye(n) if symmetric else A - 3 * np.eye(n)
    M = BlockMatrix(J)
    fac = _factor(_Identity() - np.float64(c) * M)  # the expression BDF evaluates
    assert fac[0] == ("eig" if symmetric else "inv")
    rhs = rng.normal(size=B * n)
    got = _solve(fac, rhs).reshape(B, n)
    want = np.linalg.solve(np.eye(n)[None] - c * J, rhs.reshape(B, n, 1))[:, :, 0]
    # single-precision eigenvectors: relative accuracy ~1e-6 (an approximate Newton matrix)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("skew", [False, True])
def test_structured_bdf_matches_a_tight_reference_at_matched_times(skew):
    """The block-factorised BDF (default) against scipy's sparse BDF at rtol 1e-10,
    compared at the structured run's own time points; settling times and the work
    done (steps, right-hand sides) match the sparse run at the same tolerances."""
    circ = _tanh_batch()
    circ = _skewed(circ) if skew else circ
    new = OdeBackend(method="BDF", on_failure="raise").settle(circ)
    assert new.stats["linear_algebra"] == "dense blocks"
    ref = OdeBackend(
        method="BDF", rtol=1e-10, atol=1e-14, structured=False, t_max_s=new.t[-1] * 1.01
    )
    ref = ref.settle(circ)
    assert ref.stats["linear_algebra"] == "sparse"
    from pc_analog.solvers.dynamics import FreeIndex

    fi = FreeIndex(circ)
    # reference dense output at the structured run's times (same settle, re-integrated)
    from scipy.integrate import solve_ivp

    from pc_analog.solvers.dynamics import node_currents

    g0, tau = circ.hardware.g0_S, circ.tau_s

    def rhs(s, y):
        return fi.pack(node_currents(circ, fi.unpack(y))) / g0

    sol = solve_ivp(
        rhs,
        (0, new.t[-1] / tau),
        fi.pack(circ.x_init),
        method="DOP853",
        rtol=1e-11,
        atol=1e-14,
        dense_output=True,
    )
    want = sol.sol(new.t / tau).T
    got = fi.pack_many(new.trajectory).reshape(new.t.size, -1)
    assert np.abs(got - want).max() <= 1e-6
    old = OdeBackend(method="BDF", structured=False, on_failure="raise").settle(circ)
    np.testing.assert_allclose(new.settling_time_s, old.settling_time_s, rtol=1e-6)
    np.testing.assert_allclose(new.settling_time_s, ref.settling_time_s, rtol=1e-5)
    # the same integrator: the same steps (a wrong block Jacobian or factor costs
    # rejected steps); the deflated Newton matrix (contraction <= 0.03 per omitted
    # mode) costs at most one more Newton iteration per step
    assert abs(new.n_steps - old.n_steps) <= 0.02 * old.n_steps + 2
    assert old.nfev - 4 <= new.nfev <= old.nfev + new.n_steps


def test_deflated_factor_contracts_every_mode_by_the_set_factor():
    """A clustered spectrum (springs plus a rank-2 coupling, the ideal circuit's shape):
    only the outlying modes are applied exactly, and the approximate inverse leaves a
    relative residual of at most DEFLATE_CONTRACTION in any mode."""
    from pc_analog.solvers import _block_bdf as bb

    rng = np.random.default_rng(8)
    B, n, c = 3, 40, 2.5
    S = 0.004 * rng.normal(size=(B, n, n))
    U = rng.normal(size=(B, n, 2))
    J = -(np.eye(n) + S + S.transpose(0, 2, 1) + U @ U.transpose(0, 2, 1))
    fac = bb._factor(bb._Identity() - c * bb.BlockMatrix(J))
    assert fac[0] == "deflated" and 2 < fac[1].shape[2] <= n // 2
    A = np.eye(n)[None] - c * J
    for _ in range(3):
        rhs = rng.normal(size=(B, n))
        got = bb._solve(fac, rhs.ravel()).reshape(B, n)
        # Newton error after one iteration with this inverse: (I - A A_approx^{-1}) rhs
        res = rhs - np.einsum("bij,bj->bi", A, got)
        assert np.abs(res).max() <= (bb.DEFLATE_CONTRACTION + 1e-4) * np.abs(rhs).max() * n**0.5
        assert np.linalg.norm(res) <= (bb.DEFLATE_CONTRACTION + 1e-4) * np.linalg.norm(rhs)


def _reference_at(circ, t):
    from scipy.integrate import solve_ivp

    from pc_analog.solvers.dynamics import FreeIndex, node_currents

    fi = FreeIndex(circ)
    g0, tau = circ.hardware.g0_S, circ.tau_s

    def rhs(s, y):
        return fi.pack(node_currents(circ, fi.unpack(y))) / g0

    y0 = fi.pack(circ.x_init)
    sol = solve_ivp(rhs, (0, t[-1] / tau), y0, "DOP853", rtol=1e-11, atol=1e-14, dense_output=True)
    return fi, sol.sol(t / tau).T


@pytest.mark.parametrize("precisions, method", [(1.0, "DOP853"), ([1.0, 30.0], "BDF")])
def test_auto_takes_explicit_steps_only_when_the_flow_is_not_stiff(precisions, method):
    """Above 2000 states "auto" picks DOP853 for a gradient flow with a narrow Hessian
    spectrum and BDF (block path) for a stiff one; both match a tight reference at the
    run's own times and the earlier sparse path's settling times."""
    net = pa.Network.random([8, 12, 3], "tanh", precisions, seed=3)
    rng = np.random.default_rng(3)
    B = 170  # 12 free units per sample: 2040 states; stiffness ratio 1.8 and 24
    circ = compile_network(net, rng.normal(size=(B, 8)), 0.5 * rng.normal(size=(B, 3)))
    new = OdeBackend(on_failure="raise").settle(circ)
    assert new.stats["method"] == method
    assert (new.stats["stiffness_ratio"] <= 8.0) == (method == "DOP853")
    fi, want = _reference_at(circ, new.t)
    got = fi.pack_many(new.trajectory).reshape(new.t.size, -1)
    assert np.abs(got - want).max() <= 1e-6
    old = OdeBackend(structured=False, on_failure="raise").settle(circ)
    assert old.stats["method"] == "BDF" and old.stats["linear_algebra"] == "sparse"
    np.testing.assert_allclose(new.settling_time_s, old.settling_time_s, rtol=1e-6)
