"""``pc-analog noise`` (SPEC section 4) and the ngspice ``trnoise`` route (issue 12).

ngspice against Lyapunov: the per-unit variance of a transient with ``trnoise`` sources has
a standard error computed from the theory's own autocovariance
(:func:`pc_analog.spice.noise.variance_standard_error`); every unit's z-score must lie
below the Bonferroni bound of family-wise level 1e-3.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _oracles import Z_ALPHA, needs_ngspice
from scipy.stats import norm

from pc_analog.circuit.ir import Hardware, compile_network
from pc_analog.circuit.noise import K_BOLTZMANN, NoiseSources, with_noise
from pc_analog.cli.main import main
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Network
from pc_analog.solvers.lyapunov import lyapunov_noise


def _files(tmp_path, spec):
    net = {
        "format": "pc-analog.network/1",
        "sizes": [2, 3, 2],
        "activations": ["linear", "tanh"],
        "precisions": [1.0, 0.5],
        "weights": [[[0.5, -0.2], [0.1, 0.4], [-0.3, 0.2]], [[0.2, 0.1, -0.4], [0.3, -0.2, 0.1]]],
        "biases": [[0.0, 0.1, -0.1], [0.05, 0.0]],
    }
    p = tmp_path / "net.json"
    p.write_text(json.dumps(net))
    (tmp_path / "x.json").write_text("[0.3, -0.2]")
    (tmp_path / "y.json").write_text("[0.1, 0.2]")
    (tmp_path / "spec.json").write_text(json.dumps({"format": "pc-analog.analog-spec/2", **spec}))
    return [str(p), "--input", str(tmp_path / "x.json"), "--hardware", str(tmp_path / "spec.json")]


def _run(argv, capsys):
    code = main(["noise", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_noise_json_lyapunov_and_sde_agree(tmp_path, capsys):
    base = _files(tmp_path, {"thermal_noise": True, "amp_noise_V_rtHz": 1e-8, "adc_bits": 8})
    code, out, _ = _run([*base, "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["method"] == "lyapunov"
    assert [len(s) for s in d["std"]] == [2, 3, 2]
    assert d["std"][0] == [0.0, 0.0] and min(d["std"][1]) > 0
    eb = d["effective_bits"]
    assert eb["layers"][0] is None and eb["readout"] > 8 and eb["readout_adc"] < 8
    code, out, _ = _run(
        [*base, "--method", "sde", "--samples", "4000", "--seed", "3", "--json"], capsys
    )
    s = json.loads(out)
    assert code == 0 and s["method"] == "sde" and s["stats"]["samples"] == 4000
    ratio = np.array(s["std"][1] + s["std"][2]) / np.array(d["std"][1] + d["std"][2])
    # a std from 4000 draws (2 correlation times apart) has ~1.5 % relative error
    assert np.all(np.abs(ratio - 1) < 0.08)


def test_noise_target_clamps_the_readout(tmp_path, capsys):
    base = _files(tmp_path, {"thermal_noise": True})
    code, out, _ = _run([*base, "--target", str(tmp_path / "y.json"), "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["std"][2] == [0.0, 0.0] and d["effective_bits"]["readout"] is None


@pytest.mark.parametrize(
    ("spec", "extra", "match"),
    [
        ({"thermal_noise": True, "temperature_K": -1}, [], "temperature_K"),
        ({"amp_noise_V_rtHz": -1e-9}, [], "amp_noise_V_rtHz"),
        ({"thermal_noise": True}, ["--samples", "1"], "--samples"),
        ({"amp_noise_V_rtHz": 1e-8}, ["--level", "crossbar"], "amp_noise_V_rtHz"),
        ({"thermal_noise": True}, ["--method", "rk4"], "--method"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, spec, extra, match):
    code, out, err = _run([*_files(tmp_path, spec), *extra, "--json"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and match in err


def test_hardware_is_required_and_one_sample(tmp_path, capsys):
    base = _files(tmp_path, {"thermal_noise": True})
    code, _, err = _run(base[:3], capsys)
    assert code == 2 and "--hardware" in err
    (tmp_path / "xb.json").write_text("[[0.3, -0.2], [0.1, 0.1]]")
    code, _, err = _run([base[0], "--input", str(tmp_path / "xb.json"), *base[3:]], capsys)
    assert code == 2 and "one sample" in err


def test_noise_command_runs_as_a_program(tmp_path):
    base = _files(tmp_path, {"thermal_noise": True})
    p = subprocess.run([sys.executable, "-m", "pc_analog", "noise", *base], capture_output=True,
                       text=True, check=False)  # fmt: skip
    assert p.returncode == 0 and "effective bits" in p.stdout


def _small(thermal, en, act="linear", seed=0):
    rng = np.random.default_rng(seed)
    sizes = [2, 3, 2]
    W = tuple(rng.normal(0, 1 / np.sqrt(sizes[i]), (sizes[i + 1], sizes[i])) for i in range(2))
    b = tuple(rng.normal(0, 0.1, s) for s in sizes[1:])
    net = Network(W, b, tuple(rng.uniform(0.5, 2, s) for s in sizes[1:]), (act, act))
    circ = compile_network(net, rng.normal(size=2), rng.normal(0, 0.3, 2))
    return with_noise(circ, NoiseSources(thermal=thermal, amp_noise_V_rtHz=en))


@needs_ngspice
def test_ngspice_trnoise_rc_node_is_kT_over_C():
    """One RC node: 2000 correlation times of ngspice transient; the theory's standard error
    of the variance is 2.2 %, the bound 3 standard errors."""
    from pc_analog.spice.noise import ngspice_noise

    net = Network((np.array([[0.7]]),), (np.array([0.1]),), (np.array([2.0]),), ("linear",))
    circ = compile_network(net, np.array([0.3]), hardware=Hardware(c_F=1e-12))
    circ = with_noise(circ, NoiseSources(thermal=True))
    rep = ngspice_noise(circ, samples=1000, seed=1)
    kTC = K_BOLTZMANN * 300 / 1e-12
    se = rep.stats["variance_se"][0]
    assert abs(rep.cov[0, 0, 0] - kTC) < 3 * se and se < 0.035 * kTC


@needs_ngspice
@pytest.mark.parametrize(
    ("thermal", "en", "act"),
    [(True, 8e-9, "linear"), (False, 1e-6, "linear"), (True, 3e-7, "tanh")],
)
def test_ngspice_trnoise_variances_match_lyapunov(thermal, en, act):
    from pc_analog.spice.noise import ngspice_noise

    circ = _small(thermal, en, act)
    S, *_ = lyapunov_noise(circ)
    rep = ngspice_noise(circ, samples=200, seed=4, noise_step_s=None)
    se = np.array(rep.stats["variance_se"])
    z = (np.diag(rep.cov[0]) - np.diag(S[0])) / se
    assert np.abs(z).max() < norm.isf(Z_ALPHA / (2 * z.size)), z
    assert np.all(se < 0.15 * np.diag(S[0]))


def test_trnoise_refuses_read_noise():
    from pc_analog.spice.netlist import add_trnoise, write_netlist

    circ = with_noise(_small(True, 0.0), NoiseSources(read_noise_rtHz=1e-6))
    with pytest.raises(InvalidInputError, match="read noise"):
        add_trnoise(write_netlist(circ), circ, step_s=1e-8, gains={})
