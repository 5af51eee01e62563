"""Speed of the co-design sweep: this tree against an earlier one, side by side in one run.

The two sweeps of ``benchmarks/codesign.py`` (W: width 8..512 at depth 4, D: depth 2..32
at width 32; digital ``gpu-a100`` and ``cpu-measured``, RC and inertial dynamics, the
``timing`` quantity) are run once with each tree's ``pc_analog`` (a subprocess with that
tree on ``PYTHONPATH``), one after the other, each through a local process pool of the
same size.  Measured: CPU seconds of each subprocess and its workers (``getrusage`` of
the children) and wall seconds; the rows of both runs are compared column by column
(``cpu-measured`` digital columns excepted: that reference is a timing of this CPU,
measured once per worker process).

The earlier tree is a git worktree of ``main`` at 2734ee1 (the commit before issue 16's
sweep changes): ``git worktree add --detach /work/wt/_old_sweep 2734ee1``.

Run:  .venv/bin/python benchmarks/codesign_speed.py --old-tree DIR [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_line, write_results  # noqa: E402

HERE = Path(__file__).resolve().parent
NEW_TREE = HERE.parent
SECTION = "Co-design sweep speed"
GOAL = 5.0
WORKERS = 2

_CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r})
import pc_analog
assert pc_analog.__file__.startswith({tree!r}), pc_analog.__file__
import codesign as C
from pc_analog.experiments.sweep import run_sweep
out = {{}}
for key, spec in C.SWEEPS.items():
    cfg = C._config(spec, {quick}, key)
    x = spec["x"]
    cfg["grid"][x] = [v for v in cfg["grid"][x] if v <= {limits!r}[key]]
    t0 = time.perf_counter()
    res = run_sweep(cfg, max_workers={workers}, progress=False)
    out[key] = dict(rows=list(res.rows), wall_s=time.perf_counter() - t0)
json.dump(out, open({dest!r}, "w"), default=str)
"""


