"""One small exception hierarchy for pc-analog.

Solvers that fail to converge do *not* raise: they return a result with
``success=False`` and emit :class:`ConvergenceWarning`.  Exceptions are for bad
input (:class:`InvalidInputError`) and for a backend that cannot run
(:class:`BackendUnavailableError`).
"""

from __future__ import annotations

__all__ = [
    "PCAnalogError",
    "InvalidInputError",
    "BackendUnavailableError",
    "BackendError",
    "ConvergenceWarning",
]


class PCAnalogError(Exception):
    """Base class of every error raised on purpose by pc-analog."""


class InvalidInputError(PCAnalogError, ValueError):
    """Input that breaks the contract (shapes, non-finite numbers, bad fields).

    The message is one line and names the offending field, so the command line
    can print it as it is and exit with status 2.
    """


class BackendUnavailableError(PCAnalogError, RuntimeError):
    """A backend was asked for but cannot run here (missing library or binary)."""


class BackendError(PCAnalogError, RuntimeError):
    """A backend ran but reported a failure it could not recover from."""


class ConvergenceWarning(UserWarning):
    """A solver stopped before meeting its tolerance (the result has success=False)."""
