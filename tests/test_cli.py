"""Tests of the ``pc-analog`` command line (SPEC section 4): ``settle`` and ``grads``.

Most runs call :func:`pc_analog.cli.main.main` in-process (fast); a few run the installed
console script and ``python -m pc_analog`` in a subprocess.

Oracles: the energy, its gradient, the feedforward pass, the backprop loss and the
Hebbian update are recomputed here with numpy straight from the JSON file (no library
code); backprop is checked against central finite differences of that loss; the two
settle backends are checked against each other and against the library ``settle``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pc_analog
from pc_analog.cli.main import main
from pc_analog.io.formats import network_to_dict
from pc_analog.model.network import Network

# ------------------------------------------------------------ numpy oracle


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


_PHI = {
    "linear": (lambda v: v, np.ones_like),
    "tanh": (np.tanh, lambda v: 1.0 - np.tanh(v) ** 2),
    "sigmoid": (_sig, lambda v: _sig(v) * (1.0 - _sig(v))),
    "softplus": (lambda v: np.log1p(np.exp(v)), _sig),
}


class Oracle:
    """The SPEC section 1 energy of a network, from its decoded JSON file only."""

    def __init__(self, d: dict):
        self.sizes = d["sizes"]
        self.L = len(self.sizes) - 1
        self.W = [np.array(w, dtype=float) for w in d["weights"]]
        self.b = [np.array(b, dtype=float) for b in d["biases"]]
        self.pi = [
            np.broadcast_to(np.asarray(p, dtype=float), (n,)).copy()
            for p, n in zip(d["precisions"], self.sizes[1:])
        ]
        self.f = [_PHI[a][0] for a in d["activations"]]
        self.df = [_PHI[a][1] for a in d["activations"]]

    def mu(self, x, l, W=None, b=None):
        W = self.W[l - 1] if W is None else W
        b = self.b[l - 1] if b is None else b
        return self.f[l - 1](x[l - 1]) @ W.T + b

    def feedforward(self, x0, W=None, b=None):
        W = self.W if W is None else W
        b = self.b if b is None else b
        a = [np.atleast_2d(np.asarray(x0, dtype=float))]
        for l in range(1, self.L + 1):
            a.append(self.mu(a, l, W[l - 1], b[l - 1]))
        return a

    def loss(self, x0, y, W=None, b=None):
        """``0.5 * pi_L * ||y - a_L||^2`` summed over the batch."""
        aL = self.feedforward(x0, W, b)[-1]
        return 0.5 * float(np.sum(self.pi[-1] * (np.atleast_2d(y) - aL) ** 2))

    def eps(self, x):
        return [None] + [x[l] - self.mu(x, l) for l in range(1, self.L + 1)]

    def energy(self, x):
        e = self.eps(x)
        return sum(0.5 * np.sum(self.pi[l - 1] * e[l] ** 2, axis=1) for l in range(1, self.L + 1))

    def grad_x(self, x, l):
        """``dF/dx_l`` for a hidden layer ``0 < l < L``."""
        e = self.eps(x)
        up = (self.pi[l] * e[l + 1]) @ self.W[l]
        return self.pi[l - 1] * e[l] - self.df[l](x[l]) * up

    def hebbian(self, x):
        """``-dF/dW_l = sum_batch (pi_l eps_l) phi_{l-1}(x_{l-1})^T`` and ``-dF/db_l``."""
        e = self.eps(x)
        dW = [(self.pi[l - 1] * e[l]).T @ self.f[l - 1](x[l - 1]) for l in range(1, self.L + 1)]
        db = [(self.pi[l - 1] * e[l]).sum(axis=0) for l in range(1, self.L + 1)]
        return dW, db


# ---------------------------------------------------------------- fixtures

SIZES = [3, 5, 4, 2]


def _network_dict() -> dict:
    net = Network.random(
        SIZES,
        ["linear", "tanh", "sigmoid"],
        [1.0, [0.5, 2.0, 1.5, 0.8], [0.7, 1.3]],
        seed=5,
        gain=1.5,
    )
    return network_to_dict(net)


def _dump(path: Path, obj) -> str:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(123)
    d = _network_dict()
    f = {"root": root, "dict": d}
    f["net"] = _dump(root / "net.json", d)
    f["x_vals"] = rng.uniform(-1, 1, SIZES[0]).tolist()
    f["y_vals"] = rng.uniform(-1, 1, SIZES[-1]).tolist()
    f["xb_vals"] = rng.uniform(-1, 1, (3, SIZES[0])).tolist()
    f["yb_vals"] = rng.uniform(-1, 1, (3, SIZES[-1])).tolist()
    f["x"] = _dump(root / "x.json", f["x_vals"])
    f["y"] = _dump(root / "y.json", f["y_vals"])
    f["xb"] = _dump(root / "xb.json", f["xb_vals"])
    f["yb"] = _dump(root / "yb.json", f["yb_vals"])
    # bad inputs
    f["x_narrow"] = _dump(root / "x_narrow.json", f["x_vals"][:-1])
    f["y_wide"] = _dump(root / "y_wide.json", f["y_vals"] + [0.0])
    f["yb_short"] = _dump(root / "yb_short.json", f["yb_vals"][:2])
    (root / "x_nan.json").write_text("[0.1, NaN, 0.3]", encoding="utf-8")
    f["x_nan"] = str(root / "x_nan.json")
    (root / "bad.json").write_text('{"format": "pc-analog.network/1", "sizes": [3,', "utf-8")
    f["invalid_json"] = str(root / "bad.json")
    (root / "x_bad.json").write_text("[0.1, 0.2, 0.3", encoding="utf-8")
    f["x_invalid_json"] = str(root / "x_bad.json")
    f["missing"] = str(root / "does-not-exist.json")

    def bad_net(name, mutate, raw=None):
        dd = json.loads(json.dumps(d))
        mutate(dd)
        text = json.dumps(dd) if raw is None else raw(json.dumps(dd))
        (root / f"{name}.json").write_text(text, encoding="utf-8")
        f[name] = str(root / f"{name}.json")

    bad_net("net_unknown_act", lambda dd: dd["activations"].__setitem__(1, "relu"))
    bad_net("net_zero_prec", lambda dd: dd["precisions"].__setitem__(0, 0.0))
    bad_net("net_neg_prec_vec", lambda dd: dd["precisions"][1].__setitem__(2, -1.0))
    bad_net("net_wrong_shape", lambda dd: [row.pop() for row in dd["weights"][1]])
    bad_net("net_no_format", lambda dd: dd.pop("format"))
    bad_net("net_empty_weights", lambda dd: dd["weights"].__setitem__(0, []))
    bad_net("net_list_act", lambda dd: dd["activations"].__setitem__(2, ["tanh"]))
    bad_net(
        "net_huge_int",
        lambda dd: dd["biases"][0].__setitem__(0, "BIG"),
        raw=lambda t: t.replace('"BIG"', "1" + "0" * 400),
    )
    return f


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()  # drop anything printed before
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _strict_json(text: str):
    def reject(token):
        raise AssertionError(f"non-standard JSON token {token} in output")

    return json.loads(text, parse_constant=reject)


def _json_out(capsys, argv) -> dict:
    rc, out, err = _run(capsys, argv)
    assert rc == 0, err
    assert err == ""
    assert out.endswith("\n") and out.count("\n") == 1, "expected exactly one line on stdout"
    obj = _strict_json(out)
    assert isinstance(obj, dict)
    return obj


def _layers(obj) -> list[np.ndarray]:
    return [np.atleast_2d(np.array(xl, dtype=float)) for xl in obj["x"]]


# ------------------------------------------------------------------ settle


def test_settle_single_sample_clamped(capsys, files):
    obj = _json_out(
        capsys, ["settle", files["net"], "--input", files["x"], "--target", files["y"], "--json"]
    )
    assert {"backend", "x", "energy", "converged"} <= set(obj)
    assert obj["backend"] == "equilibrium"
    assert obj["converged"] is True
    # a single sample gives per-layer flat lists
    assert [len(xl) for xl in obj["x"]] == SIZES
    assert all(isinstance(v, float) for xl in obj["x"] for v in xl)
    assert obj["x"][0] == files["x_vals"]  # clamped input, exactly
    assert obj["x"][-1] == files["y_vals"]  # clamped target, exactly
    assert isinstance(obj["energy"], float)

    oracle = Oracle(files["dict"])
    x = _layers(obj)
    assert obj["energy"] == pytest.approx(float(oracle.energy(x)[0]), rel=1e-12, abs=1e-15)
    assert obj["energy"] > 1e-3  # both ends clamped to random values: not a trivial rest point
    for l in range(1, len(SIZES) - 1):
        assert np.max(np.abs(oracle.grad_x(x, l))) < 1e-8, f"layer {l} not at rest"

    lib = pc_analog.settle(pc_analog.load_network(files["net"]), files["x_vals"], files["y_vals"])
    for l in range(len(SIZES)):
        np.testing.assert_allclose(x[l], lib.x[l], rtol=0, atol=1e-12)
    assert obj["energy"] == pytest.approx(float(lib.energy[0]), rel=1e-12)


def test_settle_batch(capsys, files):
    obj = _json_out(
        capsys, ["settle", files["net"], "--input", files["xb"], "--target", files["yb"], "--json"]
    )
    assert obj["converged"] is True
    batch = len(files["xb_vals"])
    for l, xl in enumerate(obj["x"]):
        assert isinstance(xl, list) and len(xl) == batch
        assert all(isinstance(row, list) and len(row) == SIZES[l] for row in xl)
    assert obj["x"][0] == files["xb_vals"]
    assert obj["x"][-1] == files["yb_vals"]
    assert isinstance(obj["energy"], list) and len(obj["energy"]) == batch

    oracle = Oracle(files["dict"])
    x = _layers(obj)
    np.testing.assert_allclose(obj["energy"], oracle.energy(x), rtol=1e-12, atol=1e-15)
    for l in range(1, len(SIZES) - 1):
        assert np.max(np.abs(oracle.grad_x(x, l))) < 1e-8

    lib = pc_analog.settle(pc_analog.load_network(files["net"]), files["xb_vals"], files["yb_vals"])
    for l in range(len(SIZES)):
        np.testing.assert_allclose(x[l], lib.x[l], rtol=0, atol=1e-12)


def test_settle_batch_rows_are_independent(capsys, files, tmp_path):
    """Row 1 of a batch settles to the same state as that sample alone."""
    batch = _json_out(
        capsys, ["settle", files["net"], "--input", files["xb"], "--target", files["yb"], "--json"]
    )
    x1 = _dump(tmp_path / "x1.json", files["xb_vals"][1])
    y1 = _dump(tmp_path / "y1.json", files["yb_vals"][1])
    one = _json_out(capsys, ["settle", files["net"], "--input", x1, "--target", y1, "--json"])
    for l in range(len(SIZES)):
        np.testing.assert_allclose(one["x"][l], batch["x"][l][1], rtol=0, atol=1e-9)
    assert one["energy"] == pytest.approx(batch["energy"][1], rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("batch", [False, True])
def test_settle_discrete_agrees_with_equilibrium(capsys, files, batch):
    x, y = (files["xb"], files["yb"]) if batch else (files["x"], files["y"])
    base = ["settle", files["net"], "--input", x, "--target", y, "--json"]
    eq = _json_out(capsys, base + ["--backend", "equilibrium"])
    di = _json_out(capsys, base + ["--backend", "discrete", "--step-size", "0.2"])
    assert eq["backend"] == "equilibrium" and di["backend"] == "discrete"
    assert eq["converged"] is True and di["converged"] is True
    xe, xd = _layers(eq), _layers(di)
    for l in range(len(SIZES)):
        assert xe[l].shape == xd[l].shape
        np.testing.assert_allclose(xd[l], xe[l], rtol=0, atol=1e-6)
    # the feedforward start is not already the answer: the settled hidden state moved
    start = Oracle(files["dict"]).feedforward(np.array(eq["x"][0]))
    assert np.max(np.abs(xe[1] - start[1])) > 1e-3


def test_settle_without_target_is_feedforward(capsys, files):
    obj = _json_out(capsys, ["settle", files["net"], "--input", files["xb"], "--json"])
    assert obj["converged"] is True
    a = Oracle(files["dict"]).feedforward(np.array(files["xb_vals"]))
    x = _layers(obj)
    for l in range(len(SIZES)):
        np.testing.assert_allclose(x[l], a[l], rtol=0, atol=1e-12)
    assert max(abs(e) for e in obj["energy"]) < 1e-20


def test_settle_human_output(capsys, files):
    rc, out, err = _run(capsys, ["settle", files["net"], "--input", files["x"]])
    assert rc == 0 and err == ""
    assert "equilibrium" in out and "energy" in out


# ------------------------------------------------------------------- grads


@pytest.mark.parametrize("method", ["bp", "pc", "fpa", "zil"])
def test_grads_json_shapes(capsys, files, method):
    obj = _json_out(
        capsys,
        ["grads", files["net"], "--input", files["xb"], "--target", files["yb"]]
        + ["--method", method, "--json"],
    )
    assert set(obj) >= {"method", "dW", "db"}
    assert obj["method"] == method
    d = files["dict"]
    assert len(obj["dW"]) == len(obj["db"]) == len(d["weights"])
    for dW, W in zip(obj["dW"], d["weights"]):
        assert np.array(dW).shape == np.array(W).shape
    for db, b in zip(obj["db"], d["biases"]):
        assert np.array(db).shape == np.array(b).shape
    assert np.any(np.abs(np.array(obj["dW"][0])) > 1e-6)  # not all zero


def _grads(capsys, files, method, x="xb", y="yb"):
    obj = _json_out(
        capsys,
        ["grads", files["net"], "--input", files[x], "--target", files[y]]
        + ["--method", method, "--json"],
    )
    return [np.array(w) for w in obj["dW"]], [np.array(b) for b in obj["db"]]


@pytest.mark.parametrize("method", ["zil", "fpa"])
def test_grads_zil_and_fpa_equal_bp(capsys, files, method):
    bp_W, bp_b = _grads(capsys, files, "bp")
    W, b = _grads(capsys, files, method)
    for u, v in zip(W, bp_W):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-12)
    for u, v in zip(b, bp_b):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch", [False, True])
def test_grads_bp_matches_finite_differences(capsys, files, batch):
    x, y = ("xb", "yb") if batch else ("x", "y")
    dW, db = _grads(capsys, files, "bp", x, y)
    oracle = Oracle(files["dict"])
    x0 = np.array(files[f"{x}_vals"])
    yv = np.array(files[f"{y}_vals"])
    h = 1e-6
    # one entry of every layer, and one bias
    for l, (i, j) in [(1, (1, 2)), (2, (3, 0)), (3, (1, 3))]:
        Wp = [w.copy() for w in oracle.W]
        Wm = [w.copy() for w in oracle.W]
        Wp[l - 1][i, j] += h
        Wm[l - 1][i, j] -= h
        fd = (oracle.loss(x0, yv, W=Wp) - oracle.loss(x0, yv, W=Wm)) / (2 * h)
        assert abs(fd) > 1e-4, "the chosen entry has a negligible gradient; pick another"
        assert dW[l - 1][i, j] == pytest.approx(-fd, rel=1e-6, abs=1e-9), (l, i, j)
    bp_ = [v.copy() for v in oracle.b]
    bm_ = [v.copy() for v in oracle.b]
    bp_[1][2] += h
    bm_[1][2] -= h
    fd = (oracle.loss(x0, yv, b=bp_) - oracle.loss(x0, yv, b=bm_)) / (2 * h)
    assert db[1][2] == pytest.approx(-fd, rel=1e-6, abs=1e-9)


def test_grads_pc_is_hebbian_update_at_settled_state(capsys, files):
    """``pc``'s update is ``-dF/dW`` at the state ``settle`` prints (numpy oracle)."""
    dW, db = _grads(capsys, files, "pc")
    obj = _json_out(
        capsys, ["settle", files["net"], "--input", files["xb"], "--target", files["yb"], "--json"]
    )
    hW, hb = Oracle(files["dict"]).hebbian(_layers(obj))
    for u, v in zip(dW, hW):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-8)
    for u, v in zip(db, hb):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-8)


