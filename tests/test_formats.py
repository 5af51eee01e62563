"""Tests of pc_analog.io.formats: the ``pc-analog.network/1`` JSON file, ``.npz`` and vectors.

Oracles: round trips are checked bit for bit against the saved network; the JSON layout
is read back with the standard ``json`` module and compared with SPEC section 2 and with
the network's own arrays; bad files are built here by mutating a valid decoded file.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from pc_analog.errors import InvalidInputError
from pc_analog.io.formats import (
    FORMAT,
    load_network,
    load_vectors,
    network_from_dict,
    network_to_dict,
    save_network,
)
from pc_analog.model.network import Network

SPEC_KEYS = {"format", "sizes", "activations", "precisions", "weights", "biases"}


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def _assert_same_network(a: Network, b: Network) -> None:
    assert a.sizes == b.sizes
    assert a.activations == b.activations
    for name in ("weights", "biases", "precisions"):
        for u, v in zip(getattr(a, name), getattr(b, name), strict=True):
            assert u.shape == v.shape, name  # scalar precision stays scalar, vector stays vector
            assert u.dtype == v.dtype == np.float64, name
            assert _bits(u) == _bits(v), name
    ta, tb = a.input_transform, b.input_transform
    assert (ta is None) == (tb is None)
    if ta is not None:
        for u, v in ((ta.offset, tb.offset), (ta.scale, tb.scale)):
            assert u.shape == v.shape and _bits(u) == _bits(v), "input_transform"


def _networks():
    rng = np.random.default_rng(7)
    return {
        "scalar-linear-tanh": Network.random([3, 4, 2], "tanh", 1.0, seed=1),
        "mixed-4-activations": Network.random(
            [3, 5, 4, 6, 2],
            ["linear", "tanh", "sigmoid", "softplus"],
            [0.5, rng.uniform(0.1, 3.0, 4), 2.0, rng.uniform(0.1, 3.0, 2)],
            seed=2,
            gain=3.0,
        ),
        "all-vector-nonlinear-input": Network.random(
            [2, 3, 1],
            ["softplus", "sigmoid"],
            [rng.uniform(0.1, 3.0, 3), rng.uniform(0.1, 3.0, 1)],
            seed=3,
        ),
        "single-layer": Network.random([4, 3], "linear", 0.25, seed=4, bias=False),
        # a trained classifier's file: raw features -> clamped input
        "scalar-input-transform": Network.random([3, 4, 2], "tanh", 1.0, seed=5).replace(
            input_transform={"offset": 4.875, "scale": 1 / 16}
        ),
        "vector-input-transform": Network.random([3, 4, 2], "tanh", 1.0, seed=6).replace(
            input_transform={"offset": rng.uniform(0, 16, 3), "scale": rng.uniform(0.05, 2, 3)}
        ),
        "mixed-input-transform": Network.random([3, 4, 2], "tanh", 1.0, seed=6).replace(
            input_transform={"offset": 0.1, "scale": [0.5, -2.0, 1e-3]}
        ),
    }


NETWORKS = _networks()


@pytest.fixture
def base_dict() -> dict:
    """A valid decoded ``pc-analog.network/1`` object: sizes 3-4-2, vector output precision."""
    net = Network.random([3, 4, 2], ["linear", "tanh"], [1.5, [0.5, 2.0]], seed=11)
    return json.loads(json.dumps(network_to_dict(net)))


def _write_json_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _assert_one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg, "empty error message"
    assert "\n" not in msg and "\r" not in msg, repr(msg)
    return msg


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".json", ".npz"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_round_trip_is_bitwise(tmp_path, name, suffix):
    net = NETWORKS[name]
    path = tmp_path / f"net{suffix}"
    save_network(net, path)
    back = load_network(path)
    _assert_same_network(net, back)
    # a second generation is identical too (nothing drifts through repeated saves)
    path2 = tmp_path / f"net2{suffix}"
    save_network(back, path2)
    _assert_same_network(net, load_network(path2))


def test_round_trip_preserves_awkward_floats(tmp_path):
    """Values whose shortest repr is long, subnormals and the largest allowed magnitude
    (MAX_MAGNITUDE, 1e6: larger ones are refused) survive exactly."""
    w1 = np.array([[0.1 + 0.2, 1 / 3, -2.0 / 7], [5e-324, -1e6, 1e-300]])
    net = Network((w1,), (np.array([np.nextafter(1.0, 2.0), -0.0]),), (np.pi,), ("sigmoid",))
    for suffix in (".json", ".npz"):
        path = tmp_path / f"awkward{suffix}"
        save_network(net, path)
        back = load_network(path)
        _assert_same_network(net, back)
        assert np.signbit(back.biases[0][1])  # -0.0 stays negative zero


def test_saved_json_follows_spec(tmp_path):
    net = NETWORKS["mixed-4-activations"]
    path = tmp_path / "net.json"
    save_network(net, path)
    d = json.loads(path.read_text(encoding="utf-8"))
    assert set(d) == SPEC_KEYS
    assert d["format"] == "pc-analog.network/1" == FORMAT
    assert d["sizes"] == list(net.sizes)
    assert all(type(s) is int for s in d["sizes"])
    assert d["activations"] == list(net.activations)
    L = len(d["sizes"]) - 1
    assert len(d["weights"]) == len(d["biases"]) == len(d["precisions"]) == L
    for l in range(1, L + 1):
        W = d["weights"][l - 1]
        # a list of n_l rows, each a list of n_{l-1} plain numbers
        assert isinstance(W, list) and len(W) == d["sizes"][l]
        for row in W:
            assert isinstance(row, list) and len(row) == d["sizes"][l - 1]
            assert all(type(v) is float for v in row)
        assert np.array_equal(np.array(W), net.W(l))
        assert isinstance(d["biases"][l - 1], list)
        assert np.array_equal(np.array(d["biases"][l - 1]), net.b(l))
        p = d["precisions"][l - 1]
        if net.precisions[l - 1].ndim == 0:
            assert type(p) is float and p == float(net.precisions[l - 1])
        else:
            assert isinstance(p, list) and len(p) == d["sizes"][l]
            assert np.array_equal(np.array(p), net.precisions[l - 1])
    # the mixed network really has both kinds of precision, so both branches ran
    assert {np.ndim(p) for p in d["precisions"]} == {0, 1}


def test_hand_written_spec_example_loads(tmp_path):
    """A file written by hand in the SPEC's layout (ints allowed) loads with the right shapes."""
    d = {
        "format": "pc-analog.network/1",
        "sizes": [4, 5, 2],
        "activations": ["linear", "tanh"],
        "precisions": [1.0, 0.5],
        "weights": [[[i + 10 * j for i in range(4)] for j in range(5)], [[1] * 5, [-1] * 5]],
        "biases": [[0] * 5, [0.5, -0.5]],
    }
    path = _write_json_text(tmp_path / "spec.json", json.dumps(d, indent=2))
    net = load_network(path)
    assert net.sizes == (4, 5, 2)
    assert net.W(1).shape == (5, 4) and net.W(2).shape == (2, 5)
    assert net.W(1)[3, 2] == 32.0  # row j=3, column i=2: weights[l-1][row][col]
    assert np.array_equal(net.b(2), [0.5, -0.5])
    assert net.precisions[1].ndim == 0 and float(net.precisions[1]) == 0.5
    assert net.activations == ("linear", "tanh")


