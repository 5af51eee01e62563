"""Physical time: the ``ode`` backend's structured BDF against its earlier sparse path.

Case of issue 16: ``Network.random([64, 128, 10], "tanh", seed=0)``, the first 256
digits training samples, input and one-hot label clamped, default ``OdeBackend()``
(``rtol 1e-8``, ``atol 1e-12``; ``auto`` picks BDF for 32768 states).  Side by side in
one run, one BLAS thread, CPU time of ``settle``:

* ``new``: the default (``structured=True``): :class:`~pc_analog.solvers._block_bdf.BlockBDF`,
  one eigendecomposition per Jacobian per sample, a deflated Newton inverse, settling
  times read from each sample's own dense output;
* ``old``: ``structured=False``: scipy's BDF with SuperLU on the batch's sparse matrix
  and the whole batch's dense output (the implementation before this change).

Agreement: both runs again with ``t_eval_points = 400`` and the same hard horizon
``t_max_s`` (95 % of the settled run's end, so neither stops on its settle event first):
their dense outputs at the same 400 times, max |x_new - x_old| over all samples, units
and times; settling times of the timed runs (max relative difference); work counters.
The trajectory against a tight reference (``rtol 1e-10``) at matched times is
``tests/test_ode.py``.

Run:  .venv/bin/python benchmarks/ode_speed.py [--quick] [--no-write]
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
from pc_analog._threads import single_threaded_blas  # noqa: E402
from pc_analog.io.data import load_digits, one_hot  # noqa: E402
from pc_analog.solvers.ode import OdeBackend  # noqa: E402

SECTION = "Physical time: the ode backend (structured BDF)"
SIZES = (64, 128, 10)
BATCH = 256
ISSUE_S = 20.0  # issue 16: about 20 s per 256 samples
GOAL_SPEEDUP = 20.0
EVAL_POINTS = 400


def _case(batch):
    ds = load_digits()
    net = pa.Network.random(SIZES, "tanh", seed=0)
    return net, ds.x_train[:batch], one_hot(ds.y_train[:batch], 10)


def _run(net, x, y, **opts):
    t0 = time.thread_time()
    res = pa.settle(net, x, y, backend=OdeBackend(on_failure="return", **opts))
    return res, time.thread_time() - t0


def _counts(res):
    return {k: int(res.stats[k]) for k in ("nfev", "njev", "nlu")} | {"steps": int(res.n_steps)}


def measure(batch: int) -> dict:
    net, x, y = _case(batch)
    with single_threaded_blas():
        new, t_new = _run(net, x, y)
        old, t_old = _run(net, x, y, structured=False)
        # matched times: both stop at the same hard horizon, before the settle event
        same = dict(t_eval_points=EVAL_POINTS, t_max_s=0.95 * new.t[-1])
        new_e, _ = _run(net, x, y, **same)
        old_e, _ = _run(net, x, y, structured=False, **same)
    traj = max(np.abs(a - b).max() for a, b in zip(new_e.trajectory, old_e.trajectory))
    scale = max(np.abs(v).max() for v in old_e.trajectory)
    st = np.abs(new.settling_time_s - old.settling_time_s).max() / old.settling_time_s.max()
    return dict(
        batch=batch,
        new_s=t_new,
        old_s=t_old,
        speedup=t_old / t_new,
        success=bool(new.success and old.success),
        traj_max_diff=float(traj),
        traj_scale=float(scale),
        t_matched=bool(np.array_equal(new_e.t, old_e.t)),
        settling_rel_diff=float(st),
        x_final_diff=float(max(np.abs(a - b).max() for a, b in zip(new.x, old.x))),
        new=_counts(new),
        old=_counts(old),
        max_settling_tau=float(np.max(new.settling_time_s) / new.tau_s),
    )


def report(m: dict) -> str:
    met = m["new_s"] <= ISSUE_S / GOAL_SPEEDUP and m["speedup"] >= GOAL_SPEEDUP
    n, o = m["new"], m["old"]
    return "\n".join(
        [
            machine_line(),
            "",
            f"Network `Network.random([64, 128, 10], 'tanh', seed=0)`, the first {m['batch']} "
            "digits training samples, input and one-hot label clamped, default `OdeBackend()` "
            "(BDF, rtol 1e-8, atol 1e-12); CPU time of `settle`, one BLAS thread, both paths "
            "in one run. `old` is `OdeBackend(structured=False)`: scipy's BDF with SuperLU on "
            "the batch's sparse Newton matrix (the implementation before). `new` "
            "(default): the same BDF steps with per-sample blocks "
            "(`pc_analog/solvers/_block_bdf.py`): one eigendecomposition of each sample's "
            "Jacobian block, reused for every step size, a deflated Newton inverse (bulk "
            "modes as one scalar, outliers exact), settling times read from each sample's "
            "own columns of the dense output.",
            "",
            "| | CPU (s) | steps | f evals | Jacobians | factorisations |",
            "|---|---:|---:|---:|---:|---:|",
            f"| old (sparse SuperLU) | {m['old_s']:.2f} | {o['steps']} | {o['nfev']} | "
            f"{o['njev']} | {o['nlu']} |",
            f"| new (block BDF) | {m['new_s']:.2f} | {n['steps']} | {n['nfev']} | "
            f"{n['njev']} | {n['nlu']} (1 eigendecomposition per Jacobian) |",
            "",
            f"Speed-up **{m['speedup']:.1f}x** (issue goal >= {GOAL_SPEEDUP:g}x and <= "
            f"{ISSUE_S / GOAL_SPEEDUP:g} s: **{'met' if met else 'MISS'}**). Agreement: "
            f"trajectories at {EVAL_POINTS} matched times max |x_new - x_old| = "
            f"{m['traj_max_diff']:.1e} V (states up to {m['traj_scale']:.2g} V; identical "
            f"time grids: {m['t_matched']}), settling times "
            f"{m['settling_rel_diff']:.1e} relative (max {m['max_settling_tau']:.2f} tau), "
            f"final states {m['x_final_diff']:.1e} V. All settled: {m['success']}.",
        ]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batch 16, no write")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    m = measure(16 if args.quick else BATCH)
    text = report(m)
    print(text)
    if not (args.quick or args.no_write):
        path = write_results("ode_speed", SECTION, text, script="benchmarks/ode_speed.py", raw=m)
        print(f"wrote {path} and re-rendered BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
