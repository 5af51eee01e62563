"""Work counters of the speed-ups of issue 16 (items 3 and 4), and their bit-identity.

- the ``ode`` backend's packed right-hand side equals ``node_currents`` bit for bit;
  the free-unit Hessian equals the dense Hessian's free block;
- DOP853 with lazily built dense output: the same trajectory and settling times as the
  eager path, bit for bit, with fewer right-hand-side calls; the batched settling-time
  refinement equals the per-sample one;
- a sweep group settles each timing circuit once per dynamics, builds its inventory
  once, and its rows equal the points run one by one;
- the timing report computes the Hessian spectrum once (the ode settle's), not three
  times.

No wall-clock assertion: every budget is a count.
"""

from __future__ import annotations

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.circuit.ir import compile_network
from pc_analog.model.energy import dense_hessian
from pc_analog.model.network import Clamp
from pc_analog.solvers.dynamics import FreeIndex, PackedCurrents, node_currents
from pc_analog.solvers.equilibrium import reference_rest_point
from pc_analog.solvers.ode import OdeBackend, free_hessian


def _circuits():
    rng = np.random.default_rng(3)
    for act in ("tanh", "sigmoid", "softplus", "linear"):
        for sizes in ((6, 12, 3), (5, 7, 7, 4)):
            net = pa.Network.random(sizes, act, seed=2)
            x, y = rng.normal(size=(4, sizes[0])), rng.normal(size=(4, sizes[-1]))
            yield compile_network(net, x, y)  # input and target clamped
            yield compile_network(net, x)  # target free
            # a partly clamped hidden layer and a partly free input
            clamp = Clamp(
                tuple(
                    np.arange(n) % 2 == 0 if l in (0, 1) else np.zeros(n, bool)
                    for l, n in enumerate(sizes)
                )
            )
            values = tuple(rng.normal(size=(4, n)) for n in sizes)
            yield compile_network(net, clamp=clamp, values=values)


def test_packed_currents_equal_node_currents_bit_for_bit():
    rng = np.random.default_rng(0)
    n = 0
    for c in _circuits():
        fi = FreeIndex(c)
        pc = PackedCurrents(c, fi)
        for _ in range(2):
            y = rng.normal(size=fi.size)
            ref = fi.pack(node_currents(c, fi.unpack(y), free_only=True)) / c.hardware.g0_S
            assert np.array_equal(pc(y), ref)
            n += 1
    assert n == 48


def test_free_hessian_is_the_dense_hessians_free_block():
    for c in _circuits():
        x, _ = reference_rest_point(c)
        free = np.concatenate(c.clamp.free)
        ref = dense_hessian(c.network(), x)[:, free][:, :, free]
        assert np.array_equal(free_hessian(c.network(), x, c.clamp.free), ref)


def _settle(circ, lazy, **kw):
    be = OdeBackend(method="DOP853", on_failure="return", **kw)
    be._batched = lazy
    return be.settle(circ)


@pytest.fixture(scope="module")
def batch_circuit():
    net = pa.Network.random([16, 32, 6], "tanh", seed=1)
    rng = np.random.default_rng(5)
    return compile_network(net, rng.normal(size=(40, 16)), rng.normal(size=(40, 6)) * 0.5)


def test_lazy_dense_output_is_bit_identical_with_fewer_rhs_calls(batch_circuit):
    eager, lazy = _settle(batch_circuit, False), _settle(batch_circuit, True)
    assert eager.success and lazy.success
    assert np.array_equal(lazy.t, eager.t)
    assert all(np.array_equal(a, b) for a, b in zip(lazy.trajectory, eager.trajectory))
    assert np.array_equal(lazy.settling_time_s, eager.settling_time_s)
    steps = eager.n_steps
    # eager: 12 stages per step (+ rejected) and 3 per dense output; lazy: only the
    # segments a settling time or the stop event falls in pay the 3 extra calls
    assert eager.nfev >= 15 * steps
    assert lazy.nfev < eager.nfev
    assert lazy.nfev <= eager.nfev - 3 * (steps - len(np.unique(lazy.settling_time_s)) - 1)


def test_batched_settling_refinement_on_a_t_eval_grid(batch_circuit):
    """With ``t_eval_points`` the refinement intervals span several steps."""
    eager = _settle(batch_circuit, False, t_eval_points=37)
    lazy = _settle(batch_circuit, True, t_eval_points=37)
    assert np.array_equal(lazy.settling_time_s, eager.settling_time_s)
    assert all(np.array_equal(a, b) for a, b in zip(lazy.trajectory, eager.trajectory))


