"""KCL of a behavioural circuit with non-ideal amplifiers, and its Jacobian (vectorised).

With closed-loop gain ``a = A/(1+A)``, per-amplifier offsets and rails
(:mod:`pc_analog.circuit.amplifiers`), layer by layer over a batch:

    m_l = clip(a (W_l phi(x_{l-1}) + b_l + om_l))                  prediction, l = 1..L
    e_l = clip(a (x_l - m_l + oe_l))                                error buffer
    s_l = clip(a (Wfb_{l+1} (pi_{l+1} e_{l+1}) + os_l))              feedback sum, l = 0..L-1
    I_l = -g_l (x_l - m_l) [l >= 1]  +  g0 phi_l'(x_l) s_l [l < L]

``clip`` is ``[-rail, rail]`` (none without a rail); its derivative is 1 strictly
inside and 0 outside.  With phi / phi' block errors every ``phi`` above is
``phi_hat = (1 + g) phi + o`` and every ``phi'`` of the injection ``phi'_hat = (1 + g')
phi' + o'`` (per unit; :mod:`pc_analog.circuit.amplifiers`), so in the Jacobian below
``phi'(x_{l-1})`` of ``dm`` is ``(1 + g) phi'`` and ``phi''(x_l)`` is ``(1 + g') phi''``.
The Jacobian stays block tridiagonal:

    dm_l/dx_{l-1} = a k^m_l W_l diag(phi'(x_{l-1}))
    de_l/dx_l = a k^e_l,     de_l/dx_{l-1} = -a k^e_l dm_l/dx_{l-1}
    ds_l/dx_{l+1} = a k^s_l Wfb diag(pi) a k^e_{l+1}
    ds_l/dx_l = a k^s_l Wfb diag(pi) de_{l+1}/dx_l
    dI_l/dx_l = -g_l + g0 diag(phi''(x_l) s_l) + g0 diag(phi'(x_l)) ds_l/dx_l
    dI_l/dx_{l+1} = g0 diag(phi'(x_l)) ds_l/dx_{l+1},   dI_{l+1}/dx_l = g_{l+1} dm_{l+1}/dx_l

(``k`` the clip derivatives).  This is the same physics the inventory's elements
evaluate one by one (:meth:`~pc_analog.circuit.inventory.Inventory.node_currents`).
"""

from __future__ import annotations

import numpy as np


def _clip(u, rail):
    if rail is None:
        return u, np.ones_like(u)
    return np.clip(u, -rail, rail), (np.abs(u) < rail).astype(float)


def phi_hat(circ, l, x, deriv: bool = True):
    """``(phi_hat(x_l), d phi_hat / dx)`` of layer ``l``'s phi blocks (``None`` for the
    derivative unless ``deriv``)."""
    act, amps = circ.network().phi(l), circ.amplifiers
    d = act.df(x) if deriv else None
    if amps.phi_gain is None:
        return act.f(x), d
    g1 = 1.0 + amps.phi_gain[l]
    return g1 * act.f(x) + amps.phi_offset[l], None if d is None else g1 * d


def dphi_hat(circ, l, x, deriv: bool = True):
    """``(phi'_hat(x_l), d phi'_hat / dx)`` of layer ``l``'s phi' blocks (``None`` for the
    derivative unless ``deriv``)."""
    act, amps = circ.network().phi(l), circ.amplifiers
    d = act.d2f(x) if deriv else None
    if amps.dphi_gain is None:
        return act.df(x), d
    g1 = 1.0 + amps.dphi_gain[l]
    return g1 * act.df(x) + amps.dphi_offset[l], None if d is None else g1 * d


def _stages(circ, x):
    """``m, km, e, ke, s, ks`` per layer (index ``l``; ``None`` where absent)."""
    amps = circ.amplifiers
    a, r = amps.closed_loop_gain, amps.rail_V
    L = circ.n_layers
    m, km, e, ke = [None] * (L + 1), [None] * (L + 1), [None] * (L + 1), [None] * (L + 1)
    s, ks = [None] * (L + 1), [None] * (L + 1)
    for l in range(1, L + 1):
        mu = phi_hat(circ, l - 1, x[l - 1])[0] @ circ.forward_weights(l).T + circ.biases(l)
        m[l], km[l] = _clip(a * (mu + amps.offset_pred[l - 1]), r)
        e[l], ke[l] = _clip(a * (x[l] - m[l] + amps.offset_err[l - 1]), r)
    for l in range(L):
        u = (circ.precisions(l + 1) * e[l + 1]) @ circ.feedback_weights(l + 1).T
        s[l], ks[l] = _clip(a * (u + amps.offset_fb[l]), r)
    return m, km, e, ke, s, ks


def nonideal_node_currents(circ, x):
    """Current into every activity node (amperes), ``(batch, n_l)`` per layer."""
    L, g0 = circ.n_layers, circ.hardware.g0_S
    m, _, _, _, s, _ = _stages(circ, x)
    out = []
    for l in range(L + 1):
        I = np.zeros_like(x[l])
        if l > 0:
            I -= circ.layers[l - 1].g_spring_S * (x[l] - m[l])
        if l < L:
            I += g0 * dphi_hat(circ, l, x[l])[0] * s[l]
        out.append(I)
    return tuple(out)


def nonideal_jacobian_blocks(circ, x):
    """``dI/dx`` as per-sample blocks, laid out as
    :func:`~pc_analog.solvers.dynamics.current_jacobian_blocks`.

    The dense coupling term of ``dI_l/dx_l`` is formed for the rows of free units only
    (the rows of clamped units keep their diagonal terms): every consumer reads the free
    rows and columns (:class:`~pc_analog.solvers.dynamics.FreeIndex`), and a clamped input
    layer of 784 units would otherwise cost a ``(batch, 784, 784)`` product per call."""
    L, g0 = circ.n_layers, circ.hardware.g0_S
    a = circ.amplifiers.closed_loop_gain
    batch = x[0].shape[0]
    m, km, e, ke, s, ks = _stages(circ, x)
    # dm[l] = dm_l/dx_{l-1}: (B, n_l, n_{l-1})
    dm = [None] + [
        a
        * km[l][:, :, None]
        * circ.forward_weights(l)[None]
        * phi_hat(circ, l - 1, x[l - 1])[1][:, None]
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
            d1, d2 = dphi_hat(circ, l, x[l])
            P = (circ.feedback_weights(l + 1) * circ.precisions(l + 1))[None]  # (1, n_l, n_l+1)
            As = a * ks[l][:, :, None] * P  # (B, n_l, n_{l+1})
            de_dx = -a * ke[l + 1][:, :, None] * dm[l + 1]  # de_{l+1}/dx_l
            D[:, idx, idx] += g0 * d2 * s[l]
            f = np.flatnonzero(circ.clamp.free[l])
            D[:, f] += g0 * d1[:, f, None] * (As[:, f] @ de_dx)
            upper.append(g0 * d1[:, :, None] * As * (a * ke[l + 1])[:, None, :])
            lower.append(circ.layers[l].g_spring_S[None, :, None] * dm[l + 1])
        diag.append(D)
    return diag, upper, lower
