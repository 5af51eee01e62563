"""KCL of a circuit at the crossbar level (wires, transimpedance readouts), vectorised.

Each crossbar with its wires is a linear resistive multiport between its driven columns
``c`` and its rows ``r`` (:mod:`pc_analog.circuit.wires` gives the mesh).  Eliminating the
``2 J K`` internal tap nodes (Schur complement, by block elimination along the columns:
:func:`port_matrices`) leaves the current the crossbar delivers into the row ports,

    I = T c - D v_r ,      T = -Y_rc ,  D = Y_rr ,
    Y = G_pp - G_pi G_ii^{-1} G_ip                    (port admittance)

(``G`` the mesh's conductance matrix; without wires ``T = S``, ``D = diag(S 1)``).  The
readouts then give (``k = 1/A``, ``g = g_unit``, wires module docstring)

    m_lin = (k D + g (1+k) I)^{-1} (T c - (D + g) V_os) = T_eff c + o ,

affine in the column drive: so a forward crossbar computes ``m = clip(W_eff phi(x) +
b_eff)`` with ``W_eff = T_eff[:, a] - T_eff[:, an]``, ``b_eff = T_eff[:, one] -
T_eff[:, onen] + o``, and a feedback crossbar ``s = clip(Wfb_eff (pi e) + o)``.  The
reduction depends on the conductances, wires and amplifiers only, so it is computed once
per circuit structure and cached on the circuit (a new stimulus keeps it; the feedback
rows are the free units, so the cache is keyed by them).  The KCL is then the one of
:mod:`pc_analog.solvers._amps` with per-stage maps (``a = A/(1+A)`` only in the error
buffers):

    m_l = clip(W_l^eff phi(x_{l-1}) + b_l^eff)
    e_l = clip(a (x_l - m_l + oe_l))
    s_l = clip(Wfb_{l+1}^eff (pi_{l+1} e_{l+1}) + o_l)
    I_l = -g_l (x_l - m_l) + g0 phi_l'(x_l) s_l .
"""

from __future__ import annotations

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = [
    "port_matrices",
    "effective_maps",
    "row_noise_maps",
    "crossbar_node_currents",
    "crossbar_jacobian_blocks",
]


def port_matrices(G_cells: np.ndarray, wire_r_ohm: float):
    """``(T, D)`` of one crossbar: cells ``G_cells[j, k]`` (rows x physical columns),
    wire segments of ``wire_r_ohm`` laid out as in :mod:`pc_analog.circuit.wires`.

    ``I = T c - D v_r`` is the current into the row ports (``D`` dense ``J x J``).

    Block elimination along the columns (``O(K J^3 + K^2 J^2)``, dense BLAS): column
    ``k``'s ladder taps ``c_k`` (size ``J``) satisfy ``C_k c_k = diag(G_k) rho_k + g_w
    e_0 d_k`` (``C_k``: the ladder's Laplacian with its driver segment, plus
    ``diag(G_k)``), so the row taps ``rho_k`` of column ``k`` obey the block-tridiagonal
    system ``A_k rho_k - g_w (rho_{k-1} + rho_{k+1}) = s_k d_k`` (``+ g_w v_r`` at the
    last column) with ``A_k = n_k g_w + diag(G_k) - diag(G_k) C_k^{-1} diag(G_k)``
    (``n_k`` row segments at the tap) and ``s_k = g_w diag(G_k) C_k^{-1} e_0``.  The
    forward sweep ``At_k = A_k - g_w^2 At_{k-1}^{-1}``, ``M_k = [g_w At_{k-1}^{-1}
    M_{k-1}, s_k]`` ends with ``At_{K-1} rho_{K-1} = M d + g_w v_r``; the port current
    ``g_w (rho_{K-1} - v_r)`` gives ``T = g_w At^{-1} M`` and ``D = g_w - g_w^2 At^{-1}``.
    """
    G_cells = np.asarray(G_cells, dtype=float)
    J, K = G_cells.shape
    if wire_r_ohm == 0.0 or J == 0:
        return G_cells.copy(), np.diag(G_cells.sum(axis=1))
    gw = 1.0 / wire_r_ohm
    # column ladders: path Laplacian over the J taps, plus the driver segment at tap 0
    lap = 2.0 * np.eye(J) - np.eye(J, k=1) - np.eye(J, k=-1)
    lap[-1, -1] = 1.0
    C = gw * lap[None] + np.stack([np.diag(G_cells[:, k]) for k in range(K)])
    Cinv = np.linalg.inv(C)  # (K, J, J)
    eye = np.eye(J)
    M = np.zeros((J, K))
    At_inv = None
    for k in range(K):
        g = G_cells[:, k]
        n_k = (k > 0) + 1 if K > 1 else 1
        A = n_k * gw * eye + np.diag(g) - g[:, None] * Cinv[k] * g[None, :]
        if At_inv is not None:
            A = A - gw * gw * At_inv
            M[:, :k] = gw * (At_inv @ M[:, :k])
        M[:, k] = gw * g * Cinv[k][:, 0]
        At_inv = np.linalg.inv(A)
    return gw * (At_inv @ M), gw * eye - gw * gw * At_inv


