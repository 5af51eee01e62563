"""Activation functions with their first and second derivatives, numeric and as SPICE text.

Every activation here is smooth (C^2), because the equilibrium solver uses the
Hessian of the energy, which contains ``phi''``.  Each is a frozen
:class:`Activation` holding, in one place, ``phi``, ``phi'`` and ``phi''`` as
vectorised callables, the same three as ngspice behavioural expressions (what the
netlist writer puts in a B source), and two fused evaluations the equilibrium
solver uses to share a transcendental between ``phi`` and its derivatives.  Look
one up by name with :func:`get_activation`.

SPICE forms square by products, never with ngspice's ``^``/``pow``; the sigmoid is
written ``s = 0.5 + 0.5 tanh(x/2)`` so that ``s' = 0.25 (1 - tanh(x/2)^2)`` and
``s'' = -0.25 tanh(x/2) (1 - tanh(x/2)^2)``.
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
    spice, dspice, d2spice : str
        ``phi``, ``phi'`` and ``phi''`` as ngspice behavioural expressions in ``{x}``.
    fused_f_df : callable or None
        ``x -> (phi(x), phi'(x))`` sharing one transcendental; ``None``: ``f`` and ``df``.
    fused_d2f : callable or None
        ``(x, phi, phi') -> phi''`` from the values already known; ``None``: ``d2f``.
    """

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    d2f: Callable[[Array], Array]
    spice: str
    dspice: str
    d2spice: str
    fused_f_df: Callable[[Array], tuple[Array, Array]] | None = None
    fused_d2f: Callable[[Array, Array, Array], Array] | None = None

    def __call__(self, x: Array) -> Array:
        return self.f(x)

    def f_df(self, x: Array) -> tuple[Array, Array]:
        """``(phi(x), phi'(x))``, with a shared transcendental where the activation has one."""
        if self.fused_f_df is not None:
            return self.fused_f_df(x)
        return self.f(x), self.df(x)

    def d2f_given(self, x: Array, f: Array, df: Array) -> Array:
        """``phi''(x)`` from ``phi(x)`` and ``phi'(x)`` where that saves a transcendental."""
        if self.fused_d2f is not None:
            return self.fused_d2f(x, f, df)
        return self.d2f(x)

    def spice_of(self, arg: str, order: int = 0) -> str:
        """``phi`` (``order`` 0), ``phi'`` (1) or ``phi''`` (2) of ngspice expression ``arg``."""
        template = (self.spice, self.dspice, self.d2spice)[order]
        return template.replace("{x}", arg)


def _sigmoid(x: Array) -> Array:
    # scipy's expit, 1 / (1 + exp(-x)): no overflow for large |x|, no cancellation for
    # x << 0 (unlike 0.5 (1 + tanh(x/2))), and one exp costs about half a tanh in numpy.
    from scipy.special import expit  # lazy: the CLI parser imports this module, not scipy

    return expit(np.asarray(x, dtype=float))


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


# Fused evaluations for the equilibrium solver: the shared transcendental is evaluated
# once and no temporaries are made (on a shared machine a fresh array's page faults
# cost as much as the operation).
def _tanh_f_df(x: Array) -> tuple[Array, Array]:
    t = np.tanh(x)
    d = np.multiply(t, t)
    return t, np.subtract(1.0, d, out=d)


def _linear_f_df(x: Array) -> tuple[Array, Array]:
    return x, np.ones_like(x)


def _sigmoid_f_df(x: Array) -> tuple[Array, Array]:
    f = _sigmoid(x)
    d = np.subtract(1.0, f)
    d *= f
    return f, d


def _tanh_d2f(x: Array, f: Array, df: Array) -> Array:
    return -2.0 * f * df


def _sigmoid_d2f(x: Array, f: Array, df: Array) -> Array:
    return df * (1.0 - 2.0 * f)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("linear", _identity, _ones, _zeros, "{x}", "1", "0", _linear_f_df),
        Activation(
            "tanh",
            np.tanh,
            _dtanh,
            _d2tanh,
            "tanh({x})",
            "(1-tanh({x})*tanh({x}))",
            "(-2*tanh({x})*(1-tanh({x})*tanh({x})))",
            _tanh_f_df,
            _tanh_d2f,
        ),
        Activation(
            "sigmoid",
            _sigmoid,
            _dsigmoid,
            _d2sigmoid,
            "(0.5+0.5*tanh(0.5*{x}))",
            "(0.25*(1-tanh(0.5*{x})*tanh(0.5*{x})))",
            "(-0.25*tanh(0.5*{x})*(1-tanh(0.5*{x})*tanh(0.5*{x})))",
            _sigmoid_f_df,
            _sigmoid_d2f,
        ),
        # softplus: a smooth ReLU; phi' is the logistic function, phi'' its derivative.
        Activation(
            "softplus",
            _softplus,
            _sigmoid,
            _dsigmoid,
            "ln(1+exp({x}))",
            "(0.5+0.5*tanh(0.5*{x}))",
            "(0.25*(1-tanh(0.5*{x})*tanh(0.5*{x})))",
        ),
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
