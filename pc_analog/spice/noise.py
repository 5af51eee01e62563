"""Stationary noise from an ngspice transient with ``trnoise`` sources (the third route,
beside the Lyapunov theory and the ``sde`` backend).

One sample of the circuit is written as its behavioural deck with a ``trnoise`` source for
every noise source (:func:`pc_analog.spice.netlist.add_trnoise`), run for a burn-in of
``burn_in`` slowest correlation times ``tau_c`` (from the feedforward start) and then
``samples * spacing * tau_c`` more.  The transient is resampled (linear interpolation) on a
grid of ``noise_step``; the variance of each free unit is the time average over that grid
after the burn-in, the covariance likewise.  Its standard error follows from the linear
theory's autocovariance ``C(k dt) = e^{k dt A} Sigma`` (:func:`variance_standard_error`), so
``(var_hat - Sigma_ii) / se`` is a z-score under the hypothesis that ngspice and the theory
agree.

``noise_step`` defaults to ``tau_fast / 20`` (``tau_fast = tau / |lambda_max|``, the fastest
mode): a linearly interpolated white sequence is flat to ``sinc^4(f NT)``, so the
variance of a mode of rate ``lambda`` is low by about ``(lambda NT)^2 / 6`` (<= 0.05 %).
"""

from __future__ import annotations

import math
import re

import numpy as np

from pc_analog.circuit.ir import Circuit
from pc_analog.errors import InvalidInputError
from pc_analog.solvers.base import Status
from pc_analog.solvers.dynamics import FreeIndex
from pc_analog.solvers.lyapunov import (
    NoiseReport,
    _stage_gains,
    free_jacobian,
    noise_report,
    rest_point,
)
from pc_analog.spice.netlist import add_trnoise, node_name, write_netlist

__all__ = ["noise_deck", "add_resistor_trnoise", "ngspice_noise", "variance_standard_error"]


def _gains(circuit: Circuit, x) -> dict:
    """``a k`` of every stage's output node at the state ``x`` (sample 0)."""
    a, km, ke, ks = _stage_gains(circuit, tuple(v[:1] for v in x))
    out = {}
    for l in range(1, circuit.n_layers + 1):
        for j in range(circuit.sizes[l]):
            out[node_name("m", l, j)] = float(a * km[l][0, j])
            out[node_name("e", l, j)] = float(a * ke[l][0, j])
    for l in range(circuit.n_layers):
        for i in range(circuit.sizes[l]):
            out[node_name("s", l, i)] = float(a * ks[l][0, i])
    return out


def _timescales(circuit: Circuit, x) -> tuple[float, float]:
    """``(tau_c, tau_fast)``: the slowest and fastest modes' time constants (s)."""
    A = free_jacobian(circuit, tuple(v[:1] for v in x))[0] / circuit.hardware.c_F
    lam = np.abs(np.linalg.eigvals(A).real)
    return 1.0 / lam.min(), 1.0 / lam.max()


def noise_deck(circuit: Circuit, *, t_stop_s: float, noise_step_s: float, seed: int, x_rest):
    """The deck of sample 0 with ``trnoise`` sources, running ``t_stop_s`` (ngspice's own
    truncation-error factor ``trtol = 7`` and ``reltol = 1e-4``: the noise breakpoints every
    ``noise_step_s`` bound the step already, and a statistic needs no 1e-6 accuracy).

    A circuit at the crossbar level (``circuit.crossbar`` set) is written as its crossbar
    deck, every cell, wire segment and spring resistor with its own thermal ``trnoise``
    current source (:func:`add_resistor_trnoise`)."""
    level = "behavioural" if circuit.crossbar is None else "crossbar"
    deck = write_netlist(
        circuit, sample=0, level=level, analysis="tran", t_stop_s=t_stop_s,
        t_step_s=noise_step_s, run_commands=False, trtol=7.0, reltol=1e-4,
    )  # fmt: skip
    if level == "crossbar":
        return add_resistor_trnoise(deck, circuit, step_s=noise_step_s, seed=seed)
    return add_trnoise(deck, circuit, step_s=noise_step_s, gains=_gains(circuit, x_rest), seed=seed)


