"""The element inventory: every view counts, writes and costs the same elements.

Oracles, independent of :mod:`pc_analog.circuit.inventory`:

- the netlist text itself, parsed line by line (element prefix and node names);
- the counting rule written out from the IR's masks and conductances
  (:func:`_rule_counts`);
- :func:`pc_analog.solvers.dynamics.node_currents`, the vectorised KCL the ODE
  backend integrates, for the inventory's element-by-element currents;
- the closed-form dissipation ``sum pi g0 eps^2 + sum G V^2`` computed with
  matrices from the IR (:func:`_power_oracle`), and the area formula.

Cases: seeded random networks (widths 1-5, depth 1-3, linear/tanh/sigmoid), with
zero weights (absent cells) and overlapping differential pairs, under four clamp
sets (input only, input and target, partial clamps of middle units, generative:
top layer only).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import numpy as np
import pytest

from pc_analog.circuit.inventory import G_MIN, KINDS, Element
from pc_analog.circuit.ir import Circuit, DifferentialPair, compile_network
from pc_analog.costs.energy import _powers, amplifier_count, device_counts
from pc_analog.costs.specs import AnalogSpec
from pc_analog.model.network import Clamp, Network
from pc_analog.solvers.dynamics import node_currents
from pc_analog.spice.netlist import write_netlist

LEVELS = ("behavioural", "crossbar")
CLAMPS = ("input", "input+target", "partial", "generative")
N_CASES = 12  # networks per clamp set
#: Inventory KCL (element by element, in netlist order) vs the vectorised node_currents:
#: the same sums in a different order; measured max difference 3.6e-16 of the largest current.
KCL_RTOL = 1e-13
#: Dissipation summed per element vs the matrix closed form; measured 3.9e-15 relative.
POWER_RTOL = 1e-13


# ------------------------------------------------------------------------ cases
def _circuit(seed: int, clamp_kind: str) -> Circuit:
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 4))
    sizes = [int(n) for n in rng.integers(1, 6, size=depth + 1)]
    acts = [str(a) for a in rng.choice(["linear", "tanh", "sigmoid"], size=depth)]
    net = Network.random(sizes, acts, precisions=list(rng.uniform(0.5, 2.0, depth)), seed=seed)
    # Some exactly-zero weights and biases: their cells are not elements.
    net = Network(
        tuple(np.where(rng.random(W.shape) < 0.25, 0.0, W) for W in net.weights),
        tuple(np.where(rng.random(b.shape) < 0.3, 0.0, b) for b in net.biases),
        net.precisions,
        net.activations,
    )
    masks = [np.zeros(n, bool) for n in sizes]
    if clamp_kind in ("input", "input+target", "partial"):
        masks[0][:] = True
    if clamp_kind == "input+target":
        masks[-1][:] = True
    if clamp_kind == "partial":
        for l in range(1, depth + 1):
            masks[l] = rng.random(sizes[l]) < 0.4
    if clamp_kind == "generative":
        masks[-1][:] = True
    values = tuple(rng.normal(size=(2, n)) for n in sizes)
    c = compile_network(net, clamp=Clamp(tuple(masks)), values=values)
    if seed % 3 == 0:  # overlapping pairs and an asymmetric feedback copy
        g = c.hardware.g_unit_S

        def shift(p: DifferentialPair, k: float) -> DifferentialPair:
            return DifferentialPair(p.g_pos_S + k * g, p.g_neg_S + k * g)

        layers = tuple(
            dataclasses.replace(L, forward=shift(L.forward, 0.3), feedback=shift(L.feedback, 0.1))
            for L in c.layers
        )
        c = dataclasses.replace(c, layers=layers)
    return c


CASES = [(k, s) for k in CLAMPS for s in range(N_CASES)]


@pytest.fixture(params=CASES, ids=[f"{k}-{s}" for k, s in CASES])
def circ(request) -> Circuit:
    kind, seed = request.param
    return _circuit(100 * CLAMPS.index(kind) + seed, kind)


# ---------------------------------------------------------------- the oracles
def _rule_counts(c: Circuit, level: str) -> dict[str, int]:
    """The counting rule of the inventory's docstring, from the IR's masks and arrays."""
    masks, sizes, L = c.clamp.masks, c.sizes, c.n_layers
    n = dict.fromkeys(KINDS, 0)
    n["capacitors"] = sum(int((~m).sum()) for m in masks)
    n["clamps"] = sum(int(m.sum()) for m in masks)
    n["springs"] = sum(int((~masks[l]).sum()) for l in range(1, L + 1))
    n["error_buffers"] = sum(sizes[1:])
    free_below = [int((~masks[l - 1]).sum()) for l in range(1, L + 1)]
    n["feedback_sources"] = sum(free_below)
    if level == "behavioural":
        n["predictions"] = sum(sizes[1:])
        return n
    n["bias_drives"] = 1
    n["row_readouts"] = sum(sizes[1:]) + sum(free_below)
    n["virtual_grounds"] = n["row_readouts"]
    n["column_drivers"] = sum(sizes[:-1]) + sum(
        sizes[l] for l in range(1, L + 1) if free_below[l - 1]
    )
    cells = 0
    for l, layer in enumerate(c.layers, start=1):
        for p in (layer.forward, layer.bias):
            cells += int((p.g_pos_S > G_MIN).sum() + (p.g_neg_S > G_MIN).sum())
        rows = ~masks[l - 1]
        fb = layer.feedback
        cells += int((fb.g_pos_S[rows] > G_MIN).sum() + (fb.g_neg_S[rows] > G_MIN).sum())
    n["crossbar_cells"] = cells
    return n


_CELL = re.compile(r"^R([wbk])([pn])(\S+)$")


def _flatten(text: str) -> list[list[str]]:
    """The deck's element lines with every subcircuit instance expanded (recursively):
    tokens of each primitive element, named ``<instance>.<element>``, its ports mapped
    to the instance's nodes."""
    subckts: dict[str, tuple[list[str], list[list[str]]]] = {}
    top: list[list[str]] = []
    body = None
    for ln in text.splitlines():
        if not ln or ln[0] in "*+":
            continue
        w = ln.split()
        if w[0].lower() == ".subckt":
            body = []
            subckts[w[1]] = ([t for t in w[2:] if "=" not in t], body)
        elif w[0].lower() == ".ends":
            body = None
        elif ln[0] != ".":
            (top if body is None else body).append(w)

    def expand(w, prefix, ports):
        if w[0][0] in "Xx":
            nodes = [t for t in w[1:] if "=" not in t]
            names, inner = subckts[nodes[-1]]
            assert len(names) == len(nodes) - 1, w
            sub = {n: ports.get(v, v) for n, v in zip(names, nodes[:-1])}
            for b in inner:
                yield from expand(b, f"{prefix}{w[0]}.", sub)
        else:
            yield [prefix + w[0]] + [ports.get(t, t) for t in w[1:3]] + w[3:]

    return [e for w in top for e in expand(w, "", {})]


