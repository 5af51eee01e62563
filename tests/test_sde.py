"""The ``sde`` backend (issue 12): statistics against closed forms and the Lyapunov theory,
the integrator's strong order, bit-reproducibility, and ``sde == ode`` with the noise off.

Sample counts: a sample variance of ``N`` independent Gaussian draws has relative standard
deviation ``sqrt(2 / (N - 1))``.  ``N = 20000`` makes it 1.0 %, so the issue's 3 % bound on
``kT/C`` is a 3-sigma bound (``sde_noise(replicas=N)`` gives one independent draw per
replica: each runs 10 correlation times from the start, then is read once).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _oracles import Z_ALPHA, linear_transient, random_network
from _oracles import z_scores as _z_scores
from scipy.stats import norm

from pc_analog.circuit.ir import Hardware, compile_network
from pc_analog.circuit.noise import K_BOLTZMANN, NoiseSources, with_noise
from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import dense_hessian
from pc_analog.model.network import Clamp, Network
from pc_analog.settling.registry import settle
from pc_analog.solvers.dynamics import FreeIndex
from pc_analog.solvers.lyapunov import lyapunov_noise, rest_point
from pc_analog.solvers.sde import integrate_sde, sde_noise

KT = K_BOLTZMANN * 300.0
#: 3 sigma of a variance from N_RC independent draws (module docstring).
N_RC = 20000
RC_RTOL = 0.03
#: Family-wise false-alarm probability of the per-entry z-test (Bonferroni over entries).
#: sde (exponential, noise off) on a linear network against x* + expm(-H s)(x0 - x*),
#: relative to max |x0 - x*|: the scheme is the exact flow, measured 4e-15; kept at 1e-10.
EXACT_FLOW_RTOL = 1e-10
#: Noise off, sde end point against the ode backend's (rtol 1e-8): measured 2e-9; kept 1e-7.
ODE_MATCH_ATOL_V = 1e-7


def _net(sizes, rng, act="linear"):
    return random_network(rng, sizes, act)


def _rc(pi=2.0, c_F=1e-12):
    net = Network((np.array([[0.7]]),), (np.array([0.1]),), (np.array([pi]),), ("linear",))
    return with_noise(
        compile_network(net, np.array([0.3]), hardware=Hardware(c_F=c_F)),
        NoiseSources(thermal=True),
    )


@pytest.mark.parametrize("scheme", ["exponential", "euler"])
def test_rc_node_variance_is_kT_over_C(scheme):
    circ = _rc()
    # Euler-Maruyama's stationary variance is kT/C / (1 - h a / 2): a step h a = 8e-3 keeps
    # its bias at 0.4 %, inside the 3 % bound with the sampling error.
    dt = None if scheme == "exponential" else 0.004 * circ.tau_s
    rep = sde_noise(circ, samples=N_RC, replicas=N_RC, seed=11, scheme=scheme, dt_s=dt)
    assert rep.stats["samples"] == N_RC
    assert rep.cov[0, 0, 0] / (KT / 1e-12) == pytest.approx(1.0, abs=RC_RTOL)


def test_one_free_unit_between_clamps_sde():
    pi1, pi2, w = 2.0, 0.5, 1.5
    net = Network((np.array([[1.0]]), np.array([[w]])), (np.zeros(1), np.zeros(1)),
                  (np.array([pi1]), np.array([pi2])), ("linear", "linear"))  # fmt: skip
    circ = with_noise(
        compile_network(net, np.array([0.3]), np.array([0.2])), NoiseSources(thermal=True)
    )
    rep = sde_noise(circ, samples=N_RC, replicas=N_RC, seed=2)
    expect = KT / 1e-12 * pi1 / (pi1 + pi2 * w * w)
    assert rep.cov[0, 0, 0] / expect == pytest.approx(1.0, abs=RC_RTOL)


def _circuit(seed, act, sizes=(3, 5, 4, 2), target=True):
    rng = np.random.default_rng(seed)
    net = _net(list(sizes), rng, act)
    y = rng.normal(0, 0.3, sizes[-1]) if target else None
    circ = compile_network(net, rng.normal(size=sizes[0]), y)
    return with_noise(circ, NoiseSources(thermal=True, amp_noise_V_rtHz=8e-9))


@pytest.mark.parametrize(
    ("seed", "act", "target"), [(0, "linear", True), (1, "linear", False), (2, "tanh", True)]
)
def test_sde_covariance_matches_lyapunov_entrywise(seed, act, target):
    """Every covariance entry of 4000 independent SDE draws against Lyapunov: max |z| below
    the Bonferroni bound of family-wise level 1e-3, and the mean of z^2 near 1 (a scale
    error of 10 % in the noise moves it by ~0.4 at this N)."""
    circ = _circuit(seed, act, target=target)
    S, *_ = lyapunov_noise(circ)
    N = 4000
    rep = sde_noise(circ, samples=N, replicas=N, seed=seed + 100)
    z = _z_scores(rep.cov[0], S[0], N)
    zcrit = norm.isf(Z_ALPHA / (2 * z.size))
    assert np.abs(z).max() < zcrit
    assert 0.6 < np.mean(z**2) < 1.6


def test_sde_is_bit_reproducible_with_a_seed():
    circ = _circuit(0, "tanh")
    a = settle(circ, backend="sde", seed=7, replicas=3)
    b = settle(circ, backend="sde", seed=7, replicas=3)
    c = settle(circ, backend="sde", seed=8, replicas=3)
    for u, v in zip(a.trajectory, b.trajectory):
        assert np.array_equal(u, v)
    assert not all(np.array_equal(u, w) for u, w in zip(a.trajectory, c.trajectory))
    assert a.stats["noise_std"] == b.stats["noise_std"]


def test_euler_strong_order_is_one_for_additive_noise():
    """Euler-Maruyama on a linear circuit with thermal noise (additive): E|x_h(T) - x_ref(T)|
    over 400 Brownian paths, each step size ``k h`` driven by the same path (its increments
    sum the fine ones).  Against the fine run (``k = 1``) the error of order ``p`` is
    ``c ((k h)^p - h^p)``, ``~ c h (k - 1)`` for ``p = 1``: the slope of ``log err`` against
    ``log(k - 1)`` is the order.  Measured 1.04; the claim 1 must hold within 0.1 (order 1/2
    fails it)."""
    circ = _circuit(4, "linear", sizes=(2, 3, 2))
    hw = Hardware(c_F=1e-17)
    circ = compile_network(circ.network(), circ.x_init[0][0], circ.x_init[-1][0], hardware=hw)
    circ = with_noise(circ, NoiseSources(thermal=True))
    tau, R = circ.tau_s, 400
    fine, levels = 0.001 * tau, [4, 8, 16, 32]
    T = 128 * 8 * fine
    x_rest, _ = rest_point(circ)
    m = 3  # one spring per free unit of layers 1..2: 3 + 0 (layer 2 clamped)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((int(round(T / fine)), R, m))

    def end(k):
        zk = z.reshape(-1, k, R, m).sum(axis=1) / math.sqrt(k)
        run = integrate_sde(circ, t_end_s=T, scheme="euler", dt_s=k * fine, replicas=R,
                            increments=zk, record_every=None, x_rest=x_rest)  # fmt: skip
        return run.final[:, 0, :]

    ref = end(1)
    errs = [np.abs(end(k) - ref).max(axis=1).mean() for k in levels]
    slope = np.polyfit(np.log(np.array(levels) - 1.0), np.log(errs), 1)[0]
    assert abs(slope - 1.0) < 0.1, (slope, errs)


def test_noise_off_sde_is_the_exact_flow_and_equals_ode():
    """With no noise sources the exponential scheme on a linear circuit is the exact flow
    x* + expm(-H s)(x0 - x*) at every step (any step size), and its end point equals the ode
    backend's (to ode's tolerance)."""
    rng = np.random.default_rng(3)
    net = _net([3, 5, 2], rng)
    circ = compile_network(net, rng.normal(size=3), rng.normal(size=2))
    assert circ.noise is None
    res = settle(circ, backend="sde", dt_s=0.37 * circ.tau_s, on_failure="raise")
    fi = FreeIndex(circ)
    free = np.concatenate(circ.clamp.free)
    H = dense_hessian(net, res.x_eq)[0][free][:, free]
    dev = linear_transient(H, fi.pack(circ.x_init), fi.pack(res.x_eq))
    got = fi.pack_many(res.trajectory)[:, 0, :] - fi.pack(res.x_eq)
    exact = dev(res.t / circ.tau_s)
    scale = np.abs(exact[0]).max()
    assert np.abs(got - exact).max() <= EXACT_FLOW_RTOL * scale
    ode = settle(circ, backend="ode")
    for u, v in zip(res.x, ode.x):
        np.testing.assert_allclose(u, v, rtol=0, atol=ODE_MATCH_ATOL_V)
    assert res.settling_time_s[0] == pytest.approx(ode.settling_time_s[0], rel=0.37 / 5)


def test_noise_off_nonlinear_transient_converges_with_order_one():
    """The exponential scheme without noise on a tanh circuit against scipy's solve_ivp
    (rtol 1e-10) on the same KCL: the error at the recorded times is first order in the step
    (halving the step halves it: ratio 2 within 0.3) and below 2 % of the start's distance
    from rest at h = 0.02 tau."""
    from scipy.integrate import solve_ivp

    from pc_analog.solvers.dynamics import node_currents

    rng = np.random.default_rng(6)
    net = _net([3, 4, 2], rng, "tanh")
    circ = compile_network(net, 2.5 * rng.normal(size=3), 2.0 * rng.normal(size=2))
    fi = FreeIndex(circ)
    tau = circ.tau_s

    def rhs(s, y):
        return fi.pack(node_currents(circ, fi.unpack(y))) / circ.hardware.g0_S

    T = 4.0 * tau
    errs = []
    for h in (0.04, 0.02):
        run = integrate_sde(circ, t_end_s=T, dt_s=h * tau)
        ref = solve_ivp(rhs, (0, T / tau), fi.pack(circ.x_init), t_eval=run.t / tau, rtol=1e-10,
                        atol=1e-12, method="Radau")  # fmt: skip
        errs.append(np.abs(run.Y[:, 0, 0, :] - ref.y.T).max())
    scale = np.abs(fi.pack(circ.x_init) - run.final[0, 0]).max()
    assert errs[0] / errs[1] == pytest.approx(2.0, abs=0.3)
    assert errs[1] < 0.02 * scale


def test_noise_off_nonlinear_sde_rests_at_the_ode_rest_point():
    """A tanh circuit without noise: the exponential scheme's fixed point is the zero of the
    KCL (R(x*) = 0), so its end point equals the ode backend's rest point."""
    circ = _circuit(5, "tanh")
    circ = compile_network(circ.network(), circ.x_init[0][0], circ.x_init[-1][0])
    res = settle(circ, backend="sde", t_max_s=200 * circ.tau_s, on_failure="raise")
    ode = settle(circ, backend="ode")
    for u, v in zip(res.x, ode.x):
        np.testing.assert_allclose(u, v, rtol=0, atol=ODE_MATCH_ATOL_V)


