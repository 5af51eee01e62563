"""Per-sample clamp masks in the discrete solver (``discrete_inference(free=...)``), the
loop :func:`pc_analog.experiments.any_direction.relax` runs.

Oracles
-------
- One run with a different free mask per sample equals, bit for bit, sample ``s`` of a
  run of the same batch with sample ``s``'s clamp set for every row (the ordinary ``Clamp``
  path): ``x - gamma g * 1`` is ``x - gamma g`` and ``x - gamma g * 0`` is ``x`` in
  floating point.  (Same batch shape, so BLAS takes the same path; a one-row batch may
  differ in the last bit.)
- Its rest point is each sample's own equilibrium: the Newton solve of
  :func:`pc_analog.solvers.equilibrium.solve_equilibrium`, and a dense reference (scipy's
  trust-region Newton on the energy written out in numpy, no pc_analog code).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import pc_analog as pa
from pc_analog.errors import InvalidInputError
from pc_analog.experiments import any_direction as ad
from pc_analog.model.energy import initial_state
from pc_analog.solvers.discrete import discrete_inference
from pc_analog.solvers.equilibrium import solve_equilibrium

SIZES = [2, 5, 7, 9]
#: Euler rest point (|dF/dx| <= 1e-10) vs Newton and vs the dense minimiser; measured
#: <= 2e-10 on this network.
ATOL = 1e-7


def _setup(batch=4):
    net = pa.Network.random(SIZES, "tanh", seed=1, gain=2.0)
    rng = np.random.default_rng(5)
    values = tuple(rng.uniform(-1, 1, size=(batch, n)) for n in SIZES)
    # each sample clamps the input and a different random part of the top layer
    clamped = [np.zeros((batch, n), bool) for n in SIZES]
    clamped[0][:] = True
    for s in range(batch):
        clamped[3][s, rng.choice(9, size=3 + s, replace=False)] = True
    return net, values, clamped


def _own_clamp(clamped, s):
    return pa.Clamp(tuple(c[s] for c in clamped))


def _start(net, values, clamped):
    rows = [initial_state(net, _own_clamp(clamped, s), tuple(v[s : s + 1] for v in values))
            for s in range(values[0].shape[0])]  # fmt: skip
    return tuple(np.concatenate([r[l] for r in rows]) for l in range(len(SIZES)))


def _dense_energy(net, free_mask, x_full):
    """F written out in numpy: sum_l pi_l/2 |x_l - W_l tanh(x_{l-1}) - b_l|^2 (layer 0 of
    this network is linear-in, tanh elsewhere per Network.random)."""
    W, b = net.weights, net.biases
    acts = [np.tanh if a == "tanh" else (lambda v: v) for a in net.activations]

    def f(u):
        x = [v.copy() for v in x_full]
        k = 0
        for l, m in enumerate(free_mask):
            x[l][m] = u[k : k + m.sum()]
            k += m.sum()
        return sum(0.5 * float(np.asarray(net.precisions[l - 1]).mean())
                   * np.sum((x[l] - W[l - 1] @ acts[l - 1](x[l - 1]) - b[l - 1]) ** 2)
                   for l in range(1, len(x)))  # fmt: skip

    return f


def test_per_sample_masks_equal_one_clamp_per_sample_bit_for_bit():
    net, values, clamped = _setup()
    x0 = _start(net, values, clamped)
    free = [~c for c in clamped]
    all_free = pa.Clamp.layers(SIZES, [])
    res = discrete_inference(net, x0, all_free, step_size=0.1, n_steps=200, free=free,
                             trace_energy=False, on_failure="return")  # fmt: skip
    for s in range(values[0].shape[0]):
        one = discrete_inference(net, x0, _own_clamp(clamped, s), step_size=0.1, n_steps=200,
                                 on_failure="return")  # fmt: skip
        for a, b in zip(res.x, one.x):
            np.testing.assert_array_equal(a[s], b[s])
        assert res.grad_max[s] == one.grad_max[s]
        assert res.energy[s] == one.energy[s]
    # relax is this loop
    x, g = ad.relax(net, x0, free, steps=200, dt=0.1)
    for a, b in zip(x, res.x):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(g, res.grad_max)


def test_per_sample_masks_rest_at_each_samples_equilibrium_and_dense_minimiser():
    net, values, clamped = _setup()
    x0 = _start(net, values, clamped)
    x, g = ad.relax(net, x0, [~c for c in clamped], steps=6000, dt=0.2)
    assert g.max() < 1e-9
    for s in range(values[0].shape[0]):
        xs = tuple(v[s : s + 1] for v in x0)
        ref = solve_equilibrium(net, xs, _own_clamp(clamped, s), gtol=1e-11, on_failure="raise")
        masks = [~c[s] for c in clamped]
        f = _dense_energy(net, masks, [v[0] for v in xs])
        u0 = np.concatenate([v[0][m] for v, m in zip(xs, masks)])
        dense = minimize(f, u0, method="BFGS", options={"gtol": 1e-12, "maxiter": 10000})
        u = np.concatenate([v[s][m] for v, m in zip(x, masks)])
        np.testing.assert_allclose(u, dense.x, atol=1e-5, rtol=0)
        for a, b in zip(x, ref.x):
            np.testing.assert_allclose(a[s : s + 1], b, atol=ATOL, rtol=0)
        for a, c, v in zip(x, clamped, xs):  # clamped units never moved
            np.testing.assert_array_equal(a[s][c[s]], v[0][c[s]])


def test_per_sample_masks_reject_bad_shapes():
    net, values, clamped = _setup()
    x0 = _start(net, values, clamped)
    all_free = pa.Clamp.layers(SIZES, [])
    bad = [
        [~c for c in clamped][:-1],  # one mask short
        [np.ones((3, n), bool) for n in SIZES],  # wrong batch
        [np.ones(n) for n in SIZES],  # not boolean
    ]
    for free in bad:
        with pytest.raises(InvalidInputError):
            discrete_inference(net, x0, all_free, free=free, on_failure="return")


def test_recall_relaxed_start_is_the_given_state_with_missing_pixels_at_its_prediction():
    rng = np.random.default_rng(0)
    pats = (rng.uniform(size=(3, 16)) > 0.5).astype(float)
    net, x = ad.train_memory_relaxed(pats, latent=4, hidden=32, epochs=5)
    known = np.zeros((3, 16), bool)
    known[:, :8] = True
    out, _ = ad.recall_relaxed(net, pats, known, steps=0, start=x)
    pred = np.tanh(x[1]) @ net.W(2).T + net.b(2)  # oracle: the prediction, written out
    np.testing.assert_array_equal(out, np.where(known, pats, pred))
    out0, _ = ad.recall_relaxed(net, pats, known, steps=0)  # default: latent 0, feedforward
    ff = np.tanh(net.b(1)) @ net.W(2).T + net.b(2)  # latent 0: hidden at b_1
    np.testing.assert_allclose(out0[:, 8:], np.tile(ff, (3, 1))[:, 8:], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(out0[known], pats[known])