def _parse_netlist(text: str) -> tuple[Counter, int, set]:
    """Element counts by kind, amplifiers and the crossbar cells ``(role, side, col, row)``,
    read from the deck's element lines alone, every cell instance expanded into the
    primitives of its ``.subckt`` definition (classified by what they connect)."""
    n: Counter = Counter()
    amps = 0
    cells = set()
    for w in _flatten(text):
        name, a, b = w[:3]
        kind = name.rsplit(".", 1)[-1][0]
        ln = " ".join(w)
        if kind == "H" or (kind == "B" and not re.match(r"^(p[mf]|s)\d", a)):
            amps += 1  # a controlled source; B sources of (partial) sums belong to their element
        if kind == "C":
            assert re.match(r"^x\d+_\d+$", a) and b == "0", ln
            n["capacitors"] += 1
        elif kind == "V" and re.match(r"^x\d", a):
            n["clamps"] += 1
        elif kind == "V" and a == "one":
            n["bias_drives"] += 1
        elif kind == "V" and re.match(r"^[rf]\d", a):
            n["virtual_grounds"] += 1
        elif kind == "R" and re.match(r"^x\d", a):
            assert b == "m" + a[1:], ln  # x<l>_<j> -- m<l>_<j>
            n["springs"] += 1
        elif kind == "R" and (m := _CELL.match(name)) is not None:
            n["crossbar_cells"] += 1
            cells.add((m.group(1), m.group(2), a, b))
        elif kind == "B" and re.match(r"^m\d", a):
            n["predictions"] += 1
        elif kind == "B" and re.match(r"^e\d", a):
            n["error_buffers"] += 1
        elif kind == "B" and a == "0":
            assert re.match(r"^x\d", b) and name.startswith("Xf" + b + "."), ln  # own node
            n["feedback_sources"] += 1
        elif kind == "B" and re.match(r"^[au]\d", a):
            n["column_drivers"] += 1
        elif kind == "H":
            n["row_readouts"] += 1
        elif not (kind == "B" and re.match(r"^([au]n|p[mf]|s)\d", a)) and a != "onen":
            raise AssertionError(f"unclassified element line: {ln}")
    return n, amps, cells


