"""Inference in any direction: partial clamps on every backend, against independent oracles.

Oracles
-------
- A dense reference: scipy's trust-region Newton on the free units of the energy written out
  here in numpy (no pc_analog code), from the same feedforward start.
- A linear PC network is a Gaussian model: ``p(x) ~ exp(-F(x))`` with a broad prior
  ``x_0 ~ N(0, s^2 I)`` is the ancestral chain ``x_l = W_l x_{l-1} + b_l + n_l``,
  ``n_l ~ N(0, diag(1/pi_l))``.  Its joint mean and covariance follow layer by layer, and
  the equilibrium with any clamp set is the conditional mean of the free units given the
  clamped ones, ``m_f + S_fc S_cc^-1 (x_c - m_c)`` (covariance form, no Hessian), in the
  limit ``s -> inf`` (``F`` puts no prior on ``x_0``).
- Every backend (discrete, ode, ngspice behavioural and crossbar, operating point and
  transient) rests where the equilibrium does, with clamps in the input, in the middle, and
  at the top only.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy.optimize import minimize

import pc_analog as pa
from pc_analog.settling.registry import settle

NGSPICE = shutil.which("ngspice")
SIZES = [2, 5, 7, 9]
#: Backends vs the equilibrium, max |diff| (activities of order one).  Measured: ode
#: <= 8e-8, ngspice op <= 1.3e-9, tran <= 2e-9, discrete (gtol stop) <= 2.1e-7; kept at
#: ~20-50x of the worst.
BACKEND_ATOL = {"ode": 5e-6, "ngspice": 1e-6, "discrete": 1e-5}
#: Equilibrium vs scipy trust-region Newton (gtol 1e-12) on the numpy energy: measured
#: <= 1e-11; kept at 1e-8.
DENSE_ATOL = 1e-7
#: Conditional mean with prior std s = 1e4 vs the flat-prior equilibrium: the prior's pull is
#: O(1/s^2) = 1e-8 relative, the covariance solve loses ~cond * eps; measured <= 3e-8.
GAUSS_ATOL = 1e-6


def _net():
    return pa.Network.random(SIZES, "tanh", seed=1, gain=2.0)


def _clamp(spec: dict) -> pa.Clamp:
    masks = [np.zeros(n, bool) for n in SIZES]
    for l, units in spec.items():
        masks[l][units] = True
    return pa.Clamp(tuple(masks))


CASES = {
    "input": {0: [1], 3: [0, 2, 4, 5, 7]},  # part of the input and of the top clamped
    "middle": {0: [0, 1], 1: [0, 1, 3], 2: [2, 5]},  # input and middle units, the top free
    "top": {3: list(range(9))},  # generative inference: only the top clamped
}


def _values(net, seed=0, batch=2):
    """A state near the model's own predictions (so the clamped values can be explained)."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=(batch, SIZES[0]))
    ff = pa.feedforward(net, x0)
    return (x0,) + tuple(ff[l] + 0.1 * rng.normal(size=ff[l].shape) for l in range(1, 4))


_F = {"linear": (lambda v: v, np.ones_like), "tanh": (np.tanh, lambda v: 1 - np.tanh(v) ** 2)}


def _energy_and_grad_np(net, x):
    """The SPEC section 1 energy of one sample and its gradient, in plain numpy."""
    L = len(x) - 1
    e = [None]
    F = 0.0
    for l in range(1, L + 1):
        mu = _F[net.activations[l - 1]][0](x[l - 1]) @ np.asarray(net.W(l)).T + net.b(l)
        e.append(net.pi(l) * (x[l] - mu))
        F += 0.5 * np.sum(e[l] * (x[l] - mu))
    g = []
    for l in range(L + 1):
        gl = e[l].copy() if l else np.zeros_like(x[0])
        if l < L:
            gl = gl - _F[net.activations[l]][1](x[l]) * (e[l + 1] @ np.asarray(net.W(l + 1)))
        g.append(gl)
    return F, g


def _dense_reference(net, clamp, x_start):
    """Minimise the numpy energy over the free units of each sample with BFGS (analytic
    gradient, gtol 1e-12), from the same start."""
    out = [np.array(v) for v in x_start]
    free = clamp.free
    for s in range(x_start[0].shape[0]):

        def unpack(z, s=s):
            x, k = [np.array(v[s : s + 1]) for v in x_start], 0
            for l, m in enumerate(free):
                x[l][0, m] = z[k : k + m.sum()]
                k += m.sum()
            return x

        def fun(z):
            F, g = _energy_and_grad_np(net, unpack(z))
            return F, np.concatenate([gl[0, m] for gl, m in zip(g, free)])

        z0 = np.concatenate([x_start[l][s, m] for l, m in enumerate(free)])
        res = minimize(fun, z0, jac=True, method="BFGS", options={"gtol": 1e-12, "maxiter": 10**4})
        assert np.max(np.abs(res.jac)) < 1e-8, res.message
        for l, xl in enumerate(unpack(res.x)):
            out[l][s] = xl[0]
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_partial_clamp_equilibrium_matches_a_dense_minimiser(case):
    net, clamp = _net(), _clamp(CASES[case])
    x = pa.initial_state(net, clamp, _values(net))
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success
    ref = _dense_reference(net, clamp, x)
    for a, b, xs, m in zip(res.x, ref, x, clamp.masks):
        np.testing.assert_allclose(a, b, rtol=0, atol=DENSE_ATOL)
        np.testing.assert_array_equal(a[:, m], xs[:, m])  # clamped units never move


