"""The element kinds of the circuit inventory: one class per kind, each owning its SPICE text,
its equation, its cost and its graph edge (see :mod:`pc_analog.circuit.inventory` for the
counting rule that decides which elements exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pc_analog.circuit import _text as t
from pc_analog.circuit._text import node_name as _name
from pc_analog.circuit.amplifiers import Amp, amp_subcircuit, block_spice
from pc_analog.model.activations import Activation

#: A :class:`~pc_analog.circuit.ir.Circuit` (not imported: the IR imports the inventory).
Circuit = Any

__all__ = [
    "LEVELS", "KINDS", "G_MIN", "Element", "NodeCapacitor", "ClampSource", "Spring",
    "PredictionSource", "ErrorBuffer", "FeedbackSource", "BiasDrive", "ColumnDriver",
    "VirtualGround", "CrossbarCell", "RowReadout",
]  # fmt: skip

LEVELS = ("behavioural", "crossbar")
#: Conductances at or below this are open circuits (their resistance is not a finite double).
G_MIN = 1e-300


# --------------------------------------------------------------------------- elements
@dataclass(frozen=True)
class Element:
    """Base of every element kind.  ``kind`` is the key of :attr:`Inventory.counts`."""

    kind: ClassVar[str] = "element"
    #: Active stages (controlled sources) the element is built from.
    amplifiers: ClassVar[int] = 0
    #: Evaluation order within a group: 0 drives a voltage from voltages, 1 conducts,
    #: 2 reads a current (a readout) or injects one from voltages set before.
    stage: ClassVar[int] = 0

    @classmethod
    def prepare(cls, elements):
        """Whatever :meth:`evaluate_all` and :meth:`power_all` reuse across calls (or None)."""
        return None

    @classmethod
    def evaluate_all(cls, elements, v: dict, i: dict, prepared=None) -> None:
        """:meth:`evaluate` of many elements of this kind (a kind may vectorise it)."""
        for e in elements:
            e.evaluate(v, i)

    @classmethod
    def power_all(cls, elements, v: dict, prepared=None):
        """Summed :meth:`power_W` of many elements of this kind."""
        total = 0.0
        for e in elements:
            total = total + e.power_W(v)
        return total

    def spice(self, circuit: Circuit, sample: int) -> list[str]:
        """The element's lines in the ngspice deck (instance lines of its subcircuit, if it
        has one; an element that is part of a multi-element cell writes nothing and its
        cell's lead element writes the instance)."""
        raise NotImplementedError

    @classmethod
    def subcircuits(cls, elements) -> dict[str, list[str]]:
        """The ``.subckt`` definitions (name -> lines) the deck needs for ``elements``."""
        return {}

    def evaluate(self, v: dict, i: dict) -> None:
        """Its constitutive equation: set driven node voltages in ``v`` or add the
        currents it injects to ``i`` (amperes into each node), arrays over samples."""

    def power_W(self, v: dict):
        """Dissipation (watts) at node voltages ``v``; 0 for ideal sources."""
        return 0.0

    def area_m2(self, spec) -> float:
        """Area (m^2) under an analog spec (``amp_area_m2``, ``cell_area_m2``, ...)."""
        return self.amplifiers * spec.amp_area_m2

    def edge(self, circuit: Circuit, sample: int) -> tuple[str, str, dict]:
        """``(from node, to node, attributes)`` of the element in the graph view."""
        raise NotImplementedError


def _g_unit(circuit, layer: int) -> tuple[str, float]:
    """The ``.param`` name of layer ``layer``'s unit conductance (``g_unit``, or ``gu<l>``
    for a layer with its own) and its value."""
    if layer == 0 or circuit.layers[layer - 1].g_unit_S is None:
        return "g_unit", circuit.hardware.g_unit_S
    return f"gu{layer}", circuit.g_unit(layer)


def g_unit_params(circuit) -> list[str]:
    """``gu<l>=...`` for every layer with its own unit conductance."""
    return [
        f"gu{l}={t.num(layer.g_unit_S)}"
        for l, layer in enumerate(circuit.layers, start=1)
        if layer.g_unit_S is not None
    ]


def _add(i: dict, node: str, current) -> None:
    i[node] = i.get(node, 0.0) + current