def test_issue_case_rhs_budget():
    """The issue's 64-128-10 network on 64 digits samples: the default method choice
    (DOP853) within a right-hand-side budget (eager dense output cost 15 per step)."""
    from pc_analog.io.data import load_digits, one_hot

    ds = load_digits()
    net = pa.Network.random([64, 128, 10], "tanh", seed=0)
    res = pa.settle(
        net,
        ds.x_train[:64],
        one_hot(ds.y_train[:64], 10),
        backend=OdeBackend(on_failure="return"),
    )
    assert res.success and res.stats["method"] == "DOP853"
    assert res.stats["nfev"] <= 13 * res.n_steps + 3 * 10
    assert res.n_steps <= 25


# ------------------------------------------------------------------ sweeps and timing


def _group(tmp_path, **fixed):
    """Two digital references (the A100 preset and a half-speed copy from a file) and two
    dynamics on one network: four points that share work."""
    import json

    from pc_analog.costs.specs import load_digital_spec

    d = load_digital_spec("gpu-a100").to_dict()
    d.update(
        name="gpu-half", peak_flops=d["peak_flops"] / 2, launch_latency_s=2 * d["launch_latency_s"]
    )
    path = tmp_path / "half.json"
    path.write_text(json.dumps(d))
    return {
        "format": "pc-analog.sweep/1",
        "grid": {"digital": ["gpu-a100", str(path)], "dynamics": ["RC", "inertial"]},
        "fixed": {"width": 4, "depth": 2, "batch": 1, "throughput_batch": 8, **fixed},
        "seed": 0,
        "quantities": ["timing"],
    }


def _count(monkeypatch, module, name):
    calls = []
    orig = getattr(module, name)

    def counted(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_sweep_group_settles_once_per_dynamics_and_builds_one_inventory(monkeypatch, tmp_path):
    import pc_analog.circuit._build as build
    from pc_analog.experiments.sweep import run_point, run_sweep
    from pc_analog.experiments.sweep_config import load_sweep_config

    group = _group(tmp_path)
    points = load_sweep_config(group).points()
    singles = [run_point(p, (0, k), ["timing"]) for k, p in enumerate(points)]
    settles = _count(monkeypatch, OdeBackend, "_settle")
    inventories = _count(monkeypatch, build, "build_inventory")
    rows = run_sweep(group, "serial", progress=False).rows
    assert [dict(r) for r in rows] == singles  # the shared work changes no number
    assert len(settles) == 2  # one RC, one inertial settle for four points
    assert len(inventories) == 1  # one crossbar inventory for both dynamics
    a100 = [r["digital.bp_latency_s"] for r in rows if r["digital"] == "gpu-a100"]
    half = [r["digital.bp_latency_s"] for r in rows if r["digital"] != "gpu-a100"]
    assert len(a100) == len(half) == 2 and a100 != half  # each row its own reference


def test_sweep_group_with_noisy_devices_does_not_share_circuits(monkeypatch, tmp_path):
    """Points fabricate from their own seed: with write noise their circuits differ and
    each gets its own settle."""
    from pc_analog.experiments.sweep import run_sweep

    cfg = _group(tmp_path, device="4bit-noisy")
    settles = _count(monkeypatch, OdeBackend, "_settle")
    run_sweep(cfg, "serial", progress=False)
    assert len(settles) == 4


def test_timing_report_computes_the_spectrum_once(monkeypatch):
    """The prediction's lambda_min and the PC step's lambda_max come from the ode settle's
    spectrum; forcing them to be recomputed (the path before) gives the same row."""
    import pc_analog.costs.timing as timing
    import pc_analog.solvers.ode as ode

    net = pa.Network.random([3, 5, 5, 2], "tanh", seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3))
    spectra = _count(monkeypatch, ode, "_spectrum")
    hessians = _count(monkeypatch, timing, "dense_hessian")
    row = timing.timing_report(net, x, measure_cpu=False, t_eval_points=200).as_row()
    assert len(spectra) == 1 and len(hessians) == 0
    monkeypatch.setattr(timing, "_spectrum_at", lambda spectrum, x_eq: None)
    again = timing.timing_report(net, x, measure_cpu=False, t_eval_points=200).as_row()
    assert len(spectra) == 3 and len(hessians) == 1  # the settle, slowest_mode, the PC step
    assert again == row
