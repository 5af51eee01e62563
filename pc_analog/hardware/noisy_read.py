"""The noisy read: what a read of a settled circuit with noise sources sees.

A circuit with noise sources (:mod:`pc_analog.circuit.noise`) never comes to rest: near its
rest point ``x*`` its free nodes obey the linearised stochastic differential equation

    C d(dx) = J dx dt + B dW,        A = J / C,   Q = B B^T / C^2

(:mod:`pc_analog.solvers.lyapunov`), whose solution forgets its start as ``e^{A t}`` and
tends to the stationary Gaussian ``N(0, Sigma)``, ``A Sigma + Sigma A^T + Q = 0``.  A read
comes after the settle: by then the transient has decayed below the settling band
``delta`` (``|e^{A t}| <= delta``), so the covariance of the read,
``Sigma - e^{A t} Sigma e^{A^T t}``, is ``Sigma`` to a relative ``delta^2`` (1e-6 at the
default band).  The read is therefore drawn exactly from the stationary law of the
linearised circuit,

    x_read = x* + L xi,      L L^T = Sigma,      xi ~ N(0, I)   (one seeded generator)

without integrating the SDE in time.  ``L`` comes from one of three exact factorisations,
the cheapest the circuit allows (:func:`read_factor`):

``"cholesky"``
    ``J`` symmetric (a gradient flow: ideal or matched amplifiers) and ``Q = q I``
    (thermal noise only, every free unit on a spring of the same conductance ``g``,
    ``q = 2 k T g / C^2``).  Then ``Sigma = (q/2) (-A)^{-1} = (k T g / C) (-J)^{-1}``
    (the fluctuation-dissipation theorem), and with the Cholesky factor ``-J = R R^T``,
    ``L = sqrt(k T g / C) R^{-T}``: one Cholesky and one triangular solve per sample.
``"eigen"``
    ``J`` symmetric, any ``Q``: with ``-A = V diag(mu) V^T``, ``Sigma = V S V^T``,
    ``S_ij = (V^T Q V)_ij / (mu_i + mu_j)``, and ``L = V chol(S)``.
``"lyapunov"``
    Any ``J``: ``Sigma`` from :func:`scipy.linalg.solve_continuous_lyapunov` per sample
    (:func:`~pc_analog.solvers.lyapunov.lyapunov_noise`), ``L = chol(Sigma)``.

A sample whose linearisation has an eigenvalue of non-negative real part has no
stationary state: it is read without noise and counted (:attr:`NoisyRead.unstable`).
Training (:func:`pc_analog.learning.train.train`) reads every batch this way when the
analog spec turns noise on and the backend settles deterministically; the ``sde`` backend
carries its own noise and is read as it ends.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from pc_analog.circuit.ir import Circuit
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import State
from pc_analog.solvers.dynamics import FreeIndex
from pc_analog.solvers.equilibrium import batched_cholesky
from pc_analog.solvers.lyapunov import free_jacobian, lyapunov_noise, noise_input

__all__ = [
    "FACTOR_METHODS",
    "NOISY_BACKENDS",
    "ReadFactor",
    "NoisyRead",
    "read_factor",
    "noisy_read",
    "check_noise_backend",
    "settle_and_read",
]

FACTOR_METHODS = ("cholesky", "eigen", "lyapunov")
#: ``J`` is taken as symmetric when ``max |J - J^T| <= _SYM_RTOL max |J|`` (a gradient flow
#: is symmetric to rounding, measured ~1e-18 relative).
_SYM_RTOL = 1e-12
#: Samples factorised at once by :func:`noisy_read` (the draws do not depend on it).
_CHUNK = 32


@dataclass(frozen=True, eq=False)
class ReadFactor:
    """A factor of the stationary covariance of the free units at a state.

    Attributes
    ----------
    method : str
        One of :data:`FACTOR_METHODS`.
    stable : ndarray of bool
        ``(batch,)`` whether the sample's linearisation is stable (else its factor is 0).
    L : ndarray or None
        ``(batch, n_free, n_free)`` with ``L L^T = Sigma`` (``"eigen"``, ``"lyapunov"``).
    R : ndarray or None
        ``(batch, n_free, n_free)`` lower Cholesky factor of ``-J`` (``"cholesky"``).
    scale : float
        ``sqrt(k T g / C)`` of the ``"cholesky"`` form (V * sqrt(A/V)).
    """

    method: str
    stable: np.ndarray
    L: np.ndarray | None = None
    R: np.ndarray | None = None
    scale: float = 0.0

    def apply(self, xi: np.ndarray) -> np.ndarray:
        """``L xi`` for standard normal ``xi`` of shape ``(..., batch, n_free)``."""
        if self.method == "cholesky":  # R^T y = xi  <=>  y = R^{-T} xi, per sample
            lead = xi.shape[:-2]
            B, n = xi.shape[-2:]
            rhs = np.moveaxis(xi.reshape((-1, B, n)), 0, -1)  # (B, n, k)
            y = np.stack(
                [sla.solve_triangular(self.R[b], rhs[b], lower=True, trans="T") for b in range(B)]
            ) if B else rhs  # fmt: skip
            y = y * (self.scale * self.stable[:, None, None])
            return np.moveaxis(y, -1, 0).reshape(lead + (B, n))
        return np.einsum("bij,...bj->...bi", self.L, xi)

    def covariance(self) -> np.ndarray:
        """``Sigma = L L^T``, ``(batch, n_free, n_free)`` (V^2)."""
        if self.method == "cholesky":
            n = self.R.shape[1]
            eye = np.broadcast_to(np.eye(n), self.R.shape)
            Rinv_t = np.linalg.solve(np.swapaxes(self.R, 1, 2), eye)  # R^{-T}
            S = self.scale**2 * Rinv_t @ np.swapaxes(Rinv_t, 1, 2)
            return S * self.stable[:, None, None]
        return self.L @ np.swapaxes(self.L, 1, 2)


@dataclass(frozen=True, eq=False)
class NoisyRead:
    """A noisy read of a settled circuit.

    Attributes
    ----------
    x : tuple of ndarray
        The read state, ``x* + L xi`` on the free units, the clamps as they are.
    method : str
        The factorisation used (:data:`FACTOR_METHODS`).
    unstable : int
        Samples without a stationary state (read without noise).
    """

    x: State
    method: str
    unstable: int


def _chol(S: np.ndarray) -> np.ndarray:
    """A factor ``L L^T = S`` per sample: Cholesky, or a symmetric square root where ``S`` is
    only semi-definite (a noise source missing on some mode)."""
    try:
        return np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(0.5 * (S + np.swapaxes(S, 1, 2)))
        return V * np.sqrt(np.maximum(w, 0.0))[:, None, :]


def _free_jacobian(circuit: Circuit, x: State) -> np.ndarray:
    """``dI/dx`` over the free units, ``(batch, n_free, n_free)`` (A/V): for the ideal
    behavioural circuit (no amplifier model, no crossbar model) only the free layers' blocks
    are built (a test checks them against :func:`~pc_analog.solvers.lyapunov.free_jacobian`,
    which any other circuit uses).  With ``d1, d2 = phi', phi''`` of layer ``l``,
    ``s_l = Wfb_{l+1} pi_{l+1} eps_{l+1}`` and ``g_l`` its springs:

        dI_l/dx_l     = -diag(g_l) + g0 diag(d2 s_l) - g0 diag(d1) Wfb diag(pi) W diag(d1)
        dI_l/dx_{l+1} = g0 diag(d1) Wfb_{l+1} diag(pi_{l+1})
        dI_{l+1}/dx_l = -(dI/dx of the spring) = diag(g_{l+1}) W_{l+1} diag(d1)
    """
    if circuit.amplifiers is not None or circuit.crossbar is not None:
        return free_jacobian(circuit, x)
    fi = FreeIndex(circuit)
    net, g0, L = circuit.network(), circuit.hardware.g0_S, circuit.n_layers
    B = x[0].shape[0]
    pos = {l: (fi.offsets[k], idx) for k, (l, idx) in enumerate(fi.blocks)}
    # (fresh arrays cost page faults here: one free layer returns its block as it is built)
    out = None if len(pos) == 1 else np.zeros((B, fi.n_free, fi.n_free))
    for l, (o, idx) in pos.items():
        r, k = slice(o, o + idx.size), np.arange(idx.size)
        diag = np.zeros((B, idx.size))
        if l > 0:
            diag -= circuit.layers[l - 1].g_spring_S[idx]
        if l < L:
            act = net.phi(l)
            W = circuit.forward_weights(l + 1)[:, idx]  # (n_{l+1}, k)
            Wfb = circuit.feedback_weights(l + 1)[idx]  # (k, n_{l+1})
            pi = circuit.precisions(l + 1)
            d1, d2 = act.df(x[l])[:, idx], act.d2f(x[l])[:, idx]
            eps = x[l + 1] - act.f(x[l]) @ circuit.forward_weights(l + 1).T
            eps = eps - circuit.biases(l + 1)
            s = (pi * eps) @ circuit.feedback_weights(l + 1)[idx].T  # (B, k)
            diag += g0 * d2 * s
            A = (Wfb * pi)[None] * d1[:, :, None]  # (B, k, n_{l+1})
            D = A @ W
            D *= -g0 * d1[:, None, :]
            if l + 1 in pos:
                o2, idx2 = pos[l + 1]
                r2 = slice(o2, o2 + idx2.size)
                out[:, r, r2] = g0 * A[:, :, idx2]
                gs = circuit.layers[l].g_spring_S[idx2]
                out[:, r2, r] = (gs[:, None] * W[idx2])[None] * d1[:, None, :]
        else:
            D = np.zeros((B, idx.size, idx.size))
        D[:, k, k] += diag
        if out is None:
            return D
        out[:, r, r] = D
    return out


def _symmetric(circuit: Circuit, J: np.ndarray) -> bool:
    """Whether ``J`` is symmetric: by construction for the ideal circuit whose feedback
    crossbars are the forward ones transposed (a gradient flow, ``J = -g0 H``), else to
    :data:`_SYM_RTOL`."""
    if J.shape[1] == 0:
        return True
    if circuit.amplifiers is None and circuit.crossbar is None:
        return all(
            np.array_equal(circuit.feedback_weights(l), circuit.forward_weights(l).T)
            for l in range(1, circuit.n_layers + 1)
        )
    scale = max(float(np.abs(J).max()), 1e-300)
    return float(np.abs(J - np.swapaxes(J, 1, 2)).max()) <= _SYM_RTOL * scale


def _thermal_only_q(circuit: Circuit) -> np.ndarray | None:
    """``2 k T g`` per free unit (A^2 s) when thermal noise is the only source, else None.
    A free unit of layer 0 has no spring (no thermal source): 0 there."""
    noise = circuit.noise
    if noise is None or not noise.thermal or noise.amp_psd > 0 or noise.read_noise_rtHz > 0:
        return None
    q = []
    for l, f in enumerate(circuit.clamp.free):
        idx = np.flatnonzero(f)
        g = np.zeros(idx.size) if l == 0 else circuit.layers[l - 1].g_spring_S[idx]
        q.append(2.0 * noise.kT_J * np.asarray(g, dtype=float))
    return np.concatenate(q)


def read_factor(circuit: Circuit, x: State, method: str | None = None) -> ReadFactor:
    """The factor of the stationary covariance of ``circuit``'s free units at ``x``
    (module docstring).  ``method=None`` picks the cheapest exact one; a named method that
    does not apply (``"cholesky"`` or ``"eigen"`` with an asymmetric ``J``, ``"cholesky"``
    with a non-isotropic ``Q``) is refused."""
    if method is not None and method not in FACTOR_METHODS:
        raise InvalidInputError(
            f"noisy read: unknown method {method!r} (known: {', '.join(FACTOR_METHODS)})"
        )
    if circuit.noise is None:
        raise InvalidInputError("noisy read: the circuit has no noise sources")
    C = circuit.hardware.c_F
    J = _free_jacobian(circuit, x)
    Bn, n = J.shape[0], J.shape[1]
    sym = _symmetric(circuit, J)
    q = _thermal_only_q(circuit)
    iso = q is not None and q.size > 0 and q.min() > 0 and np.ptp(q) <= 1e-12 * q.max()
    if method is None:
        method = "cholesky" if sym and iso else ("eigen" if sym else "lyapunov")
    if method in ("cholesky", "eigen") and not sym:
        raise InvalidInputError(f"noisy read: method {method!r} needs a symmetric Jacobian")
    if method == "cholesky" and not iso:
        raise InvalidInputError(
            "noisy read: method 'cholesky' needs thermal noise only, on equal springs"
        )
    if method == "cholesky":
        Js = np.negative(J, out=J)  # -J, symmetric
        R, stable = batched_cholesky(Js)  # an unstable sample's factor is I, flagged
        return ReadFactor("cholesky", stable, R=R, scale=math.sqrt(q[0] / 2.0 / C))
    if method == "eigen":
        mu, V = np.linalg.eigh(-0.5 * (J + np.swapaxes(J, 1, 2)) / C)
        stable = mu.min(axis=1) > 0 if n else np.ones(Bn, dtype=bool)
        Vt = np.swapaxes(V, 1, 2)
        if q is not None:  # thermal only: Q = diag(q) / C^2, no dense noise gains needed
            Qp = (Vt * (q / C**2)[None, None, :]) @ V
        else:
            G = Vt @ noise_input(circuit, x) / C
            Qp = G @ np.swapaxes(G, 1, 2)
        den = mu[:, :, None] + mu[:, None, :]
        S = np.where(stable[:, None, None], Qp / np.where(den > 0, den, 1.0), 0.0)
        return ReadFactor("eigen", stable, L=V @ _chol(S))
    Sig, *_ = lyapunov_noise(circuit, x)
    stable = np.all(np.isfinite(Sig), axis=(1, 2))
    Sig = np.where(stable[:, None, None], Sig, 0.0)
    return ReadFactor("lyapunov", stable, L=_chol(Sig))


def noisy_read(
    circuit: Circuit, x: State, rng, *, method: str | None = None, draws: int | None = None
) -> NoisyRead:
    """``x`` with a stationary noise draw on the free units (module docstring).

    Parameters
    ----------
    circuit : Circuit
        The circuit with its noise sources (``circuit.noise``; ``None``: ``x`` is returned).
    x : State
        The settled state (the rest point, where the circuit is linearised).
    rng : numpy.random.Generator or seed
        Source of the draw: ``standard_normal((batch, n_free))`` (``(draws, batch,
        n_free)`` with ``draws``), the free units in :class:`~pc_analog.solvers.dynamics.
        FreeIndex` order.
    method : str, optional
        Force a factorisation (:func:`read_factor`).
    draws : int, optional
        Independent reads at once: every array of the result gets a leading axis of
        ``draws`` (for statistics; training takes one).
    """
    x = tuple(np.asarray(v, dtype=float) for v in x)
    if circuit.noise is None:
        return NoisyRead(x, "none", 0)
    rng = np.random.default_rng(rng)
    fi = FreeIndex(circuit)
    B = x[0].shape[0]
    shape = (B, fi.n_free) if draws is None else (int(draws), B, fi.n_free)
    xi = rng.standard_normal(shape)
    dy = np.empty(shape)
    unstable, used = 0, "none"
    for lo in range(0, B, _CHUNK):  # chunks of samples: small temporaries, same draws
        sl = slice(lo, min(lo + _CHUNK, B))
        xs = tuple(v[sl] for v in x)
        fac = read_factor(dataclasses.replace(circuit, x_init=xs), xs, method)
        dy[..., sl, :] = fac.apply(xi[..., sl, :])
        unstable += int(np.sum(~fac.stable))
        used = fac.method
    out = [np.broadcast_to(v, shape[:-2] + v.shape).copy() for v in x]
    for k, (l, idx) in enumerate(fi.blocks):
        out[l][..., idx] += dy[..., fi.offsets[k] : fi.offsets[k + 1]]
    return NoisyRead(tuple(out), used, unstable)


#: Backends that carry the circuit's noise into a read: ``equilibrium`` and ``ode`` settle
#: deterministically and the read gets a stationary draw (:func:`noisy_read`); ``sde``
#: integrates the noise itself.  ``discrete`` (the digital loop) and ``ngspice`` (its
#: settle deck has no ``trnoise`` sources) cannot.
NOISY_BACKENDS = ("equilibrium", "ode", "sde")


def check_noise_backend(analog, backend) -> None:
    """Refuse an analog spec with noise sources (``thermal_noise``, ``amp_noise_V_rtHz``) on
    a backend not in :data:`NOISY_BACKENDS`: a silently noiseless run would be a lie."""
    noisy = analog is not None and (
        bool(getattr(analog, "thermal_noise", False))
        or (getattr(analog, "amp_noise_V_rtHz", 0) or 0) > 0
    )
    name = backend if isinstance(backend, str) else getattr(backend, "name", backend)
    if noisy and name not in NOISY_BACKENDS:
        raise InvalidInputError(
            f"backend: {name!r} cannot carry the spec's noise (thermal_noise, "
            f"amp_noise_V_rtHz); use one of {', '.join(NOISY_BACKENDS)}"
        )


def settle_and_read(circuit: Circuit, backend: str, noise_rng, read_out=None):
    """Settle ``circuit`` on ``backend`` and read it: ``(result, read, unstable)``.

    Without noise sources: ``settle`` and ``read_out(result)`` (``read_out`` is the ADC,
    default ``result.x``; nothing is drawn from ``noise_rng``).  With them: the ``sde``
    backend runs with a seed drawn from ``noise_rng`` and is read as it ends; any other
    backend's settled state gets a stationary draw from ``noise_rng`` (:func:`noisy_read`),
    and ``read_out`` then reads that state.  ``unstable`` counts the samples without a
    stationary state (read without noise).
    """
    from pc_analog.settling.registry import settle

    def rd(r):
        return tuple(getattr(r, "x", r)) if read_out is None else tuple(read_out(r))

    if circuit.noise is None:
        res = settle(circuit, backend=backend, on_failure="return")
        return res, rd(res), 0
    check_noise_backend(_AnyNoise, backend)
    if backend == "sde":
        seed = int(np.random.default_rng(noise_rng).integers(2**31))
        res = settle(circuit, backend="sde", seed=seed, on_failure="return")
        return res, rd(res), 0
    res = settle(circuit, backend=backend, on_failure="return")
    nr = noisy_read(circuit, res.x, noise_rng)
    return res, rd(nr.x), nr.unstable


class _AnyNoise:
    """A stand-in spec with noise on, for :func:`check_noise_backend`."""

    thermal_noise = True
