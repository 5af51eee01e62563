"""The backend protocol: what every way of settling a circuit returns and implements.

A backend is a :class:`Backend` subclass with a ``name``, a declaration of what it
requires of the circuit (``requires_symmetric``), and one method,
``settle(circuit, *, on_failure=None) -> SettleResult``; options are constructor
arguments (as ``scipy.integrate.OdeSolver`` subclasses take theirs).  The base class
does what every backend shares, so no backend repeats it:

* unknown constructor options raise :class:`~pc_analog.errors.InvalidInputError`
  naming the option and the known ones (not ``TypeError``);
* ``requires_symmetric`` is checked before the backend runs;
* a result whose state is not finite is never reported as a success;
* the failure policy ``on_failure`` is applied (``"warn"``: a
  :class:`~pc_analog.errors.ConvergenceWarning`, the default; ``"return"``: silent,
  read ``result.status``; ``"raise"``: :class:`~pc_analog.errors.ConvergenceError`
  carrying the result), as diffrax's ``throw=`` chooses between raising and returning.

Every result carries a :class:`Status` whose member carries its own explanation
(diffrax's ``RESULTS``); ``success`` and ``message`` derive from it.  The registry
of named backends (:mod:`pc_analog.settling.registry`) sits downstream of every
backend, so no backend imports it.
"""

from __future__ import annotations

import abc
import enum
import inspect
import math
import warnings
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from pc_analog.circuit.ir import Circuit
from pc_analog.errors import ConvergenceError, ConvergenceWarning, InvalidInputError
from pc_analog.model.network import State

__all__ = ["Status", "SettleResult", "Backend", "ON_FAILURE", "apply_on_failure"]

#: The failure policies every backend and :func:`pc_analog.settling.registry.settle` take.
ON_FAILURE = ("warn", "raise", "return")


class Status(enum.Enum):
    """How a solve ended.  Each member carries its explanation (``Status.X.message``).

    ``SUCCESS`` is the only success; every other member is a failure whose result
    still holds the state reached, so a caller can inspect it.
    """

    SUCCESS = "converged"
    MAX_ITER = "the iteration limit was reached before the tolerance was met"
    MAX_STEPS = "the step limit was reached before the tolerance was met"
    STALLED = "no step could lower the energy any further before the tolerance was met"
    NOT_SETTLED = "the transient ended before every sample settled within the band"
    NON_FINITE = "the state is not finite (NaN or infinity)"
    KCL_RESIDUAL = "ngspice did not converge: the KCL residual at its operating point is too large"
    UNSTABLE = "the circuit is unstable: the state ran away from its rest point"
    BACKEND_FAILED = "the backend's solver failed"

    @property
    def message(self) -> str:
        """str : What this status means, in one line."""
        return self.value

    @property
    def success(self) -> bool:
        """bool : Whether this status is :attr:`SUCCESS`."""
        return self is Status.SUCCESS

    @property
    def backend_failure(self) -> bool:
        """bool : The backend failed on valid input (SPEC section 4: exit status 3), as
        opposed to stopping at a limit the caller set (``MAX_ITER``, ``MAX_STEPS``,
        ``STALLED``, ``NOT_SETTLED``: not converged, exit status 1)."""
        return self in _BACKEND_FAILURES


_BACKEND_FAILURES = frozenset(
    {Status.NON_FINITE, Status.KCL_RESIDUAL, Status.UNSTABLE, Status.BACKEND_FAILED}
)


def _same(a, b) -> bool:
    """Exact equality that never raises: arrays by value (NaN equal to NaN), containers
    element by element."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        try:
            return bool(np.array_equal(a, b))
        except Exception:  # pragma: no cover - object arrays of odd things
            return False
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


@dataclass(frozen=True, eq=False)
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
    status : Status
        How the solve ended; ``status.message`` explains it.
    message : str
        This run's own account (numbers, method, reason of a failure).
    grad_max : ndarray
        Per-sample ``max |dF/dx|`` over free units at ``x`` (for a non-ideal circuit,
        ``max |I| / g0``: the KCL residual in volts).
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
    nit, nfev, njev, nfact, n_steps : int or None
        Counters, where the backend has them: iterations, right-hand-side (or energy)
        evaluations, Jacobian (or gradient) evaluations, factorisations, time steps.
    stats : dict
        Every backend-specific counter and note (the counters above included).

    Notes
    -----
    ``success`` is ``status is Status.SUCCESS``.  ``==`` compares every field by
    value (arrays with :func:`numpy.array_equal`, NaN equal to NaN) and never raises;
    results are not hashable.
    """

    backend: str
    x: State
    energy: np.ndarray
    status: Status
    message: str
    grad_max: np.ndarray
    t: np.ndarray | None = None
    energy_trace: np.ndarray | None = None
    settling_time_s: np.ndarray | None = None
    tau_s: float | None = None
    trajectory: State | None = None
    x_eq: State | None = None
    nit: int | None = None
    nfev: int | None = None
    njev: int | None = None
    nfact: int | None = None
    n_steps: int | None = None
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.status, Status):
            raise InvalidInputError(f"SettleResult.status: not a Status ({self.status!r})")
        if not self.message:
            object.__setattr__(self, "message", self.status.message)

    @property
    def success(self) -> bool:
        """bool : Whether the backend met its convergence criterion (``status`` is SUCCESS)."""
        return self.status is Status.SUCCESS

    def equals(self, other) -> bool:
        """Whether ``other`` is a :class:`SettleResult` with every field equal (see Notes)."""
        if not isinstance(other, SettleResult):
            return False
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    def __eq__(self, other):
        if not isinstance(other, SettleResult):
            return NotImplemented
        return self.equals(other)

    __hash__ = None


