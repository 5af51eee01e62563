"""One-off (kept for provenance): BENCHMARKS.md as of commit 0a59d14 -> results/*.json.

Until then the scripts spliced their sections into BENCHMARKS.md; only
``train_targets.py`` kept its raw results (JSON in an HTML comment).  This script splits
that report into one results file per section, mechanically (nothing is retyped):

* the machine line of each section becomes ``machine``/``date``/``versions``;
* ``Hebbian training targets``: the JSON of the HTML comment, byte for byte, becomes
  ``raw`` (the section is rendered from it by ``train_targets.render``);
* every other section: its markdown becomes ``body`` blocks (text, tables as cells,
  figures), numbers as the report printed them.  The unrounded measurements of those
  runs were never saved (``raw`` is null); the next run of the script records them;
* goals are read from the goal tables and sentences of the text;
* a few text changes, listed in ``migrate`` (counters as text, figure links, ...).

Run:  .venv/bin/python benchmarks/_migrate_report.py OLD_BENCHMARKS.md [RESULTS_DIR]
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import (  # noqa: E402
    RESULTS,
    VERDICT,
    counters_text,
    dump,
    goals_from_blocks,
    load_after_text,
    parse_body,
    parse_machine_line,
)

KEYS = {
    "ngspice scaling": ("ngspice_scaling", "benchmarks/ngspice_scaling.py"),
    "Against pcx": ("pcx_compare", "benchmarks/pcx_compare.py"),
    "Settling engine speed": ("speed", "benchmarks/speed.py"),
    "Co-design crossover": ("codesign", "benchmarks/codesign.py"),
    "Seed claims": ("seed_claims", "benchmarks/seed_claims.py"),
    "Hebbian training targets": ("train_targets", "benchmarks/train_targets.py"),
}


def _goals(blocks: list[dict]) -> list[dict]:
    """The goal and claim tables, and the pcx section's goal sentence."""
    goals = goals_from_blocks(blocks)
    for b in blocks:
        m = b.get("text") and re.search(
            r"\*\*Goal residual (\S+): .*? \(time ratio pcx / pc-analog = ([^)]+)\): "
            r"(PASS|MISS)\*\* \(goal: ([^)]+)\)",
            b["text"],
        )
        if m:
            goals.append(
                dict(
                    goal=f"pc-analog vs pcx at residual {m[1]}, time ratio pcx / pc-analog",
                    target=m[4],
                    measured=f"{m[2]}x",
                    verdict=VERDICT[m[3]],
                )
            )
    return goals


def migrate(old: str, results_dir: Path) -> list[Path]:
    import train_targets

    out = []
    parts = re.split(r"^## (.+)\n", old, flags=re.M)
    for title, text in zip(parts[1::2], parts[2::2], strict=True):
        key, script = KEYS[title]
        if key == "train_targets":
            m = re.search(r"<!-- train_targets\.json (.*?) -->", text, re.S)
            raw = json.loads(m[1])
            info = train_targets._latest(raw)
            data = dict(
                section=title,
                script=script,
                machine=info["machine"],
                date=info["date"],
                versions=info["versions"],
                goals=train_targets.goals(raw),
                render="train_targets",
                raw=raw,
            )
        else:
            first, _, rest = text.strip("\n").partition("\n")
            info = parse_machine_line(first)
            assert info is not None, title
            # The seed claims' figure list: code spans -> links.
            rest = re.sub(r"`(benchmarks/figures/([^`]+))`", r"[\2](\1)", rest)
            # A table cell must escape its pipes (one speed row did not).
            rest = rest.replace(
                "| gradient in eps and the stop test max |dF/dx| (",
                "| gradient in eps and the stop test max \\|dF/dx\\| (",
            )
            # pcx: the load after the run without a repeat of the list of other benchmarks.
            rest = re.sub(
                r"Load: before, (.*?); after, (.*?)\.\n",
                lambda m: f"Load: before, {m[1]}; after, {load_after_text(m[1], m[2])}.\n",
                rest,
            )
            # speed: solver counters as text, not Python dict literals.
            rest = re.sub(
                r"\{'\w+': [^{}]*\}", lambda m: counters_text(ast.literal_eval(m[0])), rest
            )
            blocks = parse_body(rest)
            data = dict(
                section=title,
                script=script,
                machine=info["machine"],
                date=info["date"],
                versions=info["versions"],
                goals=_goals(blocks),
                body=blocks,
                raw=None,
            )
        p = results_dir / f"{key}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(dump(data))
        out.append(p)
    return out


if __name__ == "__main__":
    src = Path(sys.argv[1])
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else RESULTS
    for p in migrate(src.read_text(), dst):
        print(p, p.stat().st_size)
