"""Defaults that learn: what ``pc-analog train --dataset NAME --out DIR`` resolves to, that a
short run with those defaults learns (PC in the circuit beside its backprop twin), and the
benchmark's own oracle (its replica of the backprop twin) and verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pc_analog.cli.main import _build_parser
from pc_analog.cli.train import _config
from pc_analog.learning.defaults import DATASET_DEFAULTS
from pc_analog.learning.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import train_defaults as bench  # noqa: E402


@pytest.mark.parametrize("dataset", ["digits", "fashion-mnist"])
def test_cli_with_only_dataset_and_out_resolves_to_the_data_sets_defaults(dataset, tmp_path):
    args = _build_parser().parse_args(["train", "--dataset", dataset, "--out", str(tmp_path)])
    cfg = _config(args)
    d = DATASET_DEFAULTS[dataset]
    n_in = {"digits": 64, "fashion-mnist": 784}[dataset]
    assert cfg.arch == (n_in, d["hidden"], 10)
    for name in ("epochs", "batch_size", "lr", "lr_schedule", "precision_output", "input_scaling",
                 "augment_shift"):  # fmt: skip
        assert getattr(cfg, name) == d[name], name
    # ... and the library's TrainConfig(dataset=...) is the same run, field by field
    assert cfg.to_dict() == TrainConfig(dataset=dataset).to_dict()
    assert cfg.activation == "tanh" and cfg.backend == "equilibrium" and cfg.device == "ideal"


def test_the_digits_defaults_fit_the_time_budget_the_benchmark_screens():
    """The chosen defaults are inside the screen's budget (mini-batches per run), which is
    what keeps a run well under a minute of CPU."""
    d = DATASET_DEFAULTS["digits"]
    batches = d["epochs"] * -(-bench.N_DIGITS_TRAIN // d["batch_size"])
    assert batches <= bench.BUDGET_BATCHES


def test_a_short_run_with_the_digits_defaults_learns_in_the_circuit(tmp_path):
    """Two epochs of the defaults (everything else as ``--dataset digits``): PC in the
    circuit is already far above chance (92.8 % when written; chance is 10 %) and within
    two test points of its backprop twin (same initial weights and batches)."""
    cfg = TrainConfig(dataset="digits", epochs=2)
    rep = train(cfg, tmp_path / "run", progress=False, plots=False)
    assert rep.test_accuracy >= 0.9, rep.test_accuracy
    assert abs(rep.test_accuracy - rep.bp_test_accuracy) <= 0.02
    assert [r["epoch"] for r in rep.history] == [1, 2]
    assert rep.history[1]["train_accuracy"] > rep.history[0]["train_accuracy"] - 0.01


def test_benchmark_replica_is_the_backprop_twin():
    """The screen's oracle: the numpy replica gives the twin's validation accuracy after
    every epoch of a real ``train`` run (exact equality)."""
    bench.check_replica(epochs=1)


def test_benchmark_replica_differs_when_the_update_differs():
    data = bench.hold_out(bench.VALIDATION_SEED)
    a = bench.bp_replica(data, hidden=16, epochs=2, batch=32, lr=1.0, seed=0)
    b = bench.bp_replica(data, hidden=16, epochs=2, batch=32, lr=1.0, seed=1)
    c = bench.bp_replica(data, hidden=16, epochs=2, batch=32, lr=0.5, seed=0)
    assert a != b and a != c and 0.5 < a[-1] <= 1.0


def _raw(pcs, seconds):
    runs = [
        {"seed": s, "pc": p, "bp": p, "seconds": t, "cpu_seconds": 20.0}
        for s, (p, t) in enumerate(zip(pcs, seconds))
    ]
    return {"datasets": {"digits": {"verify": {"runs": runs}}}, "machine_line": "x"}


def test_benchmark_verify_of_some_seeds_keeps_the_other_seeds_runs():
    """``--seeds 1,2`` replaces seeds 1 and 2 of the recorded runs of the same defaults,
    keeps the others; with other defaults the old runs are dropped."""
    old = {"defaults": {"lr": 1.0}, "verify": {"runs": [
        {"seed": s, "pc": 0.9, "locked": True} for s in range(5)]}}  # fmt: skip
    new = {"defaults": {"lr": 1.0}, "verify": {"runs": [
        {"seed": s, "pc": 0.95, "locked": False} for s in (1, 2)]}}  # fmt: skip
    got = bench.merge_verify(old, new, (1, 2))
    assert [(r["seed"], r["pc"]) for r in got["runs"]] == [
        (0, 0.9), (1, 0.95), (2, 0.95), (3, 0.9), (4, 0.9)]  # fmt: skip
    assert got["locked"] is False
    other = bench.merge_verify({**old, "defaults": {"lr": 0.5}}, new, (1, 2))
    assert [r["seed"] for r in other["runs"]] == [1, 2]


def test_benchmark_verdict_needs_every_seed_and_the_wall_time():
    ok = bench.render(_raw([0.975] * 5, [30.0] * 5))
    assert "Verdict (digits): **met**" in ok
    one_low = bench.render(_raw([0.975] * 4 + [0.9694], [30.0] * 5))
    assert "**MISS** (accuracy)" in one_low
    slow = bench.render(_raw([0.975] * 5, [30.0] * 4 + [61.0]))
    assert "**MISS** (wall time)" in slow
    assert np.isfinite(bench.TARGETS["digits"][0])
