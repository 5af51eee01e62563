"""The backend protocol: what every way of settling a circuit returns and implements.

A backend is a :class:`Backend` subclass with a ``name`` and one method,
``settle(circuit) -> SettleResult``; options are constructor arguments.  The
registry of named backends (:mod:`pc_analog.settling.registry`) sits downstream of
every backend, so no backend imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pc_analog.circuit.ir import Circuit
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Network, State

__all__ = ["SettleResult", "Backend"]


@dataclass(frozen=True)
class SettleResult:
    """A settled network, whatever settled it.

    Attributes
    ----------
    backend : str
        Name of the backend.
    x : tuple of ndarray
        Final activities, ``x[l]`` of shape ``(batch, n_l)``.
    energy : ndarray
        Per-sample energy at ``x``.
    success : bool
        Whether the backend met its convergence criterion.
    message : str
    grad_max : ndarray
        Per-sample ``max |dF/dx|`` over free units at ``x``.
    t : ndarray or None
        Time points of the transient in seconds (time-domain backends).
    energy_trace : ndarray or None
        ``(n_points, batch)`` energy along the transient or iteration.
    settling_time_s : ndarray or None
        Per-sample settling time (SPEC section 4), time-domain backends only.
    tau_s : float or None
        ``C / g0`` of the circuit, time-domain backends only.
    trajectory : tuple of ndarray or None
        ``trajectory[l]`` of shape ``(n_points, batch, n_l)``: activities at ``t``.
    x_eq : tuple of ndarray or None
        The equilibrium the settling time was measured against.
    stats : dict
        Solver counters (``nit``, ``nfev``, ``n_steps``, ...).
    """

    backend: str
    x: State
    energy: np.ndarray
    success: bool
    message: str
    grad_max: np.ndarray
    t: np.ndarray | None = None
    energy_trace: np.ndarray | None = None
    settling_time_s: np.ndarray | None = None
    tau_s: float | None = None
    trajectory: State | None = None
    x_eq: State | None = None
    stats: dict = field(default_factory=dict)


class Backend:
    """Base class: a named way to settle a network.

    Subclasses implement :meth:`settle`; options are constructor arguments.
    """

    name = "backend"

    def settle(self, circuit: Circuit) -> SettleResult:  # pragma: no cover
        raise NotImplementedError


def _require_symmetric(circuit: Circuit, who: str) -> Network:
    if not circuit.symmetric:
        raise InvalidInputError(
            f"{who} backend: the feedback crossbars differ from the forward ones, so the "
            "dynamics are not a gradient flow; use backend='ode' or 'ngspice'"
        )
    return circuit.network()