def _readout_map(T, D, g_unit, A, offset):
    """``(T_eff, o)`` of ``m_lin = T_eff c + o`` (module docstring)."""
    J = T.shape[0]
    if A is None and not np.any(offset):
        return T / g_unit, np.zeros(J)
    k = 0.0 if A is None else 1.0 / A
    M = k * D + g_unit * (1.0 + k) * np.eye(J)
    rhs = np.concatenate([T, ((D + g_unit * np.eye(J)) @ offset)[:, None]], axis=1)
    sol = np.linalg.solve(M, rhs)
    return sol[:, :-1], -sol[:, -1]


def _interleave(gp, gn):
    out = np.empty(gp.shape[:-1] + (2 * gp.shape[-1],))
    out[..., 0::2], out[..., 1::2] = gp, gn
    return out


def effective_maps(circ):
    """Per layer ``l = 1..L``: ``(W_eff, b_eff, Wfb_eff, o_fb)`` (``Wfb_eff``/``o_fb`` with
    zero rows for clamped units of layer ``l-1``), cached on ``circ`` by free-row set."""
    key = tuple(m.tobytes() for m in circ.clamp.masks[:-1])
    cache = circ.__dict__.get("_xbar")
    if cache is None:
        cache = {}
        object.__setattr__(circ, "_xbar", cache)  # derived from the structure only
    if key not in cache:
        from pc_analog._threads import single_threaded_blas

        if getattr(circ.amplifiers, "gbw_Hz", None) is not None:
            raise InvalidInputError(
                "crossbar level: amplifier poles (amp_gbw_Hz) not implemented yet (issue 11)"
            )

        with single_threaded_blas():
            cache[key] = _reduce(circ)
    return cache[key]


def _reduce(circ):
    """The effective maps of :func:`effective_maps` (uncached)."""
    amps, r = circ.amplifiers, circ.crossbar.wire_r_ohm
    A = None if amps is None else amps.open_loop_gain
    out = []
    for l, layer in enumerate(circ.layers, start=1):
        gu = circ.g_unit(l)
        n_in, n_out = circ.sizes[l - 1], circ.sizes[l]
        gf = np.concatenate(
            [
                _interleave(layer.forward.g_pos_S, layer.forward.g_neg_S),
                layer.bias.g_pos_S[:, None],
                layer.bias.g_neg_S[:, None],
            ],
            axis=1,
        )
        off = np.zeros(n_out) if amps is None else amps.offset_pred[l - 1]
        Te, o = _readout_map(*port_matrices(gf, r), gu, A, off)
        W = Te[:, 0 : 2 * n_in : 2] - Te[:, 1 : 2 * n_in : 2]
        b = Te[:, -2] - Te[:, -1] + o
        free = np.flatnonzero(~circ.clamp.masks[l - 1])
        Wfb, ofb = np.zeros((n_in, n_out)), np.zeros(n_in)
        if free.size:
            gk = _interleave(layer.feedback.g_pos_S, layer.feedback.g_neg_S)[free]
            offk = np.zeros(free.size) if amps is None else amps.offset_fb[l - 1][free]
            Tk, ok = _readout_map(*port_matrices(gk, r), gu, A, offk)
            Wfb[free] = Tk[:, 0::2] - Tk[:, 1::2]
            ofb[free] = ok
        out.append((W, b, Wfb, ofb))
    return tuple(out)


def _sqrt_psd(D):
    w, V = np.linalg.eigh(0.5 * (D + D.T))
    return V * np.sqrt(np.maximum(w, 0.0))[None, :]


def _row_noise(G_cells, wire_r_ohm, g_unit, A):
    """``M^{-1} D^{1/2}`` of one crossbar (:func:`row_noise_maps`)."""
    _, D = port_matrices(G_cells, wire_r_ohm)
    J = D.shape[0]
    k = 0.0 if A is None else 1.0 / A
    return np.linalg.solve(k * D + g_unit * (1.0 + k) * np.eye(J), _sqrt_psd(D))