@dataclass(frozen=True)
class NodeCapacitor(Element):
    """``C`` from a free activity node to ground: ``C dx/dt = sum of the currents into x``."""

    kind: ClassVar[str] = "capacitors"
    #: Its line inside the ``pc_unit`` cell (:class:`ErrorBuffer`).
    CELL: ClassVar[str] = "C1 x 0 {C}"
    node: str
    c_F: float
    #: Part of a free unit's ``pc_unit`` cell (written by its :class:`ErrorBuffer`).
    in_unit: bool = False

    def spice(self, circuit, sample):
        if self.in_unit:
            return []
        c = "{C}" if self.c_F == circuit.hardware.c_F else t.num(self.c_F)
        return [f"C{self.node} {self.node} 0 {c}"]

    def area_m2(self, spec) -> float:
        return self.c_F / spec.cap_density_F_per_m2

    def edge(self, circuit, sample):
        return self.node, "0", {"element": "capacitor", "value": self.c_F, "unit": "F"}


@dataclass(frozen=True)
class ClampSource(Element):
    """An ideal DC source holding a clamped unit at its value (from the stimulus)."""

    kind: ClassVar[str] = "clamps"
    layer: int
    index: int

    @property
    def node(self) -> str:
        return _name("x", self.layer, self.index)

    def value(self, circuit, sample: int) -> float:
        return float(circuit.x_init[self.layer][sample, self.index])

    def spice(self, circuit, sample):
        x = self.node
        return [f"V{x} {x} 0 DC {t.num(self.value(circuit, sample))}"]

    def edge(self, circuit, sample):
        return (
            self.node,
            "0",
            {"element": "clamp", "value": self.value(circuit, sample), "unit": "V"},
        )


@dataclass(frozen=True)
class Spring(Element):
    """The error spring: a conductance ``pi_j g0`` from ``x<l>_<j>`` to ``m<l>_<j>``.

    ``I = pi g0 (v(x) - v(m))`` leaves ``x``; it dissipates ``pi g0 eps^2``.
    """

    kind: ClassVar[str] = "springs"
    stage: ClassVar[int] = 1
    layer: int
    index: int
    g_S: float

    def _nodes(self):
        return _name("x", self.layer, self.index), _name("m", self.layer, self.index)

    def spice(self, circuit, sample):
        """``R = 1/(prec*g0)``, ``prec = g/g0`` the unit's precision.  A top-level line, not
        part of the ``pc_unit`` cell: PySpice 1.5's parser loses the subcircuit name of an
        instance line that passes a parameter (``X... pc_unit prec=2``), and the cell
        would need one per unit."""
        x, m = self._nodes()
        prec = self.g_S / circuit.hardware.g0_S
        value = "{1/g0}" if t.num(prec) == "1" else f"{{1/({t.num(prec)}*g0)}}"
        return [f"Rs{self.layer}_{self.index} {x} {m} {value}"]

    def evaluate(self, v, i):
        x, m = self._nodes()
        cur = self.g_S * (v[x] - v[m])
        _add(i, x, -cur)
        _add(i, m, cur)

    def power_W(self, v):
        x, m = self._nodes()
        return self.g_S * (v[x] - v[m]) ** 2

    def edge(self, circuit, sample):
        x, m = self._nodes()
        return x, m, {"element": "spring", "value": self.g_S, "unit": "S"}


