"""BENCHMARKS.md is rendered from benchmarks/results/*.json and cannot drift from them.

No benchmark is run here: the report is re-rendered from the committed results files
and compared byte for byte; a fake result checks the path a benchmark script takes
(write its results file, re-render the report) in a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REPORT = ROOT / "BENCHMARKS.md"
# The index stays a page: the sections' full text is in benchmarks/reports/.
MAX_BYTES = 40_000

# The renderer imports the scripts that format their own section (train_targets), and
# train_targets sets BLAS thread variables at import: keep them out of other tests.
_env = dict(os.environ)
sys.path.insert(0, str(ROOT / "benchmarks"))
import _report  # noqa: E402
import render  # noqa: E402

render.render_all(RESULTS)  # the imports happen here
os.environ.clear()
os.environ.update(_env)


def _files():
    return sorted(RESULTS.glob("*.json"))


def test_report_is_rendered_from_results():
    assert render.stale_files(RESULTS) == [], (
        "BENCHMARKS.md or benchmarks/reports/ differ from benchmarks/results: "
        "run benchmarks/render.py"
    )


def test_report_is_small_and_has_no_embedded_json():
    text = REPORT.read_text()
    assert len(text.encode()) < MAX_BYTES
    assert "<!--" not in text
    assert not re.search(r"^\s*[\[{]\"", text, re.M)


def test_every_results_file_has_machine_date_versions():
    assert {p.stem for p in _files()} >= {
        "speed",
        "pcx_compare",
        "ngspice_scaling",
        "codesign",
        "train_targets",
        "seed_claims",
    }
    for p in _files():
        d = json.loads(p.read_text())
        assert d["section"] and d["script"].startswith("benchmarks/"), p
        assert d["machine"]["cpu"] and d["machine"]["cores"] >= 1, p
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", d["date"]), p
        for k in ("python", "numpy", "scipy", "ngspice"):
            assert k in d["versions"], (p, k)
        assert ("body" in d) != bool(d.get("render")), p
        for g in d["goals"]:
            assert g["goal"] and g["verdict"], (p, g)


def test_every_goal_has_a_verdict_in_the_report():
    text = REPORT.read_text()
    for p in _files():
        for g in json.loads(p.read_text())["goals"]:
            if g.get("kind") != "claim":
                assert f"**{g['verdict']}**" in text and g["goal"] in text, g
                if g.get("measured"):
                    assert g["measured"] in text, g


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("speed.json", "14006x", "14007x"),  # a table cell of a body
        ("train_targets.json", '"pc": 0.9721448467966574', '"pc": 0.9821448467966574'),  # raw
    ],
)
def test_a_changed_number_in_a_results_file_changes_the_report(tmp_path, name, old, new):
    res = tmp_path / "results"
    shutil.copytree(RESULTS, res)
    text = (res / name).read_text()
    assert old in text
    (res / name).write_text(text.replace(old, new, 1))
    assert render.render_all(res) != render.render_all(RESULTS)


def test_a_script_writes_its_results_and_re_renders(tmp_path):
    res = tmp_path / "results"
    out = tmp_path / "BENCHMARKS.md"
    body = "\n".join(
        [
            _report.machine_line(),
            "",
            "A fake benchmark: what and how.",
            "",
            "| goal | target | measured | verdict |",
            "|---|---:|---:|:---:|",
            "| fake ratio | >= 2x | 2.5x | PASS |",
            "| fake escaped \\| pipe | <= 1 | 3 | MISS |",
            "",
            "![fake figure](benchmarks/figures/fake.png)",
        ]
    )
    raw = {"ratio": np.float64(2.5), "xs": np.arange(3), "big": np.zeros(20_000), "t": (1, 2)}
    path = _report.write_results(
        "zz_fake", "Fake section", body, script="benchmarks/fake.py", raw=raw,
        results_dir=res, report=out,
    )  # fmt: skip
    d = json.loads(path.read_text())
    assert d["machine"]["cores"] >= 1 and d["versions"]["numpy"] == np.__version__
    assert d["raw"]["ratio"] == 2.5 and d["raw"]["xs"] == [0, 1, 2] and d["raw"]["t"] == [1, 2]
    assert d["raw"]["big"] == {"array": [20000], "dtype": "float64", "omitted": True}
    assert [g["verdict"] for g in d["goals"]] == ["met", "MISS"]
    report = out.read_text()
    assert report == render.render_report(res)
    assert render.stale_files(res, out) == []
    full = (tmp_path / "benchmarks" / "reports" / "zz_fake.md").read_text()
    assert "## Fake section\n\n" + _report.machine_text(d) in full
    assert "| fake escaped \\| pipe | <= 1 | 3 | MISS |" in full
    assert "![fake figure](../../benchmarks/figures/fake.png)" in full
    link = "[Fake section](benchmarks/reports/zz_fake.md)"
    assert f"| {link} | fake ratio | >= 2x | 2.5x | **met** |" in report
    assert "<!--" not in report + full
    # Re-running replaces the file, it does not add a second section.
    _report.write_results(
        "zz_fake", "Fake section", body, script="benchmarks/fake.py", results_dir=res, report=out
    )
    again = (tmp_path / "benchmarks" / "reports" / "zz_fake.md").read_text()
    assert again.count("## Fake section") == 1 and out.read_text().count("- [Fake section]") == 1


def test_machine_line_round_trips():
    line = _report.machine_line()
    info = _report.parse_machine_line(line)
    assert info is not None and _report.machine_text(info) == line


def test_train_targets_case_run_keeps_the_other_cases(tmp_path, monkeypatch):
    """``train_targets.py --case a`` (training faked) rewrites case a, keeps b..d."""
    import train_targets

    res = tmp_path / "results"
    shutil.copytree(RESULTS, res)
    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(_report, "RESULTS", res)
    monkeypatch.setattr(render, "RESULTS", res)
    monkeypatch.setattr(render, "BENCHMARKS", out)
    stored = json.loads((res / "train_targets.json").read_text())["raw"]
    fake = json.loads(json.dumps(stored["a"]))
    fake["pc_mean"] = 0.5
    fake["status"] = "MISS"
    monkeypatch.setattr(train_targets, "run_case", lambda case, work, budget: fake)
    assert train_targets.main(["--case", "a"]) == 0
    d = json.loads((res / "train_targets.json").read_text())
    assert d["raw"]["a"]["pc_mean"] == 0.5
    assert {k: v for k, v in d["raw"].items() if k != "a"} == {
        k: v for k, v in stored.items() if k != "a"
    }
    assert [g["verdict"] for g in d["goals"]][0] == "MISS"
    full = (tmp_path / "benchmarks" / "reports" / "train_targets.md").read_text()
    assert "| **a** | **mean** | **50.00 %** |" in full
    assert out.read_text() == render.render_report(res)
    assert render.stale_files(res, out) == []
