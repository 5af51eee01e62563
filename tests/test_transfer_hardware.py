"""The transfer study's two added hardware models: mismatched feedback crossbars and
thermal noise at small C (pc_analog.experiments.transfer).

Oracles: with mismatch 0 the feedback copy is the forward crossbar transposed, bit for bit,
and the chip settles exactly as the plain chip; with mismatch the feedback conductances are
the drawn factors times the forward ones, a free settle is still the feedforward pass
(``eps_L = 0`` makes every feedback current vanish) and a clamped rest point obeys the PC
stationarity with the *feedback* weights, ``pi_1 eps_1 = phi'(x_1) (pi_2 eps_2 Wfb^T)``.
Thermal noise: strength 0 is the noiseless chip exactly; the noisy read of a one-free-unit
linear chain has the closed-form variance ``kT/C pi_1 / (pi_1 + pi_2 w^2)``
(solvers/lyapunov.py); reads are reproducible for a seed; a chip's reads (the library's
noisy read) have the Lyapunov covariance of the chip's circuit, thermal-only and with every
non-ideality together (mismatched feedback: no energy), by z-tests.
Separate feedback copy: its stuck devices are its own draw (binomial z-tests on its
stuck count and on its overlap with the forward crossbars' stuck set, ``n p^2`` for
independent draws), its working devices conduct the mismatch factors times the forward
targets, and without stuck devices it is the forward crossbar times the factors, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from pc_analog.circuit.ir import compile_network
from pc_analog.costs.specs import AnalogSpec
from pc_analog.errors import InvalidInputError
from pc_analog.experiments.transfer import (
    FEEDBACK_STREAM,
    NONIDEALITIES,
    feedback_gains,
    make_chip,
    rest_state,
    run_transfer,
)
from pc_analog.hardware.noisy_read import noisy_read as library_noisy_read
from pc_analog.learning.defaults import prepare_data
from pc_analog.model.energy import feedforward
from pc_analog.model.network import Network
from pc_analog.solvers.lyapunov import lyapunov_noise

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
    chip = make_chip("ideal", 0.0).scaled_for(net)
    circ = chip.circuit(chip.program(net), *_io())
    x = rest_state(circ)
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    out = chip.read(circ, rng)
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
    read = library_noisy_read(circ, x, np.random.default_rng(11)).x
    d = read[1][:, 0] - x[1][:, 0]
    want = K_B * 300.0 / c_F * pi1 / (pi1 + pi2 * w**2)
    # sample variance of 4000 normals: relative standard error sqrt(2/4000) = 2.2 %
    assert abs(d.var() / want - 1.0) < 0.09, (d.var(), want)
    assert abs(d.mean()) < 4 * np.sqrt(want / d.size)
    np.testing.assert_array_equal(read[0], x[0])  # clamped nodes untouched
    np.testing.assert_array_equal(read[2], x[2])


def test_noisy_reads_are_reproducible_for_a_seed():
    circ, x = _chain(1e-17, n=50)
    a = library_noisy_read(circ, x, np.random.default_rng(3)).x
    b = library_noisy_read(circ, x, np.random.default_rng(3)).x
    c = library_noisy_read(circ, x, np.random.default_rng(4)).x
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


def _cov_z(d, sig):
    """z-scores of the sample covariance of ``d`` (n x k, mean known 0) against ``sig``:
    ``var(d_i d_j) = sig_ii sig_jj + sig_ij^2`` for Gaussian ``d``."""
    n = d.shape[0]
    S = d.T @ d / n
    se = np.sqrt((np.outer(np.diag(sig), np.diag(sig)) + sig**2) / n)
    return (S - sig) / se


@pytest.mark.parametrize("name,strength,clamped", [
    ("thermal", 1e-17, True), ("thermal", 1e-17, False), ("all", 1.0, True),
])  # fmt: skip
def test_chip_reads_have_the_lyapunov_covariance_of_the_chip(name, strength, clamped):
    """``Chip.read`` of ``n`` copies of one sample: ``n`` independent draws whose sample
    covariance matches ``Sigma`` of ``A Sigma + Sigma A^T + Q = 0`` (scipy's Lyapunov
    solver, checked by its residual) for the study's noisy chips: thermal noise alone
    (a gradient flow: the library reads it by Cholesky) and everything together
    (amplifier offsets, block errors, stuck devices, mismatched feedback: the Lyapunov
    path), training reads (label clamped) and test reads (output free)."""
    net = _net(seed=4)
    chip = make_chip(name, strength, seed=1).scaled_for(net)
    hw = chip.program(net)
    x, t = _io(2, n=1)
    n = 3000
    circ = chip.circuit(hw, np.repeat(x, n, 0), np.repeat(t, n, 0) if clamped else None)
    rest = rest_state(circ)
    got = chip.read(circ, np.random.default_rng(5))
    free = [l for l in range(3) if not circ.clamp.masks[l].all()]
    d = np.concatenate([got[l] - rest[l] for l in free], axis=1)
    one = chip.circuit(hw, x, t if clamped else None)
    sig, J, B, *_ = lyapunov_noise(one, rest_state(one))
    sig, J, B = sig[0], J[0], B[0]
    C = circ.hardware.c_F
    A, Q = J / C, B @ B.T / C**2
    assert np.abs(A @ sig + sig @ A.T + Q).max() < 1e-9 * np.abs(Q).max()
    assert d.shape[1] == sig.shape[0] and np.all(np.diag(sig) > 0)
    z = _cov_z(d, sig)
    assert np.abs(z).max() < 4.5, np.abs(z).max()
    zm = d.mean(axis=0) / np.sqrt(np.diag(sig) / n)
    assert np.abs(zm).max() < 4.5, zm


def _stuck_chip(stuck=0.1, fb=0.1, seed=3):
    import dataclasses

    return dataclasses.replace(make_chip("stuck", stuck, seed=seed), fb_mismatch=fb)


def test_separate_feedback_copy_draws_its_own_stuck_devices():
    """The feedback copy's stuck devices: a fraction ``p`` (binomial z-test), half of
    them high, and independent of the forward crossbars' (the overlap of the two stuck
    sets is ``n p^2`` by a z-test, not the ``n p`` of a mirrored copy); reproducible for
    the chip's seed, another seed another set."""
    net = Network.random((60, 50, 40), "tanh", precisions=[1.0, 0.3], seed=0)
    p = 0.1
    chip = _stuck_chip(p).scaled_for(net)
    hw = chip.program(net)
    assert hw.feedback is not None and FEEDBACK_STREAM not in (0, 1, 2, 3, 4)
    fb = np.concatenate([a.stuck.ravel() for a in hw.feedback])
    fw = np.concatenate([a.stuck.transpose(0, 2, 1).ravel() for a in hw.forward])
    n = fb.size
    k = int(np.count_nonzero(fb))
    assert abs(k - n * p) / np.sqrt(n * p * (1 - p)) < 4.0, (k, n * p)
    hi = int(np.count_nonzero(fb == 2))
    assert abs(hi - k / 2) / np.sqrt(k / 4) < 4.0
    both = int(np.count_nonzero((fb > 0) & (fw > 0)))
    q = p * p
    assert abs(both - n * q) / np.sqrt(n * q * (1 - q)) < 4.0, (both, n * q)
    # the documented stream [seed, FEEDBACK_STREAM], not the forward crossbars' [seed, 0]
    from pc_analog.hardware.device_arrays import fabricate

    for stream, same in ((FEEDBACK_STREAM, True), (0, False)):
        r = np.random.default_rng([3, stream])
        want = [fabricate(chip.device, net.W(l).T, chip.g_units[l - 1], r).stuck for l in (1, 2)]
        assert all(np.array_equal(a.stuck, w) for a, w in zip(hw.feedback, want)) == same
    again = chip.program(net.replace(weights=tuple(0.5 * W for W in net.weights)))
    for a, b in zip(hw.feedback, again.feedback):
        np.testing.assert_array_equal(a.stuck, b.stuck)
    other = _stuck_chip(p, seed=4).scaled_for(net).program(net)
    assert not np.array_equal(other.feedback[0].stuck, hw.feedback[0].stuck)


