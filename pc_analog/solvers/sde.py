"""The ``sde`` backend: the circuit's KCL with its noise sources, integrated with seeded noise.

The free nodes obey the Ito stochastic differential equation

    C dx = I(x) dt + B(x) dW                                              (1)

with ``I`` the circuit's node currents (:func:`~pc_analog.solvers.dynamics.node_currents`)
and ``B`` the gains of its white noise sources (:func:`~pc_analog.solvers.lyapunov.
noise_input`; thermal ``4kTG`` of the springs, amplifier and device read noise).  Time is
made dimensionless, ``s = t / tau``, so ``dx = f(x) ds + (B/C) sqrt(tau) dW_s`` with
``f = I / g0``.  Two schemes, each with every Wiener increment drawn as
``sqrt(h) * N(0, 1)`` from one seeded generator (bit-reproducible for a seed; the noise
scales with the step as it must):

``"exponential"`` (default)
    Exponential Euler on the stiff linear part.  With ``A = J(x*) / g0`` the Jacobian at the
    rest point ``x*`` and ``R(x) = f(x) - A (x - x*)`` the nonlinear remainder,

        x_{n+1} = x* + e^{hA} (x_n - x*) + h phi_1(hA) R(x_n) + L_h xi_n,     xi ~ N(0, I)

    with ``L_h L_h^T = Q_h = int_0^h e^{As} Q e^{A^T s} ds``, ``Q = B(x*) B(x*)^T tau / C^2``
    (Van Loan's block exponential on a step small enough to be accurate, then doubled:
    ``Q_{2h} = Q_h + e^{hA} Q_h e^{hA^T}``; no Lyapunov solve is involved).  For a linear
    circuit (linear activations, no rails) ``R = 0`` and the scheme is exact in
    distribution for every step size, and pathwise exact when a coarse step's noise is
    built from a finer run's (:func:`coarse_noise`; measured to 3e-12 relative); with the
    noise off it is the exact flow, so it equals the ``ode`` backend (to that backend's
    tolerance) at every step size.  For a nonlinear circuit the deterministic part is first
    order in ``h`` and its fixed point is exactly the zero of ``I`` (``R(x*) = 0``); the
    noise gains are taken at ``x*`` (the linear-noise approximation, exact to first order
    in the noise amplitude), so the noise is additive and the scheme has strong order 1
    (stochastic exponential Euler; measured 1.00 to 1.03 on one refined Brownian path,
    ``tests/test_noise_sde_order.py``).

``"euler"``
    Euler-Maruyama, ``x_{n+1} = x_n + h f(x_n) + (B(x_n)/C) sqrt(tau) dW_n``: strong order 1
    for additive noise (thermal noise, linear circuits), 1/2 for multiplicative noise (Ito;
    the noise of a stage feeding a ``phi'`` block scales with ``phi'(x)``).  Stable for
    ``h < 2 / |lambda_max(A)|``; the default step is ``0.2 / |lambda_max|`` (at most
    ``0.1 tau``).

Stationary statistics (:func:`sde_noise`) come from ``replicas`` independent copies of
the circuit (the batch tiled), each run past a burn-in of ``burn_in`` slowest correlation
times ``tau_c = tau / |Re lambda_slow(A)|`` and then sampled every ``spacing`` correlation
times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from pc_analog._threads import single_threaded_blas
from pc_analog.circuit.ir import Circuit
from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import energy
from pc_analog.solvers.base import Backend, SettleResult, Status
from pc_analog.solvers.dynamics import FreeIndex, energy_trace, node_currents, residual_max
from pc_analog.solvers.lyapunov import (
    NoiseReport,
    free_jacobian,
    noise_input,
    noise_report,
    rest_point,
)
from pc_analog.solvers.transient import SETTLE_BAND_DEFAULT, settling_time

__all__ = [
    "SCHEMES",
    "SdeRun",
    "SdeBackend",
    "integrate_sde",
    "coarse_noise",
    "sde_noise",
    "is_linear_circuit",
]

SCHEMES = ("exponential", "euler")
#: Van Loan's block exponential is evaluated on a step with ``h |A| <= _VANLOAN_NORM``.
_VANLOAN_NORM = 0.5


def is_linear_circuit(circuit: Circuit) -> bool:
    """Whether the circuit's KCL is affine in ``x`` (linear activations, no rails) and its
    noise gains constant (no device read noise, whose density depends on the drive)."""
    lin = all(L.activation == "linear" for L in circuit.layers)
    amps = circuit.amplifiers
    rails = amps is not None and amps.rail_V is not None
    read = circuit.noise is not None and circuit.noise.read_noise_rtHz > 0
    return lin and not rails and not read


def _tiled(circuit: Circuit, replicas: int) -> Circuit:
    """The circuit with its batch repeated ``replicas`` times (row ``r * batch + b``), its
    start state ``x_init`` kept as it is (not recomputed as the feedforward pass)."""
    if replicas == 1:
        return circuit
    import dataclasses

    return dataclasses.replace(
        circuit, x_init=tuple(np.tile(v, (replicas, 1)) for v in circuit.x_init)
    )


def _sqrt_psd(Q: np.ndarray) -> np.ndarray:
    """``L`` with ``L L^T = Q`` for a symmetric positive semi-definite ``Q``."""
    w, V = np.linalg.eigh(0.5 * (Q + Q.T))
    return V * np.sqrt(np.maximum(w, 0.0))[None, :]


def _step_matrices(A: np.ndarray, Q: np.ndarray, h: float):
    """``(e^{hA}, h phi_1(hA), L_h)`` for one sample (module docstring)."""
    n = A.shape[0]
    aug = np.zeros((2 * n, 2 * n))
    aug[:n, :n], aug[:n, n:] = h * A, h * np.eye(n)
    F = sla.expm(aug)
    E, P = F[:n, :n], F[:n, n:]
    norm = h * max(np.abs(A).sum(axis=1).max(), 1e-300)
    k = max(0, math.ceil(math.log2(norm / _VANLOAN_NORM))) if norm > _VANLOAN_NORM else 0
    h0 = h / 2**k
    M = np.zeros((2 * n, 2 * n))
    M[:n, :n], M[:n, n:], M[n:, n:] = -A * h0, Q * h0, A.T * h0
    Fm = sla.expm(M)
    Qh = Fm[n:, n:].T @ Fm[:n, n:]
    E0 = Fm[n:, n:].T  # e^{h0 A}
    for _ in range(k):
        Qh = Qh + E0 @ Qh @ E0.T
        E0 = E0 @ E0
    return E, P, _sqrt_psd(Qh)


@dataclass(frozen=True, eq=False)
class SdeRun:
    """One stochastic integration (arrays over replicas ``r`` and samples ``b``).

    Attributes
    ----------
    t : ndarray
        Recorded times (s).
    Y : ndarray
        ``(n_t, replicas, batch, n_free)`` recorded free-unit voltages.
    mean : ndarray
        ``(batch, n_free)`` mean over the statistics window (replicas and times).
    cov : ndarray
        ``(batch, n_free, n_free)`` covariance over the same window (``ddof = 1``).
    n_stat : int
        Samples per unit in the window (replicas times recorded points).
    n_steps, nfev : int
        Time steps; right-hand-side evaluations (per tiled batch).
    dt_s : float
        The step.
    final : ndarray
        ``(replicas, batch, n_free)`` state at the end.
    """

    t: np.ndarray
    Y: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    n_stat: int
    n_steps: int
    nfev: int
    dt_s: float
    final: np.ndarray


def _check(name, v, *, integer=False, minimum=0.0, strict=True):
    ok_type = isinstance(v, (int, np.integer)) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok_type or not math.isfinite(v):
        what = "integer" if integer else "number"
        raise InvalidInputError(f"sde: {name} must be a finite {what}, got {v!r}")
    if (v <= minimum) if strict else (v < minimum):
        raise InvalidInputError(f"sde: {name} must be {'>' if strict else '>='} {minimum:g}")


def integrate_sde(
    circuit: Circuit,
    *,
    t_end_s: float,
    seed: int = 0,
    scheme: str = "exponential",
    dt_s: float | None = None,
    replicas: int = 1,
    record_every: int | None = 1,
    stat_start_s: float | None = None,
    stat_every: int = 1,
    increments: np.ndarray | None = None,
    x_rest=None,
    jacobian: np.ndarray | None = None,
) -> SdeRun:
    """Integrate (1) from the circuit's start ``x_init`` to ``t_end_s`` (module docstring).

    Long because it sets up both schemes (matrices per sample, the tiled batch) and runs the
    loop that records the trajectory and accumulates the statistics in one pass.

    Parameters
    ----------
    t_end_s : float
        End time; the run takes ``ceil(t_end / dt)`` steps of ``dt`` (the last one shorter
        is not taken: ``t_end`` is rounded up to a whole step).
    seed : int
        Seeds :func:`numpy.random.default_rng`; same seed, same run (bit for bit).
    dt_s : float, optional
        Step; default ``0.1 tau`` (exponential) or ``min(0.1, 0.2/|lambda_max|) tau`` (euler).
    replicas : int
        Independent copies of the whole batch.
    record_every : int or None
        Keep every ``k``-th state in ``Y`` (``None``: none but the end).
    stat_start_s, stat_every : float, int
        Mean and covariance over the states at ``t >= stat_start_s`` (default: the second
        half of the run), every ``stat_every``-th step.
    increments : ndarray, optional
        The noise to use instead of the seeded draws, for strong-order studies that drive
        several step sizes with one Brownian path.  ``euler``: ``(n_steps, replicas *
        batch, m)`` standard normal draws (``dW = sqrt(dt) * increments``);
        ``exponential``: ``(n_steps, replicas * batch, n_free)``, the step's noise vector
        itself (in place of ``L_h xi``; a coarse step of ``k`` fine ones takes
        ``sum_i e^{(k-1-i) h A} eta_i`` of the fine vectors ``eta_i``, which has
        covariance ``Q_{kh}`` exactly: :func:`coarse_noise`).
    x_rest : State, optional
        The rest point (default :func:`~pc_analog.solvers.lyapunov.rest_point`).
    jacobian : ndarray, optional
        ``free_jacobian(circuit, x_rest) / g0`` when the caller has computed it already.
    """
    if scheme not in SCHEMES:
        raise InvalidInputError(f"sde scheme: unknown {scheme!r} (known: {', '.join(SCHEMES)})")
    _check("t_end_s", t_end_s)
    _check("replicas", replicas, integer=True, minimum=1, strict=False)
    _check("stat_every", stat_every, integer=True, minimum=1, strict=False)
    if dt_s is not None:
        _check("dt_s", dt_s)
    hw = circuit.hardware
    tau, C, g0 = circuit.tau_s, hw.c_F, hw.g0_S
    fi = FreeIndex(circuit)
    B, n = circuit.batch, fi.n_free
    big = _tiled(circuit, replicas)
    fib = FreeIndex(big)
    if x_rest is None and (scheme == "exponential" or dt_s is None):
        x_rest, _ = rest_point(circuit)
    A = jacobian
    if A is None and x_rest is not None:
        A = free_jacobian(circuit, x_rest) / g0
    if dt_s is None:
        if scheme == "exponential":
            dt_s = 0.1 * tau
        else:
            lam = max(float(np.abs(np.linalg.eigvals(A[b])).max()) for b in range(B)) if n else 1
            dt_s = min(0.1, 0.2 / max(lam, 1e-300)) * tau
    h = dt_s / tau
    n_steps = max(1, math.ceil(t_end_s / dt_s - 1e-9))
    linear = is_linear_circuit(circuit)
    # every source's column kept: the euler draws are per column, whatever the state
    G_rest = noise_input(circuit, x_rest, drop_zero=False) if x_rest is not None else None
    if G_rest is None:
        m = noise_input(circuit, circuit.x_init, drop_zero=False).shape[2]
    else:
        m = G_rest.shape[2]
    want = (n_steps, replicas * B, m if scheme == "euler" else n)
    if increments is not None and increments.shape != want:
        raise InvalidInputError(f"sde: increments must have shape {want}, got {increments.shape}")
    y = fib.pack(big.x_init).reshape(replicas * B, n)
    nfev = 0

    def force(yy):
        return fib.pack(node_currents(big, fib.unpack(yy.ravel()))).reshape(replicas * B, n) / g0

    if scheme == "exponential":
        ys = fi.pack(x_rest).reshape(B, n)
        Q = G_rest @ np.transpose(G_rest, (0, 2, 1)) * (tau / C**2)
        with single_threaded_blas():  # small matrices: BLAS threads only contend
            mats = [_step_matrices(A[b], Q[b], h) for b in range(B)]
        E = np.stack([mt[0] for mt in mats])
        P = np.stack([mt[1] for mt in mats])
        Lh = np.stack([mt[2] for mt in mats])
    else:
        state_dep = not linear and m > 0
        Gc = None if state_dep or m == 0 else np.tile(G_rest, (replicas, 1, 1)) / C
    rng = np.random.default_rng(seed)
    stat_from = (n_steps // 2) if stat_start_s is None else math.ceil(stat_start_s / dt_s - 1e-9)
    s1 = np.zeros((B, n))
    s2 = np.zeros((B, n, n))
    n_stat = 0
    rec_t, rec_y = [0.0], [y.reshape(replicas, B, n).copy()]
    ys_all = np.tile(ys, (replicas, 1)) if scheme == "exponential" else None
    for k in range(1, n_steps + 1):
        if scheme == "exponential":
            d = (y - ys_all).reshape(replicas, B, n).transpose(1, 0, 2)
            new = d @ np.transpose(E, (0, 2, 1))
            if not linear:
                Rm = force(y) - (d @ np.transpose(A, (0, 2, 1))).transpose(1, 0, 2).reshape(-1, n)
                nfev += 1
                new += Rm.reshape(replicas, B, n).transpose(1, 0, 2) @ np.transpose(P, (0, 2, 1))
            if n and increments is not None:
                new += increments[k - 1].reshape(replicas, B, n).transpose(1, 0, 2)
            elif n:
                xi = rng.standard_normal((B, replicas, n))
                new += xi @ np.transpose(Lh, (0, 2, 1))
            y = (new.transpose(1, 0, 2) + ys[None]).reshape(replicas * B, n)
        else:
            drift = force(y)
            nfev += 1
            if m:
                z = increments[k - 1] if increments is not None else rng.standard_normal(
                    (replicas * B, m)
                )  # fmt: skip
                if Gc is None:
                    G = noise_input(big, fib.unpack(y.ravel()), drop_zero=False) / C
                else:
                    G = Gc
                y = y + h * drift + math.sqrt(dt_s) * np.einsum("rnm,rm->rn", G, z)
            else:
                y = y + h * drift
        if k >= stat_from and (k - stat_from) % stat_every == 0:
            yb = y.reshape(replicas, B, n).transpose(1, 0, 2)  # (B, R, n)
            s1 += yb.sum(axis=1)
            s2 += np.transpose(yb, (0, 2, 1)) @ yb
            n_stat += replicas
        if record_every is not None and k % record_every == 0 or k == n_steps:
            rec_t.append(k * dt_s)
            rec_y.append(y.reshape(replicas, B, n).copy())
        if not np.all(np.isfinite(y)):
            break
    mean = s1 / max(n_stat, 1)
    cov = (s2 - n_stat * mean[:, :, None] * mean[:, None, :]) / max(n_stat - 1, 1)
    return SdeRun(
        np.array(rec_t), np.stack(rec_y), mean, cov, n_stat, k, nfev, float(dt_s),
        y.reshape(replicas, B, n),
    )  # fmt: skip


def coarse_noise(fine: np.ndarray, E_fine: np.ndarray, k: int) -> np.ndarray:
    """The exponential scheme's noise for steps of ``k`` fine steps, from the fine noise.

    Over a coarse step ``H = k h`` the exact solution of ``dx = A x ds + G dW`` carries
    ``eta_H = int_0^H e^{A(H-s)} G dW(s) = sum_{i<k} e^{(k-1-i) h A} eta_i`` with
    ``eta_i`` the same integral over fine step ``i`` (split the integral at the fine
    steps); its covariance is ``sum_j e^{jhA} Q_h e^{jhA^T} = Q_H``, so a coarse run driven
    by it sees the very Brownian path of the fine run.

    ``fine``: ``(n_fine, rows, n)`` with rows ``r * batch + b``; ``E_fine``: ``e^{hA}``
    per sample ``(batch, n, n)``.  Returns ``(n_fine // k, rows, n)``.
    """
    n_f, rows, n = fine.shape
    B = E_fine.shape[0]
    f = fine[: (n_f // k) * k].reshape(n_f // k, k, rows // B, B, n)
    out = np.zeros((n_f // k, rows // B, B, n))
    for i in range(k):  # Horner: out <- e^{hA} out + eta_i
        out = np.einsum("bij,crbj->crbi", E_fine, out) + f[:, i]
    return out.reshape(n_f // k, rows, n)


def _correlation_time_s(circuit: Circuit, A: np.ndarray) -> float:
    """``tau / min |Re lambda(A)|`` over samples, ``A = free_jacobian / g0`` at the rest
    point: the slowest mode's correlation time."""
    if A.shape[1] == 0:
        return circuit.tau_s
    slow = min(float(np.abs(np.linalg.eigvals(A[b]).real).min()) for b in range(A.shape[0]))
    return circuit.tau_s / max(slow, 1e-12)


def sde_noise(
    circuit: Circuit,
    *,
    samples: int = 1000,
    seed: int = 0,
    scheme: str = "exponential",
    dt_s: float | None = None,
    replicas: int | None = None,
    burn_in: float = 10.0,
    spacing: float = 2.0,
    adc_bits: int | None = None,
    range_V: float = 1.0,
) -> NoiseReport:
    """Stationary noise sampled by the SDE: at least ``samples`` states per unit (module
    docstring).

    ``replicas`` (default: at most 256, ``ceil(samples / ceil(samples / 256))``) independent
    copies each run ``burn_in`` correlation times from the feedforward start, then give
    ``ceil(samples / replicas)`` states ``spacing`` correlation times apart
    (``stats["samples"]`` is their count: ``samples`` exactly when it divides).  Returns a
    :class:`~pc_analog.solvers.lyapunov.NoiseReport` of the sample covariance.
    """
    _check("samples", samples, integer=True, minimum=2, strict=False)
    if replicas is None:  # at most 256 copies, as many as give `samples` draws exactly
        replicas = math.ceil(samples / math.ceil(samples / 256))
    _check("replicas", replicas, integer=True, minimum=1, strict=False)
    _check("burn_in", burn_in)
    _check("spacing", spacing)
    x_rest, ok = rest_point(circuit)
    A = free_jacobian(circuit, x_rest) / circuit.hardware.g0_S
    tc = _correlation_time_s(circuit, A)
    points = math.ceil(samples / replicas)
    if dt_s is None:
        dt_s = spacing * tc if scheme == "exponential" and is_linear_circuit(circuit) else None
    if dt_s is None:
        dt_s = min(0.1 * circuit.tau_s, spacing * tc)
    every = max(1, round(spacing * tc / dt_s))
    burn_steps = math.ceil(burn_in * tc / dt_s)
    total = burn_steps + (points - 1) * every
    with single_threaded_blas():
        run = integrate_sde(
            circuit, t_end_s=total * dt_s, seed=seed, scheme=scheme, dt_s=dt_s,
            replicas=replicas, record_every=None, stat_start_s=burn_steps * dt_s,
            stat_every=every, x_rest=x_rest, jacobian=A,
        )  # fmt: skip
    fi = FreeIndex(circuit)
    x_mean = fi.unpack(run.mean.ravel(), base=x_rest)
    status = Status.SUCCESS if np.all(np.isfinite(run.cov)) else Status.UNSTABLE
    stats = {
        "samples": int(run.n_stat),
        "replicas": int(replicas),
        "points_per_replica": int(points),
        "dt_s": run.dt_s,
        "n_steps": int(run.n_steps),
        "correlation_time_s": tc,
        "scheme": scheme,
        "seed": int(seed),
        "rest_point_converged": bool(ok),
    }
    msg = f"sde ({scheme}): {run.n_stat} samples per unit, {replicas} replicas, dt {dt_s:.3g} s"
    return noise_report(
        circuit, run.cov, x_mean, method="sde", status=status, message=msg,
        adc_bits=adc_bits, range_V=range_V, stats=stats,
    )  # fmt: skip


class SdeBackend(Backend):
    """Settle the circuit with its noise sources (module docstring).

    Parameters
    ----------
    seed : int
        Seeds the noise (bit-reproducible).
    scheme : {"exponential", "euler"}
    dt_s : float, optional
        Time step (default per scheme, module docstring).
    t_max_s : float, optional
        Length of the run; default ``ln(1/delta) / lambda_slow`` times 3 (a settled
        transient, then a stretch at rest whose statistics the result's ``stats`` hold).
    replicas : int
        Independent copies of the batch; the result's state and trajectory are the first
        copy's, the statistics pool all.
    settle_band : float
        ``delta`` of the SPEC settling time (measured against the noiseless rest point;
        NaN where the noise floor keeps a sample outside the band).
    on_failure : {"warn", "raise", "return"}

    Notes
    -----
    ``stats`` holds ``"noise_std"`` (per layer, per unit, pooled over the second half of the
    run), ``"n_stat"``, ``"dt_s"``, ``"seed"``.  Status ``SUCCESS`` when the run ended with
    a finite state that is not running away (its distance from rest did not grow tenfold);
    ``UNSTABLE`` otherwise.  A circuit without noise sources runs the same scheme without
    noise (``"exponential"``: the exact flow of a linear circuit).
    """

    name = "sde"
    supports_amplifiers = True

    def __init__(
        self,
        seed: int = 0,
        scheme: str = "exponential",
        dt_s: float | None = None,
        t_max_s: float | None = None,
        replicas: int = 1,
        settle_band: float = SETTLE_BAND_DEFAULT,
        on_failure: str = "warn",
    ):
        super().__init__(on_failure=on_failure)
        if scheme not in SCHEMES:
            raise InvalidInputError(f"sde scheme: unknown {scheme!r} (known: {', '.join(SCHEMES)})")
        _check("seed", seed, integer=True, minimum=0, strict=False)
        _check("replicas", replicas, integer=True, minimum=1, strict=False)
        for name, v in (("dt_s", dt_s), ("t_max_s", t_max_s)):
            if v is not None:
                _check(name, v)
        if not 0 < settle_band < 1:
            raise InvalidInputError("sde backend: need 0 < settle_band < 1")
        self.seed, self.scheme, self.dt_s, self.t_max_s = seed, scheme, dt_s, t_max_s
        self.replicas, self.settle_band = replicas, settle_band

    def _settle(self, circuit: Circuit) -> SettleResult:
        fi = FreeIndex(circuit)
        x_rest, ok = rest_point(circuit)
        if fi.size == 0:
            z = np.zeros(circuit.batch)
            x = circuit.x_init
            return SettleResult(
                self.name, x, energy(circuit.network(), x), Status.SUCCESS, "no free units", z,
                t=np.zeros(1), settling_time_s=z, tau_s=circuit.tau_s, x_eq=x,
            )  # fmt: skip
        A = free_jacobian(circuit, x_rest) / circuit.hardware.g0_S
        tc = _correlation_time_s(circuit, A)
        t_end = self.t_max_s or 3.0 * math.log(1.0 / self.settle_band) * tc
        with single_threaded_blas():
            run = integrate_sde(
                circuit, t_end_s=t_end, seed=self.seed, scheme=self.scheme, dt_s=self.dt_s,
                replicas=self.replicas, record_every=1, x_rest=x_rest, jacobian=A,
            )  # fmt: skip
        B, n = circuit.batch, fi.n_free
        Y0 = run.Y[:, 0]  # (n_t, B, n): the first copy
        traj = fi.unpack_many(Y0.reshape(Y0.shape[0], B * n))
        x_final = tuple(v[-1] for v in traj)
        y_eq = fi.pack(x_rest).reshape(B, n)
        st = settling_time(run.t, Y0, y_eq, band=self.settle_band)
        d0 = np.abs(Y0[0] - y_eq).max(axis=1)
        d1 = np.abs(Y0[-1] - y_eq).max(axis=1)
        finite = np.all(np.isfinite(run.final))
        if not finite or np.any(d1 > 10.0 * np.maximum(d0, 1e-300) + 1.0):
            status, msg = Status.UNSTABLE, f"{Status.UNSTABLE.message} (sde, {self.scheme})"
        else:
            status = Status.SUCCESS
            msg = f"sde ({self.scheme}, dt {run.dt_s:.3g} s, seed {self.seed}): ran {t_end:.3g} s"
            if np.any(np.isnan(st)):
                msg += "; the noise floor keeps a sample outside the settling band"
        std = np.sqrt(np.maximum(np.einsum("bii->bi", run.cov), 0.0))
        std_state = fi.unpack(std.ravel(), base=tuple(np.zeros_like(v) for v in circuit.x_init))
        return SettleResult(
            self.name, x_final, energy(circuit.network(), x_final), status, msg,
            residual_max(circuit, fi, x_final), t=run.t,
            energy_trace=energy_trace(circuit, traj), settling_time_s=st,
            tau_s=circuit.tau_s, trajectory=traj, x_eq=x_rest, nfev=run.nfev,
            n_steps=run.n_steps,
            stats={
                "scheme": self.scheme, "seed": int(self.seed), "dt_s": run.dt_s,
                "n_stat": int(run.n_stat), "replicas": int(self.replicas),
                "noise_std": [v.tolist() for v in std_state],
                "noisy": circuit.noise is not None, "x_eq_converged": bool(ok),
            },
        )  # fmt: skip