def _ir_cells(c: Circuit) -> set:
    """The cells the IR's conductances and clamps call for, as ``(role, side, col, row)``."""
    out = set()
    for l, layer in enumerate(c.layers, start=1):
        for side, col_kind, arr in (
            ("p", "a", layer.forward.g_pos_S),
            ("n", "an", layer.forward.g_neg_S),
        ):  # noqa: E501
            for j, i in zip(*np.nonzero(arr > G_MIN)):
                out.add(("w", side, f"{col_kind}{l - 1}_{i}", f"r{l}_{j}"))
        for side, col, arr in (("p", "one", layer.bias.g_pos_S), ("n", "onen", layer.bias.g_neg_S)):
            for j in np.flatnonzero(arr > G_MIN):
                out.add(("b", side, col, f"r{l}_{j}"))
        free = ~c.clamp.masks[l - 1]
        for side, col_kind, arr in (
            ("p", "u", layer.feedback.g_pos_S),
            ("n", "un", layer.feedback.g_neg_S),
        ):  # noqa: E501
            for i, j in zip(*np.nonzero(arr > G_MIN)):
                if free[i]:
                    out.add(("k", side, f"{col_kind}{l}_{j}", f"f{l - 1}_{i}"))
    return out


def _power_oracle(c: Circuit, x) -> tuple[np.ndarray, np.ndarray]:
    """``sum_free pi g0 eps^2`` and ``sum_cells G V^2`` with matrices (rows at 0 V)."""
    net = c.network()
    ps = np.zeros(x[0].shape[0])
    px = np.zeros_like(ps)
    for l, layer in enumerate(c.layers, start=1):
        h = net.phi(l - 1).f(x[l - 1])
        # the crossbar's own prediction (G+ - G-)/g_unit, which the network's W equals
        eps = x[l] - (h @ c.forward_weights(l).T + c.biases(l))
        free = ~c.clamp.masks[l]
        ps += (layer.g_spring_S[free] * eps[:, free] ** 2).sum(axis=1)
        px += (h**2) @ (layer.forward.g_pos_S + layer.forward.g_neg_S).sum(axis=0)
        px += float((layer.bias.g_pos_S + layer.bias.g_neg_S).sum())
        below = ~c.clamp.masks[l - 1]
        if below.any():
            gb = (layer.feedback.g_pos_S + layer.feedback.g_neg_S)[below]
            px += ((c.precisions(l) * eps) ** 2) @ gb.sum(axis=0)
    return ps, px


def _random_state(c: Circuit, seed: int, batch: int = 3):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=(batch, n)) for n in c.sizes)