def apply_on_failure(result, on_failure: str, *, stacklevel: int = 2):
    """Apply a failure policy to any result with ``success`` and ``message``; return it.

    ``"warn"``: a :class:`ConvergenceWarning` with the result's message;
    ``"raise"``: :class:`ConvergenceError` carrying the result; ``"return"``: nothing.
    A successful result passes unchanged.
    """
    check_on_failure(on_failure)
    if result.success or on_failure == "return":
        return result
    if on_failure == "raise":
        raise ConvergenceError(result.message, result)
    warnings.warn(result.message, ConvergenceWarning, stacklevel=stacklevel + 1)
    return result


def check_on_failure(on_failure) -> str:
    """``on_failure`` itself, or :class:`InvalidInputError` naming the known policies."""
    if on_failure not in ON_FAILURE:
        raise InvalidInputError(
            f"on_failure: unknown {on_failure!r} (known: {', '.join(ON_FAILURE)})"
        )
    return on_failure


class Backend(abc.ABC):
    """Base class: a named way to settle a circuit.

    Subclasses set ``name``, declare ``requires_symmetric`` (True for backends that
    follow the energy's gradient, which exists only when the feedback crossbars equal
    the forward ones), take their options as keyword constructor arguments, call
    ``super().__init__(on_failure=on_failure)``, and implement :meth:`_settle`.

    Parameters
    ----------
    on_failure : {"warn", "raise", "return"}
        What a non-converged result does (module docstring); :meth:`settle` can
        override it per call.
    """

    name: ClassVar[str] = "backend"
    #: The backend follows ``-grad F``: it needs ``circuit.symmetric``.
    requires_symmetric: ClassVar[bool] = False
    #: The backend simulates non-ideal amplifiers (``circuit.amplifiers``); one that
    #: does not refuses such a circuit rather than silently settling the ideal one.
    supports_amplifiers: ClassVar[bool] = False

    def __new__(cls, *args, **options):
        known = cls.option_names()
        unknown = [k for k in options if k not in known]
        if unknown:
            raise InvalidInputError(
                f"{cls.name} backend: unknown option {unknown[0]!r} (known: {', '.join(known)})"
            )
        if len(args) > len(known):
            raise InvalidInputError(
                f"{cls.name} backend: {len(args)} positional options given, "
                f"{len(known)} known ({', '.join(known)})"
            )
        return super().__new__(cls)

    def __init__(self, *, on_failure: str = "warn"):
        self.on_failure = check_on_failure(on_failure)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The constructor's option names, in order (``on_failure`` included)."""
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        return tuple(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def settle(self, circuit: Circuit, *, on_failure: str | None = None) -> SettleResult:
        """Settle ``circuit``: check requirements, run :meth:`_settle`, apply ``on_failure``.

        Parameters
        ----------
        circuit : Circuit
        on_failure : {"warn", "raise", "return"}, optional
            Overrides the backend's own policy for this call.

        Raises
        ------
        InvalidInputError
            The circuit does not meet the backend's requirements.
        ConvergenceError
            With ``on_failure="raise"``, when the result is not a success.
        """
        policy = check_on_failure(self.on_failure if on_failure is None else on_failure)
        if self.requires_symmetric and not circuit.symmetric:
            raise InvalidInputError(
                f"{self.name} backend: the feedback crossbars differ from the forward ones, "
                "so the dynamics are not a gradient flow; use backend='ode' or 'ngspice'"
            )
        if not circuit.ideal and not self.supports_amplifiers:
            raise InvalidInputError(
                f"{self.name} backend: it runs the digital PC loop on the ideal energy, and "
                "a circuit with non-idealities (amplifiers, block errors, wires) has no "
                "energy to descend; use backend 'equilibrium', 'ode' or 'ngspice'"
            )
        res = self._settle(circuit)
        if res.success and not all(np.isfinite(v).all() for v in res.x):
            res = _replace_status(res, Status.NON_FINITE, "")
        return apply_on_failure(res, policy)

    @abc.abstractmethod
    def _settle(self, circuit: Circuit) -> SettleResult:
        """The backend's own work: a result with its status, no warning, no raise."""

    def __repr__(self) -> str:
        opts = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in self.option_names() if hasattr(self, k)
        )
        return f"{type(self).__name__}({opts})"


def _replace_status(res: SettleResult, status: Status, detail: str) -> SettleResult:
    import dataclasses

    msg = f"{status.message}: {detail}" if detail else status.message
    return dataclasses.replace(res, status=status, message=msg)
