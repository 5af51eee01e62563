"""Co-design sweeps: config validation, grid order, executors (processes, threads, serial,
Dask LocalCluster) giving identical rows, CSV round trip, command line."""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from _oracles import linear_transient, settling_time_exact
from _tolerances import ODE_SETTLING_RTOL

from pc_analog.circuit.ir import Hardware
from pc_analog.errors import InvalidInputError
from pc_analog.experiments.sweep import (
    PARAMETERS,
    SWEEP_FORMAT,
    SweepConfig,
    load_sweep_config,
    read_sweep_csv,
    run_point,
    run_sweep,
)

# A tiny sweep whose rows use every source of randomness: seeded networks and data,
# device fabrication and write noise (per point), two depths.
TINY = {
    "format": SWEEP_FORMAT,
    "grid": {"write_noise": [0.0, 0.05], "depth": [1, 2]},
    "fixed": {"device": "4bit", "width": 3, "batch": 2},
    "seed": 7,
    "quantities": ["settling", "devices"],
}


# Timing rows (measure_cpu false: deterministic), two depths, RC and inertial.
TIMING = {
    "format": SWEEP_FORMAT,
    "grid": {"depth": [2, 3], "dynamics": ["RC", "inertial"]},
    "fixed": {"width": 3, "device": "4bit-noisy", "throughput_batch": 64},
    "seed": 1,
    "quantities": ["settling", "timing"],
}


def _cfg(**over):
    d = json.loads(json.dumps(TINY))
    d.update(over)
    return d


@pytest.fixture(scope="module")
def serial_rows():
    return run_sweep(TINY, "serial", progress=False).rows


@pytest.fixture(scope="module")
def timing_rows():
    return run_sweep(TIMING, "serial", progress=False).rows


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(format="pc-analog.sweep/0"), "format"),
        (dict(grids={}), "grids: unknown field"),
        (dict(grid={}), "grid: needs"),
        (dict(grid={"depth": 3}), "grid.depth: must be a non-empty list"),
        (dict(grid={"depth": []}), "grid.depth: must be a non-empty list"),
        (dict(grid={"depth": [0, 2]}), "grid.depth: must be an integer >= 1"),
        (dict(grid={"depth": [2, 2]}), "grid.depth: repeated value"),
        (dict(grid={"dept": [2]}), "grid.dept: unknown parameter"),
        (dict(grid={"dynamics": ["RC", "RLC"]}), "grid.dynamics: must be one of"),
        (dict(grid={"device": ["memristor"]}), "grid.device: must be one of"),
        (dict(grid={"c_F": [-1e-12]}), "grid.c_F: must be a positive number"),
        (dict(grid={"band": [1.5]}), r"grid.band: must be in \(0, 1\)"),
        (dict(fixed={"depth": 3}), "fixed.depth: also in grid"),
        (dict(fixed={"width": "8"}), "fixed.width: must be an integer"),
        (dict(fixed={"width": True}), "fixed.width: must be an integer"),
        (dict(seed=-1), "seed: must be an integer >= 0"),
        (dict(seed=1.5), "seed: must be an integer >= 0"),
        (dict(quantities=["settling", "speed"]), "quantities: unknown 'speed'"),
        (dict(quantities="settling"), "quantities: must be a non-empty list"),
        (dict(fixed={"device": "ideal", "bits": 4}), "bits/write_noise need a bounded device"),
    ],
)
def test_bad_config_names_the_field(change, match):
    with pytest.raises(InvalidInputError, match=match):
        load_sweep_config(_cfg(**change))


