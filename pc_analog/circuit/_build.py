"""Build an :class:`~pc_analog.circuit.inventory.Inventory` from the IR, in netlist order.

The counting rule is stated once, in :mod:`pc_analog.circuit.inventory`; this module
applies it layer by layer and names the groups (the deck's section comments).
"""

from __future__ import annotations

import numpy as np

from pc_analog.circuit.inventory import (
    G_MIN,
    LEVELS,
    BiasDrive,
    Circuit,
    ClampSource,
    ColumnDriver,
    CrossbarCell,
    ErrorBuffer,
    FeedbackSource,
    Group,
    Inventory,
    NodeCapacitor,
    PredictionSource,
    RowReadout,
    Spring,
    VirtualGround,
)
from pc_analog.errors import InvalidInputError
from pc_analog.model.activations import get_activation


def _n(kind: str, l: int, i: int) -> str:
    return f"{kind}{l}_{i}"


def _inputs(circuit: Circuit) -> Group:
    """Layer 0: a capacitor ``C`` on a free unit, a DC source on a clamped one."""
    mask = circuit.clamp.masks[0]
    c = circuit.hardware.c_F
    els = tuple(
        ClampSource(0, i) if mask[i] else NodeCapacitor(_n("x", 0, i), c)
        for i in range(circuit.sizes[0])
    )
    return Group("layer 0: activity nodes (capacitor C if free, DC source if clamped)", els)


def _units(circuit: Circuit, l: int) -> Group:
    """Layer ``l >= 1``: a free unit is one ``pc_unit`` cell (capacitor, spring, error
    buffer); a clamped unit is a DC source and a ``pc_error`` cell."""
    g = circuit.layers[l - 1].g_spring_S
    mask = circuit.clamp.masks[l]
    c = circuit.hardware.c_F
    amps = circuit.amplifiers
    # A non-ideal error buffer carries its own offset: no shared pc_unit cell.
    cell = amps is None
    els: list = []
    for j in range(circuit.sizes[l]):
        amp = None if amps is None else amps.error(l, j)
        if mask[j]:
            els += [ClampSource(l, j), ErrorBuffer(l, j, amp=amp)]
        else:
            els += [
                NodeCapacitor(_n("x", l, j), c, in_unit=cell),
                Spring(l, j, float(g[j])),
                ErrorBuffer(l, j, in_unit=cell, amp=amp),
            ]
    title = (
        f"layer {l}: units (free: spring pi*g0 and pc_unit = C + error buffer; "
        "clamped: DC source and pc_error)"
    )
    if not cell:
        title = (
            f"layer {l}: units (free: C, spring pi*g0 and a non-ideal error buffer; "
            "clamped: DC source and a non-ideal error buffer)"
        )
    return Group(title, tuple(els))


def _cells(role: str, row: str, gp, gn, cols_p, cols_n, ids, l: int) -> list[CrossbarCell]:
    """The cells feeding ``row``: for each column ``k``, its ``G+`` side then its ``G-``
    side, each only where positive (``G > G_MIN``)."""
    out = []
    pos, neg = (gp > G_MIN).tolist(), (gn > G_MIN).tolist()
    gp, gn = gp.tolist(), gn.tolist()
    for k in np.flatnonzero(np.logical_or(pos, neg)).tolist():
        if pos[k]:
            out.append(CrossbarCell(role, "+", ids[k], cols_p[k], row, gp[k], l))
        if neg[k]:
            out.append(CrossbarCell(role, "-", ids[k], cols_n[k], row, gn[k], l))
    return out


def _feedback_sources(circuit: Circuit, l: int, inputs: dict) -> list[Group]:
    """The ``phi'`` blocks into the free units of layer ``l-1`` (``inputs[i] = (coefs, nodes)``)."""
    if not inputs:
        return []
    act = get_activation(circuit.layers[l - 1].activation)
    g0 = circuit.hardware.g0_S
    amps = circuit.amplifiers
    blocks = amps is not None and amps.dphi_gain is not None

    def dphi(i):
        return (
            (float(amps.dphi_gain[l - 1][i]), float(amps.dphi_offset[l - 1][i])) if blocks else None
        )

    els = tuple(
        FeedbackSource(
            l - 1,
            i,
            g0,
            act,
            coefs,
            nodes,
            None if amps is None else amps.feedback(l - 1, i),
            dphi(i),
        )
        for i, (coefs, nodes) in inputs.items()
    )
    title = f"feedback into free units of layer {l - 1}: g0 phi_{l - 1}'(x) (Wfb{l} pi{l} e{l})"
    return [Group(title, els)]