def row_noise_maps(circ):
    """Thermal noise of every cell and wire segment as noise of the readout outputs, per
    layer ``l = 1..L``: ``(Nf, Nk)``, cached on ``circ`` like :func:`effective_maps`.

    A passive resistive multiport in thermal equilibrium delivers into its short-circuited
    ports a noise current of one-sided density matrix ``4 k T Re Y`` (Twiss's theorem, the
    multiport Nyquist formula); the columns are driven by voltage sources and the rows are
    the readouts' inputs, so the row ports see ``4 k T D`` with ``D = Y_rr`` of
    :func:`port_matrices` (without wires ``diag(S 1)``: every cell of the row, both devices
    of each pair and the bias pair).  The readout turns a row current ``i`` into
    ``m_lin = M^{-1} i`` (``M = k D + g (1+k) I``, module docstring), so the output noise is
    ``sqrt(2 k T) Nf dW`` with ``Nf = M^{-1} D^{1/2}`` (``D^{1/2} D^{1/2 T} = D``).
    ``Nf`` is ``n_l x n_l`` (forward rows, every unit of layer ``l``); ``Nk`` is
    ``n_{l-1} x n_{l-1}`` with zero rows and columns for clamped units (no feedback rows).
    """
    key = ("noise",) + tuple(m.tobytes() for m in circ.clamp.masks[:-1])
    effective_maps(circ)  # refuses what the crossbar model cannot carry; creates the cache
    cache = circ.__dict__["_xbar"]
    if key not in cache:
        amps, r = circ.amplifiers, circ.crossbar.wire_r_ohm
        A = None if amps is None else amps.open_loop_gain
        out = []
        for l, layer in enumerate(circ.layers, start=1):
            gu, n_in = circ.g_unit(l), circ.sizes[l - 1]
            gf = np.concatenate(
                [
                    _interleave(layer.forward.g_pos_S, layer.forward.g_neg_S),
                    layer.bias.g_pos_S[:, None],
                    layer.bias.g_neg_S[:, None],
                ],
                axis=1,
            )
            Nf = _row_noise(gf, r, gu, A)
            Nk = np.zeros((n_in, n_in))
            free = np.flatnonzero(~circ.clamp.masks[l - 1])
            if free.size:
                gk = _interleave(layer.feedback.g_pos_S, layer.feedback.g_neg_S)[free]
                Nk[free[:, None], free[None, :]] = _row_noise(gk, r, gu, A)
            out.append((Nf, Nk))
        cache[key] = tuple(out)
    return cache[key]


def _clip(u, rail):
    if rail is None:
        return u, np.ones_like(u)
    return np.clip(u, -rail, rail), (np.abs(u) < rail).astype(float)


def _stages(circ, x):
    amps = circ.amplifiers
    a = 1.0 if amps is None else amps.closed_loop_gain
    rail = None if amps is None else amps.rail_V
    maps = effective_maps(circ)
    net = circ.network()
    L = circ.n_layers
    m, km, e, ke, s, ks = ([None] * (L + 1) for _ in range(6))
    for l in range(1, L + 1):
        W, b, _, _ = maps[l - 1]
        m[l], km[l] = _clip(net.phi(l - 1).f(x[l - 1]) @ W.T + b, rail)
        oe = 0.0 if amps is None else amps.offset_err[l - 1]
        e[l], ke[l] = _clip(a * (x[l] - m[l] + oe), rail)
    for l in range(L):
        _, _, Wfb, ofb = maps[l]
        s[l], ks[l] = _clip((circ.precisions(l + 1) * e[l + 1]) @ Wfb.T + ofb, rail)
    return a, maps, m, km, e, ke, s, ks


def crossbar_node_currents(circ, x):
    """Current into every activity node (amperes), ``(batch, n_l)`` per layer."""
    net = circ.network()
    L, g0 = circ.n_layers, circ.hardware.g0_S
    _, _, m, _, _, _, s, _ = _stages(circ, x)
    out = []
    for l in range(L + 1):
        I = np.zeros_like(x[l])
        if l > 0:
            I -= circ.layers[l - 1].g_spring_S * (x[l] - m[l])
        if l < L:
            I += g0 * net.phi(l).df(x[l]) * s[l]
        out.append(I)
    return tuple(out)


def crossbar_jacobian_blocks(circ, x):
    """``dI/dx`` as per-sample blocks (layout of
    :func:`~pc_analog.solvers.dynamics.current_jacobian_blocks`)."""
    net = circ.network()
    L, g0 = circ.n_layers, circ.hardware.g0_S
    batch = x[0].shape[0]
    a, maps, m, km, e, ke, s, ks = _stages(circ, x)
    dm = [None] + [
        km[l][:, :, None] * maps[l - 1][0][None] * net.phi(l - 1).df(x[l - 1])[:, None]
        for l in range(1, L + 1)
    ]
    diag, upper, lower = [], [], []
    for l in range(L + 1):
        n = circ.sizes[l]
        idx = np.arange(n)
        D = np.zeros((batch, n, n))
        if l > 0:
            D[:, idx, idx] -= circ.layers[l - 1].g_spring_S
        if l < L:
            act = net.phi(l)
            d1 = act.df(x[l])
            P = (maps[l][2] * circ.precisions(l + 1))[None]
            As = ks[l][:, :, None] * P
            de_dx = -a * ke[l + 1][:, :, None] * dm[l + 1]
            D[:, idx, idx] += g0 * act.d2f(x[l]) * s[l]
            f = np.flatnonzero(circ.clamp.free[l])  # only free rows are ever read
            D[:, f] += g0 * d1[:, f, None] * (As[:, f] @ de_dx)
            upper.append(g0 * d1[:, :, None] * As * (a * ke[l + 1])[:, None, :])
            lower.append(circ.layers[l].g_spring_S[None, :, None] * dm[l + 1])
        diag.append(D)
    return diag, upper, lower
