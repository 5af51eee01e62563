"""Netlists for designers (SPEC section 3): what a deck does outside pc-analog.

Oracles: the equilibrium solver (the rest point a plain ``ngspice -b deck.cir`` prints),
the analytic RC decay ``exp(-t pi g0 / C)`` (a ``.param`` edit must change the whole
circuit), the feedforward state (the rest point when a ``.subckt`` definition switches
the feedback off), the deck's own text (what PySpice's ``SpiceParser`` must read back
unchanged) and a tiny resistive divider (PySpice's own ``NgSpiceShared`` next to
pc-analog's in one process).
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pc_analog import Network, solve_equilibrium
from pc_analog.circuit.ir import Hardware, compile_network
from pc_analog.cli.main import main as cli_main
from pc_analog.errors import InvalidInputError
from pc_analog.io.formats import load_network, load_vectors
from pc_analog.spice.netlist import write_netlist
from pc_analog.spice.sandbox import check_netlist, strip_run_commands

REPO = Path(__file__).resolve().parent.parent
NETLISTS = REPO / "netlists"
NGSPICE = shutil.which("ngspice")
#: Printed rest point vs the equilibrium solver: max |diff| / max |x| (as tests/test_netlist.py).
EQ_RTOL = 1e-6
#: RC decay vs exp(-t/tau), relative (as tests/test_netlist.py).
RC_RTOL = 1e-4
LEVELS = ("behavioural", "crossbar")
ANALYSES = ("op", "tran")

#: A line ``print`` writes for one vector: ``v(x1_0) = 1.5e-01`` or ``v(x1_0)[k] = ...``.
_PRINTED = re.compile(r"^v\((\w+)\)(?:\[k\])? = (\S+)$", re.M)


def needs_ngspice(test):
    skip = pytest.mark.skipif(NGSPICE is None, reason="ngspice binary not on PATH")
    return pytest.mark.ngspice(skip(test))


def plain_ngspice(text: str, tmp_path: Path) -> dict[str, float]:
    """``ngspice -b deck.cir``, nothing else, in an empty directory: the printed voltages."""
    wd = Path(tmp_path) / f"plain{len(list(Path(tmp_path).glob('plain*')))}"
    wd.mkdir()
    (wd / "deck.cir").write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [NGSPICE, "-b", "deck.cir"],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in wd.iterdir()) == ["deck.cir"]  # it writes no file
    printed = {k: float(v) for k, v in _PRINTED.findall(proc.stdout)}
    assert printed, proc.stdout[-2000:]
    return printed


def nodes_of(c) -> list[str]:
    xs = [f"x{l}_{i}" for l, n in enumerate(c.sizes) for i in range(n)]
    return xs + [f"e{l}_{j}" for l, n in enumerate(c.sizes) if l for j in range(n)]


def rel_diff(x, ref) -> float:
    return float(np.max(np.abs(np.asarray(x) - ref)) / np.max(np.abs(ref)))


def equilibrium(c, sample: int = 0) -> np.ndarray:
    res = solve_equilibrium(c.network(), c.x_init, c.clamp)
    assert res.success
    return np.concatenate([xl[sample] for xl in res.x])


def circuit(act: str = "tanh", target: bool = True, seed: int = 3, hardware=None):
    net = Network.random(
        [3, 5, 4, 2], act, precisions=[1.0, np.array([0.5, 1.0, 2.0, 1.5]), 0.7], seed=seed
    )
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=3)
    y = rng.normal(size=2) if target else None
    return compile_network(net, x0, y, hardware=hardware or Hardware())


def x_printed(printed: dict, sizes) -> np.ndarray:
    return np.array([printed[f"x{l}_{i}"] for l, n in enumerate(sizes) for i in range(n)])


# ------------------------------------------------------------------ plain ngspice -b
@pytest.mark.parametrize("analysis", ANALYSES)
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@needs_ngspice
def test_plain_ngspice_prints_the_rest_point(tmp_path, act, level, analysis):
    c = circuit(act)
    printed = plain_ngspice(write_netlist(c, level=level, analysis=analysis), tmp_path)
    assert sorted(printed) == sorted(nodes_of(c))  # every x and e node, nothing else
    x = x_printed(printed, c.sizes)
    assert rel_diff(x, equilibrium(c)) <= EQ_RTOL
    # the e nodes print x - mu at rest
    mu = c.forward_weights(3) @ c.network().phi(2).f(x[8:12]) + c.biases(3)
    e = np.array([printed[f"e3_{j}"] for j in range(2)])
    np.testing.assert_allclose(e, x[12:14] - mu, atol=1e-9)


@pytest.mark.parametrize("cir", sorted(p.name for p in NETLISTS.glob("*.cir")))
@needs_ngspice
def test_committed_netlists_run_under_plain_ngspice(tmp_path, cir):
    printed = plain_ngspice((NETLISTS / cir).read_text(), tmp_path)
    stem = cir.removesuffix(".cir").removesuffix("_crossbar")
    net = load_network(NETLISTS / f"{stem}.json")
    x0, _ = load_vectors(NETLISTS / f"{stem}_input.json", net.sizes[0], "input")
    y = None
    if (NETLISTS / f"{stem}_target.json").exists():
        y, _ = load_vectors(NETLISTS / f"{stem}_target.json", net.sizes[-1], "target")
    ref = equilibrium(compile_network(net, x0, y))
    assert rel_diff(x_printed(printed, net.sizes), ref) <= EQ_RTOL


@needs_ngspice
def test_compile_then_plain_ngspice_and_pc_analog_simulate(tmp_path, capsys):
    """The CLI's deck: plain ngspice prints the rest point; ``pc-analog simulate`` passes
    the sandbox (the run block is removed, not refused) and reports the same voltages."""
    from pc_analog import save_network

    net = Network.random([3, 4, 2], "tanh", seed=9)
    save_network(net, tmp_path / "net.json")
    (tmp_path / "x.json").write_text("[0.1, -0.2, 0.3]")
    out = tmp_path / "out.cir"
    assert cli_main(["compile", str(tmp_path / "net.json"), "--input", str(tmp_path / "x.json"),
                     "--analysis", "op", "-o", str(out)]) == 0  # fmt: skip
    c = compile_network(net, [0.1, -0.2, 0.3])
    printed = plain_ngspice(out.read_text(), tmp_path)
    assert rel_diff(x_printed(printed, c.sizes), equilibrium(c)) <= EQ_RTOL
    capsys.readouterr()
    assert cli_main(["simulate", str(out), "--json", "--mode", "subprocess"]) == 0
    import json

    nodes = json.loads(capsys.readouterr().out)["nodes"]
    for k in nodes_of(c):
        assert nodes[k] == pytest.approx(printed[k], rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------- .param
HW = Hardware(c_F=3.3e-12, g0_S=2.7e-6, g_unit_S=4.1e-5)


@pytest.mark.parametrize("level", LEVELS)
def test_hardware_numbers_appear_only_in_param_cards(level):
    text = write_netlist(circuit(hardware=HW), level=level)
    for ln in text.splitlines():
        if ln.startswith("*") or ln.startswith(".param"):
            continue
        for v in ("3.3e-12", "2.7e-06", "4.1e-05", "303030", "370370", "24390"):
            assert v not in ln, ln
    assert ".param C=3.3e-12 g0=2.7e-06 g_unit=4.1e-05\n" in text
    assert ".param tau={C/g0}\n" in text


@pytest.mark.parametrize("level", LEVELS)
@needs_ngspice
def test_one_param_edit_changes_the_whole_circuit(tmp_path, level):
    """A single RC node (spring pi g0, capacitor C) decays as exp(-t pi g0 / C): editing
    ``C`` or ``g0`` in the ``.param`` card alone changes the decay accordingly."""
    pi, x_start = 2.5, 0.8
    hw = Hardware(c_F=2e-12, g0_S=5e-7)
    net = Network((np.array([[0.7]]),), (np.zeros(1),), (pi,), ("linear",))
    c = compile_network(net, [0.0], hardware=hw)
    c = dataclasses.replace(c, x_init=(c.x_init[0], np.array([[x_start]])))
    tau = hw.c_F / (pi * hw.g0_S)
    text = write_netlist(c, level=level, t_stop_s=3 * tau)
    card = ".param C=2e-12 g0=5e-07 g_unit=1e-05"
    assert card in text
    for edit, n_tau in (
        (card, 3.0),
        (".param C=4e-12 g0=5e-07 g_unit=1e-05", 1.5),
        (".param C=2e-12 g0=1e-06 g_unit=1e-05", 6.0),
    ):
        x = plain_ngspice(text.replace(card, edit), tmp_path)["x1_0"]
        assert x == pytest.approx(x_start * math.exp(-n_tau), rel=RC_RTOL), edit


@needs_ngspice
def test_g_unit_scales_every_cell_and_readout_together(tmp_path):
    """Crossbar level: ``g_unit`` x 3 scales the cells (``1/(w*g_unit)``) and the readout
    gains (``1/g_unit``) together, so the weights and the rest point stay."""
    c = circuit("tanh")
    text = write_netlist(c, level="crossbar", analysis="op")
    card = ".param C=1e-12 g0=1e-06 g_unit=1e-05"
    assert card in text and text.count("*g_unit)}") > 20 and "{1/g_unit}" in text
    printed = plain_ngspice(text.replace(card, card.replace("1e-05", "3e-05")), tmp_path)
    assert rel_diff(x_printed(printed, c.sizes), equilibrium(c)) <= EQ_RTOL


# --------------------------------------------------------------------------- .subckt
_DPHI_TANH = "B1 0 x I=g0*(1-tanh(v(x))*tanh(v(x)))*v(s)"


@pytest.mark.parametrize("level", LEVELS)
@needs_ngspice
def test_one_subckt_edit_changes_every_instance(tmp_path, level):
    """Switching the feedback off in the ``pc_dphi_tanh`` definition alone (or the error
    in ``pc_error``) leaves every free unit at its prediction: the feedforward state."""
    net = Network.random([3, 5, 4, 2], "tanh", seed=4)
    c = compile_network(net, [0.5, -1.0, 0.8], [0.6, -0.4])
    feedforward = np.concatenate([xl[0] for xl in c.x_init])
    text = write_netlist(c, level=level, analysis="op")
    assert text.count(_DPHI_TANH) == 1 and text.count(" pc_dphi_tanh\n") == 9
    rest = x_printed(plain_ngspice(text, tmp_path), c.sizes)
    assert rel_diff(rest, feedforward) > 1e-2  # the feedback moves the free units
    off = plain_ngspice(text.replace(_DPHI_TANH, "B1 0 x I=0"), tmp_path)
    assert rel_diff(x_printed(off, c.sizes), feedforward) <= EQ_RTOL
    # the error buffer: one definition serves the free units' pc_unit and the clamped units
    err = "B1 e 0 V=v(x)-v(m)"
    assert text.count(err) == 1
    zero = plain_ngspice(text.replace(err, "B1 e 0 V=0"), tmp_path)
    assert all(zero[k] == 0.0 for k in nodes_of(c) if k.startswith("e"))
    assert rel_diff(x_printed(zero, c.sizes), feedforward) <= EQ_RTOL


# ------------------------------------------------------------------ PySpice's parser
def _decks():
    wide = compile_network(
        Network.random([40, 5, 36], "sigmoid", seed=11),
        np.linspace(-1, 1, 40),
        np.linspace(0, 1, 36),
    )  # sums of 40 and 36 terms: partial-sum sources
    for name, c in (("small", circuit("tanh")), ("free-out", circuit("softplus", False)),
                    ("wide", wide)):  # fmt: skip
        for level in LEVELS:
            for analysis in ANALYSES:
                yield f"{name}-{level}-{analysis}", c, level, analysis


def _element_lines(text: str) -> tuple[list[list[str]], dict[str, list[list[str]]]]:
    """Top-level element lines and each ``.subckt`` body, as tokens (the deck has no
    continuation lines outside dot cards)."""
    top: list[list[str]] = []
    subs: dict[str, list[list[str]]] = {}
    body = None
    for ln in text.splitlines():
        if not ln or ln[0] == "*":
            continue
        assert ln[0] != "+" or body is None and ln.startswith("+ v("), ln  # only dot lists
        w = ln.split()
        if w[0] == ".subckt":
            body = subs.setdefault(w[1], [])
        elif w[0] == ".ends":
            body = None
        elif ln[0] not in ".+":
            (top if body is None else body).append(w)
    return top, subs


def _same_element(stmt, w: list[str]) -> None:
    """A parsed PySpice element statement equals the deck line's tokens: name, nodes and
    every value, expressions to their last character."""
    assert stmt._prefix + stmt._name == w[0]
    kind = w[0][0]
    if kind == "B":
        key, expr = w[3].split("=", 1)
        assert stmt._nodes == w[1:3] and stmt._dict_parameters == {key.lower(): expr}, w
        assert len(w) == 4
    elif kind == "X":
        ports = [t for t in w[1:] if "=" not in t]
        kw = dict(t.split("=", 1) for t in w[1:] if "=" in t)
        assert stmt._nodes == ports[:-1] and stmt._parameters == [ports[-1]], w
        assert stmt._dict_parameters == kw, w
    else:
        assert stmt._nodes == w[1:3] and " ".join(stmt._parameters) == " ".join(w[3:]), w


@pytest.mark.parametrize("case", [d[0] for d in _decks()])
def test_pyspice_parser_reads_every_deck_unchanged(case):
    pytest.importorskip("PySpice")
    from PySpice.Spice.Parser import SpiceParser

    _, c, level, analysis = next(d for d in _decks() if d[0] == case)
    text = write_netlist(c, level=level, analysis=analysis)
    top, subs = _element_lines(text)
    # the deck's element lines are the inventory's own lines, one per line
    inv = c.inventory(level)
    assert len(top) == sum(len(e.spice(c, 0)) for e in inv.elements)
    parser = SpiceParser(source=text)
    stmts = [s for s in parser._statements if type(s).__name__ == "Element"]
    assert len(stmts) == len(top)
    for s, w in zip(stmts, top):
        _same_element(s, w)
    assert {s.name: len(list(s)) for s in parser.subcircuits} == {
        k: len(v) for k, v in subs.items()
    }
    for s in parser.subcircuits:
        for st, w in zip(s, subs[s.name]):
            _same_element(st, w)
    built = parser.build_circuit()
    assert len(list(built.elements)) == len(top)
    x_cells = [e for e in built.elements if e.name.startswith("X")]
    assert {e.subcircuit_name for e in x_cells} <= set(subs)


# ------------------------------------------------------------------------ sandbox
def test_sandbox_removes_exactly_the_run_block():
    text = write_netlist(circuit(), analysis="tran")
    checked = check_netlist(text, None)
    assert checked == strip_run_commands(text) != text
    assert not re.search(r"^\*#", checked, re.M)
    assert len(checked.splitlines()) == len(text.splitlines())  # line numbers kept
    block = re.search(r"^\*# set numdgt.*?^\*# quit$", text, re.M | re.S).group(0)
    for bad in (
        block.replace("*# quit", "*# write out.raw\n*# quit"),
        block.replace("*# quit", "*# shell ls\n*# quit"),
        block.replace("*# run", "*# run\n*# set sourcepath=/"),
        block.replace("*# print v(x0_0)[k]", "*# print v(x0_0)[k] > out.txt"),
        block + "\n*# echo",
    ):
        with pytest.raises(InvalidInputError, match=r"\*#"):
            check_netlist(text.replace(block, bad), None)


# ------------------------------------------------------------------------- PySpice
_COEXIST = r"""
import sys
import numpy as np
from PySpice.Spice.NgSpice.Shared import NgSpiceShared
from pc_analog import Network
from pc_analog.circuit.ir import compile_network
from pc_analog.spice.netlist import write_netlist
from pc_analog.spice.runner import run_netlist

