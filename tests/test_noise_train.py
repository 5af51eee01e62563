"""Training in the noisy circuit: the noisy read (pc_analog.hardware.noisy_read) and its use
by ``train`` (issue 12, items 3 and 6).

Oracles: every factorisation's ``L L^T`` against scipy's Lyapunov solution (deterministic);
the lean Jacobian against :func:`free_jacobian`; the sample covariance of many seeded reads
against Lyapunov (per-entry z-tests, Bonferroni over the entries, as tests/test_sde.py);
the empirical std of the Hebbian update over many noisy reads of one sample against
:func:`hebbian_update_std` (Isserlis; a z-test on each variance with its own fourth-moment
standard error); noise off: training bit-identical to the noiseless path; noise on a
backend that cannot carry it: refused (library and CLI, exit 2).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from _oracles import Z_ALPHA
from _oracles import z_scores as _z_scores
from scipy.stats import norm

from pc_analog.circuit.ir import Hardware, compile_network
from pc_analog.circuit.noise import NoiseSources, with_noise
from pc_analog.costs.specs import AnalogSpec
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.hebbian import hebbian_from_state
from pc_analog.hardware.noisy_read import _free_jacobian, noisy_read, read_factor
from pc_analog.learning.train import TrainConfig, train
from pc_analog.model.network import Clamp, Network
from pc_analog.solvers.dynamics import FreeIndex
from pc_analog.solvers.lyapunov import free_jacobian, lyapunov_noise, noise_report, rest_point

#: Family-wise false-alarm probability of each z-test family (Bonferroni over entries).
#: Factor covariance against scipy's Lyapunov solution: measured <= 6e-15 relative.
FACTOR_RTOL = 1e-10


def _net(sizes, seed, act="tanh"):
    rng = np.random.default_rng(seed)
    W = tuple(
        rng.normal(0, 1.5 / np.sqrt(sizes[i]), (sizes[i + 1], sizes[i]))
        for i in range(len(sizes) - 1)
    )
    b = tuple(rng.normal(0, 0.1, s) for s in sizes[1:])
    pis = tuple(np.full(s, p) for s, p in zip(sizes[1:], [1.0] * (len(sizes) - 2) + [0.3]))
    return Network(W, b, pis, (act,) * (len(sizes) - 1))


def _circuit(noise, *, target=True, sizes=(5, 7, 4), batch=3, seed=0, c_F=1e-16, act="tanh"):
    rng = np.random.default_rng(seed + 50)
    net = _net(list(sizes), seed, act)
    x0 = rng.normal(size=(batch, sizes[0]))
    y = rng.normal(0, 0.5, (batch, sizes[-1])) if target else None
    circ = compile_network(net, x0, y, hardware=Hardware(c_F=c_F))
    return with_noise(circ, noise)


THERMAL = NoiseSources(thermal=True)
BOTH = NoiseSources(thermal=True, amp_noise_V_rtHz=3e-8)


@pytest.mark.parametrize(
    ("noise", "target", "expect"),
    [(THERMAL, True, "cholesky"), (THERMAL, False, "eigen"), (BOTH, True, "eigen")],
)
def test_every_factor_reproduces_the_lyapunov_covariance(noise, target, expect):
    """Automatic choice as documented, and each applicable method's ``L L^T`` equals
    scipy's ``solve_continuous_lyapunov`` solution."""
    circ = _circuit(noise, target=target)
    x, _ = rest_point(circ)
    S, *_ = lyapunov_noise(circ, x)
    assert read_factor(circ, x).method == expect
    methods = ("cholesky", "eigen", "lyapunov") if expect == "cholesky" else ("eigen", "lyapunov")
    for m in methods:
        cov = read_factor(circ, x, m).covariance()
        np.testing.assert_allclose(cov, S, rtol=0, atol=FACTOR_RTOL * np.abs(S).max())
    if expect != "cholesky":
        with pytest.raises(InvalidInputError, match="cholesky"):
            read_factor(circ, x, "cholesky")