def _run_tree(tree: Path, quick: bool, limits: dict) -> dict:
    """The sweeps with ``tree``'s pc_analog: rows, wall and CPU seconds (with workers)."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = str(Path(tmp) / "rows.json")
        code = _CHILD.format(
            bench=str(HERE), tree=str(tree), quick=quick, workers=WORKERS, dest=dest, limits=limits
        )
        env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
        env["OPENBLAS_NUM_THREADS"] = "1"
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=str(tree))
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = json.loads(Path(dest).read_text())
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return dict(sweeps=out, wall_s=wall, cpu_s=cpu)


def _differences(old: dict, new: dict) -> tuple[int, int, list]:
    """``(values compared, values different, first differences)`` over both sweeps."""
    n = bad = 0
    first = []
    for key in old["sweeps"]:
        for a, b in zip(old["sweeps"][key]["rows"], new["sweeps"][key]["rows"], strict=True):
            if list(a) != list(b):
                bad += 1
                first.append((key, a["point"], "columns differ"))
                continue
            cpu_row = a["digital"] == "cpu-measured"
            for k in a:
                if cpu_row and (k.startswith("digital.") or k.endswith("ratio")):
                    continue
                n += 1
                va, vb = a[k], b[k]
                same = va == vb or (
                    isinstance(va, float) and isinstance(vb, float) and math.isnan(va)
                    and math.isnan(vb)
                )  # fmt: skip
                if not same:
                    bad += 1
                    first.append((key, a["point"], k, va, vb))
    return n, bad, first[:5]


def measure(old_tree: Path, quick: bool, limits: dict) -> dict:
    old = _run_tree(old_tree, quick, limits)
    new = _run_tree(NEW_TREE, quick, limits)
    n, bad, first = _differences(old, new)
    return dict(
        quick=quick,
        limits=limits,
        workers=WORKERS,
        old_tree=str(old_tree),
        old={"cpu_s": old["cpu_s"], "wall_s": old["wall_s"]}
        | {k: v["wall_s"] for k, v in old["sweeps"].items()},
        new={"cpu_s": new["cpu_s"], "wall_s": new["wall_s"]}
        | {k: v["wall_s"] for k, v in new["sweeps"].items()},
        points={k: len(v["rows"]) for k, v in new["sweeps"].items()},
        compared=n,
        different=bad,
        first_differences=first,
        speedup_cpu=old["cpu_s"] / new["cpu_s"],
        speedup_wall=old["wall_s"] / new["wall_s"],
    )


def report(m: dict) -> str:
    met = m["speedup_cpu"] >= GOAL
    o, w = m["old"], m["new"]
    pts = ", ".join(f"{k}: {v} points" for k, v in m["points"].items())
    lim = m["limits"]
    part = (
        ""
        if (lim["W"], lim["D"]) == (512, 32)
        else f" (widths up to {lim['W']}, depths up to {lim['D']}: the section's grid "
        "without its largest sizes, which did not fit the time the shared machine's "
        "benchmark lock allowed this run; the largest sizes are where the crossbar "
        "inventory, built per cell, dominates even more)"
    )
    return "\n".join(
        [
            machine_line(),
            "",
            "The two sweeps of the co-design crossover (`benchmarks/codesign.py`; "
            f"{pts}{part}), run with the earlier tree (`main` at 2734ee1) and with this one, one "
            f"after the other in one run, each through a pool of {m['workers']} worker "
            "processes, one BLAS thread. CPU: the subprocess and its workers. *new*: "
            "points that differ only in the digital reference and the dynamics run as one "
            "task (`pc_analog.experiments.sweep_point.run_group`): equal timing circuits "
            "are one object, so the crossbar inventory the energy is integrated over is "
            "built once for RC and inertial; one `timing_report` covers both digital "
            "references; the timing stage reuses the ode settle's Hessian spectrum "
            "(`lambda_min`, the PC step) instead of two more eigendecompositions; the ode "
            "backend's per-call cuts (docs/ode_speed.md).",
            "",
            "| goal | target | measured | verdict |",
            "|---|---|---|---|",
            f"| co-design sweep, earlier tree over this one (CPU) | >= {GOAL:g}x | "
            f"{m['speedup_cpu']:.2f}x ({o['cpu_s']:.0f} s against {w['cpu_s']:.0f} s CPU; "
            f"wall {m['speedup_wall']:.2f}x) | {'PASS' if met else 'MISS'} |",
            "",
            "| tree | CPU (s) | wall (s) | W sweep wall (s) | D sweep wall (s) |",
            "|---|---:|---:|---:|---:|",
            f"| earlier (2734ee1) | {o['cpu_s']:.1f} | {o['wall_s']:.1f} | {o['W']:.1f} | "
            f"{o['D']:.1f} |",
            f"| this tree | {w['cpu_s']:.1f} | {w['wall_s']:.1f} | {w['W']:.1f} | {w['D']:.1f} |",
            "",
            f"Rows: {m['compared']} values compared, {m['different']} different "
            "(the `cpu-measured` rows' digital columns excepted: a timing of this CPU).",
            "",
            "Profile of what is left (cProfile of one group of the W sweep, width 256: four "
            "points, 76 s under the profiler): building the crossbar-level inventory 38 % "
            "(`circuit/_build.py` `_crossbar_rows`: one Python object per crossbar cell, "
            "about 0.9 million cells), evaluating its dissipation at the 4001 points of the "
            "dense transient 33 % (`Inventory.power_W`, twice: RC and inertial), the two "
            "ode settles 15 %, device counts and area (sums over the cells) 8 %. Closing "
            "the 5x: an array-backed inventory (one element group per crossbar holding its "
            "conductance matrix, instead of a cell object per device) would remove the "
            "first and last items and most of the second; the settles are already the "
            "smallest share.",
        ]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-tree", type=Path, required=True, help="checkout of the earlier tree")
    ap.add_argument("--quick", action="store_true", help="three sizes per sweep, no write")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--max-width", type=int, default=512, help="W sweep up to this width")
    ap.add_argument("--max-depth", type=int, default=32, help="D sweep up to this depth")
    args = ap.parse_args(argv)
    if not (args.old_tree / "pc_analog" / "__init__.py").is_file():
        print(f"codesign_speed: {args.old_tree} holds no pc_analog package", file=sys.stderr)
        return 2
    limits = {"W": args.max_width, "D": args.max_depth}
    m = measure(args.old_tree.resolve(), args.quick, limits)
    text = report(m)
    print(text)
    if not (args.quick or args.no_write):
        path = write_results(
            "codesign_speed", SECTION, text, script="benchmarks/codesign_speed.py", raw=m
        )
        print(f"wrote {path} and re-rendered BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
