"""The circuit IR: compilation, graph views and their invariants."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import pc_analog as pa
from pc_analog.circuit.ir import Circuit, DifferentialPair, Hardware, compile_network
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Network


def _net():
    return pa.Network.random([3, 4, 2], "tanh", precisions=[[0.5, 1.0, 2.0, 4.0], 0.7], seed=5)


def test_compiled_circuit_implements_the_network():
    net = _net()
    rng = np.random.default_rng(0)
    x0, y = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    hw = Hardware(c_F=3e-12, g0_S=2e-6, g_unit_S=5e-5)
    c = compile_network(net, x0, y, hardware=hw)
    back = c.network()
    for a, b in zip(back.weights, net.weights):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-16)
    for a, b in zip(back.biases, net.biases):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-16)
    for l in (1, 2):
        np.testing.assert_allclose(back.pi(l), net.pi(l), rtol=1e-15)
        # precision -> spring conductance pi * g0 (SPEC section 3)
        np.testing.assert_allclose(c.layers[l - 1].g_spring_S, net.pi(l) * hw.g0_S, rtol=1e-15)
        # differential pair: both sides non-negative, difference is g_unit W
        fwd = c.layers[l - 1].forward
        assert np.all(fwd.g_pos_S >= 0) and np.all(fwd.g_neg_S >= 0)
        np.testing.assert_allclose(fwd.g_pos_S - fwd.g_neg_S, hw.g_unit_S * net.W(l), rtol=1e-15)
    assert c.symmetric
    assert c.tau_s == pytest.approx(1.5e-6)
    # initial condition = the feedforward start with clamps
    x_init, clamp = pa.io_state(net, x0, y)
    for a, b in zip(c.x_init, x_init):
        np.testing.assert_array_equal(a, b)


def test_hardware_and_pairs_reject_bad_values():
    with pytest.raises(pa.InvalidInputError, match="c_F"):
        Hardware(c_F=0.0)
    with pytest.raises(pa.InvalidInputError, match="g0_S"):
        Hardware(g0_S=float("nan"))
    with pytest.raises(pa.InvalidInputError):
        DifferentialPair(np.ones(2), -np.ones(2))
    with pytest.raises(pa.InvalidInputError):
        compile_network(_net())


def test_networkx_graph_names_and_elements():
    net = _net()
    c = compile_network(net, np.ones((1, 3)), np.zeros((1, 2)))
    G = c.to_networkx()
    for l, n in enumerate(net.sizes):
        for i in range(n):
            assert f"x{l}_{i}" in G
            if l > 0:
                assert f"e{l}_{i}" in G and f"m{l}_{i}" in G
    kinds = {}
    for _, _, d in G.edges(data=True):
        kinds[d["element"]] = kinds.get(d["element"], 0) + 1
    assert kinds["capacitor"] == 4  # the free hidden layer
    assert kinds["clamp"] == 5  # input and output
    assert kinds["spring"] == 4  # free units of layers 1..L only (the output is clamped)
    assert kinds["error_buffer"] == 6  # every unit of layers 1..L
    assert kinds["row_readout"] == 6 + 4  # forward rows m1, m2; feedback rows into x1
    # every non-zero weight is one cell forward; feedback rows exist only into free
    # units (layer 1), so only W2's transpose has feedback cells
    assert kinds["forward_cell"] == sum(np.count_nonzero(W) for W in net.weights)
    assert kinds["feedback_cell"] == np.count_nonzero(net.W(2))
    # the behavioural graph has sources instead of crossbars
    B = c.to_networkx(level="behavioural")
    bk = {d["kind"] for _, _, d in B.edges(data=True)}
    assert "crossbar_cells" not in bk and "predictions" in bk
    # conductances on the spring edges are pi g0
    for u, _v, d in G.edges(data=True):
        if d["element"] == "spring":
            l, j = map(int, u[1:].split("_"))
            assert d["value"] == pytest.approx(net.pi(l)[j] * c.hardware.g0_S)


def test_spring_network_graphml_round_trip(tmp_path):
    net = _net()
    c = compile_network(net, np.ones((1, 3)))
    S = c.spring_network(mass_Fs=2e-18)
    path = tmp_path / "springs.graphml"
    nx.write_graphml(S, path)
    R = nx.read_graphml(path)
    assert set(R.nodes) == set(S.nodes)
    assert R.number_of_edges() == S.number_of_edges()
    springs = [d for _, _, d in R.edges(data=True) if d["kind"] == "spring"]
    assert len(springs) == sum(net.sizes[1:])
    stiff = sorted(d["stiffness"] for d in springs)
    expect = sorted(np.concatenate([net.pi(l) * c.hardware.g0_S for l in (1, 2)]))
    np.testing.assert_allclose(stiff, expect)
    levers = [d for _, _, d in R.edges(data=True) if d["kind"] == "lever"]
    assert sorted(d["gain"] for d in levers) == pytest.approx(
        sorted(np.concatenate([W.ravel() for W in net.weights]))
    )
    assert R.nodes["x1_0"]["mass"] == pytest.approx(2e-18)


def test_element_counts():
    net = _net()
    c = compile_network(net, np.ones((1, 3)))
    n = c.n_elements()
    assert n["capacitors"] == 6 and n["clamps"] == 3 and n["springs"] == 6
    # forward cells of both layers, feedback cells only into the free layer 1, biases
    cells = sum(np.count_nonzero(W) for W in net.weights) + np.count_nonzero(net.W(2))
    cells += sum(np.count_nonzero(b) for b in net.biases)
    assert n["crossbar_cells"] == cells
    nb = c.n_elements("behavioural")
    assert nb["crossbar_cells"] == 0 and nb["predictions"] == 6 and nb["feedback_sources"] == 4
    with pytest.raises(InvalidInputError, match="level"):
        c.n_elements("transistor")


def test_circuit_is_immutable():
    c = compile_network(_net(), np.ones((1, 3)))
    with pytest.raises(ValueError):
        c.x_init[1][0, 0] = 5.0
    with pytest.raises(ValueError):
        c.layers[0].forward.g_pos_S[0, 0] = 1.0
    with pytest.raises(AttributeError):
        c.hardware = Hardware()  # type: ignore[misc]
    assert isinstance(c, Circuit)


def test_replace_after_network_never_keeps_a_stale_network():
    """``dataclasses.replace(circuit, layers=...)`` after ``circuit.network()`` settles the
    new layers: the derived network is a per-instance cache, not a copied field."""
    import dataclasses

    net = Network.random([3, 4, 2], "tanh", seed=3)
    c = compile_network(net, np.ones(3), np.zeros(2))
    w_before = c.network().W(1).copy()
    doubled = tuple(
        dataclasses.replace(
            L,
            forward=DifferentialPair(2 * L.forward.g_pos_S, 2 * L.forward.g_neg_S),
            feedback=DifferentialPair(2 * L.feedback.g_pos_S, 2 * L.feedback.g_neg_S),
        )
        for L in c.layers
    )
    c2 = dataclasses.replace(c, layers=doubled)
    np.testing.assert_array_equal(c2.network().W(1), 2 * w_before)
    np.testing.assert_array_equal(c.network().W(1), w_before)


def test_per_layer_g_unit_scales_the_read_weights():
    """``W_l = (G+ - G-) / g_unit_l``: a layer's own read-out gain, not the global one."""
    import dataclasses

    net = Network.random([3, 4, 2], "linear", seed=4)
    c = compile_network(net, np.ones(3))
    g = c.hardware.g_unit_S
    layers = (dataclasses.replace(c.layers[0], g_unit_S=2 * g),) + c.layers[1:]
    c2 = dataclasses.replace(c, layers=layers)
    assert c2.g_unit(1) == 2 * g and c2.g_unit(2) == g
    np.testing.assert_allclose(c2.forward_weights(1), net.W(1) / 2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(c2.forward_weights(2), net.W(2), rtol=0, atol=1e-15)
    with pytest.raises(InvalidInputError, match="g_unit_S"):
        dataclasses.replace(c.layers[0], g_unit_S=-1.0)


def test_with_stimulus_keeps_structure_and_equals_a_fresh_compile():
    """A new stimulus on the same elements is the circuit ``compile_network`` would build."""
    net = Network.random([3, 4, 2], "tanh", seed=5)
    rng = np.random.default_rng(5)
    c = compile_network(net, rng.normal(size=(2, 3)), rng.normal(size=(2, 2)))
    x1, y1 = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    c1 = c.with_stimulus(x1, y1)
    fresh = compile_network(net, x1, y1)
    assert c1.layers is c.layers
    for a, b in zip(c1.x_init, fresh.x_init):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(c1.clamp.masks, fresh.clamp.masks):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidInputError):
        c.with_stimulus()
