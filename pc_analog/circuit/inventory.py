"""The circuit as one inventory of elements: every view counts, writes and costs the same list.

Each element kind is a class in :mod:`pc_analog.circuit.elements` (lcapy's model) that owns,
in one place,

- its SPICE text (:meth:`Element.spice`, the lines :func:`~pc_analog.spice.netlist.write_netlist`
  writes, and :meth:`Element.subcircuits`, the ``.subckt`` cells those lines instantiate:
  ``pc_unit`` (a free unit's capacitor, spring and error buffer), ``pc_error``,
  ``pc_phi_<act>`` / ``pc_scale`` (crossbar columns), ``pc_row`` (virtual ground and
  transimpedance readout), ``pc_dphi_<act>`` (the ``phi'`` block));
- its part of the circuit equations (:meth:`Element.evaluate`): a source sets the
  voltage of the node it drives, a two-terminal conductance adds its current
  ``G (v_a - v_b)`` to the KCL sums of its nodes;
- its cost: ``amplifiers`` (active stages: every controlled source in the deck),
  :meth:`Element.power_W` (dissipation at given node voltages) and
  :meth:`Element.area_m2`;
- its graph edge (:meth:`Element.edge`, used by :meth:`Circuit.to_networkx`).

:meth:`Circuit.inventory` builds the inventory of one level (``"behavioural"``:
ideal behavioural sources; ``"crossbar"``: conductance crossbars with drivers and
transimpedance readouts), in netlist order, grouped under the netlist's section
comments.

The counting rule (one rule, every view)
----------------------------------------
An element exists when, and only when, it is in the deck ngspice runs:

- every activity unit has a node capacitor ``C`` if it is free, a clamp voltage
  source if it is clamped (never both);
- a **spring** ``pi g0`` exists only on a *free* unit of layers ``1..L``.  On a
  clamped unit both of its ends would be held by sources: it would carry current
  but move no node, so it is not built;
- the **prediction** (behavioural source, or crossbar row with its transimpedance
  readout) and the **error buffer** ``e<l>_<j>`` exist for *every* unit of layers
  ``1..L``: the Hebbian stage reads every error voltage (``dW ~ pi eps phi^T``) and
  the deck saves every ``e`` node (SPEC section 3), so they exist even when nothing
  below is free;
- a **feedback** path (behavioural current source, or feedback-crossbar row,
  its readout and its ``phi'`` block) exists only into a *free* unit of layer
  ``l-1``: into a clamped unit its current would flow into the clamp source;
  the feedback column drivers of layer ``l`` exist when layer ``l-1`` has a free unit;
- a **crossbar cell** exists when its conductance is positive (``G > 1e-300``,
  :data:`G_MIN`): a zero-conductance cell is an open circuit that carries no
  current, dissipates nothing and needs no programmed device; a pair side
  that is zero is therefore not an element;
- the bias column drive (``1 V`` and ``-1 V``) is one element per crossbar circuit.

An amplifier is a controlled source in the deck (``B`` or ``H``): prediction,
error buffer, feedback source, each readout, and two per column driver (the
``phi`` or ``pi`` block and its inverter).  Partial-sum sources of a long
behavioural sum belong to their element (an ngspice parsing aid, not hardware).
Independent sources (clamps, bias drive, the 0 V virtual grounds of the rows)
are not amplifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from pc_analog.circuit._text import node_name as _name
from pc_analog.circuit.elements import (
    G_MIN,
    KINDS,
    LEVELS,
    BiasDrive,
    Circuit,
    ClampSource,
    ColumnDriver,
    CrossbarCell,
    Element,
    ErrorBuffer,
    FeedbackSource,
    NodeCapacitor,
    PredictionSource,
    RowReadout,
    Spring,
    VirtualGround,
)

__all__ = [
    "LEVELS",
    "KINDS",
    "G_MIN",
    "Element",
    "NodeCapacitor",
    "ClampSource",
    "Spring",
    "PredictionSource",
    "ErrorBuffer",
    "FeedbackSource",
    "BiasDrive",
    "ColumnDriver",
    "VirtualGround",
    "CrossbarCell",
    "RowReadout",
    "Group",
    "Inventory",
]


# --------------------------------------------------------------------------- inventory
@dataclass(frozen=True)
class Group:
    """Elements written under one comment line of the deck."""

    title: str
    elements: tuple[Element, ...]
    #: A crossbar mesh whose node voltages need a solve (:class:`~.wires.NodalSolve`).
    nodal: bool = False


@dataclass(frozen=True, eq=False)
class Inventory:
    """The immutable element list of one circuit at one level, in netlist order.

    Attributes
    ----------
    circuit : Circuit
    level : {"behavioural", "crossbar"}
    groups : tuple of Group
    """

    circuit: Circuit = field(repr=False)
    level: str
    groups: tuple[Group, ...] = field(repr=False)

    def _cached(self, key: str, make):
        val = self.__dict__.get(key)
        if val is None:
            val = make()
            object.__setattr__(self, key, val)  # derived from the frozen fields only
        return val

    @property
    def elements(self) -> tuple[Element, ...]:
        return self._cached("_elements", lambda: tuple(e for g in self.groups for e in g.elements))

    @property
    def by_kind(self):
        """Read-only mapping ``kind -> tuple of elements`` (every kind, empty ones too)."""

        def make():
            out: dict[str, list] = {k: [] for k in KINDS}
            for e in self.elements:
                out[e.kind].append(e)
            return MappingProxyType({k: tuple(v) for k, v in out.items()})

        return self._cached("_by_kind", make)

    def _stages(self):
        """Per group, ``(kind class, elements, prepared)`` in evaluation order (stage, then
        first use); built once."""

        def make():
            out = []
            for g in self.groups:
                parts: dict = {}
                for e in g.elements:
                    parts.setdefault(type(e), []).append(e)
                if g.nodal:
                    from pc_analog.circuit.wires import NodalSolve

                    parts[NodalSolve] = list(g.elements)
                staged = sorted(parts.items(), key=lambda p: p[0].stage)
                out += [(c, tuple(es), c.prepare(tuple(es))) for c, es in staged]
            return tuple(out)

        return self._cached("_stage_list", make)

    @property
    def counts(self) -> dict[str, int]:
        """Elements per kind (every kind in :data:`KINDS`)."""
        return {k: len(v) for k, v in self.by_kind.items()}

    @property
    def n_amplifiers(self) -> int:
        return sum(e.amplifiers for e in self.elements)

    def spice_lines(self, sample: int) -> list[str]:
        """The deck's element section: each group's comment, then its elements' lines."""
        out: list[str] = []
        for g in self.groups:
            out.append(f"* {g.title}")
            for e in g.elements:
                out += e.spice(self.circuit, sample)
        return out

    def subcircuit_lines(self) -> list[str]:
        """The ``.subckt`` definitions the elements' instance lines use (each kind's own,
        :meth:`Element.subcircuits`), in :data:`KINDS` order, each written once."""
        defs: dict[str, list[str]] = {}
        for els in self.by_kind.values():
            if els:
                for name, lines in type(els[0]).subcircuits(els).items():
                    defs.setdefault(name, lines)
        return [ln for lines in defs.values() for ln in lines]

    def evaluate(self, x) -> tuple[dict, dict]:
        """Node voltages and KCL sums at the activity state ``x`` (per layer ``(N, n_l)``).

        Groups are evaluated in netlist order, which is causal (a group's inputs are
        set by earlier groups); within a group each kind in :attr:`Element.stage`
        order (sources, then conductances, then the readouts of their currents), all
        elements of a kind at once (:meth:`Element.evaluate_all`).  Returns
        ``(v, i)``: node name -> voltage (V) and -> sum of element currents into the
        node (A), arrays of shape ``(N,)`` (or scalars for fixed nodes).
        """
        v: dict = {"0": 0.0}
        for l, xl in enumerate(x):
            for k in range(xl.shape[1]):
                v[_name("x", l, k)] = xl[:, k]
        i: dict = {}
        for cls, elements, prepared in self._stages():
            cls.evaluate_all(elements, v, i, prepared)
        return v, i

    def node_currents(self, x) -> tuple[np.ndarray, ...]:
        """Current into every activity node from the inventory's elements, ``(N, n_l)`` per layer.

        At a free node this is ``C dx/dt``; clamped nodes get 0 (no spring and no
        feedback source reaches them).
        """
        _, i = self.evaluate(x)
        out = []
        for l, xl in enumerate(x):
            I = np.zeros(xl.shape)
            for k in range(xl.shape[1]):
                I[:, k] = i.get(_name("x", l, k), 0.0)
            out.append(I)
        return tuple(out)

    def power_W(self, x) -> dict[str, np.ndarray]:
        """Dissipation per kind (watts, ``(N,)``) at the activity state ``x``."""
        v, _ = self.evaluate(x)
        n = x[0].shape[0]
        out = {k: np.zeros(n) for k in KINDS}
        for cls, elements, prepared in self._stages():
            if cls.kind in out:
                out[cls.kind] += cls.power_all(elements, v, prepared)
        return out

    def area_m2(self, spec) -> float:
        """Sum of the elements' areas under an analog spec."""
        return float(sum(e.area_m2(spec) for e in self.elements))