def test_bad_options_are_refused():
    circ = _rc()
    with pytest.raises(InvalidInputError, match="samples"):
        sde_noise(circ, samples=1)
    with pytest.raises(InvalidInputError, match="scheme"):
        settle(circ, backend="sde", scheme="rk4")
    with pytest.raises(InvalidInputError, match="dt_s"):
        settle(circ, backend="sde", dt_s=-1.0)
    with pytest.raises(InvalidInputError, match="seed"):
        settle(circ, backend="sde", seed=-1)


def test_batched_samples_are_independent_circuits():
    """A batch of two inputs: each sample's statistics are its own (the second sample's
    Lyapunov covariance differs for a tanh network) and match Lyapunov per sample."""
    rng = np.random.default_rng(9)
    net = _net([3, 4, 2], rng, "tanh")
    X = rng.normal(size=(2, 3)) * 2
    circ = with_noise(
        compile_network(net, X, rng.normal(0, 0.3, (2, 2))), NoiseSources(thermal=True)
    )
    S, *_ = lyapunov_noise(circ)
    assert not np.allclose(S[0], S[1], rtol=1e-3, atol=0)
    N = 4000
    rep = sde_noise(circ, samples=N, replicas=N, seed=1)
    for b in range(2):
        z = _z_scores(rep.cov[b], S[b], N)
        assert np.abs(z).max() < norm.isf(Z_ALPHA / (2 * z.size))
    clamp = Clamp(tuple(np.ones(n, bool) for n in net.sizes))
    full = compile_network(net, clamp=clamp, values=circ.x_init)
    assert settle(with_noise(full, NoiseSources(thermal=True)), backend="sde").success


