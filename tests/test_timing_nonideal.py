"""The timing stage with a non-ideal analog spec (issue 11 item 5).

Oracles: the ideal report (every non-ideality off, or a /2 field that changes no element:
bit-identical numbers); the equilibrium backend's rest point of ``spec.apply(circuit)``;
an independent ode settle of ``spec.apply(circuit)``; the stability analysis (an
unstable GBW must be a failed report, never a settling time).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.cli.main import main
from pc_analog.costs.energy import energy_per_inference
from pc_analog.costs.specs import AnalogSpec
from pc_analog.costs.timing import _build_circuit, timing_report
from pc_analog.solvers.equilibrium import EquilibriumBackend
from pc_analog.solvers.ode import OdeBackend

T_EVAL = 401


def _case():
    net = pa.Network.random([3, 4, 2], "tanh", seed=2)
    rng = np.random.default_rng(0)
    return net, rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (2, 2))


def _report(spec, case=None):
    net, x0, y = case or _case()
    return timing_report(net, x0, y, analog=spec, measure_cpu=False, t_eval_points=T_EVAL)


def test_every_nonideality_off_gives_todays_report_and_a_no_op_field_the_same_numbers():
    ideal = _report(AnalogSpec())
    assert "status" not in ideal.analog and "rest_point_shift_V" not in ideal.analog
    # the numbers are the ode settle of the ideal circuit and its crossbar energy
    net, x0, y = _case()
    c = _build_circuit(net, x0, y, AnalogSpec(), 0)
    res = OdeBackend(t_eval_points=T_EVAL, on_failure="return").settle(c)
    en = energy_per_inference(res, c, AnalogSpec())
    assert ideal.analog["settling_time_s"] == float(np.max(res.settling_time_s))
    assert ideal.analog["energy_J"] == float(np.mean(en.total_J))
    # a /2 field that changes no element takes the non-ideal path: same numbers exactly
    noop = _report(AnalogSpec(dac_range_V=2.0, mismatch_seed=3))
    assert noop.analog["nonideal_fields"] == ["dac_range_V", "mismatch_seed"]
    assert noop.analog["rest_point_shift_V"] == 0.0
    for k, v in ideal.analog.items():
        assert noop.analog[k] == v, k
    assert noop.digital == ideal.digital and noop.config == ideal.config


@pytest.mark.parametrize(
    "kw", [{"amp_gain": 300.0, "amp_offset_V": 5e-3}, {"amp_gain": 1e3, "wire_r_ohm": 20.0}]
)
def test_nonideal_rest_point_and_settling_time_match_independent_backends(kw):
    spec = AnalogSpec(**kw)
    rep = _report(spec)
    ideal = _report(AnalogSpec())
    net, x0, y = _case()
    level = "crossbar" if spec.wire_r_ohm > 0 else "behavioural"
    c = spec.apply(_build_circuit(net, x0, y, spec, 0), level)
    eq = EquilibriumBackend().settle(c)
    assert eq.success and rep.analog["success"] and rep.analog["status"] == "SUCCESS"
    for a, b in zip(rep.rest_point, eq.x):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    res = OdeBackend(t_eval_points=T_EVAL, on_failure="return").settle(c)
    assert rep.analog["settling_time_s"] == float(np.max(res.settling_time_s))
    shift = max(float(np.abs(a - b).max()) for a, b in zip(eq.x, ideal.rest_point))
    assert rep.analog["rest_point_shift_V"] == pytest.approx(shift, rel=1e-6)
    assert rep.analog["rest_point_shift_V"] > 1e-4  # the non-ideality moved the rest point
    assert rep.analog["circuit_level"] == level
    assert rep.analog["energy_J"] > 0 and rep.analog["energy_J"] != ideal.analog["energy_J"]

    def own(d):  # the digital machines' own numbers (without the analog / digital ratios)
        return {m: {k: v for k, v in r.items() if not k.startswith("analog_")}
                for m, r in d.items()}  # fmt: skip

    assert own(rep.digital) == own(ideal.digital)  # the digital side is unchanged
    assert rep.config == ideal.config


def test_unstable_gbw_is_a_failed_report_without_a_settling_time():
    net = pa.Network(([[1.3]], [[3.0]]), ([0.1], [0.2]), (1.0, 2.0), ("linear", "linear"))
    case = (net, np.array([[0.7]]), np.array([[-0.4]]))
    bad = _report(AnalogSpec(amp_gain=1e3, amp_gbw_Hz=2e6), case)
    a = bad.analog
    assert a["success"] is False and a["status"] == "UNSTABLE" and "unstable" in a["message"]
    assert np.isnan(a["settling_time_s"]) and np.isnan(a["energy_J"])
    assert bad.as_row()["analog.settling_time_s"] is None
    assert "UNSTABLE" in bad.table()
    good = _report(AnalogSpec(amp_gain=1e3, amp_gbw_Hz=1e7), case)
    assert good.analog["success"] and good.analog["settling_time_s"] > 0


def test_noise_fields_settle_the_deterministic_circuit_and_say_so():
    rep = _report(AnalogSpec(amp_noise_V_rtHz=1e-8, thermal_noise=True))
    assert rep.analog["success"] and "deterministic" in rep.analog["noise"]
    assert rep.analog["rest_point_shift_V"] == 0.0
    ideal = _report(AnalogSpec())  # deterministic: every ideal number unchanged
    assert all(rep.analog[k] == v for k, v in ideal.analog.items())


def test_cli_bench_timing_accepts_a_nonideal_spec(tmp_path, capsys):
    f = tmp_path / "chip.json"
    f.write_text(json.dumps({"format": "pc-analog.analog-spec/2", "amp_gain": 1000,
                             "amp_offset_V": 0.002}))  # fmt: skip
    rc = main(["bench", "timing", "--arch", "3-4-2", "--no-cpu", "--batch", "1",
               "--hardware", str(f), "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert rc == 0 and d["analog"]["nonideal_fields"] == ["amp_gain", "amp_offset_V"]
    assert d["analog"]["rest_point_shift_V"] > 0


def test_cli_bench_timing_of_an_unstable_circuit_exits_3_with_the_reason(tmp_path, capsys):
    net = pa.Network(([[1.3]], [[3.0]]), ([0.1], [0.2]), (1.0, 2.0), ("linear", "linear"))
    pa.save_network(net, tmp_path / "one.json")
    f = tmp_path / "slow.json"
    f.write_text(json.dumps({"format": "pc-analog.analog-spec/2", "amp_gain": 1000,
                             "amp_gbw_Hz": 2e6}))  # fmt: skip
    rc = main(["bench", "timing", "--net", str(tmp_path / "one.json"), "--no-cpu",
               "--batch", "1", "--hardware", str(f), "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 3 and "unstable" in err and err.count("\n") == 1
    assert json.loads(out)["analog"]["settling_time_s"] is None


# ------------------------------------------------------------------ sweeps (issue 11 item 5)
def _sweep(grid, fixed=None, quantities=("settling", "timing")):
    from pc_analog.experiments.sweep import run_sweep

    fixed = {"depth": 2, "width": 3, **(fixed or {})}
    cfg = {
        "format": "pc-analog.sweep/1",
        "grid": grid,
        "fixed": fixed,
        "quantities": list(quantities),
    }
    return run_sweep(cfg, "serial").rows


def test_sweep_with_every_nonideality_off_has_todays_row():
    (plain,) = _sweep({"gain": [1.0]})
    assert "status" not in plain and "analog.rest_point_shift_V" not in plain
    assert "amp_gain" not in plain  # an analog spec field is a column only when named
    (named,) = _sweep({"gain": [1.0]}, {"amp_gain": None, "amp_offset_V": 0.0})
    assert named == {**plain, "amp_gain": None, "amp_offset_V": 0.0}


def test_sweep_over_amp_gain_gives_one_row_per_value_with_the_field():
    rows = _sweep({"amp_gain": [1e3, 1e4]})
    assert [r["amp_gain"] for r in rows] == [1e3, 1e4]
    assert all(r["analog.nonideal_fields"] == "amp_gain" and r["success"] for r in rows)
    for r in rows:  # the settling and timing quantities settle the same non-ideal circuit
        assert r["rest_point_shift_V"] == r["analog.rest_point_shift_V"] > 0
    # the rest-point error of finite gain A scales as 1/A (first order)
    ratio = rows[0]["rest_point_shift_V"] / rows[1]["rest_point_shift_V"]
    assert 9.0 < ratio < 11.0
    # the timing columns are the timing report of the point's network on that spec
    from pc_analog.experiments.sweep_point import _network_and_data

    p = {"network": "random", "depth": 2, "width": 3, "batch": 1, "repeat": 0,
         "activation": "tanh", "gain": 1.0}  # fmt: skip
    net, x0, y = _network_and_data(p, 0)
    rep = timing_report(net, x0, y, analog=AnalogSpec(amp_gain=1e4), measure_cpu=False,
                        seed=[0, 1])  # fmt: skip
    assert rows[1]["analog.settling_time_s"] == rep.analog["settling_time_s"]
    assert rows[1]["analog.energy_J"] == rep.analog["energy_J"]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"amp_gian": [1e3]}, "grid.amp_gian: unknown parameter"),
        ({"amp_gain": [0]}, "grid.amp_gain: must be a finite number > 0, got 0"),
        ({"dac_bits": [0]}, "grid.dac_bits: must be >= 1"),
        ({"wire_r_ohm": [-1.0]}, "grid.wire_r_ohm: must be a finite number >= 0"),
        ({"wire_r_ohm": [1.0], "amp_gbw_Hz": [1e8]}, "amp_gbw_Hz: not simulated together"),
    ],
)
def test_cli_sweep_bad_analog_axis_exits_2_with_one_line(tmp_path, capsys, grid, message):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"format": "pc-analog.sweep/1", "grid": grid,
                               "fixed": {"depth": 2, "width": 3}}))  # fmt: skip
    out = tmp_path / "out"
    assert main(["bench", "sweep", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not out.exists()
