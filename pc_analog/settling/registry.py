"""One entry point, :func:`settle`, for every way of bringing a network to rest.

Backends are chosen by name (``backend="equilibrium"``) or by instance, as
``scipy.integrate.solve_ivp`` chooses ``method``.  Each is a :class:`Backend`
with one signature, ``backend.settle(circuit, *, on_failure=None) -> SettleResult``:
every backend reads the same circuit IR (:mod:`pc_analog.circuit.ir`).  A result's
``status`` (:class:`Status`) says how the solve ended; ``on_failure`` says what a
failure does (warn, the default; raise :class:`~pc_analog.errors.ConvergenceError`;
or return silently).
"""

from __future__ import annotations

from pc_analog._threads import single_threaded_blas
from pc_analog.circuit.ir import Circuit, Hardware, compile_network
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Clamp, Network, State
from pc_analog.solvers.base import Backend, SettleResult, Status
from pc_analog.solvers.discrete import DiscreteBackend
from pc_analog.solvers.equilibrium import EquilibriumBackend
from pc_analog.solvers.ode import OdeBackend
from pc_analog.solvers.sde import SdeBackend
from pc_analog.spice.ngspice import NgspiceBackend

__all__ = [
    "SettleResult",
    "Status",
    "Backend",
    "DiscreteBackend",
    "EquilibriumBackend",
    "BACKENDS",
    "get_backend",
    "settle",
]


BACKENDS: dict[str, type[Backend]] = {
    DiscreteBackend.name: DiscreteBackend,
    EquilibriumBackend.name: EquilibriumBackend,
    OdeBackend.name: OdeBackend,
    NgspiceBackend.name: NgspiceBackend,
    SdeBackend.name: SdeBackend,
}


def get_backend(backend: str | Backend, **options) -> Backend:
    """A backend instance from a name (with constructor ``options``) or an instance.

    Raises
    ------
    InvalidInputError
        An unknown name, an unknown option (naming the known ones), or options
        given with an instance.
    """
    if isinstance(backend, Backend):
        if options:
            raise InvalidInputError(
                "backend options go to the constructor when passing an instance"
            )
        return backend
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
    on_failure: str | None = None,
    **options,
) -> SettleResult:
    """Settle a network (compiled to a circuit first) or a circuit, from the feedforward start.

    Either give ``x0`` (input, clamped) and optionally ``target`` (output,
    clamped), or a full ``clamp`` with batched ``values`` for the clamped units.

    Parameters
    ----------
    net : Network or Circuit
        A network (compiled with :func:`pc_analog.circuit.ir.compile_network` and
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
    on_failure : {"warn", "raise", "return"}, optional
        What a non-converged result does: a
        :class:`~pc_analog.errors.ConvergenceWarning` (the backend's default,
        ``"warn"``), :class:`~pc_analog.errors.ConvergenceError` carrying the
        result, or nothing (read ``result.status``).  Works with an instance too.
    **options
        Passed to the backend's constructor when ``backend`` is a name.
    """
    be = get_backend(backend, **options)
    if isinstance(net, Circuit):
        if any(v is not None for v in (x0, target, clamp, values, hardware)):
            raise InvalidInputError("settle: a compiled circuit already holds its clamps")
        return be.settle(net, on_failure=on_failure)
    # The feedforward start is (batch x n) products: BLAS threads only contend there
    # (see pc_analog._threads), and on a shared machine they cost more than the solve.
    with single_threaded_blas():
        circuit = compile_network(net, x0, target, clamp=clamp, values=values, hardware=hardware)
    return be.settle(circuit, on_failure=on_failure)