@dataclass(frozen=True, eq=False)
class PredictionSource(Element):
    """Behavioural prediction ``v(m<l>_<j>) = sum_i W_ji phi(v(x<l-1>_i)) + b_j``; a
    non-ideal ``amp`` makes it ``clip(A/(1+A) (that + V_os))``, ``phi_err = (g, o)`` (per
    input) each ``phi`` ``(1 + g_i) phi + o_i`` (:mod:`.amplifiers`)."""

    kind: ClassVar[str] = "predictions"
    amplifiers: ClassVar[int] = 1
    layer: int
    index: int
    weights: np.ndarray  # row j of W_l
    bias: float
    activation: Activation
    amp: Amp | None = None
    phi_err: tuple | None = None

    def spice(self, circuit, sample):
        l, j, m = self.layer, self.index, _name("m", self.layer, self.index)
        g, o = self.phi_err or (np.zeros(self.weights.size),) * 2
        xs = [t.v(_name("x", l - 1, i)) for i in range(self.weights.size)]
        acts = [block_spice(self.activation.spice_of(a), g[i], o[i]) for i, a in enumerate(xs)]
        partial, expr = t.fan_in(list(zip(self.weights, acts)), self.bias, f"pm{l}_{j}")
        return partial + (self.amp.lines(m, expr) if self.amp else [f"B{m} {m} 0 V={expr}"])

    @classmethod
    def subcircuits(cls, elements):
        return amp_subcircuit(next((e.amp for e in elements if e.amp is not None), None))

    def evaluate(self, v, i):
        total, (g, o) = self.bias, self.phi_err or (None, None)
        for k, w in enumerate(self.weights):
            if w != 0.0:
                a = self.activation.f(v[_name("x", self.layer - 1, k)])
                total = total + w * (a if g is None else (1.0 + g[k]) * a + o[k])
        v[_name("m", self.layer, self.index)] = total if self.amp is None else self.amp.apply(total)

    def edge(self, circuit, sample):
        return _name("m", self.layer, self.index), "0", {"element": "prediction"}


@dataclass(frozen=True)
class ErrorBuffer(Element):
    """``v(e<l>_<j>) = v(x<l>_<j>) - v(m<l>_<j>)``, buffered (feedback and Hebbian read); a
    non-ideal ``amp`` makes it ``clip(A/(1+A) (v(x) - v(m) + V_os))`` (:mod:`.amplifiers`)."""

    kind: ClassVar[str] = "error_buffers"
    amplifiers: ClassVar[int] = 1
    layer: int
    index: int
    #: Part of a free unit: its ``pc_unit`` cell (node capacitor and error buffer).
    in_unit: bool = False
    amp: Amp | None = None

    def spice(self, circuit, sample):
        """A ``pc_unit`` (free) or ``pc_error`` (clamped) cell; a top-level B source when
        non-ideal (its offset is per unit; cells take no parameters, :meth:`Spring.spice`)."""
        l, j = self.layer, self.index
        x, m, e = _name("x", l, j), _name("m", l, j), _name("e", l, j)
        if self.amp is not None:
            return self.amp.lines(e, f"v({x})-v({m})")
        if self.in_unit:
            return [f"X{x} {x} {m} {e} pc_unit"]
        return [f"X{e} {x} {m} {e} pc_error"]

    @classmethod
    def subcircuits(cls, elements):
        if all(e.amp is not None for e in elements):
            return amp_subcircuit(elements[0].amp)
        out = {"pc_error": t.subckt("pc_error", "x m e", ["B1 e 0 V=v(x)-v(m)"])}
        if any(e.in_unit for e in elements):
            body = [NodeCapacitor.CELL, "X1 x m e pc_error"]
            out["pc_unit"] = t.subckt("pc_unit", "x m e", body)
        return out

    def evaluate(self, v, i):
        l, j = self.layer, self.index
        err = v[_name("x", l, j)] - v[_name("m", l, j)]
        v[_name("e", l, j)] = err if self.amp is None else self.amp.apply(err)

    def edge(self, circuit, sample):
        return _name("e", self.layer, self.index), "0", {"element": "error_buffer"}


