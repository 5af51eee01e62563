"""How ngspice's cost grows with the network (Debian's ngspice 39: no KLU, dense couplings).

For tanh networks ``n - h - h - 10`` of growing hidden width ``h`` (input and target
clamped), measures side by side in one run: netlist generation, ngspice ``.op``
(only the rest point) and ``.tran`` (the full transient) as subprocesses, and the
``equilibrium`` / ``ode`` backends on the same circuit; fits the exponent of time
against the number of weights.  Results go to ``benchmarks/results/ngspice_scaling.json``
(with machine, date and versions), from which BENCHMARKS.md is re-rendered.

Run:  .venv/bin/python benchmarks/ngspice_scaling.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_line, write_results  # noqa: E402

import pc_analog as pa  # noqa: E402
from pc_analog.circuit.ir import compile_network  # noqa: E402
from pc_analog.experiments.studies import fit_power_law  # noqa: E402
from pc_analog.spice.batch import run_ngspice_batch  # noqa: E402
from pc_analog.spice.netlist import write_netlist  # noqa: E402

TRAN_MAX_WEIGHTS = 6000


def _time(fn, repeats):
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best.append(time.perf_counter() - t0)
    return float(np.median(best)), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="three small sizes, one repeat")
    ap.add_argument(
        "--no-write",
        action="store_true",
        help="print only: no results file, BENCHMARKS.md unchanged",
    )
    args = ap.parse_args(argv)
    widths = [8, 16, 32] if args.quick else [8, 16, 32, 64, 128, 256]
    repeats = 1 if args.quick else 3
    rng = np.random.default_rng(0)
    rows = []
    for h in widths:
        net = pa.Network.random([16, h, h, 10], "tanh", seed=0)
        x0 = rng.uniform(-1, 1, size=(1, 16))
        y = np.eye(10)[[3]]
        circ = compile_network(net, x0, y)
        n_w = sum(W.size for W in net.weights)
        t_gen, text_tran = _time(lambda c=circ: write_netlist(c, analysis="tran"), repeats)
        text_op = write_netlist(circ, analysis="op")
        t_op, _ = _time(lambda t=text_op: run_ngspice_batch(t, timeout_s=600), repeats)
        # Transients grow steeply; time them once, and only up to TRAN_MAX_WEIGHTS.
        t_tran = float("nan")
        if n_w <= TRAN_MAX_WEIGHTS:
            t_tran, _ = _time(lambda t=text_tran: run_ngspice_batch(t, timeout_s=1800), 1)
        t_eq, eq = _time(lambda c=circ: pa.settle(c, backend="equilibrium"), repeats)
        t_ode, _ = _time(lambda c=circ: pa.settle(c, backend="ode"), repeats)
        rows.append(
            dict(
                width=h,
                weights=n_w,
                lines=text_tran.count("\n"),
                gen_s=t_gen,
                op_s=t_op,
                tran_s=t_tran,
                eq_s=t_eq,
                ode_s=t_ode,
            )
        )
        print(rows[-1], flush=True)
    fits = {}
    for k in ("gen_s", "op_s", "tran_s", "eq_s", "ode_s"):
        pts = [(r["weights"], r[k]) for r in rows if np.isfinite(r[k])]
        fits[k] = fit_power_law(*zip(*pts))[0]
    lines = [
        machine_line(),
        "",
        "Tanh networks 16-h-h-10, one sample, input and target clamped; median of "
        f"{repeats} runs (transients: one run, up to {TRAN_MAX_WEIGHTS} weights); ngspice run "
        "as `ngspice -b` subprocesses (binary raw output). Command: "
        "`.venv/bin/python benchmarks/ngspice_scaling.py`.",
        "",
        "| hidden width | weights | netlist lines | netlist generation (s) | ngspice .op (s) "
        "| ngspice .tran (s) | equilibrium backend (s) | ode backend (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['width']} | {r['weights']} | {r['lines']} | {r['gen_s']:.4f} | "
            f"{r['op_s']:.3f} | "
            + (f"{r['tran_s']:.3f}" if np.isfinite(r["tran_s"]) else "not run")
            + f" | {r['eq_s']:.4f} | {r['ode_s']:.3f} |"
        )
    lines += [
        "",
        "Fitted exponents of time against the number of weights: "
        + ", ".join(f"{k.replace('_s', '')} {v:.2f}" for k, v in fits.items())
        + ".",
        "",
        "Debian's ngspice 39 is built without KLU, so it factorises with its own sparse "
        "LU (Sparse 1.3); each behavioural prediction source couples a unit to every unit "
        "of the layer below, so the matrix has dense inter-layer blocks and fill-in grows "
        "with width.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write and not args.quick:
        path = write_results(
            "ngspice_scaling",
            "ngspice scaling",
            text,
            script="benchmarks/ngspice_scaling.py",
            raw=dict(rows=rows, fits=fits, repeats=repeats, tran_max_weights=TRAN_MAX_WEIGHTS),
        )
        print(f"wrote {path} and re-rendered BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
