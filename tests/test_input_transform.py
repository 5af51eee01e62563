"""Trained models export correctly: the input transform is stored and applied everywhere.

SPEC section 2: a network file may carry ``"input_transform": {"offset": a, "scale": s}``,
and raw data features ``r`` become the clamped input ``x_0 = (r - offset) * scale``.

Oracles:

- the transform is the closed form ``(r - offset) * scale`` (and ``then`` composes two
  such maps into one);
- every command that takes raw data (settle, grads, compile) gives, on raw inputs, what
  the same network *without* a transform gives on the transformed inputs (bit for bit:
  the same code path after one map);
- a trained classifier's ``final_network.json`` plus the data set's *raw* test features
  reproduces the test accuracy the run reported, in Python (``predict``) and through
  ``pc-analog settle``;
- a netlist compiled from that file with raw digits, run under plain ``ngspice -b``,
  classifies every sample as the Python model does (ngspice's operating point, an
  independent solver, read from its printed node voltages).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from pc_analog.cli.main import main
from pc_analog.errors import InvalidInputError
from pc_analog.io.data import _digits_raw, load_dataset
from pc_analog.io.formats import load_network, save_network
from pc_analog.learning.train import TrainConfig, train
from pc_analog.model.energy import feedforward, predict
from pc_analog.model.network import InputTransform, Network

NGSPICE = shutil.which("ngspice")
#: ngspice's operating point meets its node-voltage tolerance VNTOL (default 1 uV); the
#: printed outputs agree with the Python model to far better than that (~1e-10 V seen).
NGSPICE_VNTOL_V = 1e-6


def _cli(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------------------ the map itself
def test_transform_is_offset_then_scale_and_composes():
    rng = np.random.default_rng(0)
    r = rng.uniform(0, 16, (5, 3))
    off, sc = rng.uniform(0, 5, 3), rng.uniform(0.1, 2, 3)
    t = InputTransform(off, sc)
    np.testing.assert_allclose(t(r), (r - off) * sc, rtol=0, atol=0)
    np.testing.assert_allclose(t.inverse(t(r)), r, rtol=1e-14)
    # then(): (r - o1) s1 -> ((r - o1) s1 - o2) s2 as one map
    o2, s2 = 0.3, rng.uniform(0.5, 3, 3)
    both = t.then(o2, s2)
    np.testing.assert_allclose(both(r), ((r - off) * sc - o2) * s2, rtol=1e-13, atol=1e-13)
    net = Network.random([3, 4, 2], seed=1).replace(input_transform=t)
    np.testing.assert_array_equal(net.transform_input(r), t(r))
    # without a transform the raw data are the clamped input
    np.testing.assert_array_equal(Network.random([3, 4, 2], seed=1).transform_input(r), r)
    # replace() keeps the transform
    assert net.replace(precisions=(2.0, 2.0)).input_transform is t


@pytest.mark.parametrize(
    "offset, scale, needle",
    [
        (0.0, 0.0, "scale: must be non-zero"),
        (0.0, [1.0, 0.0, 1.0], "scale: must be non-zero"),
        ([0.0, 1.0], 1.0, "2 entries, the input layer has 3"),
        (float("nan"), 1.0, "offset: contains non-finite"),
        (0.0, 1e-9, "scale"),
        ([0.0, 1.0], [1.0, 2.0, 3.0], "offset has 2 entries, scale 3"),
    ],
)
def test_bad_transforms_are_refused_by_name(offset, scale, needle):
    with pytest.raises(InvalidInputError, match=re.escape(needle)):
        Network.random([3, 4, 2], seed=1).replace(
            input_transform={"offset": offset, "scale": scale}
        )


def test_digits_raw_counts_are_scikit_learns():
    """The digits are read from the wheel's CSV without importing scikit-learn: the same
    counts and labels as ``sklearn.datasets.load_digits``."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    bunch = sklearn_datasets.load_digits()
    counts, labels = _digits_raw()
    np.testing.assert_array_equal(counts, bunch.data)
    np.testing.assert_array_equal(labels, bunch.target)
    assert counts.max() == 16 and load_dataset("digits").raw_scale == 16


# ------------------------------------------------------------------ every command applies it
@pytest.fixture
def pair(tmp_path):
    """A network with a per-feature transform, the same weights without one, raw inputs,
    transformed inputs and targets, all as files."""
    rng = np.random.default_rng(3)
    t = InputTransform(rng.uniform(0, 8, 4), rng.uniform(0.05, 0.5, 4))
    plain = Network.random([4, 5, 3], "tanh", seed=2)
    carried = plain.replace(input_transform=t)
    raw = rng.uniform(0, 16, (3, 4))
    y = rng.uniform(-0.5, 0.5, (3, 3))
    files = {}
    for name, obj in (("raw", raw), ("x0", t(raw)), ("y", y)):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(obj.tolist()))
    files["plain"], files["carried"] = tmp_path / "plain.json", tmp_path / "carried.json"
    save_network(plain, files["plain"])
    save_network(carried, files["carried"])
    return files, carried, raw


@pytest.mark.parametrize(
    "command",
    [
        ["settle", "--json"],
        ["settle", "--json", "--backend", "discrete"],
        ["grads", "--method", "pc", "--json"],
        ["grads", "--method", "bp", "--json"],
    ],
)
def test_commands_apply_the_transform_to_raw_inputs(pair, capsys, command):
    files, _, _ = pair
    head, opts = command[0], command[1:]
    rc1, out1, _ = _cli([head, files["carried"], "--input", files["raw"], "--target",
                         files["y"], *opts], capsys)  # fmt: skip
    rc2, out2, _ = _cli([head, files["plain"], "--input", files["x0"], "--target",
                         files["y"], *opts], capsys)  # fmt: skip
    assert rc1 == rc2 == 0
    a, b = json.loads(out1), json.loads(out2)
    a.pop("stats", None), b.pop("stats", None)
    assert a == b
    # and the raw inputs on the plain network are a different problem
    _, out3, _ = _cli([head, files["plain"], "--input", files["raw"], "--target",
                       files["y"], *opts], capsys)  # fmt: skip
    c = json.loads(out3)
    c.pop("stats", None)
    assert c != a


