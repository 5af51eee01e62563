"""Stability of the circuit linearised at its rest point, and the GBW bound (issue 11 item 3).

Oracles: finite differences of the pole system's vector field (eigenvalues of the FD
Jacobian), the closed-form characteristic polynomial and Routh-Hurwitz bound of one free
unit (:mod:`pc_analog.solvers.stability`), the Hessian for the ideal circuit, and the
transients themselves (ode and ngspice) just below and just above the bound.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from _oracles import needs_ngspice

import pc_analog as pa
from pc_analog.circuit.amplifiers import draw_amplifiers
from pc_analog.circuit.ir import compile_network
from pc_analog.model.energy import dense_hessian
from pc_analog.solvers._poles import PoleLayout, amp_states_at_rest, rates
from pc_analog.solvers.base import Status
from pc_analog.solvers.equilibrium import EquilibriumBackend
from pc_analog.solvers.ode import OdeBackend
from pc_analog.solvers.stability import (
    StabilityReport,
    _active,
    one_unit_gbw_bound,
    stability,
)
from pc_analog.spice.backend import NgspiceBackend

#: Eigenvalues of the analytic linearisation vs those of the central-difference Jacobian
#: (step 1e-7 V), relative to the largest |lambda|: measured ~1e-9.
EIG_RTOL = 1e-6
#: Closed-form roots vs the report's eigenvalues, relative to the largest |lambda|
#: (numpy eigvals / roots round-off; measured ~1e-15).
CLOSED_RTOL = 1e-9
#: Numerical GBW bound (60 bisections) vs the Routh-Hurwitz closed form: measured 1e-9.
BOUND_RTOL = 1e-6


def _sorted(ev):
    ev = np.asarray(ev)
    return ev[np.lexsort((ev.imag, ev.real))]


def _random(seed, act="tanh", gbw=3e6, rail=0.6, batch=2):
    net = pa.Network.random([3, 4, 5, 2], act, seed=seed)
    rng = np.random.default_rng(seed)
    c = compile_network(net, rng.uniform(-1, 1, (batch, 3)), rng.uniform(-1, 1, (batch, 2)))
    amps = draw_amplifiers(
        c.sizes, open_loop_gain=40.0, offset_V=0.02, rail_V=rail, gbw_Hz=gbw, seed=seed,
        phi_gain_error=0.05, phi_offset_V=0.02, dphi_gain_error=0.05, dphi_offset_V=0.02,
    )  # fmt: skip
    return dataclasses.replace(c, amplifiers=amps)


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_eigenvalues_match_the_finite_difference_jacobian(act):
    """The report's eigenvalues are those of the FD Jacobian of the full pole system at
    rest, less the decoupled states it leaves out (saturated stages: ``-leak/tau_a``;
    feedback sums into clamped units: ``-(1 + leak)/tau_a``)."""
    c = _random(3, act=act)
    rep = stability(c, bound=False)
    lay = PoleLayout(c)
    x = rep.x_rest
    W = amp_states_at_rest(c, x)
    keep = _active(c, lay, x, W)
    # the kept states, counted independently: free nodes, every amplifier off its rail
    # except the feedback sums into clamped units
    clipped = np.abs(W) >= c.amplifiers.rail_V
    into_clamped = np.zeros(lay.n_w, dtype=bool)
    for l in range(c.n_layers):
        s = lay.s[l]
        into_clamped[s.start - lay.n_x : s.stop - lay.n_x] = c.clamp.masks[l]
    assert clipped.any() and into_clamped.any()
    assert np.array_equal(keep[:, lay.n_x :], ~clipped & ~into_clamped[None])
    n_free = sum(int(f.sum()) for f in c.clamp.free)
    for b in range(c.batch):
        assert rep.eigenvalues[b].size == n_free + int((~clipped[b] & ~into_clamped).sum())
    C, tau_a = c.hardware.c_F, c.amplifiers.tau_a_s
    free = np.concatenate([np.flatnonzero(f) + lay.x[l].start for l, f in enumerate(c.clamp.free)])
    rows = np.concatenate([free, np.arange(lay.n_x, lay.n)])

    def field(b, z):
        xs = [v[b : b + 1].copy() for v in x]
        for k, idx in enumerate(rows[: free.size]):
            l = next(i for i, s in enumerate(lay.x) if s.start <= idx < s.stop)
            xs[l][0, idx - lay.x[l].start] = z[k]
        I, dW = rates(c, lay, tuple(xs), z[free.size :][None])
        dx = np.concatenate([v / C for v in I], axis=1)[0, free]
        return np.concatenate([dx, dW[0]])

    h = 1e-7
    for b in range(c.batch):
        z0 = np.concatenate([np.concatenate(x, axis=1)[b, free], W[b]])
        J = np.empty((z0.size, z0.size))
        for k in range(z0.size):
            e = np.zeros_like(z0)
            e[k] = h
            J[:, k] = (field(b, z0 + e) - field(b, z0 - e)) / (2 * h)
        full = np.linalg.eigvals(J)
        leak = 1 / c.amplifiers.open_loop_gain
        clipped = ~keep[b, lay.n_x :] & (np.abs(W[b]) >= c.amplifiers.rail_V)
        dropped = np.where(clipped, -leak / tau_a, -(1 + leak) / tau_a)[~keep[b, lay.n_x :]]
        want = _sorted(np.concatenate([rep.eigenvalues[b], dropped]))
        scale = np.abs(full).max()
        assert np.abs(_sorted(full) - want).max() <= EIG_RTOL * scale


def test_ideal_circuit_eigenvalues_are_the_hessian_ones():
    net = pa.Network.random([3, 5, 2], "tanh", seed=1)
    c = compile_network(net, np.array([[0.2, -0.4, 0.6]]), np.array([[0.1, -0.3]]))
    rep = stability(c)
    x = EquilibriumBackend().settle(c).x
    free = np.concatenate(c.clamp.free)
    H = dense_hessian(net, x)[0][np.ix_(free, free)]
    want = -c.hardware.g0_S / c.hardware.c_F * np.linalg.eigvalsh(H)
    assert rep.stable and rep.gbw_Hz is None
    got = np.sort(rep.eigenvalues[0].real)
    assert np.abs(got - np.sort(want)).max() <= CLOSED_RTOL * np.abs(want).max()
    assert np.all(rep.eigenvalues[0].imag == 0) and rep.worst_damping_ratio == 1.0
    assert rep.slowest_decay_per_s == pytest.approx(-want.max(), rel=1e-12)


# ------------------------------------------------------------------ one free unit
def _one_unit(gbw, A0=1e3, rail=None, w2=3.0, pi=(1.0, 2.0), blocks=(0.05, 0.02, 0.08, 0.03)):
    net = pa.Network(([[1.3]], [[w2]]), ([0.1], [0.2]), pi, ("linear", "linear"))
    c = compile_network(net, np.array([[0.7]]), np.array([[-0.4]]))
    g, o, dg, do = blocks
    amps = draw_amplifiers(
        c.sizes, open_loop_gain=A0, offset_V=0.01, rail_V=rail, gbw_Hz=gbw, seed=1,
        phi_gain_error=g, phi_offset_V=o, dphi_gain_error=dg, dphi_offset_V=do,
    )  # fmt: skip
    return dataclasses.replace(c, amplifiers=amps)


def _loop(c):
    """``(a, K)`` of the one-unit closed form (module docstring of solvers.stability)."""
    A = c.amplifiers
    a = A.closed_loop_gain
    w2, p2 = c.forward_weights(2)[0, 0], c.precisions(2)[0]
    g1 = A.block("phi_gain", 1, 1)[0]
    d = 1 + A.block("dphi_gain", 1, 1)[0] + A.block("dphi_offset", 1, 1)[0]
    return a, a**3 * p2 * w2 * w2 * (1 + g1) * d


@pytest.mark.parametrize("gbw", [1e6, 3e6, 1e8])
def test_one_unit_eigenvalues_match_the_characteristic_polynomial(gbw):
    """``(s T + pi1)(1 + s a tau_a)^3 + K = 0`` plus the two stages that drive nothing back
    (``m1`` from the clamped input, ``e1`` into the clamped input's feedback): ``-1/(a tau_a)``."""
    c = _one_unit(gbw)
    rep = stability(c, bound=False)
    a, K = _loop(c)
    T, ta = c.tau_s, a * c.amplifiers.tau_a_s
    p1 = c.precisions(1)[0]
    # (T s + p1)(1 + ta s)^3 + K, highest power first
    cube = np.array([ta**3, 3 * ta**2, 3 * ta, 1.0])
    poly = np.polyadd(np.polymul([T, p1], cube), [K])
    want = _sorted(np.concatenate([np.roots(poly), [-1 / ta, -1 / ta]]))
    got = _sorted(rep.eigenvalues[0])
    assert got.size == 6
    assert np.abs(got - want).max() <= CLOSED_RTOL * np.abs(want).max()
    assert rep.stable == bool(np.roots(poly).real.max() < 0)


def test_gbw_bound_matches_the_routh_hurwitz_closed_form():
    c = _one_unit(1e7)
    rep = stability(c)
    a, K = _loop(c)
    want = one_unit_gbw_bound(c.precisions(1)[0], K, c.tau_s, a)
    assert 1e6 < want < 1e7  # in the grid's interior, above the node bandwidth
    assert rep.stable and rep.gbw_bound_Hz == pytest.approx(want, rel=BOUND_RTOL)
    # the polynomial has a root on the imaginary axis at the bound
    at = stability(_one_unit(want), bound=False)
    assert abs(at.max_real_per_s) <= 1e-6 * np.abs(at.eigenvalues[0]).max()
    # a weak loop (K < 8 pi1 here too) is stable at every GBW
    weak = stability(_one_unit(1e7, w2=0.3))
    assert weak.gbw_bound_Hz == 0.0 and "stable at every GBW" in weak.message


@needs_ngspice
@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_gbw_bound_separates_oscillation_from_settling_on_both_backends(factor):
    """Just below the bound both transients ring up away from the rest point; just above
    it both settle (judged on the trajectories, not only on the stability verdict)."""
    bound = stability(_one_unit(1e7)).gbw_bound_Hz
    c = _one_unit(factor * bound)
    x1 = EquilibriumBackend().settle(c, on_failure="raise").x[1][0, 0]
    horizon = (18 if factor < 1 else 45) * c.tau_s
    od = OdeBackend(t_max_s=horizon, rtol=1e-6, atol=1e-9).settle(c, on_failure="return")
    tr = NgspiceBackend(analysis="tran", t_stop_s=horizon).settle(c, on_failure="return")
    for res in (od, tr):
        t, d = res.t, np.abs(res.trajectory[1][:, 0, 0] - x1)
        if factor < 1:
            assert res.status is Status.UNSTABLE and np.isnan(res.settling_time_s).all()
            assert "eigenvalue with Re" in res.message
            assert d[t >= 0.75 * t[-1]].max() > 10 * d[0]  # the oscillation grew
        else:
            assert res.success and np.isfinite(res.settling_time_s).all()
            assert d[-1] <= 1e-3 * d[0]


# ------------------------------------------------------------------ report and CLI
def test_report_is_frozen_and_serialisable():
    rep = stability(_random(0))
    assert isinstance(rep, StabilityReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.stable = False  # type: ignore[misc]
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["stable"] is rep.stable and len(d["eigenvalues"]) == 2
    assert d["eigenvalues"][0][0] == [rep.eigenvalues[0][0].real, rep.eigenvalues[0][0].imag]


@pytest.fixture
def files(tmp_path):
    from pc_analog.io.formats import network_to_dict

    net = pa.Network(([[1.3]], [[3.0]]), ([0.1], [0.2]), (1.0, 2.0), ("linear", "linear"))
    out = {"dir": tmp_path}
    for name, obj in {
        "one.json": network_to_dict(net),
        "x.json": [0.7],
        "y.json": [-0.4],
        "fast.json": {"format": "pc-analog.analog-spec/2", "amp_gain": 1000, "amp_gbw_Hz": 1e7},
        "slow.json": {"format": "pc-analog.analog-spec/2", "amp_gain": 1000, "amp_gbw_Hz": 2e6},
        "zero.json": {"format": "pc-analog.analog-spec/2", "amp_gbw_Hz": 0},
        "neg.json": {"format": "pc-analog.analog-spec/2", "phi_gain_error": -0.1},
    }.items():
        (tmp_path / name).write_text(json.dumps(obj))
        out[name] = str(tmp_path / name)
    return out


def _cli(capsys, argv):
    from pc_analog.cli.main import main

    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("spec", ["fast.json", "slow.json"])
def test_cli_stability_json_matches_the_library(capsys, files, spec):
    f = files
    rc, out, err = _cli(capsys, ["stability", f["one.json"], "--input", f["x.json"], "--target",
                                 f["y.json"], "--hardware", f[spec], "--json"])  # fmt: skip
    assert rc == 0 and err == ""
    d = json.loads(out)
    from pc_analog.costs.specs import load_analog_spec

    net = pa.Network(([[1.3]], [[3.0]]), ([0.1], [0.2]), (1.0, 2.0), ("linear", "linear"))
    c = load_analog_spec(f[spec]).apply(compile_network(net, np.array([[0.7]]), np.array([[-0.4]])))
    rep = stability(c)
    assert d["stable"] is rep.stable and d["stable"] is (spec == "fast.json")
    assert d["gbw_bound_Hz"] == rep.gbw_bound_Hz and 2e6 < d["gbw_bound_Hz"] < 1e7
    assert np.allclose(np.array(d["eigenvalues"]), [[z.real, z.imag] for z in rep.eigenvalues[0]])


def test_cli_settle_of_an_unstable_circuit_exits_3_with_the_reason(capsys, files):
    f = files
    rc, out, err = _cli(capsys, ["settle", f["one.json"], "--input", f["x.json"], "--target",
                                 f["y.json"], "--hardware", f["slow.json"], "--backend", "ode",
                                 "--json"])  # fmt: skip
    assert rc == 3 and "unstable" in err and "eigenvalue with Re" in err
    d = json.loads(out)
    assert d["converged"] is False and d["settling_time_s"] is None


@pytest.mark.parametrize(("spec", "message"), [
    ("zero.json", "analog.amp_gbw_Hz: must be a finite number > 0"),
    ("neg.json", "analog.phi_gain_error: must be a finite number >= 0"),
    ("nosuch.json", "nosuch.json"),
])  # fmt: skip
def test_cli_stability_bad_input_exits_2_with_one_line(capsys, files, spec, message):
    f = files
    spec = f.get(spec, str(f["dir"] / spec))
    rc, out, err = _cli(capsys, ["stability", f["one.json"], "--input", f["x.json"],
                                 "--hardware", spec, "--json"])  # fmt: skip
    assert rc == 2 and message in err and err.count("\n") == 1 and out == ""


def test_unstable_circuit_never_reports_a_settling_time_in_the_library():
    c = _one_unit(2e6)
    assert not stability(c, bound=False).stable
    res = OdeBackend(t_max_s=5 * c.tau_s).settle(c, on_failure="return")
    assert res.status is Status.UNSTABLE and np.isnan(res.settling_time_s).all()
    assert math.isnan(float(res.settling_time_s[0]))
