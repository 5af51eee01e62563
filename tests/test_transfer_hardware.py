"""The transfer study's two added hardware models: mismatched feedback crossbars and
thermal noise at small C (pc_analog.experiments.transfer).

Oracles: with mismatch 0 the feedback copy is the forward crossbar transposed, bit for bit,
and the chip settles exactly as the plain chip; with mismatch the feedback conductances are
the drawn factors times the forward ones, a free settle is still the feedforward pass
(``eps_L = 0`` makes every feedback current vanish) and a clamped rest point obeys the PC
stationarity with the *feedback* weights, ``pi_1 eps_1 = phi'(x_1) (pi_2 eps_2 Wfb^T)``.
Thermal noise: strength 0 is the noiseless chip exactly; the noisy read of a one-free-unit
linear chain has the closed-form variance ``kT/C pi_1 / (pi_1 + pi_2 w^2)``
(solvers/lyapunov.py); reads are reproducible for a seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from pc_analog.circuit.ir import compile_network
from pc_analog.costs.specs import AnalogSpec
from pc_analog.errors import InvalidInputError
from pc_analog.experiments.transfer import (
    NONIDEALITIES,
    feedback_gains,
    make_chip,
    noisy_read,
    rest_state,
    run_transfer,
)
from pc_analog.learning.defaults import prepare_data
from pc_analog.model.energy import feedforward
from pc_analog.model.network import Network

K_B = 1.380649e-23


def _net(seed=0, arch=(6, 5, 3)):
    return Network.random(arch, "tanh", precisions=[1.0, 0.3], seed=seed)


def _io(seed=1, n=4, arch=(6, 5, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, arch[0])), 0.5 * rng.normal(size=(n, arch[-1]))


def test_every_nonideality_has_three_strengths():
    for name, (strengths, meaning) in NONIDEALITIES.items():
        assert len(strengths) == (1 if name == "ideal" else 3), name
        assert meaning


def test_mismatch_zero_feedback_copy_is_the_forward_crossbar_and_settles_identically():
    net = _net()
    x, t = _io()
    plain = make_chip("ideal", 0.0).scaled_for(net)
    twin = make_chip("fb_mismatch", 0.0).scaled_for(net)
    assert twin.fb_gains == ()  # mismatch 0: no separate copy at all
    forced = plain.__class__(**{**plain.__dict__, "fb_mismatch": 0.0,
                                "fb_gains": feedback_gains(net, 0.0, 0)})  # fmt: skip
    assert all(np.array_equal(g, np.ones_like(g)) for g in forced.fb_gains)
    hw = forced.program(net)
    c0, c1 = plain.circuit(hw, x, t), forced.circuit(hw, x, t)
    for l in (1, 2):
        np.testing.assert_array_equal(c1.feedback_weights(l), c1.forward_weights(l).T)
        np.testing.assert_array_equal(c1.feedback_weights(l), c0.feedback_weights(l))
    for a, b in zip(rest_state(c0), rest_state(c1)):
        np.testing.assert_array_equal(a, b)


def test_mismatched_feedback_conductances_are_the_drawn_factors_times_the_forward_ones():
    net = _net()
    chip = make_chip("fb_mismatch", 0.2, seed=3).scaled_for(net)
    gains = feedback_gains(net, 0.2, 3)
    for a, b in zip(chip.fb_gains, gains):
        np.testing.assert_array_equal(a, b)
    hw = chip.program(net)
    circ = chip.circuit(hw, *_io())
    assert not circ.symmetric
    for l in (1, 2):
        L = circ.layers[l - 1]
        np.testing.assert_allclose(L.feedback.g_pos_S, gains[l - 1][0] * L.forward.g_pos_S.T)
        np.testing.assert_allclose(L.feedback.g_neg_S, gains[l - 1][1] * L.forward.g_neg_S.T)
    big = np.concatenate([g.ravel() for g in feedback_gains(Network.random(
        (60, 50, 40), "tanh", seed=0), 0.1, 7)])  # fmt: skip
    assert abs(big.mean() - 1.0) < 0.01 and abs(big.std() - 0.1) < 0.005
    other = feedback_gains(net, 0.2, 4)
    assert not np.array_equal(gains[0], other[0])


def test_mismatched_chip_free_settle_is_feedforward_and_clamped_rest_obeys_feedback_weights():
    net = _net()
    chip = make_chip("fb_mismatch", 0.3, seed=2).scaled_for(net)
    hw = chip.program(net)
    x, t = _io(5)
    free = chip.forward(hw, x, chunk=4)
    for a, b in zip(free, feedforward(net, x)):
        np.testing.assert_allclose(a, b, atol=1e-9)
    circ = chip.circuit(hw, x, t)
    s = rest_state(circ)
    pi1, pi2, phi0, phi1 = circ.precisions(1), circ.precisions(2), net.phi(0), net.phi(1)
    eps1 = s[1] - phi0.f(s[0]) @ circ.forward_weights(1).T - circ.biases(1)
    eps2 = s[2] - phi1.f(s[1]) @ circ.forward_weights(2).T - circ.biases(2)
    want = phi1.df(s[1]) * ((pi2 * eps2) @ circ.feedback_weights(2).T)
    np.testing.assert_allclose(pi1 * eps1, want, atol=1e-9)
    # and it is not the symmetric circuit's rest point
    sym = make_chip("ideal", 0.0, seed=2).scaled_for(net)
    s0 = rest_state(sym.circuit(sym.program(net), x, t))
    assert np.abs(s0[1] - s[1]).max() > 1e-4


def test_thermal_strength_zero_is_the_noiseless_chip_exactly():
    chip = make_chip("thermal", 0.0)
    assert chip.spec.thermal_noise is False
    assert make_chip("thermal", 1e-17).spec.thermal_noise is True
    assert make_chip("thermal", 1e-17).spec.c_F == 1e-17
    data = prepare_data("digits", input_scaling="global", limit_train=20, limit_test=30)
    kw = dict(arch=(64, 6, 10), epochs=1, lr=0.1, seed=0, batch=5)
    a = run_transfer("thermal", 0.0, data, **kw)
    b = run_transfer("ideal", 0.0, data, **kw)
    assert a.accuracy == b.accuracy and a.ideal_accuracy == b.ideal_accuracy


def test_noiseless_read_draws_nothing_and_returns_the_rest_point():
    net = _net()
    circ = compile_network(net, *_io())
    x = rest_state(circ)
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    out = noisy_read(circ, x, rng)
    assert rng.bit_generator.state == before
    for a, b in zip(out, x):
        np.testing.assert_array_equal(a, b)


def _chain(c_F, n=4000, w=0.7, pi1=1.0, pi2=2.0):
    net = Network(
        (np.array([[0.4]]), np.array([[w]])),
        (np.zeros(1), np.zeros(1)),
        (pi1, pi2),
        ("linear", "linear"),
    )
    spec = AnalogSpec(name="t", c_F=c_F, thermal_noise=True)
    circ = spec.apply(compile_network(net, np.full((n, 1), 0.3), np.full((n, 1), -0.2),
                                      hardware=spec.hardware()))  # fmt: skip
    return circ, rest_state(circ)


def test_noisy_read_of_one_free_unit_has_the_closed_form_variance():
    c_F, w, pi1, pi2 = 1e-17, 0.7, 1.0, 2.0
    circ, x = _chain(c_F, w=w, pi1=pi1, pi2=pi2)
    read = noisy_read(circ, x, np.random.default_rng(11))
    d = read[1][:, 0] - x[1][:, 0]
    want = K_B * 300.0 / c_F * pi1 / (pi1 + pi2 * w**2)
    # sample variance of 4000 normals: relative standard error sqrt(2/4000) = 2.2 %
    assert abs(d.var() / want - 1.0) < 0.09, (d.var(), want)
    assert abs(d.mean()) < 4 * np.sqrt(want / d.size)
    np.testing.assert_array_equal(read[0], x[0])  # clamped nodes untouched
    np.testing.assert_array_equal(read[2], x[2])


def test_noisy_reads_are_reproducible_for_a_seed():
    circ, x = _chain(1e-17, n=50)
    a = noisy_read(circ, x, np.random.default_rng(3))
    b = noisy_read(circ, x, np.random.default_rng(3))
    c = noisy_read(circ, x, np.random.default_rng(4))
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_thermal_and_mismatch_runs_are_reproducible_for_a_seed():
    """Two runs of one seed agree to the bit (every noisy read drawn from the seed); at
    64 mV of noise on 150 test samples an unseeded read would not."""
    data = prepare_data("digits", input_scaling="global", limit_train=20, limit_test=150)
    kw = dict(arch=(64, 6, 10), epochs=1, lr=0.1, batch=10)
    a = run_transfer("thermal", 1e-18, data, seed=1, **kw)
    b = run_transfer("thermal", 1e-18, data, seed=1, **kw)
    assert a.to_dict() == b.to_dict()
    c = run_transfer("all", 1.0, data, seed=1, **kw)
    assert c.to_dict() == run_transfer("all", 1.0, data, seed=1, **kw).to_dict()


def test_bad_batch_is_refused():
    data = prepare_data("digits", input_scaling="global", limit_train=5, limit_test=5)
    with pytest.raises(InvalidInputError, match="batch"):
        run_transfer("ideal", 0.0, data, arch=(64, 4, 10), epochs=1, lr=0.1, batch=0)
