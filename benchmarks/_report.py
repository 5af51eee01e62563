"""Shared by the benchmark scripts: machine description and the results files.

A benchmark run writes its raw results to ``benchmarks/results/<key>.json`` (with machine,
date and versions) and then re-renders BENCHMARKS.md from all results files
(:mod:`render`).  Nothing is spliced into the markdown by hand.

A results file holds:

``section``, ``script``
    the section title in BENCHMARKS.md and the script that wrote the file;
``machine``, ``date``, ``versions``
    CPU, cores and memory; the UTC date of the run; Python, numpy, scipy, ngspice;
``goals``
    one entry per goal: ``goal``, ``target``, ``measured``, ``verdict`` (``met``/``MISS``
    or, for claims, the claim's verdict);
``body``
    the section as the script formatted it, as blocks: ``{"text": ...}``,
    ``{"heading": ...}``, ``{"table": {"header", "align", "rows"}}``, ``{"figures": [...]}``;
    sections rendered from ``raw`` by their script (``"render": "<module>"``) have none;
``raw``
    the script's measurements, unrounded, as far as they are plain data.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent / "BENCHMARKS.md"
RESULTS = HERE / "results"
MAX_ARRAY = 10_000  # larger arrays are recorded by shape only

MACHINE_RE = re.compile(
    r"^Measured (?P<date>\d{4}-\d\d-\d\d \d\d:\d\d UTC) on (?P<cpu>.+?), (?P<cores>\d+) cores"
    r"(?:, (?P<memory>\d+ GiB))?; Python (?P<python>\S+), numpy (?P<numpy>\S+), "
    r"scipy (?P<scipy>\d+(?:\.\d+)*(?:\w+)?)"
    r"(?:, ngspice (?P<ngspice>[^\s,]+?)|, (?P<no>no ngspice))?\.$"
)


def machine_info() -> dict:
    """This machine and run: ``{"machine": ..., "date": ..., "versions": ...}``."""
    import numpy
    import scipy

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        out = subprocess.run(["ngspice", "--version"], capture_output=True, text=True, timeout=10)
        m = re.search(r"ngspice-(\S+)", out.stdout)
        spice = m.group(1) if m else None
    except (OSError, subprocess.SubprocessError):
        spice = None
    return {
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "memory": mem},
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": {
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "ngspice": spice,
        },
    }


def machine_text(info: dict) -> str:
    """The one-line description of :func:`machine_info` (or a results file)."""
    m, v = info["machine"], info["versions"]
    mem = f", {m['memory']}" if m.get("memory") else ""
    spice = f", ngspice {v['ngspice']}" if v.get("ngspice") else ", no ngspice"
    return (
        f"Measured {info['date']} on {m['cpu']}, {m['cores']} cores{mem}; Python "
        f"{v['python']}, numpy {v['numpy']}, scipy {v['scipy']}{spice}."
    )


def machine_line() -> str:
    """One line: date, CPU model, cores, memory, Python, numpy, scipy, ngspice."""
    return machine_text(machine_info())


def parse_machine_line(line: str) -> dict | None:
    """The inverse of :func:`machine_text`; None if ``line`` is not such a line."""
    m = MACHINE_RE.match(line.strip())
    if not m:
        return None
    return {
        "machine": {"cpu": m["cpu"], "cores": int(m["cores"]), "memory": m["memory"]},
        "date": m["date"],
        "versions": {
            "python": m["python"],
            "numpy": m["numpy"],
            "scipy": m["scipy"],
            "ngspice": m["ngspice"],
        },
    }


def load_after_text(before: str, after: str) -> str:
    """``after`` without a repeat of ``before``'s list of other running benchmarks."""
    tail = before.partition("; ")[2]
    if tail.startswith("other benchmarks running") and after.endswith("; " + tail):
        return after[: -len(tail)] + "the same other benchmarks running"
    return after


def counters_text(stats: dict) -> str:
    """A solver's counters on one line: ``nit 7, nfev 8, ..., method gauss-newton``."""
    return ", ".join(f"{k} {v}" for k, v in stats.items())