# ------------------------------------------------------------------------ tests
@pytest.mark.parametrize("level", LEVELS)
def test_every_view_counts_the_same_elements(circ, level):
    inv = circ.inventory(level)
    counts = inv.counts
    # 1. the rule, written out independently
    assert counts == _rule_counts(circ, level)
    # 2. the netlist ngspice runs: element lines by prefix and node names
    text = write_netlist(circ, level=level, analysis="op")
    parsed, amps, cells = _parse_netlist(text)
    assert {k: parsed.get(k, 0) for k in KINDS} == counts
    assert amps == inv.n_amplifiers
    if level == "crossbar":
        assert cells == _ir_cells(circ)
    # 3. the graph view: edges by kind
    G = circ.to_networkx(level=level, sample=1)
    by_kind = Counter(d["kind"] for _, _, d in G.edges(data=True))
    assert {k: by_kind.get(k, 0) for k in KINDS} == counts
    # 4. n_elements
    assert circ.n_elements(level) == counts
    # 5. the cost model (crossbar level)
    if level == "crossbar":
        d = device_counts(circ, AnalogSpec())
        assert d["capacitors"] == counts["capacitors"]
        assert d["voltage_sources"] == counts["clamps"]
        assert d["springs"] == counts["springs"]
        assert d["crossbar_cells"] == counts["crossbar_cells"]
        assert d["amplifiers"] == amplifier_count(circ) == amps


def test_spring_network_has_the_inventory_springs(circ):
    S = circ.spring_network()
    springs = [d for _, _, d in S.edges(data=True) if d["kind"] == "spring"]
    assert len(springs) == circ.inventory().counts["springs"]
    levers = sum(1 for _, _, d in S.edges(data=True) if d["kind"] == "lever")
    assert levers == sum(
        np.count_nonzero(circ.forward_weights(l)) for l in range(1, len(circ.sizes))
    )


@pytest.mark.parametrize("level", LEVELS)
def test_inventory_kcl_equals_node_currents(circ, level):
    """Each element's current, summed per node, is the ODE's KCL at every free node."""
    for seed in range(3):
        x = _random_state(circ, seed)
        ref = node_currents(circ, x)
        got = circ.inventory(level).node_currents(x)
        scale = max(float(np.abs(np.concatenate(ref, axis=1)).max()), circ.hardware.g0_S)
        for l, f in enumerate(circ.clamp.free):
            np.testing.assert_allclose(
                got[l][:, f], ref[l][:, f], rtol=0, atol=KCL_RTOL * scale, err_msg=f"layer {l}"
            )
            assert np.all(got[l][:, ~f] == 0.0)  # nothing of the inventory drives a clamp


def test_energy_and_area_are_sums_over_the_inventory(circ):
    x = _random_state(circ, 7, batch=4)
    traj = tuple(v[None] for v in x)  # one time point
    ps, px = _powers(circ, traj)
    os, ox = _power_oracle(circ, x)
    np.testing.assert_allclose(ps[0], os, rtol=POWER_RTOL, atol=0)
    np.testing.assert_allclose(px[0], ox, rtol=POWER_RTOL, atol=0)
    spec = AnalogSpec(cell_area_m2=3e-15, amp_area_m2=7e-11, cap_density_F_per_m2=5e-3)
    inv = circ.inventory("crossbar")
    c = inv.counts
    area = (
        c["crossbar_cells"] * spec.cell_area_m2
        + inv.n_amplifiers * spec.amp_area_m2
        + c["capacitors"] * circ.hardware.c_F / spec.cap_density_F_per_m2
    )
    assert device_counts(circ, spec)["area_m2"] == pytest.approx(area, rel=1e-12)


def test_netlist_is_the_inventory_in_order():
    """The writer adds nothing but comments: element lines are the elements' own text."""
    c = _circuit(3, "partial")
    for level in LEVELS:
        inv = c.inventory(level)
        body = [ln for ln in inv.spice_lines(1) if not ln.startswith("*")]
        own = [ln for e in inv.elements for ln in e.spice(c, 1)]
        assert body == own
        text = write_netlist(c, sample=1, level=level, analysis="op").splitlines()
        start = text.index(inv.spice_lines(1)[0])
        assert text[start : start + len(inv.spice_lines(1))] == inv.spice_lines(1)


