"""The predictive-coding energy, its derivatives, and the feedforward start.

All functions are batched: a state ``x`` is a sequence of arrays ``x[l]`` of shape
``(batch, n_l)``, ``l = 0..L``.  With ``mu_l = W_l phi_{l-1}(x_{l-1}) + b_l`` and
``eps_l = x_l - mu_l``::

    F(x)     = sum_{l=1..L} 1/2 eps_l^T diag(pi_l) eps_l                  (per sample)
    dF/dx_l  = pi_l * eps_l  -  phi_l'(x_l) * (W_{l+1}^T (pi_{l+1} * eps_{l+1}))
    dF/dW_l  = -(pi_l * eps_l) phi_{l-1}(x_{l-1})^T              (summed over the batch)
    dF/db_l  = -(pi_l * eps_l)

(the first term of ``dF/dx_l`` is absent for ``l = 0``, the second for ``l = L``).
The Hessian in ``x`` is block tridiagonal::

    H_ll     = diag(pi_l) + diag(phi_l') W^T diag(pi_{l+1}) W diag(phi_l')
               - diag(phi_l'' * (W^T pi_{l+1} eps_{l+1}))          (W = W_{l+1})
    H_l,l+1  = -diag(phi_l') W_{l+1}^T diag(pi_{l+1})
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Clamp, Network, State, as_batch

__all__ = [
    "predictions",
    "errors",
    "weighted_errors",
    "energy",
    "grad_x",
    "grad_params",
    "hessian_blocks",
    "dense_hessian",
    "feedforward",
    "predict",
    "initial_state",
    "io_state",
    "check_state",
]


def check_state(net: Network, x: Sequence[np.ndarray]) -> State:
    """Validate a batched state against ``net`` and return it as a tuple of 2-D arrays."""
    sizes = net.sizes
    if len(x) != len(sizes):
        raise InvalidInputError(f"state: has {len(x)} layers, the network has {len(sizes)}")
    out = tuple(np.asarray(xl, dtype=float) for xl in x)
    batch = out[0].shape[0] if out[0].ndim == 2 else None
    for l, (xl, n) in enumerate(zip(out, sizes)):
        if xl.ndim != 2 or xl.shape[1] != n or xl.shape[0] != batch:
            raise InvalidInputError(
                f"state: layer {l} has shape {xl.shape}, expected ({batch}, {n})"
            )
    return out


def _mu(net: Network, x: State, l: int) -> np.ndarray:
    """``mu_l = phi_{l-1}(x_{l-1}) W_l^T + b_l`` (row-vector convention, one row per sample)."""
    if l == 1:
        return _input_prediction(net, x[0])
    return _phi(net, l - 1, x[l - 1]) @ net.W(l).T + net.b(l)


def _memo_key(x) -> np.ndarray | None:
    """``x`` as unsigned 64-bit integers (its exact bits) when it is a C-ordered float64
    array of at most :data:`_MEMO_MAX_BYTES`, else ``None`` (not remembered)."""
    a = np.asarray(x)
    if a.flags.c_contiguous and a.dtype == np.float64 and a.nbytes <= _MEMO_MAX_BYTES:
        return a.view(np.uint64)
    return None


def _phi_f_df(net: Network, l: int, x) -> tuple[np.ndarray, np.ndarray]:
    """``(phi_l(x), phi_l'(x))`` (:meth:`~pc_analog.model.activations.Activation.f_df`),
    remembered on ``net`` for the last ``x`` of each layer ``l``.

    One training batch evaluates the hidden activations at the same states several times:
    at the feedforward start (its prediction, then the settle's first point) and at the
    rest point (the settle's last point, then the Hebbian update's prediction and
    ``dW``); a ``tanh`` costs more than the rest of such a step.  As for
    :func:`_input_prediction`, the memo is used only for an ``x`` equal to the remembered
    one bit for bit, and copies are returned: the same numbers, bit for bit (``f_df``'s
    ``phi`` is ``f``'s, its ``phi'`` ``df``'s, for every activation).
    """
    key = _memo_key(x)
    memo = net.__dict__.get("_phi_memo")
    hit = None if memo is None or key is None else memo.get(l)
    if hit is not None and hit[0].shape == key.shape and np.array_equal(hit[0], key):
        return hit[1].copy(), hit[2].copy()
    f, df = net.phi(l).f_df(x)
    if key is not None:
        _remember_phi(net, l, x, f, df)
    return f, df


def _phi(net: Network, l: int, x) -> np.ndarray:
    """``phi_l(x)``: through :func:`_phi_f_df`'s memo where ``x`` can be remembered, else
    ``net.phi(l).f(x)`` (a whole data set at once: ``phi'`` is not computed for it)."""
    if _memo_key(x) is None:
        return net.phi(l).f(x)
    return _phi_f_df(net, l, x)[0]


def _remember_phi(net: Network, l: int, x, f: np.ndarray, df: np.ndarray) -> None:
    """Remember ``(f, df) = (phi_l(x), phi_l'(x))`` on ``net`` (copies) for
    :func:`_phi_f_df`; the caller vouches that they are exactly ``f_df(x)``."""
    key = _memo_key(x)
    if key is None:
        return
    memo = net.__dict__.get("_phi_memo")
    if memo is None:
        memo = {}
        object.__setattr__(net, "_phi_memo", memo)
    memo[l] = (key.copy(), np.array(f, dtype=float), np.array(df, dtype=float))


#: Arrays above this size (bytes) are not remembered by :func:`_input_prediction` and
#: :func:`_phi_f_df`: a memo keeps copies, and the big arrays (a data set evaluated at once)
#: are read once.  A training batch (Fashion-MNIST: 32 x 784 inputs, 200 kB) is far below.
_MEMO_MAX_BYTES = 1 << 20


def _input_prediction(net: Network, x0) -> np.ndarray:
    """``mu_1`` of the input layer ``x0``, remembered on ``net`` for the last ``x0`` seen.

    A training batch reads it several times with the same clamped input (the feedforward
    start, the settle, the settled energy, the Hebbian update); the product is the widest
    of the network (784 x 256 on Fashion-MNIST).  The memo is used only when ``x0`` equals
    the remembered input byte for byte (same shape, float64 bits compared as unsigned
    64-bit integers: ``-0.0`` differs from ``0.0`` and a NaN equals itself),
    and a copy is returned: the same numbers as the product, bit for bit (one product,
    one layout: the memo holds a C-ordered copy of ``x0`` and is only matched by a
    C-ordered ``x0``).
    """
    bits = _memo_key(x0)
    if bits is None:
        return net.phi(0).f(x0) @ net.W(1).T + net.b(1)
    memo = net.__dict__.get("_mu1")
    if memo is not None and memo[0].shape == bits.shape and np.array_equal(memo[0], bits):
        return memo[1].copy()
    mu = net.phi(0).f(x0) @ net.W(1).T + net.b(1)
    object.__setattr__(net, "_mu1", (bits.copy(), mu.copy()))
    return mu


def predictions(net: Network, x: State) -> State:
    """``mu_l`` for ``l = 1..L``, indexed ``mu[l]``; ``mu[0]`` is ``x[0]`` (no prediction)."""
    return (x[0],) + tuple(_mu(net, x, l) for l in range(1, net.n_layers + 1))


def errors(net: Network, x: State) -> State:
    """``eps_l = x_l - mu_l``, indexed ``eps[l]``; ``eps[0]`` is zero (the top has no prior)."""
    return (np.zeros_like(x[0]),) + tuple(x[l] - _mu(net, x, l) for l in range(1, net.n_layers + 1))


def _errors_and_phi(net: Network, x: State) -> tuple[State, State]:
    """``(eps, phi)``: :func:`errors` and the activations ``phi[l] = phi_l(x_l)``
    (``l = 0..L-1``) it predicts from, each evaluated once (the same numbers as
    :func:`errors` and ``net.phi(l).f(x[l])``, bit for bit), for callers that need both:
    the Hebbian update ``pi_l eps_l phi_{l-1}^T`` would otherwise evaluate every hidden
    activation twice."""
    L = net.n_layers
    phi = (net.phi(0).f(x[0]),) + tuple(_phi(net, l, x[l]) for l in range(1, L))
    mu = [_input_prediction(net, x[0])]
    mu += [phi[l - 1] @ net.W(l).T + net.b(l) for l in range(2, L + 1)]
    return (np.zeros_like(x[0]),) + tuple(x[l] - mu[l - 1] for l in range(1, L + 1)), phi


def weighted_errors(net: Network, x: State) -> State:
    """``pi_l * eps_l``, the currents of the error springs in units of ``g0``."""
    eps = errors(net, x)
    return (eps[0],) + tuple(net.pi(l) * eps[l] for l in range(1, net.n_layers + 1))


def energy(net: Network, x: State) -> np.ndarray:
    """Per-sample energy ``F = sum_l 1/2 sum_i pi_li eps_li^2``, shape ``(batch,)``.

    Raises :class:`InvalidInputError` when ``x`` does not fit ``net`` (:func:`check_state`).
    """
    eps = errors(net, check_state(net, x))
    return sum(0.5 * (net.pi(l) * eps[l] ** 2).sum(axis=1) for l in range(1, net.n_layers + 1))


def _grad_from_errors(net: Network, x: State, e: State) -> State:
    """``dF/dx_l`` from precision-weighted errors ``e[l] = pi_l eps_l``."""
    L = net.n_layers
    g = []
    for l in range(L + 1):
        gl = e[l].copy() if l > 0 else np.zeros_like(x[0])
        if l < L:
            gl -= net.phi(l).df(x[l]) * (e[l + 1] @ net.W(l + 1))
        g.append(gl)
    return tuple(g)


def grad_x(net: Network, x: State) -> State:
    """Gradient of the per-sample energy in every activity; ``g[l]`` has shape ``(batch, n_l)``.

    Clamped units get their gradient too; callers mask it.
    """
    return _grad_from_errors(net, x, weighted_errors(net, x))


def grad_params(net: Network, x: State) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """``(dF/dW_l, dF/db_l)`` for ``l = 1..L`` (lists indexed ``l-1``), summed over the batch.

    ``dF/dW_l = -sum_batch (pi_l eps_l) phi_{l-1}(x_{l-1})^T``,
    ``dF/db_l = -sum_batch pi_l eps_l``.
    """
    e = weighted_errors(net, x)
    dW = tuple(-(e[l].T @ net.phi(l - 1).f(x[l - 1])) for l in range(1, net.n_layers + 1))
    db = tuple(-e[l].sum(axis=0) for l in range(1, net.n_layers + 1))
    return dW, db


def hessian_blocks(
    net: Network, x: State, layers=None
) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
    """The block-tridiagonal Hessian of the per-sample energy in the activities.

    Parameters
    ----------
    net, x :
        The network and a batched state.
    layers : iterable of int, optional
        Only these diagonal blocks (and the off-diagonal blocks between two of
        them) are computed; the others are ``None``.  Default: all.

    Returns
    -------
    diag : list of ndarray
        ``diag[l]`` is ``H_ll``, shape ``(batch, n_l, n_l)``, ``l = 0..L``.
    upper : list of ndarray
        ``upper[l]`` is ``H_l,l+1``, shape ``(batch, n_l, n_{l+1})``, ``l = 0..L-1``;
        the lower blocks are its transposes.
    """
    L = net.n_layers
    need = set(range(L + 1)) if layers is None else set(layers)
    e = weighted_errors(net, x)
    batch = x[0].shape[0]
    diag: list = [None] * (L + 1)
    upper: list = [None] * L
    for l in sorted(need):
        n = net.sizes[l]
        idx = np.arange(n)
        D = np.zeros((batch, n, n))
        if l > 0:
            D[:, idx, idx] += net.pi(l)
        if l < L:
            W = net.W(l + 1)
            d1 = net.phi(l).df(x[l])  # (B, n_l)
            d2 = net.phi(l).d2f(x[l])
            J = W[None, :, :] * d1[:, None, :]  # W diag(phi'), (B, n_{l+1}, n_l)
            pJ = J * net.pi(l + 1)[None, :, None]
            Jt = np.transpose(J, (0, 2, 1))
            D += Jt @ pJ
            D[:, idx, idx] -= d2 * (e[l + 1] @ W)
            if l + 1 in need:
                upper[l] = -np.transpose(pJ, (0, 2, 1))
        diag[l] = D
    return diag, upper


def dense_hessian(net: Network, x: State) -> np.ndarray:
    """The full Hessian ``(batch, N, N)`` with ``N = sum n_l``, assembled from the blocks."""
    diag, upper = hessian_blocks(net, x)
    offs = np.concatenate([[0], np.cumsum(net.sizes)])
    batch = x[0].shape[0]
    H = np.zeros((batch, offs[-1], offs[-1]))
    for l, D in enumerate(diag):
        H[:, offs[l] : offs[l + 1], offs[l] : offs[l + 1]] = D
    for l, U in enumerate(upper):
        H[:, offs[l] : offs[l + 1], offs[l + 1] : offs[l + 2]] = U
        H[:, offs[l + 1] : offs[l + 2], offs[l] : offs[l + 1]] = np.transpose(U, (0, 2, 1))
    return H


def feedforward(net: Network, x0, *, raw: bool = False) -> State:
    """The feedforward pass ``a_0 = x0``, ``a_l = W_l phi_{l-1}(a_{l-1}) + b_l``.

    With ``raw``, ``x0`` holds raw data features and ``a_0`` is the network's
    :meth:`~pc_analog.model.network.Network.transform_input` of them
    (``(x0 - offset) * scale``; the identity without an ``input_transform``).
    """
    a = [net.transform_input(x0) if raw else as_batch(x0, net.sizes[0], "input")]
    for l in range(1, net.n_layers + 1):
        a.append(_mu(net, tuple(a), l))
    return tuple(a)


def predict(net: Network, raw) -> np.ndarray:
    """Class indices of raw data: ``argmax_j`` of the output of
    ``feedforward(net, raw, raw=True)`` (the network's input transform applied), one per
    sample.  The feedforward output is the settled output when only the input is
    clamped (every error is then zero)."""
    return np.argmax(feedforward(net, raw, raw=True)[-1], axis=1)


def initial_state(net: Network, clamp: Clamp, values: Sequence[np.ndarray]) -> State:
    """The feedforward start: clamped units keep ``values``, free units take ``mu_l``.

    Layers are filled in order ``l = 1..L``, each prediction made from the layer
    below as already filled (clamped values included).  Free units of layer 0,
    which nothing predicts, keep their value in ``values``.

    Parameters
    ----------
    net : Network
    clamp : Clamp
    values : sequence of ndarray
        A batched state; only the clamped entries (and free entries of layer 0) are read.
    """
    clamp.check(net.sizes)
    x = [np.array(v, dtype=float) for v in check_state(net, values)]
    for l in range(1, net.n_layers + 1):
        free = ~clamp.masks[l]
        if free.any():
            x[l][:, free] = _mu(net, tuple(x), l)[:, free]
    return tuple(x)


def io_state(net: Network, x0, y=None) -> tuple[State, Clamp]:
    """The discriminative set-up: input clamped to ``x0``, output to ``y`` if given.

    Returns the feedforward start and the clamp.
    """
    a = feedforward(net, x0)
    clamp = Clamp.io(net.sizes, target=y is not None)
    values = list(a)
    if y is not None:
        yb = as_batch(y, net.sizes[-1], "target")
        if yb.shape[0] != a[0].shape[0]:
            raise InvalidInputError(f"target: {yb.shape[0]} samples but input has {a[0].shape[0]}")
        values[-1] = yb
    return tuple(values), clamp
