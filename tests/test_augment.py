"""The one-pixel shift augmentation (``--augment-shift``): the shift against a loop-by-loop
oracle, its rate by a binomial z-test, that PC and its backprop twin see the same shifted
images (the twin against an independent numpy replica), and its bad values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from pc_analog.errors import InvalidInputError
from pc_analog.io.data import load_dataset, shift_images
from pc_analog.learning.defaults import prepare_data
from pc_analog.learning.train import TrainConfig, train
from tests._oracles import Z_ALPHA


def _shift_by_loops(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[i, j] = img[i + dy, j + dx]`` where that exists, else 0, pixel by pixel."""
    rows, cols = img.shape
    out = np.zeros_like(img)
    for i in range(rows):
        for j in range(cols):
            if 0 <= i + dy < rows and 0 <= j + dx < cols:
                out[i, j] = img[i + dy, j + dx]
    return out


@pytest.mark.parametrize("shape", [(8, 8), (5, 7)])
def test_shift_matches_a_pixel_loop_with_the_documented_draws(shape):
    rng = np.random.default_rng(3)
    x = rng.random((40, shape[0] * shape[1]))
    got = shift_images(x, shape, 0.6, np.random.default_rng(11))
    # the documented draws, replayed: rng.random(n) < p, then integers(-1, 2, (2, n))
    r = np.random.default_rng(11)
    moved = r.random(40) < 0.6
    dy, dx = r.integers(-1, 2, size=(2, 40))
    for k in range(40):
        want = _shift_by_loops(x[k].reshape(shape), dy[k] * moved[k], dx[k] * moved[k])
        np.testing.assert_array_equal(got[k].reshape(shape), want)
    assert moved.any() and not moved.all()


def test_p_zero_is_the_input_itself_and_draws_nothing():
    x = load_dataset("digits").x_train[:10]
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    assert shift_images(x, (8, 8), 0.0, rng) is x
    assert rng.bit_generator.state == state


def test_rate_of_moved_images_is_p_times_eight_ninths():
    """An image with content away from the border changes iff its shift is not (0, 0):
    probability p * 8/9 (binomial z-test); its pixel sum is kept (nothing falls off)."""
    n, p = 20000, 0.4
    img = np.zeros((n, 8, 8))
    img[:, 2:6, 3:5] = np.random.default_rng(1).random((n, 4, 2)) + 0.1
    x = img.reshape(n, 64)
    y = shift_images(x, (8, 8), p, 7)
    changed = np.any(y != x, axis=1)
    q = p * 8 / 9
    z = (changed.mean() - q) / np.sqrt(q * (1 - q) / n)
    assert abs(z) < norm.isf(Z_ALPHA / 2), z
    np.testing.assert_allclose(y.sum(1), x.sum(1), rtol=1e-12)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_probabilities_are_refused(p):
    with pytest.raises(InvalidInputError, match="augment_shift"):
        shift_images(np.zeros((2, 64)), (8, 8), p, 0)
    with pytest.raises(InvalidInputError, match="augment_shift"):
        TrainConfig(dataset="digits", augment_shift=p)


def test_features_that_are_not_the_image_shape_are_refused():
    with pytest.raises(InvalidInputError, match="image"):
        shift_images(np.zeros((2, 63)), (8, 8), 0.5, 0)
    with pytest.raises(InvalidInputError, match="image"):
        shift_images(np.zeros((2, 64)), None, 0.5, 0)


def test_the_twin_trains_on_the_shifted_images(tmp_path):
    """The backprop twin of a run with ``augment_shift`` against a numpy replica that
    shifts the features itself (same draws, seed ``(seed, 6, epoch)``), scales them and
    takes the twin's steps: the twin's accuracies equal the replica's, epoch by epoch
    (and the run differs from one without the shift)."""
    from pc_analog.model.network import Network

    kw = dict(dataset="digits", arch=(64, 16, 10), epochs=3, batch_size=32, lr=1.0,
              lr_schedule="cosine", limit_train=300, limit_test=200, seed=2)  # fmt: skip
    rep = train(TrainConfig(augment_shift=0.5, **kw), tmp_path / "a", progress=False, plots=False)
    plain = train(TrainConfig(augment_shift=0.0, **kw), tmp_path / "b", progress=False, plots=False)
    data = prepare_data("digits", input_scaling="global", limit_train=300, limit_test=200)
    f = load_dataset("digits").x_train[:300]
    m, s = f.mean(), f.std()
    net = Network.random((64, 16, 10), "tanh", precisions=[1.0, 0.1], seed=2)
    W1, W2 = (w.copy() for w in net.weights)
    b1, b2 = (b.copy() for b in net.biases)
    y, accs = np.eye(10)[data.lab_train], []
    for ep in range(3):
        lr = 0.5 * (1 + np.cos(np.pi * ep / 3))
        x_ep = (shift_images(f, (8, 8), 0.5, [2, 6, ep]) - m) / s
        order = np.random.default_rng([2, 1, ep]).permutation(300)
        for k in range(0, 300, 32):
            i = order[k : k + 32]
            h = np.tanh(x_ep[i] @ W1.T + b1)
            e2 = 0.1 * (y[i] - (h @ W2.T + b2))
            e1 = (1 - h**2) * (e2 @ W2)
            c = lr / i.size
            W2, b2 = W2 + c * (e2.T @ h), b2 + c * e2.sum(0)
            W1, b1 = W1 + c * (e1.T @ x_ep[i]), b1 + c * e1.sum(0)
        out = np.tanh(data.x_test @ W1.T + b1) @ W2.T + b2
        accs.append(float(np.mean(np.argmax(out, 1) == data.lab_test)))
    assert [r["bp_test_accuracy"] for r in rep.history] == pytest.approx(accs, abs=0.0)
    assert [r["bp_test_accuracy"] for r in plain.history] != accs
    assert rep.history != plain.history
