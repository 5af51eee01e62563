"""Render BENCHMARKS.md and ``benchmarks/reports/*.md`` from ``benchmarks/results/*.json`` alone.

BENCHMARKS.md is the readable index: the machine, every goal with its verdict, and one
line per section linking its full report ``benchmarks/reports/<key>.md`` (the section's
text, tables and figures).

Every benchmark script writes its results file and then calls :func:`write_report`; run
this script to re-render by hand (``--check`` only compares, exit 1 on a difference).
Every number in the report comes from a results file: a section is either its script's
own formatting of ``raw`` (``"render": "<module>"`` in the file, e.g. ``train_targets``)
or the blocks (text, tables, figures) its script formatted at run time (``body``).

Run:  .venv/bin/python benchmarks/render.py [--check] [--results DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import (  # noqa: E402
    BENCHMARKS,
    GOAL_TABLE,
    RESULTS,
    machine_text,
    render_blocks,
)

# Reading order of the sections; results files not listed here follow, by name.
ORDER = ["speed", "pcx_compare", "ngspice_scaling", "codesign", "train_targets", "seed_claims"]

HEADER = (
    "# pc-analog benchmarks\n\n"
    "Rendered by `benchmarks/render.py` from `benchmarks/results/*.json` (one file per "
    "section: raw results, machine, date, versions); do not edit by hand. Each script in "
    "`benchmarks/` writes its results file and re-renders this index and its section's "
    "full report in `benchmarks/reports/`."
)

#: Where the full section reports go, relative to the folder of BENCHMARKS.md.
REPORTS = Path("benchmarks") / "reports"


def load_all(results_dir: Path | None = None) -> list[tuple[str, dict]]:
    d = Path(results_dir or RESULTS)
    files = {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))}
    keys = [k for k in ORDER if k in files] + sorted(k for k in files if k not in ORDER)
    return [(k, files[k]) for k in keys]


def _link(key: str) -> str:
    return f"{REPORTS.as_posix()}/{key}.md"


def _goal_cell(g: dict) -> str:
    m = f" ({g['measured']})" if g.get("measured") else ""
    return f"**{g['verdict']}**{m}"


def summary(sections: list[tuple[str, dict]]) -> str:
    lines = [
        "## Goals at a glance",
        "",
        "| section | goal | target | measured | verdict |",
        "|---|---|---|---:|---|",
    ]
    for key, d in sections:
        link = f"[{d['section']}]({_link(key)})"
        rows = [
            [g["goal"], g["target"], g.get("measured") or "", f"**{g['verdict']}**"]
            for g in d["goals"]
            if g.get("kind") != "claim"
        ]
        claims = [g for g in d["goals"] if g.get("kind") == "claim"]
        if claims:
            n = sum(g["verdict"] == "holds" for g in claims)
            rest = f", {len(claims) - n} in part (see the table)" if n < len(claims) else ""
            rows.append([f"{len(claims)} claims of the seeds", "reproduced", "", f"{n} hold{rest}"])
        if not rows:
            rows.append(["none (a measurement)", "", "", ""])
        for i, r in enumerate(rows):
            lines.append("| " + " | ".join([link if i == 0 else ""] + r) + " |")
    return "\n".join(lines)


def verdict_line(d: dict) -> str:
    """Each goal's verdict with its measured value (unless a goal table in the body has it)."""
    goals = [g for g in d["goals"] if g.get("kind") != "claim"]
    if not goals or any(b.get("table", {}).get("header") == GOAL_TABLE for b in d.get("body", [])):
        return ""
    return "**Verdict**: " + "; ".join(f"{g['goal']}: {_goal_cell(g)}" for g in goals) + "."


def section(key: str, d: dict) -> str:
    parts = [f"## {d['section']}", machine_text(d)]
    v = verdict_line(d)
    if v:
        parts.append(v)
    if d.get("render"):
        mod = importlib.import_module(d["render"])
        parts.append(mod.render(d["raw"]).strip("\n"))
    else:
        parts.append(render_blocks(d["body"]))
    return "\n\n".join(parts)


def _relocate(text: str) -> str:
    """Links of a section (written relative to the repository root) made relative to
    ``benchmarks/reports/``."""
    for root in ("benchmarks/", "docs/", "README.md", "BENCHMARKS.md"):
        text = text.replace(f"]({root}", f"](../../{root}")
    return text


def render_sections(results_dir: Path | None = None) -> dict[str, str]:
    """``{key: full section report}``, one per results file."""
    return {k: _relocate(section(k, d)).rstrip("\n") + "\n" for k, d in load_all(results_dir)}


def _index_lines(sections) -> str:
    lines = ["## Sections", ""]
    for key, d in sections:
        lines.append(f"- [{d['section']}]({_link(key)}) ({d['date']}, `{d['script']}`)")
    return "\n".join(lines)


def render_report(results_dir: Path | None = None) -> str:
    """The index, BENCHMARKS.md: machine of each run, every goal and its verdict, links."""
    sections = load_all(results_dir)
    parts = [HEADER, summary(sections), _index_lines(sections)]
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def render_all(results_dir: Path | None = None, report: Path | None = None) -> dict[Path, str]:
    """Every file the renderer writes: the index and the section reports, by path."""
    out = Path(report or BENCHMARKS)
    files = {out: render_report(results_dir)}
    for key, text in render_sections(results_dir).items():
        files[out.parent / REPORTS / f"{key}.md"] = text
    return files


def write_report(results_dir: Path | None = None, report: Path | None = None) -> Path:
    """Write the index and the section reports (removing reports of vanished sections)."""
    files = render_all(results_dir, report)
    out = Path(report or BENCHMARKS)
    folder = out.parent / REPORTS
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.md"):
        if old not in files:
            old.unlink()
    for path, text in files.items():
        path.write_text(text)
    return out


def stale_files(results_dir: Path | None = None, report: Path | None = None) -> list[Path]:
    """Rendered files that differ from their results (or are missing, or left over)."""
    files = render_all(results_dir, report)
    folder = Path(report or BENCHMARKS).parent / REPORTS
    bad = [p for p, t in files.items() if not p.exists() or p.read_text() != t]
    return bad + [p for p in folder.glob("*.md") if p not in files]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS, help="results directory")
    ap.add_argument("--out", type=Path, default=BENCHMARKS, help="report to write")
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 if different")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale_files(args.results, args.out)
        for p in bad:
            print(f"{p}: differs from its results")
        if not bad:
            print(f"{args.out} and its section reports: up to date")
        return 1 if bad else 0
    write_report(args.results, args.out)
    print(
        f"wrote {args.out} ({len(render_report(args.results).encode())} bytes) and {REPORTS}/*.md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