def test_feedback_copy_conducts_gain_times_the_forward_targets_at_its_working_devices():
    """In the chip's circuit a feedback device stuck at g_min / g_max conducts that; every
    working one conducts ``clip(gain * g_unit max(+-W^T, 0))`` -- the forward target,
    also where the forward twin is stuck -- and after Hebbian steps the copy keeps its
    stuck devices pinned and tracks the forward weights' changes at the working ones."""
    net = _net(arch=(12, 9, 4))
    chip = _stuck_chip(0.2, 0.2, seed=1).scaled_for(net)
    hw = chip.program(net)
    x, t = _io(3, arch=(12, 9, 4))
    c = chip.device
    for step in range(3):
        circ = chip.circuit(hw, x, t)
        for l in (1, 2):
            fbs, fws = hw.feedback[l - 1].stuck, hw.forward[l - 1].stuck.transpose(0, 2, 1)
            if step == 0:
                g = chip.g_units[l - 1]
                W = net.W(l).T
                tgt = np.clip(g * np.stack([np.maximum(W, 0), np.maximum(-W, 0)]), 0, c.g_max_S)
            else:  # the forward crossbar's programmed change, read where it is not stuck
                tgt = np.where(fws == 0, hw.forward[l - 1].conductances_S.transpose(0, 2, 1),
                               hw.feedback[l - 1].conductances_S)  # fmt: skip
            lay = circ.layers[l - 1]
            G = np.stack([lay.feedback.g_pos_S, lay.feedback.g_neg_S])
            want = np.clip(chip.fb_gains[l - 1] * tgt, c.g_min_S, c.g_max_S)
            np.testing.assert_array_equal(G[fbs == 1], c.g_min_S)
            np.testing.assert_array_equal(G[fbs == 2], c.g_max_S)
            work = (fbs == 0) & (fws == 0) if step else fbs == 0
            np.testing.assert_allclose(G[work], want[work], rtol=1e-12, atol=0)
            assert np.any((fbs == 0) & (fws > 0))  # the case a mirrored copy gets wrong
        hw = hw.hebbian_step(circ, chip.read(circ, None), 0.5, np.random.default_rng(step))[0]


