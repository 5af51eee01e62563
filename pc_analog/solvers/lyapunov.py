"""Linear-noise theory: the stationary noise of the circuit linearised at its rest point.

Near its rest point ``x*`` the free nodes obey the linear stochastic differential equation

    C d(dx) = J dx dt + B dW,        J = dI/dx (free units),  B = noise_input(x*)

(``dW`` a vector of independent Wiener processes, one per noise source; the columns of
``B`` are the sources' gains into the node currents times ``sqrt(S/2)``,
:mod:`pc_analog.circuit.noise`).  When every eigenvalue of ``J`` has a negative real part
its stationary covariance ``Sigma`` (V^2) solves the continuous Lyapunov equation

    A Sigma + Sigma A^T + Q = 0,       A = J / C,   Q = B B^T / C^2

(:func:`scipy.linalg.solve_continuous_lyapunov`).  From ``Sigma``:

- per-unit standard deviation ``sqrt(Sigma_ii)`` (0 for clamped units);
- effective bits of a layer read over ``+-R`` (``R = adc_range_V``): the resolution of an
  ideal quantiser whose quantisation noise ``Delta^2/12`` equals the noise power,
  ``ENOB = log2(2 R / (sigma sqrt(12)))`` with ``sigma`` the layer's RMS standard deviation
  over its free units; after an ADC of step ``Delta`` the read-out carries
  ``sigma^2 + Delta^2/12``;
- the noise of the Hebbian update: the product ``u_ji = pi_j eps_j phi(x_{l-1,i})`` a
  learning step reads.  With ``a = pi_j eps_j`` and ``b = phi_i`` linearised in ``dx``
  (jointly Gaussian, means ``a*, b*``) its variance is

      Var(ab) = a*^2 s_b^2 + b*^2 s_a^2 + 2 a* b* s_ab + s_a^2 s_b^2 + s_ab^2

  (Isserlis), exact for a linear network.

The one-free-unit oracle (DESIGN "Noise"): a linear unit ``x_1`` between clamped ``x_0`` and
``x_2`` with springs ``pi_1 g0``, ``pi_2 g0`` and weight ``w`` has
``J = -g0 (pi_1 + pi_2 w^2)`` and only its own spring's thermal noise ``4kT pi_1 g0``
(the upper spring ends on the clamp), so ``Sigma = 2kT pi_1 g0 / (2 C g0 (pi_1 + pi_2 w^2))
= kT/C * pi_1 / (pi_1 + pi_2 w^2)``: the active feedback cools the node below ``kT/C``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

from pc_analog.circuit.ir import Circuit
from pc_analog.circuit.noise import stage_read_psd
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import State
from pc_analog.solvers.base import Status
from pc_analog.solvers.dynamics import FreeIndex, current_jacobian_blocks

__all__ = [
    "NoiseReport",
    "noise_input",
    "free_jacobian",
    "rest_point",
    "lyapunov_noise",
    "effective_bits",
    "noise_report",
    "hebbian_update_std",
]


def free_jacobian(circuit: Circuit, x: State) -> np.ndarray:
    """``dI/dx`` restricted to the free units, dense, ``(batch, n_free, n_free)`` (A/V)."""
    return FreeIndex(circuit).dense_blocks(*current_jacobian_blocks(circuit, x))


def _free_rows(circuit: Circuit) -> np.ndarray:
    offs = np.cumsum([0] + list(circuit.sizes))
    return np.concatenate([offs[l] + np.flatnonzero(f) for l, f in enumerate(circuit.clamp.free)])


def _stage_gains(circuit: Circuit, x: State):
    """``a``, and the clip derivatives ``km, ke, ks`` per layer (ones for ideal amplifiers)."""
    L = circuit.n_layers
    if circuit.amplifiers is None:
        ones = [None] + [np.ones_like(x[l]) for l in range(1, L + 1)]
        return 1.0, ones, ones, [np.ones_like(x[l]) for l in range(L + 1)]
    from pc_analog.solvers._amps import _stages

    _, km, _, ke, _, ks = _stages(circuit, x)
    return circuit.amplifiers.closed_loop_gain, km, ke, ks


def noise_input(circuit: Circuit, x: State, *, drop_zero: bool = True) -> np.ndarray:
    """``B(x)``: the noise sources' gains into the free node currents, ``(batch, n_free, m)``
    in A*sqrt(s), so that ``C dx = I dt + B dW`` (module docstring).

    Columns, for ``l = 1..L`` (zero columns are dropped):

    - thermal noise of the spring of each free unit ``(l, j)``: ``sqrt(2 k T pi_j g0)``
      into ``x_{l,j}``;
    - prediction stage ``m_{l,j}`` (density ``S_p = e_n^2 +`` read noise): into ``x_{l,j}``
      through its spring, ``g_j a k^m_j``; into layer ``l-1`` through the error it
      corrupts, ``-g0 phi'(x_{l-1}) a k^s Wfb_l[:, j] pi_j a k^e_j a k^m_j``; times
      ``sqrt(S_p / 2)``;
    - error buffer ``e_{l,j}`` (``S = e_n^2``): ``g0 phi'(x_{l-1}) a k^s Wfb_l[:, j] pi_j a
      k^e_j sqrt(S/2)`` into layer ``l-1``;
    - feedback sum ``s_{l-1,i}`` (``S_s = e_n^2 +`` read noise): ``g0 phi'(x_{l-1,i}) a k^s_i
      sqrt(S_s/2)`` into ``x_{l-1,i}``.

    ``a = A/(1+A)`` and the clip derivatives ``k`` are those of the amplifiers
    (:mod:`pc_analog.solvers._amps`); they are 1 for ideal ones.  At the crossbar level
    the cells and wires add their columns (:func:`_cell_noise_blocks`).

    ``drop_zero``: drop the columns that are zero at ``x`` (a smaller ``B`` for the
    Lyapunov equation); ``False`` keeps every source's column, so that the column count
    does not depend on the state (a stepper that draws one increment per column).
    """
    noise = circuit.noise
    B, N = x[0].shape[0], sum(circuit.sizes)
    rows = _free_rows(circuit)
    if noise is None:
        return np.zeros((B, rows.size, 0))
    net, g0, L = circuit.network(), circuit.hardware.g0_S, circuit.n_layers
    offs = np.cumsum([0] + list(circuit.sizes))
    a, km, ke, ks = _stage_gains(circuit, x)
    blocks = []
    if noise.thermal:
        for l in range(1, L + 1):
            idx = np.flatnonzero(circuit.clamp.free[l])
            col = np.zeros((B, N, idx.size))
            g = circuit.layers[l - 1].g_spring_S[idx]
            col[:, offs[l] + idx, np.arange(idx.size)] = np.sqrt(2.0 * noise.kT_J * g)
            blocks.append(col)
    if circuit.crossbar is not None:
        if noise.amp_psd > 0 or noise.read_noise_rtHz > 0:
            raise InvalidInputError(
                "crossbar level: amplifier and device read noise are modelled at the "
                "behavioural level only (thermal noise of springs, cells and wires is)"
            )
        if noise.thermal:
            blocks += _cell_noise_blocks(circuit, x)
    S, read = noise.amp_psd, noise.read_noise_rtHz > 0
    for l in range(1, L + 1):
        n_l, n_p = circuit.sizes[l], circuit.sizes[l - 1]
        lo, hi = offs[l - 1], offs[l]
        j = np.arange(n_l)
        fb = g0 * (net.phi(l - 1).df(x[l - 1]) * a * ks[l - 1])  # (B, n_{l-1})
        F = fb[:, :, None] * (circuit.feedback_weights(l) * circuit.precisions(l))[None]
        amp_p = np.sqrt((S + stage_read_psd(circuit, x, l, "forward")) / 2.0)  # (B, n_l)
        if S > 0 or read:
            col = np.zeros((B, N, n_l))
            g = circuit.layers[l - 1].g_spring_S
            col[:, offs[l] + j, j] = g * a * km[l] * amp_p
            col[:, lo:hi, :] = F * (-(a * ke[l]) * (a * km[l]) * amp_p)[:, None, :]
            blocks.append(col)
        if S > 0:
            col = np.zeros((B, N, n_l))
            col[:, lo:hi, :] = F * (a * ke[l] * math.sqrt(S / 2.0))[:, None, :]
            blocks.append(col)
        amp_s = np.sqrt((S + stage_read_psd(circuit, x, l, "feedback")) / 2.0)  # (B, n_{l-1})
        if S > 0 or read:
            col = np.zeros((B, N, n_p))
            i = np.arange(n_p)
            col[:, lo + i, i] = fb * amp_s
            blocks.append(col)
    if not blocks:
        return np.zeros((B, rows.size, 0))
    G = np.concatenate(blocks, axis=2)[:, rows, :]
    if not drop_zero:
        return G
    keep = np.any(G != 0.0, axis=(0, 1))
    return G[:, :, keep]


def _cell_noise_blocks(circuit: Circuit, x: State) -> list:
    """Columns of ``B`` for the thermal noise of every crossbar cell and wire segment
    (:func:`pc_analog.solvers._crossbar.row_noise_maps`): per layer ``l``, the forward rows'
    output noise ``n_m = sqrt(2kT) Nf dW`` moves ``x_l`` through the springs
    (``g_l k^m n_m``) and ``x_{l-1}`` through the error and the feedback sum
    (``-g0 phi'(x_{l-1}) k^s Wfb^eff pi_l a k^e k^m n_m``); the feedback rows' output
    noise ``sqrt(2kT) Nk dW`` enters ``x_{l-1}`` as ``g0 phi'(x_{l-1}) k^s``."""
    from pc_analog.solvers._crossbar import _stages, row_noise_maps

    net, g0 = circuit.network(), circuit.hardware.g0_S
    B, N = x[0].shape[0], sum(circuit.sizes)
    offs = np.cumsum([0] + list(circuit.sizes))
    a, maps, _, km, _, ke, _, ks = _stages(circuit, x)
    c = math.sqrt(2.0 * circuit.noise.kT_J)
    out = []
    for l, (Nf, Nk) in enumerate(row_noise_maps(circuit), start=1):
        lo, hi = offs[l - 1], offs[l]
        fb = g0 * net.phi(l - 1).df(x[l - 1]) * ks[l - 1]  # (B, n_{l-1})
        dm = km[l][:, :, None] * (c * Nf)[None]  # (B, n_l, n_l)
        col = np.zeros((B, N, Nf.shape[1]))
        col[:, hi : offs[l + 1], :] = circuit.layers[l - 1].g_spring_S[None, :, None] * dm
        P = maps[l - 1][2] * circuit.precisions(l)  # Wfb^eff pi_l, (n_{l-1}, n_l)
        col[:, lo:hi, :] = fb[:, :, None] * (P[None] @ (-a * ke[l][:, :, None] * dm))
        out.append(col)
        col = np.zeros((B, N, Nk.shape[1]))
        col[:, lo:hi, :] = fb[:, :, None] * (c * Nk)[None]
        out.append(col)
    return out


def rest_point(circuit: Circuit) -> tuple[State, bool]:
    """The circuit's rest point ``x*`` and whether it was found: the equilibrium solver's
    (Newton on the KCL for non-ideal amplifiers); for asymmetric feedback crossbars the end
    of an ``ode`` transient."""
    from pc_analog.solvers.equilibrium import reference_rest_point

    x, ok = reference_rest_point(circuit, gtol=1e-12)
    if x is not None:
        return x, bool(ok)
    from pc_analog.solvers.ode import OdeBackend

    res = OdeBackend(on_failure="return").settle(circuit)
    return res.x, res.success


def lyapunov_noise(circuit: Circuit, x: State | None = None):
    """Stationary covariance of the free units, ``(Sigma, J, B, status, message)``.

    ``Sigma`` is ``(batch, n_free, n_free)`` (V^2), from :func:`scipy.linalg.
    solve_continuous_lyapunov` at ``x`` (default: :func:`rest_point`); ``J`` the free
    Jacobian (A/V) and ``B`` :func:`noise_input`.  A linearisation with an eigenvalue of
    non-negative real part has no stationary state: ``Sigma`` is NaN, status UNSTABLE.
    """
    from pc_analog._threads import single_threaded_blas

    with single_threaded_blas():  # per-sample matrices of ~100 rows: threads only contend
        return _lyapunov_noise(circuit, x)


def _lyapunov_noise(circuit: Circuit, x):
    if x is None:
        x, _ = rest_point(circuit)
    C = circuit.hardware.c_F
    J = free_jacobian(circuit, x)
    G = noise_input(circuit, x)
    n = J.shape[1]
    Sig = np.zeros((circuit.batch, n, n))
    status, msg = Status.SUCCESS, "stationary covariance from the Lyapunov equation"
    for b in range(circuit.batch):
        if n == 0:
            continue
        A = J[b] / C
        lam = np.linalg.eigvals(A).real.max()
        if not lam < 0:
            Sig[b] = np.nan
            status = Status.UNSTABLE
            msg = f"{Status.UNSTABLE.message}: max Re(eig J/C) = {lam:.3g} 1/s (sample {b})"
            continue
        Q = G[b] @ G[b].T / C**2
        S = sla.solve_continuous_lyapunov(A, -Q)
        Sig[b] = 0.5 * (S + S.T)
    return Sig, J, G, status, msg


def effective_bits(sigma_V, range_V: float, adc_step_V: float | None = None):
    """``log2(2 R / sqrt(12 (sigma^2 + Delta^2/12)))`` (``Delta = 0`` without an ADC);
    ``inf`` for a noiseless read-out without an ADC."""
    s2 = np.asarray(sigma_V, dtype=float) ** 2
    if adc_step_V is not None:
        s2 = s2 + adc_step_V**2 / 12.0
    with np.errstate(divide="ignore"):
        return np.log2(2.0 * range_V / np.sqrt(12.0 * s2))


def hebbian_update_std(circuit: Circuit, x: State, cov_full: np.ndarray) -> tuple:
    """Standard deviation of ``pi_j eps_j phi(x_{l-1,i})`` per layer, ``(batch, n_l, n_{l-1})``
    (module docstring; ``cov_full`` is the covariance of every unit, zeros on clamped
    ones, ``(batch, N, N)``).  The error is the ideal ``eps = x - W phi(x_{l-1}) - b``."""
    net = circuit.network()
    offs = np.cumsum([0] + list(circuit.sizes))
    out = []
    for l in range(1, circuit.n_layers + 1):
        lo, mid, hi = offs[l - 1], offs[l], offs[l + 1]
        act = net.phi(l - 1)
        d1 = act.df(x[l - 1])  # (B, n_{l-1})
        pi = circuit.precisions(l)
        W = circuit.forward_weights(l)
        eps = x[l] - act.f(x[l - 1]) @ W.T - circuit.biases(l)
        a_mean = pi * eps  # (B, n_l)
        b_mean = act.f(x[l - 1])  # (B, n_{l-1})
        # D: d(pi eps) / d(x_{l-1}, x_l) = pi [-W diag(phi'), I]
        D = np.concatenate(
            [-W[None] * d1[:, None, :], np.broadcast_to(np.eye(W.shape[0]), (x[0].shape[0],) +
                                                      (W.shape[0], W.shape[0]))], axis=2
        ) * pi[None, :, None]  # fmt: skip
        Sblk = cov_full[:, lo:hi, lo:hi]
        DS = D @ Sblk  # (B, n_l, n_{l-1} + n_l)
        s_a2 = np.einsum("bjk,bjk->bj", DS, D)
        s_b2 = d1**2 * np.einsum("bii->bi", cov_full[:, lo:mid, lo:mid])
        s_ab = DS[:, :, : mid - lo] * d1[:, None, :]
        var = (
            a_mean[:, :, None] ** 2 * s_b2[:, None, :]
            + b_mean[:, None, :] ** 2 * s_a2[:, :, None]
            + 2 * a_mean[:, :, None] * b_mean[:, None, :] * s_ab
            + s_a2[:, :, None] * s_b2[:, None, :]
            + s_ab**2
        )
        out.append(np.sqrt(np.maximum(var, 0.0)))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class NoiseReport:
    """The stationary noise of one circuit (every array per sample of the batch).

    Attributes
    ----------
    method : str
        ``"lyapunov"``, ``"sde"`` or ``"ngspice"``.
    status : Status
    message : str
    x_rest : tuple of ndarray
        The rest point (``lyapunov``) or the stationary mean (sampling methods).
    cov : ndarray
        ``(batch, n_free, n_free)`` covariance of the free units (V^2).
    std : tuple of ndarray
        ``std[l]``: ``(batch, n_l)`` per-unit standard deviation (V), 0 on clamped units.
    effective_bits : tuple of ndarray
        Per layer ``(batch,)`` effective bits over ``+-range_V`` (``inf``: noiseless).
    readout_bits : ndarray
        ``(batch,)`` effective bits of the read-out layer (the top layer) before the ADC.
    readout_bits_adc : ndarray or None
        The same after the ADC (``None`` without one).
    hebbian_std : tuple of ndarray or None
        Per layer ``(batch, n_l, n_{l-1})`` standard deviation of ``pi eps phi^T``.
    range_V : float
    stats : dict
        Method-specific numbers (sample counts, step sizes, work counters).
    """

    method: str
    status: Status
    message: str
    x_rest: State
    cov: np.ndarray
    std: State
    effective_bits: tuple
    readout_bits: np.ndarray
    readout_bits_adc: np.ndarray | None
    hebbian_std: tuple | None
    range_V: float
    stats: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status is Status.SUCCESS


def noise_report(
    circuit: Circuit,
    cov: np.ndarray,
    x: State,
    *,
    method: str,
    status: Status = Status.SUCCESS,
    message: str = "",
    adc_bits: int | None = None,
    range_V: float = 1.0,
    stats: dict | None = None,
) -> NoiseReport:
    """A :class:`NoiseReport` from a free-unit covariance ``cov`` around ``x``."""
    if not (isinstance(range_V, (int, float)) and math.isfinite(range_V) and range_V > 0):
        raise InvalidInputError(f"range_V: must be > 0, got {range_V!r}")
    B, N = circuit.batch, sum(circuit.sizes)
    rows = _free_rows(circuit)
    full = np.zeros((B, N, N))
    full[:, rows[:, None], rows[None, :]] = cov
    var = np.einsum("bii->bi", full)
    offs = np.cumsum([0] + list(circuit.sizes))
    std = tuple(
        np.sqrt(np.maximum(var[:, offs[l] : offs[l + 1]], 0.0)) for l in range(len(offs) - 1)
    )
    bits = []
    for l, f in enumerate(circuit.clamp.free):
        s = np.sqrt(np.mean(std[l][:, f] ** 2, axis=1)) if f.any() else np.zeros(B)
        bits.append(effective_bits(s, range_V))
    f = circuit.clamp.free[-1]
    s_top = np.sqrt(np.mean(std[-1][:, f] ** 2, axis=1)) if f.any() else np.zeros(B)
    adc = None
    if adc_bits is not None:
        from pc_analog.circuit.converters import Converter

        adc = effective_bits(s_top, range_V, Converter(adc_bits, range_V).step_V)
    heb = hebbian_update_std(circuit, x, full) if np.all(np.isfinite(full)) else None
    return NoiseReport(
        method,
        status,
        message or status.message,
        tuple(x),
        cov,
        std,
        tuple(bits),
        bits[-1],
        adc,
        heb,
        float(range_V),
        dict(stats or {}),
    )
