"""Inference in any direction: generation, inpainting, missing inputs, associative memory.

One PC network, one energy, and only the clamp set changes (SPEC section 1): a *generative*
network carries the label at ``x_0`` and the image at ``x_L``.  Clamping the label and
freeing the image generates a class prototype; clamping half the pixels and freeing the rest
(label included) inpaints; clamping the available pixels and reading ``x_0`` classifies with
missing inputs.  An associative memory (Salvatori et al., NeurIPS 2021, "Associative
memories via predictive coding") is a generative network whose top latent is free in
training too: each stored image is explained by its own inferred latent, and a half-masked
cue is completed by settling.

Learning is PC's local rule with ideal devices, ``Delta W_l = lr / B sum_batch pi_l eps_l
phi_{l-1}(x_{l-1})^T`` read at the settled state (:func:`pc_learn`), the update
:func:`pc_analog.learning.train.train` programs into devices.  Baselines (mean imputation,
scikit-learn's ``KNNImputer``, a backprop classifier fed mean-imputed inputs) live here too;
the classical Hopfield network is ``benchmarks/hopfield.py``.  Every settle goes through
:func:`pc_analog.settling.registry.settle`, so any backend runs the same tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pc_analog._threads import single_threaded_blas
from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import (
    dense_hessian,
    feedforward,
    grad_params,
    initial_state,
)
from pc_analog.model.network import Clamp, Network, State
from pc_analog.reference.variants import backprop
from pc_analog.settling.registry import settle
from pc_analog.solvers.discrete import discrete_inference

__all__ = [
    "pc_learn",
    "train_generative",
    "train_memory",
    "relax",
    "train_memory_relaxed",
    "recall_relaxed",
    "train_generative_relaxed",
    "infer_relaxed",
    "settle_masked",
    "generate",
    "inpaint",
    "classify_missing",
    "recall",
    "denoise",
    "random_masks",
    "half_masks",
    "mean_impute",
    "gaussian_impute",
    "knn_impute",
    "train_bp_classifier",
    "rms_per_sample",
    "slowest_mode_tau",
    "settling_time_tau",
]


# ------------------------------------------------------------------ learning


def pc_learn(
    net: Network,
    data: dict[int, np.ndarray],
    *,
    epochs: int,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    backend: str = "equilibrium",
) -> Network:
    """PC learning: settle with whole layers clamped to ``data``, then the Hebbian step.

    ``data[l]`` is ``(n_samples, n_l)``; those layers are clamped, every other unit is
    free (free units of layer 0 start at 0, the rest at the feedforward start).  Each
    mini-batch applies ``W_l <- W_l - lr/B dF/dW_l`` and ``b_l <- b_l - lr/B dF/db_l``
    at the settled state, i.e. ``Delta W_l = lr/B sum pi_l eps_l phi_{l-1}(x_{l-1})^T``.
    """
    n = {v.shape[0] for v in data.values()}
    if len(n) != 1:
        raise InvalidInputError("pc_learn: every clamped layer needs the same sample count")
    n = n.pop()
    clamp = Clamp.layers(net.sizes, sorted(data))
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, batch_size):
            idx = order[s : s + batch_size]
            values = tuple(
                data[l][idx] if l in data else np.zeros((idx.size, k))
                for l, k in enumerate(net.sizes)
            )
            res = settle(net, clamp=clamp, values=values, backend=backend, on_failure="return")
            dW, db = grad_params(net, res.x)
            k = lr / idx.size
            net = net.replace(
                weights=tuple(W - k * g for W, g in zip(net.weights, dW)),
                biases=tuple(b - k * g for b, g in zip(net.biases, db)),
            )
    return net


def train_generative(
    images: np.ndarray,
    labels_one_hot: np.ndarray,
    *,
    hidden: Sequence[int] = (32,),
    activation: str = "linear",
    precisions: Sequence[float] = (1.0, 10.0),
    epochs: int = 10,
    lr: float = 0.05,
    seed: int = 0,
) -> Network:
    """A generative network ``label (x_0) -> hidden -> image (x_L)`` trained by PC learning
    with the label and the image clamped (the direction of ``train --direction generative``)."""
    sizes = [labels_one_hot.shape[1], *hidden, images.shape[1]]
    net = Network.random(sizes, activation, precisions=list(precisions), seed=seed, gain=0.5)
    L = len(sizes) - 1
    return pc_learn(net, {0: labels_one_hot, L: images}, epochs=epochs, lr=lr, seed=seed)


def train_memory(
    images: np.ndarray,
    *,
    latent: int = 32,
    hidden: Sequence[int] = (),
    activation: str = "linear",
    epochs: int = 400,
    lr: float = 1.0,
    seed: int = 0,
) -> Network:
    """An associative memory (Salvatori et al. 2021): a generative network whose latent
    ``x_0`` and hidden layers are free while it learns; only the stored images are clamped
    (at ``x_L``), in full batches.

    The default ``latent(32) -> image(64)`` is linear: its stored images span (at most) a
    32-dimensional subspace, and a cue of 32 known pixels pins a point of it by least
    squares, so up to about 32 images (fewer when the known halves are nearly dependent)
    can be recalled exactly; more need a nonlinear network."""
    sizes = [latent, *hidden, images.shape[1]]
    net = Network.random(sizes, activation, seed=seed, gain=0.5)
    L = len(sizes) - 1
    return pc_learn(net, {L: images}, epochs=epochs, lr=lr, batch_size=images.shape[0], seed=seed)


# ------------------------------------------------------------------ inference


def settle_masked(
    net: Network,
    layer: int,
    values: np.ndarray,
    known: np.ndarray,
    *,
    extra: dict[int, np.ndarray] | None = None,
    backend: str = "equilibrium",
    **options,
) -> State:
    """Settle each sample with the units ``known[s]`` of ``layer`` clamped to ``values[s]``.

    Everything else is free (plus the whole layers in ``extra``, clamped).  The circuit
    clamps the same units for a whole batch, so samples that share a mask settle together,
    one clamp set per distinct mask.  Returns the settled state in the samples' order.
    """
    values = np.asarray(values, float)
    known = np.asarray(known, bool)
    if values.shape != known.shape or values.shape[1] != net.sizes[layer]:
        raise InvalidInputError(
            f"settle_masked: values and mask must be (batch, {net.sizes[layer]})"
        )
    extra = extra or {}
    out = [np.zeros((values.shape[0], n)) for n in net.sizes]
    patterns, inverse = np.unique(known, axis=0, return_inverse=True)
    for p, mask in enumerate(patterns):
        idx = np.flatnonzero(inverse.reshape(-1) == p)
        masks = [np.full(n, l in extra) for l, n in enumerate(net.sizes)]
        masks[layer] = mask
        vals = [extra[l][idx] if l in extra else np.zeros((idx.size, n))
                for l, n in enumerate(net.sizes)]  # fmt: skip
        vals[layer] = np.where(mask, values[idx], 0.0)
        res = settle(
            net, clamp=Clamp(tuple(masks)), values=tuple(vals), backend=backend,
            on_failure="return", **options,
        )  # fmt: skip
        for l, xl in enumerate(res.x):
            out[l][idx] = xl
    return tuple(out)


def generate(net: Network, labels_one_hot: np.ndarray, **kw) -> np.ndarray:
    """Class-conditional generation: clamp the label at ``x_0``, free the rest, read ``x_L``."""
    known = np.ones_like(labels_one_hot, dtype=bool)
    return settle_masked(net, 0, labels_one_hot, known, **kw)[-1]


def inpaint(net: Network, images: np.ndarray, known: np.ndarray, **kw) -> np.ndarray:
    """Clamp the ``known`` pixels at ``x_L``, free the rest (label and hidden too), read ``x_L``."""
    return settle_masked(net, net.n_layers, images, known, **kw)[-1]


def classify_missing(net: Network, images: np.ndarray, known: np.ndarray, **kw) -> np.ndarray:
    """Clamp only the available pixels of a generative network and read the label at ``x_0``
    (``argmax``)."""
    return np.argmax(settle_masked(net, net.n_layers, images, known, **kw)[0], axis=1)


def recall(net: Network, cues: np.ndarray, known: np.ndarray, **kw) -> np.ndarray:
    """Associative recall from a partial cue: the known pixels clamped, the rest settles."""
    return inpaint(net, cues, known, **kw)


def denoise(net: Network, cues: np.ndarray, *, iterations: int = 5, **kw) -> np.ndarray:
    """Associative recall from a corrupted cue: clamp the whole cue, let the latents settle,
    and read the network's prediction of the image ``mu_L`` (the node ``m<L>_<i>`` of the
    circuit); the prediction becomes the next cue (Salvatori et al. 2021, recurrent recall)."""
    x = np.asarray(cues, float)
    known = np.ones_like(x, dtype=bool)
    for _ in range(iterations):
        state = settle_masked(net, net.n_layers, x, known, **kw)
        L = net.n_layers
        x = net.phi(L - 1).f(state[L - 1]) @ net.W(L).T + net.b(L)
    return x


# ------------------------------------------------------------------ nonlinear memory


def relax(
    net: Network, x_init: State, free: Sequence[np.ndarray], *, steps: int, dt: float = 0.1
) -> tuple[State, np.ndarray]:
    """Forward-Euler integration of the circuit's flow ``tau dx/dt = -dF/dx`` on free units.

    :func:`pc_analog.solvers.discrete.discrete_inference` with per-sample free masks:
    ``x <- x - dt (dF/dx) * free`` for ``steps`` steps (``dt`` in units of tau), batched,
    from any start (a warm start included).  ``free[l]`` is a boolean mask, ``(n_l,)`` or
    ``(batch, n_l)``; clamped units never move.  Stable for ``dt < 2 / lambda_max`` of the
    free units' Hessian; for nonlinear networks whose Newton equilibrium solve is slow
    (``tanh 16-256-64`` at K = 100 ran 200 Newton iterations, 226 s, unconverged), this
    is the rest point the ``ode`` backend approaches, at ``O(batch n_l n_{l-1})`` per step.
    Returns the state and ``max |dF/dx|`` over each sample's free units.
    """
    if not (np.isfinite(dt) and dt > 0) or int(steps) != steps or steps < 0:
        raise InvalidInputError(f"relax: need dt > 0 and steps >= 0, got {dt!r}, {steps!r}")
    if len(free) != len(net.sizes):
        raise InvalidInputError(f"relax: free needs {len(net.sizes)} masks")
    batch = np.shape(x_init[0])[0]
    free = [np.broadcast_to(np.asarray(f, bool), (batch, n)) for f, n in zip(free, net.sizes)]
    with single_threaded_blas():
        res = discrete_inference(
            net, x_init, Clamp.layers(net.sizes, []), step_size=dt, n_steps=int(steps),
            free=free, trace_energy=False, on_failure="return",
        )  # fmt: skip
    return res.x, res.grad_max


def train_memory_relaxed(
    images: np.ndarray,
    *,
    latent: int = 8,
    hidden: int = 256,
    epochs: int = 300,
    lr: float = 0.5,
    steps: int = 20,
    dt: float = 0.1,
    seed: int = 0,
) -> tuple[Network, State]:
    """A nonlinear associative memory ``latent -> tanh hidden -> image`` (Salvatori et al.
    2021): the K images clamped at ``x_L``, every latent and hidden unit free.  Each pattern
    keeps its own top-layer state between epochs (a learned latent per stored pattern):
    each full-batch epoch relaxes ``steps`` Euler steps from the previous epoch's state
    (:func:`relax`), then applies ``W_l <- W_l - lr/K dF/dW_l`` at that state.
    Returns the network and the per-pattern state."""
    K = images.shape[0]
    net = Network.random([latent, hidden, images.shape[1]], ["linear", "tanh"], seed=seed)
    rng = np.random.default_rng(seed)
    z0 = 0.1 * rng.normal(size=(K, latent))
    x: State = (z0, z0 @ net.W(1).T + net.b(1), np.asarray(images, float))
    free = [np.ones(latent, bool), np.ones(hidden, bool), np.zeros(images.shape[1], bool)]
    with single_threaded_blas():
        for _ in range(epochs):
            x, _ = relax(net, x, free, steps=steps, dt=dt)
            dW, db = grad_params(net, x)
            net = net.replace(
                weights=tuple(W - lr / K * g for W, g in zip(net.weights, dW)),
                biases=tuple(b - lr / K * g for b, g in zip(net.biases, db)),
            )
    return net, x


def recall_relaxed(
    net: Network,
    cues: np.ndarray,
    known: np.ndarray,
    *,
    steps: int = 3000,
    dt: float = 0.1,
    start: State | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Recall by relaxation: the known pixels clamped, the latent starting at 0 and the rest
    at the feedforward start, every other unit free (:func:`relax`).  ``start`` replaces the
    latent and hidden start (e.g. each stored pattern's own trained state, a diagnostic:
    is the stored image a fixed point of the half-clamped flow?); the missing pixels then
    start at its prediction.  Returns the images and each sample's final ``max |dF/dx|``."""
    known = np.asarray(known, bool)
    n = cues.shape[0]
    if start is None:
        x = list(feedforward(net, np.zeros((n, net.sizes[0]))))
    else:
        x = [np.array(v, dtype=float) for v in start[:-1]]
        L = net.n_layers
        x.append(net.phi(L - 1).f(x[L - 1]) @ net.W(L).T + net.b(L))
    x[-1] = np.where(known, cues, x[-1])
    free = [np.ones((n, k), bool) for k in net.sizes[:-1]] + [~known]
    x, gmax = relax(net, tuple(x), free, steps=steps, dt=dt)
    return x[-1], gmax


