"""The behavioural circuit with amplifier poles: one state per amplifier (``amp_gbw_Hz``).

Every stage of :mod:`pc_analog.solvers._amps` (predictions ``m_l``, error buffers
``e_l``, feedback sums ``s_l``) becomes a single-pole follower
(:mod:`pc_analog.circuit.amplifiers`): its internal output ``w`` obeys

    tau_a dw/dt = (u + V_os) - clip(w) - w / A0,       tau_a = 1 / (2 pi GBW)

(no ``w/A0`` term for an infinite DC gain), with ``u`` the stage's ideal input computed
from the *outputs* ``v = clip(w)`` of the stages before it:

    u^m_l = W_l phi_hat(x_{l-1}) + b_l,   u^e_l = x_l - v^m_l,   u^s_l = Wfb_{l+1} (pi v^e_{l+1})

and the free nodes see the outputs: ``C dx_l/dt = -g_l (x_l - v^m_l) + g0 phi'_hat(x_l) v^s_l``.
At rest ``w = a (u + V_os)`` inside the rails, i.e. the static circuit of ``_amps``.

The per-sample state is ``[x (every unit), w^m_1..L, w^e_1..L, w^s_0..L-1]`` (every unit
of every stage; clamped ``x`` rows are held, a feedback sum into a clamped unit drives
nothing).  :func:`jacobian` is the analytic per-sample Jacobian (1/s) split as
``D + E / tau_a``: ``D`` holds the node rows, ``E`` the amplifier rows times ``tau_a``.
:class:`PoleDynamics` is the ``ode`` backend's system in ``s = t / tau``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pc_analog.solvers._amps import _clip, dphi_hat, phi_hat

__all__ = [
    "PoleLayout",
    "PoleDynamics",
    "amp_states_at_rest",
    "jacobian",
    "jacobian_blocks",
    "rates",
]


class PoleLayout:
    """Offsets of the per-sample state ``[x | w^m | w^e | w^s]`` (module docstring)."""

    def __init__(self, circ):
        sizes = circ.sizes
        L = len(sizes) - 1
        self.L, self.sizes = L, sizes
        off = 0
        self.x = []
        for l in range(L + 1):
            self.x.append(slice(off, off + sizes[l]))
            off += sizes[l]
        self.n_x = off
        self.m, self.e, self.s = [None] * (L + 1), [None] * (L + 1), [None] * (L + 1)
        for l in range(1, L + 1):
            self.m[l] = slice(off, off + sizes[l])
            off += sizes[l]
        for l in range(1, L + 1):
            self.e[l] = slice(off, off + sizes[l])
            off += sizes[l]
        for l in range(L):
            self.s[l] = slice(off, off + sizes[l])
            off += sizes[l]
        self.n = off
        self.n_w = off - self.n_x

    def split_w(self, W):
        """``(wm, we, ws)`` per layer from ``(batch, n_w)`` (views)."""
        o = self.n_x
        return (
            [None] + [W[:, self.m[l].start - o : self.m[l].stop - o] for l in range(1, self.L + 1)],
            [None] + [W[:, self.e[l].start - o : self.e[l].stop - o] for l in range(1, self.L + 1)],
            [W[:, self.s[l].start - o : self.s[l].stop - o] for l in range(self.L)] + [None],
        )


def _inputs(circ, x, vm=None, ve=None):
    """The stages' inputs ``u + V_os`` layer by layer; where ``vm`` / ``ve`` are None the
    stage outputs are taken at rest (``clip(a (u + V_os))``), as :func:`amp_states_at_rest`
    needs."""
    amps = circ.amplifiers
    a, r, L = amps.closed_loop_gain, amps.rail_V, circ.n_layers
    um, ue, us = [None] * (L + 1), [None] * (L + 1), [None] * (L + 1)
    vm = list(vm) if vm is not None else [None] * (L + 1)
    ve = list(ve) if ve is not None else [None] * (L + 1)
    for l in range(1, L + 1):
        mu = phi_hat(circ, l - 1, x[l - 1], False)[0] @ circ.forward_weights(l).T + circ.biases(l)
        um[l] = mu + amps.offset_pred[l - 1]
        if vm[l] is None:
            vm[l] = _clip(a * um[l], r)[0]
        ue[l] = x[l] - vm[l] + amps.offset_err[l - 1]
        if ve[l] is None:
            ve[l] = _clip(a * ue[l], r)[0]
    for l in range(L):
        u = (circ.precisions(l + 1) * ve[l + 1]) @ circ.feedback_weights(l + 1).T
        us[l] = u + amps.offset_fb[l]
    return um, ue, us


def _w_at_rest(u, amps):
    """The internal output at rest for input ``u``: ``a u`` inside the rails, else
    ``A0 (u - clip)`` (``u`` itself for an infinite gain: the integrator winds up)."""
    a, r, A0 = amps.closed_loop_gain, amps.rail_V, amps.open_loop_gain
    w = a * u
    if r is None:
        return w
    out = np.clip(w, -r, r)
    if A0 is not None:
        w = np.where(np.abs(w) < r, w, A0 * (u - out))
    return w


def amp_states_at_rest(circ, x) -> np.ndarray:
    """``(batch, n_w)``: every amplifier at rest for the node voltages ``x`` (the state a
    transient starts from, as ngspice's initial operating point with the ``.ic`` held)."""
    amps = circ.amplifiers
    um, ue, us = _inputs(circ, x)
    L = circ.n_layers
    parts = [_w_at_rest(um[l], amps) for l in range(1, L + 1)]
    parts += [_w_at_rest(ue[l], amps) for l in range(1, L + 1)]
    parts += [_w_at_rest(us[l], amps) for l in range(L)]
    return np.concatenate(parts, axis=1)


def _outputs(circ, lay, W):
    amps = circ.amplifiers
    wm, we, ws = lay.split_w(W)
    r = amps.rail_V
    clip = [[None if w is None else _clip(w, r) for w in ws_] for ws_ in (wm, we, ws)]
    return wm, we, ws, clip


def rates(circ, lay, x, W):
    """``(I, dW/dt)``: node currents (A, per layer) and ``d w / dt`` (V/s, ``(batch, n_w)``)."""
    amps = circ.amplifiers
    L, g0, tau_a, A0 = circ.n_layers, circ.hardware.g0_S, amps.tau_a_s, amps.open_loop_gain
    wm, we, ws = lay.split_w(W)
    r = amps.rail_V

    def clip(w):
        return w if r is None or w is None else np.clip(w, -r, r)

    vm, ve, vs = [clip(w) for w in wm], [clip(w) for w in we], [clip(w) for w in ws]
    um, ue, us = _inputs(circ, x, vm, ve)
    leak = 0.0 if A0 is None else 1.0 / A0

    def d(u, v, w):
        return (u - v - leak * w) / tau_a

    dW = [d(um[l], vm[l], wm[l]) for l in range(1, L + 1)]
    dW += [d(ue[l], ve[l], we[l]) for l in range(1, L + 1)]
    dW += [d(us[l], vs[l], ws[l]) for l in range(L)]
    I = []
    for l in range(L + 1):
        cur = np.zeros_like(x[l])
        if l > 0:
            cur -= circ.layers[l - 1].g_spring_S * (x[l] - vm[l])
        if l < L:
            cur += g0 * dphi_hat(circ, l, x[l], False)[0] * vs[l]
        I.append(cur)
    return tuple(I), np.concatenate(dW, axis=1)


def jacobian_blocks(circ, lay, x, W):
    """The Jacobian of ``d(state)/dt`` as blocks ``(part, rows, cols, values, diagonal)``:
    ``part`` ``"D"`` (node rows, 1/s) or ``"E"`` (amplifier rows times ``tau_a``), ``rows``
    and ``cols`` slices of the per-sample state, ``values`` ``(batch, n)`` for a diagonal
    block, ``(batch, n_rows, n_cols)`` else.  Node rows (divided by ``C``):

        dx_l:  -g_l + g0 phi'_hat'(x_l) v^s_l  on x_l;  g_l k^m_l on w^m_l;
               g0 phi'_hat(x_l) k^s_l  on w^s_l

    amplifier rows, with ``k`` the clip derivatives and ``leak = 1/A0``:

        w^m_l: W_l diag(phi_hat'(x_{l-1})) on x_{l-1};  -(k^m_l + leak) on w^m_l
        w^e_l: 1 on x_l;  -k^m_l on w^m_l;  -(k^e_l + leak) on w^e_l
        w^s_l: Wfb_{l+1} diag(pi k^e_{l+1}) on w^e_{l+1};  -(k^s_l + leak) on w^s_l
    """
    amps = circ.amplifiers
    L, g0, C = circ.n_layers, circ.hardware.g0_S, circ.hardware.c_F
    leak = 0.0 if amps.open_loop_gain is None else 1.0 / amps.open_loop_gain
    B = x[0].shape[0]
    _, _, _, (cm, ce, cs) = _outputs(circ, lay, W)
    out = []

    def diag(part, rs, cs_, v):
        v = np.broadcast_to(v, (B, rs.stop - rs.start))
        out.append((part, rs, cs_, v, True))

    for l in range(L + 1):
        if l > 0:
            g = circ.layers[l - 1].g_spring_S
            diag("D", lay.x[l], lay.x[l], -g / C)
            diag("D", lay.x[l], lay.m[l], g * cm[l][1] / C)
        if l < L:
            d1, d2 = dphi_hat(circ, l, x[l])
            diag("D", lay.x[l], lay.x[l], g0 * d2 * cs[l][0] / C)
            diag("D", lay.x[l], lay.s[l], g0 * d1 * cs[l][1] / C)
    for l in range(1, L + 1):
        dphi = phi_hat(circ, l - 1, x[l - 1])[1]
        Wd = circ.forward_weights(l)[None] * dphi[:, None, :]
        out.append(("E", lay.m[l], lay.x[l - 1], Wd, False))
        diag("E", lay.m[l], lay.m[l], -(cm[l][1] + leak))
        diag("E", lay.e[l], lay.x[l], 1.0)
        diag("E", lay.e[l], lay.m[l], -cm[l][1])
        diag("E", lay.e[l], lay.e[l], -(ce[l][1] + leak))
    for l in range(L):
        P = circ.feedback_weights(l + 1) * circ.precisions(l + 1)
        out.append(("E", lay.s[l], lay.e[l + 1], P[None] * ce[l + 1][1][:, None, :], False))
        diag("E", lay.s[l], lay.s[l], -(cs[l][1] + leak))
    return out


def jacobian(circ, lay, x, W):
    """``(D, E)``, each ``(batch, n, n)`` (dense): the per-sample Jacobian of
    ``d(state)/dt`` is ``D + E / tau_a`` (1/s); the blocks of :func:`jacobian_blocks`."""
    B = x[0].shape[0]
    M = {"D": np.zeros((B, lay.n, lay.n)), "E": np.zeros((B, lay.n, lay.n))}
    for part, rs, cs_, v, is_diag in jacobian_blocks(circ, lay, x, W):
        if is_diag:
            M[part][:, np.arange(rs.start, rs.stop), np.arange(cs_.start, cs_.stop)] += v
        else:
            M[part][:, rs, cs_] += v
    return M["D"], M["E"]


def free_rows(circ, lay) -> np.ndarray:
    """Per-sample state indices that move: free ``x`` and every amplifier state."""
    free = np.concatenate(
        [np.flatnonzero(f) + lay.x[l].start for l, f in enumerate(circ.clamp.free)]
    )
    return np.concatenate([free, np.arange(lay.n_x, lay.n)])


class PoleDynamics:
    """What :class:`~pc_analog.solvers.ode.OdeBackend` integrates (``rhs``, ``jac``, ``z0``,
    ``rate``) for a circuit with amplifier poles, in ``s = t / tau``: ``z = [y | W]`` with
    ``y`` the free nodes (:class:`FreeIndex` order) and ``W`` the ``(batch, n_w)`` poles."""

    mass_Fs = 0.0
    #: ``method="auto"`` integrates with dense LSODA up to this many states, sparse BDF
    #: above: the pole states make LSODA's dense LU the cost (measured on 32-64-64-10,
    #: batch 2, 1020 states: LSODA 90 s, sparse BDF 13 s on a loaded machine).
    dense_max = 200

    def __init__(self, circ, fi, lam_min: float):
        self.circ, self.fi, self.lay = circ, fi, PoleLayout(circ)
        C, g0 = circ.hardware.c_F, circ.hardware.g0_S
        self.tau = circ.tau_s
        self.damping_F = float(C)
        N, B, lay = fi.size, circ.batch, self.lay
        self.N = N
        self.z0 = np.concatenate(
            [fi.pack(circ.x_init), amp_states_at_rest(circ, circ.x_init).ravel()]
        )
        self.rate = g0 * lam_min / C
        self.unstable = None  # set by stability.pole_dynamics
        # z (solver order) position of each per-sample state index, for the Jacobian
        rows = free_rows(circ, lay)
        nf = fi.n_free
        pos = np.empty((B, rows.size), dtype=int)
        pos[:, :nf] = np.arange(B)[:, None] * nf + np.arange(nf)[None]
        pos[:, nf:] = N + np.arange(B)[:, None] * lay.n_w + np.arange(lay.n_w)[None]
        self._zpos = np.full((B, lay.n), -1, dtype=int)  # -1: a clamped node (no state)
        self._zpos[:, rows] = pos

    def _split(self, z):
        x = self.fi.unpack(z[: self.N])
        return x, z[self.N :].reshape(self.circ.batch, self.lay.n_w)

    def rhs(self, s, z):
        x, W = self._split(z)
        I, dW = rates(self.circ, self.lay, x, W)
        g0 = self.circ.hardware.g0_S
        return np.concatenate([self.fi.pack(I) / g0, (dW * self.tau).ravel()])

    def jac(self, s, z):
        """The sparse Jacobian in ``s = t / tau`` (blocks of :func:`jacobian_blocks`, never a
        dense ``(batch, n, n)`` array)."""
        x, W = self._split(z)
        size = self.N + self.circ.batch * self.lay.n_w
        scale = {"D": self.tau, "E": self.tau / self.circ.amplifiers.tau_a_s}
        rows, cols, vals = [], [], []
        for part, rs, cs_, v, is_diag in jacobian_blocks(self.circ, self.lay, x, W):
            pr, pc = self._zpos[:, rs], self._zpos[:, cs_]
            if is_diag:
                r, c, val = pr, pc, v
            else:
                r = np.broadcast_to(pr[:, :, None], v.shape)
                c = np.broadcast_to(pc[:, None, :], v.shape)
                val = v
            keep = (r >= 0) & (c >= 0) & (val != 0.0)
            rows.append(r[keep])
            cols.append(c[keep])
            vals.append(val[keep] * scale[part])
        return sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(size, size),
        )
