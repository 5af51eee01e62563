"""Claims about how close PC's weight updates come to backprop's.

- :func:`fpa_alignment` -- seed 001 (Zahid et al. 2023), Fig. 3 (with Figs. 4-5): tanh
  MLPs of width 64 trained by FPA-PC updates; cosine similarity of each update to
  backprop's and test accuracy against the number of inference steps relative to depth,
  for step sizes 1, 0.5 and 0.1.
- :func:`update_agreement` -- Z-IL (and FPA-PC with step 1) equal backprop.
- :func:`variance_ratio_sweep` -- Whittington & Bogacz's limit (seed 001, case 2):
  standard PC's equilibrium update tends to backprop's as the output variance grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import feedforward
from pc_analog.model.network import Network
from pc_analog.reference.variants import (
    Gradients,
    backprop,
    cosine_similarity,
    fpa_inference,
    pc_gradients,
    zil_gradients,
)

__all__ = [
    "FPAAlignmentResult",
    "fpa_alignment",
    "UpdateAgreementResult",
    "update_agreement",
    "VarianceRatioResult",
    "variance_ratio_sweep",
]


# ---------------------------------------------------------------- Fig. 3


@dataclass(frozen=True)
class FPAAlignmentResult:
    """Outcome of :func:`fpa_alignment`.

    Arrays are indexed ``[depth, step_size, ratio]``.

    Attributes
    ----------
    n_hidden : tuple of int
        Hidden layers of each network (``L = n_hidden + 1`` weight layers).
    step_sizes, ratios : tuple of float
        Inference step sizes and ``T / L`` values.
    n_steps : ndarray of int
        ``T = floor(ratio * L)`` inference steps.
    cosine : ndarray
        Mean over all training batches of the cosine similarity between the FPA-PC
        update and backprop's update at the same weights and batch.
    cosine_init : ndarray
        The same on the first batch, at the initial weights.
    test_accuracy : ndarray
        Test accuracy after training with FPA-PC updates.
    bp_test_accuracy : ndarray
        ``[depth]``: the same network trained with backprop.
    width, epochs, batch_size, lr, momentum, seed :
        The training setup.
    """

    n_hidden: tuple
    step_sizes: tuple
    ratios: tuple
    n_steps: np.ndarray
    cosine: np.ndarray
    cosine_init: np.ndarray
    test_accuracy: np.ndarray
    bp_test_accuracy: np.ndarray
    width: int
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    seed: int


def _accuracy(net: Network, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(feedforward(net, x)[-1], axis=1) == labels))


@dataclass(frozen=True)
class _SGD:
    """SGD with momentum (PyTorch convention ``v <- m v + g``, ``theta <- theta - lr v``)
    on the mean update of each batch; every run with the same ``seed`` sees the same
    batches."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    seed: int

    def train(self, net, data, update, on_batch=None) -> Network:
        """Train ``net`` on ``data.x_train``; ``update(net, xb, yb) -> Gradients`` (descent
        direction, summed over the batch), ``on_batch(net, xb, yb, g)`` sees each update.
        Returns the trained network."""
        rng = np.random.default_rng(self.seed)
        y_all = np.eye(data.n_classes)[data.y_train]
        vW = [np.zeros_like(w) for w in net.weights]
        vb = [np.zeros_like(b) for b in net.biases]
        n, m, lr = data.x_train.shape[0], self.momentum, self.lr
        for _ in range(self.epochs):
            order = rng.permutation(n)
            for s in range(0, n, self.batch_size):
                idx = order[s : s + self.batch_size]
                xb, yb = data.x_train[idx], y_all[idx]
                g = update(net, xb, yb)
                if on_batch is not None:
                    on_batch(net, xb, yb, g)
                B = idx.size
                vW = [m * v + dw / B for v, dw in zip(vW, g.dW)]
                vb = [m * v + db / B for v, db in zip(vb, g.db)]
                net = net.replace(
                    weights=tuple(w + lr * v for w, v in zip(net.weights, vW)),
                    biases=tuple(b + lr * v for b, v in zip(net.biases, vb)),
                )
        return net


