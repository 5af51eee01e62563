"""Claims about how long PC inference takes, digitally and physically.

- :func:`error_arrival` -- seed 001 (Zahid et al. 2023), Theorem 1: started at the
  feedforward pass, the error of layer ``l`` is exactly zero before step ``L - l`` and
  nonzero at it, for FPA-PC and standard PC and any step size.
- :func:`digital_pc_vs_bp_time` -- seed 001, Result 3: digital PC inference is never
  faster than backprop (measured wall time, median of repeats).
- :func:`depth_scaling` -- the physical settling time of identity chains against depth,
  RC (first order, expected ``~ L^2``) and critically damped springs (``~ L``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.experiments.studies import fit_power_law, settling_vs_depth
from pc_analog.model.energy import io_state
from pc_analog.model.network import Network
from pc_analog.reference.variants import (
    backprop,
    discrete_inference,
    fpa_inference,
    hebbian_update,
    zil_gradients,
)

__all__ = [
    "ErrorArrivalResult",
    "error_arrival",
    "PCTimingResult",
    "digital_pc_vs_bp_time",
    "DepthScalingResult",
    "depth_scaling",
]


# ---------------------------------------------------------------- Theorem 1


@dataclass(frozen=True)
class ErrorArrivalResult:
    """Outcome of :func:`error_arrival`.

    Attributes
    ----------
    method : str
        ``"fpa"`` or ``"pc"``.
    step_size : float
    n_layers : int
        ``L``, the number of weight layers (the output is layer ``L``).
    first_step : tuple of int or None
        ``first_step[l-1]``: the first step ``t`` after which ``eps_l`` has a nonzero
        entry in every sample (``None``: never within the steps run), ``l = 1..L``.
    expected : tuple of int
        ``L - l`` (Theorem 1).
    error_norms : ndarray
        ``(n_steps + 1, L)``: ``||eps_l||`` (over the batch) after each step.
    holds : bool
        ``first_step == expected``.
    """

    method: str
    step_size: float
    n_layers: int
    first_step: tuple
    expected: tuple
    error_norms: np.ndarray
    holds: bool


def error_arrival(
    net: Network,
    x0,
    y,
    *,
    step_size: float = 1.0,
    method: str = "fpa",
    n_steps: int | None = None,
) -> ErrorArrivalResult:
    """When the output error first reaches each layer (Zahid et al. 2023, Theorem 1).

    Inference starts at the feedforward pass ``x_l = mu_l`` with the output clamped to
    ``y`` (Gaussian loss).  FPA-PC (:func:`~pc_analog.reference.variants.fpa_inference`) moves
    ``x_l <- x_l - gamma (eps_l - J_l^T eps_{l+1})`` with fixed Jacobians; standard PC
    (:func:`~pc_analog.reference.variants.discrete_inference`) moves ``x <- x - gamma dF/dx``.
    In both, ``dF/dx_l`` depends only on ``eps_l`` and ``eps_{l+1}``, so the error
    ``eps_l`` is exactly zero for ``t < L - l`` and (generically) nonzero at
    ``t = L - l``: ``first_step[l-1] == L - l``, exact in floating point.

    Parameters
    ----------
    net, x0, y :
        Network, batched input and target.
    step_size : float
        ``gamma``.
    method : {"fpa", "pc"}
    n_steps : int, optional
        Steps to run; default ``L + 1``.
    """
    L = net.n_layers
    n_steps = L + 1 if n_steps is None else int(n_steps)
    if method == "fpa":
        trace = fpa_inference(net, x0, y, step_size=step_size, n_steps=n_steps).errors_trace
    elif method == "pc":
        x, clamp = io_state(net, x0, y)
        res = discrete_inference(
            net, x, clamp, step_size=step_size, n_steps=n_steps, record_errors=True
        )
        trace = res.errors_trace
    else:
        raise InvalidInputError(f"method: 'fpa' or 'pc', not {method!r}")
    first = []
    for l in range(1, L + 1):
        hit = [t for t, eps in enumerate(trace) if np.all(np.any(eps[l] != 0.0, axis=1))]
        first.append(hit[0] if hit else None)
    norms = np.array([[np.linalg.norm(eps[l]) for l in range(1, L + 1)] for eps in trace])
    expected = tuple(L - l for l in range(1, L + 1))
    return ErrorArrivalResult(
        method, float(step_size), L, tuple(first), expected, norms, tuple(first) == expected
    )


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class PCTimingResult:
    """Outcome of :func:`digital_pc_vs_bp_time` (seconds per batch, medians).

    Attributes
    ----------
    n_hidden : tuple of int
    bp_s, fpa_s, zil_s, pc_s : ndarray
        Per depth: backprop; FPA-PC with step 1 and the minimal ``T = L - 1`` steps
        (its best case, equal to backprop); Z-IL; standard PC, Euler steps of size
        ``pc_step`` until ``max |dF/dx| <= pc_gtol``, then the Hebbian read-out.
    pc_steps : ndarray of int
        Steps standard PC took.
    width, batch, repeats : int
    pc_step, pc_gtol : float
    """

    n_hidden: tuple
    bp_s: np.ndarray
    fpa_s: np.ndarray
    zil_s: np.ndarray
    pc_s: np.ndarray
    pc_steps: np.ndarray
    width: int
    batch: int
    repeats: int
    pc_step: float
    pc_gtol: float


def _median_times(fns: dict, repeats: int) -> dict:
    """Median wall time of each callable, the callables run in turn in every round
    (so a change of machine load hits all of them alike)."""
    ts: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in ts.items()}


def _pc_run(net, x, clamp, step, gtol) -> int:
    res = discrete_inference(net, x, clamp, step_size=step, n_steps=100_000, gtol=gtol)
    hebbian_update(net, res.x)
    return res.n_steps


def digital_pc_vs_bp_time(
    n_hidden: Sequence[int] = (2, 4, 8, 16),
    *,
    width: int = 64,
    batch: int = 64,
    repeats: int = 21,
    pc_step: float = 0.2,
    pc_gtol: float = 1e-4,
    seed: int = 0,
) -> PCTimingResult:
    """Wall time of digital PC inference against one backprop pass (seed 001, Result 3).

    Zahid et al. bound ``TIME{FPA-PC} >= TIME{backprop}``: inference needs at least
    ``L - 1`` sequential steps, each as slow as the slowest vector-Jacobian product,
    after the same forward pass.  This times, in numpy on this machine, one batch of
    random inputs and one-hot targets through tanh MLPs (``64-width*h-10``, Gaussian
    loss): backprop; FPA-PC in its best case (step 1, ``T = L - 1``); Z-IL; and
    standard PC iterated to ``pc_gtol``.  Each is the median of ``repeats`` runs.
    """
    from pc_analog._threads import single_threaded_blas

    rng = np.random.default_rng(seed)
    n_hidden = tuple(int(h) for h in n_hidden)
    out = {k: [] for k in ("bp", "fpa", "zil", "pc", "pc_steps")}
    with single_threaded_blas():
        for h in n_hidden:
            net = Network.random([64] + [width] * h + [10], "tanh", seed=seed)
            L = net.n_layers
            x0 = rng.uniform(0, 1, size=(batch, 64))
            y = np.eye(10)[rng.integers(0, 10, batch)]
            x, clamp = io_state(net, x0, y)
            fns = {
                "bp": partial(backprop, net, x0, y),
                "fpa": partial(fpa_inference, net, x0, y, step_size=1.0, n_steps=L - 1),
                "zil": partial(zil_gradients, net, x0, y),
            }
            for k, v in _median_times(fns, repeats).items():
                out[k].append(v)
            pc = partial(_pc_run, net, x, clamp, pc_step, pc_gtol)
            out["pc"].append(_median_times({"pc": pc}, max(3, repeats // 4))["pc"])
            out["pc_steps"].append(pc())
    return PCTimingResult(
        n_hidden,
        np.array(out["bp"]),
        np.array(out["fpa"]),
        np.array(out["zil"]),
        np.array(out["pc"]),
        np.array(out["pc_steps"], int),
        int(width),
        int(batch),
        int(repeats),
        float(pc_step),
        float(pc_gtol),
    )


# ---------------------------------------------------------------- depth scaling


@dataclass(frozen=True)
class DepthScalingResult:
    """Outcome of :func:`depth_scaling`.

    Attributes
    ----------
    depths : tuple of int
    rc_tau, inertial_tau : ndarray
        Measured settling times in units of ``tau`` (ode backend).
    rc_exponent, inertial_exponent : float
        Fitted ``p`` of ``t ~ L^p``.
    rc_mode_exponent, inertial_mode_exponent : float
        ``p`` fitted to the one-mode estimates ``ln(1/band)/lambda_min`` and
        ``ln(1/band)/sqrt(lambda_min)``, ``lambda_min = 4 sin^2(pi/(2L))``.
    rows : tuple of dict
        :func:`~pc_analog.experiments.studies.settling_vs_depth` rows (both dynamics).
    band : float
    rc_exponent_stderr, inertial_exponent_stderr : float
        Standard errors of the two fitted exponents (ordinary least squares in log-log).
    """

    depths: tuple
    rc_tau: np.ndarray
    inertial_tau: np.ndarray
    rc_exponent: float
    inertial_exponent: float
    rc_mode_exponent: float
    inertial_mode_exponent: float
    rows: tuple
    band: float
    rc_exponent_stderr: float = float("nan")
    inertial_exponent_stderr: float = float("nan")


def depth_scaling(depths: Sequence[int], *, band: float = 1e-3) -> DepthScalingResult:
    """Physical settling time of identity chains against depth, RC and critically damped.

    A chain of ``L`` identity layers clamped at both ends has the Hessian
    ``tridiag(-1, 2, -1)`` on its ``L - 1`` free nodes, slowest mode
    ``lambda_min = 4 sin^2(pi / (2L)) ~ pi^2 / L^2``.  RC dynamics ``tau dx/dt = -dF/dx``
    settle in ``~ ln(1/band) / lambda_min ~ L^2``; a spring network with unit mass and
    damping critical for the slowest mode in ``~ ln(1/band) / sqrt(lambda_min) ~ L``.
    Settling times are measured by the ode backend
    (:func:`~pc_analog.experiments.studies.settling_vs_depth`) and fitted by
    :func:`~pc_analog.experiments.studies.fit_power_law`; needs at least 3 depths.
    """
    depths = tuple(int(d) for d in depths)
    if len(depths) < 3 or min(depths) < 2:
        raise InvalidInputError("depths: at least 3 depths, each >= 2")
    rc = settling_vs_depth(depths, band=band)
    inert = settling_vs_depth(depths, inertial=True, damping_ratio=1.0, band=band)
    rc_t = np.array([r["settling_time_tau"] for r in rc])
    in_t = np.array([r["settling_time_tau"] for r in inert])
    lam = 4 * np.sin(np.pi / (2 * np.array(depths))) ** 2
    p_rc, _, se_rc = fit_power_law(depths, rc_t, return_stderr=True)
    p_in, _, se_in = fit_power_law(depths, in_t, return_stderr=True)
    return DepthScalingResult(
        depths,
        rc_t,
        in_t,
        p_rc,
        p_in,
        fit_power_law(depths, np.log(1 / band) / lam)[0],
        fit_power_law(depths, np.log(1 / band) / np.sqrt(lam))[0],
        tuple(rc + inert),
        float(band),
        se_rc,
        se_in,
    )