# --------------------------------------------------------------- bad input

BAD = {
    # name: argv built from the files fixture
    "input-wrong-width": lambda f: ["settle", f["net"], "--input", f["x_narrow"]],
    "target-wrong-width": lambda f: [
        "settle",
        f["net"],
        "--input",
        f["x"],
        "--target",
        f["y_wide"],
    ],
    "grads-target-wrong-width": lambda f: [
        "grads",
        f["net"],
        "--input",
        f["x"],
        "--target",
        f["y_wide"],
        "--method",
        "bp",
    ],
    "batch-size-mismatch": lambda f: [
        "settle",
        f["net"],
        "--input",
        f["xb"],
        "--target",
        f["yb_short"],
    ],
    "grads-batch-size-mismatch": lambda f: [
        "grads",
        f["net"],
        "--input",
        f["xb"],
        "--target",
        f["yb_short"],
        "--method",
        "zil",
    ],
    "single-input-batch-target": lambda f: [
        "settle",
        f["net"],
        "--input",
        f["x"],
        "--target",
        f["yb"],
    ],
    "nan-in-input": lambda f: ["settle", f["net"], "--input", f["x_nan"]],
    "unknown-activation": lambda f: ["settle", f["net_unknown_act"], "--input", f["x"]],
    "zero-precision": lambda f: ["settle", f["net_zero_prec"], "--input", f["x"]],
    "negative-precision-in-vector": lambda f: [
        "grads",
        f["net_neg_prec_vec"],
        "--input",
        f["x"],
        "--target",
        f["y"],
        "--method",
        "pc",
    ],
    "wrong-weight-shape": lambda f: ["settle", f["net_wrong_shape"], "--input", f["x"]],
    "missing-format": lambda f: ["settle", f["net_no_format"], "--input", f["x"]],
    "missing-network": lambda f: ["settle", f["missing"], "--input", f["x"]],
    "missing-network-npz": lambda f: ["settle", f["missing"] + ".npz", "--input", f["x"]],
    "missing-input": lambda f: ["settle", f["net"], "--input", f["missing"]],
    "missing-target": lambda f: [
        "grads",
        f["net"],
        "--input",
        f["x"],
        "--target",
        f["missing"],
        "--method",
        "bp",
    ],
    "unknown-backend": lambda f: ["settle", f["net"], "--input", f["x"], "--backend", "warp"],
    "unknown-method": lambda f: [
        "grads",
        f["net"],
        "--input",
        f["x"],
        "--target",
        f["y"],
        "--method",
        "magic",
    ],
    "grads-without-target": lambda f: ["grads", f["net"], "--input", f["x"], "--method", "bp"],
    "settle-without-input": lambda f: ["settle", f["net"]],
    "invalid-json-network": lambda f: ["settle", f["invalid_json"], "--input", f["x"]],
    "invalid-json-input": lambda f: ["settle", f["net"], "--input", f["x_invalid_json"]],
    "negative-step-size": lambda f: [
        "settle",
        f["net"],
        "--input",
        f["x"],
        "--backend",
        "discrete",
        "--step-size",
        "-0.5",
    ],
    "negative-step-size-equals": lambda f: [
        "grads",
        f["net"],
        "--input",
        f["x"],
        "--target",
        f["y"],
        "--method",
        "fpa",
        "--step-size=-1",
    ],
    "nan-step-size": lambda f: ["settle", f["net"], "--input", f["x"], "--step-size", "nan"],
    "zero-max-steps": lambda f: ["settle", f["net"], "--input", f["x"], "--max-steps", "0"],
    "directory-as-network": lambda f: ["settle", f["root"], "--input", f["x"]],
    "directory-as-input": lambda f: ["settle", f["net"], "--input", f["root"]],
    "no-command": lambda f: [],
    "unknown-command": lambda f: ["frobnicate", f["net"]],
    "unknown-option": lambda f: ["settle", f["net"], "--input", f["x"], "--colour", "red"],
}

