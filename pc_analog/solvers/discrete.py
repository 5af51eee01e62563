"""Digital PC inference: Euler steps of the gradient flow, ``x <- x - gamma dF/dx``.

:func:`discrete_inference` is the computation a digital PC implementation runs;
:class:`DiscreteBackend` exposes it through the backend protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import check_state, energy, grad_x
from pc_analog.model.network import Clamp, Network, State
from pc_analog.solvers.base import (
    Backend,
    SettleResult,
    Status,
    apply_on_failure,
    check_on_failure,
)

__all__ = ["DiscreteResult", "discrete_inference", "DiscreteBackend"]


@dataclass(frozen=True)
class DiscreteResult:
    """Outcome of :func:`discrete_inference` (or :func:`fpa_inference`).

    Attributes
    ----------
    x : tuple of ndarray
        The final state.
    energy : ndarray
        Per-sample energy at ``x``.
    energy_trace : ndarray
        ``(n_steps + 1, batch)`` energy after each step (row 0: the start).
    errors_trace : list of tuple of ndarray, or None
        If recorded: ``errors_trace[t][l]`` is ``eps_l`` after step ``t``.
    grad_max : ndarray
        Per-sample ``max |dF/dx|`` over free units at the end.
    n_steps : int
        Steps taken.
    status : Status
        ``SUCCESS`` if ``gtol`` was met (always, when no ``gtol`` was asked for and
        the state stayed finite), ``MAX_STEPS`` if not, ``NON_FINITE`` if the state
        blew up.
    message : str
    """

    x: State
    energy: np.ndarray
    energy_trace: np.ndarray
    errors_trace: list | None
    grad_max: np.ndarray
    n_steps: int
    status: Status
    message: str

    @property
    def success(self) -> bool:
        """bool : Whether ``status`` is ``SUCCESS``."""
        return self.status is Status.SUCCESS


def discrete_inference(
    net: Network,
    x_init: State,
    clamp: Clamp,
    *,
    step_size: float = 0.1,
    n_steps: int = 100,
    gtol: float | None = None,
    record_errors: bool = False,
    on_failure: str = "warn",
    free: Sequence[np.ndarray] | None = None,
    trace_energy: bool = True,
) -> DiscreteResult:
    """Standard PC inference: ``x_f <- x_f - gamma dF/dx_f`` for ``n_steps`` steps.

    Long because one loop serves both clamp forms (a shared ``Clamp`` or per-sample masks)
    and the optional traces, so that every Euler relaxation in the package is this loop.

    Parameters
    ----------
    net, x_init, clamp :
        The network, the start state (normally the feedforward start) and the clamp.
    step_size : float
        ``gamma``, in units of ``tau``; Euler is stable for ``gamma < 2 / lambda_max(H)``.
    n_steps : int
        Maximum number of steps.
    gtol : float, optional
        Stop early once ``max |dF/dx_free| <= gtol`` for every sample.
    record_errors : bool
        Keep ``eps_l`` after every step (for the error-propagation theorem).
    on_failure : {"warn", "raise", "return"}
        What a failed run does: a :class:`~pc_analog.errors.ConvergenceWarning`
        (default), :class:`~pc_analog.errors.ConvergenceError`, or nothing.
    free : sequence of ndarray, optional
        Per-sample free masks replacing ``clamp.free``: ``free[l]`` is boolean, ``(batch,
        n_l)`` or ``(n_l,)``; then ``x_l <- x_l - gamma (dF/dx_l) * free_l`` (a unit free in
        one sample may be clamped in another; clamped units keep their ``x_init`` value).
        ``clamp`` is then only checked.
    trace_energy : bool
        Record the energy after every step (default).  If False, ``energy_trace`` holds the
        start and the end only, ``(2, batch)``, and divergence is detected from the state.
    """
    from pc_analog.model.energy import errors as _errors

    if not step_size > 0:
        raise InvalidInputError("step_size: must be > 0")
    check_on_failure(on_failure)
    clamp.check(net.sizes)
    x = [np.array(v, dtype=float) for v in check_state(net, x_init)]
    if free is None:
        free = clamp.free
        per_sample = None
    else:
        per_sample = _sample_masks(net, free, x[0].shape[0])
        free = per_sample
    trace = [energy(net, tuple(x))]
    err_trace = [_errors(net, tuple(x))] if record_errors else None
    gm = None
    t = 0
    # Overflow is a result here (NON_FINITE below), not a numerical accident to warn about.
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, n_steps + 1):
            g = grad_x(net, tuple(x))
            if gtol is not None:
                gm = _free_max(g, free)
                if np.all(gm <= gtol):
                    t -= 1
                    break
            for l in range(len(x)):
                if per_sample is None:
                    x[l][:, free[l]] -= step_size * g[l][:, free[l]]
                else:
                    x[l] -= step_size * g[l] * per_sample[l]
            if trace_energy:
                trace.append(energy(net, tuple(x)))
                finite_now = np.all(np.isfinite(trace[-1]))
            else:
                finite_now = all(np.isfinite(v).all() for v in x)
            if record_errors:
                err_trace.append(_errors(net, tuple(x)))
            if not finite_now:
                break  # diverged (step above 2 / lambda_max): more steps cannot bring it back
        gm = _free_max(grad_x(net, tuple(x)), free)
        if not trace_energy:
            trace.append(energy(net, tuple(x)))
    msg = f"{t} steps of size {step_size:g}; max |dF/dx| = {gm.max():.3g}"
    finite = all(np.isfinite(v).all() for v in x)
    if not (finite and np.all(np.isfinite(trace[-1])) and np.all(np.isfinite(gm))):
        status = Status.NON_FINITE
        msg = f"{status.message}: {msg} (step size above 2 / lambda_max?)"
    elif gtol is None or bool(np.all(gm <= gtol)):
        status = Status.SUCCESS
    else:
        status = Status.MAX_STEPS
        msg = f"not converged ({status.message}): {msg} > gtol = {gtol:g}"
    res = DiscreteResult(tuple(x), trace[-1], np.array(trace), err_trace, gm, t, status, msg)
    return apply_on_failure(res, on_failure)


def _free_max(g: State, free) -> np.ndarray:
    if free and free[0].dtype != bool:  # per-sample float masks (see _sample_masks)
        return np.max([np.abs(gl * f).max(axis=1) for gl, f in zip(g, free)], axis=0)
    parts = [np.abs(gl[:, f]).max(axis=1) for gl, f in zip(g, free) if f.any()]
    return np.max(np.stack(parts), axis=0) if parts else np.zeros(g[0].shape[0])


def _sample_masks(net: Network, free, batch: int) -> list[np.ndarray]:
    """Per-sample free masks as floats (1 free, 0 clamped), each ``(batch, n_l)``."""
    if len(free) != len(net.sizes):
        raise InvalidInputError(f"free: need {len(net.sizes)} masks, got {len(free)}")
    out = []
    for l, (f, n) in enumerate(zip(free, net.sizes)):
        f = np.asarray(f)
        if f.dtype != bool or f.shape not in ((n,), (batch, n)):
            raise InvalidInputError(f"free[{l}]: need a boolean ({batch}, {n}) or ({n},) mask")
        out.append(np.broadcast_to(f.astype(float), (batch, n)))
    return out


class DiscreteBackend(Backend):
    """Digital PC: Euler steps ``x <- x - gamma dF/dx`` until ``max |dF/dx| <= gtol``.

    Parameters
    ----------
    step_size : float
        ``gamma`` (in units of ``tau``).
    max_steps : int
    gtol : float
    on_failure : {"warn", "raise", "return"}
        See :class:`~pc_analog.solvers.base.Backend`.
    """

    name = "discrete"
    requires_symmetric = True

    def __init__(
        self,
        step_size: float = 0.1,
        max_steps: int = 100_000,
        gtol: float = 1e-8,
        on_failure: str = "warn",
    ):
        super().__init__(on_failure=on_failure)
        if not step_size > 0 or max_steps < 1 or not gtol > 0:
            raise InvalidInputError(
                "discrete backend: need step_size > 0, max_steps >= 1, gtol > 0"
            )
        self.step_size, self.max_steps, self.gtol = step_size, max_steps, gtol

    def _settle(self, circuit):
        r = discrete_inference(
            circuit.network(),
            circuit.x_init,
            circuit.clamp,
            step_size=self.step_size,
            n_steps=self.max_steps,
            gtol=self.gtol,
            on_failure="return",
        )
        return SettleResult(
            self.name,
            r.x,
            r.energy,
            r.status,
            r.message,
            r.grad_max,
            energy_trace=r.energy_trace,
            n_steps=r.n_steps,
            stats={"n_steps": r.n_steps, "step_size": self.step_size},
        )
