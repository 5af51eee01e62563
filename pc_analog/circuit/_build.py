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
from pc_analog.circuit.wires import TiaReadout, forward_columns, ladder
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


def _feedback_sources(circuit: Circuit, l: int, inputs: dict, crossbar=False) -> list[Group]:
    """The ``phi'`` blocks into the free units of layer ``l-1`` (``inputs[i] = (coefs, nodes)``;
    at the crossbar level the feedback row's readout carries the amplifier, not the block)."""
    if not inputs:
        return []
    act = get_activation(circuit.layers[l - 1].activation)
    g0 = circuit.hardware.g0_S
    amps = None if crossbar else circuit.amplifiers
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


def _readout(circuit: Circuit, row: str, out: str, l: int, offset: float) -> list:
    """A row's virtual ground and readout: ideal (today's ``pc_row``), or the non-ideal
    transimpedance stage of :mod:`pc_analog.circuit.wires` when the circuit has
    non-ideal amplifiers (infinite gain: the row held at the offset; finite: a real node)."""
    g_unit, amps = circuit.g_unit(l), circuit.amplifiers
    if amps is None:
        return [VirtualGround(row)], [RowReadout(row, out, g_unit, l)]
    A = amps.open_loop_gain
    tia = TiaReadout(row, out, g_unit, l, gain_A=A, offset_V=float(offset), rail_V=amps.rail_V)
    return ([VirtualGround(row, float(offset))] if A is None else []), [tia]


def _crossbar_rows(circuit, l, prefix, rows, outs, cols, gcells, offsets, role_ids):
    """Elements of one crossbar: virtual grounds, cells (``gcells[j, k]`` between column
    ``cols[k]`` and row ``j``; with wires between their taps), wire segments, readouts.

    ``role_ids(j, k) -> (role, sign, cid)`` names cell ``(j, k)``."""
    model = circuit.crossbar
    ports = [_n("r" if prefix == "w" else "f", l if prefix == "w" else l - 1, j) for j in rows]
    wires = model is not None and model.wires
    segs = []
    if wires:
        segs, col_tap, row_tap = ladder(prefix, l, rows, cols, ports, 1.0 / model.wire_r_ohm)
    else:

        def col_tap(j, k):
            return cols[k]

        def row_tap(j, k):
            return ports[j]

    grounds, cells, reads, ideal_order = [], [], [], []
    for j in range(len(rows)):
        g, r = _readout(circuit, ports[j], outs[j], l, offsets[j])
        row_cells = []
        for k in np.flatnonzero(gcells[j] > G_MIN).tolist():
            role, sign, cid = role_ids(j, k)
            row_cells.append(
                CrossbarCell(role, sign, cid, col_tap(j, k), row_tap(j, k), float(gcells[j, k]), l)
            )
        grounds.extend(g)
        cells.extend(row_cells)
        reads.extend(r)
        ideal_order += g + row_cells + r
    if not wires and circuit.amplifiers is None:  # the ideal deck: per row ground, cells, readout
        return tuple(ideal_order), False
    return tuple(grounds + cells + segs + reads), True


def _interleave(gp, gn):
    """``[G+_0, G-_0, G+_1, G-_1, ...]`` along the last axis (the physical column order)."""
    out = np.empty(gp.shape[:-1] + (2 * gp.shape[-1],))
    out[..., 0::2], out[..., 1::2] = gp, gn
    return out