# Regressions: these bad networks once gave "internal error" and exit status 1 instead of 2.
BAD_KNOWN_BUGS = {
    "empty-weight-matrix": (
        lambda f: ["settle", f["net_empty_weights"], "--input", f["x"]],
        "formats._numeric: reshape of an empty weights list raises ValueError",
    ),
    "list-as-activation": (
        lambda f: ["settle", f["net_list_act"], "--input", f["x"]],
        "formats.network_from_dict: unhashable activation raises TypeError",
    ),
    "integer-too-large-for-float": (
        lambda f: ["settle", f["net_huge_int"], "--input", f["x"]],
        "formats._numeric: math.isfinite(10**400) raises OverflowError",
    ),
}


def _assert_bad_input(rc: int, out: str, err: str) -> None:
    assert rc == 2, (rc, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("pc-analog: error: "), err
    assert len(lines[0]) > len("pc-analog: error: ") + 5  # says what is wrong


@pytest.mark.parametrize(
    "name",
    sorted(BAD) + sorted(BAD_KNOWN_BUGS),
)
def test_bad_input_exit_2_one_line(capsys, files, name):
    argv = BAD[name](files) if name in BAD else BAD_KNOWN_BUGS[name][0](files)
    _assert_bad_input(*_run(capsys, argv))


@pytest.mark.parametrize(
    "name, needle",
    [
        ("input-wrong-width", "input"),
        ("target-wrong-width", "target"),
        ("batch-size-mismatch", "target"),
        ("nan-in-input", "input"),
        ("unknown-activation", "activations[1]"),
        ("zero-precision", "precisions[0]"),
        ("negative-precision-in-vector", "precisions[1]"),
        ("wrong-weight-shape", "weights[1]"),
        ("missing-format", "format"),
        ("missing-network", "network"),
        ("missing-input", "input"),
        ("unknown-backend", "backend"),
        ("unknown-method", "method"),
        ("grads-without-target", "target"),
        ("negative-step-size", "step-size"),
        ("directory-as-network", "network"),
    ],
)
def test_bad_input_message_names_what_is_wrong(capsys, files, name, needle):
    rc, _, err = _run(capsys, BAD[name](files))
    assert rc == 2
    assert needle in err, err


# -------------------------------------------------------------- subprocess


def _env() -> dict:
    env = dict(os.environ)
    env.pop("PC_ANALOG_DEBUG", None)
    return env


def _console_script() -> str | None:
    exe = Path(sys.executable).parent / "pc-analog"
    if exe.exists():
        return str(exe)
    return shutil.which("pc-analog")


def test_console_script_settle(files):
    exe = _console_script()
    if exe is None:
        pytest.skip("the pc-analog console script is not installed next to this Python")
    argv = ["settle", files["net"], "--input", files["x"], "--target", files["y"], "--json"]
    p = subprocess.run(
        [exe, *argv], capture_output=True, text=True, env=_env(), timeout=60, check=False
    )
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    obj = _strict_json(p.stdout)
    assert obj["converged"] is True
    assert obj["x"][0] == files["x_vals"] and obj["x"][-1] == files["y_vals"]


def test_module_bad_input_no_traceback(files):
    argv = ["settle", files["net_wrong_shape"], "--input", files["x_nan"]]
    p = subprocess.run(
        [sys.executable, "-m", "pc_analog", *argv],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    _assert_bad_input(p.returncode, p.stdout, p.stderr)
    assert "weights[1]" in p.stderr


@pytest.mark.parametrize("buffered", [True, False])
def test_module_closed_stdout_is_quiet(files, buffered):
    """A reader that went away (``pc-analog ... | head -c0``): exit 141, nothing on stderr.

    Buffered (the default for a pipe) the write fails at the flush, unbuffered at the print.
    """
    env = _env()
    if buffered:
        env.pop("PYTHONUNBUFFERED", None)
    else:
        env["PYTHONUNBUFFERED"] = "1"
    r, w = os.pipe()
    os.close(r)  # closed before the child writes: its first write fails with EPIPE
    argv = ["settle", files["net"], "--input", files["x"], "--target", files["y"], "--json"]
    try:
        p = subprocess.run(
            [sys.executable, "-m", "pc_analog", *argv],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr
    assert p.stderr == ""


def test_closed_stdout_in_process(monkeypatch, capsys, files):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    rc = main(["settle", files["net"], "--input", files["x"], "--json"])
    monkeypatch.undo()
    assert rc == 141
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------- version


def test_version_in_process(capsys):
    rc, out, err = _run(capsys, ["--version"])
    assert rc == 0
    assert out == f"pc-analog {pc_analog.__version__}\n"
    assert err == ""


def test_console_script_version():
    import importlib.metadata

    exe = _console_script()
    if exe is None:
        pytest.skip("the pc-analog console script is not installed next to this Python")
    p = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, env=_env(), timeout=60, check=False
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"pc-analog {importlib.metadata.version('pc-analog')}\n"


def test_help_returns_zero(capsys):
    rc, out, _ = _run(capsys, ["--help"])
    assert rc == 0
    assert "settle" in out and "bench" in out


def test_every_cli_module_is_a_registered_subcommand():
    """Each subcommand module has ``add_parser`` and ``run`` and is listed, so none is lost."""
    import importlib
    import pkgutil

    import pc_analog.cli
    from pc_analog.cli.bench import BENCH_COMMANDS
    from pc_analog.cli.main import SUBCOMMANDS

    names = {m.name for m in pkgutil.iter_modules(pc_analog.cli.__path__)}
    commands = names - {"main", "_common", "bench"}
    listed = {m.__name__.rpartition(".")[2] for m in SUBCOMMANDS + BENCH_COMMANDS} - {"bench"}
    assert commands == listed
    for name in commands:
        module = importlib.import_module(f"pc_analog.cli.{name}")
        assert callable(module.add_parser) and callable(module.run), name
        assert module.__doc__ and module.__doc__.startswith("``pc-analog"), name


# ---------------------------------------------- settle: failure statuses -> exit codes


def test_settle_stopped_short_exits_1_with_reason(capsys, files):
    """An iteration limit is 'not converged' (exit 1): never exit 0, reason on stderr."""
    rc, out, err = _run(
        capsys,
        ["settle", files["net"], "--input", files["x"], "--target", files["y"],
         "--backend", "discrete", "--max-steps", "1", "--json"],
    )  # fmt: skip
    assert rc == 1
    obj = _strict_json(out)
    assert obj["converged"] is False and obj["status"] == "MAX_STEPS"
    assert err.count("\n") == 1 and err.startswith("pc-analog: discrete: ")


def test_settle_backend_failure_exits_3_with_reason(capsys, files, monkeypatch):
    """A backend failing on valid input (ngspice's .op off its KCL residual) is exit 3."""
    import pc_analog.settling.registry as registry
    from pc_analog.solvers.base import SettleResult, Status

    real = registry.settle

    def failing(net, x0, y, *, hardware, **_ngspice_options):
        r = real(net, x0, y, hardware=hardware, backend="equilibrium")
        return SettleResult("ngspice", r.x, r.energy, Status.KCL_RESIDUAL, "", r.grad_max)

    monkeypatch.setattr(registry, "settle", failing)
    rc, out, err = _run(
        capsys, ["settle", files["net"], "--input", files["x"], "--backend", "ngspice", "--json"]
    )
    assert rc == 3
    assert _strict_json(out)["status"] == "KCL_RESIDUAL"
    assert err.count("\n") == 1 and "did not converge" in err


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")
def test_settle_ngspice_operating_point_of_a_non_ideal_chip(capsys, files, tmp_path):
    """``--backend ngspice --analysis op --hardware SPEC``: ngspice's operating point of the
    non-ideal circuit (finite gain, offsets, rails, DAC) is the equilibrium backend's rest
    point of the same circuit, and it is judged by its own KCL residual."""
    chip = tmp_path / "chip.json"
    chip.write_text(json.dumps({
        "format": "pc-analog.analog-spec/2", "amp_gain": 1000, "amp_offset_V": 0.002,
        "amp_rail_V": 1.0, "dac_bits": 8, "dac_range_V": 1.0, "mismatch_seed": 1,
    }))  # fmt: skip
    base = ["settle", files["net"], "--input", files["x"], "--target", files["y"],
            "--hardware", chip, "--json"]  # fmt: skip
    eq = _json_out(capsys, base)
    op = _json_out(capsys, [*base, "--backend", "ngspice", "--analysis", "op"])
    assert op["stats"]["analysis"] == "op" and op["status"] == "SUCCESS"
    assert "settling_time_s" not in op
    x_eq, x_op = _layers(eq), _layers(op)
    scale = max(np.max(np.abs(v)) for v in x_eq)
    assert max(np.max(np.abs(a - b)) for a, b in zip(x_eq, x_op)) <= 1e-6 * scale
    ideal = _json_out(capsys, base[:-3] + ["--json"])  # same clamps, ideal chip
    assert max(np.max(np.abs(a - b)) for a, b in zip(_layers(ideal), x_eq)) > 1e-4


def test_settle_json_is_strict_when_the_state_diverges(capsys, files):
    """A diverged discrete run (step far above 2/lambda_max) is exit 3, and its JSON holds
    null where the energy overflowed, never the non-standard token NaN or Infinity."""
    rc, out, err = _run(
        capsys,
        ["settle", files["net"], "--input", files["x"], "--target", files["y"],
         "--backend", "discrete", "--step-size", "1000", "--max-steps", "5000", "--json"],
    )  # fmt: skip
    assert rc == 3 and "not finite" in err
    obj = _strict_json(out)
    assert obj["status"] == "NON_FINITE" and obj["converged"] is False
    assert obj["energy"] is None


def test_hardware_spec_with_a_device_programs_the_weights(capsys, tmp_path):
    """``--hardware rram`` settles the weights as the spec's devices hold them: the same
    rest point as :meth:`HardwareNetwork.fabricate` (seeded by ``mismatch_seed``) gives in
    Python, and not the ideal network's (d2d variation moves it)."""
    from pc_analog.costs.specs import load_analog_spec
    from pc_analog.hardware.hebbian import HardwareNetwork
    from pc_analog.settling.registry import settle

    net = Network.random([4, 5, 2], ["linear", "tanh"], seed=3)
    x, y = np.array([[0.1, 0.2, -0.3, 0.5]]), np.array([[0.3, -0.1]])
    (tmp_path / "net.json").write_text(json.dumps(network_to_dict(net)))
    (tmp_path / "x.json").write_text(json.dumps(x.tolist()))
    (tmp_path / "y.json").write_text(json.dumps(y.tolist()))
    argv = ["settle", tmp_path / "net.json", "--input", tmp_path / "x.json",
            "--target", tmp_path / "y.json", "--hardware", "rram", "--json"]  # fmt: skip
    d = _json_out(capsys, argv)
    spec = load_analog_spec("rram")
    chip = HardwareNetwork.fabricate(net, spec.device, hardware=spec.hardware(), rng=0)
    want = settle(chip.circuit(x, y), backend="equilibrium").x[1]
    ideal = settle(net, x, y, backend="equilibrium").x[1]
    got = np.array(d["x"][1])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert np.max(np.abs(got - ideal)) > 1e-3
