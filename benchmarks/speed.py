"""Settling engine speed: the equilibrium backend side by side with ngspice and backprop.

Measures in one run, on one machine, the same network, batch and tolerance:

(a) ``settle(..., backend="equilibrium")`` against ngspice ``.op`` (the rest point only,
    ngspice's fastest path; in process through the shared library and as parallel
    ``ngspice -b`` subprocesses) on a 64-128-128-10 tanh network with a batch of 256
    digits (input and one-hot label clamped), time per sample, after checking that
    both rest at the same point (``max |x_fast - x_ngspice| / max |x|``);
(b) the same equilibrium (gtol 1e-6) against one numpy backprop pass
    (:func:`pc_analog.backprop`, forward and backward) on the same batch;
(c) how the equilibrium's time and peak memory grow with the number of weights
    (64-h-h-10, batch 64, one subprocess per size so peak RSS is that size's own), and
    how ngspice netlist generation and ``.op`` grow with the number of circuit elements.

Every goal's PASS/MISS is computed here from the numbers.  The section always gives
where the time goes (cProfile of the library path, the cost of its kernels on this
batch, a flop count), and for a missed goal what would close it.  With input and label
clamped ``solve_equilibrium`` takes its structured path (Gauss-Newton in error
coordinates, :mod:`pc_analog.solvers._gauss_newton`); the dense block-Newton path it keeps for
other clamps (``structured=False``) is timed beside it on the same batch.

Tolerances (max |dF/dx| on free units): (a) uses the library default, because it must
reproduce ngspice's rest point to 1e-6 and gtol 1e-6 does not guarantee that (it is
shown too); (b) and (c) use gtol 1e-6.  Timings are medians of repeats.
``solve_equilibrium`` pins BLAS to one thread itself where the library does so; backprop
is timed with the default BLAS threads and with one, and the faster is used (the
stricter comparison).  The machine's load average is
recorded, since other jobs may share the cores.

Results go to ``benchmarks/results/speed.json`` (raw measurements, machine, date,
versions), from which BENCHMARKS.md is re-rendered (``benchmarks/render.py``).

Run:  .venv/bin/python benchmarks/speed.py [--quick] [--no-write] [--show]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import counters_text, machine_line, write_results  # noqa: E402

import pc_analog as pa  # noqa: E402
from pc_analog.circuit.ir import compile_network, node_name  # noqa: E402
from pc_analog.experiments.studies import fit_power_law  # noqa: E402
from pc_analog.io.data import load_digits, one_hot  # noqa: E402
from pc_analog.solvers.equilibrium import GTOL_DEFAULT  # noqa: E402
from pc_analog.spice.netlist import write_netlist  # noqa: E402
from pc_analog.spice.ngspice import run_netlist, run_netlists, shared_available  # noqa: E402

SECTION = "Settling engine speed"

SIZES = (64, 128, 128, 10)
BATCH = 256
SEED = 0
# Tolerances on max |dF/dx| over free units.  (a) must reproduce ngspice's rest point to
# AGREE_RTOL, which gtol 1e-6 does not guarantee (the error in x is about H^-1 g), so (a)
# times the library default; (b) and (c) use 1e-6 as the goal states.
GTOL_A = GTOL_DEFAULT
GTOL_B = 1e-6

GOAL_SPICE_RATIO = 1000.0  # (a) fast time per sample <= ngspice's / 1000
AGREE_RTOL = 1e-6  # (a) max |x_fast - x_ngspice| / max |x|
GOAL_BP_RATIO = 10.0  # (b) equilibrium <= 10 x one backprop pass
GOAL_EXPONENT = 1.1  # (c) time ~ weights^p with p <= 1.1

SPICE_SAMPLES = 16  # (a) samples run through ngspice (the fast path runs all 256)
SCALING_WIDTHS = (32, 64, 128, 256, 512)
SCALING_BATCH = 64
DENSE_MAX_WIDTH = 128  # (c) the dense path is timed up to this width (O(n^3) per sample)
SPICE_WIDTHS = (16, 32, 64, 128, 192)  # up to ~1e5 circuit elements
SPICE_SLOW_S = 5.0  # an ngspice run slower than this is timed once
REPEATS = 5
BP_ROUNDS = 11  # (b) alternating rounds: one equilibrium, three backprop passes per round
PROFILE_TOP = 12

QUICK = dict(
    spice_samples=2,
    scaling_widths=(32, 64, 128, 256),
    spice_widths=(16, 32, 64),
    repeats=1,
    bp_rounds=5,
)


# =========================================================================== helpers


def _blas_one_thread():
    """A context limiting BLAS to one thread (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _timed(fn, repeats):
    """Median wall time of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def _batch(n):
    ds = load_digits()
    return ds.x_train[:n], one_hot(ds.y_train[:n], 10)


def _weights(sizes):
    return int(sum(a * b for a, b in zip(sizes[:-1], sizes[1:])))


def _rel_diff(xa, xb):
    num = max(float(np.abs(a - b).max()) for a, b in zip(xa, xb))
    return num / max(float(np.abs(a).max()) for a in xa)


def _verdict(ok):
    return "PASS" if ok else "MISS"


def _load():
    la = os.getloadavg()[0]
    others = subprocess.run(["pgrep", "-f", "train_targets"], capture_output=True, text=True)
    busy = [p for p in others.stdout.split() if p.strip() and int(p) != os.getpid()]
    return la, bool(busy)


def _rss_mib():
    """This process's peak resident set (MiB).

    ``VmHWM`` from /proc where there is one: unlike ``ru_maxrss``, which Linux carries
    across ``exec`` (so a worker would inherit its parent's peak), it starts afresh
    with the new program.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# =========================================================================== (c) worker


def _worker(width: int, batch: int, repeats: int) -> dict:
    """One size of the scaling study, in its own process (peak RSS is this size's)."""
    sizes = (SIZES[0], width, width, SIZES[-1])
    net = pa.Network.random(sizes, "tanh", seed=SEED)
    x0, y = _batch(batch)
    base = _rss_mib()
    if width <= 128:  # warm-up (one-time imports and thread-pool set-up) where it is cheap
        pa.settle(net, x0, y, backend="equilibrium", gtol=GTOL_B)
    t_eq, res = _timed(lambda: pa.settle(net, x0, y, backend="equilibrium", gtol=GTOL_B), repeats)
    peak = _rss_mib()
    tracemalloc.start()
    pa.settle(net, x0, y, backend="equilibrium", gtol=GTOL_B)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    dense = {}
    if width <= DENSE_MAX_WIDTH:
        t_d, res_d = _timed(
            lambda: pa.settle(net, x0, y, backend="equilibrium", gtol=GTOL_B, structured=False),
            repeats,
        )
        dense = dict(
            dense_s=t_d, dense_nit=int(res_d.stats["nit"]), dense_rel_diff=_rel_diff(res.x, res_d.x)
        )
    return dict(
        width=width,
        weights=_weights(sizes),
        batch=batch,
        eq_s=t_eq,
        nit=int(res.stats["nit"]),
        nfact=int(res.stats["nfact"]),
        method=res.stats.get("method", ""),
        success=bool(res.success),
        rss_base_mib=base,
        rss_peak_mib=peak,
        traced_peak_mib=traced,
        **dense,
    )


def _run_worker(width, batch, repeats) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(width), str(batch), str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"scaling worker h={width} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# =========================================================================== measurements


def _spice_state(circ, runs):
    """The batch state read back from ngspice operating points (clamps as compiled)."""
    out = []
    for l in range(len(circ.sizes)):
        arr = np.array(circ.x_init[l], dtype=float)
        for b, r in enumerate(runs):
            for i in np.flatnonzero(~circ.clamp.masks[l]):
                arr[b, i] = float(r.op[node_name("x", l, int(i))])
        out.append(arr)
    return tuple(out)


def measure_a_b(cfg) -> dict:
    net = pa.Network.random(SIZES, "tanh", seed=SEED)
    x0, y = _batch(BATCH)
    out = dict(weights=_weights(SIZES))

    def fast(gtol):
        return pa.settle(net, x0, y, backend="equilibrium", gtol=gtol)

    # ---- the fast path, all 256 samples, at both tolerances
    pa.settle(net, x0[:8], y[:8], backend="equilibrium", gtol=GTOL_A)  # warm-up
    fast_runs = {}
    for gtol in (GTOL_A, GTOL_B):
        t, res = _timed(lambda g=gtol: fast(g), cfg["repeats"])
        fast_runs[gtol] = dict(
            s=t,
            per_sample_s=t / BATCH,
            x=res.x,
            stats=dict(res.stats),
            success=bool(res.success),
            grad_max=float(res.grad_max.max()),
        )
        print(f"  equilibrium gtol {gtol:g}: {t:.3f} s for {BATCH} samples {res.stats}", flush=True)
    xs, clamp = pa.io_state(net, x0, y)
    t_solve, _ = _timed(lambda: pa.solve_equilibrium(net, xs, clamp, gtol=GTOL_B), cfg["repeats"])
    out.update(fast=fast_runs, solve_b_s=t_solve)
    fa = fast_runs[GTOL_A]

    # ---- the dense block-Newton path (structured=False) on the same batch
    dense = {}
    for gtol in (GTOL_A, GTOL_B):
        t, res = _timed(
            lambda g=gtol: pa.settle(net, x0, y, backend="equilibrium", gtol=g, structured=False),
            min(cfg["repeats"], 3),
        )
        dense[gtol] = dict(
            s=t,
            stats=dict(res.stats),
            x=res.x,
            rel_diff=_rel_diff(fast_runs[gtol]["x"], res.x),
        )
        print(f"  dense path gtol {gtol:g}: {t:.3f} s {res.stats}", flush=True)
    out["dense"] = dense

    # ---- ngspice .op on the first n samples
    n = cfg["spice_samples"]
    circ = compile_network(net, x0[:n], y[:n])
    t_gen, texts = _timed(
        lambda: [write_netlist(circ, sample=b, analysis="op") for b in range(n)], 1
    )
    out.update(spice_samples=n, gen_per_sample_s=t_gen / n, deck_lines=texts[0].count("\n"))

    def head(x):
        return tuple(v[:n] for v in x)

    modes = {}
    workers = os.cpu_count() or 1
    ok, why = shared_available()
    if not ok:
        out["shared_unavailable"] = why
    for mode in ("shared", "subprocess") if ok else ("subprocess",):
        t0 = time.perf_counter()
        runs = run_netlists(texts, mode=mode, max_workers=workers)
        wall = time.perf_counter() - t0
        state = _spice_state(circ, runs)
        modes[mode] = dict(
            wall_s=wall,
            per_sample_s=wall / n,
            median_run_s=float(np.median([r.seconds for r in runs])),
            workers=min(workers, n) if mode == "subprocess" else 1,
            rel_diff={g: _rel_diff(head(r["x"]), state) for g, r in fast_runs.items()},
            dense_rel_diff={g: _rel_diff(head(r["x"]), state) for g, r in dense.items()},
        )
        print(f"  ngspice {mode}: {wall:.2f} s for {n} samples", flush=True)
    out["spice"] = modes
    best = min(modes, key=lambda k: modes[k]["per_sample_s"])
    out["spice_best_mode"] = best
    out["spice_per_sample_s"] = modes[best]["per_sample_s"]
    out["ratio_a"] = out["spice_per_sample_s"] / fa["per_sample_s"]
    out["agree_a"] = max(m["rel_diff"][GTOL_A] for m in modes.values())
    out["pass_ratio_a"] = out["ratio_a"] >= GOAL_SPICE_RATIO
    out["pass_agree"] = out["agree_a"] <= AGREE_RTOL
    out["pass_a"] = out["pass_ratio_a"] and out["pass_agree"]
    out["dense_ratio_a"] = out["spice_per_sample_s"] / (dense[GTOL_A]["s"] / BATCH)
    out["dense_agree_a"] = max(m["dense_rel_diff"][GTOL_A] for m in modes.values())

    # ---- (b) backprop on the same batch, timed in alternation with the equilibrium so
    # that the load of other processes falls on both alike; wall and CPU time
    pa.backprop(net, x0, y)
    walls = dict(eq=[], bp_one=[], bp_def=[])
    cpus = dict(eq=[], bp_one=[])
    for _ in range(cfg["bp_rounds"]):
        c0, t0 = time.process_time(), time.perf_counter()
        fast(GTOL_B)
        walls["eq"].append(time.perf_counter() - t0)
        cpus["eq"].append(time.process_time() - c0)
        with _blas_one_thread():
            for _ in range(3):
                c0, t0 = time.process_time(), time.perf_counter()
                pa.backprop(net, x0, y)
                walls["bp_one"].append(time.perf_counter() - t0)
                cpus["bp_one"].append(time.process_time() - c0)
    # Backprop with the default BLAS threads, timed after the rounds: on this machine a
    # threaded OpenBLAS call leaves the next single-threaded solve ~1.7x slower (measured),
    # so it must not sit between the alternating timings.
    for _ in range(3 * cfg["bp_rounds"]):
        t0 = time.perf_counter()
        pa.backprop(net, x0, y)
        walls["bp_def"].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in walls.items()}
    out.update(
        bp_default_s=med["bp_def"],
        bp_one_thread_s=med["bp_one"],
        bp_s=min(med["bp_def"], med["bp_one"]),
        eq_b_s=med["eq"],
        eq_b_cpu_s=float(np.median(cpus["eq"])),
        bp_cpu_s=float(np.median(cpus["bp_one"])),
    )
    out["ratio_b"] = out["eq_b_s"] / out["bp_s"]
    out["ratio_b_cpu"] = out["eq_b_cpu_s"] / out["bp_cpu_s"]
    out["ratio_b_solver"] = t_solve / out["bp_s"]
    out["pass_b"] = out["ratio_b"] <= GOAL_BP_RATIO
    out["dense_ratio_b"] = dense[GTOL_B]["s"] / out["bp_s"]
    print(
        f"  backprop: {out['bp_s'] * 1e3:.2f} ms, equilibrium {out['eq_b_s'] * 1e3:.1f} ms "
        f"(alternating): {out['ratio_b']:.1f}x; CPU time {out['ratio_b_cpu']:.1f}x",
        flush=True,
    )
    return out


def profile_fast_path() -> tuple[list[tuple], float, dict]:
    """cProfile of ``solve_equilibrium`` on the (a) batch, and its kernels' costs."""
    net = pa.Network.random(SIZES, "tanh", seed=SEED)
    x0, y = _batch(BATCH)
    xs, clamp = pa.io_state(net, x0, y)
    pr = cProfile.Profile()
    t0 = time.perf_counter()
    pr.enable()
    pa.solve_equilibrium(net, xs, clamp, gtol=GTOL_B)
    pr.disable()
    total = time.perf_counter() - t0
    st = pstats.Stats(pr)
    rows = []
    for (path, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        short = path
        for marker in ("site-packages/", "/work/main/", str(Path(pa.__file__).parents[1]) + "/"):
            if marker in short:
                short = short.split(marker, 1)[1]
        name = f"{short}:{line}({func})" if line else func
        rows.append((name, nc, tt, ct))
    rows.sort(key=lambda r: -r[2])

    # Kernels of the structured path at the start state (two free 128-unit layers, a
    # clamped top of k = 10), each timed alone; the counts per solve come from its stats.
    from pc_analog.solvers._gauss_newton import _Segment

    res = pa.solve_equilibrium(net, xs, clamp, gtol=GTOL_B)
    k, n = SIZES[-1], SIZES[1]
    kernels = []  # (what, calls per solve, seconds per call)
    with _blas_one_thread():
        state = [np.array(v) for v in xs]
        seg = _Segment(net, state, 1, len(SIZES) - 2)
        t, pt = _timed(lambda: seg.point_from_x(state), 5)
        kernels.append(("forward quantities at the start (`_Segment.point_from_x`)", 1, t))
        t, (g, q, _gm) = _timed(lambda: seg.gradient(pt), 5)
        kernels.append(
            ("gradient in eps and the stop test max |dF/dx| (`_Segment.gradient`)", res.njev, t)
        )
        t, fac = _timed(lambda: seg.factors(pt, q), 5)
        kernels.append(
            ("factors: G, D, S = G D^-1/2, M and M^-1 (`_Segment.factors`)", res.nfact, t)
        )
        t, p = _timed(lambda: seg.step(g, fac), 5)
        kernels.append(("Woodbury step (`_Segment.step`)", res.nit, t))
        t, _ = _timed(lambda: seg.point([e + v for e, v in zip(pt.eps, p)]), 5)
        kernels.append(
            ("forward pass and energy at a trial point (`_Segment.point`)", res.nfev - 1, t)
        )
        # pieces of the above, for scale
        t, _ = _timed(lambda: pt.df[-1] @ seg.K, 5)
        kernels.append(
            (
                f"  of which: G_1 as one GEMM ({BATCH}x{n}) @ ({n}x{k * n}) (`phi_2' @ K`)",
                -res.nfact,
                t,
            )
        )
        M = np.eye(k) + np.zeros((BATCH, k, k))
        t, _ = _timed(lambda: np.linalg.inv(M), 5)
        kernels.append((f"  of which: `np.linalg.inv` of {BATCH} x ({k}x{k})", -res.nfact, t))
        t, _ = _timed(lambda: np.tanh(pt.x[0]), 5)
        kernels.append(
            (f"  of which: one `np.tanh` on ({BATCH}, {n})", -(len(SIZES) - 2) * res.nfev, t)
        )
    stats = dict(nit=res.nit, nfev=res.nfev, njev=res.njev, nfact=res.nfact)
    return rows, total, (kernels, stats)


def flops_per_sample(sizes) -> tuple[float, float, float, float]:
    """Flops per sample (input and output clamped): one dense block-Newton iteration,
    one backprop pass, and for the structured path one iteration (trial forward pass,
    gradient with the stop test, Woodbury step) and one rebuild of its factors."""
    hidden = sizes[1:-1]
    newton = 0.0
    for k, n in enumerate(hidden):
        nxt = sizes[k + 2]
        newton += 2.0 * nxt * n * n  # J^T P J
        newton += n**3 / 3.0  # Cholesky
        if k > 0:
            prev = hidden[k - 1]
            newton += 2.0 * prev * prev * (n + 1) + 2.0 * n * n * prev  # Schur complement
    W = _weights(sizes)
    bp = 6.0 * W  # forward, backward, weight gradients
    nL = sizes[-1]
    w_seg = W - sizes[0] * sizes[1]  # W_1 acts on the clamped input: mu_1 is computed once
    w_inner = _weights(sizes[1:-1])
    gn_iter = 2.0 * w_seg + 2.0 * w_seg + 2.0 * w_inner + 4.0 * nL * sum(hidden)
    gn_fact = 2.0 * nL * w_inner + 2.0 * nL * nL * sum(hidden) + nL**3
    return newton, bp, gn_iter, gn_fact


def measure_c(cfg) -> dict:
    rows = []
    for h in cfg["scaling_widths"]:
        r = _run_worker(h, SCALING_BATCH, cfg["repeats"] if h < 512 else min(cfg["repeats"], 3))
        rows.append(r)
        print(
            f"  eq h={h}: {r['eq_s']:.4f} s ({r['nit']} its, {r['method']}), rss "
            f"{r['rss_peak_mib']:.0f} MiB, dense path {r.get('dense_s', float('nan')):.3f} s",
            flush=True,
        )
    p_eq = fit_power_law([r["weights"] for r in rows], [r["eq_s"] for r in rows])[0]
    # The slope between the two largest sizes: a local exponent, not a fit (explicitly
    # below fit_power_law's default 3 points).
    p_eq_top = fit_power_law(
        [r["weights"] for r in rows[-2:]], [r["eq_s"] for r in rows[-2:]], min_points=2
    )[0]
    dense_rows = [r for r in rows if "dense_s" in r]
    p_dense = (
        fit_power_law([r["weights"] for r in dense_rows], [r["dense_s"] for r in dense_rows])[0]
        if len(dense_rows) >= 2
        else float("nan")
    )
    p_mem = fit_power_law(
        [r["weights"] for r in rows], [max(r["traced_peak_mib"], 1e-3) for r in rows]
    )[0]

    x0, y = _batch(1)
    spice = []
    for h in cfg["spice_widths"]:
        sizes = (SIZES[0], h, h, SIZES[-1])
        net = pa.Network.random(sizes, "tanh", seed=SEED)
        circ = compile_network(net, x0, y)
        t_gen, text = _timed(lambda c=circ: write_netlist(c, analysis="op"), 3)
        times = [_timed(lambda t=text: run_netlist(t, mode="subprocess"), 1)[0]]
        if times[0] <= SPICE_SLOW_S and cfg["repeats"] > 1:
            times += [_timed(lambda t=text: run_netlist(t, mode="subprocess"), 1)[0] for _ in "ab"]
        spice.append(
            dict(
                width=h,
                weights=_weights(sizes),
                elements=int(sum(circ.n_elements().values())),
                lines=text.count("\n"),
                gen_s=t_gen,
                op_s=float(np.median(times)),
                op_runs=len(times),
            )
        )
        print(f"  ngspice h={h}: {spice[-1]}", flush=True)
    e = [r["elements"] for r in spice]
    p_gen = fit_power_law(e, [r["gen_s"] for r in spice])[0]
    p_op = fit_power_law(e, [r["op_s"] for r in spice])[0]
    return dict(
        rows=rows,
        p_eq=p_eq,
        p_eq_top=p_eq_top,
        p_dense=p_dense,
        p_mem=p_mem,
        pass_c=p_eq <= GOAL_EXPONENT,
        spice=spice,
        p_gen=p_gen,
        p_op=p_op,
    )


# =========================================================================== report


def _fmt_s(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def report(a, c, prof, cfg, load) -> str:
    rows, prof_total, (kernels, kstats) = prof
    sizes_s = "-".join(map(str, SIZES))
    n = a["spice_samples"]
    sp = a["spice"]
    fa, fb = a["fast"][GTOL_A], a["fast"][GTOL_B]
    da, db = a["dense"][GTOL_A], a["dense"][GTOL_B]
    busy = load[0][1] or load[1][1]
    lines = [
        machine_line(),
        "",
        f"Load average (1 min) at start / end of the run: {load[0][0]:.2f} / {load[1][0]:.2f} "
        f"on {os.cpu_count()} cores"
        + (
            "; `benchmarks/train_targets.py` was running at the same time, so absolute "
            "times are inflated (ratios less so: every engine shared the cores alike)."
            if busy
            else "; no other benchmark was running."
        ),
        "Command: `.venv/bin/python benchmarks/speed.py`. Medians of "
        f"{cfg['repeats']} repeat{'s' if cfg['repeats'] > 1 else ''} ((b): "
        f"{cfg['bp_rounds']} alternating rounds). Tolerances are on "
        f"max |dF/dx| over free units: (a) uses the library default gtol = {GTOL_A:g}, "
        f"since gtol = {GTOL_B:g} does not guarantee the {AGREE_RTOL:g} agreement (both "
        f"are shown); (b) and (c) use gtol = {GTOL_B:g}. pcx (JAX) needs its own "
        "environment and is compared in the section *Against pcx* (`make bench-pcx`).",
        "",
        "| goal | target | measured | verdict |",
        "|---|---:|---:|:---:|",
        f"| (a) equilibrium vs ngspice `.op`, time per sample | >= {GOAL_SPICE_RATIO:.0f}x "
        f"faster | {a['ratio_a']:.0f}x | {_verdict(a['pass_ratio_a'])} |",
        f"| (a) same rest point, max abs diff / max abs x | <= {AGREE_RTOL:g} "
        f"| {a['agree_a']:.1e} | {_verdict(a['pass_agree'])} |",
        f"| (b) equilibrium (gtol {GTOL_B:g}) vs one backprop pass | <= {GOAL_BP_RATIO:.0f}x "
        f"| {a['ratio_b']:.1f}x | {_verdict(a['pass_b'])} |",
        f"| (c) equilibrium time ~ weights^p | p <= {GOAL_EXPONENT} | p = {c['p_eq']:.2f} "
        f"| {_verdict(c['pass_c'])} |",
        "",
        f"### (a) Equilibrium backend vs ngspice, {sizes_s} tanh, digits",
        "",
        f"Network `Network.random({list(SIZES)}, 'tanh', seed={SEED})` ({a['weights']} "
        f"weights); the first {BATCH} digits training samples, input and one-hot label "
        f"clamped. The equilibrium backend settles all {BATCH}; ngspice runs the first {n} "
        f"(one deck per sample, {a['deck_lines']} lines each; all {BATCH} would take "
        f"~{BATCH * a['spice_per_sample_s'] / 60:.0f} min), and its time per sample is the "
        "wall time of those runs divided by their number. Deck generation is not counted "
        "in ngspice's time. The last column compares each result with the ngspice operating "
        "point on the same samples (max over both ngspice modes). `settle` takes the "
        "library's structured path here (Gauss-Newton in error coordinates, "
        "`pc_analog/solvers/_gauss_newton.py`); the dense block-Newton path (`structured=False`) "
        "is shown for comparison.",
        "",
        "| engine | wall | per sample | ngspice per sample / this | vs ngspice `.op` |",
        "|---|---:|---:|---:|---:|",
    ]
    for gtol, r in ((GTOL_A, fa), (GTOL_B, fb)):
        diff = max(m["rel_diff"][gtol] for m in sp.values())
        lines.append(
            f"| `settle(..., backend='equilibrium', gtol={gtol:g})`, {BATCH} samples "
            f"| {_fmt_s(r['s'])} | {_fmt_s(r['per_sample_s'])} "
            f"| **{a['spice_per_sample_s'] / r['per_sample_s']:.0f}x** | {diff:.1e} |"
        )
    for gtol, r in ((GTOL_A, da), (GTOL_B, db)):
        diff = max(m["dense_rel_diff"][gtol] for m in sp.values())
        lines.append(
            f"| dense path (`structured=False`), gtol {gtol:g}, {BATCH} samples "
            f"| {_fmt_s(r['s'])} | {_fmt_s(r['s'] / BATCH)} "
            f"| {a['spice_per_sample_s'] / (r['s'] / BATCH):.0f}x | {diff:.1e} |"
        )
    for mode, m in sp.items():
        if mode == "shared":
            name = "ngspice `.op`, shared library, in process"
        else:
            name = f"ngspice `.op`, `ngspice -b` subprocesses, {m['workers']} in parallel"
        lines.append(
            f"| {name}, {n} samples | {_fmt_s(m['wall_s'])} | {_fmt_s(m['per_sample_s'])} "
            f"| {a['spice_per_sample_s'] / m['per_sample_s']:.2f}x | |"
        )
    lines.append(
        f"| netlist generation (`write_netlist`, `.op`), for scale | "
        f"| {_fmt_s(a['gen_per_sample_s'])} | | |"
    )
    if "shared_unavailable" in a:
        lines += ["", f"Shared mode unavailable: {a['shared_unavailable']}."]
    lines += [
        "",
        f"Equilibrium counters at gtol {GTOL_A:g}: {counters_text(fa['stats'])}, max |dF/dx| "
        f"{fa['grad_max']:.1e}; at gtol {GTOL_B:g}: {counters_text(fb['stats'])}. Ratio against "
        "the fastest "
        f"ngspice path ({a['spice_best_mode']}) at gtol {GTOL_A:g}: **{a['ratio_a']:.0f}x** "
        f"(goal >= {GOAL_SPICE_RATIO:.0f}x: **{_verdict(a['pass_ratio_a'])}**); agreement "
        f"{a['agree_a']:.1e} (goal <= {AGREE_RTOL:g}: **{_verdict(a['pass_agree'])}**).",
        "",
        "### (b) Equilibrium vs one backprop pass, same network and batch",
        "",
        "| computation | time | ratio to backprop |",
        "|---|---:|---:|",
        f"| `pa.backprop` (forward + backward), default BLAS threads | "
        f"{_fmt_s(a['bp_default_s'])} | |",
        f"| `pa.backprop`, one BLAS thread | {_fmt_s(a['bp_one_thread_s'])} | |",
        f"| `settle(..., backend='equilibrium', gtol={GTOL_B:g})` | {_fmt_s(a['eq_b_s'])} "
        f"| **{a['ratio_b']:.1f}x** |",
        f"| `solve_equilibrium` alone (no compile), gtol {GTOL_B:g} | {_fmt_s(a['solve_b_s'])} "
        f"| {a['ratio_b_solver']:.0f}x |",
        f"| dense block-Newton path (`structured=False`), gtol {GTOL_B:g} | {_fmt_s(db['s'])} "
        f"| {a['dense_ratio_b']:.0f}x |",
        "",
        f"Counters of the structured path at gtol {GTOL_B:g}: {counters_text(fb['stats'])} "
        "(iterations, "
        "forward passes with energy, gradient passes, factorisations of the rank-"
        f"{SIZES[-1]} Woodbury matrices); the two paths rest within "
        f"{db['rel_diff']:.1e} of each other (relative).",
        "",
        f"Timed in {cfg['bp_rounds']} alternating rounds (one `settle`, then three backprop "
        "passes with one BLAS thread; medians), so that the load of other processes falls "
        "on both alike; backprop with the default threads is timed after the rounds (a "
        "threaded OpenBLAS call slows the next single-threaded solve here), and the "
        "`solve_equilibrium` and dense rows are medians of separate runs. Against the "
        "faster backprop time: "
        f"**{a['ratio_b']:.1f}x** (goal <= {GOAL_BP_RATIO:.0f}x: "
        f"**{_verdict(a['pass_b'])}**). In CPU time (`time.process_time`, which leaves out "
        "the time spent waiting for a core) the same rounds give "
        f"{_fmt_s(a['eq_b_cpu_s'])} against {_fmt_s(a['bp_cpu_s'])} for one-thread "
        f"backprop: {a['ratio_b_cpu']:.1f}x.",
        "",
        f"### (c) Scaling with the number of weights (64-h-h-10 tanh, batch {SCALING_BATCH}, "
        f"gtol {GTOL_B:g})",
        "",
        "Each size in its own process: peak RSS (`VmHWM`, whole process, after the timed "
        "runs) next to the RSS before the first solve, and tracemalloc's peak during one "
        "solve (numpy buffers included).",
        "",
        "| h | weights | equilibrium | its (factorisations) | peak RSS (base) | traced peak "
        f"| dense path (h <= {DENSE_MAX_WIDTH}) | dense its |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    big = c["rows"][-1]
    g_mib = SCALING_BATCH * SIZES[-1] * 2 * big["width"] * 8 / 2**20
    k_mib = SIZES[-1] * big["width"] ** 2 * 8 / 2**20
    for r in c["rows"]:
        dense_s = _fmt_s(r["dense_s"]) if "dense_s" in r else "-"
        lines.append(
            f"| {r['width']} | {r['weights']} | {_fmt_s(r['eq_s'])} | {r['nit']} ({r['nfact']}) "
            f"| {r['rss_peak_mib']:.0f} MiB ({r['rss_base_mib']:.0f}) "
            f"| {r['traced_peak_mib']:.1f} MiB | {dense_s} | {r.get('dense_nit', '-')} |"
        )
    dense_diff = max((r["dense_rel_diff"] for r in c["rows"] if "dense_rel_diff" in r), default=0)
    lines += [
        "",
        f"Fitted exponent of time against weights: equilibrium **p = {c['p_eq']:.2f}** (goal "
        f"<= {GOAL_EXPONENT}: **{_verdict(c['pass_c'])}**), and p = {c['p_eq_top']:.2f} "
        "between the two largest sizes (fixed per-call costs flatten the small sizes; the "
        "structured path's work per iteration is O(k * weights), k = "
        f"{SIZES[-1]}); its traced memory p = {c['p_mem']:.2f}. The dense path's time "
        f"p = {c['p_dense']:.2f} over h <= {DENSE_MAX_WIDTH} (O(n^3) per sample against n^2 "
        f"weights: it tends to 1.5); both paths rest within {dense_diff:.1e} of each other. "
        f"Memory: at h = {big['width']} the traced peak is {big['traced_peak_mib']:.0f} MiB; "
        "the structured path's largest arrays are `G` (the Jacobian of the clamped top in "
        f"the errors, ({SCALING_BATCH}, {SIZES[-1]}, {2 * big['width']}) float64, "
        f"{g_mib:.0f} MiB) and `K` (k copies of W_2, {k_mib:.0f} MiB, independent of the "
        "batch), i.e. O(batch k n + k n^2) memory instead of the dense path's "
        "O(batch n^2) (its Hessian blocks, Schur complements and factors).",
        "",
        "ngspice on one sample of the same family, `.op` as an `ngspice -b` subprocess "
        f"(median of 3 runs; one run where a run takes over {SPICE_SLOW_S:g} s); elements "
        "are `Circuit.n_elements()` summed (capacitors, sources, springs, crossbar cells):",
        "",
        "| h | weights | elements | netlist lines | netlist generation | ngspice `.op` |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in c["spice"]:
        runs = f"{r['op_runs']} run{'s' if r['op_runs'] > 1 else ''}"
        lines.append(
            f"| {r['width']} | {r['weights']} | {r['elements']} | {r['lines']} "
            f"| {_fmt_s(r['gen_s'])} | {_fmt_s(r['op_s'])} ({runs}) |"
        )
    lines += [
        "",
        f"Fitted exponents against elements: netlist generation p = {c['p_gen']:.2f}, ngspice "
        f"`.op` p = {c['p_op']:.2f}.",
    ]

    # ---- where the time goes, and what would close the gaps
    missed = not (a["pass_a"] and a["pass_b"] and c["pass_c"])
    newton, bp, gn_iter, gn_fact = flops_per_sample(SIZES)
    st = fb["stats"]
    gn_total = st["nit"] * gn_iter + st["nfact"] * gn_fact + gn_iter  # + the start's passes
    accounted = sum(calls * t for _, calls, t in kernels if calls > 0)
    lines += [
        "",
        "### Where the time goes (" + ("goals missed" if missed else "all goals met") + ")",
        "",
        f"cProfile of `solve_equilibrium` (gtol {GTOL_B:g}) on the (a) batch "
        f"({_fmt_s(prof_total)} under the profiler), top {PROFILE_TOP} functions by own time:",
        "",
        "| function | calls | own time | cumulative |",
        "|---|---:|---:|---:|",
    ]
    for name, nc, tt, ct in rows[:PROFILE_TOP]:
        lines.append(f"| `{name}` | {nc} | {_fmt_s(tt)} | {_fmt_s(ct)} |")
    lines += [
        "",
        "The kernels of the structured path, timed one by one on this batch (one BLAS "
        "thread, median of 5), with their counts in one solve at gtol "
        f"{GTOL_B:g} ({counters_text(kstats)}); indented rows are parts of the rows above:",
        "",
        "| kernel | per call | calls per solve | per solve |",
        "|---|---:|---:|---:|",
    ]
    for what, calls, t in kernels:
        lines.append(f"| {what} | {_fmt_s(t)} | {abs(calls)} | {_fmt_s(abs(calls) * t)} |")
    lines += [
        f"| **sum** (top-level rows) | | | **{_fmt_s(accounted)}** |",
        f"| measured: `solve_equilibrium` (median) | | | {_fmt_s(a['solve_b_s'])} |",
        f"| one backprop pass, for scale | | | {_fmt_s(a['bp_s'])} |",
        "",
        "Flops per sample: one structured iteration (trial forward pass, gradient and stop "
        f"test, Woodbury step) {gn_iter / 1e3:.0f} kFLOP, one rebuild of the factors "
        f"(G, the flops of {SIZES[-1]} backward passes, then M) {gn_fact / 1e3:.0f} kFLOP, one "
        f"backprop pass {bp / 1e3:.0f} kFLOP, one dense block-Newton iteration "
        f"{newton / 1e3:.0f} kFLOP. The solve at gtol {GTOL_B:g} is ~{gn_total / bp:.1f} "
        f"backprop passes by flops; measured it is {a['ratio_b_solver']:.1f}x. Beyond the "
        "flops: `np.tanh` (a scalar libm call per element, its row in the table) runs once "
        "per free layer in every forward pass, and the small batched products "
        "(`(B,k,n)@(B,n,1)`, the batched 10x10 inverse) run far below the GEMM flop rate; "
        "backprop pays `np.tanh` too (forward pass and derivative).",
    ]
    if missed:
        lines += ["", "What would close the gaps:", ""]
        if not a["pass_a"]:
            lines.append(
                f"- (a) needs {GOAL_SPICE_RATIO / a['ratio_a']:.1f}x more: fewer iterations at "
                f"gtol {GTOL_A:g} (the linear rate is set by the cross-layer `phi''` "
                "curvature that Gauss-Newton drops; Newton-Krylov steps with the Woodbury "
                "solve as preconditioner would recover it) and a cheaper `tanh`."
            )
        if not a["pass_b"]:
            lines.append(
                f"- (b) needs {a['ratio_b'] / GOAL_BP_RATIO:.1f}x: the factor build (the G "
                "GEMM) and the per-iteration forward passes dominate; float32 factors "
                "(they only precondition: the float64 gradient sets the accuracy) would "
                "halve the first, and skipping the exact stop test while the eps-gradient "
                "is far above gtol would trim a product per layer per iteration."
            )
        if not c["pass_c"]:
            lines.append(
                f"- (c) p = {c['p_eq']:.2f}: the structured path's flops are linear in the "
                "weights; the excess is the larger batched products falling out of cache "
                "at the widest sizes (see the per-size times)."
            )
    return "\n".join(lines)


def summary(a, c) -> str:
    fa = a["fast"][GTOL_A]
    return "\n".join(
        [
            "=" * 78,
            f"(a) equilibrium {_fmt_s(fa['per_sample_s'])}/sample vs ngspice .op "
            f"{_fmt_s(a['spice_per_sample_s'])}/sample ({a['spice_best_mode']}, "
            f"{a['spice_samples']} samples): {a['ratio_a']:.0f}x  goal >= "
            f"{GOAL_SPICE_RATIO:.0f}x  {_verdict(a['pass_ratio_a'])}",
            f"    agreement {a['agree_a']:.1e}  goal <= {AGREE_RTOL:g}  "
            f"{_verdict(a['pass_agree'])}",
            f"(b) equilibrium {_fmt_s(a['eq_b_s'])} vs backprop {_fmt_s(a['bp_s'])}: "
            f"{a['ratio_b']:.1f}x (CPU time {a['ratio_b_cpu']:.1f}x)  goal <= "
            f"{GOAL_BP_RATIO:.0f}x  {_verdict(a['pass_b'])}",
            f"(c) exponent {c['p_eq']:.2f}  goal <= {GOAL_EXPONENT}  {_verdict(c['pass_c'])}"
            f"   (ngspice .op vs elements {c['p_op']:.2f})",
            f"dense path (structured=False): vs ngspice {a['dense_ratio_a']:.0f}x (agreement "
            f"{a['dense_agree_a']:.1e}), vs backprop {a['dense_ratio_b']:.0f}x, exponent "
            f"{c['p_dense']:.2f} (h <= {DENSE_MAX_WIDTH})",
            "=" * 78,
        ]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small subset, < 2 min, no write")
    ap.add_argument(
        "--no-write",
        action="store_true",
        help="print only: no results file, BENCHMARKS.md unchanged",
    )
    ap.add_argument("--show", action="store_true", help="print the section text (also --quick)")
    ap.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return 0
    cfg = dict(
        spice_samples=SPICE_SAMPLES,
        scaling_widths=SCALING_WIDTHS,
        spice_widths=SPICE_WIDTHS,
        repeats=REPEATS,
        bp_rounds=BP_ROUNDS,
    )
    if args.quick:
        cfg.update(QUICK)
    t0 = time.perf_counter()
    load0 = _load()
    print("(a, b) equilibrium, ngspice, backprop", flush=True)
    a = measure_a_b(cfg)
    print("(c) scaling", flush=True)
    c = measure_c(cfg)
    print("profile", flush=True)
    prof = profile_fast_path()
    load1 = _load()
    text = report(a, c, prof, cfg, (load0, load1))
    if args.show or not args.quick:
        print(text)
    print(summary(a, c))
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.quick and not args.no_write:
        raw = dict(a=a, c=c, profile=prof, cfg=cfg, load=(load0, load1))
        path = write_results("speed", SECTION, text, script="benchmarks/speed.py", raw=raw)
        print(f"wrote {path} and re-rendered BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
