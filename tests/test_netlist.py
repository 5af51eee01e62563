"""Netlist writer: ngspice runs every deck, and rests where the energy says it must.

Oracles: the equilibrium solver (DC operating point and end of the transient,
behavioural and crossbar level), the analytic RC decay ``exp(-t pi g0 / C)``,
the analytic deep-chain equilibrium, ``Activation.df`` for the ngspice
derivative table, SPEC section 3 for names and header, and a byte-for-byte
regeneration of ``netlists/``.
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

from pc_analog import (
    ACTIVATIONS,
    Clamp,
    InvalidInputError,
    Network,
    dense_hessian,
    solve_equilibrium,
)
from pc_analog.circuit.ir import DifferentialPair, Hardware, compile_network
from pc_analog.cli.main import main as cli_main
from pc_analog.io.formats import load_network, load_vectors
from pc_analog.spice.netlist import (
    GENERATOR_MARKER,
    default_t_stop,
    spice_derivative,
    write_netlist,
)
from pc_analog.spice.sandbox import strip_run_commands

REPO = Path(__file__).resolve().parent.parent
NETLISTS = REPO / "netlists"
NGSPICE = shutil.which("ngspice")

#: ngspice's rest point vs the equilibrium solver: max |diff| / max |x|.
EQ_RTOL = 1e-6
#: RC decay vs exp(-t/tau), relative to the exact value at each time point.
RC_RTOL = 1e-4
#: ngspice's phi' vs Activation.df.
DERIV_RTOL = 1e-12


def needs_ngspice(test):
    """Mark a test that runs the ngspice binary; skip it when there is none."""
    skip = pytest.mark.skipif(NGSPICE is None, reason="ngspice binary not on PATH")
    return pytest.mark.ngspice(skip(test))


# ------------------------------------------------------------------ running ngspice
def _read_raw_minimal(path: Path) -> dict[str, np.ndarray]:
    """The first plot of a binary ngspice raw file: name -> column."""
    buf = path.read_bytes()
    pos, names, n_vars, n_points = 0, [], 0, 0
    while True:
        end = buf.index(b"\n", pos)
        key, _, val = buf[pos:end].decode("latin-1").partition(":")
        pos = end + 1
        if key == "No. Variables":
            n_vars = int(val)
        elif key == "No. Points":
            n_points = int(val)
        elif key == "Variables":
            for _ in range(n_vars):
                end = buf.index(b"\n", pos)
                names.append(buf[pos:end].decode("latin-1").split()[1])
                pos = end + 1
        elif key == "Binary":
            data = np.frombuffer(buf, "<f8", n_points * n_vars, pos).reshape(n_points, n_vars)
            return {n: data[:, k] for k, n in enumerate(names)}


def _read_raw(path: Path) -> dict[str, np.ndarray]:
    try:
        from pc_analog.spice.raw import read_raw
    except ImportError:  # the project's reader is optional for this test
        return _read_raw_minimal(path)
    plot = read_raw(path)[0]
    return {n: plot[n] for n in plot.variables}


def run_ngspice(text: str, tmp_path: Path) -> dict[str, np.ndarray]:
    """``ngspice -b -r out.raw deck.cir`` in an empty directory; the raw file's vectors.

    The deck's own ``*#`` run commands (print and quit, for a plain ``ngspice -b``)
    are removed first, as pc-analog's runner does; tests/test_designer_netlists.py
    runs decks with them.
    """
    wd = Path(tmp_path) / f"run{len(list(Path(tmp_path).glob('run*')))}"
    wd.mkdir()
    stripped = strip_run_commands(text)
    assert "\n*# " not in stripped
    (wd / "deck.cir").write_text(stripped, encoding="utf-8")
    proc = subprocess.run(
        [NGSPICE, "-b", "-r", "out.raw", "deck.cir"],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    bad = [
        ln
        for ln in (proc.stdout + proc.stderr).splitlines()
        if re.match(r"\s*(error|fatal)", ln, re.I) or "singular" in ln.lower()
    ]
    assert not bad, bad
    assert sorted(p.name for p in wd.iterdir()) == ["deck.cir", "out.raw"]
    return _read_raw(wd / "out.raw")


def final_state(vectors: dict[str, np.ndarray], sizes) -> np.ndarray:
    """All activities at the last time point (or the operating point), layer by layer."""
    return np.array([vectors[f"v(x{l}_{i})"][-1] for l, n in enumerate(sizes) for i in range(n)])


def rel_diff(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(x - ref)) / np.max(np.abs(ref)))


def equilibrium(circuit, sample: int = 0) -> np.ndarray:
    res = solve_equilibrium(circuit.network(), circuit.x_init, circuit.clamp)
    assert res.success
    return np.concatenate([xl[sample] for xl in res.x])


def random_circuit(act: str, target: bool, seed: int = 3):
    """A 3-5-4-2 network with diagonal precisions, input (and target) clamped."""
    net = Network.random(
        [3, 5, 4, 2], act, precisions=[1.0, np.array([0.5, 1.0, 2.0, 1.5]), 0.7], seed=seed
    )
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=3)
    return compile_network(net, x0, rng.normal(size=2) if target else None)


# ------------------------------------------------------------ derivative table
def test_every_activation_carries_its_ngspice_forms():
    for name, act in ACTIVATIONS.items():
        assert spice_derivative(name) == act.dspice
        for form in (act.spice, act.dspice, act.d2spice):
            assert "^" not in form and "pow" not in form  # products, not powers
    with pytest.raises(InvalidInputError, match="relu"):
        spice_derivative("relu")


@needs_ngspice
def test_spice_phi_and_derivative_match_numpy(tmp_path):
    xs = np.array([-4.0, -1.3, -0.2, 0.0, 0.7, 2.5, 6.0])
    lines = ["* activation check"]
    for k, x in enumerate(xs):
        lines.append(f"Vx{k} x{k} 0 DC {float(x)!r}")
        for name, act in ACTIVATIONS.items():
            arg = f"v(x{k})"
            lines.append(f"Bf_{name}_{k} f_{name}_{k} 0 V={act.spice.replace('{x}', arg)}")
            lines.append(f"Bd_{name}_{k} d_{name}_{k} 0 V={act.spice_of(arg, 1)}")
            lines.append(f"Bh_{name}_{k} h_{name}_{k} 0 V={act.spice_of(arg, 2)}")
    lines += [".op", ".end"]
    vec = run_ngspice("\n".join(lines) + "\n", tmp_path)
    for name, act in ACTIVATIONS.items():
        f = np.array([vec[f"v(f_{name}_{k})"][0] for k in range(xs.size)])
        d = np.array([vec[f"v(d_{name}_{k})"][0] for k in range(xs.size)])
        h = np.array([vec[f"v(h_{name}_{k})"][0] for k in range(xs.size)])
        np.testing.assert_allclose(f, act.f(xs), rtol=DERIV_RTOL, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(d, act.df(xs), rtol=DERIV_RTOL, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(h, act.d2f(xs), rtol=DERIV_RTOL, atol=1e-15, err_msg=name)


def test_fused_evaluations_equal_the_plain_ones():
    """The solver's fused phi/phi' and phi'' agree with f, df, d2f (the oracle) bit for bit
    where the arithmetic is the same and to 1 ulp-scale otherwise."""
    x = np.linspace(-6, 6, 101)
    for name, act in ACTIVATIONS.items():
        f, d = act.f_df(x.copy())
        np.testing.assert_allclose(f, act.f(x), rtol=1e-15, atol=1e-16, err_msg=name)
        np.testing.assert_allclose(d, act.df(x), rtol=1e-14, atol=1e-16, err_msg=name)
        h = act.d2f_given(x, f, d)
        np.testing.assert_allclose(h, act.d2f(x), rtol=1e-13, atol=1e-15, err_msg=name)


# ------------------------------------------------------------ equilibrium oracle
@pytest.mark.parametrize("analysis", ["op", "tran"])
@pytest.mark.parametrize("level", ["behavioural", "crossbar"])
@pytest.mark.parametrize("target", [False, True])
@pytest.mark.parametrize("act", ["linear", "tanh", "sigmoid", "softplus"])
@needs_ngspice
def test_rests_at_the_equilibrium(tmp_path, act, target, level, analysis):
    c = random_circuit(act, target)
    vec = run_ngspice(write_netlist(c, level=level, analysis=analysis), tmp_path)
    assert rel_diff(final_state(vec, c.sizes), equilibrium(c)) <= EQ_RTOL
    # the error nodes carry x - mu at rest
    x = final_state(vec, c.sizes)
    e_ngspice = np.array([vec[f"v(e3_{j})"][-1] for j in range(2)])
    mu = c.forward_weights(3) @ c.network().phi(2).f(x[8:12]) + c.biases(3)
    np.testing.assert_allclose(e_ngspice, x[12:14] - mu, atol=1e-9)


@pytest.mark.parametrize("analysis", ["op", "tran"])
@pytest.mark.parametrize("level", ["behavioural", "crossbar"])
@needs_ngspice
def test_clamp_in_the_middle_and_free_input_unit(tmp_path, level, analysis):
    net = Network.random([3, 5, 4, 2], "tanh", precisions=[2.0, 0.5, 1.0], seed=5)
    masks = (
        np.array([True, False, True]),
        np.array([False, True, False, False, True]),
        np.zeros(4, bool),
        np.array([True, False]),
    )
    rng = np.random.default_rng(1)
    values = tuple(rng.normal(size=(2, n)) for n in net.sizes)
    c = compile_network(net, clamp=Clamp(masks), values=values)
    text = write_netlist(c, sample=1, level=level, analysis=analysis)
    assert "layer 0 units 0,2; layer 1 units 1,4; layer 3 units 0" in text
    vec = run_ngspice(text, tmp_path)
    assert rel_diff(final_state(vec, c.sizes), equilibrium(c, sample=1)) <= EQ_RTOL


@needs_ngspice
def test_crossbar_with_overlapping_differential_pairs(tmp_path):
    """Both halves of every pair conducting (G+ and G- > 0) still give W = (G+ - G-)/g_unit."""
    c = random_circuit("tanh", True, seed=7)
    g = c.hardware.g_unit_S

    def shifted(p: DifferentialPair) -> DifferentialPair:
        return DifferentialPair(p.g_pos_S + 0.3 * g, p.g_neg_S + 0.3 * g)

    layers = tuple(
        dataclasses.replace(L, forward=shifted(L.forward), feedback=shifted(L.feedback))
        for L in c.layers
    )
    c2 = dataclasses.replace(c, layers=layers)
    text = write_netlist(c2, level="crossbar", analysis="op")
    assert text.count("\nRwn") == sum(L.forward.g_neg_S.size for L in c.layers)
    vec = run_ngspice(text, tmp_path)
    assert rel_diff(final_state(vec, c.sizes), equilibrium(c)) <= EQ_RTOL


@pytest.mark.parametrize("analysis", ["op", "tran"])
@needs_ngspice
def test_wide_layers_split_into_partial_sums(tmp_path, analysis):
    """Fan-in and fan-out above the B-source limit go through partial-sum nodes."""
    net = Network.random([70, 5, 40], "tanh", seed=11)
    rng = np.random.default_rng(11)
    c = compile_network(net, rng.random(70), rng.normal(size=40))
    text = write_netlist(c, analysis=analysis)
    for node in ("pm1_0_0", "pm1_0_2", "pf1_4_1"):  # 70 = 32 + 32 + 6 terms; 40 = 32 + 8
        assert f"\nB{node} {node} 0 V=" in text
    assert "pm1_0_3" not in text and "pf1_4_2" not in text
    vec = run_ngspice(text, tmp_path)
    assert rel_diff(final_state(vec, c.sizes), equilibrium(c)) <= EQ_RTOL


# -------------------------------------------------------------------- dynamics
@pytest.mark.parametrize("level", ["behavioural", "crossbar"])
@needs_ngspice
def test_single_rc_node_decays_with_tau_over_pi(tmp_path, level):
    pi, x_start = 2.5, 0.8
    hw = Hardware(c_F=2e-12, g0_S=5e-7)
    net = Network((np.array([[0.7]]),), (np.zeros(1),), (pi,), ("linear",))
    c = compile_network(net, [0.0], hardware=hw)
    c = dataclasses.replace(c, x_init=(c.x_init[0], np.array([[x_start]])))
    tau = hw.c_F / (pi * hw.g0_S)
    vec = run_ngspice(write_netlist(c, level=level, t_stop_s=5 * tau), tmp_path)
    t, x = vec["time"], vec["v(x1_0)"]
    assert t[0] == 0.0 and x[0] == pytest.approx(x_start, rel=1e-12)
    window = t <= 3 * tau
    assert window.sum() > 100
    np.testing.assert_allclose(x[window], x_start * np.exp(-t[window] / tau), rtol=RC_RTOL)
    for k in (0.5, 1.0, 2.0, 3.0):  # interpolated at round multiples of tau
        assert np.interp(k * tau, t, x) == pytest.approx(x_start * math.exp(-k), rel=RC_RTOL)


def test_default_t_stop_follows_the_slowest_mode():
    L = 12
    net = Network((np.ones((1, 1)),) * L, (np.zeros(1),) * L, (1.0,) * L, ("linear",) * L)
    c = compile_network(net, [1.0], [0.0])
    lam_min = 2 - 2 * math.cos(math.pi / L)  # tridiag(-1, 2, -1) of the L-1 free units
    assert default_t_stop(c) == pytest.approx(math.log(1e9) / lam_min * c.tau_s, rel=0.03)


def test_default_t_stop_of_a_single_square_layer():
    """One layer of n -> n units: every Hessian block is filled and of one shape (numpy
    once read them as a 4-D array and ``settle --backend ngspice`` crashed)."""
    pi = 0.5  # slow enough that t_stop is not clipped at its 10 tau floor
    net = Network((np.eye(2),), (np.zeros(2),), (pi,), ("linear",))
    c = compile_network(net, [0.1, 0.2])  # the output is free: H = pi I on it
    assert default_t_stop(c) == pytest.approx(math.log(1e9) / pi * c.tau_s, rel=0.03)


@needs_ngspice
def test_indefinite_start_still_gets_a_settling_run(tmp_path):
    """A start where the Hessian is indefinite: t_stop from its Gauss-Newton part."""
    net = Network.random([2, 3, 2], "tanh", seed=2, gain=3.0)
    c = compile_network(net, [1.0, -1.0], [3.0, -3.0])
    free = np.concatenate(c.clamp.free)
    assert np.linalg.eigvalsh(dense_hessian(net, c.x_init)[0][np.ix_(free, free)])[0] < 0
    assert 10 * c.tau_s <= default_t_stop(c) < 1e3 * c.tau_s
    vec = run_ngspice(write_netlist(c), tmp_path)
    assert rel_diff(final_state(vec, c.sizes), equilibrium(c)) <= EQ_RTOL


# ------------------------------------------------------------- text and naming
def test_names_and_header_follow_spec():
    net = Network.random([3, 4, 2], "tanh", seed=0)
    hw = Hardware(c_F=3e-12, g0_S=2e-6, g_unit_S=4e-5)
    c = compile_network(net, [0.1, 0.2, 0.3], [0.0, 1.0], hardware=hw, name="an error\nname")
    for level in ("behavioural", "crossbar"):
        text = write_netlist(c, level=level)
        lines = text.splitlines()
        assert lines[0].startswith("* pc-analog netlist") and "error" not in lines[0].lower()
        assert lines[1] == GENERATOR_MARKER
        assert "* circuit: an error name" in lines
        tau = re.search(r"^\* tau = C/g0 = (\S+) s$", text, re.M)
        assert tau and float(tau.group(1)) == hw.c_F / hw.g0_S
        assert f"* level: {level}" in lines and "* sample: 0 of batch 1" in lines
        assert re.search(r"^\* hardware: C = 3e-12 F, g0 = 2e-06 S, g_unit = 4e-05 S$", text, re.M)
        assert "* clamped (DC voltage sources): layer 0 all 3; layer 2 all 2" in lines
        assert text.endswith(".end\n") and ".control" not in text
        # every x and e node is an element terminal (a top-level node: a port of a cell
        # instance, every token before the cell's name) and saved
        top = [ln.split() for ln in lines if ln[:1].isalpha()]
        terminals = {
            tok for w in top for tok in (w[1:-1] if w[0][0] == "X" else w[1:3]) if "=" not in tok
        }
        saved = set(
            re.findall(r"v\((\w+)\)", " ".join(ln for ln in lines if ln.startswith(".save")))
        )
        for l, n in enumerate(c.sizes):
            for i in range(n):
                assert f"x{l}_{i}" in terminals and f"x{l}_{i}" in saved
                if l > 0:
                    assert f"e{l}_{i}" in terminals and f"e{l}_{i}" in saved
        assert set(re.findall(r"\b([a-z]+\d+_\d+)\b", text)) >= {"m1_0", "m2_1"}


def test_clamped_units_are_sources_and_free_units_capacitors():
    c = random_circuit("tanh", True)
    text = write_netlist(c, analysis="op")
    assert f"\nVx0_1 x0_1 0 DC {float(c.x_init[0][0, 1]):.10g}\n" in text
    assert re.search(r"^Rs2_2 x2_2 m2_2 \{1/\(2\*g0\)\}\nXx2_2 x2_2 m2_2 e2_2 pc_unit$", text, re.M)
    assert re.search(r"^\.param C=1e-12 g0=1e-06 g_unit=1e-05$", text, re.M)
    assert not re.search(r"^Xx3_", text, re.M)  # no spring on a clamped output
    assert re.search(r"^Vx3_0 x3_0 0 DC \S+\nXe3_0 x3_0 m3_0 e3_0 pc_error$", text, re.M)
    assert ".nodeset v(x1_0)=" in text and ".ic" not in text and ".tran" not in text


def test_deterministic_and_linear_in_size():
    def text(width: int, level: str) -> str:
        net = Network.random([width] * 3, "tanh", seed=4)
        return write_netlist(compile_network(net, np.linspace(-1, 1, width)), level=level)

    for level in ("behavioural", "crossbar"):
        assert text(12, level) == text(12, level)
        small, big = text(12, level), text(24, level)  # 4x the weights, 2x the units
        # an expression is one line (PySpice's parser), so lines follow the units (and
        # crossbar cells), characters the weights
        assert 1.5 <= big.count("\n") / small.count("\n") <= 8
        assert 2 <= len(big) / len(small) <= 8


def test_numbers_reproduce_the_ir_to_ten_digits():
    """A cell is ``R = 1/(w*g_unit)`` with ``w = G/g_unit`` to 10 significant digits."""
    c = random_circuit("sigmoid", False)
    text = write_netlist(c, level="crossbar", analysis="op")
    g = c.layers[0].forward.g_pos_S[1, 0]
    r = re.search(r"^Rwp1_1_0 a0_0 r1_1 \{1/\((\S+)\*g_unit\)\}$", text, re.M)
    assert r and r.group(1) == f"{g / c.hardware.g_unit_S:.10g}"
    assert float(r.group(1)) * c.hardware.g_unit_S == pytest.approx(g, rel=5e-10, abs=0)


@pytest.mark.parametrize(
    "kw",
    [
        {"level": "spice"},
        {"analysis": "ac"},
        {"sample": 1},
        {"sample": -1},
        {"t_stop_s": -1.0},
        {"t_step_s": 0.0},
        {"t_stop_s": 1e-6, "t_step_s": 1e-5},
        {"reltol": float("nan")},
        {"method": "euler"},
    ],
)
def test_bad_arguments_raise(kw):
    with pytest.raises(InvalidInputError):
        write_netlist(random_circuit("linear", False), **kw)


def test_unknown_activation_is_refused():
    c = random_circuit("tanh", False)
    c = dataclasses.replace(c, layers=(dataclasses.replace(c.layers[0], activation="relu"),)
                            + c.layers[1:])  # fmt: skip
    with pytest.raises(InvalidInputError, match="relu"):
        write_netlist(c)


# ---------------------------------------------------------- committed netlists
@pytest.mark.parametrize("cir", sorted(p.name for p in NETLISTS.glob("*.cir")))
@needs_ngspice
def test_committed_netlists_run_and_settle(tmp_path, cir):
    text = (NETLISTS / cir).read_text()
    assert text.splitlines()[1] == GENERATOR_MARKER
    vec = run_ngspice(text, tmp_path)
    stem = cir.removesuffix(".cir").removesuffix("_crossbar")
    net = load_network(NETLISTS / f"{stem}.json")
    x0, _ = load_vectors(NETLISTS / f"{stem}_input.json", net.sizes[0], "input")
    y = None
    if (NETLISTS / f"{stem}_target.json").exists():
        y, _ = load_vectors(NETLISTS / f"{stem}_target.json", net.sizes[-1], "target")
    x = final_state(vec, net.sizes)
    assert rel_diff(x, equilibrium(compile_network(net, x0, y))) <= EQ_RTOL
    if stem == "deep_chain":  # the chain rests on the straight line from 1 to 0
        L = net.n_layers
        np.testing.assert_allclose(x, 1 - np.arange(L + 1) / L, atol=EQ_RTOL)


# A number token in a netlist or JSON file (not part of a node name such as x1_0).
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
# Last-bit differences of float64 matrix products between BLAS kernels.
NUMBER_RTOL = 1e-14


def test_regenerated_netlists_match_committed(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "netlists"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_netlists.py"), str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    made = sorted(p.name for p in out.iterdir())
    committed = sorted(p.name for p in NETLISTS.iterdir() if not p.name.startswith("."))
    assert made == committed
    for name in made:
        new, old = (out / name).read_text(), (NETLISTS / name).read_text()
        if new == old:
            continue
        # Byte-identical on this machine; elsewhere a different BLAS kernel may round the
        # last bit of a matrix product (the .ic values) differently.  Every token that is
        # not a number must still match exactly, and numbers to NUMBER_RTOL.
        a, b = _NUMBER.split(new), _NUMBER.split(old)
        na, nb = _NUMBER.findall(new), _NUMBER.findall(old)
        assert a == b and len(na) == len(nb), (
            f"netlists/{name} differs from what scripts/make_netlists.py writes; rerun it"
        )
        np.testing.assert_allclose(
            np.array(na, float),
            np.array(nb, float),
            rtol=NUMBER_RTOL,
            atol=0,
            err_msg=f"netlists/{name}: numbers differ; rerun scripts/make_netlists.py",
        )


# ------------------------------------------------------------------------- CLI
def _net_file(tmp_path: Path) -> Path:
    from pc_analog import save_network

    p = tmp_path / "net.json"
    save_network(Network.random([3, 4, 2], "tanh", seed=9), p)
    return p


@pytest.mark.parametrize("level", ["behavioural", "crossbar"])
@needs_ngspice
def test_cli_compile_writes_a_netlist_ngspice_runs(tmp_path, level, capsys):
    net_path = _net_file(tmp_path)
    (tmp_path / "x.json").write_text("[[0.1, 0.2, 0.3], [0.5, -0.5, 1.0]]")
    (tmp_path / "y.json").write_text("[[0.0, 1.0], [1.0, 0.0]]")
    out = tmp_path / "out.cir"
    args = ["compile", str(net_path), "--input", str(tmp_path / "x.json")]
    args += ["--target", str(tmp_path / "y.json"), "--sample", "1", "--level", level]
    args += ["--analysis", "op", "--c-F", "2e-12", "-o", str(out)]
    assert cli_main(args) == 0
    text = out.read_text()
    assert "* tau = C/g0 = 2e-06 s" in text and "* sample: 1 of batch 2" in text
    net = load_network(net_path)
    c = compile_network(net, [[0.1, 0.2, 0.3], [0.5, -0.5, 1.0]], [[0.0, 1.0], [1.0, 0.0]])
    assert text == write_netlist(
        dataclasses.replace(c, hardware=Hardware(c_F=2e-12)), sample=1, level=level, analysis="op"
    )
    vec = run_ngspice(text, tmp_path)
    assert rel_diff(final_state(vec, c.sizes), equilibrium(c, sample=1)) <= EQ_RTOL


def test_cli_compile_without_input_clamps_zeros(tmp_path, capsys):
    out = tmp_path / "out.cir"
    assert cli_main(["compile", str(_net_file(tmp_path)), "-o", str(out)]) == 0
    text = out.read_text()
    assert all(f"Vx0_{i} x0_{i} 0 DC 0\n" in text for i in range(3))
    assert "Vx2_0" not in text and "Xx2_0 x2_0 m2_0 e2_0 pc_unit" in text


@pytest.mark.parametrize(
    "extra",
    [
        ["--sample", "3"],
        ["--input", "MISSING"],
        ["--input", "BAD_LENGTH"],
        ["--level", "transistor"],
        ["--c-F", "-1"],
        ["--t-stop-s", "0"],
    ],
)
def test_cli_compile_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, extra):
    (tmp_path / "short.json").write_text("[1.0, 2.0]")
    extra = [
        {"MISSING": str(tmp_path / "nope.json"), "BAD_LENGTH": str(tmp_path / "short.json")}.get(
            a, a
        )
        for a in extra
    ]
    out = tmp_path / "out.cir"
    assert cli_main(["compile", str(_net_file(tmp_path)), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pc-analog: error:")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "short.json"]


def test_cli_compile_bad_network_and_output_dir(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "pc-analog.network/1", "sizes": [2]}')
    assert cli_main(["compile", str(bad), "-o", str(tmp_path / "o.cir")]) == 2
    net_path = _net_file(tmp_path)
    assert cli_main(["compile", str(net_path), "-o", str(tmp_path / "no" / "o.cir")]) == 2
    assert not (tmp_path / "o.cir").exists() and not (tmp_path / "no").exists()
