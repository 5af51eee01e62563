"""The training epoch's fast path against the general path it replaced, bit for bit.

A training batch used to copy and re-validate the whole weight and conductance arrays at
every step and to evaluate the same products and activations several times.  The fast
path trusts what the library built and checked itself and remembers per-batch values:

- device updates through ``device_arrays._evolve`` (no re-validation of the multipliers
  and stuck codes an update does not change) instead of ``dataclasses.replace``;
- the feedback crossbar as the forward pair read in reverse (``DifferentialPair.
  _transposed``: views, ``W_fb = W^T`` and ``symmetric`` without a comparison) instead
  of a transposed copy;
- the pair's weights remembered (``DifferentialPair._weights``) for the device update,
  and ``DifferentialPair.ideal`` computed in place;
- ``Network`` keeping read-only arrays uncopied and checking them in two reductions;
- the input prediction ``x_0 W_1^T + b_1`` and the hidden activations ``phi(x)``,
  ``phi'(x)`` remembered per batch on the circuit's network (``energy._MEMO_MAX_BYTES``),
  shared by the feedforward start, the Gauss-Newton settle and the Hebbian update;
- ``hebbian_update`` and ``backprop`` evaluating each activation once.

Oracle: the general path, restored here by monkeypatching each fast piece back to the
textbook code it replaced (``_general_path``), must give the same trained conductances,
pulse counts, energies and backprop twin, byte for byte, on ideal and on pulsed noisy
devices (whose stochastic rounding must draw the same numbers in the same order).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import pc_analog.circuit.ir as ir
import pc_analog.hardware.device_arrays as device_arrays
import pc_analog.hardware.hebbian as hebbian
import pc_analog.learning._epoch as epoch_mod
import pc_analog.model.energy as energy_mod
import pc_analog.model.network as network_mod
from pc_analog.errors import InvalidInputError
from pc_analog.io.data import one_hot
from pc_analog.learning import train as T
from pc_analog.model.energy import energy, feedforward, grad_params, predictions
from pc_analog.model.network import MAX_MAGNITUDE, Network
from pc_analog.reference.variants import Gradients, backprop, hebbian_update, output_error


# ----------------------------------------------------------- the general path
def _finite_array_general(value, name, ndim):
    """``network._finite_array`` as it was: always a copy, each check its own pass."""
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}: not an array of numbers") from None
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        raise InvalidInputError(f"{name}: expected {ndims}-D, got {arr.ndim}-D")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name}: contains non-finite numbers (NaN or inf)")
    if arr.size and np.max(np.abs(arr)) > MAX_MAGNITUDE:
        raise InvalidInputError(f"{name}: exceeds the limit")
    arr.setflags(write=False)
    return arr


def _hebbian_general(net, x):
    """The Hebbian update as ``-dF/dW`` of ``grad_params`` and ``energy`` (every
    prediction and activation evaluated afresh)."""
    dF_dW, dF_db = grad_params(net, x)
    return Gradients(
        "pc", tuple(-g for g in dF_dW), tuple(-g for g in dF_db), float(energy(net, x).sum())
    )


def _backprop_general(net, x0, y, loss="mse"):
    """Backprop from ``feedforward`` with ``phi`` and ``phi'`` evaluated separately."""
    a = feedforward(net, x0)
    yb = np.asarray(y, dtype=float)
    L = net.n_layers
    e = [None] * (L + 1)
    e[L] = output_error(net, a[L], yb, loss)
    for l in range(L - 1, 0, -1):
        e[l] = net.phi(l).df(a[l]) * (e[l + 1] @ net.W(l + 1))
    dW = tuple(e[l].T @ net.phi(l - 1).f(a[l - 1]) for l in range(1, L + 1))
    db = tuple(e[l].sum(axis=0) for l in range(1, L + 1))
    return Gradients("bp", dW, db, 0.0)