BACKENDS = [
    ("ode", {}),
    pytest.param(
        "ngspice", {"analysis": "op"}, marks=pytest.mark.skipif(NGSPICE is None, reason="ngspice")
    ),
    pytest.param(
        "ngspice",
        {"analysis": "op", "level": "crossbar"},
        marks=pytest.mark.skipif(NGSPICE is None, reason="ngspice"),
    ),
    pytest.param(
        "ngspice", {"analysis": "tran"}, marks=pytest.mark.skipif(NGSPICE is None, reason="ngspice")
    ),
]


def test_discrete_pc_rests_at_the_middle_clamp_equilibrium():
    """Discrete PC (Euler steps of 0.1 tau) with clamps in the input and the middle; the
    other two cases have a slow mode (thousands of steps) and are covered by the ode."""
    net, clamp = _net(), _clamp(CASES["middle"])
    values = _values(net)
    eq = settle(net, clamp=clamp, values=values)
    res = settle(net, clamp=clamp, values=values, backend="discrete", on_failure="raise")
    for a, b in zip(res.x, eq.x):
        np.testing.assert_allclose(a, b, rtol=0, atol=BACKEND_ATOL["discrete"])


@pytest.mark.parametrize("backend, options", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_backend_rests_at_the_partial_clamp_equilibrium(case, backend, options):
    net, clamp = _net(), _clamp(CASES[case])
    values = _values(net)
    eq = settle(net, clamp=clamp, values=values)
    res = settle(net, clamp=clamp, values=values, backend=backend, on_failure="raise", **options)
    for a, b, m in zip(res.x, eq.x, clamp.masks):
        np.testing.assert_allclose(a, b, rtol=0, atol=BACKEND_ATOL[backend])
        np.testing.assert_allclose(a[:, m], b[:, m], rtol=0, atol=1e-12)


# ------------------------------------------------------------------ the Gaussian oracle


def _gaussian_joint(net, prior_std: float):
    """Mean and covariance of the ancestral chain ``x_0 ~ N(0, s^2)``,
    ``x_l = W_l x_{l-1} + b_l + N(0, diag(1/pi_l))`` (linear activations)."""
    sizes = net.sizes
    offs = np.concatenate([[0], np.cumsum(sizes)])
    N = offs[-1]
    m, S = np.zeros(N), np.zeros((N, N))
    S[: sizes[0], : sizes[0]] = prior_std**2 * np.eye(sizes[0])
    for l in range(1, len(sizes)):
        W = np.asarray(net.W(l))
        prev, cur = slice(offs[l - 1], offs[l]), slice(offs[l], offs[l + 1])
        m[cur] = W @ m[prev] + net.b(l)
        # Cov(x_l, x_k) = W Cov(x_{l-1}, x_k) for every earlier k; the new noise adds to x_l.
        S[cur, : offs[l]] = W @ S[prev, : offs[l]]
        S[: offs[l], cur] = S[cur, : offs[l]].T
        S[cur, cur] = W @ S[prev, prev] @ W.T + np.diag(1.0 / net.pi(l))
    return m, S


@pytest.mark.parametrize(
    "spec",
    [
        {0: [0, 1]},  # the discriminative direction: the input clamped, everything follows
        {3: list(range(9))},  # the generative direction: the image clamped, infer the label
        {3: [0, 3, 4, 8], 1: [2]},  # inpainting with a clamped hidden unit
        {0: [1], 2: [0, 1, 2, 3, 4, 5]},  # clamps in the input and the middle
    ],
    ids=["input", "top", "top-and-hidden", "input-and-middle"],
)
def test_linear_equilibrium_is_the_gaussian_conditional_mean(spec):
    net = pa.Network.random(SIZES, "linear", precisions=[1.0, [0.5] * 7, 2.0], seed=7)
    clamp = _clamp(spec)
    rng = np.random.default_rng(3)
    values = tuple(rng.normal(size=(3, n)) for n in SIZES)
    res = settle(net, clamp=clamp, values=values)
    assert res.success
    m, S = _gaussian_joint(net, prior_std=1e4)
    c = np.concatenate(clamp.masks)
    f = ~c
    xc = np.concatenate([v[:, mk] for v, mk in zip(values, clamp.masks)], axis=1)
    cond = m[f] + (xc - m[c]) @ np.linalg.solve(S[np.ix_(c, c)], S[np.ix_(c, f)])
    got = np.concatenate([xl[:, ~mk] for xl, mk in zip(res.x, clamp.masks)], axis=1)
    np.testing.assert_allclose(got, cond, rtol=0, atol=GAUSS_ATOL * max(1, np.abs(cond).max()))


# ------------------------------------------------------------------ the tasks


def _gen_net(seed=2):
    return pa.Network.random([3, 4, 6], "linear", precisions=[1.0, 4.0], seed=seed)


def test_masked_settles_grouped_by_mask_equal_one_settle_per_sample():
    """Samples sharing a mask settle together; each must equal its own settle."""
    from pc_analog.experiments import any_direction as ad

    net = _gen_net()
    rng = np.random.default_rng(4)
    images = rng.normal(size=(5, 6))
    known = np.array([[1, 0, 1, 0, 1, 1], [0, 1, 1, 1, 0, 0]], bool)[[0, 1, 0, 0, 1]]
    got = ad.settle_masked(net, 2, images, known)
    for s in range(5):
        clamp = _clamp_rows(net, 2, known[s])
        vals = (np.zeros((1, 3)), np.zeros((1, 4)), np.where(known[s], images[s], 0)[None])
        ref = settle(net, clamp=clamp, values=vals)
        for a, b in zip(got, ref.x):
            np.testing.assert_allclose(a[s], b[0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got[2][known], images[known])


def _clamp_rows(net, layer, row):
    masks = [np.zeros(n, bool) for n in net.sizes]
    masks[layer] = np.asarray(row, bool)
    return pa.Clamp(tuple(masks))


def test_generation_is_the_feedforward_prototype():
    """With the whole label clamped the rest point is the feedforward pass (zero energy)."""
    from pc_analog.experiments import any_direction as ad

    net = pa.Network.random([3, 5, 6], "tanh", seed=3)
    labels = np.eye(3)
    np.testing.assert_allclose(
        ad.generate(net, labels), pa.feedforward(net, labels)[-1], rtol=0, atol=1e-12
    )


def test_pc_learning_lowers_the_clamped_energy():
    from pc_analog.experiments import any_direction as ad

    rng = np.random.default_rng(0)
    y = np.eye(3)[rng.integers(0, 3, size=60)]
    x = y @ rng.normal(size=(3, 6)) + 0.05 * rng.normal(size=(60, 6))
    net0 = _gen_net()
    net1 = ad.pc_learn(net0, {0: y, 2: x}, epochs=20, lr=0.05, batch_size=20)
    clamp = pa.Clamp.layers(net0.sizes, [0, 2])
    vals = (y, np.zeros((60, 4)), x)

    def energy(net):
        return float(np.mean(settle(net, clamp=clamp, values=vals).energy))

    assert energy(net1) < 0.2 * energy(net0)


def test_hopfield_recalls_a_few_random_patterns_and_never_raises_its_energy():
    from pc_analog.experiments import hopfield

    rng = np.random.default_rng(1)
    pats = np.where(rng.random((3, 64)) < 0.5, 1.0, -1.0)
    cues = pats.copy()
    for c in cues:
        c[rng.choice(64, size=6, replace=False)] *= -1
    W = hopfield.store(pats)
    assert np.all(np.diag(W) == 0) and np.allclose(W, W.T)
    s, sweeps = hopfield.recall(W, cues)
    np.testing.assert_array_equal(s, pats)
    assert np.all(sweeps < 100)
    assert np.all(hopfield.energy(W, s) <= hopfield.energy(W, cues))


# ------------------------------------------------------------------ command line


def test_train_generative_direction(tmp_path, capsys):
    import json

    from pc_analog.cli.main import main

    argv = ["train", "--direction", "generative", "--arch", "10-8-64", "--activation",
            "linear", "--epochs", "1", "--limit-train", "64", "--limit-test", "32",
            "--lr", "0.05", "--no-plots", "--json", "--out", str(tmp_path / "g")]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= out["test_accuracy"] <= 1 and out["bp_test_accuracy"] is None
    net = json.loads((tmp_path / "g" / "final_network.json").read_text())
    assert net["sizes"] == [10, 8, 64]
    bad = [a if a != "10-8-64" else "64-8-10" for a in argv[:-1]] + [str(tmp_path / "b")]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "generative" in err and err.count("\n") == 1


def test_bench_memory_and_generate(capsys):
    import json

    from pc_analog.cli.main import main

    # K = 5 digits in a latent(32) -> image(64) memory: every one back from its top half
    assert main(["bench", "memory", "--k", "5", "--epochs", "150", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recalled_pc"] == 1.0 and out["recalled_pc"] > out["recalled_hopfield"]
    assert main(["bench", "generate", "--epochs", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert np.array(out["images"]).shape == (10, 64)
    assert main(["bench", "missing", "--keep", "0"]) == 2
    assert "--keep" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--k", "1439"], ["--within", "-1"], ["--within", "nan"]])
def test_bench_memory_refuses_bad_k_and_within_before_training(argv, capsys):
    """More stored images than training digits, or a threshold that is not a positive
    number: one line, exit 2, and (400 default epochs) no training first."""
    from pc_analog.cli.main import main

    assert main(["bench", "memory", *argv]) == 2
    err = capsys.readouterr().err
    assert argv[0] in err and err.count("\n") == 1
