"""Activation functions with their first and second derivatives.

Every activation here is smooth (C^2), because the equilibrium solver uses the
Hessian of the energy, which contains ``phi''``.  Each is a frozen
:class:`Activation` holding three vectorised callables; look one up by name with
:func:`get_activation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = ["Activation", "ACTIVATIONS", "get_activation"]

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """A scalar nonlinearity applied elementwise.

    Attributes
    ----------
    name : str
        The name used in network files (``"linear"``, ``"tanh"``, ...).
    f, df, d2f : callable
        ``phi(x)``, ``phi'(x)`` and ``phi''(x)``, elementwise on arrays.
    spice : str
        The same function as an ngspice behavioural expression in ``{x}``.
    """

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    d2f: Callable[[Array], Array]
    spice: str

    def __call__(self, x: Array) -> Array:
        return self.f(x)


def _sigmoid(x: Array) -> Array:
    # Numerically stable logistic function: no overflow for large |x|.
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def _dsigmoid(x: Array) -> Array:
    s = _sigmoid(x)
    return s * (1.0 - s)


def _d2sigmoid(x: Array) -> Array:
    s = _sigmoid(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _dtanh(x: Array) -> Array:
    t = np.tanh(x)
    return 1.0 - t * t


def _d2tanh(x: Array) -> Array:
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _softplus(x: Array) -> Array:
    x = np.asarray(x, dtype=float)
    return np.logaddexp(0.0, x)


def _ones(x: Array) -> Array:
    return np.ones_like(np.asarray(x, dtype=float))


def _zeros(x: Array) -> Array:
    return np.zeros_like(np.asarray(x, dtype=float))


def _identity(x: Array) -> Array:
    return np.asarray(x, dtype=float)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("linear", _identity, _ones, _zeros, "{x}"),
        Activation("tanh", np.tanh, _dtanh, _d2tanh, "tanh({x})"),
        Activation("sigmoid", _sigmoid, _dsigmoid, _d2sigmoid, "(0.5+0.5*tanh(0.5*{x}))"),
        # softplus: a smooth ReLU; phi' is the logistic function, phi'' its derivative.
        Activation("softplus", _softplus, _sigmoid, _dsigmoid, "ln(1+exp({x}))"),
    )
}


def get_activation(name: str | Activation) -> Activation:
    """Return the activation called ``name`` (or ``name`` itself if already one).

    Raises
    ------
    InvalidInputError
        If the name is unknown; the message lists the known names.
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(ACTIVATIONS))
        raise InvalidInputError(f"unknown activation {name!r} (known: {known})") from None