def _general_path(mp: pytest.MonkeyPatch) -> None:
    """Every fast piece of the epoch replaced by the general code it stands for."""
    mp.setattr(
        device_arrays,
        "_evolve",
        lambda arr, pair, pulses: dataclasses.replace(arr, pair=pair, pulses=pulses),
    )
    mp.setattr(
        ir.DifferentialPair,
        "_transposed",
        lambda self: ir.DifferentialPair(self.g_pos_S.T, self.g_neg_S.T),  # copies
    )
    mp.setattr(ir.DifferentialPair, "_weights", lambda self, g: ir._frozen(self.weights(g)))

    def ideal(cls, w, g):  # the textbook form, with temporaries
        w = np.asarray(w, dtype=float)
        return cls(g * np.maximum(w, 0.0), g * np.maximum(-w, 0.0))

    mp.setattr(ir.DifferentialPair, "ideal", classmethod(ideal))
    mp.setattr(energy_mod, "_MEMO_MAX_BYTES", -1)  # nothing remembered
    mp.setattr(network_mod, "_finite_array", _finite_array_general)
    mp.setattr(hebbian, "hebbian_update", _hebbian_general)
    mp.setattr(epoch_mod, "backprop", _backprop_general)


# ------------------------------------------------------------------ helpers
class _NoBar:
    def update(self) -> None:
        pass


def _epoch(**kw):
    """One epoch of ``_train_epoch`` (with the backprop twin) on a small digits case."""
    cfg = T.TrainConfig(dataset="digits", epochs=1, limit_train=96, limit_test=8, **kw)
    device = T._check_device(cfg)
    cfg, data = T._load_data(cfg)
    L = len(cfg.arch) - 1
    prec = [cfg.precision_hidden] * (L - 1) + [cfg.precision_output]
    net0 = Network.random(cfg.arch, cfg.activation, precisions=prec, seed=cfg.seed)
    _, _, hw, bp = T._start(cfg, Path("/nonexistent-fast-path"), net0, device, False)
    y = one_hot(data.lab_train, data.n_classes)
    return T._train_epoch(cfg, 0, hw, bp, data.x_train, y, _NoBar())


def _fingerprint(hw, bp, stats) -> list[bytes]:
    """Every trained number as bytes: conductances, pulse counts, twin, energies."""
    out = []
    for arrs in (hw.forward, hw.bias, hw.feedback or ()):
        for a in arrs:
            out += [a.pair.g_pos_S.tobytes(), a.pair.g_neg_S.tobytes(), str(a.pulses).encode()]
    for w in bp.weights + bp.biases:
        out.append(np.ascontiguousarray(w).tobytes())
    for L in hw.structure.layers:  # the crossbars a settle reads, feedback included
        for pair in (L.forward, L.feedback, L.bias):
            out += [np.ascontiguousarray(g).tobytes() for g in (pair.g_pos_S, pair.g_neg_S)]
    out.append(np.array(stats.energies).tobytes())
    out.append(str(stats.pulses).encode())
    return out