def train_generative_relaxed(
    images: np.ndarray,
    labels_one_hot: np.ndarray,
    *,
    hidden: int = 128,
    epochs: int = 30,
    lr: float = 0.1,
    batch_size: int = 64,
    steps: int = 30,
    dt: float = 0.2,
    seed: int = 0,
) -> Network:
    """A nonlinear generative network ``label (x_0) -> tanh hidden -> image (x_L)``: label
    and image clamped, the hidden layer relaxes ``steps`` Euler steps from the feedforward
    start (:func:`relax`), then ``W_l <- W_l - lr/B dF/dW_l`` per mini-batch.
    The defaults were chosen on a validation split of the digits' training set."""
    n = images.shape[0]
    sizes = [labels_one_hot.shape[1], hidden, images.shape[1]]
    net = Network.random(sizes, ["linear", "tanh"], seed=seed, gain=0.5)
    free = [np.zeros(sizes[0], bool), np.ones(hidden, bool), np.zeros(sizes[2], bool)]
    rng = np.random.default_rng(seed)
    with single_threaded_blas():
        for _ in range(epochs):
            order = rng.permutation(n)
            for s in range(0, n, batch_size):
                idx = order[s : s + batch_size]
                x = list(feedforward(net, labels_one_hot[idx]))
                x[-1] = np.asarray(images[idx], float)
                x, _ = relax(net, tuple(x), free, steps=steps, dt=dt)
                dW, db = grad_params(net, x)
                k = lr / idx.size
                net = net.replace(
                    weights=tuple(W - k * g for W, g in zip(net.weights, dW)),
                    biases=tuple(b - k * g for b, g in zip(net.biases, db)),
                )
    return net


