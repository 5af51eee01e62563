"""The timing stage: specs, analog energy and settling against closed forms, FLOP counts.

Oracles:
- settling time of linear networks: the exact solution ``x* + V exp(-Lambda t / tau) V^T
  (x0 - x*)`` from the eigendecomposition of the Hessian, its last exit from the band
  found by brentq (independent of the ode backend);
- spectral prediction ``ln(1/delta) / lambda_min``: exact for a single mode;
- energy: a single RC node relaxing to 0 (``1/2 C V0^2``) and a node between two
  clamps that keep a steady current flowing (closed form derived in the test);
- FLOP counts: written out by hand for a 3-4-2 MLP.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy.linalg import eigh
from scipy.optimize import brentq

import pc_analog as pa
from pc_analog.circuit.ir import Circuit, CircuitLayer, DifferentialPair, Hardware, compile_network
from pc_analog.costs.specs import (
    ANALOG_PRESETS,
    DIGITAL_PRESETS,
    AnalogSpec,
    DigitalSpec,
    cpu_measured_spec,
    load_analog_spec,
    load_digital_spec,
    save_spec,
)
from pc_analog.costs.timing import (
    Kernel,
    amplifier_count,
    energy_per_inference,
    flop_counts,
    roofline,
    timing_report,
)
from pc_analog.errors import InvalidInputError
from pc_analog.solvers.ode import OdeBackend

# settling time vs the exact solution (the issue asked for 1 %): measured 6.7e-8 (linear,
# three samples) and 2.6e-9 (one inertial mode) at the ode defaults; kept at ~150x.
SETTLING_RTOL = 1e-5
ONE_MODE_RTOL = 1e-5  # a single mode: the spectral prediction is exact
SPECTRAL_RTOL = 0.3  # several modes: one-mode estimate ignores the projection constant
ENERGY_RTOL = 1e-4  # issue: trapezoid on a dense transient vs the closed form
DENSE = 20001  # transient points for the energy integrals


# ------------------------------------------------------------------ specs
def test_presets_are_valid_and_map_to_hardware():
    for s in ANALOG_PRESETS.values():
        assert isinstance(s, AnalogSpec)
        hw = s.hardware()
        assert hw.tau_s == pytest.approx(s.c_F / s.g0_S)
        assert s.tau_s == hw.tau_s
    a100 = DIGITAL_PRESETS["gpu-a100"]
    assert a100.peak_flops == 19.5e12 and a100.mem_bandwidth_Bps == 1555e9
    assert a100.energy_per_flop_J == pytest.approx(400 / 19.5e12)
    # The default spec reproduces the circuit's default hardware.
    assert ANALOG_PRESETS["default"].hardware() == Hardware()


def test_spec_json_round_trip(tmp_path):
    s = AnalogSpec(name="mine", c_F=2e-12, device="pcm", amp_static_power_W=3e-6)
    p = tmp_path / "a.json"
    save_spec(s, p)
    assert load_analog_spec(p) == s
    assert load_analog_spec(str(p)) == s
    d = DigitalSpec("tpu", 1e14, 1e-12, 1e12, 1e-6, bytes_per_value=2)
    q = tmp_path / "d.json"
    save_spec(d, q)
    assert load_digital_spec(q) == d
    # Missing optional fields take the defaults.
    r = tmp_path / "partial.json"
    r.write_text(json.dumps({"c_F": 5e-12}))
    assert load_analog_spec(r) == AnalogSpec(c_F=5e-12)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"c_F": -1e-12}, "analog.c_F"),
        ({"g0_S": "big"}, "analog.g0_S"),
        ({"amp_static_power_W": float("inf")}, "analog.amp_static_power_W"),
        ({"device": "unobtainium"}, "analog.device"),
        ({"color": 3}, "analog.color"),
        ({"format": "other/9"}, "analog.format"),
        ({"supply_V": True}, "analog.supply_V"),
    ],
)
def test_bad_analog_spec_names_the_field(tmp_path, payload, field):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(payload))
    with pytest.raises(InvalidInputError, match=field.replace(".", r"\.")):
        load_analog_spec(p)


def test_bad_digital_spec_and_unknown_names(tmp_path):
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"name": "x", "peak_flops": 1e9, "mem_bandwidth_Bps": 1e9}))
    with pytest.raises(InvalidInputError, match=r"digital\.energy_per_flop_J: missing"):
        load_digital_spec(p)
    with pytest.raises(InvalidInputError, match="neither a preset"):
        load_analog_spec("no-such-preset")
    with pytest.raises(InvalidInputError, match="neither a preset"):
        load_digital_spec("no-such-gpu")
    bad = tmp_path / "broken.json"
    bad.write_text("{")
    with pytest.raises(InvalidInputError, match="invalid JSON"):
        load_analog_spec(bad)


def test_cpu_measured_spec_is_measured_once():
    s = cpu_measured_spec()
    assert s.measured and s.name == "cpu-measured"
    assert s.peak_flops > 0 and s.mem_bandwidth_Bps > 0 and s.launch_latency_s > 0
    assert s.energy_per_flop_J is None
    assert load_digital_spec("cpu-measured") is s  # cached


@pytest.mark.slow  # wall-clock magnitudes: out of the default suite (they depend on load)
def test_cpu_measured_spec_is_plausible():
    s = cpu_measured_spec()
    assert s.peak_flops > 1e7 and s.mem_bandwidth_Bps > 1e7
    assert s.launch_latency_s < 1e-3


# ------------------------------------------------------------------ FLOP counts
def test_flop_counts_match_a_hand_count():
    B = 5  # batch; sizes 3-4-2
    c = flop_counts([3, 4, 2], B)
    # BP forward: phi(x0) 5*3, fwd1 2*5*3*4 + 5*4; phi(a1) 5*4, fwd2 2*5*4*2 + 5*2
    fwd = (15) + (120 + 20) + (20) + (80 + 10)
    # output error pi (y - a2): 2 * 5*2; backward into layer 1: matmul 2*5*2*4, phi' and * 2*5*4
    bwd = 20 + (80 + 40)
    # weight grads: dW1 2*5*4*3 + db1 5*4; dW2 2*5*2*4 + db2 5*2
    grads = (120 + 20) + (80 + 10)
    assert c.bp_flops == fwd + bwd + grads == 635
    assert len(c.bp) == 4 + 1 + 1 + 2
    # One PC step with input and output clamped: the two predictions as in the forward
    # pass (with their activations), errors 2*5*4 and 2*5*2, and one update of
    # layer 1: e2 W2 2*5*2*4 and five elementwise ops on 5*4 units.
    step = fwd + (40 + 20) + (80 + 100)
    assert c.pc_step_flops == step == 505
    # Without a target the output layer is free too: x2 -= gamma e2, 2*5*2 more.
    assert flop_counts([3, 4, 2], B, target=False).pc_step_flops == step + 20
    # Traffic, hand counted for the first forward matmul: reads 5*3 + 4*3 + 4, writes 5*4.
    fwd1 = next(k for k in c.bp if k.name == "fwd1")
    assert fwd1.words == 15 + 12 + 4 + 20
    assert c.forward_macs == 5 * (3 * 4 + 4 * 2)


def test_roofline_picks_the_binding_limit():
    spec = DigitalSpec("toy", peak_flops=1e9, energy_per_flop_J=1e-12, mem_bandwidth_Bps=1e9,
                       launch_latency_s=1e-6, bytes_per_value=4)  # fmt: skip
    compute = Kernel("c", flops=10**6, words=10)  # 1 ms of arithmetic
    memory = Kernel("m", flops=10, words=10**6)  # 4 MB -> 4 ms
    tiny = Kernel("t", flops=10, words=10)  # launch bound
    r = roofline([compute, memory, tiny], spec)
    expected = (1e-3 + 1e-6) + (4e-3 + 1e-6) + (max(1e-8, 4e-8) + 1e-6)
    assert r.time_s == pytest.approx(expected, rel=1e-12)
    assert r.bound == {"compute": 1, "memory": 1, "launch": 1}
    assert r.energy_J == pytest.approx((10**6 + 20) * 1e-12)
    r3 = roofline([compute], spec, repeat=3)
    assert r3.time_s == pytest.approx(3 * (1e-3 + 1e-6)) and r3.n_kernels == 3


# ------------------------------------------------------------------ energy
def _single_node(v0: float, pi: float, hw: Hardware) -> Circuit:
    layer = CircuitLayer(
        forward=DifferentialPair.ideal(np.zeros((1, 1)), hw.g_unit_S),
        feedback=DifferentialPair.ideal(np.zeros((1, 1)), hw.g_unit_S),
        bias=DifferentialPair.ideal(np.zeros(1), hw.g_unit_S),
        g_spring_S=np.array([pi * hw.g0_S]),
        activation="linear",
    )
    clamp = pa.Clamp((np.array([True]), np.array([False])))
    return Circuit(hw, (layer,), clamp, (np.zeros((1, 1)), np.full((1, 1), v0)))


def test_single_rc_node_dissipates_half_c_v_squared():
    hw = Hardware(c_F=2e-12, g0_S=1e-6, g_unit_S=1e-5)
    v0, pi = 0.7, 1.5
    circ = _single_node(v0, pi, hw)
    res = OdeBackend(rtol=1e-11, atol=1e-14, t_eval_points=DENSE).settle(circ)
    spec = AnalogSpec(c_F=hw.c_F, g0_S=hw.g0_S, g_unit_S=hw.g_unit_S, amp_static_power_W=5e-6)
    e = energy_per_inference(res, circ, spec)
    # eps(t) = v0 exp(-t/tau_e), tau_e = C/(pi g0):
    # int_0^t pi g0 eps^2 = 1/2 C v0^2 (1 - exp(-2t/tau_e))
    tau_e = hw.c_F / (pi * hw.g0_S)

    def closed(t):
        return 0.5 * hw.c_F * v0**2 * (1 - np.exp(-2 * t / tau_e))

    assert e.springs_total_J[0] == pytest.approx(closed(e.t_end_s), rel=ENERGY_RTOL)
    assert e.springs_J[0] == pytest.approx(closed(res.settling_time_s[0]), rel=ENERGY_RTOL)
    assert e.springs_total_J[0] == pytest.approx(0.5 * hw.c_F * v0**2, rel=1e-6 + ENERGY_RTOL)
    # No weights, no bias, no free unit below: the crossbars carry no current.
    assert e.crossbars_J[0] == 0.0 and e.crossbars_total_J[0] == 0.0
    # Crossbar inventory: the column driver of x0 (phi block and inverter), the readout
    # of m1 and the error buffer e1; nothing below layer 1 is free, so no feedback path.
    assert amplifier_count(circ) == 2 + 1 + 1 == e.n_amplifiers
    assert e.amplifiers_J[0] == pytest.approx(4 * 5e-6 * res.settling_time_s[0])


def test_clamped_chain_energy_includes_the_steady_current():
    """x0 = 0 and x2 = V clamped, x1 free, unit weights: a current flows for ever.

    With H = 2 and x1(0) = 0 (feedforward), x1(t) = V/2 + d e(t), e = exp(-2t/tau),
    d = -V/2, so eps1 = x1 = V/2 + d e and eps2 = V - x1 = V/2 - d e.  Only the free
    unit has a spring resistor (the clamped output's error is buffered, not sprung):

        E_spring(T) = g0 int (V/2 + d e)^2
                    = g0 [V^2 T/4 + V d tau/2 (1 - e^{-2T/tau}) + d^2 tau/4 (1 - e^{-4T/tau})].

    The crossbars see x1 on the layer-2 forward cell and eps2 on the feedback cell
    into x1 (both of conductance g_unit):

        E_xbar(T) = g_unit int (V/2 + d e)^2 + (V/2 - d e)^2
                  = g_unit [V^2 T/2 + d^2 tau/2 (1 - e^{-4T/tau})].
    """
    V = 0.9
    net = pa.Network((np.eye(1), np.eye(1)), (np.zeros(1), np.zeros(1)), (1.0, 1.0),
                     ("linear", "linear"))  # fmt: skip
    hw = Hardware(c_F=1e-12, g0_S=2e-6, g_unit_S=1e-5)
    circ = compile_network(net, np.zeros((1, 1)), np.full((1, 1), V), hardware=hw)
    res = OdeBackend(rtol=1e-11, atol=1e-14, t_eval_points=DENSE).settle(circ)
    e = energy_per_inference(res, circ, AnalogSpec(c_F=1e-12, g0_S=2e-6, g_unit_S=1e-5))
    tau, d = hw.tau_s, -V / 2

    def springs(T):
        e2, e4 = 1 - np.exp(-2 * T / tau), 1 - np.exp(-4 * T / tau)
        return hw.g0_S * (V**2 * T / 4 + V * d * tau / 2 * e2 + d**2 * tau / 4 * e4)

    def xbar(T):
        return hw.g_unit_S * (V**2 * T / 2 + d**2 * tau / 2 * (1 - np.exp(-4 * T / tau)))

    T_end, T_s = e.t_end_s, res.settling_time_s[0]
    assert T_end > 5 * tau  # the steady-state term dominates the total
    assert e.springs_total_J[0] == pytest.approx(springs(T_end), rel=ENERGY_RTOL)
    assert e.springs_J[0] == pytest.approx(springs(T_s), rel=ENERGY_RTOL)
    assert e.crossbars_total_J[0] == pytest.approx(xbar(T_end), rel=ENERGY_RTOL)
    assert e.crossbars_J[0] == pytest.approx(xbar(T_s), rel=ENERGY_RTOL)
    # Per layer: column driver (2), readout and error buffer; layer 2 also the feedback
    # columns u2 (2), the feedback row's readout into x1 and x1's phi' block.
    assert amplifier_count(circ) == (2 + 1 + 1) + (2 + 1 + 1) + (2 + 1 + 1) == 12
    assert amplifier_count(circ, level="behavioural") == 2 + 2 + 1  # m, e and the source


# ------------------------------------------------------------------ settling in the report
def _exact_settling(circ: Circuit, band: float) -> np.ndarray:
    """Per-sample settling time of the exact linear transient (eigh + brentq)."""
    net = circ.network()
    free = np.concatenate(circ.clamp.free)
    H = pa.dense_hessian(net, circ.x_init)[:, free][:, :, free]
    from pc_analog.solvers.equilibrium import solve_equilibrium

    eq = solve_equilibrium(net, circ.x_init, circ.clamp, gtol=1e-13)
    X0 = np.concatenate(circ.x_init, axis=1)[:, free]
    Xs = np.concatenate(eq.x, axis=1)[:, free]
    out = []
    for b in range(circ.batch):
        w, V = eigh(H[b])
        c = V.T @ (X0[b] - Xs[b])
        thresh = band * np.abs(X0[b] - Xs[b]).max()

        def excess(t, w=w, V=V, c=c, thresh=thresh):
            return np.abs(V @ (np.exp(-w * t) * c)).max() - thresh

        grid = np.linspace(0, 20 * np.log(1 / band) / w.min(), 20001)
        vals = np.array([excess(t) for t in grid])
        k = np.flatnonzero(vals > 0)[-1]
        out.append(brentq(excess, grid[k], grid[k + 1], xtol=1e-14) * circ.tau_s)
    return np.array(out)


def test_report_settling_time_matches_the_exact_linear_solution():
    net = pa.Network.random([2, 5, 4, 3], "linear", precisions=[1.0, 2.0, 0.5], seed=4)
    rng = np.random.default_rng(4)
    x0, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 3))
    spec = AnalogSpec(c_F=3e-12, g0_S=1e-6)
    r = timing_report(net, x0, y, analog=spec, measure_cpu=False, t_eval_points=2001)
    circ = compile_network(net, x0, y, hardware=spec.hardware())
    exact = _exact_settling(circ, 1e-3)
    assert r.analog["settling_time_s"] == pytest.approx(exact.max(), rel=SETTLING_RTOL)
    assert r.analog["settling_time_mean_s"] == pytest.approx(exact.mean(), rel=SETTLING_RTOL)
    assert r.analog["settling_time_tau"] == pytest.approx(exact.max() / 3e-6, rel=SETTLING_RTOL)
    # Several modes: the one-mode estimate within the stated tolerance.
    assert r.analog["settling_time_tau"] == pytest.approx(
        r.analog["predicted_settling_tau"], rel=SPECTRAL_RTOL
    )


def test_report_spectral_prediction_is_exact_for_one_mode():
    # One free unit between two clamps: a single mode, lambda = pi_1 + pi_2 w^2.
    net = pa.Network((np.eye(1), np.array([[0.5]])), (np.zeros(1), np.zeros(1)), (1.0, 2.0),
                     ("linear", "linear"))  # fmt: skip
    r = timing_report(net, [[1.0]], [[-0.4]], measure_cpu=False)
    assert r.analog["lambda_min"] == pytest.approx(1.0 + 2.0 * 0.25, rel=1e-12)
    assert r.analog["settling_time_tau"] == pytest.approx(
        r.analog["predicted_settling_tau"], rel=ONE_MODE_RTOL
    )
    assert r.analog["predicted_settling_tau"] == pytest.approx(np.log(1e3) / 1.5, rel=1e-12)


def test_report_inertial_one_mode_matches_the_critically_damped_solution():
    """One free unit, mass C tau, zeta = 1: in units of tau, x'' + 2 w x' + w^2 x = 0 with
    w = sqrt(lambda), so the deviation is d (1 + w s) exp(-w s), monotone: it settles
    where (1 + w s) exp(-w s) = delta.  The one-mode prediction ln(1/delta)/w ignores
    the (1 + w s) factor and is shorter."""
    net = pa.Network((np.eye(1), np.array([[0.5]])), (np.zeros(1), np.zeros(1)), (1.0, 2.0),
                     ("linear", "linear"))  # fmt: skip
    r = timing_report(net, [[1.0]], [[-0.4]], inertial=True, measure_cpu=False)
    w = np.sqrt(1.5)
    s = brentq(lambda s: (1 + s) * np.exp(-s) - 1e-3, 1.0, 50.0, xtol=1e-14) / w
    assert r.analog["dynamics"] == "inertial"
    assert r.analog["settling_time_tau"] == pytest.approx(s, rel=SETTLING_RTOL)
    assert r.analog["predicted_settling_tau"] == pytest.approx(np.log(1e3) / w, rel=1e-12)
    assert r.analog["predicted_settling_tau"] < r.analog["settling_time_tau"]


def test_report_digital_pc_steps_reach_the_analog_residual_and_no_fewer():
    net = pa.Network.random([3, 5, 2], "tanh", seed=1)
    x0 = np.random.default_rng(1).uniform(0, 1, (1, 3))
    r = timing_report(net, x0, measure_cpu=False)
    T = int(r.config["pc_steps_same_residual"])
    gamma = r.config["pc_step_size_tau"]
    target = r.analog["residual_at_settle"]
    y = np.random.default_rng(0).uniform(-1, 1, size=(1, 2))  # the report's default target
    x, clamp = pa.io_state(net, x0, y)

    def resid(n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pa.ConvergenceWarning)
            d = pa.discrete_inference(net, x, clamp, step_size=gamma, n_steps=n)
        return d.grad_max[0]

    assert T >= 1
    assert resid(T) <= target < resid(T - 1)


def test_as_row_is_deterministic_and_json_clean():
    net = pa.Network.random([3, 4, 2], "tanh", seed=2)
    x0 = np.random.default_rng(2).uniform(0, 1, (2, 3))
    a = timing_report(net, x0, measure_cpu=False, t_eval_points=501).as_row()
    b = timing_report(net, x0, measure_cpu=False, t_eval_points=501).as_row()
    assert a == b
    json.dumps(a, allow_nan=False)
    assert all(not isinstance(v, dict) for v in a.values())
    keys = (
        "analog.settling_time_s",
        "analog.energy_J",
        "digital.gpu-a100.bp_latency_s",
        "digital.gpu-a100.analog_over_bp_energy",
        "config.pc_steps_same_residual",
    )
    for key in keys:
        assert isinstance(a[key], float) and math.isfinite(a[key]), key


def test_report_latency_and_ratios_are_consistent():
    net = pa.Network.random([3, 4, 2], "tanh", seed=5)
    x0 = np.random.default_rng(5).uniform(0, 1, (1, 3))
    r = timing_report(net, x0, measure_cpu=True, repeats=2, throughput_batch=16)
    g = r.digital["gpu-a100"]
    c1 = flop_counts(net.sizes, 1)
    assert g["bp_latency_s"] == pytest.approx(roofline(c1.bp, "gpu-a100").time_s)
    assert g["bp_energy_J"] == pytest.approx(c1.bp_flops * 400 / 19.5e12)
    step = roofline(c1.pc_step, "gpu-a100").time_s
    assert g["pc_latency_at_L_steps_s"] == pytest.approx(2 * step)
    assert g["pc_latency_s"] == pytest.approx(r.config["pc_steps_same_residual"] * step)
    assert g["analog_over_bp_latency"] == pytest.approx(
        r.analog["settling_time_s"] / g["bp_latency_s"]
    )
    assert r.cpu["bp_latency_s"] > 0 and r.cpu["pc_latency_s"] > 0
    text = r.table()
    assert "settling time" in text and "gpu-a100 (roofline)" in text and "this CPU" in text
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["analog_spec"]["format"] == "pc-analog.analog-spec/1"


def test_report_with_a_device_preset_runs():
    net = pa.Network.random([3, 4, 2], "tanh", seed=6)
    x0 = np.random.default_rng(6).uniform(0, 1, (1, 3))
    r = timing_report(net, x0, analog="rram", measure_cpu=False, t_eval_points=501)
    assert r.config["device"] == "rram" and r.analog["success"]
    assert r.analog["energy_J"] > 0


# ------------------------------------------------------------------ command line
def _cli(argv, capsys):
    from pc_analog.cli.main import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_bench_timing_json(capsys):
    code, out, err = _cli(
        ["bench", "timing", "--arch", "3-4-2", "--batch", "2", "--no-cpu", "--json"], capsys
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["config"]["sizes"] == [3, 4, 2] and d["config"]["batch"] == 2
    assert d["cpu"] is None
    assert d["analog"]["settling_time_s"] > 0 and "gpu-a100" in d["digital"]
    assert d["config"]["inputs"] == "random (seeded)"
    # The JSON holds the same numbers as the API with the same seed and inputs.
    rng = np.random.default_rng(0)
    x0, y = rng.uniform(0, 1, (2, 3)), rng.uniform(-1, 1, (2, 2))
    r = timing_report(pa.Network.random([3, 4, 2], "tanh", seed=0), x0, y, measure_cpu=False)
    assert d["analog"]["settling_time_s"] == pytest.approx(r.analog["settling_time_s"], rel=1e-12)


def test_cli_bench_timing_table_with_spec_file_and_net(tmp_path, capsys):
    spec = tmp_path / "hw.json"
    save_spec(AnalogSpec(name="slow", c_F=5e-12), spec)
    net = tmp_path / "net.json"
    pa.save_network(pa.Network.random([2, 3, 2], "tanh", seed=3), net)
    code, out, err = _cli(
        ["bench", "timing", "--net", str(net), "--hardware", str(spec), "--batch", "1",
         "--repeats", "1", "--throughput-batch", "8", "--digital", "cpu-measured"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "analog spec 'slow'" in out and "tau = C/g0 = 5 us" in out
    assert "this CPU (measured)" in out and "cpu-measured (roofline)" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--arch", "3-x-2"], "--arch"),
        (["--arch", "3"], "--arch"),
        (["--arch", "3-0-2"], "--arch"),
        (["--hardware", "no-such-spec"], "hardware"),
        (["--digital", "no-such-gpu"], "digital"),
        (["--batch", "0"], "--batch"),
        (["--arch", "3-2"], "no free unit"),
    ],
)
def test_cli_bench_timing_bad_input_exits_2(argv, message, capsys):
    code, out, err = _cli(["bench", "timing", "--no-cpu", *argv], capsys)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_bench_timing_bad_spec_file_exits_2(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"amp_bandwidth_Hz": 0}))
    code, out, err = _cli(["bench", "timing", "--hardware", str(p), "--no-cpu"], capsys)
    assert code == 2 and out == "" and "analog.amp_bandwidth_Hz" in err
