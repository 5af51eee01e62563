"""The in-circuit training sweep of benchmarks/noise.py (issue 12): its noisy test read and
the 0.5-point call over seeds."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import noise  # noqa: E402

from pc_analog.circuit.ir import Hardware  # noqa: E402
from pc_analog.costs.specs import AnalogSpec  # noqa: E402
from pc_analog.learning.train import TrainConfig, train  # noqa: E402

BASE = [90.0, 91.0, 92.0, 93.0]


def _runs(c_F, accs, diverged=()):
    out = []
    for s, a in enumerate(accs):
        r = {"c_F": c_F, "g0_S": 1e-6, "e_n_V_rtHz": 0.0, "seed": s, "test_accuracy": a}
        if s in diverged:
            r.update(diverged="weights[0]: too large", test_accuracy=None)
        out.append(r)
    return out


def _sweep(*designs):
    base = [{"seed": s, "test_accuracy": a} for s, a in enumerate(BASE)]
    runs = [r for d in designs for r in _runs(*d)]
    raw = {"rows": [{"c_F": d[0], "g0_S": 1e-6, "e_n_V_rtHz": 0.0, "energy_J": d[0] * 7e4}
                    for d in designs],
           "training": {"noiseless_runs": base, "runs": runs, "seconds": 1.0,
                        "config": {"lr": 1.0, "epochs": 1, "limit_train": None,
                                   "seeds": [0, 1, 2, 3], "reads": 2}}}  # fmt: skip
    text = "\n".join(noise._training_text(raw))
    return raw["training"], text


def test_calls_follow_the_paired_difference_and_its_standard_error():
    tr, _ = _sweep(
        (1e-15, [b + 0.1 for b in BASE]),  # +0.1, no spread: within
        (1e-16, [b - 2.0 + e for b, e in zip(BASE, [0.1, -0.1, 0.1, -0.1])]),  # outside
        (1e-17, [b - 0.4 + e for b, e in zip(BASE, [1.5, -1.5, 1.5, -1.5])]),  # unresolved
    )
    calls = {r["c_F"]: (r["call"], round(r["diff"], 6)) for r in tr["rows"]}
    assert calls == {1e-15: ("within", 0.1), 1e-16: ("outside", -2.0),
                     1e-17: ("unresolved", -0.4)}  # fmt: skip
    assert tr["noiseless"]["mean"] == pytest.approx(91.5)
    # the paired difference's standard error: sd of (1.5, -1.5, 1.5, -1.5) / 2
    r17 = next(r for r in tr["rows"] if r["c_F"] == 1e-17)
    assert r17["diff_se"] == pytest.approx(np.std([1.5, -1.5, 1.5, -1.5], ddof=1) / 2)


def test_lowest_energy_within_skips_diverged_and_says_when_unresolved():
    tr, text = _sweep(
        (1e-18, [b + 1 for b in BASE], (2,)),  # high accuracy, but one seed diverged
        (1e-17, [b - 0.4 + e for b, e in zip(BASE, [1.5, -1.5, 1.5, -1.5])]),
        (1e-12, BASE),
    )
    assert tr["best"]["c_F"] == 1e-17
    r18 = tr["rows"][0]
    assert r18["call"] == "outside" and r18["diverged"] == 1 and r18["n_seeds"] == 4
    assert "1 of 4 seeds diverged" in text and "Not resolved by the spread" in text
    tr, text = _sweep((1e-17, [b - 2 for b in BASE]), (1e-12, [b + 0.2 for b in BASE]))
    assert tr["best"]["c_F"] == 1e-12 and "Resolved: it is within" in text


def test_noiseless_test_read_equals_the_training_loops_settle_evaluation():
    spec = AnalogSpec(c_F=1e-12, g0_S=1e-6, adc_bits=noise.ADC_BITS,
                      adc_range_V=noise.ADC_RANGE_V)  # fmt: skip
    cfg = TrainConfig(arch=(64, 16, 10), epochs=1, bp_baseline=False, seed=0, lr=1.0,
                      analog=spec, hardware={"c_F": 1e-12, "g0_S": 1e-6},
                      eval_mode="settle", limit_train=96)  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        rep = train(cfg, d, progress=False, plots=False)
    acc = noise._noisy_test(rep, spec, Hardware(c_F=1e-12, g0_S=1e-6), reads=3, seed=0)
    assert 20.0 < acc < 100.0
    assert acc == pytest.approx(rep.test_accuracy * 100, abs=1e-9)


def test_inference_sweep_clamps_the_inputs_the_classifier_trained_on(monkeypatch):
    """The inference sweep's noiseless accuracy is the classifier's on raw test digits
    through its own input transform (``predict``), up to ADC ties: before the fix it
    clamped [0, 1] pixels into a globally standardised classifier."""
    from pc_analog.io.data import load_digits
    from pc_analog.model.energy import predict

    seen = {}
    real = noise._classifier

    def classifier(epochs, lr):
        seen["net"], acc, scaling = real(epochs, lr)
        return seen["net"], acc, scaling

    monkeypatch.setattr(noise, "_classifier", classifier)
    monkeypatch.setattr(noise, "_point", lambda *a, **k: {})  # no design sweep needed
    _, raw = noise.run(True)
    n = raw["config"]["n_eval"]
    digits = load_digits()
    want = 100 * np.mean(predict(seen["net"], digits.raw(digits.x_test[:n])) == digits.y_test[:n])
    assert seen["net"].input_transform is not None
    assert abs(raw["noiseless_accuracy"] - want) <= 100 / n + 1e-9  # one ADC tie at most