# ------------------------------------------------------------- invalid networks


def _set(path: list, value):
    """A mutation of the decoded file: set the element at ``path`` to ``value``."""

    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(key):
    return lambda d: d.pop(key)


BAD_NETWORKS = {
    # name: (mutation, substring the message must contain)
    "missing-format": (_delete("format"), "format"),
    "unknown-format": (_set(["format"], "pc-analog.network/2"), "format"),
    "format-not-string": (_set(["format"], 1), "format"),
    "missing-weights": (_delete("weights"), "weights"),
    "missing-biases": (_delete("biases"), "biases"),
    "missing-precisions": (_delete("precisions"), "precisions"),
    "missing-activations": (_delete("activations"), "activations"),
    "missing-sizes": (_delete("sizes"), "sizes"),
    "weights-too-many-rows": (lambda d: d["weights"][0].append([0.0] * 3), "weights[0]"),
    "weights-too-few-rows": (lambda d: d["weights"][1].pop(), "weights[1]"),
    "weights-too-many-columns": (
        lambda d: [row.append(0.0) for row in d["weights"][1]],
        "weights[1]",
    ),
    "weights-too-few-columns": (lambda d: [row.pop() for row in d["weights"][0]], "weights[0]"),
    "weights-transposed": (
        lambda d: d["weights"].__setitem__(0, np.array(d["weights"][0]).T.tolist()),
        "weights[0]",
    ),
    "weights-ragged": (lambda d: d["weights"][0][2].pop(), "weights[0]"),
    "weights-row-not-list": (_set(["weights", 0, 1], 0.5), "weights[0][1]"),
    "weights-3d": (_set(["weights", 1, 0, 2], [1.0]), "weights[1][0][2]"),
    "weights-wrong-count": (lambda d: d["weights"].pop(), "weights"),
    "sizes-disagree-with-weights": (_set(["sizes", 1], 5), "weights[0]"),
    "biases-too-long": (lambda d: d["biases"][0].append(0.0), "biases[0]"),
    "biases-too-short": (lambda d: d["biases"][1].pop(), "biases[1]"),
    "biases-scalar": (_set(["biases", 1], 0.0), "biases[1]"),
    "string-in-weights": (_set(["weights", 0, 1, 2], "0.5"), "weights[0][1][2]"),
    "string-in-biases": (_set(["biases", 1, 0], "x"), "biases[1][0]"),
    "string-precision": (_set(["precisions", 0], "1.0"), "precisions[0]"),
    "null-in-weights": (_set(["weights", 1, 1, 1], None), "weights[1][1][1]"),
    "bool-in-weights": (_set(["weights", 0, 0, 0], True), "weights[0][0][0]"),
    "zero-precision-scalar": (_set(["precisions", 0], 0.0), "precisions[0]"),
    "negative-precision-scalar": (_set(["precisions", 0], -1.5), "precisions[0]"),
    "zero-precision-in-vector": (_set(["precisions", 1, 1], 0.0), "precisions[1]"),
    "negative-precision-in-vector": (_set(["precisions", 1, 0], -2.0), "precisions[1]"),
    "vector-precision-too-long": (_set(["precisions", 1], [1.0, 1.0, 1.0]), "precisions[1]"),
    "vector-precision-too-short": (_set(["precisions", 0], [1.0, 1.0]), "precisions[0]"),
    # "__OVERFLOW__" is replaced by the literal 1e400 in the file (json reads it as inf)
    "precision-overflow-literal": (_set(["precisions", 0], "__OVERFLOW__"), "precisions[0]"),
    "weight-overflow-literal": (_set(["weights", 0, 0, 0], "__OVERFLOW__"), "weights[0][0][0]"),
    "unknown-activation": (_set(["activations", 1], "relu6"), "activations[1]"),
    "activation-not-string": (_set(["activations", 0], 3), "activations[0]"),
    "too-many-activations": (lambda d: d["activations"].append("tanh"), "activations"),
    "too-few-activations": (lambda d: d["activations"].pop(), "activations"),
    "sizes-zero": (_set(["sizes", 1], 0), "sizes"),
    "sizes-negative": (_set(["sizes", 0], -3), "sizes"),
    "sizes-float": (_set(["sizes", 1], 4.0), "sizes"),
    "sizes-string": (_set(["sizes", 1], "4"), "sizes"),
    "sizes-bool": (_set(["sizes", 2], True), "sizes"),
    "sizes-one-layer": (_set(["sizes"], [3]), "sizes"),
    "sizes-not-list": (_set(["sizes"], 3), "sizes"),
    # input_transform (SPEC section 2): {"offset": a, "scale": s}, numbers or lists of n_0
    "transform-not-object": (_set(["input_transform"], [0, 1]), "input_transform"),
    "transform-missing-scale": (_set(["input_transform"], {"offset": 0}), "input_transform.scale"),
    "transform-missing-offset": (_set(["input_transform"], {"scale": 1}), "input_transform.offset"),
    "transform-unknown-field": (
        _set(["input_transform"], {"offset": 0, "scale": 1, "gain": 2}),
        "input_transform.gain",
    ),
    "transform-zero-scale": (_set(["input_transform"], {"offset": 0, "scale": 0}), "scale"),
    "transform-zero-in-scale": (
        _set(["input_transform"], {"offset": 0, "scale": [1, 0, 1]}),
        "input_transform.scale",
    ),
    "transform-too-long": (
        _set(["input_transform"], {"offset": [0, 0, 0, 0], "scale": 1}),
        "input_transform.offset",
    ),
    "transform-too-short": (
        _set(["input_transform"], {"offset": 0, "scale": [1, 1]}),
        "input_transform.scale",
    ),
    "transform-string": (_set(["input_transform"], {"offset": "0", "scale": 1}), "offset"),
    "transform-overflow": (
        _set(["input_transform"], {"offset": "__OVERFLOW__", "scale": 1}),
        "input_transform.offset",
    ),
    "transform-huge": (_set(["input_transform"], {"offset": 1e9, "scale": 1}), "offset"),
}


