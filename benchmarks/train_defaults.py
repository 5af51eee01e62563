"""Defaults that learn: how ``pc-analog train``'s per-data-set defaults were chosen, and checked.

``pc-analog train --dataset digits --out DIR`` with no other option uses
:data:`pc_analog.learning.defaults.DATASET_DEFAULTS`.  This script records how those
values were chosen and that they meet their targets:

1. **search** (validation only): a small grid over hidden width, input scaling and learning
   rate, each point trained with ``TrainConfig(validation_fraction=0.2)`` -- a stratified
   20 % of the training part held out (permutation seed
   ``pc_analog.learning.defaults.VALIDATION_SEED``), the rest trained on; the test set is
   not read.  Two training seeds per point; the point with the best mean PC validation
   accuracy is chosen (first in grid order on ties; the grid lists cheaper points first).
2. **verify** (test): five training seeds of ``TrainConfig(dataset=NAME, seed=s)`` -- the
   library defaults, nothing else -- on the test set, with the wall time of each run
   (every run also trains the backprop twin, as the command does).

The script checks that the choice of step 1 is what ``DATASET_DEFAULTS`` holds and says so
in the report when it is not.  Results: ``benchmarks/results/train_defaults.json`` ->
BENCHMARKS.md section "Defaults that learn".

Run:  .venv/bin/python benchmarks/train_defaults.py [--dataset digits] [--phase search|verify|all]
      [--quick] [--no-write]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import load_results, machine_line, write_results  # noqa: E402

from pc_analog.learning.defaults import DATASET_DEFAULTS, VALIDATION_SEED  # noqa: E402
from pc_analog.learning.train import TrainConfig, train  # noqa: E402

KEY = "train_defaults"
SECTION = "Defaults that learn"
VAL_FRACTION = 0.2
SEARCH_SEEDS = (0, 1)
VERIFY_SEEDS = (0, 1, 2, 3, 4)
TARGETS = {"digits": (0.97, 60.0), "fashion-mnist": (0.88, None)}  # accuracy, seconds

#: The grids (cheapest first).  ``lr`` is TrainConfig.lr; with precision_output 0.1 the
#: effective step on the output loss is lr * 0.1.
GRIDS = {
    "digits": dict(
        hidden=(128,),
        input_scaling=("global", "per-feature"),
        lr=(0.5, 1.0),
        epochs=(40,),
        batch_size=(32, 16),
        fixed=dict(lr_schedule="cosine", precision_output=0.1),
        # batch 16 only at the better lr of batch 32 (a shared 2-core machine: ~3 min a run)
        skip=lambda p: p["batch_size"] == 16 and p["lr"] != 1.0,
    ),
    "fashion-mnist": dict(
        hidden=(256,),
        input_scaling=("global", "per-feature"),
        lr=(0.4,),
        epochs=(3,),
        batch_size=(32,),
        fixed=dict(lr_schedule="cosine", precision_output=0.1, limit_train=12000),
    ),
}
#: How the grid came to be, as it happened (numbers copied from the logs of those runs).
NOTES = {
    "digits": [
        "A first round of this search fixed the batch size at 32 (the batch-32 rows above) and "
        "chose global scaling, lr 1.0, 40 epochs (97.21 % validation). Its test check missed "
        "the target and was stopped after three seeds: PC 96.66 %, 96.94 %, 96.38 % (BP twin "
        "96.38 %, 96.94 %, 96.66 %) for seeds 0, 1, 2, 73-127 s each under a load average "
        "of 8. A backprop-only screen on the same validation hold-out (not recorded here; "
        "three seeds, global scaling, effective lr 0.1, 40 epochs, cosine) then gave "
        "98.61 % at batch 16 against 97.10 % at batch 32, 97.21 % with 256 hidden units, and "
        "divergence at effective lr 0.2 or 512 hidden units; so the grid was widened to batch "
        "16 (the batch-16 rows), and the choice and test check below are those of the widened "
        "grid.",
    ],
}

QUICK = dict(
    hidden=(16,), input_scaling=("global", "per-feature"), lr=(1.0,), epochs=(2,), batch_size=(32,)
)
#: The grid's axes, in the order of the product (the first varies slowest).
AXES = ("batch_size", "hidden", "input_scaling", "lr", "epochs")


def _run(cfg: TrainConfig) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as d:
        rep = train(cfg, Path(d) / "run", progress=False, plots=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "pc": rep.test_accuracy,
        "bp": rep.bp_test_accuracy,
        "seconds": wall,
        "cpu_seconds": cpu,
        "seconds_per_epoch": wall / cfg.epochs,
    }


def search(dataset: str, quick: bool, old_rows: list | None = None) -> dict:
    """Train every grid point on the validation hold-out (two seeds); a point already in
    ``old_rows`` (an earlier run of this search, same point) is taken from there."""
    grid = dict(GRIDS[dataset])
    fixed = grid.pop("fixed")
    skip = grid.pop("skip", lambda p: False)
    if quick:
        grid = QUICK
        fixed = dict(fixed, limit_train=300, limit_test=100)
    rows = []
    for values in itertools.product(*(grid[a] for a in AXES)):
        point = dict(zip(AXES, values), **fixed)
        if skip(point):
            continue
        cached = [r for r in old_rows or () if all(r.get(k) == v for k, v in point.items())]
        if cached:
            rows.append(cached[0])
            continue
        runs = []
        for seed in SEARCH_SEEDS:
            kw = {k: v for k, v in point.items() if k != "hidden"}
            cfg = TrainConfig(
                dataset=dataset,
                arch=_arch(dataset, point["hidden"]),
                seed=seed,
                validation_fraction=VAL_FRACTION,
                **kw,
            )
            runs.append(_run(cfg))
        row = {
            **point,
            "pc_val": [r["pc"] for r in runs],
            "bp_val": [r["bp"] for r in runs],
            "pc_val_mean": sum(r["pc"] for r in runs) / len(runs),
            "bp_val_mean": sum(r["bp"] for r in runs) / len(runs),
            "seconds_per_epoch": sum(r["seconds_per_epoch"] for r in runs) / len(runs),
        }
        print(
            f"{dataset} {point}: PC val {row['pc_val_mean']:.4f}, BP val {row['bp_val_mean']:.4f}, "
            f"{row['seconds_per_epoch']:.2f} s/epoch",
            flush=True,
        )
        rows.append(row)
    best = max(rows, key=lambda r: r["pc_val_mean"])  # max keeps the first on ties
    return {"grid": rows, "chosen": {k: best[k] for k in AXES}}


def _arch(dataset: str, hidden: int) -> tuple[int, int, int]:
    n_in = {"digits": 64, "fashion-mnist": 784}[dataset]
    return (n_in, hidden, 10)


def verify(dataset: str, quick: bool) -> list[dict]:
    rows = []
    for seed in VERIFY_SEEDS[:2] if quick else VERIFY_SEEDS:
        extra = dict(epochs=2, limit_train=300, limit_test=100) if quick else {}
        cfg = TrainConfig(dataset=dataset, seed=seed, **extra)
        r = _run(cfg)
        r["seed"] = seed
        print(f"{dataset} defaults, seed {seed}: test PC {r['pc']:.4f}, BP {r['bp']:.4f}, "
              f"{r['seconds']:.1f} s ({r['cpu_seconds']:.1f} s CPU)", flush=True)  # fmt: skip
        rows.append(r)
    return rows


def _load() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def render(raw: dict) -> str:
    """The section's markdown from the raw results."""
    lines = [
        raw.get("machine_line", machine_line()),
        "",
        "`pc-analog train --dataset NAME --out DIR` with no other option: the per-data-set "
        "defaults of `pc_analog.learning.defaults.DATASET_DEFAULTS`, chosen on a validation "
        f"hold-out (a stratified {VAL_FRACTION:.0%} of the training part, permutation seed "
        f"{VALIDATION_SEED}; the test set is not read by the search), then checked on the test "
        "set with five training seeds. Each run trains PC in the simulated circuit "
        "(`equilibrium` backend, ideal devices) and its backprop twin, as the command does; "
        "times are wall time of the whole run on this shared 2-core machine (other helpers' "
        "jobs were running: load averages 1/5/15 min at the start and end of each phase "
        "are given).",
        "",
    ]
    for dataset, d in raw.get("datasets", {}).items():
        target, budget = TARGETS[dataset]
        lines.append(f"**{dataset}**")
        lines.append("")
        if "search" in d:
            s = d["search"]
            lines += [
                f"Search (validation; seeds {', '.join(map(str, SEARCH_SEEDS))}; load "
                f"{s.get('load_start', 'n/a')} -> {s.get('load_end', 'n/a')}):",
                "",
                "| batch | hidden | input scaling | lr | epochs | PC validation (mean) | "
                "BP validation (mean) | s / epoch | chosen |",
                "|---:|---:|---|---:|---:|---:|---:|---:|---|",
            ]
            for r in s["grid"]:
                chosen = all(r[k] == s["chosen"][k] for k in s["chosen"])
                lines.append(
                    f"| {r['batch_size']} | {r['hidden']} | {r['input_scaling']} | {r['lr']:g} | "
                    f"{r['epochs']} | "
                    f"{100 * r['pc_val_mean']:.2f} % | {100 * r['bp_val_mean']:.2f} % | "
                    f"{r['seconds_per_epoch']:.2f} | {'**chosen**' if chosen else ''} |"
                )
            lines.append("")
        for note in NOTES.get(dataset, []) if "search" in d else []:
            lines += [note, ""]
        if "defaults" in d:
            lines.append(
                "Library defaults: " + ", ".join(f"{k} {v}" for k, v in d["defaults"].items()) + "."
            )
            lines.append("")
        if "verify" in d:
            v = d["verify"]
            rows = v["runs"]
            ok_acc = all(r["pc"] >= target for r in rows)
            ok_time = budget is None or all(r["seconds"] < budget for r in rows)
            lines += [
                f"Test, library defaults, {len(rows)} seeds (load {v.get('load_start', 'n/a')} "
                f"-> {v.get('load_end', 'n/a')}); target >= {100 * target:.0f} % for every "
                "seed" + (f", each run under {budget:.0f} s" if budget else "") + ":",
                "",
                "| seed | PC in the circuit (test) | BP twin (test) | wall time (s) | "
                "CPU time (s) |",
                "|---:|---:|---:|---:|---:|",
            ]
            for r in rows:
                cpu = r.get("cpu_seconds")
                lines.append(
                    f"| {r['seed']} | {100 * r['pc']:.2f} % | {100 * r['bp']:.2f} % | "
                    f"{r['seconds']:.1f} | {'n/a' if cpu is None else f'{cpu:.1f}'} |"
                )
            verdict = "met" if ok_acc and ok_time else "MISS"
            cpus = [r["cpu_seconds"] for r in rows if "cpu_seconds" in r]
            cpu_text = f", max CPU time {max(cpus):.1f} s" if cpus else ""
            lines += [
                "",
                f"Verdict ({dataset}): **{verdict}** (min PC "
                f"{100 * min(r['pc'] for r in rows):.2f} %, max wall time "
                f"{max(r['seconds'] for r in rows):.1f} s{cpu_text}; the time "
                "target is wall time on this machine, measured while other jobs shared its "
                "2 cores).",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", action="append", choices=sorted(GRIDS))
    p.add_argument("--phase", default="all", choices=("search", "verify", "all"))
    p.add_argument("--quick", action="store_true", help="a CI-size check (tiny grid and runs)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    old = load_results(KEY) if not args.quick else None
    raw = (old or {}).get("raw") or {"datasets": {}}
    for dataset in args.dataset or ["digits"]:
        d = raw["datasets"].setdefault(dataset, {})
        if args.phase in ("search", "all"):
            start = _load()
            old_rows = [
                {"batch_size": 32, **r} for r in (d.get("search") or {}).get("grid", [])
            ]  # rows of the first round, which fixed batch_size 32
            d["search"] = search(dataset, args.quick, None if args.quick else old_rows)
            d["search"].update(load_start=start, load_end=_load())
            want = DATASET_DEFAULTS[dataset]
            chosen = d["search"]["chosen"]
            differ = [k for k in chosen if want[k] != chosen[k]]
            if differ and not args.quick:
                print(f"NOTE: DATASET_DEFAULTS[{dataset!r}] differs from the choice in {differ}")
        if args.phase in ("verify", "all"):
            start = _load()
            d["verify"] = {"runs": verify(dataset, args.quick)}
            d["verify"].update(load_start=start, load_end=_load())
            d["defaults"] = dict(DATASET_DEFAULTS[dataset])
    raw["machine_line"] = machine_line()
    text = render(raw)
    print(text)
    if not args.no_write and not args.quick:
        path = write_results(KEY, SECTION, text, script="benchmarks/train_defaults.py", raw=raw)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