TINY = "divider\nV1 a 0 DC 2\nR1 a b 1k\nR2 b 0 3k\n.op\n.end\n"

def user():
    ng = NgSpiceShared.new_instance()
    ng.load_circuit(TINY)
    ng.run()
    print("user", float(np.real(ng.plot(None, ng.last_plot)["b"]._data[0])))

def pc():
    c = compile_network(Network.random([2, 3, 1], "tanh", seed=1), [0.5, -0.5])
    r = run_netlist(write_netlist(c, analysis="op"), mode="auto")
    print("pc", r.mode, repr(r.op["x1_0"]))

steps = {"pc": pc, "user": user}
for step in sys.argv[1:]:
    steps[step]()
"""


@pytest.mark.parametrize("order", [("pc", "user", "pc", "user"), ("user", "pc", "user", "pc")])
@pytest.mark.ngspice
def test_pyspice_new_instance_coexists_with_pc_analog(tmp_path, order):
    """pc-analog's shared ngspice and a user's ``NgSpiceShared.new_instance()`` in one
    process, in either order; each keeps working after the other ran."""
    pytest.importorskip("PySpice")
    from pc_analog.spice.shared import shared_available

    ok, why = shared_available()
    if not ok:
        pytest.skip(why)
    (tmp_path / "coexist.py").write_text(_COEXIST)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "coexist.py"), *order],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Unsupported Ngspice version" not in proc.stderr or order[0] == "user"
    out = [ln.split() for ln in proc.stdout.splitlines()]
    assert [w[0] for w in out] == list(order)
    pcs = [w for w in out if w[0] == "pc"]
    assert len({w[2] for w in pcs}) == 1  # the same rest point every time
    assert all(float(w[1]) == pytest.approx(1.5, rel=1e-12) for w in out if w[0] == "user")
    # pc-analog first: it owns the library and the user's new_instance() reuses it;
    # user first: pc-analog leaves the user's instance alone and runs subprocesses
    assert {w[1] for w in pcs} == {"shared" if order[0] == "pc" else "subprocess"}


def test_only_the_unsupported_version_warning_is_dropped():
    import logging

    from pc_analog.spice.shared import _UnsupportedVersionFilter

    f = _UnsupportedVersionFilter()

    def rec(msg):
        return logging.LogRecord("PySpice", logging.WARNING, __file__, 1, msg, None, None)

    assert not f.filter(rec("Unsupported Ngspice version 39"))
    assert f.filter(rec("spinit was not found"))
    assert f.filter(rec("Unit is None for x v"))