@pytest.mark.parametrize("name", sorted(BAD_NETWORKS))
def test_load_rejects_bad_network(tmp_path, base_dict, name):
    mutate, field = BAD_NETWORKS[name]
    network_from_dict(json.loads(json.dumps(base_dict)))  # the unmutated file is valid
    mutate(base_dict)
    text = json.dumps(base_dict).replace('"__OVERFLOW__"', "-1e400")
    path = _write_json_text(tmp_path / "net.json", text)
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    msg = _assert_one_line(exc)
    assert field in msg, msg


def test_load_rejects_non_object(tmp_path):
    path = _write_json_text(tmp_path / "net.json", "[1, 2, 3]")
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    assert "network" in _assert_one_line(exc)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["weights", "biases", "precisions"])
def test_load_rejects_non_finite_tokens(tmp_path, base_dict, token, where):
    value = {"NaN": float("nan"), "Infinity": np.inf, "-Infinity": -np.inf}[token]
    if where == "weights":
        base_dict["weights"][1][0][3] = value
    elif where == "biases":
        base_dict["biases"][0][2] = value
    else:
        base_dict["precisions"][0] = value
    text = json.dumps(base_dict)  # Python's json writes the bare tokens NaN / Infinity
    assert token in text
    path = _write_json_text(tmp_path / "net.json", text)
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    msg = _assert_one_line(exc)
    assert "non-finite" in msg or token in msg, msg