@pytest.mark.parametrize("command", [["settle", "--json"], ["compile", "-o", "-"]])
def test_input_beside_a_clamp_file_is_transformed_too(pair, capsys, tmp_path, command):
    """``--input`` is raw data whether or not ``--clamp`` files come with it (the clamp
    path loaded it untransformed before)."""
    files, _, _ = pair
    hidden = tmp_path / "h.json"
    hidden.write_text(json.dumps([0.2, None, -0.1, None, None]))
    outs = []
    for net, x in (("carried", "raw"), ("plain", "x0")):
        args = [files[net], "--input", files[x], "--clamp", f"1={hidden}"]
        if command[0] == "compile":
            one = tmp_path / f"{x}-one.json"  # compile takes one sample
            one.write_text(json.dumps(json.loads(files[x].read_text())[0]))
            args[2] = one
        rc, out, err = _cli([command[0], *args, *command[1:]], capsys)
        assert rc == 0, err
        outs.append(json.loads(out) if command[0] == "settle" else out)
    if command[0] == "settle":
        for o in outs:
            o.pop("stats", None)
    assert outs[0] == outs[1]


def test_compile_applies_the_transform(pair, capsys):
    files, _, _ = pair
    texts = []
    for net, x in (("carried", "raw"), ("plain", "x0")):
        rc, out, _ = _cli(["compile", files[net], "--input", files[x], "-o", "-"], capsys)
        assert rc == 0
        texts.append(out)
    assert texts[0] == texts[1]


def test_python_feedforward_and_predict_take_raw_data(pair):
    _, carried, raw = pair
    t = carried.input_transform
    ff = feedforward(carried, raw, raw=True)
    np.testing.assert_array_equal(ff[0], t(raw))
    for a, b in zip(ff, feedforward(carried, t(raw))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(predict(carried, raw), np.argmax(ff[-1], axis=1))


# ------------------------------------------------------------------ trained classifiers
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short digits run with per-feature input scaling: its report and raw test data."""
    out = tmp_path_factory.mktemp("trained") / "run"
    cfg = TrainConfig(
        arch=(64, 24, 10), epochs=3, limit_train=400, limit_test=120, input_scaling="per-feature"
    )
    report = train(cfg, out, progress=False, plots=False)
    data = load_dataset("digits")
    raw_test = data.raw(data.x_test[:120])
    return out, report, raw_test, data.y_test[:120]


def test_trained_file_on_raw_inputs_reproduces_the_reported_accuracy(trained, tmp_path, capsys):
    out, report, raw, labels = trained
    net = load_network(out / "final_network.json")
    assert net.input_transform is not None
    assert net.input_transform.offset.shape == (64,)  # per feature
    acc = float(np.mean(predict(net, raw) == labels))
    assert acc == report.test_accuracy
    assert report.test_accuracy > 0.5  # it learned (chance is 0.1)
    # through the command line: settle the file on the raw test inputs, read the outputs
    (tmp_path / "raw.json").write_text(json.dumps(raw.tolist()))
    rc, text, _ = _cli(["settle", out / "final_network.json", "--input", tmp_path / "raw.json",
                        "--json"], capsys)  # fmt: skip
    assert rc == 0
    settled = np.array(json.loads(text)["x"][-1])
    assert float(np.mean(np.argmax(settled, axis=1) == labels)) == report.test_accuracy
    # without its transform the same weights are a much worse classifier on raw data
    bare = net.replace(input_transform=None)
    assert float(np.mean(predict(bare, raw) == labels)) < report.test_accuracy - 0.2


@pytest.mark.skipif(NGSPICE is None, reason="ngspice binary not on PATH")
def test_netlist_of_a_trained_classifier_classifies_raw_digits_in_ngspice(
    trained, tmp_path, capsys
):
    out, _, raw, _ = trained
    net = load_network(out / "final_network.json")
    samples = raw[:6]
    (tmp_path / "raw.json").write_text(json.dumps(samples.tolist()))
    want = feedforward(net, samples, raw=True)[-1]
    L = net.n_layers
    for k in range(samples.shape[0]):
        deck = tmp_path / f"s{k}.cir"
        rc, _, err = _cli(["compile", out / "final_network.json", "--input", tmp_path / "raw.json",
                           "--sample", k, "--analysis", "op", "-o", deck], capsys)  # fmt: skip
        assert rc == 0, err
        run_dir = tmp_path / f"run{k}"
        run_dir.mkdir()
        proc = subprocess.run(
            [NGSPICE, "-b", str(deck)],
            cwd=run_dir,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        got = {
            int(m.group(1)): float(m.group(2))
            for m in re.finditer(rf"^v\(x{L}_(\d+)\) = (\S+)$", proc.stdout, re.MULTILINE)
        }
        assert sorted(got) == list(range(net.sizes[-1]))
        v = np.array([got[j] for j in range(net.sizes[-1])])
        np.testing.assert_allclose(v, want[k], rtol=0, atol=NGSPICE_VNTOL_V)
        assert int(np.argmax(v)) == int(predict(net, samples[k : k + 1])[0])
