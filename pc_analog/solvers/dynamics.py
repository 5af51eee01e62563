"""KCL of the compiled circuit: node currents and their Jacobian, read from the IR.

At a free activity node ``x_{l,i}`` the current into its capacitor is

    I_l = -g_spring_l * eps_l  +  g0 * phi_l'(x_l) * (Wfb_{l+1} (pi_{l+1} * eps_{l+1}))

with ``eps_l = x_l - W_l phi_{l-1}(x_{l-1}) - b_l`` (forward crossbar ``W``,
feedback crossbar ``Wfb``, springs ``g_spring = pi g0``).  ``C dx/dt = I``.  With
ideal devices ``Wfb = W^T`` and ``I = -g0 dF/dx``, so ``dI/dx = -g0 H``.
The Jacobian is block tridiagonal (per sample) but not symmetric when the
feedback copy differs from the forward crossbar.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pc_analog.circuit.ir import Circuit
from pc_analog.model.energy import energy
from pc_analog.model.network import State
from pc_analog.solvers._amps import nonideal_jacobian_blocks, nonideal_node_currents
from pc_analog.solvers._crossbar import crossbar_jacobian_blocks, crossbar_node_currents

__all__ = [
    "node_currents",
    "current_jacobian_blocks",
    "FreeIndex",
    "PackedCurrents",
    "residual_max",
    "energy_trace",
]


def _eps(circ: Circuit, x: State, l: int, act) -> np.ndarray:
    return x[l] - (act.f(x[l - 1]) @ circ.forward_weights(l).T + circ.biases(l))


def node_currents(circ: Circuit, x: State, free_only: bool = False) -> State:
    """Current into every activity node (amperes), ``(batch, n_l)`` per layer.

    Clamped nodes get the current the clamp source absorbs; callers mask them.  With
    ``free_only`` (ideal circuits), layers without a free unit get zeros instead and
    their terms are not computed.  A circuit with non-ideal amplifiers takes their KCL
    (:func:`pc_analog.solvers._amps.nonideal_node_currents`).
    """
    if circ.crossbar is not None and not circ.ideal:
        return crossbar_node_currents(circ, x)
    if circ.amplifiers is not None:
        return nonideal_node_currents(circ, x)
    net = circ.network()
    L = circ.n_layers
    g0 = circ.hardware.g0_S
    need = [not free_only or bool(f.any()) for f in circ.clamp.free]
    eps = [None] + [
        _eps(circ, x, l, net.phi(l - 1)) if need[l] or need[l - 1] else None
        for l in range(1, L + 1)
    ]
    out = []
    for l in range(L + 1):
        I = np.zeros_like(x[l])
        if not need[l]:
            out.append(I)
            continue
        if l > 0:
            I -= circ.layers[l - 1].g_spring_S * eps[l]
        if l < L:
            u = circ.precisions(l + 1) * eps[l + 1]
            I += g0 * net.phi(l).df(x[l]) * (u @ circ.feedback_weights(l + 1).T)
        out.append(I)
    return tuple(out)


def current_jacobian_blocks(circ: Circuit, x: State):
    """``dI/dx`` as per-sample blocks.

    Returns
    -------
    diag : list, ``diag[l]`` = ``dI_l/dx_l``, ``(batch, n_l, n_l)``
    upper : list, ``upper[l]`` = ``dI_l/dx_{l+1}``, ``(batch, n_l, n_{l+1})``
    lower : list, ``lower[l]`` = ``dI_{l+1}/dx_l``, ``(batch, n_{l+1}, n_l)``

    The dense coupling term of ``diag[l]`` is formed on the rows of free units only (rows
    of clamped units keep their diagonal terms): every consumer reads free rows and
    columns (:class:`FreeIndex`), and a clamped 784-unit input layer would otherwise cost
    a ``(batch, 784, 784)`` product per call.
    """
    if circ.crossbar is not None and not circ.ideal:
        return crossbar_jacobian_blocks(circ, x)
    if circ.amplifiers is not None:
        return nonideal_jacobian_blocks(circ, x)
    net = circ.network()
    L = circ.n_layers
    g0 = circ.hardware.g0_S
    batch = x[0].shape[0]
    diag, upper, lower = [], [], []
    for l in range(L + 1):
        n = circ.sizes[l]
        idx = np.arange(n)
        D = np.zeros((batch, n, n))
        if l > 0:
            D[:, idx, idx] -= circ.layers[l - 1].g_spring_S
        if l < L:
            W = circ.forward_weights(l + 1)  # (n_{l+1}, n_l)
            Wfb = circ.feedback_weights(l + 1)  # (n_l, n_{l+1})
            pi = circ.precisions(l + 1)
            act = net.phi(l)
            d1, d2 = act.df(x[l]), act.d2f(x[l])
            eps = _eps(circ, x, l + 1, act)
            s = (pi * eps) @ Wfb.T  # (B, n_l)
            D[:, idx, idx] += g0 * d2 * s
            # g0 diag(phi') Wfb diag(pi) (-W diag(phi'))
            A = (Wfb * pi)[None] * d1[:, :, None]  # (B, n_l, n_{l+1})
            f = np.flatnonzero(circ.clamp.free[l])  # rows of free units: all a consumer reads
            D[:, f] -= g0 * (A[:, f] @ W) * d1[:, None, :]
            upper.append(g0 * A)
            g_spring = circ.layers[l].g_spring_S
            lower.append((g_spring[:, None] * W)[None] * d1[:, None, :])
        diag.append(D)
    return diag, upper, lower


class FreeIndex:
    """Packs the free units of a batched state into one flat vector and back.

    The flat vector is sample-major: ``[sample 0 free units, sample 1 ..., ...]``,
    within a sample layer by layer.
    """

    def __init__(self, circ: Circuit):
        self.circuit = circ
        self.blocks = [(l, np.flatnonzero(f)) for l, f in enumerate(circ.clamp.free) if f.any()]
        self.n_free = sum(idx.size for _, idx in self.blocks)
        self.batch = circ.batch
        offs = np.cumsum([0] + [idx.size for _, idx in self.blocks])
        self.offsets = offs

    @property
    def size(self) -> int:
        return self.n_free * self.batch

    def pack(self, x: State) -> np.ndarray:
        if not self.blocks:
            return np.zeros(0)
        return np.concatenate([x[l][:, idx] for l, idx in self.blocks], axis=1).ravel()

    def pack_many(self, traj: State) -> np.ndarray:
        """``(n_t, batch, n_free)`` from per-layer ``(n_t, batch, n_l)`` arrays."""
        if not self.blocks:
            return np.zeros(traj[0].shape[:2] + (0,))
        return np.concatenate([traj[l][:, :, idx] for l, idx in self.blocks], axis=2)

    def unpack(self, y: np.ndarray, base: State | None = None) -> State:
        """A full state: clamped units from ``base`` (default the IR's ``x_init``)."""
        base = self.circuit.x_init if base is None else base
        x = [np.array(v, dtype=float) for v in base]
        Y = y.reshape(self.batch, self.n_free)
        for k, (l, idx) in enumerate(self.blocks):
            x[l][:, idx] = Y[:, self.offsets[k] : self.offsets[k + 1]]
        return tuple(x)

    def unpack_many(self, Y: np.ndarray) -> State:
        """Per-layer ``(n_t, batch, n_l)`` from ``(n_t, batch * n_free)``."""
        n_t = Y.shape[0]
        Y = Y.reshape(n_t, self.batch, self.n_free)
        out = [np.broadcast_to(v, (n_t,) + v.shape).copy() for v in self.circuit.x_init]
        for k, (l, idx) in enumerate(self.blocks):
            out[l][:, :, idx] = Y[:, :, self.offsets[k] : self.offsets[k + 1]]
        return tuple(out)

    def sparse(self, diag, upper, lower) -> sp.csr_matrix:
        """The free-unit Jacobian of the whole batch as one sparse matrix (block diagonal
        over samples, block tridiagonal within a sample)."""
        rows, cols, vals = [], [], []
        B, N = self.batch, self.n_free
        base = (np.arange(B) * N)[:, None, None]

        def put(block, ra, ca):
            r = base + ra[None, :, None] + np.zeros((1, 1, ca.size), int)
            c = base + ca[None, None, :] + np.zeros((1, ra.size, 1), int)
            rows.append(r.ravel())
            cols.append(c.ravel())
            vals.append(block.ravel())

        for k, (l, idx) in enumerate(self.blocks):
            ra = np.arange(self.offsets[k], self.offsets[k + 1])
            put(diag[l][:, idx[:, None], idx[None, :]], ra, ra)
            if k + 1 < len(self.blocks) and self.blocks[k + 1][0] == l + 1:
                idx2 = self.blocks[k + 1][1]
                rb = np.arange(self.offsets[k + 1], self.offsets[k + 2])
                put(upper[l][:, idx[:, None], idx2[None, :]], ra, rb)
                put(lower[l][:, idx2[:, None], idx[None, :]], rb, ra)
        if not rows:
            return sp.csr_matrix((0, 0))
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(B * N, B * N),
        )

    def dense_blocks(self, diag, upper, lower) -> np.ndarray:
        """The same Jacobian as :meth:`sparse`, as its per-sample dense blocks
        ``(batch, n_free, n_free)`` (rows and columns in the packed order)."""
        B, N = self.batch, self.n_free
        out = np.zeros((B, N, N))
        for k, (l, idx) in enumerate(self.blocks):
            ra = slice(self.offsets[k], self.offsets[k + 1])
            out[:, ra, ra] = diag[l][:, idx[:, None], idx[None, :]]
            if k + 1 < len(self.blocks) and self.blocks[k + 1][0] == l + 1:
                idx2 = self.blocks[k + 1][1]
                rb = slice(self.offsets[k + 1], self.offsets[k + 2])
                out[:, ra, rb] = upper[l][:, idx[:, None], idx2[None, :]]
                out[:, rb, ra] = lower[l][:, idx2[:, None], idx[None, :]]
        return out


