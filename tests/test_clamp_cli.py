"""``--clamp L=FILE.json`` on ``settle`` and ``compile`` (SPEC section 4): any clamp set.

Oracles: ``--input X`` and ``--clamp 0=X`` must print the same bytes (the SPEC defines one by
the other), likewise ``--target``; a partial clamp's result equals the library ``settle`` with
the same :class:`~pc_analog.Clamp`; clamped units hold their file values exactly and the
energy gradient of every free unit, recomputed here in numpy from the JSON file, vanishes;
the netlist ``compile --clamp`` writes rests, under a plain ``ngspice -b``, where the
equilibrium does.  Bad clamp files and arguments: one line on stderr, exit 2, no file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.cli.main import main
from pc_analog.io.formats import network_to_dict
from pc_analog.settling.registry import settle

NGSPICE = shutil.which("ngspice")
#: The equilibrium solver stops at max |dF/dx| <= 1e-10; free-unit gradients recomputed from
#: the printed (repr-exact) JSON measured <= 3e-13; kept at ~300x.
GRAD_ATOL = 1e-10
#: Printed ngspice operating point vs the equilibrium solver, max |diff| / max |x|: measured
#: 1.3e-9 (ngspice's reltol 1e-9 defaults of the writer); kept at ~1000x.
NGSPICE_RTOL = 1e-6
_PRINTED = re.compile(r"^v\((\w+)\)(?:\[k\])? = (\S+)$", re.M)

SIZES = [2, 5, 7, 9]


@pytest.fixture
def files(tmp_path):
    """A generative-shaped tanh network and clamp files made from its own predictions."""
    net = pa.Network.random(SIZES, "tanh", seed=1, gain=2.0)
    (tmp_path / "net.json").write_text(json.dumps(network_to_dict(net)))
    rng = np.random.default_rng(5)
    x = pa.feedforward(net, rng.normal(size=(3, 2)))
    top = x[3] + 0.1 * rng.normal(size=(3, 9))
    free_top = [1, 4, 8]
    rows = [[None if i in free_top else float(v) for i, v in enumerate(r)] for r in top]
    paths = {"net": tmp_path / "net.json", "dir": tmp_path}
    for name, obj in {
        "top1": rows[0],  # one sample, three units free
        "topB": rows,  # a batch of three
        "mid": [0.1, None, None, 0.2, None],
        "x0": [0.3, -0.5],
        "yfull": top[0].tolist(),
    }.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(obj))
    paths["free_top"] = free_top
    return paths


def _run(capsys, argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _json(capsys, argv) -> dict:
    status, out, err = _run(capsys, argv)
    assert status == 0, err
    return json.loads(out)


def _grad_numpy(d: dict, x: list[np.ndarray]) -> list[np.ndarray]:
    """dF/dx of the SPEC section 1 energy from the decoded network file (tanh/linear only)."""
    f = {"linear": lambda v: v, "tanh": np.tanh}
    df = {"linear": np.ones_like, "tanh": lambda v: 1 - np.tanh(v) ** 2}
    L = len(d["weights"])
    W = [np.array(w) for w in d["weights"]]
    b = [np.array(v) for v in d["biases"]]
    pi = [np.broadcast_to(np.asarray(p, float), (len(bb),)) for p, bb in zip(d["precisions"], b)]
    acts = d["activations"]
    e = [None] + [pi[l - 1] * (x[l] - f[acts[l - 1]](x[l - 1]) @ W[l - 1].T - b[l - 1])
                  for l in range(1, L + 1)]  # fmt: skip
    g = []
    for l in range(L + 1):
        gl = e[l].copy() if l else np.zeros_like(x[0])
        if l < L:
            gl = gl - df[acts[l]](x[l]) * (e[l + 1] @ W[l])
        g.append(gl)
    return g


# ------------------------------------------------------------------ the SPEC identities


def test_input_is_clamp_of_layer_0_and_target_of_the_top(capsys, files):
    base = ["settle", files["net"], "--json"]
    a = _run(capsys, [*base, "--input", files["x0"], "--target", files["yfull"]])
    b = _run(capsys, [*base, "--clamp", f"0={files['x0']}", "--clamp", f"3={files['yfull']}"])
    c = _run(capsys, [*base, "--input", files["x0"], f"--clamp=-1={files['yfull']}"])
    assert a[0] == 0 and a == b == c


def test_partial_top_clamp_equals_the_library_and_is_a_rest_point(capsys, files):
    """Generative inference: only part of the top layer clamped, x0 and the hidden free."""
    out = _json(capsys, ["settle", files["net"], "--clamp", f"3={files['topB']}", "--json"])
    assert out["converged"]
    x = [np.array(v) for v in out["x"]]
    rows = json.loads(files["topB"].read_text())
    clamped = np.array([v is not None for v in rows[0]])
    np.testing.assert_array_equal(x[3][:, clamped], np.array(rows)[:, clamped].astype(float))
    d = json.loads(files["net"].read_text())
    g = _grad_numpy(d, x)
    free = [np.ones(n, bool) for n in SIZES]
    free[3] = ~clamped
    assert max(np.abs(gl[:, m]).max() for gl, m in zip(g, free)) < GRAD_ATOL
    # the library with the same clamp: the same numbers, bit for bit
    net = pa.Network.random(SIZES, "tanh", seed=1, gain=2.0)
    masks = tuple(np.zeros(n, bool) for n in SIZES[:3]) + (clamped,)
    values = [np.zeros((3, n)) for n in SIZES]
    values[3] = np.where(clamped, np.array(rows, dtype=float), 0.0)
    res = settle(net, clamp=pa.Clamp(masks), values=tuple(values))
    for a, b in zip(x, res.x):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["ode", "discrete"])
def test_clamps_in_the_middle_agree_across_backends(capsys, files, backend):
    """Input and part of layer 1 clamped: the time-domain backends rest where equilibrium does."""
    base = ["settle", files["net"], "--input", files["x0"], "--clamp", f"1={files['mid']}"]
    eq = _json(capsys, [*base, "--json"])
    other = _json(capsys, [*base, "--backend", backend, "--json"])
    assert eq["converged"] and other["converged"]
    for a, b in zip(eq["x"], other["x"]):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(np.array(eq["x"][1])[[0, 3]], [0.1, 0.2])


def test_settle_without_input_starts_free_input_units_at_zero(capsys, files):
    """Only a middle clamp: layer 0 free (start 0), the top follows its prediction (energy of
    the upper layers zero at rest)."""
    out = _json(capsys, ["settle", files["net"], "--clamp", f"1={files['mid']}", "--json"])
    assert out["converged"]
    x = [np.array(v) for v in out["x"]]
    d = json.loads(files["net"].read_text())
    W3, b3 = np.array(d["weights"][2]), np.array(d["biases"][2])
    np.testing.assert_allclose(x[3], np.tanh(x[2]) @ W3.T + b3, atol=1e-9)


@pytest.mark.skipif(NGSPICE is None, reason="needs ngspice")
@pytest.mark.parametrize("level", ["behavioural", "crossbar"])
def test_compiled_netlist_with_partial_clamps_rests_at_equilibrium(capsys, files, level):
    """compile --clamp: clamped units are DC sources, free ones capacitor nodes; plain
    ``ngspice -b`` prints the rest point the equilibrium solver finds."""
    clamps = ["--clamp", f"3={files['top1']}", "--clamp", f"1={files['mid']}"]
    eq = _json(capsys, ["settle", files["net"], *clamps, "--json"])
    cir = files["dir"] / f"{level}.cir"
    status, _, err = _run(
        capsys,
        ["compile", files["net"], *clamps, "--level", level, "--analysis", "op", "-o", cir],
    )
    assert status == 0, err
    text = cir.read_text()
    assert "layer 3 units 0,2,3,5,6,7" in text and "layer 1 units 0,3" in text
    proc = subprocess.run(
        [NGSPICE, "-b", cir.name], cwd=cir.parent, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = {k: float(v) for k, v in _PRINTED.findall(proc.stdout)}
    spice = np.array([printed[f"x{l}_{i}"] for l, n in enumerate(SIZES) for i in range(n)])
    ref = np.concatenate([np.array(v) for v in eq["x"]])
    assert np.max(np.abs(spice - ref)) / np.max(np.abs(ref)) < NGSPICE_RTOL


# ------------------------------------------------------------------ bad input


def _bad(capsys, argv, *needles):
    status, out, err = _run(capsys, argv)
    assert status == 2, (status, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


def _write(folder: Path, name: str, obj) -> Path:
    p = folder / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


@pytest.mark.parametrize(
    "arg, content, needles",
    [
        ("3", [0.1] * 8, ["8 entries", "9 units"]),  # length differs from the layer
        ("3", [[0.1] * 9, [0.1] * 8], ["[1]", "8 entries"]),
        ("4", [0.1] * 9, ["layer 4 out of range", "0..3"]),
        ("-5", [0.1] * 9, ["layer -5 out of range"]),
        ("x", [0.1] * 9, ["'x' is not an integer"]),
        ("3", [0.1] * 8 + ["a"], ["[8]", "number or null", "str"]),
        ("3", [0.1] * 8 + [True], ["[8]", "bool"]),
        ("3", [0.1] * 8 + [[0.1]], ["[8]", "list"]),
        ("3", "[0.1, NaN, 0, 0, 0, 0, 0, 0, 0]", ["[1]", "finite"]),
        ("3", [0.1] * 8 + [1e7], ["[8]", "finite"]),
        ("3", [], ["non-empty"]),
        ("3", {"a": 1}, ["non-empty list"]),
        ("3", "[0.1,", ["invalid JSON"]),
        ("3", [[0.1] * 9, [None] + [0.1] * 8], ["row 1", "same units"]),
    ],
)
@pytest.mark.parametrize("command", ["settle", "compile"])
def test_bad_clamp_files_are_one_line_exit_2(capsys, files, arg, content, needles, command):
    clamp = _write(files["dir"], "bad.json", content)
    out = files["dir"] / "out.cir"
    argv = [command, files["net"], f"--clamp={arg}={clamp}"]
    argv += ["-o", out] if command == "compile" else []
    _bad(capsys, argv, *needles)
    assert not out.exists()


@pytest.mark.parametrize("command", ["settle", "compile"])
def test_a_clamp_leaving_nothing_free_is_bad_input(capsys, files, command):
    d = files["dir"]
    full = [_write(d, f"full{l}.json", [0.1] * n) for l, n in enumerate(SIZES)]
    argv = [command, files["net"]] + [f"--clamp={l}={p}" for l, p in enumerate(full)]
    argv += ["-o", d / "out.cir"] if command == "compile" else []
    _bad(capsys, argv, "every unit is clamped")
    assert not (d / "out.cir").exists()


def test_other_bad_clamp_arguments(capsys, files):
    net, d = files["net"], files["dir"]
    _bad(capsys, ["settle", net, "--clamp", str(files["mid"])], "expected L=FILE.json")
    _bad(capsys, ["settle", net, "--clamp", f"1={d / 'nope.json'}"], "file not found")
    _bad(capsys, ["settle", net, "--input", files["x0"], "--clamp", f"0={files['x0']}"],
         "layer 0 is already clamped by --input")  # fmt: skip
    _bad(capsys, ["settle", net, "--clamp", f"1={files['mid']}", "--clamp", f"1={files['mid']}"],
         "layer 1 is already clamped")  # fmt: skip
    _bad(capsys, ["settle", net, "--clamp", f"3={files['topB']}", "--input",
                  _write(d, "x2.json", [[0, 0], [0, 0]])], "batch sizes differ")  # fmt: skip
    _bad(capsys, ["settle", net], "--input", "--clamp")
    _bad(capsys, ["compile", net, "--clamp", f"1={files['mid']}", "-o", files["mid"]], "-o")
    assert json.loads(files["mid"].read_text()) == [0.1, None, None, 0.2, None]