#: Resistors of a crossbar deck that are noise sources: springs ``Rs``, forward cells
#: ``Rwp``/``Rwn``/``Rbp``/``Rbn``, feedback cells ``Rkp``/``Rkn`` and wire segments ``Rw_``.
#: The readouts' feedback resistors ``Rf`` belong to the (noiseless) amplifier model.
_NOISY_R = re.compile(r"^(R(?:s|wp|wn|bp|bn|kp|kn|w_)\S*) (\S+) (\S+) \{(.+)\}$")
_PARAM = re.compile(r"^\.param (.+)$")


def _eval(expr: str, env: dict) -> float:
    """An arithmetic ``.param`` expression of the deck (numbers, names, + - * / and
    parentheses only)."""
    import ast
    import operator

    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.USub: operator.neg, ast.UAdd: operator.pos}  # fmt: skip

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return float(n.value)
        if isinstance(n, ast.Name) and n.id in env:
            return env[n.id]
        if isinstance(n, ast.BinOp) and type(n.op) in ops:
            return ops[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.UnaryOp) and type(n.op) in ops:
            return ops[type(n.op)](ev(n.operand))
        raise InvalidInputError(f"ngspice noise: cannot evaluate deck expression {expr!r}")

    return ev(ast.parse(expr, mode="eval"))


def add_resistor_trnoise(deck: str, circuit: Circuit, *, step_s: float, seed: int = 0) -> str:
    """``deck`` (a crossbar-level :func:`write_netlist`) with a thermal ``trnoise`` current
    source in parallel with every spring, cell and wire resistor (``_NOISY_R``): a
    resistor of conductance ``G`` gets ``In<name>`` of one-sided density ``4 k T G``, rms
    ``sqrt(4 k T G / (2 NT))`` every ``NT = step_s``
    (:func:`~pc_analog.spice.netlist.add_trnoise` gives the convention).  ``seed`` goes
    to ``.options seed``.  Only thermal noise exists at the crossbar level."""
    noise = circuit.noise
    if noise is None:
        return deck
    if noise.amp_psd > 0 or noise.read_noise_rtHz > 0:
        raise InvalidInputError(
            "ngspice noise: amplifier and read noise are behavioural-level only"
        )
    env: dict = {}
    out, extra, depth = [], [], 0  # depth: inside a .subckt definition
    for line in deck.splitlines():
        depth += line.startswith(".subckt") - line.startswith(".ends")
        if depth == 0 and (m := _PARAM.match(line)):
            for item in m.group(1).split():
                k, v = item.split("=", 1)
                env[k] = _eval(v.strip("{}"), env)
        if depth == 0 and noise.thermal and (m := _NOISY_R.match(line)):
            name, a, b, expr = m.groups()
            g = 1.0 / _eval(expr, env)
            rms = math.sqrt(4.0 * noise.kT_J * g / (2.0 * step_s))
            extra.append(f"In{name[1:]} {a} {b} dc 0 trnoise({rms:.10g} {step_s:.10g} 0 0)")
        if line.startswith(".options "):
            line += f" seed={int(seed)}"
        if line == ".end":
            out.append("* thermal noise (trnoise: white, rms NA = sqrt(S/(2 NT)) every NT)")
            out += extra
        out.append(line)
    return "\n".join(out) + "\n"


def variance_standard_error(A: np.ndarray, Sigma: np.ndarray, dt: float, M: int) -> np.ndarray:
    """Standard error of the time-average variance of each unit from ``M`` points ``dt``
    apart of the stationary Gaussian process ``dx = A x dt + noise`` (covariance ``Sigma``):

        Var(v_hat_i) = (2 / M) sum_{|k| < M} (1 - |k|/M) C_ii(k dt)^2,  C(k dt) = e^{k dt A} Sigma

    (the mean's estimation adds O(1/M), neglected)."""
    import scipy.linalg as sla

    E = sla.expm(A * dt)
    C = Sigma.copy()
    total = np.diag(C) ** 2
    Ck = C
    for k in range(1, M):
        Ck = E @ Ck
        term = np.diag(Ck) ** 2
        total = total + 2.0 * (1.0 - k / M) * term
        if term.max() < 1e-12 * total.max():
            break
    return np.sqrt(2.0 * total / M)


