"""Device read noise during settling, reached from ``pc-analog noise --hardware`` through
the device preset the spec names (issue 12 item 1; docs/noise.md "Device read noise").

The preset's per-read relative standard deviation ``sigma_r`` becomes a white relative
conductance noise of density ``sigma_r sqrt(2 tau)`` (a read lasting ``tau = C/g0``:
the average of white noise of one-sided density ``S`` over ``T`` has variance
``S / (2T)``).  Oracles: a closed form for one free unit on the programmed conductances,
the CLI against it, and the ``sde`` backend against Lyapunov (per-entry z-scores,
Bonferroni, the helpers of ``test_sde``).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from _oracles import Z_ALPHA
from _oracles import trace_z as _trace_z
from _oracles import z_scores as _z_scores
from scipy.stats import norm

from pc_analog.circuit.noise import read_noise_density
from pc_analog.cli.main import main
from pc_analog.cli.noise import with_device_read_noise
from pc_analog.costs.specs import ANALOG_PRESETS
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.hebbian import HardwareNetwork
from pc_analog.io.formats import save_network
from pc_analog.model.network import Network
from pc_analog.solvers.lyapunov import lyapunov_noise
from pc_analog.solvers.sde import sde_noise


def test_read_noise_density_is_the_per_read_std_over_the_read_window():
    """Averaging white noise over T: Var = S / (2T), checked by sampling a discretised
    white sequence (dt << T), and the formula itself."""
    assert read_noise_density(0.01, 1e-6) == pytest.approx(0.01 * math.sqrt(2e-6), rel=1e-15)
    rng = np.random.default_rng(0)
    dens, T, k = read_noise_density(0.02, 1e-6), 1e-6, 200
    dt = T / k
    white = rng.standard_normal((20000, k)) * dens / math.sqrt(2 * dt)  # one-sided S = dens^2
    std = white.mean(axis=1).std(ddof=1)
    assert std == pytest.approx(0.02, rel=0.03)  # 20000 draws: 0.5 % standard error
    with pytest.raises(InvalidInputError, match="t_read_s"):
        read_noise_density(0.01, 0.0)


def _one_unit(tmp_path):
    net = Network((np.array([[0.6]]),), (np.array([-0.2]),), (np.array([1.5]),), ("linear",))
    save_network(net, tmp_path / "net.json")
    (tmp_path / "x.json").write_text("[0.7]")
    return net


def test_cli_noise_with_rram_preset_matches_the_closed_form(tmp_path, capsys):
    """x0 = 0.7 clamped, x1 free on its spring g = pi g0.  The row of x1 carries the
    programmed cells ``G+, G-`` (driven by +-x0) and the bias pair (+-1 V): its prediction
    sees ``S_m = r^2 [(G+^2 + G-^2) x0^2 + Gb+^2 + Gb-^2] / g_unit^2`` (r the density), a
    white input of the low-pass ``C dx = -g (x - m - n)``: ``Var = S_m g / (4C)``."""
    net = _one_unit(tmp_path)
    spec = ANALOG_PRESETS["rram"]
    circ = HardwareNetwork.fabricate(
        net, spec.device, hardware=spec.hardware(), rng=spec.mismatch_seed
    ).circuit(np.array([0.7]), None)
    lay = circ.layers[0]
    gu, tau, C = circ.g_unit(1), circ.tau_s, circ.hardware.c_F
    r2 = 0.01**2 * 2 * tau
    Sm = r2 * ((lay.forward.g_pos_S**2 + lay.forward.g_neg_S**2)[0, 0] * 0.49
               + lay.bias.g_pos_S[0] ** 2 + lay.bias.g_neg_S[0] ** 2) / gu**2  # fmt: skip
    assert lay.forward.g_neg_S[0, 0] > 0  # both devices of the pair are on (g_min > 0)
    expect = math.sqrt(Sm * lay.g_spring_S[0] / (4 * C))
    argv = ["noise", str(tmp_path / "net.json"), "--input", str(tmp_path / "x.json"),
            "--hardware", "rram", "--json"]  # fmt: skip
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["std"][1][0] == pytest.approx(expect, rel=1e-9)
    assert d["noise"]["read_noise_rtHz"] == pytest.approx(0.01 * math.sqrt(2 * tau), rel=1e-15)
    # the ideal preset has no read noise: nothing is noisy
    assert main([*argv[:5], "default", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["std"][1] == [0.0]


def test_sde_matches_lyapunov_with_device_read_noise():
    """A 3-5-2 tanh network programmed into the rram preset, read noise and thermal noise:
    4000 independent SDE draws (exponential scheme: noise gains at the rest point, the
    linear-noise approximation Lyapunov makes too) against Lyapunov, max |z| under the
    Bonferroni bound, the total variance's z likewise; the read noise makes up
    a sizeable part of the variance (the test would see it missing)."""
    import dataclasses

    rng = np.random.default_rng(7)
    sizes = (3, 5, 2)
    W = tuple(rng.normal(0, 1 / np.sqrt(sizes[i]), (sizes[i + 1], sizes[i])) for i in range(2))
    b = tuple(rng.normal(0, 0.2, s) for s in sizes[1:])
    net = Network(W, b, tuple(rng.uniform(0.5, 2, s) for s in sizes[1:]), ("tanh", "tanh"))
    spec = dataclasses.replace(ANALOG_PRESETS["rram"], thermal_noise=True, c_F=1e-13)
    chip = HardwareNetwork.fabricate(net, spec.device, hardware=spec.hardware(), rng=1)
    circ = spec.apply(chip.circuit(rng.normal(size=3), None))
    noisy = with_device_read_noise(circ, spec.device)
    assert noisy.noise.read_noise_rtHz > 0 and noisy.noise.thermal
    S, *_ = lyapunov_noise(noisy)
    S0, *_ = lyapunov_noise(circ)
    assert np.all(np.diag(S[0]) > 1.2 * np.diag(S0[0]))
    N = 4000
    rep = sde_noise(noisy, samples=N, replicas=N, seed=3)
    z = _z_scores(rep.cov[0], S[0], N)
    assert np.abs(z).max() < norm.isf(Z_ALPHA / (2 * z.size)), z
    assert abs(_trace_z(rep.cov[0], S[0], N)) < norm.isf(Z_ALPHA / 2)


def test_read_noise_is_refused_where_it_is_not_modelled(tmp_path, capsys):
    _one_unit(tmp_path)
    (tmp_path / "spec.json").write_text(
        json.dumps({"format": "pc-analog.analog-spec/2", "device": "rram", "wire_r_ohm": 10.0})
    )
    argv = ["noise", str(tmp_path / "net.json"), "--input", str(tmp_path / "x.json"),
            "--hardware", str(tmp_path / "spec.json"), "--level", "crossbar", "--json"]  # fmt: skip
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "read noise" in err


def test_euler_runs_with_read_noise_from_a_start_where_some_sources_are_silent():
    """At the feedforward start every error is 0, so the feedback sums' read noise is 0
    there but not at rest: the euler stepper draws one increment per source column, so
    the column count must not depend on the state (``noise_input(drop_zero=False)``)."""
    from pc_analog.solvers.sde import integrate_sde

    rng = np.random.default_rng(2)
    W = (rng.normal(size=(3, 2)), rng.normal(size=(2, 3)))
    net = Network(W, (np.zeros(3), np.zeros(2)), (np.ones(3), np.ones(2)), ("tanh", "tanh"))
    spec = ANALOG_PRESETS["rram"]
    chip = HardwareNetwork.fabricate(net, spec.device, hardware=spec.hardware(), rng=0)
    circ = with_device_read_noise(spec.apply(chip.circuit(rng.normal(size=2), None)), "rram")
    run = integrate_sde(circ, t_end_s=2 * circ.tau_s, scheme="euler", dt_s=0.05 * circ.tau_s)
    assert run.n_steps == 40 and np.all(np.isfinite(run.final))
    assert np.abs(run.Y[-1] - run.Y[0]).max() > 0
