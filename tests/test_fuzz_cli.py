"""Fuzzing the command line with bad input (SPEC section 4, issue 15).

Hypothesis builds cases of every input kind, each a valid base with one corruption that
makes it certainly bad: network files (wrong shapes, types, non-finite and huge numbers,
unknown fields, missing or unknown format, broken JSON), vector files, sweep configs,
analog/digital specs, device configs, IDX dataset folders (bad headers, dimensions,
payloads), checkpoint folders (truncated, foreign, another configuration), netlists the
safety check refuses, and bad flag values of every subcommand.  Each case runs through
:func:`pc_analog.cli.main.main` in-process, with the case's folder as the working
directory, and must end with:

- exit status 2,
- exactly one line on stderr, no ``Traceback``,
- the folder exactly as before (no new file, no changed file: no output half-written).

The fast subset (derandomized, about 100 examples) runs in the default suite; the slow
run (``make test-slow``) draws at least 500 cases over all subcommands.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pc_analog.cli.main import main
from pc_analog.io.formats import network_to_dict
from pc_analog.model.activations import ACTIVATIONS
from pc_analog.model.network import Network

FAST = settings(
    max_examples=16,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: Per input kind in the slow run: 9 random kinds x 70 = 630 cases, plus the 8 named ones.
SLOW = settings(
    max_examples=70,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Case:
    """Files to write (name -> bytes, or None for a folder) and the argv to run there."""

    kind: str
    argv: list[str]
    files: dict[str, bytes | None] = field(default_factory=dict)


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


# ------------------------------------------------------------------ valid bases
NET = network_to_dict(Network.random([3, 4, 2], "tanh", precisions=[1.0, 0.5], seed=1))
X = [0.1, 0.2, 0.3]
Y = [1.0, 0.0]
BASE_FILES = {"net.json": _j(NET), "x.json": _j(X), "y.json": _j(Y)}

#: Commands that read net.json, x.json, y.json (the corrupted one is swapped in).
NET_COMMANDS = [
    ["settle", "net.json", "--input", "x.json", "--json"],
    ["settle", "net.json", "--input", "x.json", "--target", "y.json", "--backend", "discrete"],
    ["grads", "net.json", "--input", "x.json", "--target", "y.json", "--method", "bp"],
    ["grads", "net.json", "--input", "x.json", "--target", "y.json", "--method", "pc"],
    ["compile", "net.json", "--input", "x.json", "--target", "y.json", "-o", "out.cir"],
]

#: Values that are never a number (or never a finite float once parsed).
NOT_A_NUMBER = st.one_of(
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
HUGE = st.floats(min_value=1.0001e6, max_value=1.7e308) | st.floats(
    min_value=-1.7e308, max_value=-1.0001e6
)
NON_FINITE = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"])


# ------------------------------------------------------------------ network files
@st.composite
def bad_networks(draw, how: str | None = None) -> Case:
    d = json.loads(json.dumps(NET))
    how = how or draw(
        st.sampled_from(
            [
                "drop-key",
                "format",
                "sizes",
                "shape",
                "type",
                "huge",
                "non-finite",
                "precision",
                "activation",
                "unknown-field",
                "top-level",
                "bytes",
            ]
        )
    )
    raw = None
    if how == "drop-key":
        del d[draw(st.sampled_from(sorted(d)))]
    elif how == "format":
        d["format"] = draw(
            st.one_of(
                st.text(max_size=20).filter(lambda t: t != NET["format"]), st.integers(), st.none()
            )
        )
    elif how == "sizes":
        d["sizes"] = draw(
            st.one_of(
                st.just([3, 4]),
                st.just([3, 4, 2, 1]),
                st.just([3, 0, 2]),
                st.just([3, -4, 2]),
                st.just([3, 4.5, 2]),
                st.just([3, True, 2]),
                st.just([3]),
                NOT_A_NUMBER,
            )
        )
    elif how == "shape":
        key = draw(st.sampled_from(["weights", "biases"]))
        l = draw(st.integers(0, 1))
        if key == "weights":
            rows = d["weights"][l]
            cut = draw(st.sampled_from(["row", "col", "ragged", "flat", "empty"]))
            if cut == "row":
                rows.pop()
            elif cut == "col":
                for r in rows:
                    r.append(0.5)
            elif cut == "ragged":
                rows[0].pop()
            elif cut == "flat":
                d["weights"][l] = rows[0]
            else:
                d["weights"][l] = []
        else:
            d["biases"][l] = draw(
                st.sampled_from([d["biases"][l][:-1], d["biases"][l] + [0.0], []])
            )
    elif how in ("type", "huge", "non-finite"):
        key = draw(st.sampled_from(["weights", "biases"]))
        l = draw(st.integers(0, 1))
        target = d[key][l] if key == "biases" else d[key][l][draw(st.integers(0, 1))]
        i = draw(st.integers(0, len(target) - 1))
        if how == "type":
            target[i] = draw(NOT_A_NUMBER | st.lists(st.floats(-1, 1), max_size=2))
        elif how == "huge":
            target[i] = draw(HUGE)
        else:
            target[i] = "@@NONFINITE@@"
            raw = json.dumps(d).replace('"@@NONFINITE@@"', draw(NON_FINITE)).encode()
    elif how == "precision":
        l = draw(st.integers(0, 1))
        d["precisions"][l] = draw(
            st.one_of(
                st.floats(max_value=0.0, allow_nan=False, allow_infinity=False),
                st.floats(min_value=1e-300, max_value=9.9e-7),
                HUGE.filter(lambda v: v > 0),
                st.just([1.0] * 7),
                NOT_A_NUMBER,
            )
        )
    elif how == "activation":
        l = draw(st.integers(0, 1))
        d["activations"][l] = draw(
            st.text(max_size=10).filter(lambda t: t not in ACTIVATIONS) | st.integers()
        )
    elif how == "unknown-field":
        d[draw(st.text(min_size=1, max_size=12).filter(lambda t: t not in NET))] = draw(
            st.integers() | st.text(max_size=4)
        )
    elif how == "top-level":
        raw = _j(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text())))
    else:
        raw = draw(
            st.one_of(
                st.binary(max_size=40),
                st.just(b""),
                st.just(b"\xff\xfe{not utf-8"),
                st.just(_j(NET)[: -draw(st.integers(1, 50))]),
                st.just(b"[" * 50_000 + b"]" * 50_000),
            )
        )
    argv = list(draw(st.sampled_from(NET_COMMANDS)))
    return Case("network", argv, {**BASE_FILES, "net.json": raw if raw is not None else _j(d)})


# ------------------------------------------------------------------ vector files
@st.composite
def bad_vectors(draw) -> Case:
    which = draw(st.sampled_from(["x.json", "y.json"]))
    n = 3 if which == "x.json" else 2
    good = X if which == "x.json" else Y
    raw = draw(
        st.one_of(
            st.just(_j([])),
            st.just(_j([[]])),
            st.lists(st.floats(-1, 1), min_size=1, max_size=6)
            .filter(lambda v: len(v) != n)
            .map(_j),
            st.lists(st.just(good), min_size=1, max_size=3).map(
                lambda rows: _j(rows + [good[:-1]])
            ),
            st.just(_j([[good]])),
            st.integers().map(_j),
            st.text(max_size=5).map(_j),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2).map(_j),
            NOT_A_NUMBER.map(lambda v: _j([v] + good[1:])),
            HUGE.map(lambda v: _j([v] + good[1:])),
            NON_FINITE.map(
                lambda t: ("[" + ", ".join([t] + [str(v) for v in good[1:]]) + "]").encode()
            ),
            st.binary(max_size=20).filter(lambda b: _not_json(b)),
        )
    )
    cmd = draw(st.sampled_from(NET_COMMANDS))
    files = {**BASE_FILES, which: raw}
    if which == "y.json" and "--target" not in cmd:
        cmd = [*cmd, "--target", "y.json"]
    return Case("vectors", list(cmd), files)


def _not_json(b: bytes) -> bool:
    try:
        json.loads(b)
    except (ValueError, RecursionError):
        return True
    return False


@st.composite
def batch_mismatch(draw) -> Case:
    nx, ny = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if nx == ny:
        ny += 1
    files = {**BASE_FILES, "x.json": _j([X] * nx), "y.json": _j([Y] * ny)}
    cmd = draw(st.sampled_from([c for c in NET_COMMANDS if "--target" in c]))
    return Case("vectors", list(cmd), files)


# ------------------------------------------------------------------ sweep configs
SWEEP = {"format": "pc-analog.sweep/1", "grid": {"depth": [2, 3]}, "fixed": {"width": 2}}


@st.composite
def bad_sweeps(draw, how: str | None = None) -> Case:
    d = json.loads(json.dumps(SWEEP))
    how = how or draw(
        st.sampled_from(
            ["unknown", "format", "grid", "param", "value", "both", "seed", "quantities", "bytes"]
        )
    )
    raw = None
    if how == "unknown":
        d[
            draw(
                st.text(min_size=1, max_size=8).filter(
                    lambda t: t not in SWEEP and t not in ("seed", "quantities")
                )
            )
        ] = 1
    elif how == "format":
        d["format"] = draw(st.text(max_size=20).filter(lambda t: t != SWEEP["format"]) | st.none())
    elif how == "grid":
        d["grid"] = draw(st.sampled_from([{}, [], 3, "depth", {"depth": []}, {"depth": 2}]))
    elif how == "param":
        d["grid"][
            draw(st.text(min_size=1, max_size=8).filter(lambda t: t not in _sweep_params()))
        ] = [1]
    elif how == "value":
        name, bad = draw(
            st.sampled_from(
                [
                    ("depth", 0),
                    ("depth", -2),
                    ("depth", 1.5),
                    ("width", 0),
                    ("width", 10**9),
                    ("width", "wide"),
                    ("batch", 10**9),
                    ("gain", -1.0),
                    ("gain", "x"),
                    ("band", 1.5),
                    ("dynamics", "LC"),
                    ("network", "ring"),
                    ("activation", "relu9"),
                    ("device", "flux"),
                    ("analog", "no-such-spec"),
                    ("bits", 0),
                    ("measure_cpu", "yes"),
                    ("c_F", 0.0),
                    ("depth", True),
                ]
            )
        )
        if name == "depth" and draw(st.booleans()):
            d["grid"]["depth"] = [2, bad]
        else:
            d["fixed"][name] = bad
            d["grid"].pop(name, None)
            if not d["grid"]:
                d["grid"] = {"repeat": [0]}
    elif how == "both":
        d["fixed"]["depth"] = 2
    elif how == "seed":
        d["seed"] = draw(st.sampled_from([-1, 1.5, "0", True, None]))
    elif how == "quantities":
        d["quantities"] = draw(st.sampled_from([[], ["speed"], "settling", 3, [None]]))
    else:
        raw = draw(
            st.one_of(
                st.binary(max_size=30).filter(_not_json),
                st.just(b"[" * 50_000 + b"]" * 50_000),
                st.just(_j([1, 2])),
            )
        )
    files = {"sweep.json": raw if raw is not None else _j(d)}
    argv = ["bench", "sweep", "sweep.json", "--out", "sweep-out", "--workers", "1", "--no-plots"]
    return Case("sweep", argv, files)


def _sweep_params():
    from pc_analog.experiments.sweep import PARAMETERS

    return PARAMETERS


# ------------------------------------------------------------------ analog / digital specs
ANALOG = {"format": "pc-analog.analog-spec/1", "name": "mine", "c_F": 1e-12, "g0_S": 1e-6}
DIGITAL = {
    "format": "pc-analog.digital-spec/1",
    "name": "mine",
    "peak_flops": 1e12,
    "energy_per_flop_J": 1e-12,
    "mem_bandwidth_Bps": 1e11,
    "launch_latency_s": 1e-6,
}
DEVICE = {"format": "pc-analog.device/1", "name": "mine"}


@st.composite
def bad_specs(draw, how: str | None = None) -> Case:
    kind = draw(st.sampled_from(["analog", "digital"]))
    d = dict(ANALOG if kind == "analog" else DIGITAL)
    if kind == "analog":
        fields_ = ["c_F", "g0_S", "g_unit_S", "supply_V", "amp_bandwidth_Hz"]
    else:
        fields_ = ["peak_flops", "mem_bandwidth_Bps", "launch_latency_s"]
    how = how or draw(st.sampled_from(["unknown", "format", "value", "name", "missing", "bytes"]))
    raw = None
    if how == "unknown":
        d[
            draw(
                st.text(min_size=1, max_size=8).filter(
                    lambda t: (
                        t not in d
                        and t
                        not in (
                            "device",
                            "g_unit_S",
                            "supply_V",
                            "amp_bandwidth_Hz",
                            "amp_static_power_W",
                            "cell_area_m2",
                            "amp_area_m2",
                            "cap_density_F_per_m2",
                            "mac_energy_J",
                            "bytes_per_value",
                            "measured",
                        )
                    )
                )
            )
        ] = 1.0
    elif how == "format":
        d["format"] = draw(st.text(max_size=12).filter(lambda t: t != d["format"]))
    elif how == "value":
        d[draw(st.sampled_from(fields_))] = draw(
            st.one_of(
                st.floats(max_value=0.0),
                st.just(float("nan")),
                NOT_A_NUMBER.filter(lambda v: v is not None),
            )
        )
    elif how == "name":
        d["name"] = draw(st.sampled_from(["", 3, None]))
    elif how == "missing" and kind == "digital":
        del d["peak_flops"]
    else:
        raw = draw(st.binary(max_size=30).filter(_not_json) | st.just(_j([1])))
    files = {"spec.json": raw if raw is not None else _j(d)}
    argv = ["bench", "timing", "--arch", "3-4-2", "--no-cpu", "--batch", "1"]
    argv += ["--hardware", "spec.json"] if kind == "analog" else ["--digital", "spec.json"]
    return Case("specs", argv, files)


# ------------------------------------------------------------------ device configs
@st.composite
def bad_devices(draw, how: str | None = None) -> Case:
    d = dict(DEVICE)
    how = how or draw(st.sampled_from(["unknown", "format", "value", "bytes"]))
    raw = None
    if how == "unknown":
        d[draw(st.sampled_from(["colour", "g_mid_S", "Levels", "bits"]))] = 1
    elif how == "format":
        d["format"] = draw(st.text(max_size=12).filter(lambda t: t != d["format"]))
    elif how == "value":
        name, bad = draw(
            st.sampled_from(
                [
                    ("asymmetry", 1.5),
                    ("asymmetry", -0.1),
                    ("asymmetry", "x"),
                    ("soft_bounds", "yes"),
                    ("drift_t0_s", 0.0),
                    ("drift_t0_s", -1.0),
                    ("write_noise", "loud"),
                    ("levels", 1),
                    ("g_min_S", -1.0),
                ]
            )
        )
        d[name] = bad
    else:
        raw = draw(st.binary(max_size=30).filter(_not_json) | st.just(_j([1])))
    files = {"device.json": raw if raw is not None else _j(d)}
    return Case("device", TRAIN + ["--device", "device.json", "--out", "run"], files)


TRAIN = [
    "train",
    "--arch", "64-10",
    "--epochs", "1",
    "--limit-train", "20",
    "--limit-test", "10",
    "--no-plots",
    "--no-bp",
    "--json",
]  # fmt: skip


# ------------------------------------------------------------------ IDX folders
IDX_NAMES = {
    "train_images": "data/train-images-idx3-ubyte",
    "train_labels": "data/train-labels-idx1-ubyte",
    "test_images": "data/t10k-images-idx3-ubyte",
    "test_labels": "data/t10k-labels-idx1-ubyte",
}


def _idx(arr: np.ndarray, code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4"}[code]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(dtype).tobytes()


def _idx_folder() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    labels = np.arange(10)
    return {
        IDX_NAMES["train_images"]: _idx(rng.integers(0, 256, (10, 8, 8))),
        IDX_NAMES["train_labels"]: _idx(labels),
        IDX_NAMES["test_images"]: _idx(rng.integers(0, 256, (10, 8, 8))),
        IDX_NAMES["test_labels"]: _idx(labels),
    }


@st.composite
def bad_idx(draw, how: str | None = None) -> Case:
    files = _idx_folder()
    key = draw(st.sampled_from(sorted(IDX_NAMES)))
    name = IDX_NAMES[key]
    blob = files[name]
    ndim = blob[3]
    how = how or draw(
        st.sampled_from(
            [
                "magic",
                "dtype",
                "zero-dims",
                "short-header",
                "short-payload",
                "trailing",
                "huge",
                "wrong-type",
                "shape",
                "empty",
                "missing",
                "gz",
            ]
        )
    )
    if how == "magic":
        files[name] = bytes([draw(st.integers(1, 255))]) + blob[1:]
    elif how == "dtype":
        files[name] = (
            blob[:2] + bytes([draw(st.sampled_from([0, 1, 7, 0x0A, 0x0F, 0xFF]))]) + blob[3:]
        )
    elif how == "zero-dims":
        files[name] = blob[:3] + b"\0"
    elif how == "short-header":
        files[name] = blob[: draw(st.integers(0, 3 + 4 * ndim))]
    elif how == "short-payload":
        files[name] = blob[: len(blob) - draw(st.integers(1, len(blob) - 4 - 4 * ndim))]
    elif how == "trailing":
        files[name] = blob + draw(st.binary(min_size=1, max_size=16))
    elif how == "huge":
        dims = draw(st.lists(st.integers(2**16, 2**32 - 1), min_size=ndim, max_size=ndim))
        files[name] = blob[:4] + struct.pack(f">{ndim}I", *dims) + blob[4 + 4 * ndim :]
    elif how == "wrong-type":
        arr = np.frombuffer(blob[4 + 4 * ndim :], dtype=np.uint8)
        shape = struct.unpack(f">{ndim}I", blob[4 : 4 + 4 * ndim])
        files[name] = _idx(arr.reshape(shape).astype(np.int16), 0x0B)
        if "labels" in key:  # int16 labels are fine: make them negative instead
            files[name] = _idx(-1 - arr.reshape(shape).astype(np.int16), 0x0B)
    elif how == "shape":
        if "labels" in key:
            files[name] = draw(
                st.sampled_from([_idx(np.arange(9)), _idx(np.zeros((10, 2), np.uint8))])
            )
        else:
            files[name] = draw(
                st.sampled_from(
                    [
                        _idx(np.zeros((10, 8, 9), np.uint8)),
                        _idx(np.zeros(10, np.uint8)),
                        _idx(np.zeros((9, 8, 8), np.uint8)),
                    ]
                )
            )
    elif how == "empty":  # a whole part (images and labels) without samples
        split = "train" if key.startswith("train") else "test"
        files[IDX_NAMES[f"{split}_images"]] = _idx(np.zeros((0, 8, 8), np.uint8))
        files[IDX_NAMES[f"{split}_labels"]] = _idx(np.zeros(0, np.uint8))
    elif how == "missing":
        del files[name]
    else:  # a .gz file that is not gzip data, or gzip of a truncated file
        del files[name]
        files[name + ".gz"] = draw(
            st.sampled_from([b"not gzip at all", gzip.compress(blob)[:-6], gzip.compress(blob[:5])])
        )
    argv = TRAIN + ["--dataset", "idx:data", "--out", "run"]
    return Case("idx", argv, files)


# ------------------------------------------------------------------ checkpoint folders
_CHECKPOINT: dict[str, bytes] = {}


def _valid_run() -> dict[str, bytes]:
    """The files of one small finished train run (made once, then cached)."""
    if not _CHECKPOINT:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            status = main(TRAIN + ["--out", str(out)])
            assert status == 0
            for p in out.iterdir():
                _CHECKPOINT[f"run/{p.name}"] = p.read_bytes()
    return dict(_CHECKPOINT)


@st.composite
def bad_checkpoints(draw, how: str | None = None) -> Case:
    files = _valid_run()
    ckpt = files["run/checkpoint.npz"]
    how = how or draw(st.sampled_from(["truncated", "random", "other-config", "folder", "not-npz"]))
    argv = TRAIN + ["--out", "run", "--resume"]
    if how == "truncated":
        files["run/checkpoint.npz"] = ckpt[: draw(st.integers(0, len(ckpt) - 1))]
    elif how == "random":
        files["run/checkpoint.npz"] = draw(st.binary(max_size=200))
    elif how == "other-config":
        argv = [a if a != "64-10" else "64-10" for a in argv] + draw(
            st.sampled_from([["--lr", "0.5"], ["--seed", "3"], ["--batch-size", "7"]])
        )
    elif how == "folder":
        files["run/checkpoint.npz"] = None
    else:
        buf = io.BytesIO()
        np.savez(buf, meta=np.zeros(3, np.uint8))
        files["run/checkpoint.npz"] = buf.getvalue()
    return Case("checkpoint", argv, files)


# ------------------------------------------------------------------ netlists
@st.composite
def bad_netlists(draw) -> Case:
    head = "title\nV1 a 0 1\nR1 a 0 1k\n"
    body = draw(
        st.sampled_from(
            [
                ".control\necho hi\n.endc\n",
                "  .CONTROL\n.endc\n",
                "*# shell echo hi\n",
                ".include /etc/passwd\n",
                ".lib ../outside.lib tt\n",
                ".control\nshell rm -rf x\n.endc\n",
            ]
        )
    )
    argv = ["simulate", "deck.cir"] + draw(st.sampled_from([[], ["--json"]]))
    which = draw(st.sampled_from(["deck", "missing", "folder"]))
    if which == "missing":
        return Case("netlist", ["simulate", "nope.cir"], {})
    if which == "folder":
        return Case("netlist", argv, {"deck.cir": None})
    return Case("netlist", argv, {"deck.cir": (head + body + ".op\n.end\n").encode()})


# ------------------------------------------------------------------ flag values
BAD_POSITIVE = st.sampled_from(["0", "-1", "nan", "inf", "-inf", "abc", "1e999", ""])
BAD_HARDWARE = BAD_POSITIVE | st.sampled_from(["1e300", "1e-300", "1e31", "9e-31"])
BAD_DAMPING = BAD_POSITIVE | st.sampled_from(["1e-300", "1e300", "1e-4", "1001"])
BAD_COUNT = st.sampled_from(["0", "-3", "1.5", "x", ""])
BAD_NONNEG = st.sampled_from(["-1", "2.5", "y", ""])
#: Not a name of any choice (none starts with "q"); sometimes with non-ASCII letters.
BAD_NAME = st.text(min_size=0, max_size=8).map(lambda t: "q" + t.replace("\x00", ""))


@st.composite
def bad_flags(draw) -> Case:
    settle = ["settle", "net.json", "--input", "x.json"]
    grads = ["grads", "net.json", "--input", "x.json", "--target", "y.json", "--method", "bp"]
    compile_ = ["compile", "net.json", "--input", "x.json", "-o", "out.cir"]
    timing = ["bench", "timing", "--arch", "3-4-2", "--no-cpu", "--batch", "1"]
    noise = ["noise", "net.json", "--input", "x.json", "--hardware", "default"]
    stability = ["stability", "net.json", "--input", "x.json"]
    transfer = ["bench", "transfer", "--nonideality", "stuck", "--limit-train", "5"]
    options = [
        (transfer, "--nonideality", BAD_NAME),
        (transfer, "--strength", st.sampled_from(["-1", "nan", "x", ""])),
        (transfer, "--epochs", BAD_COUNT),
        (stability, "--hardware", st.sampled_from(["no-such-preset", "missing.json"])),
        (stability, "--c-F", BAD_HARDWARE),
        (stability, "--input", st.sampled_from(["missing.json", "net.json"])),
        (noise, "--samples", st.sampled_from(["1", "0", "-3", "x", "2.5", ""])),
        (noise, "--seed", BAD_NONNEG),
        (noise, "--method", BAD_NAME.filter(lambda t: t not in ("lyapunov", "sde", "ngspice"))),
        (noise, "--level", st.sampled_from(["qx", "", "Crossbar"])),
        (noise, "--hardware", st.sampled_from(["no-such-preset", "missing.json"])),
        (settle, "--gtol", BAD_POSITIVE),
        (settle, "--step-size", BAD_POSITIVE),
        (settle, "--max-steps", BAD_COUNT),
        (settle, "--settle-band", BAD_POSITIVE),
        (settle, "--damping-ratio", BAD_DAMPING),
        (settle, "--c-F", BAD_HARDWARE),
        (settle, "--g0-S", BAD_HARDWARE),
        (settle, "--g-unit-S", BAD_HARDWARE),
        (settle, "--backend", BAD_NAME.filter(lambda t: t not in _backends())),
        (settle, "--level", BAD_NAME.filter(lambda t: t not in ("behavioural", "crossbar"))),
        (grads, "--method", BAD_NAME.filter(lambda t: t not in ("bp", "pc", "fpa", "zil"))),
        (grads, "--loss", BAD_NAME.filter(lambda t: t not in ("mse", "ce"))),
        (grads, "--steps", BAD_COUNT),
        (grads, "--step-size", BAD_POSITIVE),
        (grads, "--variance-ratio", BAD_POSITIVE),
        (compile_, "--sample", BAD_NONNEG),
        (compile_, "--t-stop-s", BAD_POSITIVE),
        (compile_, "--analysis", BAD_NAME.filter(lambda t: t not in ("op", "tran"))),
        (compile_, "-o", st.sampled_from(["no/such/dir/out.cir", ".", "net.json", "./x.json"])),
        (TRAIN + ["--out", "run"], "--out", st.sampled_from(["x.json", "x.json/sub", "net.json"])),
        (
            TRAIN + ["--out", "run"],
            "--arch",
            st.sampled_from(["64", "64-0-10", "a-b", "64-11", ""]),
        ),
        (TRAIN + ["--out", "run"], "--epochs", BAD_COUNT),
        (TRAIN + ["--out", "run"], "--batch-size", BAD_COUNT),
        (TRAIN + ["--out", "run"], "--lr", BAD_POSITIVE),
        (TRAIN + ["--out", "run"], "--seed", st.sampled_from(["-1", "x", "1.5"])),
        (TRAIN + ["--out", "run"], "--dataset", st.sampled_from(["mnist", "idx:", "idx:nope"])),
        (TRAIN + ["--out", "run"], "--device", st.sampled_from(["flux", "nope.json"])),
        (
            TRAIN + ["--out", "run"],
            "--lr-schedule",
            BAD_NAME.filter(lambda t: t not in ("constant", "cosine", "step")),
        ),
        (TRAIN + ["--out", "run"], "--activation", st.sampled_from(["relu9", "TANH", ""])),
        (TRAIN + ["--out", "run"], "--update-mode", st.sampled_from(["sometimes", ""])),
        (TRAIN + ["--out", "run"], "--precision-output", BAD_POSITIVE),
        (timing, "--arch", st.sampled_from(["3", "3-0-2", "x", "1000000-1000000"])),
        (timing, "--activation", st.sampled_from(["relu9", ""])),
        (timing, "--hardware", st.sampled_from(["no-such-preset", "missing.json"])),
        (timing, "--digital", st.sampled_from(["tpu-v9", "missing.json"])),
        (timing, "--seed", st.sampled_from(["-1", "x"])),
        (timing, "--damping-ratio", BAD_DAMPING),
        (timing, "--repeats", BAD_COUNT),
        (timing, "--throughput-batch", st.sampled_from(["0", "-2", "1000000000"])),
        (timing, "--net", st.sampled_from(["missing.json", "x.json"])),
        (["bench", "sweep", "sweep.json", "--out", "o"], "--workers", BAD_COUNT),
        (["bench", "generate"], "--network", st.sampled_from(["missing.json", "x.json"])),
        (["bench", "inpaint"], "--mask", BAD_NAME),
        (["bench", "missing"], "--keep", st.sampled_from(["0", "-1", "1.5", "x", "nan", ""])),
        (["bench", "memory"], "--k", BAD_COUNT),
        (["bench", "memory"], "--epochs", BAD_COUNT),
        (["bench", "memory"], "--within", BAD_POSITIVE),
        (["bench", "memory"], "--k", st.sampled_from(["1439", "100000"])),  # > training digits
    ]
    base, flag, values = draw(st.sampled_from(options))
    argv = [*base, flag, draw(values)]
    if draw(st.integers(0, 4)) == 0:  # sometimes an unknown flag, a missing operand, or a
        # file name with a line break (the message must still be one line)
        argv = draw(
            st.sampled_from(
                [
                    [*base, "--frobnicate"],
                    base[:1],
                    ["bench"],
                    [],
                    ["settle", "no\nsuch.json", "--input", "x.json"],
                    [
                        "grads",
                        "net.json",
                        "--input",
                        "x\r\n.json",
                        "--target",
                        "y.json",
                        "--method",
                        "bp",
                    ],
                ]
            )
        )
    return Case("flags", argv, {**BASE_FILES, "sweep.json": _j(SWEEP)})


DEEP = b"[" * 50_000 + b"]" * 50_000
#: Regressions of the audit, as fixed cases (every one runs in the fast subset).
NAMED = {
    "compile-over-network": ["compile", "net.json", "-o", "net.json"],
    "compile-over-input": ["compile", "net.json", "--input", "x.json", "-o", "./x.json"],
    "train-out-under-file": TRAIN + ["--out", "x.json/sub"],
    "line-break-in-name": ["settle", "no\nsuch.json", "--input", "x.json"],
    "deep-network": ["settle", "deep.json", "--input", "x.json"],
    "deep-sweep": ["bench", "sweep", "deep.json", "--out", "o", "--no-plots"],
    "sweep-width-1e9": ["bench", "sweep", "wide.json", "--out", "o", "--no-plots"],
    "huge-precision": ["settle", "hot.json", "--input", "x.json", "--backend", "ode"],
}


@st.composite
def named(draw, how: str | None = None) -> Case:
    how = how or draw(st.sampled_from(sorted(NAMED)))
    wide = {**SWEEP, "fixed": {"width": 10**9}}
    hot = {**NET, "precisions": [1e308, 1.0]}
    files = {**BASE_FILES, "deep.json": DEEP, "wide.json": _j(wide), "hot.json": _j(hot)}
    return Case("named", list(NAMED[how]), files)


def _backends():
    from pc_analog.settling.registry import BACKENDS

    return BACKENDS


#: The corruptions of each kind that has named ones (the fast subset runs each once).
HOWS = {
    "network": [
        "drop-key", "format", "sizes", "shape", "type", "huge", "non-finite", "precision",
        "activation", "unknown-field", "top-level", "bytes",
    ],
    "sweep": [
        "unknown", "format", "grid", "param", "value", "both", "seed", "quantities", "bytes",
    ],
    "specs": ["unknown", "format", "value", "name", "missing", "bytes"],
    "device": ["unknown", "format", "value", "bytes"],
    "idx": [
        "magic", "dtype", "zero-dims", "short-header", "short-payload", "trailing", "huge",
        "wrong-type", "shape", "empty", "missing", "gz",
    ],
    "checkpoint": ["truncated", "random", "other-config", "folder", "not-npz"],
    "named": sorted(NAMED),
}  # fmt: skip
BY_HOW = {
    "network": bad_networks,
    "sweep": bad_sweeps,
    "specs": bad_specs,
    "device": bad_devices,
    "idx": bad_idx,
    "checkpoint": bad_checkpoints,
    "named": named,
}
#: Fast subset: every named corruption once, 16 cases of each other kind (56 + 48 = 104).
FAST_PARAMS = [(k, h) for k, hs in HOWS.items() for h in hs] + [
    ("vectors", None),
    ("netlist", None),
    ("flags", None),
]

KINDS = {
    "network": bad_networks(),
    "vectors": bad_vectors() | batch_mismatch(),
    "sweep": bad_sweeps(),
    "specs": bad_specs(),
    "device": bad_devices(),
    "idx": bad_idx(),
    "checkpoint": bad_checkpoints(),
    "netlist": bad_netlists(),
    "flags": bad_flags(),
    "named": named(),
}


# ------------------------------------------------------------------ the check
def _state(folder: Path) -> dict[str, str | None]:
    out = {}
    for root, dirs, names in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder)] = None
        for n in names:
            p = os.path.join(root, n)
            out[os.path.relpath(p, folder)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def check_case(case: Case, capsys) -> None:
    """Write the case's files in a fresh folder, run it there, check the contract."""
    event(case.kind)
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    cwd = os.getcwd()
    try:
        for name, data in case.files.items():
            p = folder / name
            p.parent.mkdir(parents=True, exist_ok=True)
            if data is None:
                p.mkdir()
            else:
                p.write_bytes(data)
        before = _state(folder)
        capsys.readouterr()
        os.chdir(folder)
        try:
            status = main(list(case.argv))
        finally:
            os.chdir(cwd)
        err = capsys.readouterr().err
        where = f"{case.kind}: {case.argv}"
        assert status == 2, f"{where}: exit {status}, stderr {err!r}"
        assert "Traceback" not in err, f"{where}: {err!r}"
        assert err.count("\n") == 1 and err.endswith("\n"), f"{where}: stderr {err!r}"
        assert _state(folder) == before, f"{where}: the folder changed"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ the tests
