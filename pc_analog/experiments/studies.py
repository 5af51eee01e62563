"""Settling-time studies: how long the physical relaxation takes as networks grow.

A chain of ``L`` identity layers with both ends clamped has ``L - 1`` free nodes and
the Hessian ``tridiag(-1, 2, -1)``, whose slowest mode is
``lambda_min = 4 sin^2(pi / (2L)) ~ pi^2 / L^2``.  First-order (RC) settling then
grows like ``L^2`` (rate ``lambda_min / tau``); a critically damped spring network
like ``L`` (rate ``sqrt(lambda_min)``).  These functions measure it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from pc_analog.circuit.ir import Hardware, compile_network
from pc_analog.model.network import Network
from pc_analog.solvers.ode import OdeBackend, slowest_mode
from pc_analog.solvers.transient import predicted_settling_tau

__all__ = [
    "chain_network",
    "settling_row",
    "settling_vs_depth",
    "settling_vs_width",
    "fit_power_law",
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


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``y = a x^p`` in log-log space; returns ``(p, a)``."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    p, loga = np.polyfit(lx, ly, 1)
    return float(p), float(np.exp(loga))
