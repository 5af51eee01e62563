"""The digital reference: backprop and discrete predictive-coding inference.

Everything here is the *digital* computation the analog circuit is compared to:

- :func:`backprop` -- gradients of ``Loss = 1/2 pi_L ||y - a_L||^2`` (``loss="mse"``)
  or of the softmax cross-entropy (``loss="ce"``), in the descent convention
  ``dW = -dLoss/dW``.
- :func:`discrete_inference` -- standard PC: Euler steps ``x <- x - gamma dF/dx``
  on the free units (the flow ``tau dx/dt = -dF/dx`` with ``dt = gamma tau``).
- :func:`fpa_inference` -- FPA-PC (Millidge et al. 2020): predictions and
  Jacobians fixed at their feedforward values.
- :func:`zil_gradients` -- Z-IL (Song et al. 2020): standard PC with step 1,
  the weights of layer ``l`` updated at step ``L - l`` only.
- :func:`hebbian_update` -- ``dW_l = pi_l eps_l phi(x_{l-1})^T`` at a state.
- :func:`pc_gradients` -- that update at the equilibrium, optionally with the
  Whittington & Bogacz variance-ratio scaling.

For FPA-PC and Z-IL the step is *precision-normalised*: layer ``l`` moves by
``(gamma / pi_l) * dF/dx_l``.  With unit precisions (the setting of seed 001)
this is the plain step ``gamma``; with other precisions it is what makes step
size 1 reproduce the backprop recursion ``pi_l eps_l = J_l^T pi_{l+1} eps_{l+1}``
exactly.  Batched gradients are sums over the samples of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import (
    _errors_and_phi,
    _input_prediction,
    check_state,
    feedforward,
    io_state,
    predictions,
)
from pc_analog.model.network import Network, State, as_batch
from pc_analog.solvers.discrete import DiscreteResult, discrete_inference
from pc_analog.solvers.equilibrium import GTOL_DEFAULT, solve_equilibrium

__all__ = [
    "Gradients",
    "DiscreteResult",
    "FPAResult",
    "backprop",
    "output_error",
    "hebbian_update",
    "discrete_inference",
    "fpa_inference",
    "zil_gradients",
    "pc_gradients",
    "gradients",
    "cosine_similarity",
    "LOSSES",
    "METHODS",
]

LOSSES = ("mse", "ce")
METHODS = ("bp", "pc", "fpa", "zil")


@dataclass(frozen=True)
class Gradients:
    """Weight and bias updates in the descent direction.

    Attributes
    ----------
    method : str
        ``"bp"``, ``"pc"``, ``"fpa"`` or ``"zil"``.
    dW : tuple of ndarray
        ``dW[l-1]`` updates ``W_l`` (same shape), summed over the batch.
    db : tuple of ndarray
        ``db[l-1]`` updates ``b_l``.
    loss : float or None
        The loss (bp) or the energy at the state the update was read from (pc).
    """

    method: str
    dW: tuple[np.ndarray, ...]
    db: tuple[np.ndarray, ...]
    loss: float | None = None

    def flat(self) -> np.ndarray:
        """All updates in one vector (weights then biases, layer by layer)."""
        return np.concatenate([a.ravel() for pair in zip(self.dW, self.db) for a in pair])


def cosine_similarity(a: Gradients, b: Gradients) -> float:
    """Cosine of the angle between two flattened updates (of networks of equal shape)."""
    sa, sb = ([np.shape(w) for w in (*g.dW, *g.db)] for g in (a, b))
    if sa != sb:
        raise InvalidInputError(
            f"cosine_similarity: the updates have different shapes ({sa} and {sb})"
        )
    u, v = a.flat(), b.flat()
    den = np.linalg.norm(u) * np.linalg.norm(v)
    return float(u @ v / den) if den > 0 else float("nan")


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise InvalidInputError(f"loss: unknown {loss!r} (known: {', '.join(LOSSES)})")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def output_error(net: Network, mu_L: np.ndarray, y: np.ndarray, loss: str = "mse") -> np.ndarray:
    """``-dLoss/dmu_L``: ``pi_L (y - mu_L)`` for ``"mse"``, ``y - softmax(mu_L)`` for ``"ce"``.

    For the Gaussian loss this is the precision-weighted output error ``pi_L eps_L``
    of the energy with the output clamped to ``y``.
    """
    _check_loss(loss)
    if loss == "mse":
        return net.pi(net.n_layers) * (y - mu_L)
    return y - _softmax(mu_L)


def _loss_value(net: Network, mu_L: np.ndarray, y: np.ndarray, loss: str) -> float:
    if loss == "mse":
        return float(0.5 * (net.pi(net.n_layers) * (y - mu_L) ** 2).sum())
    z = mu_L - mu_L.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(y * logp).sum())


def _target(net: Network, y, batch: int) -> np.ndarray:
    yb = as_batch(y, net.sizes[-1], "target")
    if yb.shape[0] != batch:
        raise InvalidInputError(f"target: {yb.shape[0]} samples but input has {batch}")
    return yb


def _feedforward_phi(net: Network, x0):
    """``(a, phi, dphi)``: :func:`~pc_analog.model.energy.feedforward`'s ``a`` with
    ``phi[l] = phi_l(a_l)`` and ``dphi[l] = phi_l'(a_l)`` (``l = 0..L-1``) from one fused
    evaluation per layer (:meth:`~pc_analog.model.activations.Activation.f_df`: the same
    numbers as ``f`` and ``df`` apart, bit for bit), so backprop evaluates each hidden
    activation once instead of three times."""
    a0 = as_batch(x0, net.sizes[0], "input")
    a, phi, dphi = [a0, _input_prediction(net, a0)], [], []
    for l in range(net.n_layers):
        f, df = net.phi(l).f_df(a[l])
        phi.append(f)
        dphi.append(df)
        if l >= 1:
            a.append(f @ net.W(l + 1).T + net.b(l + 1))
    return tuple(a), phi, dphi


def backprop(net: Network, x0, y, loss: str = "mse") -> Gradients:
    """Backprop gradients ``dW_l = -dLoss/dW_l`` of the feedforward network.

    With ``a = feedforward(x0)`` and ``e_L = -dLoss/da_L`` (:func:`output_error`),
    the recursion ``e_l = phi_l'(a_l) * (W_{l+1}^T e_{l+1})`` gives
    ``dW_l = e_l phi_{l-1}(a_{l-1})^T`` and ``db_l = e_l`` (summed over the batch).
    """
    a, phi, dphi = _feedforward_phi(net, x0)
    yb = _target(net, y, a[0].shape[0])
    L = net.n_layers
    e = [None] * (L + 1)
    e[L] = output_error(net, a[L], yb, loss)
    for l in range(L - 1, 0, -1):
        e[l] = dphi[l] * (e[l + 1] @ net.W(l + 1))
    dW = tuple(e[l].T @ phi[l - 1] for l in range(1, L + 1))
    db = tuple(e[l].sum(axis=0) for l in range(1, L + 1))
    return Gradients("bp", dW, db, _loss_value(net, a[L], yb, loss))


def hebbian_update(net: Network, x: State) -> Gradients:
    """The local PC weight update at a state: ``dW_l = sum_batch pi_l eps_l phi_{l-1}(x_{l-1})^T``.

    Equal to ``-dF/dW_l``: each cross-point needs only the error on its row and the
    activation on its column.
    """
    x = check_state(net, x)
    # -dF/dW of grad_params without its two negations (negating twice is exact: the same
    # bits), and the energy from the same errors (energy() would predict every layer again)
    eps, phi = _errors_and_phi(net, x)  # each hidden activation evaluated once
    L = net.n_layers
    e = [net.pi(l) * eps[l] for l in range(1, L + 1)]  # weighted_errors, e[l - 1]
    F = sum(0.5 * (net.pi(l) * eps[l] ** 2).sum(axis=1) for l in range(1, L + 1))
    return Gradients(
        "pc",
        tuple(e[l - 1].T @ phi[l - 1] for l in range(1, L + 1)),
        tuple(e[l - 1].sum(axis=0) for l in range(1, L + 1)),
        float(F.sum()),
    )


@dataclass(frozen=True)
class FPAResult:
    """Outcome of :func:`fpa_inference`.

    Attributes
    ----------
    gradients : Gradients
        ``dW_l = pi_l eps_l phi_{l-1}(mu_{l-1})^T`` from the final errors.
    x : tuple of ndarray
        Final state (hidden layers; ``x[0]`` the input, ``x[L]`` the feedforward output).
    errors_trace : list of tuple of ndarray
        ``errors_trace[t][l]`` is ``eps_l = x_l - mu_l`` after step ``t``
        (``l = 1..L-1``; entry ``L`` holds ``eps_L``, fixed).
    n_steps : int
    """

    gradients: Gradients
    x: State
    errors_trace: list
    n_steps: int


def fpa_inference(
    net: Network,
    x0,
    y,
    *,
    step_size: float = 1.0,
    n_steps: int | None = None,
    loss: str = "mse",
) -> FPAResult:
    """FPA-PC: inference with predictions and Jacobians fixed at the feedforward pass.

    With ``mu`` the feedforward values, ``J_l = W_{l+1} diag(phi_l'(mu_l))`` and the
    output error ``e_L = -dLoss/dmu_L`` held fixed, hidden layers ``l = 1..L-1`` move by

        x_l <- x_l - (gamma / pi_l) * ( pi_l (x_l - mu_l) - J_l^T e_{l+1} ),
        e_l = pi_l (x_l - mu_l)                                  (e_L fixed)

    With ``gamma = 1`` after ``T >= L - 1`` steps ``e_l`` equals backprop's error
    exactly; before step ``L - l`` the error of layer ``l`` is exactly zero
    (Zahid et al., Theorem 1).

    Parameters
    ----------
    n_steps : int, optional
        Number of steps ``T``; default ``L`` (enough for ``gamma = 1``).
    """
    a = feedforward(net, x0)
    L = net.n_layers
    yb = _target(net, y, a[0].shape[0])
    if n_steps is None:
        n_steps = L
    if not step_size > 0 or n_steps < 0:
        raise InvalidInputError("step_size must be > 0 and n_steps >= 0")
    dphi = [net.phi(l).df(a[l]) for l in range(L)]
    eL = output_error(net, a[L], yb, loss)
    x = [v.copy() for v in a]
    eps_L = eL / net.pi(L) if loss == "mse" else eL

    def eps():
        return (np.zeros_like(a[0]),) + tuple(x[l] - a[l] for l in range(1, L)) + (eps_L,)

    trace = [eps()]
    for _ in range(n_steps):
        e = [None] + [net.pi(l) * (x[l] - a[l]) for l in range(1, L)] + [eL]
        new = list(x)
        for l in range(1, L):
            g = e[l] - dphi[l] * (e[l + 1] @ net.W(l + 1))
            new[l] = x[l] - (step_size / net.pi(l)) * g
        x = new
        trace.append(eps())
    e = [None] + [net.pi(l) * (x[l] - a[l]) for l in range(1, L)] + [eL]
    dW = tuple(e[l].T @ net.phi(l - 1).f(a[l - 1]) for l in range(1, L + 1))
    db = tuple(e[l].sum(axis=0) for l in range(1, L + 1))
    grads = Gradients("fpa", dW, db, _loss_value(net, a[L], yb, loss))
    return FPAResult(grads, tuple(x), trace, n_steps)


def zil_gradients(net: Network, x0, y, *, loss: str = "mse", return_trace: bool = False):
    """Z-IL: standard PC dynamics with step 1, ``W_l`` updated at step ``t = L - l`` only.

    The activities start at the feedforward pass and follow (synchronously, all
    layers at once)

        x_l <- x_l - (1 / pi_l) * ( pi_l eps_l - phi_l'(x_l) * (W_{l+1}^T e_{l+1}) ),

    where ``e_l = pi_l eps_l`` for hidden layers and ``e_L = -dLoss/dmu_L`` at the
    current prediction.  At step ``t = L - l`` the update
    ``dW_l = e_l phi_{l-1}(x_{l-1})^T`` is read.  Equals backprop exactly.

    Returns
    -------
    Gradients, or (Gradients, list of states) if ``return_trace``.
    """
    a = feedforward(net, x0)
    L = net.n_layers
    yb = _target(net, y, a[0].shape[0])
    x = [v.copy() for v in a]
    dW: list = [None] * L
    db: list = [None] * L
    states = [tuple(x)]
    for t in range(L):
        mu = predictions(net, tuple(x))
        e = [None] + [net.pi(l) * (x[l] - mu[l]) for l in range(1, L)]
        e.append(output_error(net, mu[L], yb, loss))
        lw = L - t  # the layer whose weights learn at this step
        dW[lw - 1] = e[lw].T @ net.phi(lw - 1).f(x[lw - 1])
        db[lw - 1] = e[lw].sum(axis=0)
        new = list(x)
        for l in range(1, L):
            g = e[l] - net.phi(l).df(x[l]) * (e[l + 1] @ net.W(l + 1))
            new[l] = x[l] - g / net.pi(l)
        x = new
        states.append(tuple(x))
    grads = Gradients("zil", tuple(dW), tuple(db), _loss_value(net, a[L], yb, loss))
    return (grads, states) if return_trace else grads


def pc_gradients(
    net: Network,
    x0,
    y,
    *,
    variance_ratio: float = 1.0,
    gtol: float = GTOL_DEFAULT,
) -> Gradients:
    """Standard PC: the Hebbian update at the equilibrium with input and target clamped.

    Parameters
    ----------
    variance_ratio : float
        Whittington & Bogacz scaling ``r``: the output precision is multiplied by
        ``r`` and the update divided by ``r``.  As ``r -> 0`` (output variance large
        relative to the hidden ones) the update tends to backprop's.
    gtol : float
        Equilibrium tolerance on the gradient.
    """
    if not variance_ratio > 0:
        raise InvalidInputError("variance_ratio: must be > 0")
    if variance_ratio != 1.0:
        precisions = list(net.precisions)
        precisions[-1] = precisions[-1] * variance_ratio
        net_r = net.replace(precisions=tuple(precisions))
    else:
        net_r = net
    x, clamp = io_state(net_r, x0, y)
    res = solve_equilibrium(net_r, x, clamp, gtol=gtol)
    h = hebbian_update(net_r, res.x)
    return Gradients(
        "pc",
        tuple(w / variance_ratio for w in h.dW),
        tuple(b / variance_ratio for b in h.db),
        h.loss,
    )


def gradients(net: Network, x0, y, method: str, **kw) -> Gradients:
    """Dispatch to ``bp``, ``pc``, ``fpa`` or ``zil`` by name."""
    if method == "bp":
        return backprop(net, x0, y, **kw)
    if method == "pc":
        return pc_gradients(net, x0, y, **kw)
    if method == "fpa":
        return fpa_inference(net, x0, y, **kw).gradients
    if method == "zil":
        return zil_gradients(net, x0, y, **kw)
    raise InvalidInputError(f"method: unknown {method!r} (known: {', '.join(METHODS)})")