@dataclass(frozen=True, eq=False)
class FeedbackSource(Element):
    """The ``phi'`` block: current ``g0 phi'(v(x)) sum_k c_k v(n_k)`` into free ``x<l>_<i>``.

    Behavioural: ``n_k = e<l+1>_<k>``, ``c_k = Wfb_ik pi_k``.  Crossbar: one term,
    the feedback row's readout ``s<l>_<i>`` with ``c = 1``.  A non-ideal ``amp`` sums at
    ``v(s) = clip(A/(1+A) (sum_k c_k v(n_k) + V_os))``, then ``g0 phi'(v(x)) v(s)`` (an
    ideal multiplier; :mod:`.amplifiers`); ``dphi_err = (g, o)`` makes the block
    ``(1 + g) phi' + o`` (a top-level B source: its numbers are per unit).
    """

    kind: ClassVar[str] = "feedback_sources"
    amplifiers: ClassVar[int] = 1
    stage: ClassVar[int] = 2
    layer: int
    index: int
    g0_S: float
    activation: Activation
    coefs: np.ndarray
    inputs: tuple[str, ...]
    amp: Amp | None = None
    dphi_err: tuple[float, float] | None = None

    def spice(self, circuit, sample):
        """The ``phi'`` block ``pc_dphi_<act>`` fed by node ``s<l>_<i>``: the crossbar's
        feedback-row readout, or (behavioural) a B source summing ``c_k v(n_k)``."""
        l, i = self.layer, self.index
        x = _name("x", l, i)
        cell = f"Xf{x} {x} {{s}} pc_dphi_{self.activation.name}"
        if self.dphi_err is not None:
            d = block_spice(self.activation.spice_of(t.v(x), 1), *self.dphi_err)
            cell = f"Bf{x} 0 {x} I=g0*{d}*v({{s}})"
        if len(self.inputs) == 1 and self.coefs[0] == 1.0 and self.amp is None:
            return [cell.format(s=self.inputs[0])]
        s = _name("s", l, i)
        terms = [(c, t.v(n)) for c, n in zip(self.coefs, self.inputs)]
        partial, expr = t.fan_in(terms, 0.0, f"pf{l}_{i}")
        src = [f"B{s} {s} 0 V={expr}"] if self.amp is None else self.amp.lines(s, expr)
        return partial + src + [cell.format(s=s)]

    @classmethod
    def subcircuits(cls, elements):
        out = amp_subcircuit(elements[0].amp)
        for e in (e for e in elements if e.dphi_err is None):
            name = f"pc_dphi_{e.activation.name}"
            if name not in out:
                d = e.activation.spice_of("v(x)", 1)
                gain = "g0" if d == "1" else f"g0*{d}"
                out[name] = t.subckt(name, "x s", [f"B1 0 x I={gain}*v(s)"])
        return out

    def evaluate(self, v, i):
        x = _name("x", self.layer, self.index)
        s = 0.0
        for c, n in zip(self.coefs, self.inputs):
            if c != 0.0:
                s = s + c * v[n]
        if self.amp is not None:
            s = self.amp.apply(s)
        d = self.activation.df(v[x])
        if self.dphi_err is not None:
            d = (1.0 + self.dphi_err[0]) * d + self.dphi_err[1]
        _add(i, x, self.g0_S * d * s)

    def edge(self, circuit, sample):
        return "0", _name("x", self.layer, self.index), {"element": "feedback_source"}


@dataclass(frozen=True)
class BiasDrive(Element):
    """The bias columns' drive: ``one`` at 1 V and ``onen`` at -1 V (references)."""

    kind: ClassVar[str] = "bias_drives"

    def spice(self, circuit, sample):
        return ["Vone one 0 DC 1", "Vonen onen 0 DC -1"]

    def evaluate(self, v, i):
        v["one"], v["onen"] = 1.0, -1.0

    def edge(self, circuit, sample):
        return "one", "0", {"element": "bias_drive", "value": 1.0, "unit": "V"}


@dataclass(frozen=True, eq=False)
class ColumnDriver(Element):
    """A crossbar column pair: ``v(col) = f(v(src))`` and ``v(coln) = -v(col)`` (two stages).

    Forward (``role="forward"``): ``a<l-1>_<i> = phi(v(x<l-1>_<i>))``.  Feedback
    (``role="feedback"``): ``u<l>_<j> = pi_j v(e<l>_<j>)``.
    """

    kind: ClassVar[str] = "column_drivers"
    amplifiers: ClassVar[int] = 2
    role: str
    src: str
    col: str
    coln: str
    activation: Activation | None = None
    scale: float = 1.0

    def spice(self, circuit, sample):
        """Forward: a ``pc_phi_<act>`` cell.  Feedback: two B sources ``u = prec*v(e)`` and
        ``un = -u`` (a cell would need a parameter per column, see :meth:`Spring.spice`)."""
        if self.role == "forward":
            return [f"X{self.col} {self.src} {self.col} {self.coln} pc_phi_{self.activation.name}"]
        return [
            f"B{self.col} {self.col} 0 V={t.num(self.scale)}*{t.v(self.src)}",
            f"B{self.coln} {self.coln} 0 V=-{t.v(self.col)}",
        ]

    @classmethod
    def subcircuits(cls, elements):
        out = {}
        for e in elements:
            name = f"pc_phi_{e.activation.name}" if e.role == "forward" else None
            if name is not None and name not in out:
                body = [f"B1 a 0 V={e.activation.spice_of('v(x)')}", "B2 an 0 V=-v(a)"]
                out[name] = t.subckt(name, "x a an", body)
        return out

    def evaluate(self, v, i):
        x = v[self.src]
        a = self.activation.f(x) if self.role == "forward" else self.scale * x
        v[self.col], v[self.coln] = a, -a

    def edge(self, circuit, sample):
        return self.src, self.col, {"element": "column_driver", "role": self.role}


