"""Crossbar-level physics: wire resistance and non-ideal transimpedance readouts.

A circuit simulated at the crossbar level carries a :class:`CrossbarModel` (the
``wire_r_ohm`` of SPEC section 5); every backend then sees the same physics:

**Wires.**  Every crossbar row and column is a resistor ladder of segments
``R = wire_r_ohm`` (one segment per cell, rows and columns alike).  In a crossbar with
rows ``j = 0..J-1`` and physical columns ``k = 0..K-1`` (forward: ``a0, an0, a1, an1,
..., one, onen``; feedback: ``u0, un0, ...``) column ``k`` runs from its driver through
the taps ``cw<l>_<j>_<k>`` of rows ``0, 1, ..., J-1`` (one segment before each tap); row
``j`` runs from the taps ``rw<l>_<j>_<0..K-1>`` to its readout's input ``r<l>_<j>`` (one
segment after each tap).  Cell ``(j, k)`` connects ``cw_j_k`` to ``rw_j_k``.  Feedback
crossbars use ``ck``/``rk`` (rows: the free units of layer ``l-1``, as in the deck).

**Readouts.**  A row readout is a transimpedance amplifier: an op-amp of open-loop gain
``A`` whose inverting input is the row node ``r`` and whose non-inverting input sits at
its offset ``V_os``, feedback resistor ``1/g_unit`` from ``r`` to its output ``o``,
``v(o) = A (V_os - v(r))``, followed by an inverting output stage that saturates at
``+-rail``: ``m = clip(-v(o))``.  KCL at ``r`` with ``I`` the current the crossbar
delivers into ``r`` gives, with ``k = 1/A``,

    v(r) = V_os + k m_lin,    (k D + g_unit (1+k)) m_lin = I_sc - (D + g_unit) V_os

where ``I = I_sc - D v(r)`` (``I_sc``: the short-circuit current, ``D``: the crossbar's
row self-admittance; without wires ``I_sc = S c``, ``D = diag(S 1)``).  ``A`` infinite
(``k = 0``): ``v(r) = V_os`` exactly and ``m_lin = I/g_unit - V_os``; every
non-ideality off: ``m = I/g_unit``, today's readout.  The rail clips the output stage
only (the transimpedance core is linear).  The offsets are the amplifiers' record
(:class:`~pc_analog.circuit.amplifiers.Amplifiers`): a forward row's readout takes the
prediction offset of its unit, a feedback row's readout the feedback-sum offset; error
buffers are as at the behavioural level; column drivers and the ``phi'`` multiplier are
ideal.

:class:`NodalSolve` solves a crossbar group's mesh from its elements' stamps (the
inventory's element-by-element KCL); the solvers reduce the same mesh once per
conductance state (:mod:`pc_analog.solvers._crossbar`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pc_analog.circuit import _text as t
from pc_analog.circuit.elements import Element, RowReadout, _add, _g_unit
from pc_analog.errors import InvalidInputError

__all__ = [
    "CrossbarModel",
    "WireSegment",
    "TiaReadout",
    "NodalSolve",
    "at_crossbar_level",
    "forward_columns",
    "ladder",
]


@dataclass(frozen=True)
class CrossbarModel:
    """The circuit is simulated at the crossbar level (every backend).

    Attributes
    ----------
    wire_r_ohm : float
        Resistance of one wire segment between adjacent cells (``>= 0``; 0: ideal wires).
    """

    wire_r_ohm: float = 0.0

    def __post_init__(self) -> None:
        r = self.wire_r_ohm
        ok = isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r)
        if not (ok and r >= 0):
            raise InvalidInputError(f"wire_r_ohm: must be a finite number >= 0, got {r!r}")
        object.__setattr__(self, "wire_r_ohm", float(r))

    @property
    def wires(self) -> bool:
        return self.wire_r_ohm > 0.0


def at_crossbar_level(circuit, wire_r_ohm: float = 0.0):
    """``circuit`` simulated at the crossbar level with wire segments of ``wire_r_ohm``."""
    import dataclasses

    return dataclasses.replace(circuit, crossbar=CrossbarModel(wire_r_ohm))


def forward_columns(l: int, n_in: int) -> list[str]:
    """Physical columns of layer ``l``'s forward crossbar: ``a0, an0, ..., one, onen``."""
    out = []
    for i in range(n_in):
        out += [f"a{l - 1}_{i}", f"an{l - 1}_{i}"]
    return out + ["one", "onen"]