# ------------------------------------------------------------------ markdown <-> blocks
def _cells(row: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` inside a cell is not a separator)."""
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def parse_body(body: str) -> list[dict]:
    """Split a section's markdown into blocks (text, heading, table, figures)."""
    blocks: list[dict] = []
    for para in re.split(r"\n\s*\n", body.strip("\n")):
        lines = para.split("\n")
        if not para.strip():
            continue
        if all(ln.lstrip().startswith("|") for ln in lines) and len(lines) >= 2:
            header = _cells(lines[0])
            align = _cells(lines[1])
            rows = [_cells(ln) for ln in lines[2:]]
            for r in rows:
                if len(r) != len(header):
                    raise ValueError(f"table row has {len(r)} cells, header {len(header)}: {r}")
            blocks.append({"table": {"header": header, "align": align, "rows": rows}})
        elif len(lines) == 1 and lines[0].startswith("#"):
            blocks.append({"heading": lines[0]})
        elif all(re.fullmatch(r"!\[[^\]]*\]\([^)]*\)", ln.strip()) for ln in lines):
            figs = [re.fullmatch(r"!\[([^\]]*)\]\(([^)]*)\)", ln.strip()) for ln in lines]
            blocks.append({"figures": [{"alt": f[1], "path": f[2]} for f in figs]})
        else:
            blocks.append({"text": para})
    return blocks


def render_table(t: dict) -> str:
    def row(cells):
        return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"

    lines = [row(t["header"]), "|" + "|".join(t["align"]) + "|"]
    lines += [row(r) for r in t["rows"]]
    return "\n".join(lines)


def render_blocks(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if "table" in b:
            out.append(render_table(b["table"]))
        elif "heading" in b:
            out.append(b["heading"])
        elif "figures" in b:
            out.append("\n".join(f"![{f['alt']}]({f['path']})" for f in b["figures"]))
        else:
            out.append(b["text"])
    return "\n\n".join(out)


# ------------------------------------------------------------------ writing results
def jsonable(x):
    """Plain JSON data from numpy scalars/arrays, tuples and dataclass-free containers."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if np is not None and isinstance(x, np.ndarray):
        if x.size > MAX_ARRAY:  # a state or a weight matrix, not a result
            return {"array": list(x.shape), "dtype": str(x.dtype), "omitted": True}
        return jsonable(x.tolist())
    if np is not None and isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return repr(x)


GOAL_TABLE = ["goal", "target", "measured", "verdict"]
CLAIM_TABLE = ["claim", "source", "measured", "verdict"]
VERDICT = {"PASS": "met", "MISS": "MISS"}


def goals_from_blocks(blocks: list[dict]) -> list[dict]:
    """Goals (and claims) from a body's goal table (``goal | target | measured | verdict``)."""
    goals = []
    for b in blocks:
        t = b.get("table")
        if t and t["header"] == GOAL_TABLE:
            for g, target, measured, v in t["rows"]:
                goals.append(
                    dict(goal=g, target=target, measured=measured, verdict=VERDICT.get(v, v))
                )
        if t and t["header"] == CLAIM_TABLE:
            for claim, source, _measured, v in t["rows"]:
                goals.append(dict(kind="claim", goal=claim, target=source, verdict=v))
    return goals


def results_path(key: str, results_dir: Path | None = None) -> Path:
    return Path(results_dir or RESULTS) / f"{key}.json"


def load_results(key: str, results_dir: Path | None = None) -> dict | None:
    p = results_path(key, results_dir)
    return json.loads(p.read_text()) if p.exists() else None


def dump(data: dict) -> str:
    """Indented JSON, with lists of numbers (curves, fits) kept on one line."""
    text = json.dumps(data, indent=1, ensure_ascii=False)
    return (
        re.sub(
            r"\[\s*([-+0-9.eE]+(?:,\s*[-+0-9.eE]+)*)\s*\]",
            lambda m: "[" + ", ".join(x.strip() for x in m[1].split(",")) + "]",
            text,
        )
        + "\n"
    )


def write_results(
    key: str,
    title: str,
    body: str | None = None,
    *,
    script: str,
    raw=None,
    goals: list[dict] | None = None,
    render: str | None = None,
    info: dict | None = None,
    results_dir: Path | None = None,
    report: Path | None = None,
) -> Path:
    """Write ``results/<key>.json`` and re-render BENCHMARKS.md from all results files.

    ``body`` is the section's markdown as the script formats it; a first line that is a
    machine line (:func:`machine_line`) is taken as the run's machine, date and versions
    (so the file and the text agree), else :func:`machine_info` is called.  ``render``
    names a module whose ``render_section(raw)`` formats the section from ``raw`` instead.
    """
    blocks = None
    if body is not None:
        first, _, rest = body.lstrip("\n").partition("\n")
        parsed = parse_machine_line(first)
        if parsed is not None:
            info = info or parsed
            body = rest
        blocks = parse_body(body)
        if goals is None:
            goals = goals_from_blocks(blocks)
    info = info or machine_info()
    data = {
        "section": title,
        "script": script,
        "machine": info["machine"],
        "date": info["date"],
        "versions": info["versions"],
        "goals": goals or [],
    }
    if render:
        data["render"] = render
    if blocks is not None:
        data["body"] = blocks
    data["raw"] = jsonable(raw) if raw is not None else None
    path = results_path(key, results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(data))
    import render as _render  # benchmarks/render.py (the scripts put benchmarks/ on sys.path)

    _render.write_report(results_dir=path.parent, report=report)
    return path
