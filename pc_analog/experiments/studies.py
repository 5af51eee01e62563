"""Settling-time studies: how long the physical relaxation takes as networks grow.

A chain of ``L`` identity layers with both ends clamped has ``L - 1`` free nodes and
the Hessian ``tridiag(-1, 2, -1)``, whose slowest mode is
``lambda_min = 4 sin^2(pi / (2L)) ~ pi^2 / L^2``.  First-order (RC) settling then
grows like ``L^2`` (rate ``lambda_min / tau``); a critically damped spring network
like ``L`` (rate ``sqrt(lambda_min)``).  These functions measure it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, overload

import numpy as np

from pc_analog.circuit.ir import Hardware, compile_network
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Network
from pc_analog.solvers.ode import OdeBackend, slowest_mode
from pc_analog.solvers.transient import predicted_settling_tau

__all__ = [
    "chain_network",
    "settling_row",
    "settling_vs_depth",
    "settling_vs_width",
    "fit_power_law",
    "format_exponent",
    "predicted_settling_tau",
]


def chain_network(
    depth: int,
    width: int = 1,
    *,
    activation: str = "linear",
    gain: float = 1.0,
    precision: float = 1.0,
) -> Network:
    """``depth`` layers of ``gain * I`` (width ``width``), zero biases, one precision."""
    if depth < 1 or width < 1:
        raise ValueError("depth and width must be >= 1")
    eye = gain * np.eye(width)
    return Network(
        tuple(eye for _ in range(depth)),
        tuple(np.zeros(width) for _ in range(depth)),
        tuple(precision for _ in range(depth)),
        tuple(["linear"] + [activation] * (depth - 1)),
    )


def settling_row(
    net: Network,
    x0,
    target,
    *,
    hardware: Hardware | None = None,
    inertial: bool = False,
    damping_ratio: float = 1.0,
    band: float = 1e-3,
    **labels,
) -> dict:
    """Settle one (batch of) clamped network(s) with the ode backend and summarise.

    Returns a dict with the ``labels`` plus ``settling_time_s`` (max over the
    batch), ``settling_time_tau``, ``lambda_min`` (slowest mode at the
    equilibrium) and ``predicted_tau``: ``ln(1/band)/lambda_min`` for RC dynamics,
    ``ln(1/band)/sqrt(lambda_min)`` (critical damping, unit mass) for inertial.
    """
    circ = compile_network(net, x0, target, hardware=hardware)
    res = OdeBackend(
        settle_band=band, inertial=inertial, damping_ratio=damping_ratio, on_failure="return"
    ).settle(circ)
    lam = float(np.min(slowest_mode(circ, res.x_eq)))
    return {
        **labels,
        "dynamics": "inertial" if inertial else "RC",
        "settling_time_s": float(np.max(res.settling_time_s)),
        "settling_time_tau": float(np.max(res.settling_time_s) / circ.tau_s),
        "lambda_min": lam,
        "predicted_tau": predicted_settling_tau(
            lam, band, inertial=inertial, damping_ratio=damping_ratio
        ),
        "success": bool(res.success),
    }


def settling_vs_depth(
    depths: Iterable[int],
    *,
    width: int = 1,
    inertial: bool = False,
    damping_ratio: float = 1.0,
    hardware: Hardware | None = None,
    band: float = 1e-3,
) -> list[dict]:
    """Settling of identity chains clamped to 1 at the input and 0 at the output."""
    rows = []
    for L in depths:
        net = chain_network(L, width)
        rows.append(
            settling_row(
                net,
                np.ones((1, width)),
                np.zeros((1, width)),
                hardware=hardware,
                inertial=inertial,
                damping_ratio=damping_ratio,
                band=band,
                depth=L,
                width=width,
            )
        )
    return rows


def settling_vs_width(
    widths: Iterable[int],
    *,
    depth: int = 3,
    activation: str = "tanh",
    seed: int = 0,
    batch: int = 4,
    hardware: Hardware | None = None,
    band: float = 1e-3,
) -> list[dict]:
    """Settling of seeded random networks of growing width, input and target clamped."""
    rows = []
    for w in widths:
        rng = np.random.default_rng(seed)
        net = Network.random([w] * (depth + 1), activation, seed=seed)
        x0 = rng.uniform(-1, 1, size=(batch, w))
        y = rng.uniform(-1, 1, size=(batch, w))
        rows.append(settling_row(net, x0, y, hardware=hardware, band=band, depth=depth, width=w))
    return rows


#: A power-law fit needs at least this many points ...
MIN_FIT_POINTS = 3
#: ... spread over at least this many decades of ``x`` (``log10(max x / min x)``).
MIN_FIT_DECADES = 0.5


@overload
def fit_power_law(
    x: Sequence[float],
    y: Sequence[float],
    *,
    return_stderr: Literal[False] = ...,
    min_points: int = ...,
    min_decades: float = ...,
) -> tuple[float, float]: ...


@overload
def fit_power_law(
    x: Sequence[float],
    y: Sequence[float],
    *,
    return_stderr: Literal[True],
    min_points: int = ...,
    min_decades: float = ...,
) -> tuple[float, float, float]: ...


def fit_power_law(
    x: Sequence[float],
    y: Sequence[float],
    *,
    return_stderr: bool = False,
    min_points: int = MIN_FIT_POINTS,
    min_decades: float = MIN_FIT_DECADES,
):
    """Least-squares fit of ``y = a x^p`` in log-log space; returns ``(p, a)``, or
    ``(p, a, p_stderr)`` with ``return_stderr=True``.

    ``p_stderr`` is the ordinary least-squares standard error of the slope of
    ``log y`` on ``log x``: ``sqrt(sum(r_i^2) / (n - 2) / sum((log x_i - mean)^2))``
    (residuals ``r_i``); it is ``nan`` when ``n = 2`` (no residual degree of freedom).
    It measures the scatter about the power law, not systematic curvature.

    Raises :class:`~pc_analog.errors.InvalidInputError` for ``x`` and ``y`` of
    different lengths, values that are not finite and positive, fewer than
    ``min_points`` points (default 3) or an ``x`` range under ``min_decades`` decades
    (default 0.5: ``log10(max x / min x) < 0.5``); a slope over a shorter range says
    little about the exponent.  Lowering the limits is the caller's explicit choice.
    """
    xa, ya = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if xa.size != ya.size:
        raise InvalidInputError(f"fit_power_law: {xa.size} x values but {ya.size} y values")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))) or (
        xa.size and (xa.min() <= 0 or ya.min() <= 0)
    ):
        raise InvalidInputError("fit_power_law: x and y must be finite and positive")
    n = xa.size
    if n < max(2, int(min_points)):
        raise InvalidInputError(
            f"fit_power_law: {n} point(s); at least {max(2, int(min_points))} needed"
        )
    decades = float(np.log10(xa.max() / xa.min()))
    if not decades >= min_decades or decades == 0.0:
        raise InvalidInputError(
            f"fit_power_law: x spans {decades:.2f} decade(s) ({xa.min():g}..{xa.max():g}); "
            f"at least {min_decades:g} needed"
        )
    lx, ly = np.log(xa), np.log(ya)
    p, loga = np.polyfit(lx, ly, 1)
    if not return_stderr:
        return float(p), float(np.exp(loga))
    if n > 2:
        resid = ly - (p * lx + loga)
        sxx = float(np.sum((lx - lx.mean()) ** 2))
        se = float(np.sqrt(np.sum(resid**2) / (n - 2) / sxx))
    else:
        se = float("nan")
    return float(p), float(np.exp(loga)), se


def format_exponent(p: float, stderr: float) -> str:
    """``"1.97 ± 0.03"``: the exponent rounded to its standard error's first significant
    digit (two when that digit is 1), the error to the same place; ``nan`` errors are
    written as ``"± ?"``.  At most 4 decimals (an exact fit reads ``"2.0000 ± 0.0000"``)."""
    if not np.isfinite(stderr):
        return f"{p:.2f} ± ?"
    if stderr <= 0:
        decimals = 4
    else:
        exp10 = int(np.floor(np.log10(stderr)))
        lead = stderr / 10.0**exp10
        decimals = -exp10 + (1 if lead < 2 else 0)
        # rounding may carry (0.096 -> 0.10): recompute from the rounded error
        if round(stderr, decimals) >= 10.0 ** (exp10 + 1):
            decimals -= 1
        decimals = min(4, max(0, decimals))
    return f"{p:.{decimals}f} ± {stderr:.{decimals}f}"