def test_non_finite_token_message_names_the_field(tmp_path, base_dict):
    base_dict["weights"][1][0][3] = float("nan")
    path = _write_json_text(tmp_path / "net.json", json.dumps(base_dict))
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    assert "weights[1]" in _assert_one_line(exc)


# Regressions: these inputs once escaped as non-InvalidInputError exceptions
# (the CLI then reported "internal error" with exit status 1 instead of 2).
LIBRARY_BUGS = {
    "empty-weight-matrix": (
        _set(["weights", 0], []),
        "weights[0]",
        "formats._numeric: np.array([]).reshape((0, -1)) raises ValueError",
    ),
    "list-as-activation": (
        _set(["activations", 1], ["tanh"]),
        "activations[1]",
        "formats.network_from_dict: `a not in ACTIVATIONS` raises TypeError (unhashable)",
    ),
    "integer-too-large-for-float": (
        _set(["weights", 0, 0, 0], 10**400),
        "weights[0][0][0]",
        "formats._numeric: math.isfinite(10**400) raises OverflowError",
    ),
}


@pytest.mark.parametrize("name", sorted(LIBRARY_BUGS))
def test_load_rejects_edge_cases_known_bugs(tmp_path, base_dict, name):
    mutate, field, _ = LIBRARY_BUGS[name]
    mutate(base_dict)
    path = _write_json_text(tmp_path / "net.json", json.dumps(base_dict))
    try:
        load_network(path)
    except InvalidInputError as exc:
        msg = str(exc)
        assert "\n" not in msg and field in msg, msg
    else:
        pytest.fail("accepted an invalid network")


