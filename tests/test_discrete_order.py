"""Convergence order of the digital PC flow (diffrax-style order tests).

``discrete_inference`` takes Euler steps ``x <- x - gamma dF/dx`` of the gradient flow
``dx/ds = -dF/dx`` (``s = t / tau``).  After ``n`` steps of size ``gamma = s / n`` it
must approach the exact transient at ``s``:

- linear network: ``x(s) = x* + expm(-H s)(x0 - x*)`` (scipy's ``expm``, ``x*`` from one
  linear solve with the energy's Hessian), with the global error
  ``gamma (-(s/2) H^2 expm(-H s)(x0 - x*)) + O(gamma^2)``; the fitted order over a
  decade of steps is 1;
- tanh network: the ODE backend's own transient at a tight tolerance (a second,
  independent integrator), again order 1.

The ODE backend, at its default tolerances, matches the linear closed form along the
whole transient.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _tolerances import EULER_LEAD_RTOL_PER_STEP, ODE_LINEAR_TRAJ_RTOL, ORDER_TOL
from scipy.linalg import expm

import pc_analog as pa
from pc_analog.circuit.ir import compile_network
from pc_analog.solvers.ode import OdeBackend

S_END = 2.0  # the fixed time, in units of tau
STEPS = (100, 200, 500, 1000)  # gamma from 0.02 to 0.002: one decade, all stable


def _problem(act, seed=2):
    net = pa.Network.random(
        [3, 5, 4, 2], act, precisions=[1.0, [0.5, 1, 2, 3], 0.7], seed=seed, gain=1.3
    )
    rng = np.random.default_rng(seed)
    x0, y = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    return net, x0, y


def _euler_at(net, x, clamp, n):
    r = pa.discrete_inference(net, x, clamp, step_size=S_END / n, n_steps=n)
    assert r.n_steps == n
    free = np.concatenate(clamp.free)
    return np.concatenate(r.x, axis=1)[:, free]


def _order(gammas, errs):
    return np.polyfit(np.log(gammas), np.log(errs), 1)[0]


def test_euler_converges_to_the_matrix_exponential_with_order_one():
    net, x0, y = _problem("linear")
    x, clamp = pa.io_state(net, x0, y)
    free = np.concatenate(clamp.free)
    X = np.concatenate(x, axis=1)[:, free]
    H = pa.dense_hessian(net, x)[:, free][:, :, free]
    g = np.concatenate(pa.grad_x(net, x), axis=1)[:, free]
    x_star = X - np.linalg.solve(H, g[..., None])[..., 0]  # one Newton step: exact
    assert np.abs(np.concatenate(pa.grad_x(net, x), axis=1)[:, free]).max() > 0.1
    assert np.all(np.linalg.eigvalsh(H)[:, -1] * S_END / STEPS[0] < 2)  # Euler-stable
    E = [expm(-H[b] * S_END) for b in range(len(H))]
    exact = np.stack([x_star[b] + E[b] @ (X[b] - x_star[b]) for b in range(len(H))])
    lead = np.stack([-(S_END / 2) * H[b] @ H[b] @ E[b] @ (X[b] - x_star[b]) for b in range(len(H))])
    gammas, errs = [], []
    for n in STEPS:
        gam = S_END / n
        diff = _euler_at(net, x, clamp, n) - exact
        gammas.append(gam)
        errs.append(np.abs(diff).max())
        # the error's leading term, not just its size
        gap = np.abs(diff / gam - lead).max() / np.abs(lead).max()
        assert gap <= EULER_LEAD_RTOL_PER_STEP * gam, (n, gap)
    assert _order(gammas, errs) == pytest.approx(1.0, abs=ORDER_TOL)


def test_euler_converges_to_the_ode_transient_of_a_tanh_network_with_order_one():
    net, x0, y = _problem("tanh", seed=5)
    x, clamp = pa.io_state(net, x0, y)
    circ = compile_network(net, x0, y)
    with warnings.catch_warnings():  # stopped at S_END, long before settling
        warnings.simplefilter("ignore", pa.ConvergenceWarning)
        res = OdeBackend(rtol=1e-12, atol=1e-14, t_max_s=S_END * circ.tau_s).settle(circ)
    assert res.t[-1] == pytest.approx(S_END * circ.tau_s, rel=1e-12)
    free = np.concatenate(clamp.free)
    ref = np.concatenate([v[-1] for v in res.trajectory], axis=1)[:, free]
    start = np.concatenate(x, axis=1)[:, free]
    assert np.abs(ref - start).max() > 0.05  # it has moved: the comparison means something
    gammas = [S_END / n for n in STEPS]
    errs = [np.abs(_euler_at(net, x, clamp, n) - ref).max() for n in STEPS]
    assert _order(gammas, errs) == pytest.approx(1.0, abs=ORDER_TOL)
    assert errs[-1] < 1e-3


def test_ode_backend_follows_the_linear_closed_form_at_its_default_tolerances():
    net, x0, y = _problem("linear")
    circ = compile_network(net, x0, y)
    res = OdeBackend(t_eval_points=401).settle(circ)
    assert res.success
    free = np.concatenate(circ.clamp.free)
    X = np.concatenate(circ.x_init, axis=1)[:, free]
    Xs = np.concatenate(res.x_eq, axis=1)[:, free]
    H = pa.dense_hessian(circ.network(), circ.x_init)[:, free][:, :, free]
    traj = np.concatenate(res.trajectory, axis=2)[:, :, free]
    s = res.t / circ.tau_s
    for b in range(circ.batch):
        w, V = np.linalg.eigh(H[b])
        c = V.T @ (X[b] - Xs[b])
        exact = Xs[b] + (np.exp(-np.outer(s, w)) * c) @ V.T
        err = np.abs(traj[:, b] - exact).max() / np.abs(X[b] - Xs[b]).max()
        assert err <= ODE_LINEAR_TRAJ_RTOL, (b, err)
