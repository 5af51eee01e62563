"""The digital reference: backprop against finite differences; the PC variants against
backprop and against seed 001's Theorem 1."""

from __future__ import annotations

import numpy as np
import pytest

import pc_analog as pa

# Z-IL and FPA-PC with step 1 compute backprop's recursion in another order:
# they agree to rounding.
EXACT_ATOL = 1e-12
FD_STEP = 1e-6


def _net(act="tanh", seed=0, sizes=(5, 7, 6, 4, 3)):
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    prec = [1.0] + [rng.uniform(0.5, 2.0, size=n) for n in sizes[2:-1]] + [0.8]
    prec = prec[:L]
    return pa.Network.random(list(sizes), act, precisions=prec, seed=seed, gain=1.3)


def _data(net, batch=4, seed=0, onehot=False):
    rng = np.random.default_rng(seed + 100)
    x0 = rng.normal(size=(batch, net.sizes[0]))
    if onehot:
        y = np.eye(net.sizes[-1])[rng.integers(0, net.sizes[-1], batch)]
    else:
        y = rng.normal(size=(batch, net.sizes[-1]))
    return x0, y


def _loss(net, x0, y, loss):
    aL = pa.feedforward(net, x0)[-1]
    if loss == "mse":
        return 0.5 * (net.pi(net.n_layers) * (y - aL) ** 2).sum()
    z = aL - aL.max(axis=1, keepdims=True)
    return -(y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))).sum()


def _maxdiff(a, b):
    return max(
        max(np.abs(u - v).max() for u, v in zip(a.dW, b.dW)),
        max(np.abs(u - v).max() for u, v in zip(a.db, b.db)),
    )


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "linear"])
def test_backprop_matches_finite_differences_of_the_loss(act, loss):
    net = _net(act, sizes=(4, 5, 3))
    x0, y = _data(net, onehot=loss == "ce")
    g = pa.backprop(net, x0, y, loss)
    assert g.loss == pytest.approx(_loss(net, x0, y, loss), rel=1e-13)
    for l in range(net.n_layers):
        for idx in np.ndindex(net.weights[l].shape):
            Wp = [w.copy() for w in net.weights]
            Wm = [w.copy() for w in net.weights]
            Wp[l][idx] += FD_STEP
            Wm[l][idx] -= FD_STEP
            fd = (
                _loss(net.replace(weights=Wp), x0, y, loss)
                - _loss(net.replace(weights=Wm), x0, y, loss)
            ) / (2 * FD_STEP)
            assert g.dW[l][idx] == pytest.approx(-fd, rel=1e-6, abs=1e-8)
        for i in range(net.biases[l].size):
            bp = [b.copy() for b in net.biases]
            bm = [b.copy() for b in net.biases]
            bp[l][i] += FD_STEP
            bm[l][i] -= FD_STEP
            fd = (
                _loss(net.replace(biases=bp), x0, y, loss)
                - _loss(net.replace(biases=bm), x0, y, loss)
            ) / (2 * FD_STEP)
            assert g.db[l][i] == pytest.approx(-fd, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "linear"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zil_equals_backprop(act, loss, seed):
    net = _net(act, seed)
    x0, y = _data(net, seed=seed, onehot=loss == "ce")
    bp = pa.backprop(net, x0, y, loss)
    zil = pa.zil_gradients(net, x0, y, loss=loss)
    assert _maxdiff(zil, bp) <= EXACT_ATOL


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "linear"])
def test_fpa_with_step_one_and_enough_steps_equals_backprop(act, loss):
    net = _net(act, 3)
    L = net.n_layers
    x0, y = _data(net, onehot=loss == "ce")
    bp = pa.backprop(net, x0, y, loss)
    for T in (L - 1, L, L + 3):
        fpa = pa.fpa_inference(net, x0, y, step_size=1.0, n_steps=T, loss=loss)
        assert _maxdiff(fpa.gradients, bp) <= EXACT_ATOL
    # With too few steps the lowest layer has not heard of the error yet.
    short = pa.fpa_inference(net, x0, y, step_size=1.0, n_steps=L - 2, loss=loss)
    assert np.all(short.gradients.dW[0] == 0.0)
    assert _maxdiff(short.gradients, bp) > 1e-3


def _first_nonzero_steps(errors_trace, L):
    """For each layer l = 1..L, the first step t at which eps_l(t) has a nonzero entry."""
    first = {}
    for l in range(1, L + 1):
        nz = [t for t, eps in enumerate(errors_trace) if np.any(eps[l] != 0.0)]
        first[l] = nz[0] if nz else None
    return first