def ladder(prefix: str, l: int, rows: list[int], cols: list[str], ports: list[str], g_w: float):
    """The wire segments of one crossbar and its cell taps.

    Returns ``(segments, col_tap, row_tap)``: the :class:`WireSegment` list (columns
    first, then rows) and functions ``(j, k) -> node`` of the taps.  ``rows`` are the
    row indices (for node names), ``ports`` the readout input nodes, ``cols`` the
    driven column nodes.
    """
    c, r = ("cw", "rw") if prefix == "w" else ("ck", "rk")

    def col_tap(j, k):
        return f"{c}{l}_{rows[j]}_{k}"

    def row_tap(j, k):
        return f"{r}{l}_{rows[j]}_{k}"

    segs = []
    for k, col in enumerate(cols):
        prev = col
        for j in range(len(rows)):
            segs.append(WireSegment(prev, col_tap(j, k), g_w))
            prev = col_tap(j, k)
    for j, port in enumerate(ports):
        for k in range(len(cols)):
            nxt = row_tap(j, k + 1) if k + 1 < len(cols) else port
            segs.append(WireSegment(row_tap(j, k), nxt, g_w))
    return segs, col_tap, row_tap


@dataclass(frozen=True)
class WireSegment(Element):
    """One crossbar wire segment: a conductance ``1/wire_r_ohm`` between nodes ``a``, ``b``.

    Current ``g (v(a) - v(b))`` flows from ``a`` to ``b``; it dissipates ``g (v(a)-v(b))^2``.
    """

    kind: ClassVar[str] = "wire_segments"
    stage: ClassVar[int] = 1
    a: str
    b: str
    g_S: float

    def spice(self, circuit, sample):
        """``R = {r_wire}`` (the deck's ``.param``) when it is the circuit's segment."""
        model = circuit.crossbar
        same = model is not None and model.wires and self.g_S == 1.0 / model.wire_r_ohm
        value = "{r_wire}" if same else t.num(1.0 / self.g_S)
        return [f"Rw_{self.a}_{self.b} {self.a} {self.b} {value}"]

    def stamp(self):
        return self.a, self.b, self.g_S

    def evaluate(self, v, i):
        cur = self.g_S * (v[self.a] - v[self.b])
        _add(i, self.a, -cur)
        _add(i, self.b, cur)

    @classmethod
    def evaluate_all(cls, elements, v, i, prepared=None):
        if not elements:
            return
        nodes, ia, ib, g = prepared or cls.prepare(elements)
        shape = np.broadcast_shapes(*(np.shape(v[n]) for n in nodes))
        V = np.stack([np.broadcast_to(np.asarray(v[n], dtype=float), shape) for n in nodes])
        cur = g[:, None] * (V[ia] - V[ib]) if V.ndim == 2 else g * (V[ia] - V[ib])
        acc = np.zeros_like(V)
        np.add.at(acc, ia, -cur)
        np.add.at(acc, ib, cur)
        for k, n in enumerate(nodes):
            _add(i, n, acc[k])

    @classmethod
    def prepare(cls, elements):
        nodes = list(dict.fromkeys(n for e in elements for n in (e.a, e.b)))
        idx = {n: k for k, n in enumerate(nodes)}
        ia = np.array([idx[e.a] for e in elements])
        ib = np.array([idx[e.b] for e in elements])
        return nodes, ia, ib, np.array([e.g_S for e in elements])

    def power_W(self, v):
        return self.g_S * (v[self.a] - v[self.b]) ** 2

    @classmethod
    def power_all(cls, elements, v, prepared=None):
        total = 0.0
        for e in elements:
            total = total + e.power_W(v)
        return total

    def area_m2(self, spec) -> float:
        return 0.0  # the wires run over the cells

    def edge(self, circuit, sample):
        return self.a, self.b, {"element": "wire_segment", "value": self.g_S, "unit": "S"}