def test_without_stuck_devices_the_feedback_copy_is_the_forward_crossbar_times_the_gains():
    """Stuck fraction 0: the separate copy conducts exactly ``clip(gain * G_forward^T)``
    (what the twin was before it had its own devices), bit for bit, through Hebbian steps;
    and the forward and bias crossbars of a chip with a feedback copy are bit for bit those
    of the chip without one (the copy's draws take their own stream)."""
    net = _net()
    chip = make_chip("fb_mismatch", 0.2, seed=2).scaled_for(net)
    plain = make_chip("ideal", 0.0, seed=2).scaled_for(net)
    hw, hw0 = chip.program(net), plain.program(net)
    for a, b in zip(hw.forward + hw.bias, hw0.forward + hw0.bias):
        np.testing.assert_array_equal(a.conductances_S, b.conductances_S)
    sc = _stuck_chip(0.1, 0.1, seed=2).scaled_for(net)
    s0 = make_chip("stuck", 0.1, seed=2).scaled_for(net)
    for a, b in zip(sc.program(net).forward + sc.program(net).bias,
                    s0.program(net).forward + s0.program(net).bias):  # fmt: skip
        np.testing.assert_array_equal(a.stuck, b.stuck)
        np.testing.assert_array_equal(a.conductances_S, b.conductances_S)
    x, t = _io()
    for step in range(3):
        circ = chip.circuit(hw, x, t)
        for l in (1, 2):
            L, k = circ.layers[l - 1], chip.fb_gains[l - 1]
            np.testing.assert_array_equal(L.feedback.g_pos_S, k[0] * L.forward.g_pos_S.T)
            np.testing.assert_array_equal(L.feedback.g_neg_S, k[1] * L.forward.g_neg_S.T)
        hw = hw.hebbian_step(circ, chip.read(circ, None), 0.5, np.random.default_rng(step))[0]