@dataclass(frozen=True)
class VirtualGround(Element):
    """A crossbar row held at ``value_V`` (0 V; an infinite-gain readout's offset) by its
    readout's input; the source measures its current (:mod:`pc_analog.circuit.wires`)."""

    kind: ClassVar[str] = "virtual_grounds"
    #: Its line inside the ``pc_row`` cell (:class:`RowReadout`).
    CELL: ClassVar[str] = "V1 r 0 DC 0"
    node: str
    value_V: float | None = None  # None: inside its row's pc_row cell or lines

    def spice(self, circuit, sample):
        if self.value_V is None:
            return []  # part of its row's pc_row cell or lines, written by the RowReadout
        return [f"V{self.node} {self.node} 0 DC {t.num(self.value_V)}"]

    def evaluate(self, v, i):
        v[self.node] = 0.0 if self.value_V is None else self.value_V

    def edge(self, circuit, sample):
        return self.node, "0", {"element": "virtual_ground", "value": 0.0, "unit": "V"}


_CELL_ROLES = {"w": "forward_cell", "b": "bias_cell", "k": "feedback_cell"}


@dataclass(frozen=True)
class CrossbarCell(Element):
    """One side of a differential pair: a conductance ``G`` from a column to a row.

    ``role``: ``"w"`` forward, ``"b"`` bias, ``"k"`` feedback; ``sign``: ``"+"`` or
    ``"-"``.  Current ``G (v(col) - v(row))`` enters the row; it dissipates
    ``G (v(col) - v(row))^2``.
    """

    kind: ClassVar[str] = "crossbar_cells"
    stage: ClassVar[int] = 1
    role: str
    sign: str
    cid: str
    col: str
    row: str
    g_S: float
    #: Its layer: the cell scales with that layer's unit conductance (``g_unit`` or ``gu<l>``).
    layer: int = 0

    def spice(self, circuit, sample):
        """``R = {1/(w*g_unit)}`` with ``w = G/g_unit`` (``gu<l>`` in a layer with its own):
        scaling ``g_unit`` scales every cell and readout gain together (same weights)."""
        side = "p" if self.sign == "+" else "n"
        gu, g = _g_unit(circuit, self.layer)
        value = f"{{1/({t.num(self.g_S / g)}*{gu})}}"
        return [f"R{self.role}{side}{self.cid} {self.col} {self.row} {value}"]

    def evaluate(self, v, i):
        cur = self.g_S * (v[self.col] - v[self.row])
        _add(i, self.row, cur)
        _add(i, self.col, -cur)

    def power_W(self, v):
        return self.g_S * (v[self.col] - v[self.row]) ** 2

    def area_m2(self, spec) -> float:
        return spec.cell_area_m2

    @classmethod
    def prepare(cls, elements):
        """Column and row nodes, ``S[row, col]`` (dense: one crossbar's rows and columns, and
        BLAS is faster than a sparse product over many time points) and its sums."""
        cols, rows, S = cls._matrix(elements)
        S = S.toarray()
        return cols, rows, S, S.sum(axis=1)[:, None], S.sum(axis=0)[:, None]

    @staticmethod
    def _matrix(cells):
        """Column and row nodes and the conductance matrix ``S[row, col]`` of ``cells``."""
        import scipy.sparse as sp

        cols = {n: k for k, n in enumerate(dict.fromkeys(c.col for c in cells))}
        rows = {n: k for k, n in enumerate(dict.fromkeys(c.row for c in cells))}
        S = sp.csr_matrix(
            (
                np.array([c.g_S for c in cells]),
                (np.array([rows[c.row] for c in cells]), np.array([cols[c.col] for c in cells])),
            ),
            shape=(len(rows), len(cols)),
        )
        return list(cols), list(rows), S

    @staticmethod
    def _voltages(cols, rows, v):
        """Column and row voltages as ``(n_cols, N)`` and ``(n_rows, N)`` arrays."""
        shape = np.broadcast_shapes(*(np.shape(v[n]) for n in cols + rows))

        def stack(nodes):
            return np.stack([np.broadcast_to(np.asarray(v[n], dtype=float), shape) for n in nodes])

        return stack(cols), stack(rows)

    @classmethod
    def evaluate_all(cls, elements, v, i, prepared=None):
        """All cells at once: row currents ``S Vc - diag(S 1) Vr`` (a sparse product)."""
        if not elements:
            return
        cols, rows, S, g_row, g_col = prepared or cls.prepare(elements)
        Vc, Vr = cls._voltages(cols, rows, v)
        into_rows = S @ Vc - g_row * Vr
        into_cols = (S.T @ Vr if np.any(Vr != 0.0) else 0.0) - g_col * Vc
        for k, n in enumerate(rows):
            _add(i, n, into_rows[k])
        for k, n in enumerate(cols):
            _add(i, n, into_cols[k])

    @classmethod
    def power_all(cls, elements, v, prepared=None):
        """``sum G (vc - vr)^2 = sum G vc^2 - 2 vc^T S vr + sum G vr^2`` (exact when the rows
        sit at 0 V, as every crossbar row here does: a virtual ground)."""
        if not elements:
            return 0.0
        cols, rows, S, g_row, g_col = prepared or cls.prepare(elements)
        Vc, Vr = cls._voltages(cols, rows, v)
        p = (g_col * Vc**2).sum(axis=0)
        if np.any(Vr != 0.0):
            p = p - 2.0 * (Vc * (S.T @ Vr)).sum(axis=0) + (g_row * Vr**2).sum(axis=0)
        return p

    def edge(self, circuit, sample):
        attrs = {
            "element": _CELL_ROLES[self.role],
            "sign": self.sign,
            "value": self.g_S,
            "unit": "S",
        }
        return self.col, self.row, attrs