def infer_relaxed(
    net: Network,
    images: np.ndarray,
    known: np.ndarray,
    *,
    steps: int = 1500,
    dt: float = 0.2,
    label_start: float = 0.1,
) -> tuple[State, np.ndarray]:
    """Inpainting and missing-input classification by relaxation: the ``known`` pixels of
    ``x_L`` clamped, the label ``x_0`` starting at ``label_start`` (uniform), the rest at the
    feedforward start; everything but the known pixels free (:func:`relax`).  Returns the
    state (read ``x_L`` for the image, ``argmax x_0`` for the class) and ``max |dF/dx|``."""
    known = np.asarray(known, bool)
    n = images.shape[0]
    x = list(feedforward(net, np.full((n, net.sizes[0]), label_start)))
    x[-1] = np.where(known, images, x[-1])
    free = [np.ones((n, k), bool) for k in net.sizes[:-1]] + [~known]
    return relax(net, tuple(x), free, steps=steps, dt=dt)


# ------------------------------------------------------------------ masks and baselines


def random_masks(n: int, d: int, keep: float, rng) -> np.ndarray:
    """``(n, d)`` masks, each keeping ``round(keep d)`` pixels chosen at random (True = known)."""
    k = int(round(keep * d))
    rng = np.random.default_rng(rng)
    masks = np.zeros((n, d), bool)
    for i in range(n):
        masks[i, rng.choice(d, size=k, replace=False)] = True
    return masks