def _behavioural_layer(circuit: Circuit, l: int) -> list[Group]:
    act = get_activation(circuit.layers[l - 1].activation)
    W, b = circuit.forward_weights(l), circuit.biases(l)
    amps = circuit.amplifiers
    err = None
    if amps is not None and amps.phi_gain is not None:
        err = (amps.phi_gain[l - 1], amps.phi_offset[l - 1])
    preds = tuple(
        PredictionSource(
            l, j, W[j], float(b[j]), act, None if amps is None else amps.prediction(l, j), err
        )
        for j in range(circuit.sizes[l])
    )
    groups = [
        Group(f"layer {l}: prediction m{l} = W{l} phi_{l - 1}(x{l - 1}) + b{l}", preds),
        _units(circuit, l),
    ]
    Wfb, pi = circuit.feedback_weights(l), circuit.precisions(l)
    errs = tuple(_n("e", l, j) for j in range(circuit.sizes[l]))
    free = np.flatnonzero(~circuit.clamp.masks[l - 1])
    return groups + _feedback_sources(circuit, l, {int(i): (Wfb[i] * pi, errs) for i in free})


def _crossbar_layer(circuit: Circuit, l: int) -> list[Group]:
    """Forward and feedback crossbars of layer ``l`` with their drivers and readouts."""
    layer = circuit.layers[l - 1]
    act = get_activation(layer.activation)
    g_unit = circuit.g_unit(l)
    n_in, n_out = circuit.sizes[l - 1], circuit.sizes[l]
    fp, fn = layer.forward.g_pos_S, layer.forward.g_neg_S
    bp, bn = layer.bias.g_pos_S, layer.bias.g_neg_S
    cols = tuple(
        ColumnDriver("forward", _n("x", l - 1, i), _n("a", l - 1, i), _n("an", l - 1, i), act)
        for i in range(n_in)
    )
    a_cols = [_n("a", l - 1, i) for i in range(n_in)]
    an_cols = [_n("an", l - 1, i) for i in range(n_in)]
    rows: list = []
    for j in range(n_out):
        r = _n("r", l, j)
        rows.append(VirtualGround(r))
        ids = [f"{l}_{j}_{i}" for i in range(n_in)]
        rows += _cells("w", r, fp[j], fn[j], a_cols, an_cols, ids, l)
        rows += _cells("b", r, bp[j : j + 1], bn[j : j + 1], ["one"], ["onen"], [f"{l}_{j}"], l)
        rows.append(RowReadout(r, _n("m", l, j), g_unit, l))
    groups = [
        Group(
            f"layer {l}: forward crossbar columns a{l - 1} = phi_{l - 1}(x{l - 1}), an = -a", cols
        ),
        Group(
            f"layer {l}: forward rows r{l} at virtual ground; m{l} = I(Vr)/g_unit = W{l} a + b{l}",
            tuple(rows),
        ),
        _units(circuit, l),
    ]
    free = np.flatnonzero(~circuit.clamp.masks[l - 1])
    if free.size == 0:
        return groups
    pi = circuit.precisions(l)
    kp, kn = layer.feedback.g_pos_S, layer.feedback.g_neg_S
    ucols = tuple(
        ColumnDriver("feedback", _n("e", l, j), _n("u", l, j), _n("un", l, j), scale=float(pi[j]))
        for j in range(n_out)
    )
    groups.append(Group(f"layer {l}: feedback crossbar columns u{l} = pi{l} e{l}, un = -u", ucols))
    u_cols = [_n("u", l, j) for j in range(n_out)]
    un_cols = [_n("un", l, j) for j in range(n_out)]
    frows: list = []
    inputs = {}
    for i in free:
        i = int(i)
        f, s = _n("f", l - 1, i), _n("s", l - 1, i)
        frows.append(VirtualGround(f))
        ids = [f"{l}_{i}_{j}" for j in range(n_out)]
        frows += _cells("k", f, kp[i], kn[i], u_cols, un_cols, ids, l)
        frows.append(RowReadout(f, s, g_unit, l))
        inputs[i] = (np.ones(1), (s,))
    groups.append(
        Group(
            f"layer {l}: feedback rows f{l - 1} at virtual ground (free units of layer {l - 1}); "
            f"s{l - 1} = I(Vf)/g_unit = Wfb{l} u",
            tuple(frows),
        )
    )
    return groups + _feedback_sources(circuit, l, inputs)


def build_groups(circuit: Circuit, level: str) -> list[Group]:
    """Every group of elements of ``circuit`` at ``level``, in netlist order."""
    groups = []
    if level == "crossbar" and circuit.amplifiers is not None:
        raise InvalidInputError(
            "level crossbar: non-ideal amplifiers (amp_gain, amp_offset_V, amp_rail_V) "
            "not implemented yet (issue 11); use level behavioural"
        )
    if level == "crossbar":
        groups.append(Group("bias column drive: 1 V and its inverse", (BiasDrive(),)))
    groups.append(_inputs(circuit))
    layer = _crossbar_layer if level == "crossbar" else _behavioural_layer
    for l in range(1, circuit.n_layers + 1):
        groups += layer(circuit, l)
    return groups


def build_inventory(circuit: Circuit, level: str = "behavioural") -> Inventory:
    """The inventory of ``circuit`` at ``level`` (the rule: :mod:`pc_analog.circuit.inventory`).

    Raises
    ------
    InvalidInputError
        For an unknown level or an activation without a known form.
    """
    if level not in LEVELS:
        raise InvalidInputError(f"level: unknown {level!r} (known: {', '.join(LEVELS)})")
    return Inventory(circuit, level, tuple(build_groups(circuit, level)))