@pytest.mark.parametrize("kind, how", FAST_PARAMS)
def test_bad_input_fast_subset(kind, how, capsys):
    """Derandomized: each named corruption once, 16 cases of the other kinds (104 in all)."""
    strategy = KINDS[kind] if how is None else BY_HOW[kind](how=how)

    @settings(FAST, max_examples=1 if how is not None else 16)
    @given(case=strategy)
    def run(case):
        check_case(case, capsys)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_bad_input_many(kind, capsys):
    """70 random cases per input kind (630 in all, plus the 8 named cases)."""

    @SLOW
    @given(case=KINDS[kind])
    def run(case):
        check_case(case, capsys)

    run()


def test_the_cases_cover_every_subcommand():
    """The fuzz cases reach every subcommand (a new one needs a strategy here)."""
    from pc_analog.cli.bench import BENCH_COMMANDS
    from pc_analog.cli.main import SUBCOMMANDS

    reached = {"settle", "grads", "compile", "simulate", "train", "bench timing", "bench sweep",
               "bench any_direction", "noise", "stability",
               "bench transfer"}  # fmt: skip
    names = {
        m.__name__.rsplit(".", 1)[1] for m in SUBCOMMANDS if m.__name__ != "pc_analog.cli.bench"
    }
    names |= {f"bench {m.__name__.rsplit('.', 1)[1]}" for m in BENCH_COMMANDS}
    assert names <= reached, names - reached


def test_the_base_cases_are_valid(tmp_path, capsys, monkeypatch):
    """The uncorrupted bases run (exit 0), so each case's failure is its corruption's."""
    for name, data in {**BASE_FILES, **_idx_folder(), "sweep.json": _j(SWEEP)}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    for argv in NET_COMMANDS + [TRAIN + ["--dataset", "idx:data", "--out", "r1"]]:
        assert main(list(argv)) == 0, argv
    from pc_analog.costs.specs import AnalogSpec, DigitalSpec
    from pc_analog.experiments.sweep import load_sweep_config
    from pc_analog.hardware.devices import DeviceConfig

    load_sweep_config(SWEEP)
    AnalogSpec.from_dict(ANALOG)
    DigitalSpec.from_dict(DIGITAL)
    DeviceConfig.from_dict(DEVICE)
    assert math.isfinite(json.loads(capsys.readouterr().out.splitlines()[-1])["test_accuracy"])
