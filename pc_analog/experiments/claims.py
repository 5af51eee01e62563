"""The seeds' quantitative claims, each as a measurement.

The functions here reproduce what the source texts of the project claim, so that a
benchmark, a notebook and the tests call the same code:

- :func:`error_arrival` -- seed 001 (Zahid et al. 2023), Theorem 1: started at the
  feedforward pass, the error of layer ``l`` is exactly zero before step ``L - l`` and
  nonzero at it, for FPA-PC and standard PC and any step size.
- :func:`fpa_alignment` -- seed 001, Fig. 3 (with Figs. 4-5): tanh MLPs of width 64
  trained by FPA-PC updates; cosine similarity of each update to backprop's and test
  accuracy against the number of inference steps relative to depth, for step sizes
  1, 0.5 and 0.1.
- :func:`variance_ratio_sweep` -- Whittington & Bogacz's limit (seed 001, case 2):
  standard PC's equilibrium update tends to backprop's as the output variance grows.
- :func:`update_agreement` -- Z-IL (and FPA-PC with step 1) equal backprop.
- :func:`digital_pc_vs_bp_time` -- seed 001, Result 3: digital PC inference is never
  faster than backprop (measured wall time, median of repeats).
- :func:`saddle_escape` -- seed 002 (Innocenti et al. 2023): on the toy
  ``f(x) = w2 w1 x`` PC learning escapes the saddle at the origin faster than gradient
  descent on the loss from the same start.
- :func:`fisher_information` -- seed 003 (Millidge): the Fisher information of the
  activities of a Gaussian PC model is the precision.
- :func:`depth_scaling` -- the physical settling time of identity chains against depth,
  RC (first order, expected ``~ L^2``) and critically damped springs (``~ L``).

Every function returns a frozen ``...Result``; randomness only through ``seed``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.experiments.studies import fit_power_law, settling_vs_depth
from pc_analog.model.energy import feedforward, hessian_blocks, io_state
from pc_analog.model.network import Network
from pc_analog.reference.variants import (
    Gradients,
    backprop,
    cosine_similarity,
    discrete_inference,
    fpa_inference,
    hebbian_update,
    pc_gradients,
    zil_gradients,
)

__all__ = [
    "ErrorArrivalResult",
    "error_arrival",
    "FPAAlignmentResult",
    "fpa_alignment",
    "VarianceRatioResult",
    "variance_ratio_sweep",
    "UpdateAgreementResult",
    "update_agreement",
    "PCTimingResult",
    "digital_pc_vs_bp_time",
    "SaddleEscapeResult",
    "toy_landscape",
    "saddle_escape",
    "FisherResult",
    "fisher_information",
    "DepthScalingResult",
    "depth_scaling",
]


# ---------------------------------------------------------------- Theorem 1


@dataclass(frozen=True)
class ErrorArrivalResult:
    """Outcome of :func:`error_arrival`.

    Attributes
    ----------
    method : str
        ``"fpa"`` or ``"pc"``.
    step_size : float
    n_layers : int
        ``L``, the number of weight layers (the output is layer ``L``).
    first_step : tuple of int or None
        ``first_step[l-1]``: the first step ``t`` after which ``eps_l`` has a nonzero
        entry in every sample (``None``: never within the steps run), ``l = 1..L``.
    expected : tuple of int
        ``L - l`` (Theorem 1).
    error_norms : ndarray
        ``(n_steps + 1, L)``: ``||eps_l||`` (over the batch) after each step.
    holds : bool
        ``first_step == expected``.
    """

    method: str
    step_size: float
    n_layers: int
    first_step: tuple
    expected: tuple
    error_norms: np.ndarray
    holds: bool


def error_arrival(
    net: Network,
    x0,
    y,
    *,
    step_size: float = 1.0,
    method: str = "fpa",
    n_steps: int | None = None,
) -> ErrorArrivalResult:
    """When the output error first reaches each layer (Zahid et al. 2023, Theorem 1).

    Inference starts at the feedforward pass ``x_l = mu_l`` with the output clamped to
    ``y`` (Gaussian loss).  FPA-PC (:func:`~pc_analog.reference.variants.fpa_inference`) moves
    ``x_l <- x_l - gamma (eps_l - J_l^T eps_{l+1})`` with fixed Jacobians; standard PC
    (:func:`~pc_analog.reference.variants.discrete_inference`) moves ``x <- x - gamma dF/dx``.
    In both, ``dF/dx_l`` depends only on ``eps_l`` and ``eps_{l+1}``, so the error
    ``eps_l`` is exactly zero for ``t < L - l`` and (generically) nonzero at
    ``t = L - l``: ``first_step[l-1] == L - l``, exact in floating point.

    Parameters
    ----------
    net, x0, y :
        Network, batched input and target.
    step_size : float
        ``gamma``.
    method : {"fpa", "pc"}
    n_steps : int, optional
        Steps to run; default ``L + 1``.
    """
    L = net.n_layers
    n_steps = L + 1 if n_steps is None else int(n_steps)
    if method == "fpa":
        trace = fpa_inference(net, x0, y, step_size=step_size, n_steps=n_steps).errors_trace
    elif method == "pc":
        x, clamp = io_state(net, x0, y)
        res = discrete_inference(
            net, x, clamp, step_size=step_size, n_steps=n_steps, record_errors=True
        )
        trace = res.errors_trace
    else:
        raise InvalidInputError(f"method: 'fpa' or 'pc', not {method!r}")
    first = []
    for l in range(1, L + 1):
        hit = [t for t, eps in enumerate(trace) if np.all(np.any(eps[l] != 0.0, axis=1))]
        first.append(hit[0] if hit else None)
    norms = np.array([[np.linalg.norm(eps[l]) for l in range(1, L + 1)] for eps in trace])
    expected = tuple(L - l for l in range(1, L + 1))
    return ErrorArrivalResult(
        method, float(step_size), L, tuple(first), expected, norms, tuple(first) == expected
    )


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


def _train_sgd(net, data, update, *, epochs, batch_size, lr, momentum, seed, on_batch=None):
    """SGD with momentum (PyTorch convention ``v <- m v + g``, ``theta <- theta - lr v``)
    on the mean update of each batch; ``update(net, xb, yb) -> Gradients`` (descent
    direction, summed over the batch).  Returns the trained network."""
    rng = np.random.default_rng(seed)
    y_all = np.eye(data.n_classes)[data.y_train]
    vW = [np.zeros_like(w) for w in net.weights]
    vb = [np.zeros_like(b) for b in net.biases]
    n = data.x_train.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, batch_size):
            idx = order[s : s + batch_size]
            xb, yb = data.x_train[idx], y_all[idx]
            g = update(net, xb, yb)
            if on_batch is not None:
                on_batch(net, xb, yb, g)
            B = idx.size
            vW = [momentum * v + dw / B for v, dw in zip(vW, g.dW)]
            vb = [momentum * v + db / B for v, db in zip(vb, g.db)]
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
    shape = (len(n_hidden), len(step_sizes), len(ratios))
    n_steps = np.zeros(shape, int)
    cos = np.zeros(shape)
    cos0 = np.zeros(shape)
    acc = np.zeros(shape)
    bp_acc = np.zeros(len(n_hidden))
    bar = tqdm(
        total=len(n_hidden) * (1 + len(step_sizes) * len(ratios)),
        desc="FPA-PC vs BP",
        disable=None if progress else True,
        leave=False,
    )
    with single_threaded_blas():  # 64x64 products: BLAS threads only contend
        _fpa_grid(
            data,
            n_hidden,
            width,
            step_sizes,
            ratios,
            epochs,
            batch_size,
            lr,
            momentum,
            seed,
            bar,
            n_steps,
            cos,
            cos0,
            acc,
            bp_acc,
        )
    bar.close()
    return FPAAlignmentResult(
        n_hidden,
        step_sizes,
        ratios,
        n_steps,
        cos,
        cos0,
        acc,
        bp_acc,
        int(width),
        int(epochs),
        int(batch_size),
        float(lr),
        float(momentum),
        int(seed),
    )


def _fpa_grid(
    data,
    n_hidden,
    width,
    step_sizes,
    ratios,
    epochs,
    batch_size,
    lr,
    momentum,
    seed,
    bar,
    n_steps,
    cos,
    cos0,
    acc,
    bp_acc,
) -> None:
    def bp_update(net, xb, yb):
        return backprop(net, xb, yb, "ce")

    for i, h in enumerate(n_hidden):
        sizes = [data.n_features] + [width] * h + [data.n_classes]
        net0 = Network.random(sizes, "tanh", seed=seed)
        L = net0.n_layers
        trained = _train_sgd(
            net0,
            data,
            bp_update,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            momentum=momentum,
            seed=seed,
        )
        bp_acc[i] = _accuracy(trained, data.x_test, data.y_test)
        bar.update()
        for j, gamma in enumerate(step_sizes):
            for k, r in enumerate(ratios):
                T = int(np.floor(r * L + 1e-9))
                n_steps[i, j, k] = T
                sims: list[float] = []

                def fpa_update(net, xb, yb, T=T, gamma=gamma):
                    return fpa_inference(
                        net, xb, yb, step_size=gamma, n_steps=T, loss="ce"
                    ).gradients

                def record(net, xb, yb, g, sims=sims):
                    sims.append(cosine_similarity(g, backprop(net, xb, yb, "ce")))

                trained = _train_sgd(
                    net0,
                    data,
                    fpa_update,
                    epochs=epochs,
                    batch_size=batch_size,
                    lr=lr,
                    momentum=momentum,
                    seed=seed,
                    on_batch=record,
                )
                cos[i, j, k] = float(np.mean(sims))
                cos0[i, j, k] = sims[0]
                acc[i, j, k] = _accuracy(trained, data.x_test, data.y_test)
                bar.update()


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


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class PCTimingResult:
    """Outcome of :func:`digital_pc_vs_bp_time` (seconds per batch, medians).

    Attributes
    ----------
    n_hidden : tuple of int
    bp_s, fpa_s, zil_s, pc_s : ndarray
        Per depth: backprop; FPA-PC with step 1 and the minimal ``T = L - 1`` steps
        (its best case, equal to backprop); Z-IL; standard PC, Euler steps of size
        ``pc_step`` until ``max |dF/dx| <= pc_gtol``, then the Hebbian read-out.
    pc_steps : ndarray of int
        Steps standard PC took.
    width, batch, repeats : int
    pc_step, pc_gtol : float
    """

    n_hidden: tuple
    bp_s: np.ndarray
    fpa_s: np.ndarray
    zil_s: np.ndarray
    pc_s: np.ndarray
    pc_steps: np.ndarray
    width: int
    batch: int
    repeats: int
    pc_step: float
    pc_gtol: float


def _median_times(fns: dict, repeats: int) -> dict:
    """Median wall time of each callable, the callables run in turn in every round
    (so a change of machine load hits all of them alike)."""
    ts: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in ts.items()}


def _pc_run(net, x, clamp, step, gtol) -> int:
    res = discrete_inference(net, x, clamp, step_size=step, n_steps=100_000, gtol=gtol)
    hebbian_update(net, res.x)
    return res.n_steps


def digital_pc_vs_bp_time(
    n_hidden: Sequence[int] = (2, 4, 8, 16),
    *,
    width: int = 64,
    batch: int = 64,
    repeats: int = 21,
    pc_step: float = 0.2,
    pc_gtol: float = 1e-4,
    seed: int = 0,
) -> PCTimingResult:
    """Wall time of digital PC inference against one backprop pass (seed 001, Result 3).

    Zahid et al. bound ``TIME{FPA-PC} >= TIME{backprop}``: inference needs at least
    ``L - 1`` sequential steps, each as slow as the slowest vector-Jacobian product,
    after the same forward pass.  This times, in numpy on this machine, one batch of
    random inputs and one-hot targets through tanh MLPs (``64-width*h-10``, Gaussian
    loss): backprop; FPA-PC in its best case (step 1, ``T = L - 1``); Z-IL; and
    standard PC iterated to ``pc_gtol``.  Each is the median of ``repeats`` runs.
    """
    from pc_analog._threads import single_threaded_blas

    rng = np.random.default_rng(seed)
    n_hidden = tuple(int(h) for h in n_hidden)
    out = {k: [] for k in ("bp", "fpa", "zil", "pc", "pc_steps")}
    with single_threaded_blas():
        for h in n_hidden:
            net = Network.random([64] + [width] * h + [10], "tanh", seed=seed)
            L = net.n_layers
            x0 = rng.uniform(0, 1, size=(batch, 64))
            y = np.eye(10)[rng.integers(0, 10, batch)]
            x, clamp = io_state(net, x0, y)
            fns = {
                "bp": partial(backprop, net, x0, y),
                "fpa": partial(fpa_inference, net, x0, y, step_size=1.0, n_steps=L - 1),
                "zil": partial(zil_gradients, net, x0, y),
            }
            for k, v in _median_times(fns, repeats).items():
                out[k].append(v)
            pc = partial(_pc_run, net, x, clamp, pc_step, pc_gtol)
            out["pc"].append(_median_times({"pc": pc}, max(3, repeats // 4))["pc"])
            out["pc_steps"].append(pc())
    return PCTimingResult(
        n_hidden,
        np.array(out["bp"]),
        np.array(out["fpa"]),
        np.array(out["zil"]),
        np.array(out["pc"]),
        np.array(out["pc_steps"], int),
        int(width),
        int(batch),
        int(repeats),
        float(pc_step),
        float(pc_gtol),
    )


# ---------------------------------------------------------------- seed 002


def toy_landscape(w1, w2, *, x: float = 1.0, y: float = 1.0):
    """Loss and equilibrated PC energy of the toy ``f(x) = w2 w1 x`` (closed form).

    ``Loss = 1/2 (y - w2 w1 x)^2``; the PC energy
    ``F(z) = 1/2 (z - w1 x)^2 + 1/2 (y - w2 z)^2`` is minimised over the hidden
    activity at ``z* = (w1 x + w2 y) / (1 + w2^2)``, where

        F* = Loss / (1 + w2^2).

    Near the saddle ``w = 0`` (``x = y = 1``) the loss has Hessian eigenvalues ``+-1``,
    ``F*`` has ``(-1 +- sqrt 5) / 2``: a flatter trap and a steeper escape.

    Returns
    -------
    loss, energy : ndarray
        Broadcast over ``w1`` and ``w2``.
    """
    w1, w2 = np.asarray(w1, float), np.asarray(w2, float)
    loss = 0.5 * (y - w2 * w1 * x) ** 2
    return loss, loss / (1.0 + w2**2)


@dataclass(frozen=True)
class SaddleEscapeResult:
    """Outcome of :func:`saddle_escape`.

    Attributes
    ----------
    start : ndarray
        ``(w1, w2)`` at iteration 0 (both methods).
    gd_path, pc_path : ndarray
        ``(n_iter + 1, 2)`` weights after each iteration.
    gd_loss, pc_loss : ndarray
        The loss ``1/2 (y - w2 w1 x)^2`` along each path.
    gd_escape, pc_escape : int or None
        First iteration at which the loss is at most ``escape_loss`` (``None``: never).
    escape_loss : float
        ``escape_fraction * Loss(0, 0)``.
    lr, x, y : float
    """

    start: np.ndarray
    gd_path: np.ndarray
    pc_path: np.ndarray
    gd_loss: np.ndarray
    pc_loss: np.ndarray
    gd_escape: int | None
    pc_escape: int | None
    escape_loss: float
    lr: float
    x: float
    y: float


def _toy_net(w1: float, w2: float) -> Network:
    return Network(
        (np.array([[w1]]), np.array([[w2]])),
        (np.zeros(1), np.zeros(1)),
        (1.0, 1.0),
        ("linear", "linear"),
    )


def saddle_escape(
    start: Sequence[float],
    *,
    x: float = 1.0,
    y: float = 1.0,
    lr: float = 0.1,
    n_iter: int = 300,
    escape_fraction: float = 0.5,
) -> SaddleEscapeResult:
    """Gradient descent on the loss against PC learning on the toy ``f(x) = w2 w1 x``.

    Both start at ``start`` with the same learning rate and data point.  Gradient
    descent: ``w <- w - lr dLoss/dw`` (:func:`~pc_analog.reference.variants.backprop`, Gaussian
    loss).  PC: the hidden activity settles to the energy's minimum with input and
    target clamped, then ``w <- w - lr dF/dw`` at that equilibrium
    (:func:`~pc_analog.reference.variants.pc_gradients`), which is GD on ``F* = Loss/(1+w2^2)``.
    Biases are held at zero (the toy has none).
    """
    if not (lr > 0 and n_iter >= 1 and 0 < escape_fraction < 1):
        raise InvalidInputError("lr > 0, n_iter >= 1 and 0 < escape_fraction < 1 required")
    w0 = np.asarray(start, float)
    if w0.shape != (2,):
        raise InvalidInputError("start: (w1, w2)")
    xb, yb = np.array([[x]]), np.array([[y]])
    paths = {}
    for method in ("gd", "pc"):
        w = w0.copy()
        path = [w.copy()]
        for _ in range(n_iter):
            net = _toy_net(*w)
            g = backprop(net, xb, yb) if method == "gd" else pc_gradients(net, xb, yb, gtol=1e-12)
            w = w + lr * np.array([g.dW[0][0, 0], g.dW[1][0, 0]])
            path.append(w.copy())
        paths[method] = np.array(path)
    escape_loss = escape_fraction * 0.5 * y**2
    res = {}
    for m, p in paths.items():
        loss = toy_landscape(p[:, 0], p[:, 1], x=x, y=y)[0]
        hit = np.nonzero(loss <= escape_loss)[0]
        res[m] = (loss, int(hit[0]) if hit.size else None)
    return SaddleEscapeResult(
        w0,
        paths["gd"],
        paths["pc"],
        res["gd"][0],
        res["pc"][0],
        res["gd"][1],
        res["pc"][1],
        float(escape_loss),
        float(lr),
        float(x),
        float(y),
    )


# ---------------------------------------------------------------- seed 003


@dataclass(frozen=True)
class FisherResult:
    """Outcome of :func:`fisher_information` (matrices ``n_l x n_l``).

    Attributes
    ----------
    layer : int
    precision : ndarray
        ``pi_l`` as a vector.
    own_analytic : ndarray
        ``E[-d2 log p(x_l | x_{l-1}) / dx_l2] = diag(pi_l)``.
    own_mc, own_se : ndarray
        Monte Carlo ``E[s s^T]``, ``s = d log p(x_l | x_{l-1}) / dx_l = -pi_l eps_l``,
        ``eps_l ~ N(0, 1/pi_l)``, and its standard error entry by entry.
    full_analytic : ndarray
        Including the layer above (``l < L``): ``diag(pi_l) + J^T diag(pi_{l+1}) J``,
        ``J = W_{l+1} diag(phi_l'(x_l))``; equal to ``own_analytic`` for the output layer.
    full_mc_score, full_score_se : ndarray
        ``own_mc`` plus Monte Carlo ``E[c c^T]``, ``c = J^T pi_{l+1} eps_{l+1}``,
        ``x_{l+1} ~ p(. | x_l)``; and its standard error.
    full_mc_hessian, full_hessian_se : ndarray
        Mean over the same samples of the energy's Hessian block ``H_ll``
        (:func:`~pc_analog.model.energy.hessian_blocks`), and its standard error.
    n_samples : int
    """

    layer: int
    precision: np.ndarray
    own_analytic: np.ndarray
    own_mc: np.ndarray
    own_se: np.ndarray
    full_analytic: np.ndarray
    full_mc_score: np.ndarray
    full_score_se: np.ndarray
    full_mc_hessian: np.ndarray
    full_hessian_se: np.ndarray
    n_samples: int


def _outer_mean(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``s_i s_j`` over rows and its standard error."""
    prods = s[:, :, None] * s[:, None, :]
    n = s.shape[0]
    return prods.mean(axis=0), prods.std(axis=0, ddof=1) / np.sqrt(n)


def fisher_information(
    net: Network, x0, layer: int, *, n_samples: int = 20000, seed: int = 0
) -> FisherResult:
    """Fisher information of the activity ``x_l`` of the Gaussian PC model (seed 003).

    The model is ``x_l | x_{l-1} ~ N(mu_l, diag(1/pi_l))``, ``mu_l = W_l phi(x_{l-1}) + b_l``,
    so ``-log p = F + const`` with the energy ``F``.  The seed's claim,

        G[x_l] = E[d2 F / dx_l2] = pi_l,

    holds exactly for the layer's own factor (``d2/dx_l2`` of
    ``1/2 pi_l (x_l - mu_l)^2`` is ``pi_l`` at every point), hence for the output layer.
    For a hidden layer the energy also holds the layer above, whose expected curvature
    adds ``J^T diag(pi_{l+1}) J`` (its ``phi''`` term has zero mean because
    ``E[eps_{l+1}] = 0``).  Both are checked by Monte Carlo two ways: the information
    equality ``E[s s^T] = E[-d2 log p]`` with scores sampled from the model, and the
    sample mean of the energy's Hessian.

    Parameters
    ----------
    net : Network
    x0 : array_like
        One input (``x_{l-1}`` and ``x_l`` are fixed at its feedforward values).
    layer : int
        ``l`` in ``1..L``.
    n_samples : int
    seed : int
    """
    L = net.n_layers
    if not 1 <= layer <= L:
        raise InvalidInputError(f"layer: must be in 1..{L}")
    if n_samples < 2:
        raise InvalidInputError("n_samples: must be >= 2")
    a = feedforward(net, np.atleast_2d(np.asarray(x0, float))[:1])
    rng = np.random.default_rng(seed)
    n = net.sizes[layer]
    pi = np.broadcast_to(net.pi(layer), (n,)).astype(float)
    own = np.diag(pi)
    eps = rng.standard_normal((n_samples, n)) / np.sqrt(pi)
    s_own = -pi * eps
    own_mc, own_se = _outer_mean(s_own)
    if layer == L:
        full, full_mc, full_se = own, own_mc, own_se
        state = [np.repeat(v, n_samples, axis=0) for v in a]
        state[L] = a[L] + eps
    else:
        m = net.sizes[layer + 1]
        pi1 = np.broadcast_to(net.pi(layer + 1), (m,)).astype(float)
        J = net.W(layer + 1) * net.phi(layer).df(a[layer])[0][None, :]
        full = own + J.T @ (pi1[:, None] * J)
        eps1 = rng.standard_normal((n_samples, m)) / np.sqrt(pi1)
        c = (pi1 * eps1) @ J
        child_mc, child_se = _outer_mean(c)
        full_mc = own_mc + child_mc
        full_se = np.sqrt(own_se**2 + child_se**2)
        state = [np.repeat(v, n_samples, axis=0) for v in a]
        state[layer + 1] = a[layer + 1] + eps1
    diag, _ = hessian_blocks(net, tuple(state), layers=[layer])
    H = diag[layer]
    return FisherResult(
        layer,
        pi.copy(),
        own,
        own_mc,
        own_se,
        full,
        full_mc,
        full_se,
        H.mean(axis=0),
        H.std(axis=0, ddof=1) / np.sqrt(n_samples),
        int(n_samples),
    )


# ---------------------------------------------------------------- depth scaling


@dataclass(frozen=True)
class DepthScalingResult:
    """Outcome of :func:`depth_scaling`.

    Attributes
    ----------
    depths : tuple of int
    rc_tau, inertial_tau : ndarray
        Measured settling times in units of ``tau`` (ode backend).
    rc_exponent, inertial_exponent : float
        Fitted ``p`` of ``t ~ L^p``.
    rc_mode_exponent, inertial_mode_exponent : float
        ``p`` fitted to the one-mode estimates ``ln(1/band)/lambda_min`` and
        ``ln(1/band)/sqrt(lambda_min)``, ``lambda_min = 4 sin^2(pi/(2L))``.
    rows : tuple of dict
        :func:`~pc_analog.experiments.studies.settling_vs_depth` rows (both dynamics).
    band : float
    """

    depths: tuple
    rc_tau: np.ndarray
    inertial_tau: np.ndarray
    rc_exponent: float
    inertial_exponent: float
    rc_mode_exponent: float
    inertial_mode_exponent: float
    rows: tuple
    band: float


def depth_scaling(depths: Sequence[int], *, band: float = 1e-3) -> DepthScalingResult:
    """Physical settling time of identity chains against depth, RC and critically damped.

    A chain of ``L`` identity layers clamped at both ends has the Hessian
    ``tridiag(-1, 2, -1)`` on its ``L - 1`` free nodes, slowest mode
    ``lambda_min = 4 sin^2(pi / (2L)) ~ pi^2 / L^2``.  RC dynamics ``tau dx/dt = -dF/dx``
    settle in ``~ ln(1/band) / lambda_min ~ L^2``; a spring network with unit mass and
    damping critical for the slowest mode in ``~ ln(1/band) / sqrt(lambda_min) ~ L``.
    Settling times are measured by the ode backend
    (:func:`~pc_analog.experiments.studies.settling_vs_depth`) and fitted by
    :func:`~pc_analog.experiments.studies.fit_power_law`; needs at least 3 depths.
    """
    depths = tuple(int(d) for d in depths)
    if len(depths) < 3 or min(depths) < 2:
        raise InvalidInputError("depths: at least 3 depths, each >= 2")
    rc = settling_vs_depth(depths, band=band)
    inert = settling_vs_depth(depths, inertial=True, damping_ratio=1.0, band=band)
    rc_t = np.array([r["settling_time_tau"] for r in rc])
    in_t = np.array([r["settling_time_tau"] for r in inert])
    lam = 4 * np.sin(np.pi / (2 * np.array(depths))) ** 2
    return DepthScalingResult(
        depths,
        rc_t,
        in_t,
        fit_power_law(depths, rc_t)[0],
        fit_power_law(depths, in_t)[0],
        fit_power_law(depths, np.log(1 / band) / lam)[0],
        fit_power_law(depths, np.log(1 / band) / np.sqrt(lam))[0],
        tuple(rc + inert),
        float(band),
    )
