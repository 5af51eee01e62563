"""Co-design crossover: where the analog circuit and digital backprop trade places.

Two sweeps (``pc_analog.experiments.sweep``, run through a local process pool), every point a
:func:`pc_analog.costs.timing.timing_report` of a seeded tanh network (input and target
clamped, one sample) against two digital references:

- ``gpu-a100``: roofline model of an A100 (FP32 peak, HBM bandwidth, kernel launch
  latency, energy per FLOP from TDP; ``docs/hardware.md``);
- ``cpu-measured``: roofline of this CPU as measured by numpy (no energy figure).

(W) width 8..512 at depth 4, (D) depth 2..32 at width 32; both with RC (first-order)
and inertial (critically damped spring-network) dynamics.  For each ratio
analog / digital -- latency (batch 1), throughput (time per sample with the digital
side at batch 256 and one analog circuit settling sample after sample), energy per
inference -- the section lists its range and where it crosses 1 against the number of
weights (log-log interpolation between the bracketing points,
:func:`pc_analog.experiments.sweep.find_crossover`).  When it does not cross inside the measured
range, a power-law fit of the ratio against the number of weights
(:func:`pc_analog.experiments.studies.fit_power_law`) gives the size where it *would*, marked as an
extrapolation (and "never" when the fit moves away from 1).

Results go to ``benchmarks/results/codesign.json`` (raw measurements, machine, date,
versions), from which BENCHMARKS.md is re-rendered (``benchmarks/render.py``).

Run:  .venv/bin/python benchmarks/codesign.py [--quick] [--no-write] [--workers N]
      .venv/bin/python benchmarks/codesign.py --redraw   (figures from the stored rows only)
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_line, write_results  # noqa: E402

from pc_analog.errors import InvalidInputError  # noqa: E402
from pc_analog.experiments.studies import fit_power_law  # noqa: E402
from pc_analog.experiments.sweep import RATIO_COLUMNS, crossover_table, run_sweep  # noqa: E402
from pc_analog.io.formats import atomic_write_bytes  # noqa: E402

SECTION = "Co-design crossover"
FIGURES = Path(__file__).resolve().parent / "figures"

DIGITAL = ["gpu-a100", "cpu-measured"]
SWEEPS = {
    "W": {
        "title": "width at depth 4",
        "x": "width",
        "grid": {
            "digital": DIGITAL,
            "dynamics": ["RC", "inertial"],
            "width": [8, 16, 32, 64, 128, 256, 512],
        },
        "fixed": {"depth": 4},
    },
    "D": {
        "title": "depth at width 32",
        "x": "depth",
        "grid": {
            "digital": DIGITAL,
            "dynamics": ["RC", "inertial"],
            "depth": [2, 4, 8, 16, 32],
        },
        "fixed": {"width": 32},
    },
}
QUICK = {"W": [8, 16, 32], "D": [2, 4, 8]}
#: A fitted exponent below this in magnitude counts as flat (no extrapolated crossing).
FLAT_EXPONENT = 0.1
#: Extrapolations fit the ratio over this many of the largest sizes.
FIT_POINTS = 3


def _config(spec: dict, quick: bool, key: str) -> dict:
    grid = dict(spec["grid"])
    if quick:
        grid[spec["x"]] = QUICK[key]
    return {
        "format": "pc-analog.sweep/1",
        "grid": grid,
        "fixed": {"network": "random", "activation": "tanh", "batch": 1, **spec["fixed"]},
        "seed": 0,
        "quantities": ["timing"],
    }


def _extrapolate(rows, col: str) -> str:
    """Power-law fit of the ratio against n_weights over the FIT_POINTS largest sizes
    (the trend where the sweep ends), solved for ratio = 1."""
    pts = sorted((r["n_weights"], r[col]) for r in rows if r[col] is not None and r[col] > 0)
    pts = pts[-FIT_POINTS:]
    if len(pts) < FIT_POINTS:
        return "n/a"
    try:
        p, a = fit_power_law([x for x, _ in pts], [y for _, y in pts])
    except InvalidInputError as e:  # under half a decade of sizes: no trend to extrapolate
        return f"n/a ({e})"
    last = max(pts)[1]
    # Moving towards 1 as the size grows?  ratio < 1 needs p > 0, ratio > 1 needs p < 0.
    if abs(p) < FLAT_EXPONENT:
        return f"flat (ratio ~ n^{p:+.2f}): none in sight"
    if (last < 1) != (p > 0):
        return f"never (ratio ~ n^{p:+.2f})"
    x1 = (1 / a) ** (1 / p)
    return f"~{x1:.2g} weights (extrapolated, ratio ~ n^{p:+.2f} over the largest sizes)"


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _figure(rows, key: str, spec: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from pc_analog.viz.plots import plot_crossover

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), sharey=True, layout="constrained")
    for ax, dig in zip(axes, DIGITAL):
        sub = [r for r in rows if r["digital"] == dig]
        ratios = {lab: c for lab, c in RATIO_COLUMNS.items() if any(r[c] for r in sub)}
        plot_crossover(sub, x="n_weights", ratios=ratios, by="dynamics", ax=ax)
        ax.set_title(f"vs {dig}: {spec['title']}", fontsize=10)
    fixed = ", ".join(f"{k} {v}" for k, v in _config(spec, False, key)["fixed"].items())
    fig.suptitle(f"analog (default spec, ode) / digital backprop: {fixed}", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def run(quick: bool, workers: int | None) -> tuple[str, str, dict]:
    lines_tab = [
        "| sweep | digital | dynamics | ratio (analog / digital) | range | crosses 1 at |",
        "|---|---|---|---|---|---|",
    ]
    detail = []
    summary = []
    figs = {}
    raw = {"seconds": {}, "rows": {}}
    total_s = 0.0
    for key, spec in SWEEPS.items():
        cfg = _config(spec, quick, key)
        res = run_sweep(cfg, max_workers=workers, progress=True)
        total_s += res.seconds
        rows = list(res.rows)
        raw["rows"][key] = rows
        raw["seconds"][key] = res.seconds
        bad = [r for r in rows if not r["analog.success"]]
        table = crossover_table(rows, varying=["digital", "dynamics"])
        for t in table:
            col = RATIO_COLUMNS[t["ratio"]]
            group = [
                r for r in rows if r["digital"] == t["digital"] and r["dynamics"] == t["dynamics"]
            ]
            if all(r[col] is None for r in group):
                continue
            if t["crossover"] is not None:
                big = max(group, key=lambda r: r["n_weights"])[col]
                side = "analog wins above" if big < 1 else "digital wins above"
                where = f"{t['crossover']:.3g} weights (measured; {side})"
            else:
                where = "not in range; " + _extrapolate(group, col)
            lines_tab.append(
                f"| {key}: {spec['title']} | {t['digital']} | {t['dynamics']} | {t['ratio']} "
                f"| {_fmt(t['min'])} .. {_fmt(t['max'])} | {where} |"
            )
        # Per-size detail: the analog side and the A100 figures, RC and inertial.
        detail.append(f"\n({key}) {spec['title']}, against gpu-a100 (roofline):\n")
        detail.append(
            "| depth | width | weights | dynamics | t_settle (tau) | analog latency "
            "| A100 BP latency "
            "| analog energy | A100 BP energy | latency ratio | throughput ratio "
            "| energy ratio |"
        )
        detail.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            if r["digital"] != "gpu-a100":
                continue
            detail.append(
                f"| {r['depth']} | {r['width']} | {r['n_weights']} | {r['dynamics']} "
                f"| {r['analog.settling_time_tau']:.1f} "
                f"| {r['analog.settling_time_s'] * 1e6:.2f} us "
                f"| {r['digital.bp_latency_s'] * 1e6:.2f} us | {r['analog.energy_J'] * 1e9:.3g} nJ "
                f"| {r['digital.bp_energy_J'] * 1e9:.3g} nJ | {r['time_ratio']:.3g} "
                f"| {r['throughput_time_ratio']:.3g} | {r['energy_ratio']:.3g} |"
            )
        if bad:
            detail.append(f"\n{len(bad)} point(s) did not settle (analog.success false).")
        figs[key] = _figure(rows, key, spec)
        summary.append(f"{key}: {len(rows)} points in {res.seconds:.0f} s on {res.executor}")
    text = "\n".join(
        [
            machine_line(),
            f"Load average {os.getloadavg()[0]:.1f} at the end (other jobs share the cores); "
            f"sweeps took {total_s:.0f} s.  Produced by `benchmarks/codesign.py` "
            "(`pc_analog.experiments.sweep` + `pc_analog.costs.timing`); hardware assumptions in "
            "`docs/hardware.md`.",
            "",
            "Every point: a seeded 1-sample tanh network, input and target clamped, settled "
            "by the `ode` backend on the `default` analog spec (1 pF, 1 uS, tau = 1 us, "
            "ideal devices, 10 uW / 100 MHz amplifiers), against backprop (forward + "
            "backward) on the digital reference. Ratios are analog / digital: **below 1 "
            "the analog circuit wins**. *Latency*: one sample. *Throughput*: time per "
            "sample, digital at batch 256, one analog circuit settling sample after sample. "
            "*Energy*: per inference (the FLOP-energy model makes the digital energy per "
            "sample batch-independent); `cpu-measured` has no energy figure. Crossings are "
            "interpolated in log-log between measured points; where there is none, a "
            f"power-law fit of the ratio against the number of weights over the "
            f"{FIT_POINTS} largest sizes says where it would be (an extrapolation beyond "
            "the simulated sizes, not a measurement). `cpu-measured` is measured once per "
            "worker process, so its rows carry that measurement's noise.",
            "",
            *lines_tab,
            *detail,
            "",
            "![crossover vs width](benchmarks/figures/codesign_width.png)",
            "![crossover vs depth](benchmarks/figures/codesign_depth.png)",
        ]
    )
    if not quick:
        FIGURES.mkdir(exist_ok=True)
        atomic_write_bytes(FIGURES / "codesign_width.png", figs["W"])
        atomic_write_bytes(FIGURES / "codesign_depth.png", figs["D"])
    return text, "; ".join(summary), raw


def redraw() -> list[Path]:
    """Redraw the figures from the rows stored in ``results/codesign.json`` (no sweep)."""
    import json

    stored = json.loads((Path(__file__).resolve().parent / "results" / "codesign.json").read_text())
    rows = stored["raw"]["rows"]
    out = []
    for key, name in (("W", "codesign_width.png"), ("D", "codesign_depth.png")):
        FIGURES.mkdir(exist_ok=True)
        atomic_write_bytes(FIGURES / name, _figure(rows[key], key, SWEEPS[key]))
        out.append(FIGURES / name)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="three sizes per sweep, no write")
    ap.add_argument(
        "--no-write",
        action="store_true",
        help="print only: no results file, BENCHMARKS.md unchanged",
    )
    ap.add_argument("--workers", type=int, default=None, help="local processes (default all)")
    ap.add_argument(
        "--redraw",
        action="store_true",
        help="only redraw the figures from results/codesign.json (no sweep, no results)",
    )
    args = ap.parse_args(argv)
    if args.redraw:
        for path in redraw():
            print(f"wrote {path}")
        return 0
    t0 = time.perf_counter()
    text, summary, raw = run(args.quick, args.workers)
    print(text)
    print(summary)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if not args.quick and not args.no_write:
        path = write_results("codesign", SECTION, text, script="benchmarks/codesign.py", raw=raw)
        print(f"wrote {path} and re-rendered BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
