"""The ODE backend's analytic Jacobian against central finite differences of its own
right-hand side (model: scipy's ``test_num_jac`` / :func:`scipy.optimize.check_grad`).

The functions checked are the very ``fun`` and ``jac`` that :class:`OdeBackend` hands to
:func:`scipy.integrate.solve_ivp` (captured by wrapping ``solve_ivp``), for the RC
system and for the inertial one, on random networks of every smooth activation, with
clamp sets that leave whole layers, parts of layers and non-adjacent layers free, with a
batch (block-diagonal assembly) and with a feedback crossbar that differs from the
forward one (an unsymmetric Jacobian, so a transposed block is caught).

A wrong Jacobian does not change what a stiff integrator converges to at tight
tolerances, only how fast; nothing else in the suite sees it.  Hence this test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _oracles import central_differences
from _tolerances import JAC_FD_RTOL, JAC_FD_STEP

import pc_analog as pa
import pc_analog.solvers.ode as ode_mod
from pc_analog.circuit.ir import Circuit, CircuitLayer, DifferentialPair, compile_network
from pc_analog.solvers.dynamics import FreeIndex, current_jacobian_blocks, node_currents

ACTS = ["linear", "tanh", "sigmoid", "softplus"]


def _fd_jac(fun, z, h=JAC_FD_STEP):
    return central_differences(lambda zz: fun(0.0, zz), z, h)


class _Captured(Exception):
    pass


def _captured(monkeypatch, circ, **opts):
    """Run ``OdeBackend(**opts).settle(circ)`` and return what it gave ``solve_ivp``."""
    cap = {}

    def spy(fun, t_span, y0, **kw):  # capture, then stop: the integration is not needed
        cap.update(fun=fun, y0=np.array(y0), jac=kw.get("jac"))
        raise _Captured

    monkeypatch.setattr(ode_mod, "solve_ivp", spy)
    with warnings.catch_warnings(), pytest.raises(_Captured):
        warnings.simplefilter("ignore", pa.ConvergenceWarning)
        ode_mod.OdeBackend(**opts).settle(circ)
    assert cap["jac"] is not None, "a stiff method must receive the analytic Jacobian"
    return cap


def _dense(J):
    return J.toarray() if hasattr(J, "toarray") else np.asarray(J)


def _clamps(sizes):
    """Clamp sets: input+output; input only; partial middle layers; a fully clamped
    middle layer between free ones (non-adjacent free blocks must not couple)."""
    n0, n1, n2, n3 = sizes
    return {
        "io": pa.Clamp.layers(sizes, [0, -1]),
        "input-only": pa.Clamp.layers(sizes, [0]),
        "partial": pa.Clamp(
            (np.ones(n0, bool), np.arange(n1) % 2 == 0, np.arange(n2) % 3 == 1, np.ones(n3, bool))
        ),
        "middle-clamped": pa.Clamp(
            (np.ones(n0, bool), np.zeros(n1, bool), np.ones(n2, bool), np.arange(n3) % 2 == 0)
        ),
    }


def _circuit(act, clamp_name, batch=3, seed=0):
    sizes = (3, 5, 4, 3)
    rng = np.random.default_rng(seed)
    net = pa.Network.random(
        sizes, act, precisions=[1.0, rng.uniform(0.5, 2, 4), 0.7], seed=seed + 1, gain=1.5
    )
    values = tuple(rng.normal(size=(batch, n)) for n in sizes)
    return compile_network(net, clamp=_clamps(sizes)[clamp_name], values=values)


def _skewed(circ, factor=1.2, seed=0):
    """The same circuit with every feedback crossbar perturbed entrywise (Wfb != W^T)."""
    rng = np.random.default_rng(seed)
    layers = []
    for lay in circ.layers:
        fb = lay.feedback
        scale = factor * rng.uniform(0.7, 1.3, size=fb.g_pos_S.shape)
        layers.append(
            CircuitLayer(
                lay.forward,
                DifferentialPair(fb.g_pos_S * scale, fb.g_neg_S),
                lay.bias,
                lay.g_spring_S,
                lay.activation,
            )
        )
    return Circuit(circ.hardware, tuple(layers), circ.clamp, circ.x_init)


def _check(cap, rng):
    z0 = cap["y0"]
    # away from the start (where hidden errors vanish and some terms are zero)
    z = z0 + rng.normal(scale=0.7, size=z0.size)
    Ja = _dense(cap["jac"](0.0, z))
    Jf = _fd_jac(cap["fun"], z)
    scale = np.abs(Ja).max()
    assert scale > 0.1
    err = np.abs(Ja - Jf).max() / scale
    assert err <= JAC_FD_RTOL, err
    return Ja, Jf


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamp_name", ["io", "input-only", "partial", "middle-clamped"])
@pytest.mark.parametrize("inertial", [False, True])
def test_ode_jacobian_matches_finite_differences(monkeypatch, act, clamp_name, inertial):
    circ = _circuit(act, clamp_name, seed=ACTS.index(act))
    cap = _captured(monkeypatch, circ, method="Radau", inertial=inertial, damping_ratio=0.7)
    _check(cap, np.random.default_rng(1))


@pytest.mark.parametrize("method", ["LSODA", "BDF"])
@pytest.mark.parametrize("inertial", [False, True])
def test_ode_jacobian_of_an_unsymmetric_circuit(monkeypatch, method, inertial):
    """Feedback copies differ from the forward crossbars: ``dI/dx`` is not symmetric,
    so swapping an upper and a lower block (or a transpose) is visible."""
    circ = _skewed(_circuit("tanh", "partial", seed=4))
    assert not circ.symmetric
    cap = _captured(monkeypatch, circ, method=method, inertial=inertial)
    Ja, _ = _check(cap, np.random.default_rng(2))
    N = cap["y0"].size // (2 if inertial else 1)
    block = Ja[N:, :N] if inertial else Ja
    assert np.abs(block - block.T).max() > 1e-2 * np.abs(block).max()


def test_jacobian_is_block_diagonal_over_the_batch(monkeypatch):
    """No coupling between samples; each sample's block equals the Jacobian of the
    same circuit run with that sample alone."""
    circ = _circuit("tanh", "partial", batch=3, seed=7)
    fi = FreeIndex(circ)
    n = fi.n_free
    rng = np.random.default_rng(3)
    y = fi.pack(circ.x_init) + rng.normal(scale=0.5, size=fi.size)
    x = fi.unpack(y)
    J = fi.sparse(*current_jacobian_blocks(circ, x)).toarray()
    for b in range(circ.batch):
        for c in range(circ.batch):
            blk = J[b * n : (b + 1) * n, c * n : (c + 1) * n]
            if b != c:
                assert not blk.any()
        one = circ.with_stimulus(clamp=circ.clamp, values=tuple(v[b : b + 1] for v in x))
        fi1 = FreeIndex(one)
        x1 = tuple(v[b : b + 1] for v in x)
        J1 = fi1.sparse(*current_jacobian_blocks(one, x1)).toarray()
        blk = J[b * n : (b + 1) * n, b * n : (b + 1) * n]
        np.testing.assert_allclose(blk, J1, rtol=1e-14, atol=1e-14 * np.abs(J1).max())


@pytest.mark.parametrize("act", ACTS)
def test_current_jacobian_is_minus_g0_hessian_for_ideal_devices(act):
    """Second oracle: with ``Wfb = W^T``, ``dI/dx = -g0 H`` (the energy's own Hessian,
    :func:`pc_analog.dense_hessian`), restricted to the free units."""
    circ = _circuit(act, "partial", batch=2, seed=11)
    assert circ.symmetric
    fi = FreeIndex(circ)
    rng = np.random.default_rng(4)
    x = fi.unpack(fi.pack(circ.x_init) + rng.normal(scale=0.5, size=fi.size))
    J = fi.sparse(*current_jacobian_blocks(circ, x)).toarray()
    free = np.concatenate(circ.clamp.free)
    H = pa.dense_hessian(circ.network(), x)[:, free][:, :, free]
    g0 = circ.hardware.g0_S
    n = fi.n_free
    for b in range(circ.batch):
        blk = J[b * n : (b + 1) * n, b * n : (b + 1) * n]
        scale = np.abs(H[b]).max()
        assert np.abs(blk / g0 + H[b]).max() <= 1e-12 * scale
    # and the currents themselves are -g0 dF/dx
    I = fi.pack(node_currents(circ, x))
    G = fi.pack(pa.grad_x(circ.network(), x))
    np.testing.assert_allclose(I / g0, -G, rtol=0, atol=1e-12 * np.abs(G).max())


@pytest.mark.parametrize("clamp_name", ["io", "input-only", "partial", "middle-clamped"])
def test_free_only_currents_equal_the_full_currents_on_free_layers(clamp_name):
    """``node_currents(free_only=True)`` (the ode right-hand side) skips layers with no
    free unit: bit-identical currents on every layer with one, zeros elsewhere."""
    circ = _circuit("tanh", clamp_name, batch=3, seed=5)
    fi = FreeIndex(circ)
    x = fi.unpack(fi.pack(circ.x_init) + np.random.default_rng(6).normal(size=fi.size))
    full, part = node_currents(circ, x), node_currents(circ, x, free_only=True)
    for l, f in enumerate(circ.clamp.free):
        np.testing.assert_array_equal(part[l], full[l] if f.any() else 0.0 * full[l])
    np.testing.assert_array_equal(fi.pack(part), fi.pack(full))