def fpa_alignment(
    data=None,
    *,
    n_hidden: Sequence[int] = (2, 4, 6),
    width: int = 64,
    step_sizes: Sequence[float] = (1.0, 0.5, 0.1),
    ratios: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 0.05,
    momentum: float = 0.9,
    seed: int = 0,
    progress: bool = True,
) -> FPAAlignmentResult:
    """FPA-PC against backprop while training (Zahid et al. 2023, Figs. 3-5).

    Networks: ``n_hidden`` tanh layers of ``width`` units and a 10-unit output read
    through log-softmax, categorical negative log-likelihood, PyTorch's default
    initialisation ``U(-k, k)``, ``k = 1/sqrt(fan_in)``
    (:meth:`~pc_analog.model.network.Network.random`), SGD with momentum 0.9 and batches of
    64 (the setup of the paper).  Each batch's update is FPA-PC's after ``T`` inference
    steps of size ``gamma`` (:func:`~pc_analog.reference.variants.fpa_inference`, loss ``"ce"``),
    with ``T = floor(ratio * L)``, ``L = n_hidden + 1``; the cosine similarity

        cos = <dtheta_FPA, dtheta_BP> / (|dtheta_FPA| |dtheta_BP|)

    to backprop's update at the same weights and batch is averaged over training.

    Parameters
    ----------
    data : Dataset, optional
        Default: :func:`pc_analog.io.data.load_digits` (the paper used MNIST).
    n_hidden, width, step_sizes, ratios :
        The grid.
    epochs, batch_size, lr, momentum, seed :
        Training (the same batches for every configuration of a depth).
    progress : bool
        Show a tqdm bar.
    """
    from tqdm.auto import tqdm

    from pc_analog._threads import single_threaded_blas

    if data is None:
        from pc_analog.io.data import load_digits

        data = load_digits(seed=seed)
    n_hidden = tuple(int(h) for h in n_hidden)
    step_sizes = tuple(float(s) for s in step_sizes)
    ratios = tuple(float(r) for r in ratios)
    if min(n_hidden) < 1 or min(step_sizes) <= 0 or min(ratios) < 0:
        raise InvalidInputError("n_hidden >= 1, step_sizes > 0 and ratios >= 0 required")
    sgd = _SGD(int(epochs), int(batch_size), float(lr), float(momentum), int(seed))
    bar = tqdm(
        total=len(n_hidden) * (1 + len(step_sizes) * len(ratios)),
        desc="FPA-PC vs BP",
        disable=None if progress else True,
        leave=False,
    )
    with single_threaded_blas():  # 64x64 products: BLAS threads only contend
        grid = _fpa_grid(data, n_hidden, int(width), step_sizes, ratios, sgd, bar)
    bar.close()
    return FPAAlignmentResult(
        n_hidden=n_hidden,
        step_sizes=step_sizes,
        ratios=ratios,
        **grid,
        width=int(width),
        epochs=sgd.epochs,
        batch_size=sgd.batch_size,
        lr=sgd.lr,
        momentum=sgd.momentum,
        seed=sgd.seed,
    )


def _fpa_grid(data, n_hidden, width, step_sizes, ratios, sgd: _SGD, bar) -> dict:
    """The arrays of :class:`FPAAlignmentResult` (by field name) over the grid."""
    shape = (len(n_hidden), len(step_sizes), len(ratios))
    out = {
        "n_steps": np.zeros(shape, int),
        "cosine": np.zeros(shape),
        "cosine_init": np.zeros(shape),
        "test_accuracy": np.zeros(shape),
        "bp_test_accuracy": np.zeros(len(n_hidden)),
    }

    def bp_update(net, xb, yb):
        return backprop(net, xb, yb, "ce")

    for i, h in enumerate(n_hidden):
        sizes = [data.n_features] + [width] * h + [data.n_classes]
        net0 = Network.random(sizes, "tanh", seed=sgd.seed)
        L = net0.n_layers
        trained = sgd.train(net0, data, bp_update)
        out["bp_test_accuracy"][i] = _accuracy(trained, data.x_test, data.y_test)
        bar.update()
        for j, gamma in enumerate(step_sizes):
            for k, r in enumerate(ratios):
                T = int(np.floor(r * L + 1e-9))
                sims, acc = _fpa_run(net0, data, gamma, T, sgd)
                out["n_steps"][i, j, k] = T
                out["cosine"][i, j, k] = float(np.mean(sims))
                out["cosine_init"][i, j, k] = sims[0]
                out["test_accuracy"][i, j, k] = acc
                bar.update()
    return out


