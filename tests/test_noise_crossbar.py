"""Thermal noise at the crossbar level (issue 12, SPEC section 5): every crossbar cell (both
devices of each differential pair, the bias pair) and every wire segment is a ``4kTG``
current source, beside the springs.

- one free unit between clamps (closed form derived in the test) against Lyapunov;
- the row-port noise ``4kT D`` (Twiss's theorem, used by the solvers) against the sum over
  every cell and wire segment of an explicitly built mesh (an independent nodal solve);
- SDE covariance against Lyapunov, per-entry z-scores with a Bonferroni bound (the
  helpers of ``test_sde``), with wires and finite amplifier gain;
- ngspice (a ``trnoise`` source across every cell, wire and spring resistor of the crossbar
  deck) against Lyapunov, per-unit z-scores likewise;
- noise off at the crossbar level is the crossbar circuit as before, and noise on changes no
  deterministic result.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _oracles import Z_ALPHA, needs_ngspice
from _oracles import trace_z as _trace_z
from _oracles import z_scores as _z_scores
from scipy.stats import norm

from pc_analog.circuit.ir import compile_network
from pc_analog.circuit.noise import K_BOLTZMANN, NoiseSources
from pc_analog.costs.specs import AnalogSpec, apply_analog_spec
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Network
from pc_analog.settling.registry import settle
from pc_analog.solvers._crossbar import port_matrices
from pc_analog.solvers.lyapunov import lyapunov_noise, noise_input
from pc_analog.solvers.sde import sde_noise

KT = K_BOLTZMANN * 300.0
#: Lyapunov against the closed form: measured 1e-16 relative; kept at 1e-10 (as test_noise).
LYAP_RTOL = 1e-10
#: 4kT D against the explicit mesh sum: two dense solves of a ~30-node mesh, measured
#: 3e-15 relative to max |D|; kept at 1e-10.
TWISS_RTOL = 1e-10


def _one_free(w1=1.3, b1=-0.4, w2=-0.8, b2=0.1, pi1=1.0, pi2=2.0):
    net = Network((np.array([[w1]]), np.array([[w2]])), (np.array([b1]), np.array([b2])),
                  (np.array([pi1]), np.array([pi2])), ("linear", "linear"))  # fmt: skip
    return compile_network(net, np.array([0.3]), np.array([0.2]))


@pytest.mark.parametrize(
    "p",
    [dict(), dict(w1=-0.5, b1=0.9, w2=1.7, b2=-0.3, pi1=0.4, pi2=1.5),
     dict(w1=2.0, b1=0.0, w2=0.3, b2=0.0, pi1=3.0, pi2=0.2)],
)  # fmt: skip
def test_one_free_unit_with_cell_noise_closed_form(p):
    """x0, x2 clamped, x1 free, linear, ideal readouts (``m = I_row / g``, ``r = g0/g``).

    Current noise into x1 (one-sided densities, all independent):
    its spring ``4kT pi1 g0``; the forward row of x1 (cells ``g|w1|``, ``g|b1|``) gives
    ``m1`` the noise ``4kT g (|w1| + |b1|) / g^2``, felt through the spring ``pi1 g0``; the
    forward row of the clamped x2 (``g(|w2| + |b2|)``) corrupts ``e2 = x2 - m2`` and so the
    feedback current ``g0 w2 pi2 e2``; the feedback row of x1 (cell ``g|w2|``) adds
    ``4kT |w2| / g`` to ``s1``, felt as ``g0 s1``.  Total
    ``S_I = 4kT [pi1 g0 + g0 r (pi1^2 (|w1|+|b1|) + pi2^2 w2^2 (|w2|+|b2|) + |w2|)]`` on the
    relaxation ``C dx = -g0 (pi1 + pi2 w2^2) x dt``, so
    ``Var = S_I / (4 C g0 (pi1 + pi2 w2^2))``.  Both devices of a pair count: ``|w|`` is
    ``G+ + G-`` of a minimal pair."""
    w1, b1, w2, b2 = (p.get(k, d) for k, d in zip(("w1", "b1", "w2", "b2"), (1.3, -0.4, -0.8, 0.1)))
    pi1, pi2 = p.get("pi1", 1.0), p.get("pi2", 2.0)
    circ = apply_analog_spec(_one_free(w1, b1, w2, b2, pi1, pi2),
                             AnalogSpec(thermal_noise=True), level="crossbar")  # fmt: skip
    S, *_ = lyapunov_noise(circ)
    r = 1e-6 / 1e-5
    cells = pi1**2 * (abs(w1) + abs(b1)) + pi2**2 * w2**2 * (abs(w2) + abs(b2)) + abs(w2)
    expect = KT / 1e-12 * (pi1 + r * cells) / (pi1 + pi2 * w2**2)
    np.testing.assert_allclose(S[0, 0, 0], expect, rtol=LYAP_RTOL)
    # the behavioural level has the spring alone: kT/C pi1 / (pi1 + pi2 w2^2)
    Sb, *_ = lyapunov_noise(
        apply_analog_spec(_one_free(w1, b1, w2, b2, pi1, pi2), AnalogSpec(thermal_noise=True))
    )
    np.testing.assert_allclose(Sb[0, 0, 0], KT / 1e-12 * pi1 / (pi1 + pi2 * w2**2), rtol=LYAP_RTOL)


def test_differential_pair_counts_both_devices():
    """A weight stored as ``G+ = g (w + d)``, ``G- = g d`` (common mode ``d``) computes the
    same ``w`` but its row carries ``4kT g (w + 2d)``: the noise grows with the common mode
    while the deterministic circuit is unchanged."""
    base = apply_analog_spec(_one_free(), AnalogSpec(thermal_noise=True), level="crossbar")
    lay = base.layers[1]
    d = 0.5 * 1e-5
    fb = dataclasses.replace(lay.feedback, g_pos_S=lay.feedback.g_pos_S + d,
                             g_neg_S=lay.feedback.g_neg_S + d)  # fmt: skip
    circ = dataclasses.replace(base, layers=(base.layers[0], dataclasses.replace(lay, feedback=fb)))
    np.testing.assert_allclose(circ.feedback_weights(2), base.feedback_weights(2), atol=1e-15)
    S0, *_ = lyapunov_noise(base)
    S1, *_ = lyapunov_noise(circ)
    # the feedback row of x1 gains 4kT 2d, felt as g0 s1: Var += 2kT 2d g0^2/g^2 / (2 C G_eff)
    geff = 1e-6 * (1.0 + 2.0 * 0.64)
    extra = 4 * KT * 2 * 0.5 * (1e-6 / 1e-5) ** 2 * 1e-5 / (4 * 1e-12 * geff)
    np.testing.assert_allclose(S1[0, 0, 0] - S0[0, 0, 0], extra, rtol=1e-9)


def _mesh_row_noise(G, r_w, kT):
    """Row-port short-circuit noise covariance of a crossbar by brute force: build the
    mesh (the wires module's layout: column ``k`` runs from its driver through taps
    ``c[0..J-1, k]``, row ``j`` from taps ``q[j, 0..K-1]`` to its port; cell ``(j, k)``
    joins ``c[j, k]`` and ``q[j, k]``), ground the ports, and add up
    ``4kT g h h^T`` over every cell and segment, ``h`` the port currents of a unit source
    across that element."""
    J, K = G.shape
    gw = 1.0 / r_w
    c = lambda j, k: j * K + k  # noqa: E731
    q = lambda j, k: J * K + j * K + k  # noqa: E731
    n = 2 * J * K
    edges = []  # (node a, node b or ("col", k) / ("row", j), conductance)
    for k in range(K):
        edges.append((c(0, k), ("col", k), gw))
        for j in range(J - 1):
            edges.append((c(j, k), c(j + 1, k), gw))
    for j in range(J):
        for k in range(K - 1):
            edges.append((q(j, k), q(j, k + 1), gw))
        edges.append((q(j, K - 1), ("row", j), gw))
        for k in range(K):
            if G[j, k] > 0:
                edges.append((c(j, k), q(j, k), G[j, k]))
    Y = np.zeros((n, n))
    for a, b, g in edges:
        Y[a, a] += g
        if isinstance(b, int):
            Y[b, b] += g
            Y[a, b] -= g
            Y[b, a] -= g
    Yinv = np.linalg.inv(Y)
    cov = np.zeros((J, J))
    for a, b, g in edges:
        inj = np.zeros(n)
        inj[a] -= 1.0
        h = np.zeros(J)
        if isinstance(b, int):
            inj[b] += 1.0
        elif b[0] == "row":
            h[b[1]] += 1.0  # the source delivers straight into the port
        v = Yinv @ inj
        for a2, b2, g2 in edges:  # current from the mesh into each row port
            if isinstance(b2, tuple) and b2[0] == "row":
                h[b2[1]] += g2 * v[a2]
        cov += 4.0 * kT * g * np.outer(h, h)
    return cov


@pytest.mark.parametrize("r_w", [10.0, 3000.0])
def test_row_noise_is_four_kT_D_of_the_port_admittance(r_w):
    """Twiss's theorem on the crossbar mesh: the element-by-element sum equals 4kT D with
    D from the solvers' block elimination (:func:`port_matrices`)."""
    rng = np.random.default_rng(1)
    G = 1e-5 * rng.uniform(0, 1.5, (3, 6)) * (rng.uniform(size=(3, 6)) > 0.3)
    _, D = port_matrices(G, r_w)
    np.testing.assert_allclose(4 * KT * D, _mesh_row_noise(G, r_w, KT),
                               rtol=0, atol=TWISS_RTOL * 4 * KT * np.abs(D).max())  # fmt: skip