def test_load_missing_file(tmp_path):
    for suffix in (".json", ".npz"):
        with pytest.raises(InvalidInputError) as exc:
            load_network(tmp_path / f"absent{suffix}")
        msg = _assert_one_line(exc)
        assert "network" in msg and "not found" in msg, msg


def test_load_directory(tmp_path):
    with pytest.raises(InvalidInputError) as exc:
        load_network(tmp_path)
    assert "network" in _assert_one_line(exc)


@pytest.mark.parametrize(
    "text",
    ["", "{", '{"format": "pc-analog.network/1",}', "{'format': 1}", "nul", "\ufeff{}"],
)
def test_load_invalid_json(tmp_path, text):
    path = _write_json_text(tmp_path / "net.json", text)
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    msg = _assert_one_line(exc)
    assert "network" in msg, msg


def test_load_non_utf8(tmp_path):
    path = tmp_path / "net.json"
    path.write_bytes(b'{"format": "\xff\xfe"}')
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    assert "network" in _assert_one_line(exc)


# --------------------------------------------------------------------- .npz


def _npz_arrays(net: Network, tmp_path: Path) -> dict:
    path = tmp_path / "orig.npz"
    save_network(net, path)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("missing", ["format", "sizes", "activations", "W2", "b1", "pi2"])
def test_npz_missing_array(tmp_path, missing):
    arrays = _npz_arrays(NETWORKS["scalar-linear-tanh"], tmp_path)
    assert missing in arrays
    del arrays[missing]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    msg = _assert_one_line(exc)
    assert missing in msg, msg


def test_npz_unknown_format(tmp_path):
    arrays = _npz_arrays(NETWORKS["scalar-linear-tanh"], tmp_path)
    arrays["format"] = np.array("pc-analog.network/0")
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    assert "format" in _assert_one_line(exc)


@pytest.mark.parametrize("field", ["W1", "b2", "pi1"])
def test_npz_values_are_validated(tmp_path, field):
    arrays = _npz_arrays(NETWORKS["scalar-linear-tanh"], tmp_path)
    bad = np.array(arrays[field], dtype=float)
    if field == "pi1":
        bad = np.array(-1.0)
    else:
        bad.flat[0] = np.nan
    arrays[field] = bad
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    expected = {"W1": "weights[0]", "b2": "biases[1]", "pi1": "precisions[0]"}[field]
    assert expected in _assert_one_line(exc)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty", "npy-not-npz"])
def test_npz_corrupt(tmp_path, kind):
    path = tmp_path / "corrupt.npz"
    if kind == "garbage":
        path.write_bytes(b"this is not\na zip file\n")
    elif kind == "truncated":
        save_network(NETWORKS["mixed-4-activations"], tmp_path / "good.npz")
        raw = (tmp_path / "good.npz").read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        buf = io.BytesIO()
        np.save(buf, np.arange(3.0))
        path.write_bytes(buf.getvalue())
    with pytest.raises(InvalidInputError) as exc:
        load_network(path)
    msg = _assert_one_line(exc)
    assert "network" in msg or "format" in msg, msg


# ------------------------------------------------------------------ vectors


def _vec_file(tmp_path: Path, obj=None, text: str | None = None) -> Path:
    path = tmp_path / "v.json"
    path.write_text(json.dumps(obj) if text is None else text, encoding="utf-8")
    return path


def test_load_vectors_single_sample(tmp_path):
    values = [0.25, -1.5, 3.0, 7.125]
    arr, single = load_vectors(_vec_file(tmp_path, values), 4, "input")
    assert single is True
    assert arr.shape == (1, 4) and arr.dtype == np.float64
    assert arr[0].tolist() == values


def test_load_vectors_batch(tmp_path):
    rows = [[0.1, 0.2, 0.3], [1, 2, 3], [-4.5, 0, 1e-7]]
    arr, single = load_vectors(_vec_file(tmp_path, rows), 3, "target")
    assert single is False
    assert arr.shape == (3, 3)
    assert arr.tolist() == [[float(v) for v in r] for r in rows]


