"""Speed of the non-ideal crossbar-level circuit: equilibrium against ngspice .op (issue 11).

A tanh network 64-128-128-10 (input and target clamped, batch 256) programmed into
bounded devices with stuck cells, at the crossbar level with every non-ideality pc-analog
handles there on at once: wire segments, finite amplifier gain, offsets, rails, an 8-bit
DAC.  Measured side by side in one run: the ``equilibrium`` backend on the whole batch
(once from a fresh circuit, so the crossbar reduction is included, and once on a new batch
of the same circuit, reusing it), and ngspice ``.op`` on the same crossbar-level netlist
for a few samples (subprocess, per-sample wall time), with the peak memory of each; the
settled states of those samples are compared.  Results go to
``benchmarks/results/nonideal_speed.json``.

Run:  .venv/bin/python benchmarks/nonideal_speed.py [--quick] [--samples N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_line, write_results  # noqa: E402

import pc_analog as pa  # noqa: E402
from pc_analog.costs.specs import AnalogSpec  # noqa: E402
from pc_analog.hardware.device_config import DeviceConfig  # noqa: E402
from pc_analog.hardware.hebbian import HardwareNetwork  # noqa: E402
from pc_analog.solvers.equilibrium import EquilibriumBackend  # noqa: E402
from pc_analog.spice.backend import NgspiceBackend  # noqa: E402

SPEC = dict(amp_gain=1e4, amp_offset_V=1e-3, amp_rail_V=1.5, wire_r_ohm=2.0, dac_bits=8,
            mismatch_seed=1)  # fmt: skip
DEVICE = dict(g_min_S=1e-6, g_max_S=2e-5, stuck_fraction=0.02, stuck_high_fraction=0.5)


def _circuit(sizes, batch, seed=0):
    net = pa.Network.random(list(sizes), "tanh", seed=seed)
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, (batch, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    hw = HardwareNetwork.fabricate(net, DeviceConfig("stuck", **DEVICE), rng=seed)
    return AnalogSpec(**SPEC).apply(hw.circuit(x0, y), level="crossbar")


def _eq(circ):
    """Result, wall time, CPU time and peak traced memory of one equilibrium settle
    (tracemalloc runs on a separate, untimed repeat: it slows allocation-heavy code)."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = EquilibriumBackend().settle(circ, on_failure="raise")
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return res, dt, dc


def _peak(circ) -> int:
    tracemalloc.start()
    EquilibriumBackend().settle(circ, on_failure="raise")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _ngspice_rss(circ) -> int | None:
    """Peak resident memory (bytes) of plain ``ngspice -b`` on ``circ``'s first sample, by
    GNU time (the children's ``ru_maxrss`` would count the forked Python process)."""
    import shutil
    import subprocess
    import tempfile

    from pc_analog.spice.netlist import write_netlist

    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        deck = Path(d) / "deck.cir"
        deck.write_text(write_netlist(circ, level="crossbar", analysis="op"))
        p = subprocess.run([gnu_time, "-f", "%M", "ngspice", "-b", str(deck)],
                           capture_output=True, text=True, cwd=d)  # fmt: skip
    try:
        return int(p.stderr.strip().splitlines()[-1]) * 1024
    except (ValueError, IndexError):
        return None


def _spice(sizes, k, measure_rss=False):
    """ngspice .op on ``k`` samples of the ``sizes`` circuit: per-sample wall and CPU time
    (the ngspice process included), peak RSS, and the equilibrium per-sample CPU time on
    a batch of 16 of the same circuit with the relative gap between the two."""
    circ = _circuit(sizes, 16)
    _, _, c_eq = _eq(circ)
    sub = circ.with_stimulus(circ.x_init[0][:k].copy(), circ.x_init[-1][:k].copy())
    eq = EquilibriumBackend().settle(sub, on_failure="raise")
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.perf_counter(), time.process_time()
    op = NgspiceBackend(level="crossbar", analysis="op", mode="subprocess").settle(
        sub, on_failure="raise"
    )
    wall = (time.perf_counter() - t0) / k
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (time.process_time() - c0 + ch1.ru_utime + ch1.ru_stime - ch0.ru_utime
           - ch0.ru_stime) / k  # fmt: skip
    rss = _ngspice_rss(sub) if measure_rss else None
    gap = max(float(np.abs(a - b).max()) for a, b in zip(op.x, eq.x))
    scale = max(float(np.abs(b).max()) for b in eq.x)
    return dict(
        sizes=list(sizes), segments=sub.inventory("crossbar").counts["wire_segments"],
        ngspice_wall_s=wall, ngspice_cpu_s=cpu, ngspice_rss_bytes=rss,
        eq_cpu_per_sample_s=c_eq / 16, ratio_cpu=cpu / (c_eq / 16), op_vs_eq_rel=gap / scale,
    )  # fmt: skip