def _crossbar_layer(circuit: Circuit, l: int) -> list[Group]:
    """Forward and feedback crossbars of layer ``l`` with their drivers and readouts (and,
    at the crossbar level of :mod:`pc_analog.circuit.wires`, wires and non-ideal readouts)."""
    layer = circuit.layers[l - 1]
    act = get_activation(layer.activation)
    amps = circuit.amplifiers
    n_in, n_out = circuit.sizes[l - 1], circuit.sizes[l]
    cols = tuple(
        ColumnDriver("forward", _n("x", l - 1, i), _n("a", l - 1, i), _n("an", l - 1, i), act)
        for i in range(n_in)
    )
    gf = np.concatenate(
        [
            _interleave(layer.forward.g_pos_S, layer.forward.g_neg_S),
            layer.bias.g_pos_S[:, None],
            layer.bias.g_neg_S[:, None],
        ],
        axis=1,
    )

    def fwd_ids(j, k):
        sign = "+" if k % 2 == 0 else "-"
        return ("w", sign, f"{l}_{j}_{k // 2}") if k < 2 * n_in else ("b", sign, f"{l}_{j}")

    off = np.zeros(n_out) if amps is None else amps.offset_pred[l - 1]
    rows, nodal = _crossbar_rows(
        circuit, l, "w", list(range(n_out)), [_n("m", l, j) for j in range(n_out)],
        forward_columns(l, n_in), gf, off, fwd_ids,
    )  # fmt: skip
    groups = [
        Group(
            f"layer {l}: forward crossbar columns a{l - 1} = phi_{l - 1}(x{l - 1}), an = -a", cols
        ),
        Group(
            f"layer {l}: forward rows r{l} at virtual ground; m{l} = I(Vr)/g_unit = W{l} a + b{l}",
            rows,
            nodal,
        ),
        _units(circuit, l),
    ]
    free = np.flatnonzero(~circuit.clamp.masks[l - 1])
    if free.size == 0:
        return groups
    pi = circuit.precisions(l)
    ucols = tuple(
        ColumnDriver("feedback", _n("e", l, j), _n("u", l, j), _n("un", l, j), scale=float(pi[j]))
        for j in range(n_out)
    )
    groups.append(Group(f"layer {l}: feedback crossbar columns u{l} = pi{l} e{l}, un = -u", ucols))
    ucol_names = []
    for j in range(n_out):
        ucol_names += [_n("u", l, j), _n("un", l, j)]
    gk = _interleave(layer.feedback.g_pos_S, layer.feedback.g_neg_S)[free]
    fr = [int(i) for i in free]

    def fb_ids(j, k):
        return "k", "+" if k % 2 == 0 else "-", f"{l}_{fr[j]}_{k // 2}"

    off = np.zeros(n_in) if amps is None else amps.offset_fb[l - 1]
    frows, nodal = _crossbar_rows(
        circuit, l, "k", fr, [_n("s", l - 1, i) for i in fr], ucol_names, gk, off[free], fb_ids
    )
    inputs = {i: (np.ones(1), (_n("s", l - 1, i),)) for i in fr}
    groups.append(
        Group(
            f"layer {l}: feedback rows f{l - 1} at virtual ground (free units of layer {l - 1}); "
            f"s{l - 1} = I(Vf)/g_unit = Wfb{l} u",
            frows,
            nodal,
        )
    )
    return groups + _feedback_sources(circuit, l, inputs, crossbar=True)


def _check_level(circuit: Circuit, level: str) -> None:
    """The level must match the circuit's physics (:mod:`pc_analog.circuit.wires`)."""
    model = circuit.crossbar
    if level == "behavioural" and model is not None and not circuit.ideal:
        raise InvalidInputError(
            "level behavioural: this circuit has crossbar-level non-idealities "
            "(wire_r_ohm or crossbar readouts); use level crossbar"
        )
    if level == "crossbar" and getattr(circuit.amplifiers, "gbw_Hz", None) is not None:
        raise InvalidInputError(
            "level crossbar: amplifier poles (amp_gbw_Hz) not implemented yet (issue 11)"
        )
    if level == "crossbar" and model is None and circuit.amplifiers is not None:
        raise InvalidInputError(
            "level crossbar: the amplifiers were applied at the behavioural level; apply "
            "the analog spec at level crossbar (AnalogSpec.apply(circuit, level='crossbar'))"
        )


def build_groups(circuit: Circuit, level: str) -> list[Group]:
    """Every group of elements of ``circuit`` at ``level``, in netlist order."""
    groups = []
    _check_level(circuit, level)
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