def _network(seed, act, sizes=(2, 3, 2)):
    rng = np.random.default_rng(seed)
    W = tuple(rng.normal(0, 1 / np.sqrt(sizes[i]), (sizes[i + 1], sizes[i]))
              for i in range(len(sizes) - 1))  # fmt: skip
    b = tuple(rng.normal(0, 0.2, s) for s in sizes[1:])
    pis = tuple(rng.uniform(0.5, 2.0, s) for s in sizes[1:])
    net = Network(W, b, pis, (act,) * (len(sizes) - 1))
    return net, rng.normal(size=sizes[0]), rng.normal(0, 0.3, sizes[-1])


SPECS = {
    "ideal": AnalogSpec(thermal_noise=True),
    "wires": AnalogSpec(thermal_noise=True, wire_r_ohm=2000.0),
    "wires+gain": AnalogSpec(
        thermal_noise=True, wire_r_ohm=1000.0, amp_gain=300.0, amp_offset_V=0.01, mismatch_seed=3
    ),  # fmt: skip
}


@pytest.mark.parametrize(("seed", "act", "spec", "target"),
                         [(0, "linear", "wires", True), (1, "tanh", "wires+gain", False),
                          (2, "tanh", "ideal", True)])  # fmt: skip
def test_sde_covariance_matches_lyapunov_at_crossbar_level(seed, act, spec, target):
    """4000 independent SDE draws of every free unit against Lyapunov: max |z| under the
    Bonferroni bound of family-wise level 1e-3 (as ``test_sde``) and the total variance's
    z under the two-sided 1e-3 bound (:func:`_trace_z`);
    the cells make up a sizeable part of the noise (checked against the spring-only
    covariance, so the test would see them missing)."""
    net, x, y = _network(seed, act, (3, 5, 4, 2))
    circ = apply_analog_spec(compile_network(net, x, y if target else None), SPECS[spec],
                             level="crossbar")  # fmt: skip
    S, *_ = lyapunov_noise(circ)
    springs = dataclasses.replace(circ, crossbar=None) if spec == "ideal" else None
    if springs is not None:
        Sb, *_ = lyapunov_noise(springs)
        assert np.all(np.diag(S[0]) > 1.1 * np.diag(Sb[0]))
    N = 4000
    rep = sde_noise(circ, samples=N, replicas=N, seed=seed + 50)
    z = _z_scores(rep.cov[0], S[0], N)
    assert np.abs(z).max() < norm.isf(Z_ALPHA / (2 * z.size)), z
    assert abs(_trace_z(rep.cov[0], S[0], N)) < norm.isf(Z_ALPHA / 2)


