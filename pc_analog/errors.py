"""One small exception hierarchy for pc-analog.

Solvers that fail to converge do *not* raise by default: they return a result with
a failure ``status`` (``success=False``) and emit :class:`ConvergenceWarning`.  The
caller chooses with ``on_failure``: ``"warn"`` (default), ``"return"`` (no warning,
read the status) or ``"raise"`` (:class:`ConvergenceError`, carrying the result).
Exceptions are otherwise for bad input (:class:`InvalidInputError`) and for a
backend that cannot run (:class:`BackendUnavailableError`) or fails outright
(:class:`BackendError`).
"""

from __future__ import annotations

__all__ = [
    "PCAnalogError",
    "InvalidInputError",
    "BackendUnavailableError",
    "BackendError",
    "ConvergenceError",
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


class ConvergenceError(BackendError):
    """A solver did not converge and the caller asked for ``on_failure="raise"``.

    Attributes
    ----------
    result : object
        The non-converged result (a ``SettleResult`` from a backend, or the
        solver's own result object), with its ``status`` and ``message``.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