def test_lean_jacobian_equals_free_jacobian():
    """The free-layer-only Jacobian of the ideal circuit against the general one, away from
    rest (errors nonzero, phi'' terms on) and with a free input layer (generative read)."""
    circ = _circuit(THERMAL, sizes=(4, 6, 5, 3))
    x, _ = rest_point(circ)
    x = tuple(v + 0.2 * np.random.default_rng(1).normal(size=v.shape) for v in x)
    ref = free_jacobian(circ, x)
    assert np.abs(_free_jacobian(circ, x) - ref).max() <= 1e-13 * np.abs(ref).max()
    sizes = circ.sizes
    clamp = Clamp(tuple(np.array([i % 2 == 1] * n) for i, n in enumerate(sizes)))
    c2 = dataclasses.replace(circ, clamp=clamp)
    ref = free_jacobian(c2, x)
    assert np.abs(_free_jacobian(c2, x) - ref).max() <= 1e-13 * np.abs(ref).max()


@pytest.mark.parametrize(("noise", "target"), [(THERMAL, True), (BOTH, True), (THERMAL, False)])
def test_read_states_sample_covariance_matches_lyapunov(noise, target):
    """4000 seeded reads per sample: every covariance entry's z-score below the Bonferroni
    bound (family-wise 1e-3 per sample), and mean z^2 near 1 (a 10 % scale error in the
    noise moves it by ~0.4 at this N)."""
    circ = _circuit(noise, target=target)
    x, _ = rest_point(circ)
    S, *_ = lyapunov_noise(circ, x)
    N = 4000
    r = noisy_read(circ, x, 123, draws=N)
    fi = FreeIndex(circ)
    Y = np.concatenate([r.x[l][:, :, idx] for l, idx in fi.blocks], axis=2)  # (N, B, n)
    y0 = fi.pack(x).reshape(circ.batch, -1)
    for b in range(circ.batch):
        dev = Y[:, b] - y0[b]
        assert np.abs(dev.mean(axis=0)).max() < 5 * np.sqrt(np.diag(S[b]).max() / N)
        z = _z_scores(np.cov(dev.T), S[b], N)
        assert np.abs(z).max() < norm.isf(Z_ALPHA / (2 * z.size))
        assert 0.6 < np.mean(z**2) < 1.6
    # clamped units untouched
    for l, f in enumerate(circ.clamp.free):
        assert np.array_equal(
            r.x[l][:, :, ~f], np.broadcast_to(x[l][:, ~f], (N,) + x[l][:, ~f].shape)
        )


def test_noisy_read_is_seeded_and_noise_free_circuit_is_untouched():
    circ = _circuit(THERMAL)
    x, _ = rest_point(circ)
    a, b, c = (noisy_read(circ, x, s).x for s in (7, 7, 8))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, w) for u, w in zip(a, c))
    quiet = dataclasses.replace(circ, noise=None)
    r = noisy_read(quiet, x, 7)
    assert r.method == "none" and all(np.array_equal(u, v) for u, v in zip(r.x, x))


@pytest.mark.parametrize("act", ["linear", "tanh"])
def test_hebbian_update_std_over_noisy_reads(act):
    """The Hebbian update ``pi eps phi^T`` of one sample over 3000 noisy reads: every entry's
    sample variance against the Isserlis variance, z = (var_hat - var) / SE with
    SE = sqrt((m4 - var_hat^2) / N) from the sample's own fourth moment; Bonferroni bound.
    Exact for a linear network; tanh at 1e-16 F (6 mV of noise) is linearised to ~1e-3."""
    circ = _circuit(BOTH, sizes=(3, 4, 3), batch=1, act=act, c_F=1e-17)
    x, _ = rest_point(circ)
    S, *_ = lyapunov_noise(circ, x)
    rep = noise_report(circ, S, x, method="lyapunov")
    N = 3000
    r = noisy_read(circ, x, 99, draws=N)
    grads = [hebbian_from_state(circ, tuple(v[k] for v in r.x)) for k in range(N)]
    for l in range(circ.n_layers):
        U = np.stack([g.dW[l] for g in grads])  # (N, n_l, n_{l-1})
        var_hat = U.var(axis=0, ddof=1)
        m4 = ((U - U.mean(axis=0)) ** 4).mean(axis=0)
        se = np.sqrt(np.maximum(m4 - var_hat**2, 1e-300) / N)
        pred = rep.hebbian_std[l][0] ** 2
        mask = pred > 1e-12 * pred.max()
        z = ((var_hat - pred) / se)[mask]
        assert mask.any() and np.abs(z).max() < norm.isf(Z_ALPHA / (2 * z.size))