@pytest.mark.parametrize("step", [1.0, 0.5, 0.1])
def test_theorem1_fpa_error_reaches_layer_l_at_step_L_minus_l(step):
    net = _net("tanh", 4, sizes=(6, 5, 5, 5, 5, 5, 3))
    L = net.n_layers
    x0, y = _data(net)
    res = pa.fpa_inference(net, x0, y, step_size=step, n_steps=L - 1)
    first = _first_nonzero_steps(res.errors_trace, L)
    assert first == {l: L - l for l in range(1, L + 1)}
    # "nonzero" means every sample: the error is nonzero in each one at t = L - l.
    for l in range(1, L):
        assert np.all(np.any(res.errors_trace[L - l][l] != 0.0, axis=1))


@pytest.mark.parametrize("step", [1.0, 0.3])
def test_theorem1_standard_pc_error_reaches_layer_l_at_step_L_minus_l(step):
    net = _net("sigmoid", 5, sizes=(4, 6, 6, 6, 6, 2))
    L = net.n_layers
    x0, y = _data(net)
    x, clamp = pa.io_state(net, x0, y)
    res = pa.discrete_inference(net, x, clamp, step_size=step, n_steps=L + 2, record_errors=True)
    first = _first_nonzero_steps(res.errors_trace, L)
    assert first == {l: L - l for l in range(1, L + 1)}


def test_zil_state_trace_follows_theorem1():
    net = _net("tanh", 6)
    L = net.n_layers
    x0, y = _data(net)
    _, states = pa.zil_gradients(net, x0, y, return_trace=True)
    for l in range(1, L):
        for t, s in enumerate(states):
            moved = np.any(s[l] != states[0][l])
            assert moved == (t >= L - l), (l, t)


@pytest.mark.parametrize("act", ["tanh", "linear", "sigmoid"])
def test_standard_pc_approaches_backprop_as_output_variance_grows(act):
    """Whittington & Bogacz: scaling the output precision by r -> 0 (and the update
    by 1/r) makes standard PC's equilibrium update tend to backprop's."""
    net = _net(act, 7)
    x0, y = _data(net, batch=8)
    bp = pa.backprop(net, x0, y)
    ratios = [1.0, 0.3, 0.1, 0.03, 0.01, 0.001]
    cos = [pa.cosine_similarity(pa.pc_gradients(net, x0, y, variance_ratio=r), bp) for r in ratios]
    assert all(b > a for a, b in zip(cos, cos[1:])), cos
    assert cos[-1] > 0.99999
    err = [_maxdiff(pa.pc_gradients(net, x0, y, variance_ratio=r), bp) for r in (0.01, 0.001)]
    assert err[1] < err[0] / 5  # the gap closes roughly linearly in r


def test_hebbian_update_at_equilibrium_is_minus_dF_dW():
    net = _net("tanh", 8, sizes=(3, 4, 2))
    x0, y = _data(net)
    x, clamp = pa.io_state(net, x0, y)
    eq = pa.solve_equilibrium(net, x, clamp)
    h = pa.hebbian_update(net, eq.x)
    for l in range(net.n_layers):
        for idx in np.ndindex(net.weights[l].shape):
            Wp = [w.copy() for w in net.weights]
            Wm = [w.copy() for w in net.weights]
            Wp[l][idx] += FD_STEP
            Wm[l][idx] -= FD_STEP
            fd = (
                pa.energy(net.replace(weights=Wp), eq.x).sum()
                - pa.energy(net.replace(weights=Wm), eq.x).sum()
            ) / (2 * FD_STEP)
            assert h.dW[l][idx] == pytest.approx(-fd, rel=1e-6, abs=1e-9)


def test_discrete_inference_energy_never_rises_for_small_steps():
    net = _net("tanh", 9)
    x0, y = _data(net, batch=6)
    x, clamp = pa.io_state(net, x0, y)
    res = pa.discrete_inference(net, x, clamp, step_size=0.05, n_steps=500)
    # Energy differences of ~1e-16 |F| near the rest point are rounding of F itself.
    rounding = 1e-14 * (1 + res.energy_trace[:-1])
    assert np.all(np.diff(res.energy_trace, axis=0) <= rounding)
    assert np.all(res.energy_trace[-1] < res.energy_trace[0])


def test_gradients_dispatch_and_bad_arguments():
    net = _net()
    x0, y = _data(net)
    for m in pa.reference.variants.METHODS:
        assert pa.gradients(net, x0, y, m).method == m
    with pytest.raises(pa.InvalidInputError, match="method"):
        pa.gradients(net, x0, y, "magic")
    with pytest.raises(pa.InvalidInputError, match="loss"):
        pa.backprop(net, x0, y, "hinge")
    with pytest.raises(pa.InvalidInputError, match="target"):
        pa.backprop(net, x0, y[:2])
    with pytest.raises(pa.InvalidInputError, match="variance_ratio"):
        pa.pc_gradients(net, x0, y, variance_ratio=0.0)