def test_load_vectors_batch_of_one_is_not_single(tmp_path):
    arr, single = load_vectors(_vec_file(tmp_path, [[1.0, 2.0]]), 2, "input")
    assert single is False and arr.shape == (1, 2)


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("wrong-width-single", [1.0, 2.0], "input"),
        ("wrong-width-batch", [[1.0, 2.0, 3.0, 4.0]] * 2, "input"),
        ("ragged", [[1.0, 2.0, 3.0], [1.0, 2.0]], "input"),
        ("mixed-list-number", [[1.0, 2.0, 3.0], 4.0], "input[1]"),
        ("nested-in-flat", [1.0, [2.0], 3.0], "input[1]"),
        ("string", [1.0, "2", 3.0], "input[1]"),
        ("null", [1.0, 2.0, None], "input[2]"),
        ("bool", [True, 2.0, 3.0], "input[0]"),
        ("empty-list", [], "input"),
        ("empty-row", [[]], "input"),
        ("object", {"x": [1.0, 2.0, 3.0]}, "input"),
        ("number", 3.0, "input"),
        ("string-top", "1,2,3", "input"),
        ("null-top", None, "input"),
        ("3d", [[[1.0, 2.0, 3.0]]], "input[0][0]"),
    ],
)
def test_load_vectors_rejects(tmp_path, name, content, needle):
    with pytest.raises(InvalidInputError) as exc:
        load_vectors(_vec_file(tmp_path, content), 3, "input")
    msg = _assert_one_line(exc)
    assert needle in msg, msg


@pytest.mark.parametrize(
    "text", ["[1.0, NaN, 2.0]", "[[1, 2, 3], [Infinity, 0, 0]]", "[1e999, 0, 0]"]
)
def test_load_vectors_rejects_non_finite(tmp_path, text):
    with pytest.raises(InvalidInputError) as exc:
        load_vectors(_vec_file(tmp_path, text=text), 3, "input")
    msg = _assert_one_line(exc)
    assert "input" in msg and ("non-finite" in msg or "NaN" in msg or "Infinity" in msg), msg


def test_load_vectors_missing_and_invalid(tmp_path):
    with pytest.raises(InvalidInputError) as exc:
        load_vectors(tmp_path / "absent.json", 3, "target")
    msg = _assert_one_line(exc)
    assert "target" in msg and "not found" in msg
    with pytest.raises(InvalidInputError) as exc:
        load_vectors(_vec_file(tmp_path, text="[1, 2,"), 3, "target")
    assert "target" in _assert_one_line(exc)


# -------------------------------------------------------------- atomic save


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_into_missing_directory_raises_and_leaves_nothing(tmp_path, suffix):
    target = tmp_path / "no-such-dir" / f"net{suffix}"
    with pytest.raises(OSError):
        save_network(NETWORKS["scalar-linear-tanh"], target)
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_leaves_no_temp_files(tmp_path, suffix):
    name = f"net{suffix}"
    save_network(NETWORKS["mixed-4-activations"], tmp_path / name)
    assert _listing(tmp_path) == [name]
    # overwrite in place: still one file, now holding the new network
    save_network(NETWORKS["all-vector-nonlinear-input"], tmp_path / name)
    assert _listing(tmp_path) == [name]
    _assert_same_network(load_network(tmp_path / name), NETWORKS["all-vector-nonlinear-input"])


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_failed_save_keeps_old_file_and_removes_temp(tmp_path, monkeypatch, suffix):
    name = f"net{suffix}"
    old = NETWORKS["scalar-linear-tanh"]
    save_network(old, tmp_path / name)
    before = (tmp_path / name).read_bytes()

    def broken_replace(src, dst):
        assert Path(src).name.startswith(f".{name}.")  # the temp file sits beside the target
        assert Path(src).exists()
        raise OSError("simulated failure during rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        save_network(NETWORKS["mixed-4-activations"], tmp_path / name)
    monkeypatch.undo()
    assert _listing(tmp_path) == [name]
    assert (tmp_path / name).read_bytes() == before
