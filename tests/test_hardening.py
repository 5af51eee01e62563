"""Regression tests of the hardening audit (issue 15): every bad input found there ends as a
one-line message, exit status 2 on the command line (SPEC section 4) or
:class:`~pc_analog.errors.InvalidInputError` in the Python API, and leaves no file behind.

Oracles: the exit status, the one line on stderr naming the field, the folder listing before
and after, and the bytes of input files (never overwritten).
"""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import pc_analog as pa
import pc_analog.io.formats as formats
from pc_analog.cli.main import main
from pc_analog.errors import InvalidInputError
from pc_analog.io.data import read_idx
from pc_analog.io.formats import load_network, network_to_dict, save_network
from pc_analog.model.network import MAX_MAGNITUDE, Network

#: A train run small enough for the default suite (one epoch of 20 digits, no twin, no plots).
TRAIN_SMALL = [
    "train",
    "--arch", "64-10",
    "--epochs", "1",
    "--limit-train", "20",
    "--limit-test", "10",
    "--no-plots",
    "--no-bp",
    "--json",
]  # fmt: skip


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _bad(capsys, argv, *needles) -> str:
    """Run the CLI, assert exit 2 with one line on stderr holding every needle; the line."""
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture
def files(tmp_path):
    net = Network.random([3, 4, 2], "tanh", seed=1)
    d = network_to_dict(net)
    (tmp_path / "net.json").write_text(json.dumps(d))
    (tmp_path / "x.json").write_text("[0.1, 0.2, 0.3]")
    (tmp_path / "y.json").write_text("[1, 0]")
    return tmp_path, d


# ------------------------------------------------------------------ numeric guard rails
@pytest.mark.parametrize(
    "field, index, value, needle",
    [
        ("precisions", 0, 1e308, "precisions[0]"),
        ("precisions", 1, 1e-300, "precisions[1]"),
        ("precisions", 0, [1.0, 1.0, 2e6, 1.0], "precisions[0]"),
        ("weights", 0, None, "weights[0]"),
        ("biases", 1, [0.0, -1e300], "biases[1]"),
    ],
)
@pytest.mark.parametrize("command", ["settle", "grads"])
def test_numbers_that_would_overflow_are_refused_by_name(
    files, capsys, field, index, value, needle, command
):
    folder, d = files
    if field == "weights":
        d["weights"][0][0][0] = 1e300
    else:
        d[field][index] = value
    (folder / "bad.json").write_text(json.dumps(d))
    argv = [command, folder / "bad.json", "--input", folder / "x.json", "--target"]
    argv += [folder / "y.json"] + (
        ["--method", "pc"] if command == "grads" else ["--backend", "ode"]
    )
    _bad(capsys, argv, needle, "limit")


@pytest.mark.parametrize("command", ["settle", "grads"])
def test_huge_input_vectors_are_refused(files, capsys, command):
    folder, _ = files
    (folder / "xh.json").write_text("[1e300, 0.2, 0.3]")
    argv = [command, folder / "net.json", "--input", folder / "xh.json", "--target"]
    argv += [folder / "y.json"] + (["--method", "pc"] if command == "grads" else [])
    _bad(capsys, argv, "input", "limit")


def test_the_bound_itself_is_allowed(files):
    folder, d = files
    d["precisions"] = [MAX_MAGNITUDE, 1 / MAX_MAGNITUDE]
    d["biases"][0][0] = -MAX_MAGNITUDE
    net = formats.network_from_dict(d)
    assert net.precisions[0] == MAX_MAGNITUDE
    with pytest.raises(InvalidInputError, match=r"precisions\[0\]"):
        Network(net.weights, net.biases, (np.nextafter(MAX_MAGNITUDE, 2e6), 1.0), net.activations)


# ------------------------------------------------------------------ outputs never overwrite inputs
@pytest.mark.parametrize("victim", ["net.json", "x.json", "./net.json"])
def test_compile_never_overwrites_an_input(files, capsys, victim):
    folder, _ = files
    before = {p: (folder / p).read_bytes() for p in ("net.json", "x.json")}
    argv = [
        "compile",
        folder / "net.json",
        "--input",
        folder / "x.json",
        "-o",
        f"{folder}/{victim}",
    ]
    _bad(capsys, argv, "-o", "input")
    assert {p: (folder / p).read_bytes() for p in before} == before
    assert _listing(folder) == ["net.json", "x.json", "y.json"]


