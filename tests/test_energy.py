"""The energy model against finite differences and its own invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pc_analog as pa
from pc_analog.model.activations import ACTIVATIONS

# Central differences with step 1e-6 on O(1) values: truncation ~1e-12, rounding ~1e-10.
FD_STEP = 1e-6
FD_ATOL = 1e-7
FD_RTOL = 1e-6
# F is quadratic in the parameters: a central difference along a direction is exact but
# for round-off ~ eps |F| / step.  Measured |FD + <update, V>| / scale <= 3e-14 (60 random
# networks, 4 activations); kept at 1e-10.
PARAM_FD_STEP = 1e-3
PARAM_FD_RTOL = 1e-10


def _random_state(net, batch, rng, scale=1.0):
    return tuple(scale * rng.normal(size=(batch, n)) for n in net.sizes)


def _fd_grad_x(net, x, l, i):
    xp = [a.copy() for a in x]
    xm = [a.copy() for a in x]
    xp[l][:, i] += FD_STEP
    xm[l][:, i] -= FD_STEP
    return (pa.energy(net, xp) - pa.energy(net, xm)) / (2 * FD_STEP)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activation_derivatives_match_finite_differences(act):
    a = ACTIVATIONS[act]
    z = np.linspace(-4, 4, 81)
    h = 1e-6
    np.testing.assert_allclose(a.df(z), (a.f(z + h) - a.f(z - h)) / (2 * h), atol=1e-8)
    np.testing.assert_allclose(a.d2f(z), (a.df(z + h) - a.df(z - h)) / (2 * h), atol=1e-8)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_grad_x_matches_finite_differences_diagonal_precisions(act):
    rng = np.random.default_rng(1)
    prec = [rng.uniform(0.3, 3.0, size=5), 0.7, rng.uniform(0.3, 3.0, size=3)]
    net = pa.Network.random([4, 5, 6, 3], act, precisions=prec, seed=2)
    x = _random_state(net, 3, rng)
    g = pa.grad_x(net, x)
    for l, n in enumerate(net.sizes):
        for i in range(n):
            np.testing.assert_allclose(
                g[l][:, i], _fd_grad_x(net, x, l, i), rtol=FD_RTOL, atol=FD_ATOL
            )


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_grad_params_matches_finite_differences(act):
    rng = np.random.default_rng(3)
    net = pa.Network.random(
        [3, 4, 2], act, precisions=[rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 2)], seed=4
    )
    x = _random_state(net, 5, rng)
    dW, db = pa.grad_params(net, x)
    for l in range(net.n_layers):
        for idx in np.ndindex(net.weights[l].shape):
            Wp = [w.copy() for w in net.weights]
            Wm = [w.copy() for w in net.weights]
            Wp[l][idx] += FD_STEP
            Wm[l][idx] -= FD_STEP
            fd = (
                pa.energy(net.replace(weights=Wp), x).sum()
                - pa.energy(net.replace(weights=Wm), x).sum()
            ) / (2 * FD_STEP)
            assert dW[l][idx] == pytest.approx(fd, rel=FD_RTOL, abs=FD_ATOL)
        for i in range(net.biases[l].size):
            bp = [b.copy() for b in net.biases]
            bm = [b.copy() for b in net.biases]
            bp[l][i] += FD_STEP
            bm[l][i] -= FD_STEP
            fd = (
                pa.energy(net.replace(biases=bp), x).sum()
                - pa.energy(net.replace(biases=bm), x).sum()
            ) / (2 * FD_STEP)
            assert db[l][i] == pytest.approx(fd, rel=FD_RTOL, abs=FD_ATOL)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "linear"])
def test_hessian_blocks_match_finite_differences_of_gradient(act):
    rng = np.random.default_rng(5)
    net = pa.Network.random(
        [3, 4, 5, 2], act, precisions=[1.3, rng.uniform(0.5, 2, 5), 0.4], seed=6
    )
    x = _random_state(net, 2, rng)
    H = pa.dense_hessian(net, x)
    offs = np.concatenate([[0], np.cumsum(net.sizes)])
    for l, n in enumerate(net.sizes):
        for i in range(n):
            xp = [a.copy() for a in x]
            xm = [a.copy() for a in x]
            xp[l][:, i] += FD_STEP
            xm[l][:, i] -= FD_STEP
            col = np.concatenate(
                [
                    (gp - gm) / (2 * FD_STEP)
                    for gp, gm in zip(pa.grad_x(net, xp), pa.grad_x(net, xm))
                ],
                axis=1,
            )
            np.testing.assert_allclose(H[:, :, offs[l] + i], col, rtol=1e-5, atol=1e-6)
    # Symmetric up to rounding (the two triangles are summed in different orders).
    np.testing.assert_allclose(H, np.transpose(H, (0, 2, 1)), rtol=0, atol=1e-14)


def test_energy_is_zero_at_feedforward_and_errors_vanish():
    net = pa.Network.random([6, 7, 4], "tanh", precisions=[2.0, 0.5], seed=0)
    x = pa.feedforward(net, np.random.default_rng(0).normal(size=(4, 6)))
    assert np.all(pa.energy(net, x) == 0.0)
    for e in pa.prediction_errors(net, x):
        assert np.all(e == 0.0)


def test_energy_matches_definition_written_out():
    """F from the SPEC formula evaluated sample by sample with plain loops."""
    rng = np.random.default_rng(9)
    net = pa.Network.random([3, 4, 2], ["linear", "sigmoid"], precisions=[[1, 2, 3, 4], 0.5])
    x = _random_state(net, 3, rng)
    for s in range(3):
        F = 0.0
        for l in (1, 2):
            phi = pa.get_activation(net.activations[l - 1]).f
            for j in range(net.sizes[l]):
                mu = sum(net.W(l)[j, i] * phi(x[l - 1][s, i]) for i in range(net.sizes[l - 1]))
                mu += net.b(l)[j]
                F += 0.5 * net.pi(l)[j] * (x[l][s, j] - mu) ** 2
        assert pa.energy(net, x)[s] == pytest.approx(F, rel=1e-13)


@st.composite
def _networks(draw):
    L = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 6), min_size=L + 1, max_size=L + 1))
    acts = draw(st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=L, max_size=L))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    prec = []
    for n in sizes[1:]:
        prec.append(
            float(rng.uniform(0.1, 5)) if draw(st.booleans()) else rng.uniform(0.1, 5, size=n)
        )
    gain = draw(st.floats(0.1, 3.0))
    net = pa.Network.random(sizes, acts, precisions=prec, seed=seed, gain=gain)
    batch = draw(st.integers(1, 3))
    x = tuple(rng.normal(size=(batch, n)) * 2 for n in sizes)
    return net, x


@settings(max_examples=60, deadline=None)
@given(_networks())
def test_property_energy_nonnegative_and_gradient_identities(case):
    net, x = case
    F = pa.energy(net, x)
    assert np.all(F >= 0)
    # F is the sum of 1/2 pi eps^2 over the weighted errors: 2F = sum e * eps.
    e = pa.weighted_errors(net, x)
    eps = pa.prediction_errors(net, x)
    np.testing.assert_allclose(
        2 * F, sum((el * ep).sum(axis=1) for el, ep in zip(e, eps)), rtol=1e-12, atol=1e-12
    )
    # The Hebbian update against the energy itself (hebbian_update is -grad_params in the
    # code, so comparing the two would test nothing): F is quadratic in (W, b) jointly, so
    # a central difference along a random parameter direction V is exact up to round-off
    # and equals -<update, V>.
    h = pa.hebbian_update(net, x)
    prng = np.random.default_rng(1)
    VW = [prng.normal(size=w.shape) for w in net.weights]
    Vb = [prng.normal(size=b.shape) for b in net.biases]

    def f_along(t):
        moved = net.replace(
            weights=tuple(w + t * v for w, v in zip(net.weights, VW)),
            biases=tuple(b + t * v for b, v in zip(net.biases, Vb)),
        )
        return pa.energy(moved, x).sum()

    fd = (f_along(PARAM_FD_STEP) - f_along(-PARAM_FD_STEP)) / (2 * PARAM_FD_STEP)
    inner = sum((u * v).sum() for u, v in zip(h.dW + h.db, VW + Vb))
    # |<update, V>| is at most ~3 sum|update|; the FD's round-off is ~eps |F| / step
    scale = sum(np.abs(u).sum() * 3 for u in h.dW + h.db) + float(F.sum()) + 1.0
    assert abs(fd + inner) <= PARAM_FD_RTOL * scale
    # and the update is the local rule pi_l eps_l phi(x_{l-1})^T, written out here in numpy
    for l in range(1, net.n_layers + 1):
        eps_l = x[l] - (net.phi(l - 1).f(x[l - 1]) @ net.weights[l - 1].T + net.biases[l - 1])
        local = (net.pi(l) * eps_l).T @ net.phi(l - 1).f(x[l - 1])
        np.testing.assert_allclose(h.dW[l - 1], local, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h.db[l - 1], (net.pi(l) * eps_l).sum(axis=0), atol=1e-12)
        np.testing.assert_allclose(h.db[l - 1], e[l].sum(axis=0), rtol=1e-12, atol=1e-14)
    # Directional derivative of F along a random direction equals <grad, v> (FD oracle).
    rng = np.random.default_rng(0)
    v = tuple(rng.normal(size=a.shape) for a in x)
    g = pa.grad_x(net, x)
    h_ = 1e-6
    Fp = pa.energy(net, tuple(a + h_ * b for a, b in zip(x, v)))
    Fm = pa.energy(net, tuple(a - h_ * b for a, b in zip(x, v)))
    dd = sum((gl * vl).sum(axis=1) for gl, vl in zip(g, v))
    np.testing.assert_allclose((Fp - Fm) / (2 * h_), dd, rtol=1e-5, atol=1e-5)
    # At the feedforward state with only the input clamped, the gradient vanishes.
    a = pa.feedforward(net, x[0])
    for gl in pa.grad_x(net, a)[1:]:
        assert np.all(gl == 0.0)


def test_initial_state_with_clamp_in_the_middle():
    net = pa.Network.random([3, 4, 4, 2], "tanh", seed=1)
    rng = np.random.default_rng(2)
    mask = [np.ones(3, bool), np.array([0, 1, 0, 1], bool), np.zeros(4, bool), np.zeros(2, bool)]
    clamp = pa.Clamp(tuple(mask))
    values = tuple(rng.normal(size=(2, n)) for n in net.sizes)
    x = pa.initial_state(net, clamp, values)
    np.testing.assert_array_equal(x[1][:, [1, 3]], values[1][:, [1, 3]])
    mu = pa.predictions(net, x)
    np.testing.assert_array_equal(x[1][:, [0, 2]], mu[1][:, [0, 2]])
    np.testing.assert_array_equal(x[2], mu[2])  # predicted from the partly clamped layer 1
    np.testing.assert_array_equal(x[3], mu[3])


def test_bad_clamp_and_state_shapes_raise():
    net = pa.Network.random([3, 4, 2], "tanh")
    with pytest.raises(pa.InvalidInputError, match="clamp"):
        pa.Clamp((np.ones(3, bool), np.ones(4, bool))).check(net.sizes)
    with pytest.raises(pa.InvalidInputError, match="layer 1"):
        pa.initial_state(
            net,
            pa.Clamp.io(net.sizes, target=False),
            (np.zeros((1, 3)), np.zeros((1, 5)), np.zeros((1, 2))),
        )
    with pytest.raises(pa.InvalidInputError, match="input"):
        pa.feedforward(net, np.zeros(4))
    with pytest.raises(pa.InvalidInputError, match="non-finite"):
        pa.feedforward(net, np.array([0.0, np.nan, 1.0]))