class PackedCurrents:
    """``y -> I(y) / g0`` on the packed free units of an ideal circuit, constants cached.

    The same arithmetic, in the same order, as
    ``fi.pack(node_currents(circ, fi.unpack(y), free_only=True)) / g0`` (bit-identical),
    without the per-call work that does not depend on ``y``: the clamped layers' states,
    activations and predictions ``phi(x_{l-1}) W_l^T + b_l`` (computed once), the
    effective weights, and the copy of the whole ``x_init`` per call.  Only for circuits
    whose KCL is :func:`node_currents`' ideal branch (:meth:`applies`).
    """

    @staticmethod
    def applies(circ: Circuit) -> bool:
        return circ.amplifiers is None and (circ.crossbar is None or circ.ideal)

    def __init__(self, circ: Circuit, fi: FreeIndex):
        net = circ.network()
        L = self.L = circ.n_layers
        self.fi, self.g0 = fi, circ.hardware.g0_S
        self.acts = [net.phi(l) for l in range(L)] + [None]
        self.W = [None] + [circ.forward_weights(l) for l in range(1, L + 1)]
        self.WT = [None] + [w.T for w in self.W[1:]]
        self.WfbT = [None] + [circ.feedback_weights(l).T for l in range(1, L + 1)]
        self.b = [None] + [circ.biases(l) for l in range(1, L + 1)]
        self.pi = [None] + [circ.precisions(l) for l in range(1, L + 1)]
        self.gs = [None] + [circ.layers[l - 1].g_spring_S for l in range(1, L + 1)]
        self.need = [bool(f.any()) for f in circ.clamp.free]
        self.base = [np.array(v, dtype=float) for v in circ.x_init]
        self.free_of = {l: (k, idx) for k, (l, idx) in enumerate(fi.blocks)}
        # a fully free layer is read and written as a slice (no fancy-index copies)
        self.whole = {l: idx.size == circ.sizes[l] for l, (k, idx) in self.free_of.items()}
        # predictions of layers whose parent layer is clamped: constant
        self.pred = [None] * (L + 1)
        for l in range(1, L + 1):
            if not self.need[l - 1]:
                self.pred[l] = self.acts[l - 1].f(self.base[l - 1]) @ self.WT[l] + self.b[l]

    def _state(self, y: np.ndarray) -> list:
        fi = self.fi
        Y = y.reshape(fi.batch, fi.n_free)
        x = list(self.base)
        for l, (k, idx) in self.free_of.items():
            cols = Y[:, fi.offsets[k] : fi.offsets[k + 1]]
            if self.whole[l]:
                x[l] = np.ascontiguousarray(cols) if len(self.free_of) > 1 else cols.copy()
                continue
            v = self.base[l].copy()
            v[:, idx] = cols
            x[l] = v
        return x

    def __call__(self, y: np.ndarray) -> np.ndarray:
        L, need, acts = self.L, self.need, self.acts
        x = self._state(y)
        f = [None] * (L + 1)
        df = [None] * (L + 1)
        for l in range(L + 1):
            if need[l]:  # phi for the next layer's prediction, phi' for the current
                if l < L:
                    f[l], df[l] = acts[l].f_df(x[l])
            elif l < L and (need[l + 1]) and self.pred[l + 1] is None:
                f[l] = acts[l].f(x[l])
        eps = [None] * (L + 1)
        for l in range(1, L + 1):
            if need[l] or need[l - 1]:
                pred = self.pred[l]
                if pred is None:
                    pred = f[l - 1] @ self.WT[l] + self.b[l]
                eps[l] = x[l] - pred
        parts = []
        for l, (_k, idx) in self.free_of.items():
            I = np.zeros_like(x[l])
            if l > 0:
                I -= self.gs[l] * eps[l]
            if l < L:
                u = self.pi[l + 1] * eps[l + 1]
                I += self.g0 * df[l] * (u @ self.WfbT[l + 1])
            parts.append(I if self.whole[l] else I[:, idx])
        if len(parts) == 1:
            return (parts[0] / self.g0).ravel()
        return np.concatenate(parts, axis=1).ravel() / self.g0


def residual_max(circ: Circuit, fi: FreeIndex, x: State) -> np.ndarray:
    """Per-sample ``max |I| / g0`` over free units: ``max |dF/dx|`` for ideal devices."""
    if fi.n_free == 0:
        return np.zeros(circ.batch)
    I = fi.pack(node_currents(circ, x)).reshape(circ.batch, fi.n_free)
    return np.abs(I).max(axis=1) / circ.hardware.g0_S


def energy_trace(circ: Circuit, traj: State) -> np.ndarray:
    """``F`` along a transient: ``(n_t, batch)`` from per-layer ``(n_t, batch, n_l)`` arrays."""
    n_t = traj[0].shape[0]
    flat = tuple(v.reshape(n_t * circ.batch, -1) for v in traj)
    return energy(circ.network(), flat).reshape(n_t, circ.batch)