@needs_ngspice
@pytest.mark.parametrize(
    ("case", "spec", "samples"),
    [("one", "ideal", 400), ("one", "wires", 400), ("net", "wires", 120)],
)
def test_ngspice_trnoise_on_every_resistor_matches_lyapunov(case, spec, samples):
    """A ``trnoise`` current source across every cell, wire and spring resistor of the
    crossbar deck: each free unit's variance against Lyapunov with the theory's standard
    error, z under the Bonferroni bound (family-wise 1e-3).  The one-free-unit case is the
    closed form above (wires of 2 kOhm move it by 2 %)."""
    from pc_analog.spice.noise import ngspice_noise

    if case == "one":
        circ = apply_analog_spec(_one_free(), SPECS[spec], level="crossbar")
    else:
        net, x, y = _network(4, "tanh")
        circ = apply_analog_spec(compile_network(net, x, y), SPECS[spec], level="crossbar")
    S, *_ = lyapunov_noise(circ)
    rep = ngspice_noise(circ, samples=samples, seed=5)
    se = np.array(rep.stats["variance_se"])
    z = (np.diag(rep.cov[0]) - np.diag(S[0])) / se
    assert np.abs(z).max() < norm.isf(Z_ALPHA / (2 * z.size)), z
    assert np.all(se < 0.15 * np.diag(S[0]))


