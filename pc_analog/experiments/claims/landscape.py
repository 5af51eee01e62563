"""Claims about the shape of the PC energy: its saddles and its curvature.

- :func:`saddle_escape` -- seed 002 (Innocenti et al. 2023): on the toy
  ``f(x) = w2 w1 x`` PC learning escapes the saddle at the origin faster than gradient
  descent on the loss from the same start (:func:`toy_landscape`: both in closed form).
- :func:`fisher_information` -- seed 003 (Millidge): the Fisher information of the
  activities of a Gaussian PC model is the precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import feedforward, hessian_blocks
from pc_analog.model.network import Network
from pc_analog.reference.variants import backprop, pc_gradients

__all__ = [
    "toy_landscape",
    "SaddleEscapeResult",
    "saddle_escape",
    "FisherResult",
    "fisher_information",
]


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