def _cfg(**kw):
    base = dict(arch=(64, 12, 10), epochs=1, limit_train=64, limit_test=40, bp_baseline=False,
                batch_size=16, seed=3)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _weights(rep):
    return rep.network.weights + rep.network.biases


def test_noise_off_training_is_bit_identical(tmp_path, monkeypatch):
    """A spec without noise trains exactly as before the noise hook: the same weights and
    accuracy as with the hook replaced by the old code (settle, then the ADC read)."""
    import pc_analog.learning.train as T

    spec = AnalogSpec(c_F=1e-15, adc_bits=8)
    cfg = _cfg(analog=spec, hardware={"c_F": 1e-15})
    a = train(cfg, tmp_path / "a", progress=False, plots=False)

    def old(cfg, circ, noise_rng):
        res = T.settle(circ, backend=cfg.backend, on_failure="return")
        return res, tuple(cfg.analog.read_out(res)), 0  # the ADC read, as before

    monkeypatch.setattr(T, "_settle_and_read", old)
    b = train(cfg, tmp_path / "b", progress=False, plots=False)
    assert all(np.array_equal(u, v) for u, v in zip(_weights(a), _weights(b)))
    assert a.test_accuracy == b.test_accuracy


def test_noise_on_trains_with_noisy_reads_reproducibly(tmp_path):
    """Thermal noise at 10 aF (20 mV per hidden unit) changes the weights, the same seed
    repeats them bit for bit, and the noiseless run differs from both."""
    noisy = AnalogSpec(c_F=1e-17, thermal_noise=True)
    kw = dict(hardware={"c_F": 1e-17}, eval_mode="feedforward")
    a = train(_cfg(analog=noisy, **kw), tmp_path / "a", progress=False, plots=False)
    b = train(_cfg(analog=noisy, **kw), tmp_path / "b", progress=False, plots=False)
    q = train(_cfg(analog=AnalogSpec(c_F=1e-17), **kw), tmp_path / "q", progress=False,
              plots=False)  # fmt: skip
    assert all(np.array_equal(u, v) for u, v in zip(_weights(a), _weights(b)))
    assert not all(np.array_equal(u, v) for u, v in zip(_weights(a), _weights(q)))


@pytest.mark.parametrize("backend", ["discrete", "ngspice"])
def test_noise_on_a_backend_that_cannot_carry_it_is_refused(backend, tmp_path):
    spec = AnalogSpec(thermal_noise=True)
    with pytest.raises(InvalidInputError, match=f"{backend}.*cannot carry"):
        _cfg(analog=spec, backend=backend)
    spec = AnalogSpec(amp_noise_V_rtHz=1e-8)
    with pytest.raises(InvalidInputError, match="cannot carry"):
        _cfg(analog=spec, backend=backend)
    _cfg(analog=AnalogSpec(), backend=backend)  # noise off: accepted as before


def test_cli_refuses_noise_on_discrete_with_exit_2(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text('{"format": "pc-analog.analog-spec/2", "thermal_noise": true}\n')
    out = tmp_path / "run"
    p = subprocess.run(
        [sys.executable, "-m", "pc_analog.cli.main", "train", "--hardware", str(spec),
         "--backend", "discrete", "--epochs", "1", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot carry" in lines[0] and "Traceback" not in p.stderr
    assert not out.exists()