def main(argv=None) -> int:
    """Long because it lays out the report; the measurements are :func:`_eq` and
    :func:`_spice`."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only: a CI check")
    ap.add_argument("--samples", type=int, default=1, help="ngspice samples per size")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    sizes, batch = ((16, 32, 32, 10), 16) if args.quick else ((64, 128, 128, 10), 256)
    widths = (4, 6) if args.quick else (6, 8, 10, 12)
    circ = _circuit(sizes, batch)
    eq, t_eq, c_eq = _eq(circ)
    again = circ.with_stimulus(circ.x_init[0][::-1].copy(), circ.x_init[-1][::-1].copy())
    eq2, t_eq2, c_eq2 = _eq(again)
    mem_eq = _peak(_circuit(sizes, batch))  # fresh: the reduction's memory included
    segs = circ.inventory("crossbar").counts["wire_segments"]
    rows = [
        _spice((n, 2 * n, 2 * n, 10), max(1, args.samples), measure_rss=n == widths[1])
        for n in widths
    ]
    # ngspice CPU time against wire segments: a power law through the measured sizes
    slope, icpt = np.polyfit(np.log([r["segments"] for r in rows]),
                             np.log([r["ngspice_cpu_s"] for r in rows]), 1)  # fmt: skip
    sp_full = float(np.exp(icpt) * segs**slope)
    cpu_eq, cpu_eq2 = c_eq / batch, c_eq2 / batch
    raw = dict(
        sizes=list(sizes), batch=batch, spec=SPEC, device=DEVICE, wire_segments=segs,
        eq_s=t_eq, eq_cached_s=t_eq2, eq_cpu_s=c_eq, eq_cached_cpu_s=c_eq2,
        eq_cpu_per_sample_s=cpu_eq, eq_cached_cpu_per_sample_s=cpu_eq2, eq_peak_bytes=mem_eq,
        eq_message=eq.message, eq_cached_message=eq2.message, spice=rows,
        ngspice_fit_exponent=float(slope), ngspice_cpu_extrapolated_s=sp_full,
        speedup_cpu_extrapolated=sp_full / cpu_eq,
        speedup_cpu_measured_largest=rows[-1]["ratio_cpu"],
    )  # fmt: skip
    name = "-".join(map(str, sizes))
    lines = [
        machine_line(),
        "",
        f"Tanh networks, input and target clamped, at the crossbar level with every "
        f"non-ideality on: wires ({SPEC['wire_r_ohm']} ohm per segment), amplifier gain "
        f"{SPEC['amp_gain']:g}, offsets ({SPEC['amp_offset_V']:g} V), rails "
        f"(+-{SPEC['amp_rail_V']} V), an {SPEC['dac_bits']}-bit DAC, "
        f"{DEVICE['stuck_fraction']:.0%} stuck devices. CPU times (this process and its "
        "ngspice children; the shared machine's load inflates wall times). Command: "
        "`.venv/bin/python benchmarks/nonideal_speed.py`.",
        "",
        f"Equilibrium on {name}, batch {batch} ({segs} wire segments per deck):",
        "",
        "| run | wall (s) | CPU (s) | CPU per sample (s) |",
        "|---|---:|---:|---:|",
        f"| fresh circuit (crossbar reduction included) | {t_eq:.2f} | {c_eq:.2f} | {cpu_eq:.4f} |",
        f"| new batch of the same circuit (reduction cached) | {t_eq2:.2f} | {c_eq2:.2f} | "
        f"{cpu_eq2:.4f} |",
        "",
        f"Peak memory of the fresh run: {mem_eq / 1e6:.0f} MB (Python heap, tracemalloc).",
        "",
        "ngspice .op on the same crossbar-level decks, side by side with equilibrium "
        "(batch 16) on each size:",
        "",
        "| sizes | wire segments | ngspice CPU per sample (s) | ngspice wall (s) | ngspice "
        "peak RSS (MB, GNU time) | equilibrium CPU per sample (s) | ratio | ngspice vs "
        "equilibrium |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {'-'.join(map(str, r['sizes']))} | {r['segments']} | {r['ngspice_cpu_s']:.2f} "
            f"| {r['ngspice_wall_s']:.1f} | "
            + ("" if r["ngspice_rss_bytes"] is None else f"{r['ngspice_rss_bytes'] / 1e6:.0f}")
            + " | "
            f"{r['eq_cpu_per_sample_s']:.5f} | {r['ratio_cpu']:.0f}x | "
            f"{r['op_vs_eq_rel']:.1e} |"
        )
    lines += [
        "",
        f"ngspice's CPU time grows as (wire segments)^{slope:.2f} over these sizes (Debian's "
        f"ngspice 39 has no KLU); one sample of {name} ({segs} segments) would take about "
        f"{sp_full:.0f} s, so it is extrapolated, not run: equilibrium's measured "
        f"{cpu_eq:.4f} s per sample (reduction included) is about {sp_full / cpu_eq:.0f}x "
        f"faster ({sp_full / cpu_eq2:.0f}x with the reduction cached). Measured side by "
        f"side at the largest size run: {rows[-1]['ratio_cpu']:.0f}x.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write and not args.quick:
        path = write_results(
            "nonideal_speed",
            "Non-ideal crossbar speed",
            text,
            script="benchmarks/nonideal_speed.py",
            raw=raw,
        )
        print(f"wrote {path} and re-rendered BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
