"""Graph views of a circuit, read from its inventory (one edge per element).

:func:`to_networkx` is the electrical view (every element of
:meth:`Circuit.inventory` as an edge, so its edges by ``kind`` are the inventory's
counts); :func:`spring_network` the mechanical one (springs and the levers of the
predictions).
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_networkx", "spring_network"]


def to_networkx(circuit, *, sample: int = 0, level: str = "crossbar"):
    """The circuit as a ``networkx.MultiDiGraph``: nodes are circuit nodes, edges elements.

    Every element of ``circuit.inventory(level)`` is one edge, with attributes
    ``kind`` (the inventory kind: ``"capacitors"``, ``"springs"``, ...) and
    ``element`` (``"capacitor"``, ``"clamp"``, ``"spring"``, ``"prediction"``,
    ``"error_buffer"``, ``"feedback_source"``, ``"bias_drive"``,
    ``"column_driver"``, ``"virtual_ground"``, ``"forward_cell"``,
    ``"feedback_cell"``, ``"bias_cell"``, ``"row_readout"``), and for passive
    elements ``value`` and ``unit``.  Crossbar cells run from the column node
    that drives them to the row whose current they feed; ``sign`` is the
    differential-pair side.  Sources run from the node they drive to ground.
    """
    import networkx as nx

    hw = circuit.hardware
    G = nx.MultiDiGraph(
        name=circuit.name, tau_s=circuit.tau_s, c_F=hw.c_F, g0_S=hw.g0_S, level=level
    )
    G.add_node("0", kind="ground")
    for l, n in enumerate(circuit.sizes):
        for i in range(n):
            G.add_node(
                f"x{l}_{i}",
                kind="activity",
                layer=l,
                index=i,
                clamped=bool(circuit.clamp.masks[l][i]),
                v_init=float(circuit.x_init[l][sample, i]),
            )
            if l > 0:
                G.add_node(f"m{l}_{i}", kind="prediction", layer=l, index=i)
                G.add_node(f"e{l}_{i}", kind="error", layer=l, index=i)
    for e in circuit.inventory(level).elements:
        u, v, attrs = e.edge(circuit, sample)
        for node in (u, v):
            if node not in G:
                G.add_node(node, kind="internal")
        G.add_edge(u, v, kind=e.kind, **attrs)
    return G


def spring_network(circuit, *, sample: int = 0, mass_Fs: float = 0.0):
    """The mechanical view as a ``networkx.Graph``.

    Nodes: activities ``x<l>_<i>`` (attributes ``damping`` = C in farad,
    ``mass`` in F*s, ``clamped``, ``position`` = initial voltage) and lever
    points ``mu<l>_<i>`` where the prediction holds a spring's far end.
    Edges: one ``spring`` per spring element of the inventory (free units of
    layers ``1..L``) between ``x<l>_<j>`` and ``mu<l>_<j>`` with ``stiffness``
    ``pi g0`` (siemens, i.e. newton per metre in the analogy), and ``lever``
    edges ``x<l-1>_<i>`` -- ``mu<l>_<j>`` with ``gain`` ``W_ji`` (non-zero) and the
    activation that bends the lever.  Export with ``networkx.write_graphml``.
    """
    import networkx as nx

    hw = circuit.hardware
    inv = circuit.inventory("behavioural")
    G = nx.Graph(name=circuit.name, tau_s=circuit.tau_s)
    for l, n in enumerate(circuit.sizes):
        for i in range(n):
            G.add_node(
                f"x{l}_{i}",
                kind="activity",
                layer=l,
                index=i,
                clamped=bool(circuit.clamp.masks[l][i]),
                damping=hw.c_F,
                mass=float(mass_Fs),
                position=float(circuit.x_init[l][sample, i]),
            )
    for p in inv.by_kind["predictions"]:
        l, j = p.layer, p.index
        mu = f"mu{l}_{j}"
        G.add_node(mu, kind="lever_point", layer=l, index=j, offset=p.bias)
        for i in np.flatnonzero(p.weights):
            G.add_edge(
                f"x{l - 1}_{i}",
                mu,
                kind="lever",
                gain=float(p.weights[i]),
                activation=p.activation.name,
            )
    for s in inv.by_kind["springs"]:
        G.add_edge(
            f"x{s.layer}_{s.index}", f"mu{s.layer}_{s.index}", kind="spring", stiffness=s.g_S
        )
    return G