def ngspice_noise(
    circuit: Circuit,
    *,
    samples: int = 1000,
    seed: int = 0,
    burn_in: float = 10.0,
    spacing: float = 2.0,
    noise_step_s: float | None = None,
    adc_bits: int | None = None,
    range_V: float = 1.0,
    mode: str = "auto",
) -> NoiseReport:
    """The stationary noise of sample 0 from one ngspice transient (module docstring).

    ``mode="auto"`` runs ngspice as a subprocess (the shared library carries state from
    one ``trnoise`` run to the next).  ``samples`` sets the run length after the burn-in,
    ``samples * spacing * tau_c``; the statistics use every point of the ``noise_step``
    grid in it (``stats["samples"]`` counts them, ``stats["variance_se"]`` holds the
    per-unit standard errors of the variances from :func:`variance_standard_error`).
    """
    from pc_analog.solvers.lyapunov import lyapunov_noise
    from pc_analog.spice.runner import run_netlist

    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise InvalidInputError(f"ngspice noise: samples must be an integer >= 2, got {samples!r}")
    if circuit.batch != 1:
        raise InvalidInputError(f"ngspice noise: one sample at a time, got {circuit.batch}")
    x_rest, ok = rest_point(circuit)
    fi = FreeIndex(circuit)
    if fi.n_free == 0:
        cov = np.zeros((1, 0, 0))
        return noise_report(circuit, cov, x_rest, method="ngspice", adc_bits=adc_bits,
                            range_V=range_V, stats={"samples": 0})  # fmt: skip
    tc, tf = _timescales(circuit, x_rest)
    nt = noise_step_s if noise_step_s is not None else tf / 20.0
    t_burn = burn_in * tc
    t_stop = float(f"{t_burn + samples * spacing * tc:.6g}")
    deck = noise_deck(circuit, t_stop_s=t_stop, noise_step_s=nt, seed=seed, x_rest=x_rest)
    # "auto" runs a fresh ngspice process: in the shared library a trnoise run after
    # another one in the same process is off (measured: variances 4-5 standard errors low
    # from the second run on, the first run fine), whereas subprocess runs scatter as the
    # standard error says (docs/noise.md)
    run = run_netlist(deck, mode="subprocess" if mode == "auto" else mode)
    t = np.asarray(run.time)
    grid = np.arange(t_burn, t[-1], nt)
    names = [node_name("x", l, int(i)) for l, idx in fi.blocks for i in idx]
    Y = np.stack([np.interp(grid, t, run.voltages[n]) for n in names], axis=1)
    mean = Y.mean(axis=0)
    cov = np.cov(Y, rowvar=False, ddof=1).reshape(fi.n_free, fi.n_free)
    S, J, _, _, _ = lyapunov_noise(circuit, x_rest)
    se = variance_standard_error(J[0] / circuit.hardware.c_F, S[0], nt, grid.size)
    x_mean = fi.unpack(mean, base=x_rest)
    stats = {
        "samples": int(grid.size),
        "noise_step_s": float(nt),
        "t_stop_s": t_stop,
        "burn_in_s": float(t_burn),
        "correlation_time_s": float(tc),
        "ngspice_points": int(t.size),
        "seed": int(seed),
        "variance_se": se.tolist(),
        "rest_point_converged": bool(ok),
        "mode": run.mode,
    }
    msg = (
        f"ngspice transient with trnoise: {grid.size} grid points over "
        f"{(t[-1] - t_burn) / tc:.4g} correlation times (step {nt:.3g} s)"
    )
    st = Status.SUCCESS if np.all(np.isfinite(cov)) else Status.NON_FINITE
    return noise_report(circuit, cov[None], x_mean, method="ngspice", status=st, message=msg,
                        adc_bits=adc_bits, range_V=range_V, stats=stats)  # fmt: skip