def test_inventory_is_immutable_and_per_stimulus():
    c = _circuit(5, "input+target")
    inv = c.inventory("crossbar")
    assert c.inventory("crossbar") is inv  # built once per circuit and level
    with pytest.raises(dataclasses.FrozenInstanceError):
        inv.level = "behavioural"  # type: ignore[misc]
    e = inv.by_kind["capacitors"][0]
    assert isinstance(e, Element)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.c_F = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        inv.by_kind["springs"] = ()  # type: ignore[index]
    # a new clamp set is a new inventory (springs follow the free units)
    masks = tuple(np.zeros(n, bool) for n in c.sizes)
    masks[0][:] = True
    free_top = c.with_stimulus(clamp=Clamp(masks), values=tuple(np.zeros((1, n)) for n in c.sizes))
    assert free_top.inventory("crossbar").counts["springs"] == sum(c.sizes[1:])
    assert inv.counts["springs"] == sum(c.sizes[1:-1])


@pytest.mark.parametrize("level", LEVELS)
def test_vectorised_kind_hooks_equal_the_per_element_ones(circ, level):
    """A kind's ``evaluate_all``/``power_all`` (the cost path) equal its elements' own
    ``evaluate``/``power_W`` applied one by one, in netlist order."""
    inv = circ.inventory(level)
    x = _random_state(circ, 11)
    v_all, i_all = inv.evaluate(x)
    v_one: dict = {"0": 0.0}
    for l, xl in enumerate(x):
        for k in range(xl.shape[1]):
            v_one[f"x{l}_{k}"] = xl[:, k]
    i_one: dict = {}
    for e in inv.elements:
        e.evaluate(v_one, i_one)
    assert set(v_one) == set(v_all) and set(i_one) == set(i_all)
    scale = max(float(np.max(np.abs(np.concatenate(x, axis=1)))), 1.0)
    for n in v_one:
        np.testing.assert_allclose(v_all[n], v_one[n], rtol=0, atol=KCL_RTOL * scale, err_msg=n)
    g = max(circ.hardware.g_unit_S, circ.hardware.g0_S) * scale * 10
    for n in i_one:
        np.testing.assert_allclose(i_all[n], i_one[n], rtol=0, atol=KCL_RTOL * g, err_msg=n)
    power = inv.power_W(x)
    for kind, els in inv.by_kind.items():
        one = sum((e.power_W(v_one) for e in els), start=np.zeros(x[0].shape[0]))
        np.testing.assert_allclose(power[kind], one, rtol=POWER_RTOL, atol=1e-30, err_msg=kind)


def test_cell_kind_hooks_with_rows_off_virtual_ground():
    """The vectorised cell currents and dissipation hold for any row voltage, not only the
    0 V every built crossbar row sits at (the per-element equations are the oracle)."""
    from pc_analog.circuit.inventory import CrossbarCell

    rng = np.random.default_rng(0)
    cells = tuple(
        CrossbarCell("w", "+-"[k % 2], str(k), f"c{k % 3}", f"r{k % 2}", float(g))
        for k, g in enumerate(rng.uniform(1e-6, 1e-5, 7))
    )
    v = {n: rng.normal(size=5) for n in ("c0", "c1", "c2", "r0", "r1")}
    i_all: dict = {}
    i_one: dict = {}
    CrossbarCell.evaluate_all(cells, v, i_all)
    for e in cells:
        e.evaluate(v, i_one)
    for n in i_one:
        np.testing.assert_allclose(i_all[n], i_one[n], rtol=1e-12, atol=1e-20, err_msg=n)
    one = sum(e.power_W(v) for e in cells)
    np.testing.assert_allclose(CrossbarCell.power_all(cells, v), one, rtol=1e-12)
