"""One entry point, :func:`settle`, for every way of bringing a network to rest.

Backends are chosen by name (``backend="equilibrium"``) or by instance, as
``scipy.integrate.solve_ivp`` chooses ``method``.  Each is a :class:`Backend`
with one signature, ``backend.settle(circuit) -> SettleResult``: every backend
reads the same circuit IR (:mod:`pc_analog.circuit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._threads import single_threaded_blas
from .circuit import Circuit, Hardware, compile_network
from .equilibrium import GTOL_DEFAULT, solve_equilibrium
from .errors import InvalidInputError
from .network import Clamp, Network, State
from .reference import discrete_inference

__all__ = [
    "SettleResult",
    "Backend",
    "DiscreteBackend",
    "EquilibriumBackend",
    "BACKENDS",
    "get_backend",
    "settle",
]


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


class DiscreteBackend(Backend):
    """Digital PC: Euler steps ``x <- x - gamma dF/dx`` until ``max |dF/dx| <= gtol``.

    Parameters
    ----------
    step_size : float
        ``gamma`` (in units of ``tau``).
    max_steps : int
    gtol : float
    """

    name = "discrete"

    def __init__(self, step_size: float = 0.1, max_steps: int = 100_000, gtol: float = 1e-8):
        if not step_size > 0 or max_steps < 1 or not gtol > 0:
            raise InvalidInputError(
                "discrete backend: need step_size > 0, max_steps >= 1, gtol > 0"
            )
        self.step_size, self.max_steps, self.gtol = step_size, max_steps, gtol

    def settle(self, circuit):
        net = _require_symmetric(circuit, self.name)
        r = discrete_inference(
            net,
            circuit.x_init,
            circuit.clamp,
            step_size=self.step_size,
            n_steps=self.max_steps,
            gtol=self.gtol,
        )
        return SettleResult(
            self.name,
            r.x,
            r.energy,
            r.success,
            r.message,
            r.grad_max,
            energy_trace=r.energy_trace,
            stats={"n_steps": r.n_steps, "step_size": self.step_size},
        )


class EquilibriumBackend(Backend):
    """The rest point found directly (:func:`solve_equilibrium`).

    Parameters
    ----------
    gtol, max_iter :
        As for :func:`solve_equilibrium`.
    structured : bool
        ``False`` forces the dense block-Newton path (for comparisons).
    """

    name = "equilibrium"

    def __init__(self, gtol: float = GTOL_DEFAULT, max_iter: int = 200, structured: bool = True):
        if not gtol > 0 or max_iter < 1:
            raise InvalidInputError("equilibrium backend: need gtol > 0 and max_iter >= 1")
        self.gtol, self.max_iter, self.structured = gtol, max_iter, bool(structured)

    def settle(self, circuit):
        net = _require_symmetric(circuit, self.name)
        r = solve_equilibrium(
            net,
            circuit.x_init,
            circuit.clamp,
            gtol=self.gtol,
            max_iter=self.max_iter,
            structured=self.structured,
        )
        return SettleResult(
            self.name,
            r.x,
            r.energy,
            r.success,
            r.message,
            r.grad_max,
            x_eq=r.x,
            stats={
                "nit": r.nit,
                "nfev": r.nfev,
                "njev": r.njev,
                "nhev": r.nhev,
                "nfact": r.nfact,
                "method": r.method,
            },
        )


BACKENDS: dict[str, type[Backend]] = {
    DiscreteBackend.name: DiscreteBackend,
    EquilibriumBackend.name: EquilibriumBackend,
}


def _register_lazy() -> None:
    """Backends defined downstream of this module register themselves on first use."""
    from .ngspice import NgspiceBackend
    from .ode import OdeBackend

    BACKENDS.setdefault(OdeBackend.name, OdeBackend)
    BACKENDS.setdefault(NgspiceBackend.name, NgspiceBackend)


def get_backend(backend: str | Backend, **options) -> Backend:
    """A backend instance from a name (with constructor ``options``) or an instance."""
    if isinstance(backend, Backend):
        if options:
            raise InvalidInputError(
                "backend options go to the constructor when passing an instance"
            )
        return backend
    _register_lazy()
    try:
        cls = BACKENDS[backend]
    except (KeyError, TypeError):
        raise InvalidInputError(
            f"backend: unknown {backend!r} (known: {', '.join(sorted(BACKENDS))})"
        ) from None
    return cls(**options)


def settle(
    net: Network | Circuit,
    x0=None,
    target=None,
    *,
    clamp: Clamp | None = None,
    values: State | None = None,
    hardware: Hardware | None = None,
    backend: str | Backend = "equilibrium",
    **options,
) -> SettleResult:
    """Settle a network (compiled to a circuit first) or a circuit, from the feedforward start.

    Either give ``x0`` (input, clamped) and optionally ``target`` (output,
    clamped), or a full ``clamp`` with batched ``values`` for the clamped units.

    Parameters
    ----------
    net : Network or Circuit
        A network (compiled with :func:`pc_analog.circuit.compile_network` and
        ``hardware``), or an already compiled circuit (then no ``x0``/``clamp``).
    x0, target : array_like, optional
        ``(batch, n_0)`` input and ``(batch, n_L)`` target (1-D for one sample).
    clamp : Clamp, optional
        Any clamp set; requires ``values``.
    values : sequence of ndarray, optional
        Batched state whose clamped entries are the clamp values.
    hardware : Hardware, optional
        Physical parameters for the compilation (default :class:`Hardware`).
    backend : str or Backend
        A name from :data:`BACKENDS` (default ``"equilibrium"``) or an instance.
    **options
        Passed to the backend's constructor when ``backend`` is a name.
    """
    be = get_backend(backend, **options)
    if isinstance(net, Circuit):
        if any(v is not None for v in (x0, target, clamp, values, hardware)):
            raise InvalidInputError("settle: a compiled circuit already holds its clamps")
        return be.settle(net)
    # The feedforward start is (batch x n) products: BLAS threads only contend there
    # (see pc_analog._threads), and on a shared machine they cost more than the solve.
    with single_threaded_blas():
        circuit = compile_network(net, x0, target, clamp=clamp, values=values, hardware=hardware)
    return be.settle(circuit)