@dataclass(frozen=True)
class TiaReadout(RowReadout):
    """A non-ideal row readout (module docstring): op-amp of open-loop gain ``gain_A``
    (``None``: infinite; the row is then held at ``offset_V`` by its virtual ground)
    with input offset ``offset_V``, feedback ``1/g_unit`` and an output stage clipped at
    ``+-rail_V``."""

    gain_A: float | None = None
    offset_V: float = 0.0
    rail_V: float | None = None

    @property
    def amplifiers(self) -> int:  # the op-amp and (finite gain) its output stage
        return 1 if self.gain_A is None else 2

    def _clip(self, expr: str) -> str:
        if self.rail_V is None:
            return expr
        r = t.num(self.rail_V)
        return f"min(max({expr},-{r}),{r})"

    def spice(self, circuit, sample):
        gu, _ = _g_unit(circuit, self.layer)
        os = t.num(self.offset_V)
        if self.gain_A is None:
            lin = f"i(V{self.row})/{gu}" + (f"-({os})" if self.offset_V else "")
            return [f"B{self.out} {self.out} 0 V={self._clip(lin)}"]
        o = f"o{self.row}"
        return [
            f"Rf{self.row} {self.row} {o} {{1/{gu}}}",
            f"B{o} {o} 0 V={t.num(self.gain_A)}*({os}-v({self.row}))",
            f"B{self.out} {self.out} 0 V={self._clip(f'-v({o})')}",
        ]

    @classmethod
    def subcircuits(cls, elements):
        return {}

    def stamp_tia(self):
        """Finite gain: ``(node, G to ground, current source into node)`` of the op-amp
        and its feedback resistor seen from the row: ``g (A+1)`` and ``g A V_os``."""
        A, g = self.gain_A, self.g_unit_S
        return self.row, g * (A + 1.0), g * A * self.offset_V

    def _lin(self, v, i):
        if self.gain_A is None:
            return (1.0 / self.g_unit_S) * i.get(self.row, 0.0) - self.offset_V
        return self.gain_A * (v[self.row] - self.offset_V)

    def evaluate(self, v, i):
        lin = self._lin(v, i)
        if self.gain_A is not None:  # the feedback resistor's current into the row
            _add(i, self.row, self.g_unit_S * (-lin - v[self.row]))
        v[self.out] = lin if self.rail_V is None else np.clip(lin, -self.rail_V, self.rail_V)

    def power_W(self, v):
        if self.gain_A is None:
            return 0.0
        vo = self.gain_A * (self.offset_V - v[self.row])
        return self.g_unit_S * (vo - v[self.row]) ** 2


class NodalSolve:
    """Not an element: the nodal solve of one crossbar group's mesh (wire taps and, with
    finite-gain readouts, the row nodes) from its elements' stamps, run between the
    sources (stage 0) and the conductances (stage 1) of :meth:`Inventory.evaluate`.

    Known nodes are those already driven when it runs (columns, bias, virtual grounds);
    ``G_uu v_u = -G_uk v_k + I_src`` is factorised once (sparse LU) and cached.
    """

    kind: ClassVar[str] = "nodal_solve"
    stage: ClassVar[float] = 0.5

    @classmethod
    def prepare(cls, elements):
        stamps, diag, src = [], {}, {}
        for e in elements:
            if isinstance(e, WireSegment):
                stamps.append(e.stamp())
            elif e.kind == "crossbar_cells":
                stamps.append((e.col, e.row, e.g_S))
            elif isinstance(e, TiaReadout) and e.gain_A is not None:
                n, g, s = e.stamp_tia()
                diag[n], src[n] = g, s
        return {"stamps": stamps, "diag": diag, "src": src, "lu": None}

    @classmethod
    def evaluate_all(cls, elements, v, i, prepared=None):
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        p = prepared if prepared is not None else cls.prepare(elements)
        if p["lu"] is None:
            nodes = list(dict.fromkeys(n for a, b, _ in p["stamps"] for n in (a, b)))
            nodes += [n for n in p["diag"] if n not in nodes]
            unknown = [n for n in nodes if n not in v]
            known = [n for n in nodes if n in v]
            ui = {n: k for k, n in enumerate(unknown)}
            ki = {n: k for k, n in enumerate(known)}
            r, c, g = [], [], []  # full conductance matrix over unknown + known (offset)
            nu = len(unknown)

            def idx(n):
                return ui[n] if n in ui else nu + ki[n]

            for a, b, gab in p["stamps"]:
                ia, ib = idx(a), idx(b)
                r += [ia, ib, ia, ib]
                c += [ia, ib, ib, ia]
                g += [gab, gab, -gab, -gab]
            for n, gd in p["diag"].items():
                r.append(idx(n))
                c.append(idx(n))
                g.append(gd)
            Gm = sp.csr_matrix((g, (r, c)), shape=(nu + len(known),) * 2)
            src = np.zeros(nu)
            for n, s in p["src"].items():
                src[ui[n]] += s
            p.update(
                lu=spla.splu(Gm[:nu, :nu].tocsc()), G_uk=Gm[:nu, nu:], src=src,
                unknown=unknown, known=known,
            )  # fmt: skip
        if not p["unknown"]:
            return
        shape = np.broadcast_shapes(*(np.shape(v[n]) for n in p["known"]))
        Vk = np.stack([np.broadcast_to(np.asarray(v[n], dtype=float), shape) for n in p["known"]])
        Vk2 = Vk.reshape(len(p["known"]), -1)
        rhs = p["src"][:, None] - p["G_uk"] @ Vk2
        Vu = p["lu"].solve(np.ascontiguousarray(rhs))
        for k, n in enumerate(p["unknown"]):
            v[n] = Vu[k].reshape(shape)

    @classmethod
    def power_all(cls, elements, v, prepared=None):
        return 0.0