def half_masks(n: int, side: int = 8, which: str = "top") -> np.ndarray:
    """``(n, side*side)`` masks keeping one half of a square image (``top`` or ``left``)."""
    m = np.zeros((side, side), bool)
    if which == "top":
        m[: side // 2] = True
    elif which == "left":
        m[:, : side // 2] = True
    else:
        raise InvalidInputError(f"half_masks: which must be 'top' or 'left', got {which!r}")
    return np.tile(m.reshape(-1), (n, 1))


def mean_impute(train: np.ndarray, images: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Missing pixels replaced by the training mean of that pixel."""
    return np.where(known, images, train.mean(axis=0))


def gaussian_impute(train: np.ndarray, images: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The conditional mean of a full-covariance Gaussian fitted to ``train``:
    ``x_f = m_f + S_fk S_kk^-1 (x_k - m_k)`` per sample (``S`` gets ``1e-4 I`` so that
    constant pixels do not make it singular).  A linear PC network is a Gaussian model, so
    this is the best imputation any linear network can reach on this data."""
    m = train.mean(axis=0)
    S = np.cov(train.T) + 1e-4 * np.eye(train.shape[1])
    out = np.array(images, dtype=float)
    for x, k in zip(out, np.asarray(known, bool)):
        f = ~k
        if f.any() and k.any():
            x[f] = m[f] + S[np.ix_(f, k)] @ np.linalg.solve(S[np.ix_(k, k)], x[k] - m[k])
        elif f.any():
            x[f] = m[f]
    return out


def knn_impute(train: np.ndarray, images: np.ndarray, known: np.ndarray, k: int = 5):
    """scikit-learn's ``KNNImputer`` (``k`` neighbours, fitted on the complete training set)."""
    from sklearn.impute import KNNImputer

    imp = KNNImputer(n_neighbors=k).fit(train)
    return np.where(known, images, imp.transform(np.where(known, images, np.nan)))


def train_bp_classifier(
    x: np.ndarray, labels_one_hot: np.ndarray, *, hidden: int = 32, epochs: int = 30,
    lr: float = 0.1, batch_size: int = 32, seed: int = 0,
) -> Network:  # fmt: skip
    """A feedforward tanh classifier ``image -> hidden -> label`` trained by backprop (MSE)."""
    net = Network.random([x.shape[1], hidden, labels_one_hot.shape[1]], "tanh", seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(x.shape[0])
        for s in range(0, x.shape[0], batch_size):
            idx = order[s : s + batch_size]
            g = backprop(net, x[idx], labels_one_hot[idx])
            k = lr / idx.size
            net = net.replace(
                weights=tuple(W + k * d for W, d in zip(net.weights, g.dW)),
                biases=tuple(b + k * d for b, d in zip(net.biases, g.db)),
            )
    return net


def bp_predict(net: Network, x: np.ndarray) -> np.ndarray:
    """Class predictions of a feedforward classifier."""
    return np.argmax(feedforward(net, x)[-1], axis=1)


def rms_per_sample(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Root-mean-square difference of each row (over ``where`` only, if given)."""
    d2 = (np.asarray(a, float) - np.asarray(b, float)) ** 2
    if where is None:
        return np.sqrt(d2.mean(axis=1))
    w = np.asarray(where, bool)
    return np.sqrt((d2 * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1))


# ------------------------------------------------------------------ settling time


def slowest_mode_tau(net: Network, state: State, clamp: Clamp) -> np.ndarray:
    """``1 / lambda_min`` of the Hessian on the free units at a rest point, in tau, per
    sample: the time constant of the slowest mode of ``tau dx/dt = -dF/dx`` there."""
    free = np.concatenate(clamp.free)
    H = dense_hessian(net, state)[:, free][:, :, free]
    return 1.0 / np.linalg.eigvalsh(H)[:, 0]


def settling_time_tau(
    net: Network, layer: int, values: np.ndarray, known: np.ndarray, **kw
) -> np.ndarray:
    """SPEC settling time (``delta = 1e-3``) of the ``ode`` backend from the feedforward start,
    in units of tau, per sample (one clamp set per sample)."""
    out = []
    for v, m in zip(np.asarray(values, float), np.asarray(known, bool)):
        masks = [np.zeros(n, bool) for n in net.sizes]
        masks[layer] = m
        vals = [np.zeros((1, n)) for n in net.sizes]
        vals[layer] = np.where(m, v, 0.0)[None]
        res = settle(
            net, clamp=Clamp(tuple(masks)), values=tuple(vals), backend="ode",
            on_failure="return", **kw,
        )  # fmt: skip
        out.append(float(res.settling_time_s[0] / res.tau_s))
    return np.array(out)


def clamp_of(net: Network, layer: int, known_row: np.ndarray) -> Clamp:
    """The clamp set with ``known_row`` of ``layer`` clamped and nothing else."""
    masks = [np.zeros(n, bool) for n in net.sizes]
    masks[layer] = np.asarray(known_row, bool)
    return Clamp(tuple(masks))


def start_state(net: Network, layer: int, values_row, known_row) -> State:
    """The feedforward start of one sample with ``known_row`` of ``layer`` clamped."""
    vals = [np.zeros((1, n)) for n in net.sizes]
    vals[layer] = np.where(known_row, values_row, 0.0)[None]
    return initial_state(net, clamp_of(net, layer, known_row), tuple(vals))