@pytest.mark.parametrize("h", [0.05, 3.0])
def test_step_noise_covariance_is_the_exact_integral(h):
    """Q_h = int_0^h e^{As} Q e^{A^T s} ds for a non-symmetric stable A: it satisfies
    Q_h = Sigma - e^{hA} Sigma e^{hA^T} with Sigma the stationary covariance (from scipy's
    Lyapunov solver, an independent route); e^{hA} and h phi_1(hA) against expm and
    A^{-1}(e^{hA} - I)."""
    import scipy.linalg as sla

    from pc_analog.solvers.sde import _step_matrices

    rng = np.random.default_rng(4)
    n = 5
    A = -np.diag(rng.uniform(0.3, 8.0, n)) + 0.8 * rng.normal(size=(n, n))
    assert np.linalg.eigvals(A).real.max() < 0
    M = rng.normal(size=(n, 3))
    Q = M @ M.T
    E, P, L = _step_matrices(A, Q, h)
    Sig = sla.solve_continuous_lyapunov(A, -Q)
    E_ref = sla.expm(h * A)
    np.testing.assert_allclose(E, E_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(P, np.linalg.solve(A, E_ref - np.eye(n)), rtol=1e-9, atol=1e-12)
    Qh = Sig - E_ref @ Sig @ E_ref.T
    np.testing.assert_allclose(L @ L.T, Qh, rtol=1e-8, atol=1e-10 * np.abs(Qh).max())


def test_replicas_start_from_the_circuits_own_start_state():
    """A reset circuit (free units at 0 V) keeps its start in every replica (the tiled batch
    is not recomputed as the feedforward pass)."""
    import dataclasses

    circ = _circuit(0, "tanh")
    x0 = tuple(np.where(m[None, :], x, 0.0) for x, m in zip(circ.x_init, circ.clamp.masks))
    reset = dataclasses.replace(circ, x_init=x0)
    run = integrate_sde(reset, t_end_s=circ.tau_s, replicas=3, seed=0)
    fi = FreeIndex(reset)
    assert np.all(run.Y[0] == fi.pack(x0).reshape(1, 1, -1))
