"""The transfer study's routines (pc_analog.experiments.transfer) and ``bench transfer``.

Oracles: physics-aware backprop at the ideal feedforward states is backprop; an ideal
chip's free settle is the feedforward pass; a chip programs the same stuck devices whatever
the weights; in an ideal chip, hardware-aware BP trains the same weights as ex-situ BP.
"""

from __future__ import annotations

import numpy as np
import pytest

from pc_analog.cli.main import main
from pc_analog.errors import InvalidInputError
from pc_analog.experiments.transfer import (
    make_chip,
    physics_aware_backprop,
    run_transfer,
)
from pc_analog.learning.defaults import prepare_data
from pc_analog.model.energy import feedforward
from pc_analog.model.network import Network
from pc_analog.reference.variants import backprop


def _net(seed=0, arch=(6, 5, 4, 3)):
    prec = [1.0] * (len(arch) - 2) + [0.3]
    return Network.random(arch, "tanh", precisions=prec, seed=seed)


def test_physics_aware_backprop_at_the_feedforward_states_is_backprop():
    net = _net()
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 6)), rng.normal(size=(4, 3))
    g = physics_aware_backprop(net, tuple(feedforward(net, x)), y)
    ref = backprop(net, x, y)
    for a, b in zip(g.dW + g.db, ref.dW + ref.db):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_physics_aware_backprop_uses_the_given_states_not_the_weights_forward():
    """At other states than the feedforward the update differs, and its output layer is
    exactly ``pi_L (y - a_L) phi(a_{L-1})^T`` at those states."""
    net = _net()
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 6)), rng.normal(size=(3, 3))
    a = tuple(s + 0.1 * rng.normal(size=s.shape) for s in feedforward(net, x))
    g = physics_aware_backprop(net, a, y)
    want = (0.3 * (y - a[3])).T @ np.tanh(a[2])
    np.testing.assert_allclose(g.dW[2], want, rtol=1e-12)
    assert not np.allclose(g.dW[0], backprop(net, x, y).dW[0])
    with pytest.raises(InvalidInputError, match="layer states"):
        physics_aware_backprop(net, a[:-1], y)


def test_an_ideal_chip_settles_to_the_feedforward_pass():
    net = _net(arch=(6, 5, 3))
    chip = make_chip("ideal", 0.0).scaled_for(net)
    x = np.random.default_rng(3).normal(size=(5, 6))
    got = chip.forward(chip.program(net), x, chunk=2)
    for a, b in zip(got, feedforward(net, x)):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_a_chip_programs_the_same_stuck_devices_whatever_the_weights():
    net = _net(arch=(6, 5, 3))
    chip = make_chip("stuck", 0.3, seed=4).scaled_for(net)
    a = chip.program(net)
    b = chip.program(_net(seed=9, arch=(6, 5, 3)))
    stuck = [arr.stuck for arr in a.forward]
    assert any(np.any(s == 1) for s in stuck) and any(np.any(s == 2) for s in stuck)
    for s, t in zip(stuck, (arr.stuck for arr in b.forward)):
        np.testing.assert_array_equal(s, t)
    other = make_chip("stuck", 0.3, seed=5).scaled_for(net).program(net)
    assert any(not np.array_equal(s, o.stuck) for s, o in zip(stuck, other.forward))


def test_in_an_ideal_chip_hardware_aware_bp_is_ex_situ_bp():
    data = prepare_data("digits", input_scaling="global", limit_train=12, limit_test=40)
    r = run_transfer("ideal", 0.0, data, arch=(64, 8, 10), epochs=1, lr=0.1, seed=0)
    assert r.status == "ok"
    assert r.accuracy["hw_aware"] == r.accuracy["ex_situ"] == r.ideal_accuracy["ex_situ"]
    assert 0.0 <= r.accuracy["in_situ"] <= 1.0


def test_unknown_nonideality_and_bad_strength_are_refused():
    with pytest.raises(InvalidInputError, match="unknown 'noise'"):
        make_chip("noise", 1.0)
    with pytest.raises(InvalidInputError, match="strength"):
        make_chip("stuck", -0.1)
    with pytest.raises(InvalidInputError, match="exceeds 1"):
        make_chip("stuck", 2.0)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--nonideality", "noise"], "--nonideality: unknown 'noise'"),
        (["--nonideality", "stuck", "--strength", "1.5"], "exceeds 1"),
        (["--nonideality", "wire", "--strength", "-3"], "strength"),
        (["--nonideality", "thermal", "--batch", "0"], "--batch"),
        (["--nonideality", "fb_mismatch", "--dataset", "mnist"], "--dataset"),
    ],
)
def test_bench_transfer_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    status = main(["bench", "transfer", *argv])
    out, err = capsys.readouterr()
    assert status == 2, (status, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err
    assert out == ""


def test_a_diverging_run_is_reported_not_raised():
    """A learning rate far too large: the weights run past the model's limits; the run
    ends with status 'diverged' and nan for the diverged methods instead of an error."""
    data = prepare_data("digits", input_scaling="global", limit_train=12, limit_test=20)
    r = run_transfer("ideal", 0.0, data, arch=(64, 8, 10), epochs=3, lr=1e5, seed=0)
    assert r.status == "diverged" and r.diverged
    for m in r.diverged:
        assert np.isnan(r.accuracy[m])
    for m in set(r.accuracy) - set(r.diverged):
        assert 0.0 <= r.accuracy[m] <= 1.0