def _fpa_run(net0, data, gamma: float, T: int, sgd: _SGD) -> tuple[list[float], float]:
    """Train ``net0`` with FPA-PC updates (``T`` steps of size ``gamma``); the cosine to
    backprop's update on every batch, and the test accuracy after training."""
    sims: list[float] = []

    def fpa_update(net, xb, yb):
        return fpa_inference(net, xb, yb, step_size=gamma, n_steps=T, loss="ce").gradients

    def record(net, xb, yb, g):
        sims.append(cosine_similarity(g, backprop(net, xb, yb, "ce")))

    trained = sgd.train(net0, data, fpa_update, on_batch=record)
    return sims, _accuracy(trained, data.x_test, data.y_test)


# ---------------------------------------------------------------- BP limits


def _max_abs_diff(a: Gradients, b: Gradients) -> float:
    return float(np.max(np.abs(a.flat() - b.flat())))


@dataclass(frozen=True)
class UpdateAgreementResult:
    """Outcome of :func:`update_agreement`.

    Attributes
    ----------
    method : str
    max_abs_diff : float
        ``max |dtheta_method - dtheta_BP|`` over every weight and bias.
    max_abs_bp : float
        ``max |dtheta_BP|`` (the scale).
    cosine : float
    """

    method: str
    max_abs_diff: float
    max_abs_bp: float
    cosine: float


def update_agreement(net: Network, x0, y, method: str = "zil", *, loss: str = "ce"):
    """How far a PC variant's update is from backprop's on one batch.

    ``method`` is ``"zil"`` (:func:`~pc_analog.reference.variants.zil_gradients`) or ``"fpa"``
    (step size 1, ``T = L`` steps); both equal backprop to rounding (Song et al. 2020;
    Rosenbaum 2022).
    """
    bp = backprop(net, x0, y, loss)
    if method == "zil":
        g = zil_gradients(net, x0, y, loss=loss)
    elif method == "fpa":
        g = fpa_inference(net, x0, y, step_size=1.0, loss=loss).gradients
    else:
        raise InvalidInputError(f"method: 'zil' or 'fpa', not {method!r}")
    return UpdateAgreementResult(
        method, _max_abs_diff(g, bp), float(np.max(np.abs(bp.flat()))), cosine_similarity(g, bp)
    )


@dataclass(frozen=True)
class VarianceRatioResult:
    """Outcome of :func:`variance_ratio_sweep`.

    Attributes
    ----------
    ratios : ndarray
        ``r``: the output precision is multiplied by ``r`` (variance by ``1/r``).
    cosine : ndarray
        Cosine similarity of ``dtheta_PC(r) / r`` to backprop's update.
    rel_error : ndarray
        ``|dtheta_PC(r)/r - dtheta_BP| / |dtheta_BP|``.
    """

    ratios: np.ndarray
    cosine: np.ndarray
    rel_error: np.ndarray


def variance_ratio_sweep(net: Network, x0, y, ratios: Sequence[float]) -> VarianceRatioResult:
    """Standard PC at equilibrium as the output variance grows (Whittington & Bogacz 2017).

    With the output precision ``r pi_L`` and the update divided by ``r``
    (:func:`~pc_analog.reference.variants.pc_gradients`), the equilibrium update tends to
    backprop's Gaussian-loss update as ``r -> 0``; the gap closes like ``O(r)``.
    """
    ratios = np.asarray(ratios, float)
    bp = backprop(net, x0, y, "mse")
    cos, rel = [], []
    for r in ratios:
        g = pc_gradients(net, x0, y, variance_ratio=float(r))
        cos.append(cosine_similarity(g, bp))
        rel.append(np.linalg.norm(g.flat() - bp.flat()) / np.linalg.norm(bp.flat()))
    return VarianceRatioResult(ratios, np.array(cos), np.array(rel))