def test_bad_files(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_sweep_config(tmp_path / "missing.json")
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_sweep_config(p)
    t = tmp_path / "bad.toml"
    t.write_text("grid = [")
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        load_sweep_config(t)


def test_toml_and_json_give_the_same_config(tmp_path):
    j = tmp_path / "s.json"
    j.write_text(json.dumps(TINY))
    t = tmp_path / "s.toml"
    t.write_text(
        f'format = "{SWEEP_FORMAT}"\nseed = 7\nquantities = ["settling", "devices"]\n'
        "[grid]\nwrite_noise = [0.0, 0.05]\ndepth = [1, 2]\n"
        '[fixed]\ndevice = "4bit"\nwidth = 3\nbatch = 2\n'
    )
    a, b = load_sweep_config(j), load_sweep_config(t)
    assert a == b
    assert SweepConfig.from_dict(a.to_dict()) == a


def test_unset_hardware_comes_from_the_analog_spec():
    from pc_analog.costs.specs import ANALOG_PRESETS

    cfg = load_sweep_config(
        {"format": SWEEP_FORMAT, "grid": {"analog": ["default", "low-power", "rram"]}}
    )
    hw = Hardware()
    default, low, rram = cfg.points()
    assert (default["c_F"], default["g0_S"], default["g_unit_S"]) == (hw.c_F, hw.g0_S, hw.g_unit_S)
    assert default["device"] == "ideal"
    assert low["c_F"] == ANALOG_PRESETS["low-power"].c_F != hw.c_F
    assert rram["device"] == "rram"
    # A value given in the config wins over the spec's.
    pts = load_sweep_config(
        {"format": SWEEP_FORMAT, "grid": {"analog": ["rram"]}, "fixed": {"c_F": 2e-12}}
    ).points()
    assert pts[0]["c_F"] == 2e-12 and pts[0]["device"] == "rram"


def test_grid_expansion_order_last_key_fastest():
    cfg = load_sweep_config(
        {
            "format": SWEEP_FORMAT,
            "grid": {"depth": [2, 3], "width": [4, 5, 6]},
            "fixed": {"batch": 2},
        }
    )
    pts = cfg.points()
    assert cfg.n_points == len(pts) == 6
    assert [(p["depth"], p["width"]) for p in pts] == [
        (2, 4),
        (2, 5),
        (2, 6),
        (3, 4),
        (3, 5),
        (3, 6),
    ]
    assert all(p["batch"] == 2 and p["activation"] == PARAMETERS["activation"][0] for p in pts)
    # Key order is the order written, not alphabetical.
    swapped = load_sweep_config(
        {"format": SWEEP_FORMAT, "grid": {"width": [4, 5, 6], "depth": [2, 3]}}
    ).points()
    assert [(p["depth"], p["width"]) for p in swapped[:3]] == [(2, 4), (3, 4), (2, 5)]


# ---------------------------------------------------------------- points


def test_chain_rows_match_the_closed_form_transient():
    """The sweep's settling columns of an identity chain against the exact solution.

    Clamped at 1 (input) and 0 (output), the chain starts at all ones (the feedforward
    state) and relaxes to the straight line ``1 - l/L`` with ``H = tridiag(-1, 2, -1)``:
    ``lambda_min = 4 sin^2(pi / 2L)``, and the SPEC settling time of the exact RC or
    critically damped transient (tests/_oracles.py)."""
    cfg = {
        "format": SWEEP_FORMAT,
        "grid": {"depth": [2, 4], "dynamics": ["RC", "inertial"]},
        "fixed": {"network": "chain", "width": 1, "activation": "linear"},
    }
    rows = run_sweep(cfg, "serial", progress=False).rows
    assert len(rows) == 4
    for r in rows:
        L, inertial = r["depth"], r["dynamics"] == "inertial"
        n = L - 1
        H = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
        x_star = 1 - np.arange(1, L) / L
        dev = linear_transient(H, np.ones(n), x_star, inertial=inertial, damping_ratio=1.0)
        exact = settling_time_exact(dev, 60.0 * L * L, band=r["band"])
        assert r["success"]
        assert r["settling_time_tau"] == pytest.approx(exact, rel=ODE_SETTLING_RTOL)
        tau_s = r["c_F"] / r["g0_S"]
        assert r["settling_time_s"] == pytest.approx(exact * tau_s, rel=ODE_SETTLING_RTOL)
        # the analytic slowest mode of the clamped chain and the one-mode prediction
        lam = 4 * math.sin(math.pi / (2 * L)) ** 2
        assert r["lambda_min"] == pytest.approx(lam, rel=1e-12)
        rate = math.sqrt(lam) if inertial else lam
        assert r["predicted_tau"] == pytest.approx(math.log(1 / r["band"]) / rate, rel=1e-12)


def test_device_error_vanishes_for_ideal_devices_and_shrinks_with_bits():
    base = {"network": "random", "depth": 2, "width": 6, "batch": 3, "activation": "tanh"}
    ideal = run_point({**_defaults(), **base}, (0, 0), ("devices",))
    assert ideal["weight_rel_error"] == 0.0
    assert ideal["state_error_max_V"] == 0.0
    errs = [
        run_point({**_defaults(), **base, "device": "bounded", "bits": b}, (0, 0), ("devices",))
        for b in (2, 4, 8)
    ]
    w = [e["weight_rel_error"] for e in errs]
    s = [e["state_error_rms_V"] for e in errs]
    assert w[0] > w[1] > w[2] > 0
    assert s[0] > s[1] > s[2] > 0
    # 8 bits with the weights on a quarter of the range: a step of 4 max|W| / 255, so the
    # relative rounding error stays below that step over the rms weight.
    assert w[2] < 0.05


def test_points_seed_devices_by_index_and_networks_by_repeat():
    p = {**_defaults(), "device": "4bit-noisy", "depth": 2, "width": 4}
    a = run_point(p, (3, 0), ("devices",))
    b = run_point(p, (3, 1), ("devices",))
    assert a["weight_rel_error"] != b["weight_rel_error"]  # other write-noise draw
    assert run_point(p, (3, 0), ("devices",)) == a  # deterministic
    r0 = run_point({**p, "device": "ideal"}, (3, 0), ("settling",))
    r1 = run_point({**p, "device": "ideal"}, (3, 5), ("settling",))
    r2 = run_point({**p, "device": "ideal", "repeat": 1}, (3, 0), ("settling",))
    assert r0["lambda_min"] == r1["lambda_min"]  # same network at another index
    assert r0["lambda_min"] != r2["lambda_min"]  # another network draw


def _defaults():
    return {k: d for k, (d, _, _) in PARAMETERS.items()}


# ---------------------------------------------------------------- executors


def _strip(rows):
    return [dict(r) for r in rows]


def test_timing_columns(timing_rows):
    """Headline ratios are the report's numbers; the report's settle agrees with the
    settling quantity.  Both run the ode backend, so that agreement is only a consistency
    check between two columns; their oracles are the closed-form transients
    (test_chain_rows_match_the_closed_form_transient here, the exact-solution tests in
    test_timing.py)."""
    for r in timing_rows:
        assert r["n_weights"] == r["depth"] * r["width"] ** 2
        assert r["config.sizes"] == "-".join([str(r["width"])] * (r["depth"] + 1))
        assert r["time_ratio"] == r["analog.settling_time_s"] / r["digital.bp_latency_s"]
        assert r["energy_ratio"] == r["analog.energy_J"] / r["digital.bp_energy_J"]
        assert r["throughput_time_ratio"] == pytest.approx(
            r["digital.bp_throughput_per_s"] * r["analog.settling_time_s"], rel=1e-12
        )
        assert r["analog.dynamics"] == r["dynamics"]
        assert r["analog.settling_time_s"] == pytest.approx(r["settling_time_s"], rel=1e-6)
        assert r["analog.tau_s"] == pytest.approx(r["c_F"] / r["g0_S"])
        assert not any(k.startswith("cpu.") for k in r)  # measure_cpu is off
        assert not any(k.startswith("digital.gpu-a100") for k in r)  # machine name dropped


def test_timing_rows_identical_in_processes(timing_rows):
    procs = run_sweep(TIMING, max_workers=2, progress=False)
    assert _strip(procs.rows) == _strip(timing_rows)


def test_process_pool_threads_and_serial_give_identical_rows(serial_rows):
    assert len(serial_rows) == 4
    assert [r["point"] for r in serial_rows] == [0, 1, 2, 3]
    procs = run_sweep(TINY, max_workers=2, progress=False)
    assert procs.executor == "processes (2 workers)"
    assert _strip(procs.rows) == _strip(serial_rows)
    threads = run_sweep(TINY, "threads", max_workers=2, progress=False)
    assert _strip(threads.rows) == _strip(serial_rows)
    # Write noise made the devices differ from point to point (the test has teeth).
    assert len({r["weight_rel_error"] for r in serial_rows}) == 4


class _ReversedExecutor(cf.Executor):
    """Holds every submission, then completes them last-first."""

    def __init__(self, n):
        self.n, self.pending, self.order = n, [], []

    def submit(self, fn, /, *args, **kwargs):
        f = cf.Future()
        self.pending.append((f, fn, args, kwargs))
        if len(self.pending) == self.n:
            for k in reversed(range(self.n)):
                g, fn_, a, kw = self.pending[k]
                self.order.append(k)
                g.set_result(fn_(*a, **kw))
        return f


def test_rows_come_back_in_point_order_whatever_the_completion_order(serial_rows):
    ex = _ReversedExecutor(4)
    res = run_sweep(TINY, ex, progress=False)
    assert ex.order == [3, 2, 1, 0]
    assert _strip(res.rows) == _strip(serial_rows)
    assert res.executor == "_ReversedExecutor"


def test_dask_local_cluster_gives_identical_rows(serial_rows, timing_rows):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        res = run_sweep(TINY, cluster.scheduler_address, progress=False)
        assert res.executor == f"dask {cluster.scheduler_address}"
        assert _strip(res.rows) == _strip(serial_rows)
        with distributed.Client(cluster) as client:
            res2 = run_sweep(TINY, client.get_executor(), progress=False)
        assert _strip(res2.rows) == _strip(serial_rows)
        res3 = run_sweep(TIMING, cluster.scheduler_address, progress=False)
        assert _strip(res3.rows) == _strip(timing_rows)


def test_import_pc_analog_does_not_import_dask():
    code = (
        "import sys, pc_analog, pc_analog.experiments.sweep, pc_analog.viz.plots\n"
        "bad = [m for m in ('dask', 'distributed', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_executor_and_unreachable_scheduler(monkeypatch):
    import pc_analog.experiments.sweep
    from pc_analog.errors import BackendUnavailableError

    monkeypatch.setattr(pc_analog.experiments.sweep, "_DASK_CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(InvalidInputError, match="executor"):
        run_sweep(TINY, executor=42, progress=False)
    pytest.importorskip("dask.distributed")
    with pytest.raises(BackendUnavailableError, match="dask scheduler"):
        run_sweep(TINY, "dask://127.0.0.1:1", progress=False)


# ---------------------------------------------------------------- CSV


def test_csv_round_trip(tmp_path, serial_rows):
    res = run_sweep(TINY, "serial", progress=False)
    path = tmp_path / "sweep.csv"
    res.to_csv(path)
    back = read_sweep_csv(path)
    assert back == _strip(serial_rows)
    assert list(back[0]) == list(res.columns)
    assert back[0]["bits"] is None and back[0]["device"] == "4bit"
    assert isinstance(back[0]["success"], bool)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 4
    assert np.isfinite([r["settling_time_s"] for r in back]).all()


# ---------------------------------------------------------------- crossover and figures


def test_find_crossover_is_exact_for_power_laws():
    from pc_analog.experiments.sweep import find_crossover

    x = np.array([1.0, 3.0, 10.0, 30.0, 100.0])
    for x0, p in ((5.0, -1.3), (42.0, 0.7)):
        r = (x / x0) ** p
        assert find_crossover(x, r) == pytest.approx(x0, rel=1e-12)
        assert find_crossover(x[::-1], r[::-1]) == pytest.approx(x0, rel=1e-12)  # unsorted
    assert find_crossover([1, 2, 4], [4.0, 2.0, 0.5]) == pytest.approx(2**1.5)
    assert find_crossover([1, 2, 4], [3.0, 1.0, 0.5]) == 2.0  # exactly at a point
    assert find_crossover([1, 2, 4], [3.0, 2.0, 1.5]) is None  # never crosses
    # A non-finite point is skipped: the crossing is interpolated between x = 1 and 4.
    f = np.log(3.0) / (np.log(3.0) - np.log(0.5))
    assert find_crossover([1, 2, 4], [3.0, float("nan"), 0.5]) == pytest.approx(4**f)


def test_crossover_table_groups_by_the_non_size_parameters(timing_rows):
    from pc_analog.experiments.sweep import RATIO_COLUMNS, crossover_table, find_crossover

    table = crossover_table(timing_rows, varying=["depth", "dynamics"])
    assert len(table) == 2 * len(RATIO_COLUMNS)
    for t in table:
        rs = [r for r in timing_rows if r["dynamics"] == t["dynamics"]]
        col = RATIO_COLUMNS[t["ratio"]]
        ys = [r[col] for r in rs]
        assert t["min"] == min(ys) and t["max"] == max(ys)
        assert t["crossover"] == find_crossover([r["n_weights"] for r in rs], ys)
        assert (t["crossover"] is None) == (t["min"] > 1 or t["max"] < 1)
    # A ratio with no value (a machine without an energy figure) has no row, and no warning.
    blank = [{**r, "energy_ratio": None} for r in timing_rows]
    assert [t["ratio"] for t in crossover_table(blank)] == ["latency (batch 1)", "throughput"]


def test_sweep_figures_follow_the_grid(timing_rows):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pc_analog.experiments.sweep import SweepResult
    from pc_analog.viz.plots import sweep_figures

    figs = sweep_figures(SweepResult(load_sweep_config(TIMING), tuple(timing_rows)))
    assert set(figs) == {"settling_vs_depth", "crossover"}
    legend = [t.get_text() for t in figs["settling_vs_depth"].axes[0].get_legend().get_texts()]
    assert len(legend) == 2 and all("t ~ depth^" in t for t in legend)
    dev = run_sweep(
        {
            "format": SWEEP_FORMAT,
            "grid": {"bits": [2, 6]},
            "fixed": {"device": "bounded", "depth": 2, "width": 3},
            "quantities": ["devices"],
        },
        "serial",
        progress=False,
    )
    assert set(sweep_figures(dev)) == {"device_error"}
    plt.close("all")


# ---------------------------------------------------------------- command line


def _main(args):
    from pc_analog.cli.main import main

    return main(args)


def test_cli_writes_csv_and_figures(tmp_path, capsys, timing_rows):
    cfg = tmp_path / "timing.json"
    cfg.write_text(json.dumps(TIMING))
    out = tmp_path / "out"
    assert _main(["bench", "sweep", str(cfg), "--out", str(out), "--workers", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["points"] == 4 and summary["executor"] == "processes (2 workers)"
    assert sorted(p.name for p in out.iterdir()) == [
        "crossover.png",
        "settling_vs_depth.png",
        "sweep.csv",
    ]
    assert read_sweep_csv(out / "sweep.csv") == _strip(timing_rows)
    assert len(summary["crossovers"]) == 6
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in out.glob("*.png"))
    # Text mode names what it wrote.
    assert _main(["bench", "sweep", str(cfg), "--out", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("sweep: 4 points on processes") and "sweep.csv" in text
    assert "analog/digital latency (batch 1)" in text


@pytest.mark.parametrize(
    "config, extra, match",
    [
        (_cfg(grid={"depth": [0]}), [], "grid.depth: must be an integer >= 1"),
        (_cfg(quantities=["timing"]), [], "grid.depth: the timing quantity needs depth >= 2"),
        ("{oops", [], "not valid JSON"),
        (TINY, ["--scheduler", "dask://127.0.0.1:1", "--workers", "2"], "--workers"),
        (TINY, ["--workers", "0"], "--workers"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, config, extra, match):
    cfg = tmp_path / "s.json"
    cfg.write_text(config if isinstance(config, str) else json.dumps(config))
    out = tmp_path / "out"
    assert _main(["bench", "sweep", str(cfg), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err
    assert not out.exists()


def test_cli_out_must_be_a_folder_and_scheduler_must_answer(tmp_path, capsys, monkeypatch):
    import pc_analog.experiments.sweep

    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps(TINY))
    f = tmp_path / "file"
    f.write_text("x")
    assert _main(["bench", "sweep", str(cfg), "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert _main(["bench", "sweep", str(tmp_path / "none.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(pc_analog.experiments.sweep, "_DASK_CONNECT_TIMEOUT_S", 1.0)
    out = tmp_path / "o"
    assert (
        _main(["bench", "sweep", str(cfg), "--out", str(out), "--scheduler", "dask://127.0.0.1:1"])
        == 3
    )
    assert "dask scheduler" in capsys.readouterr().err
    assert not out.exists()


def test_every_parameter_and_quantity_is_documented():
    from pathlib import Path

    from pc_analog.experiments.sweep import QUANTITIES

    doc = (Path(__file__).resolve().parents[1] / "docs" / "sweeps.md").read_text()
    for name in [*PARAMETERS, *QUANTITIES]:
        assert f"`{name}`" in doc, name


# ---------------------------------------------------- the point's devices in timing
def test_timing_counts_the_points_devices_not_ideal_pairs():
    """With ``rram`` every device conducts (``g_min > 0``), so the timing circuit has two
    cells per pair in the forward, feedback (the same devices, reverse read) and bias
    crossbars; ideal pairs of the device weights would have one."""
    p = {**_defaults(), "depth": 2, "width": 3, "analog": "rram", "throughput_batch": 8}
    row = run_point(p, (0, 1), ("timing",))
    assert row["device"] == "rram"
    pairs = 2 * (3 * 3) + 2 * 3  # weights, biases
    # feedback cells exist only into free units (the inventory's rule): layer 2's into
    # the free hidden layer; layer 1's would feed the clamped input
    forward_and_bias, feedback = pairs, 3 * 3
    assert row["analog.devices.crossbar_cells"] == 2 * (forward_and_bias + feedback)


def test_timing_refuses_device_overrides_it_cannot_carry():
    with pytest.raises(InvalidInputError, match="bits: the timing quantity cannot use"):
        load_sweep_config({**TIMING, "fixed": {**TIMING["fixed"], "device": "4bit", "bits": 3}})
    p = {**_defaults(), "depth": 2, "width": 3, "device": "bounded", "write_noise": 0.01}
    with pytest.raises(InvalidInputError, match="override cannot reach the timing stage"):
        run_point(p, (0, 0), ("timing",))