CASES = {
    "ideal-tanh": dict(arch=(64, 16, 10), batch_size=16),
    "ideal-two-hidden-sigmoid": dict(arch=(64, 16, 12, 10), activation="sigmoid", seed=3),
    "4bit-noisy": dict(arch=(64, 16, 10), device="4bit-noisy", seed=1),
    "separate-feedback": dict(arch=(64, 16, 10), separate_feedback=True, seed=2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_epoch_equals_the_general_path_bit_for_bit(case, monkeypatch):
    fast = _fingerprint(*_epoch(**CASES[case]))
    with monkeypatch.context() as mp:
        _general_path(mp)
        general = _fingerprint(*_epoch(**CASES[case]))
    assert len(fast) == len(general)
    assert [i for i, (u, v) in enumerate(zip(fast, general)) if u != v] == []


def test_the_epoch_moves_the_weights():
    """The bit-identity above is not that of two runs that did nothing."""
    hw, bp, stats = _epoch(**CASES["ideal-tanh"])
    net0 = Network.random((64, 16, 10), "tanh", precisions=[1.0, 0.1], seed=0)
    moved = np.abs(hw.ideal_network().weights[0] - net0.weights[0]).max()
    assert moved > 1e-3 and stats.pulses > 0
    assert np.abs(bp.weights[0] - net0.weights[0]).max() > 1e-3


# ------------------------------------------------------------ the memos' keys
def test_pair_weights_memo_follows_the_unit_conductance():
    pair = ir.DifferentialPair.ideal(np.array([[0.5, -0.25], [1.0, 0.0]]), 2e-5)
    for g in (2e-5, 1e-5, 3e-5, 2e-5):
        got = pair._weights(g)
        assert got.tobytes() == pair.weights(g).tobytes() and not got.flags.writeable


def test_memo_follows_the_bits_of_the_input_not_its_identity():
    """A batch array written in place between two calls gets the new prediction (the memo
    is keyed by the input's bits, not by the array object)."""
    net = Network.random((6, 5, 3), "tanh", seed=4)
    x = np.random.default_rng(0).normal(size=(4, 6))
    first = feedforward(net, x)
    x[1, 2] += 0.5  # in place: same object, other numbers
    again = feedforward(net, x)
    fresh = feedforward(Network.random((6, 5, 3), "tanh", seed=4), x.copy())
    for u, v in zip(again, fresh):
        assert u.tobytes() == v.tobytes()
    assert again[1].tobytes() != first[1].tobytes()
    assert again[2].tobytes() != first[2].tobytes()
    # hidden activations at a state changed in place (the settle's rest point)
    xs = [v.copy() for v in predictions(net, first)]
    xs[1][0, 0] += 0.25
    got = hebbian_update(net, xs)
    want = _hebbian_general(Network.random((6, 5, 3), "tanh", seed=4), xs)
    for u, v in zip(got.dW + got.db, want.dW + want.db):
        assert u.tobytes() == v.tobytes()


def test_backprop_and_hebbian_equal_their_textbook_forms():
    """Both activations with a fused ``f_df`` and one without (softplus), deep nets."""
    rng = np.random.default_rng(5)
    for act in ("tanh", "sigmoid", "softplus", "linear"):
        net = Network.random((7, 6, 5, 4), act, precisions=[1.0, 0.5, 0.2], seed=6)
        x0, y = rng.normal(size=(3, 7)), rng.normal(size=(3, 4))
        got, want = backprop(net, x0, y), _backprop_general(net, x0, y)
        for u, v in zip(got.dW + got.db, want.dW + want.db):
            assert u.tobytes() == v.tobytes(), act
        xs = [rng.normal(size=(3, n)) for n in net.sizes]
        got, want = hebbian_update(net, xs), _hebbian_general(net, xs)
        assert got.loss == want.loss
        for u, v in zip(got.dW + got.db, want.dW + want.db):
            assert u.tobytes() == v.tobytes(), act


# ---------------------------------------------------- validation unchanged
@pytest.mark.parametrize(
    "bad, words",
    [
        (np.nan, "non-finite"),
        (np.inf, "non-finite"),
        (-2 * MAX_MAGNITUDE, "exceeds the limit"),
    ],
)
def test_network_still_refuses_bad_weights_also_read_only_ones(bad, words):
    w = np.ones((3, 2))
    w[1, 0] = bad
    w.setflags(write=False)  # the uncopied fast path
    with pytest.raises(InvalidInputError, match=words):
        Network((w,), (np.zeros(3),), (1.0,), ("tanh",))


def test_device_update_still_refuses_non_finite_changes():
    from pc_analog.hardware.devices import apply_update, fabricate, load_device_config

    for name in ("ideal", "4bit-noisy"):
        arr = fabricate(load_device_config(name), np.full((2, 3), 0.1), 1e-5, 0)
        dW = np.zeros((2, 3))
        dW[0, 1] = np.nan
        with pytest.raises(InvalidInputError, match="dW: contains non-finite"):
            apply_update(arr, dW, 1e-5, np.random.default_rng(0))