def test_compile_never_overwrites_an_input_through_a_hard_link(files, capsys):
    folder, _ = files
    os.link(folder / "net.json", folder / "alias.json")
    before = (folder / "net.json").read_bytes()
    _bad(capsys, ["compile", folder / "net.json", "-o", folder / "alias.json"], "input")
    assert (folder / "net.json").read_bytes() == before


def test_train_never_overwrites_its_device_file(tmp_path, capsys):
    from pc_analog.hardware.devices import PRESETS

    out = tmp_path / "run"
    out.mkdir()
    device = out / "config.json"
    device.write_text(json.dumps(PRESETS["ideal"].to_dict()))
    before = device.read_bytes()
    _bad(capsys, TRAIN_SMALL + ["--device", device, "--out", out], "--out", "config.json")
    assert device.read_bytes() == before and _listing(out) == ["config.json"]


# ------------------------------------------------------------------ train --out
def test_train_out_under_a_regular_file_is_bad_input(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    _bad(capsys, TRAIN_SMALL + ["--out", tmp_path / "afile" / "sub"], "--out", "afile")
    assert _listing(tmp_path) == ["afile"]


def _full_disk_at(monkeypatch, name: str):
    """Every atomic write of a file called ``name`` fails as on a full disk."""
    real = formats._atomic_write

    def write(p, parent, data):
        if p.name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(p, parent, data)

    monkeypatch.setattr(formats, "_atomic_write", write)


def test_train_on_a_full_disk_is_bad_input_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    _full_disk_at(monkeypatch, "checkpoint.npz")
    out = tmp_path / "run" / "deep"
    _bad(capsys, TRAIN_SMALL + ["--out", out], "checkpoint.npz", "No space left")
    assert _listing(tmp_path) == []  # no run/, no run/deep/config.json


def test_train_failing_after_a_checkpoint_keeps_it_for_resume(tmp_path, capsys, monkeypatch):
    _full_disk_at(monkeypatch, "final_network.json")
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    _bad(capsys, TRAIN_SMALL + ["--out", out, "--overwrite"], "final_network.json", "--resume")
    assert _listing(out) == sorted(
        ["checkpoint.npz", "config.json", "metrics.csv", "metrics.json", "mine.txt"]
    )


# ------------------------------------------------------------------ bench
def _sweep(tmp_path, d) -> Path:
    p = tmp_path / "sweep.json"
    p.write_text(json.dumps(d) if isinstance(d, dict) else d)
    return p


def test_sweep_width_of_a_billion_is_bad_input(tmp_path, capsys):
    cfg = _sweep(
        tmp_path, {"format": "pc-analog.sweep/1", "grid": {"width": [4, 10**9]}, "fixed": {}}
    )
    _bad(capsys, ["bench", "sweep", cfg, "--out", tmp_path / "o", "--workers", "1"], "width")
    assert _listing(tmp_path) == ["sweep.json"]


def test_sweep_config_nested_too_deeply_is_bad_input(tmp_path, capsys):
    deep = '{"format": "pc-analog.sweep/1", "grid": ' + "[" * 100_000 + "]" * 100_000 + "}"
    cfg = _sweep(tmp_path, deep)
    _bad(capsys, ["bench", "sweep", cfg, "--out", tmp_path / "o"], "sweep.json")
    assert _listing(tmp_path) == ["sweep.json"]


def test_bench_timing_batch_too_large_is_bad_input(capsys):
    argv = ["bench", "timing", "--arch", "4-4-2", "--no-cpu", "--throughput-batch", "1000000000"]
    _bad(capsys, argv, "--throughput-batch")


# ------------------------------------------------------------------ IDX
def _idx(path: Path, dims, payload: bytes = b"\0" * 64) -> Path:
    path.write_bytes(bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload)
    return path


@pytest.mark.parametrize("dims", [(2**32 - 1,) * 3, (2**31, 2**31), (2**20, 2**20), (2**15, 2**15)])
def test_idx_header_with_huge_sizes_is_bad_input(tmp_path, dims):
    with pytest.raises(InvalidInputError, match=r"idx") as info:
        read_idx(_idx(tmp_path / "big.idx", dims))
    assert "\n" not in str(info.value)


def test_train_on_an_idx_folder_with_huge_sizes_is_bad_input(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _idx(data / "train-images-idx3-ubyte", (2**31, 2**31, 2**31))
    _idx(data / "train-labels-idx1-ubyte", (2**31,))
    _idx(data / "t10k-images-idx3-ubyte", (1, 8, 8))
    _idx(data / "t10k-labels-idx1-ubyte", (1,), b"\0")
    argv = TRAIN_SMALL + ["--dataset", f"idx:{data}", "--out", tmp_path / "o"]
    _bad(capsys, argv, "train-images-idx3-ubyte")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ Python API
def test_api_bad_calls_raise_invalid_input_error(tmp_path):
    net = Network.random([3, 4, 2], seed=0)
    with pytest.raises(InvalidInputError, match="input"):
        pa.settle(net, "abc")
    with pytest.raises(InvalidInputError, match="input"):
        pa.settle(net, ["a", "b", "c"])
    with pytest.raises(InvalidInputError, match="seed"):
        Network.random([3, 2], seed=-1)
    with pytest.raises(InvalidInputError, match="network"):
        load_network(None)
    with pytest.raises(InvalidInputError, match="state"):
        pa.energy(net, (np.zeros((1, 3)), np.zeros((1, 4))))
    other = Network.random([3, 5, 2], seed=0)
    g1 = pa.backprop(net, np.zeros(3), np.zeros(2))
    g2 = pa.backprop(other, np.zeros(3), np.zeros(2))
    with pytest.raises(InvalidInputError, match="cosine_similarity"):
        pa.cosine_similarity(g1, g2)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_into_a_missing_folder_names_the_target(tmp_path, suffix):
    target = tmp_path / "no-such-dir" / f"net{suffix}"
    with pytest.raises(InvalidInputError) as info:
        save_network(Network.random([2, 2], seed=0), target)
    msg = str(info.value)
    assert str(target) in msg and f".net{suffix}." not in msg and "\n" not in msg
    assert isinstance(info.value, OSError)  # still an I/O failure for callers catching OSError
    assert _listing(tmp_path) == []


def test_save_on_a_full_disk_names_the_target_and_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(InvalidInputError, match="net.json: cannot write: No space left"):
        save_network(Network.random([2, 2], seed=0), tmp_path / "net.json")
    monkeypatch.undo()
    assert _listing(tmp_path) == []


def test_network_files_refuse_unknown_fields_by_name(files, capsys):
    folder, d = files
    for key, needle in (
        ("weigths", "weigths: unknown field"),
        ("input_transform", "input_transform.gain: unknown field"),
    ):
        bad = {**d, key: {"offset": 0, "scale": 1, "gain": 2}}
        (folder / "bad.json").write_text(json.dumps(bad))
        _bad(capsys, ["settle", folder / "bad.json", "--input", folder / "x.json"], needle)


# ------------------------------------------------------------------ flags that hung or lied
@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--backend", "ode", "--c-F", "1e300", "--g0-S", "1e-300"], "--c-F"),  # tau = inf hung
        (["--backend", "ode", "--g0-S", "1e-31"], "--g0-S"),
        (["--backend", "ode", "--inertial", "--damping-ratio", "1e-300"], "--damping-ratio"),
    ],
)
def test_settle_flags_out_of_range_are_bad_input(files, capsys, extra, needle):
    folder, _ = files
    argv = ["settle", folder / "net.json", "--input", folder / "x.json", *extra]
    _bad(capsys, argv, needle, "must lie in")


def test_a_diverged_update_is_a_backend_failure_not_exit_0(files, capsys):
    folder, _ = files
    argv = ["grads", folder / "net.json", "--input", folder / "x.json", "--target"]
    argv += [folder / "y.json", "--method", "fpa", "--step-size", "1e300", "--json"]
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 3 and out == "" and err.count("\n") == 1 and "not finite" in err, err


def test_train_json_is_strict_json_without_the_twin(tmp_path, capsys):
    assert main([*TRAIN_SMALL, "--out", str(tmp_path / "run")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in {line}"))
    assert summary["bp_test_accuracy"] is None