@dataclass(frozen=True)
class RowReadout(Element):
    """Transimpedance stage: ``v(out) = I(V<row>) / g_unit`` (a CCVS of gain ``1/g_unit``)."""

    kind: ClassVar[str] = "row_readouts"
    amplifiers: ClassVar[int] = 1
    stage: ClassVar[int] = 2
    row: str
    out: str
    g_unit_S: float
    #: Its layer: the gain follows that layer's unit conductance (``g_unit`` or ``gu<l>``).
    layer: int = 0

    def spice(self, circuit, sample):
        """The row's ``pc_row`` cell (its virtual ground and this readout, gain
        ``1/g_unit``); in a layer with its own ``gu<l>`` the two as top-level lines (a
        cell would need a parameter, see :meth:`Spring.spice`)."""
        gu, _ = _g_unit(circuit, self.layer)
        if gu == "g_unit":
            return [f"X{self.row} {self.row} {self.out} pc_row"]
        v = f"V{self.row}"
        return [f"{v} {self.row} 0 DC 0", f"H{self.out} {self.out} 0 {v} {{1/{gu}}}"]

    @classmethod
    def subcircuits(cls, elements):
        body = [VirtualGround.CELL, "H1 out 0 V1 {1/g_unit}"]
        return {"pc_row": t.subckt("pc_row", "r out", body)}

    def evaluate(self, v, i):
        v[self.out] = (1.0 / self.g_unit_S) * i.get(self.row, 0.0)

    def edge(self, circuit, sample):
        return self.row, self.out, {"element": "row_readout", "value": 1.0 / self.g_unit_S,
                                    "unit": "Ohm"}  # fmt: skip


#: Every kind, in the order the counts list them (wire segments: circuit.wires).
KINDS = tuple(
    k.kind
    for k in (
        NodeCapacitor, ClampSource, Spring, PredictionSource, ErrorBuffer, FeedbackSource,
        BiasDrive, ColumnDriver, VirtualGround, CrossbarCell, RowReadout,
    )
) + ("wire_segments",)  # fmt: skip