def test_trnoise_deck_has_a_source_per_resistor():
    from pc_analog.spice.noise import noise_deck

    net, x, y = _network(4, "tanh")
    circ = apply_analog_spec(compile_network(net, x, y), SPECS["wires"], level="crossbar")
    deck = noise_deck(circ, t_stop_s=1e-6, noise_step_s=1e-9, seed=2, x_rest=circ.x_init)
    lines = deck.splitlines()
    res = [ln.split()[0] for ln in lines if ln[:2] in ("Rs", "Rw", "Rb", "Rk")]
    src = [ln.split()[0] for ln in lines if ln.startswith("In")]
    assert len(res) > 50 and sorted(src) == sorted("I" + "n" + r[1:] for r in res)
    assert not any(ln.startswith("InRf") or ln.startswith("Inf") for ln in lines)
    assert any("seed=2" in ln for ln in lines if ln.startswith(".options"))


def test_noise_off_is_the_crossbar_circuit_and_noise_changes_no_deterministic_result():
    """Thermal noise off at the crossbar level: the very circuit of before (same IR fields,
    the same deterministic results bit for bit); noise on: only the noise sources are added,
    the rest point and an ode transient are unchanged bit for bit."""
    net, x, y = _network(3, "tanh")
    circ = compile_network(net, x, y)
    for spec in SPECS.values():
        off = dataclasses.replace(spec, thermal_noise=False)
        quiet = apply_analog_spec(circ, off, level="crossbar")
        noisy = apply_analog_spec(circ, spec, level="crossbar")
        assert quiet.noise is None and noisy.noise is not None
        assert noise_input(quiet, quiet.x_init).shape[2] == 0
        if spec.wire_r_ohm == 0:
            assert quiet is circ and quiet.crossbar is None  # ideal: no crossbar model at all
        for backend in ("equilibrium", "ode"):
            a = settle(quiet, backend=backend)
            b = settle(noisy, backend=backend)
            for u, v in zip(a.x, b.x):
                assert np.array_equal(u, v)


def test_sde_noise_off_at_crossbar_level_equals_ode():
    net, x, y = _network(5, "linear")
    circ = apply_analog_spec(compile_network(net, x, y), AnalogSpec(wire_r_ohm=2000.0),
                             level="crossbar")  # fmt: skip
    res = settle(circ, backend="sde", dt_s=0.37 * circ.tau_s, on_failure="raise")
    ode = settle(circ, backend="ode")
    for u, v in zip(res.x, ode.x):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-7)


def test_crossbar_level_refuses_amplifier_and_read_noise():
    circ = _one_free()
    with pytest.raises(InvalidInputError, match="amp_noise_V_rtHz"):
        apply_analog_spec(circ, AnalogSpec(amp_noise_V_rtHz=1e-8), level="crossbar")
    xb = apply_analog_spec(circ, AnalogSpec(thermal_noise=True), level="crossbar")
    for noise in (NoiseSources(thermal=True, amp_noise_V_rtHz=1e-8),
                  NoiseSources(read_noise_rtHz=1e-4)):  # fmt: skip
        with pytest.raises(InvalidInputError, match="crossbar level"):
            lyapunov_noise(dataclasses.replace(xb, noise=noise))


def test_every_cell_and_wire_segment_owns_4kTG():
    """The element inventory at the crossbar level: each cell and wire segment carries
    ``4kTG`` (the sources the solvers reduce and the deck lists one by one)."""
    from pc_analog.circuit.noise import element_noise_psd

    circ = apply_analog_spec(_one_free(), SPECS["wires"], level="crossbar")
    inv = circ.inventory("crossbar").by_kind
    assert len(inv["wire_segments"]) > 10 and len(inv["crossbar_cells"]) >= 3
    for e in inv["wire_segments"] + inv["crossbar_cells"]:
        assert element_noise_psd(e, circ.noise) == pytest.approx(4 * KT * e.g_S, rel=1e-15, abs=0)
    assert all(e.g_S == pytest.approx(1 / 2000.0) for e in inv["wire_segments"])
