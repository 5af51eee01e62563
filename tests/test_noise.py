"""Noise sources and linear-noise theory (issue 12): closed forms and independent oracles.

- a single RC node (one free unit on its spring): ``kT/C`` exactly, for any conductance;
- one free unit between clamped layers: ``kT/C * pi1 / (pi1 + pi2 w^2)`` (DESIGN "Noise");
- amplifier noise of one unit: an RC low-pass of white input, ``e_n^2 g / (4 C)``, and the
  three stages of a free input unit (closed form in the test);
- the noise gains ``B`` against finite differences of the KCL in the amplifier offsets
  (the amplifier noise *is* a time-varying offset), with non-ideal gain;
- the Hebbian update's variance (Isserlis) against Monte Carlo draws from ``N(x*, Sigma)``;
- the spec fields reach the IR; bad values are refused with their name.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _oracles import random_network

from pc_analog.circuit.amplifiers import Amplifiers
from pc_analog.circuit.ir import Hardware, compile_network
from pc_analog.circuit.noise import K_BOLTZMANN, NoiseSources, element_noise_psd, with_noise
from pc_analog.costs.specs import AnalogSpec
from pc_analog.errors import InvalidInputError
from pc_analog.model.network import Network
from pc_analog.solvers.dynamics import FreeIndex, node_currents
from pc_analog.solvers.lyapunov import (
    effective_bits,
    lyapunov_noise,
    noise_input,
    noise_report,
    rest_point,
)

#: Lyapunov (scipy's Bartels-Stewart) against a closed form: measured <= 3e-15 relative on
#: the one- and two-unit circuits; kept at 1e-10.
LYAP_RTOL = 1e-10
#: Noise gains B B^T against central differences of the KCL in the offsets (step 1e-7 V):
#: measured 2e-9 relative; kept at 1e-6.
GAIN_FD_RTOL = 1e-6
KT = K_BOLTZMANN * 300.0


def _net(ws, pis, acts=None, bs=None):
    ws = tuple(np.atleast_2d(np.asarray(w, float)) for w in ws)
    bs = bs or tuple(np.zeros(w.shape[0]) for w in ws)
    pis = tuple(np.full(w.shape[0], float(p)) for w, p in zip(ws, pis))
    return Network(ws, bs, pis, acts or ("linear",) * len(ws))


@pytest.mark.parametrize("c_F", [10e-15, 1e-12, 10e-12])
@pytest.mark.parametrize("pi", [0.3, 2.0])
def test_single_rc_node_is_kT_over_C(c_F, pi):
    net = _net([[0.7]], [pi])
    circ = compile_network(net, np.array([0.3]), hardware=Hardware(c_F=c_F))
    circ = with_noise(circ, NoiseSources(thermal=True))
    S, J, G, status, _ = lyapunov_noise(circ)
    assert status.success
    np.testing.assert_allclose(S[0, 0, 0], KT / c_F, rtol=LYAP_RTOL)
    # the anchors: 64 uV at 1 pF, 644 uV at 10 fF (300 K)
    if c_F in (1e-12, 10e-15):
        assert np.sqrt(S[0, 0, 0]) == pytest.approx({1e-12: 64.4e-6, 10e-15: 644e-6}[c_F], rel=2e-3)


@pytest.mark.parametrize(("pi1", "pi2", "w"), [(1.0, 1.0, 1.0), (2.0, 0.5, 1.5), (0.5, 3.0, -2.0)])
def test_one_free_unit_is_cooled_by_its_feedback(pi1, pi2, w):
    """x1 free between clamped x0 and x2 (linear):
    C dx1 = -g0 (pi1 + pi2 w^2) x1 dt + sqrt(2 kT pi1 g0) dW (only the lower spring ends on x1;
    the upper spring ``pi2 g0`` joins x2 (a clamp) to its prediction source: it moves no node
    and is not built), so Var = kT/C * pi1 / (pi1 + pi2 w^2)."""
    net = _net([[1.3], [w]], [pi1, pi2])
    circ = compile_network(net, np.array([0.3]), np.array([0.2]))
    circ = with_noise(circ, NoiseSources(thermal=True, temperature_K=77.0))
    S, *_ = lyapunov_noise(circ)
    kT = K_BOLTZMANN * 77.0
    np.testing.assert_allclose(S[0, 0, 0], kT / 1e-12 * pi1 / (pi1 + pi2 * w * w), rtol=LYAP_RTOL)


def test_amplifier_noise_of_one_unit_is_a_low_pass():
    """Only the prediction stage's noise reaches the free x1 (the error buffer and the
    feedback sum feed the clamped x0): C dx = -g (x - m - v_n) dt, a low-pass of white input
    of density e_n^2, Var = e_n^2 g / (4 C)."""
    en, pi = 30e-9, 1.7
    circ = compile_network(_net([[0.7]], [pi]), np.array([0.3]))
    circ = with_noise(circ, NoiseSources(amp_noise_V_rtHz=en))
    S, *_ = lyapunov_noise(circ)
    np.testing.assert_allclose(S[0, 0, 0], en**2 * pi * 1e-6 / (4 * 1e-12), rtol=LYAP_RTOL)


def test_amplifier_noise_of_a_free_input_unit():
    """x0 free (no spring), x1 clamped (the generative direction): its current is
    g0 w pi (x1 - w x0 - v_p + v_e) + g0 v_s, so
    C dx0 = -g0 w^2 pi x0 dt + g0 sqrt(e_n^2/2) (w pi (dW_e - dW_p) + dW_s) and
    Var = g0 e_n^2 (2 w^2 pi^2 + 1) / (4 C w^2 pi)."""
    en, pi, w = 20e-9, 1.5, 0.8
    net = _net([[w]], [pi])
    from pc_analog.model.network import Clamp

    clamp = Clamp((np.array([False]), np.array([True])))
    vals = (np.zeros((1, 1)), np.array([[0.4]]))
    circ = compile_network(net, clamp=clamp, values=vals)
    circ = with_noise(circ, NoiseSources(amp_noise_V_rtHz=en))
    S, *_ = lyapunov_noise(circ)
    g0, C = 1e-6, 1e-12
    expect = g0 * en**2 * (2 * w * w * pi * pi + 1) / (4 * C * w * w * pi)
    np.testing.assert_allclose(S[0, 0, 0], expect, rtol=LYAP_RTOL)
    # thermal noise alone: no spring on x0, so no thermal noise at all
    S0, *_ = lyapunov_noise(with_noise(circ, NoiseSources(thermal=True)))
    assert S0[0, 0, 0] == 0.0


def _offset_fd_gram(circ, x, h=1e-7):
    """sum_k (dI/do_k)(dI/do_k)^T / 2 over every amplifier offset, by central differences."""
    amps = circ.amplifiers
    fi = FreeIndex(circ)
    cols = []
    for name in ("offset_pred", "offset_err", "offset_fb"):
        arrs = getattr(amps, name)
        for l, arr in enumerate(arrs):
            for k in range(arr.size):
                out = []
                for sgn in (1, -1):
                    new = [a.copy() for a in arrs]
                    new[l][k] += sgn * h
                    c2 = dataclasses.replace(
                        circ, amplifiers=dataclasses.replace(amps, **{name: tuple(new)})
                    )
                    out.append(fi.pack(node_currents(c2, x)))
                cols.append((out[0] - out[1]) / (2 * h))
    D = np.array(cols).T  # (n_free, n_offsets)
    return D @ D.T / 2.0


@pytest.mark.parametrize("act", ["linear", "tanh"])
def test_amplifier_noise_gains_match_offset_derivatives(act):
    """Amplifier noise is a time-varying input offset: B B^T (e_n = 1) equals the Gram
    matrix of dI/d(offset) / sqrt(2) from finite differences of the KCL, with finite gain,
    offsets and a rail (off the rail at the rest point)."""
    rng = np.random.default_rng(3)
    net = random_network(rng, [3, 4, 2], act)
    circ = compile_network(net, rng.normal(size=3), rng.normal(size=2) * 0.3)
    amps = Amplifiers(
        200.0, 50.0,
        tuple(rng.normal(0, 1e-3, n) for n in (4, 2)),
        tuple(rng.normal(0, 1e-3, n) for n in (4, 2)),
        tuple(rng.normal(0, 1e-3, n) for n in (3, 4)),
    )  # fmt: skip
    circ = dataclasses.replace(circ, amplifiers=amps)
    circ = with_noise(circ, NoiseSources(amp_noise_V_rtHz=1.0))
    x, ok = rest_point(circ)
    assert ok
    G = noise_input(circ, x)[0]
    gram = _offset_fd_gram(circ, x)
    np.testing.assert_allclose(
        G @ G.T, gram, rtol=GAIN_FD_RTOL, atol=GAIN_FD_RTOL * np.abs(gram).max()
    )


def test_read_noise_adds_the_row_sums_of_its_cells():
    """Device read noise of one cell G w on a column driven at v: the row's stage sees
    r^2 (w v)^2 extra; with the bias cell (b at 1 V): r^2 (w^2 v^2 + b^2).  One unit:
    Var = r^2 (w^2 v^2 + b^2) g / (4C), the low-pass of the amplifier test."""
    w, b, v, r, pi = 0.7, 0.2, 0.3, 1e-6, 1.0
    circ = compile_network(_net([[w]], [pi], bs=(np.array([b]),)), np.array([v]))
    circ = with_noise(circ, NoiseSources(read_noise_rtHz=r))
    S, *_ = lyapunov_noise(circ)
    np.testing.assert_allclose(
        S[0, 0, 0], r * r * (w * w * v * v + b * b) * 1e-6 / 4e-12, rtol=LYAP_RTOL
    )


@pytest.mark.parametrize(
    ("c_F", "cov"), [(1e-20, "lyapunov"), (1e-18, "lyapunov"), (1e-18, "random")]
)
def test_hebbian_update_std_matches_monte_carlo(c_F, cov):
    """Var(pi eps phi^T) from Isserlis against 200000 draws of x ~ N(x*, Sigma) (exact for a
    linear network); relative error of a sample std with kurtosis <= 9 at N = 2e5 is
    <= sqrt(8/N)/2 = 0.3 %, so 2 % is > 6 sigma."""
    rng = np.random.default_rng(5)
    # 3 -> 2 -> 4 with both ends clamped: the 2 hidden units cannot explain the 4 targets,
    # so the errors (and the cross term 2 a* b* s_ab) are not zero at rest
    net = random_network(rng, [3, 2, 4])
    from pc_analog.model.network import Clamp

    clamp = Clamp((np.ones(3, bool), np.zeros(2, bool), np.ones(4, bool)))
    vals = (rng.normal(size=(1, 3)), np.zeros((1, 2)), rng.normal(size=(1, 4)))
    circ = with_noise(
        compile_network(net, clamp=clamp, values=vals),
        NoiseSources(thermal=True, amp_noise_V_rtHz=1e-7),
    )
    # 0.6 V of noise (1e-20 F): the fourth-order terms (s_a^2 s_b^2 + s_ab^2) carry much of
    # the variance; 64 mV (1e-18 F): the first-order ones (with the cross term 2 a b s_ab)
    circ = dataclasses.replace(circ, hardware=Hardware(c_F=c_F))
    x, _ = rest_point(circ)
    S, *_ = lyapunov_noise(circ, x)
    if cov == "random":  # any covariance (the formula does not need Lyapunov's)
        M = rng.normal(size=S.shape[1:])
        S = (0.05 * M @ M.T)[None]
    rep = noise_report(circ, S, x, method="lyapunov")
    fi = FreeIndex(circ)
    y0 = fi.pack(x)
    draws = rng.multivariate_normal(y0, S[0], size=200_000)
    N = draws.shape[0]
    full = tuple(np.repeat(v, N, axis=0) for v in x)
    for k, (l, idx) in enumerate(fi.blocks):
        full[l][:, idx] = draws[:, fi.offsets[k] : fi.offsets[k + 1]]
    for l in (1, 2):
        eps = full[l] - full[l - 1] @ net.W(l).T - net.b(l)
        prod = (net.pi(l) * eps)[:, :, None] * full[l - 1][:, None, :]
        mc = prod.std(axis=0)
        pred = rep.hebbian_std[l - 1][0]
        mask = mc > 1e-12 * np.abs(prod).max()
        np.testing.assert_allclose(pred[mask], mc[mask], rtol=0.02)
        assert np.all(pred[~mask] < 1e-9 * pred.max())


def test_effective_bits_and_report():
    assert effective_bits(2.0 / np.sqrt(12.0) / 2**8, 1.0) == pytest.approx(8.0)
    # an ADC of 8 bits with no analog noise gives log2(2R/Delta) = log2(254)
    assert effective_bits(0.0, 1.0, 2.0 / 254) == pytest.approx(np.log2(254))
    circ = compile_network(_net([[1.0], [1.0]], [1.0, 1.0]), np.array([0.3]))
    circ = with_noise(circ, NoiseSources(thermal=True))
    x, _ = rest_point(circ)
    S, *_ = lyapunov_noise(circ, x)
    rep = noise_report(circ, S, x, method="lyapunov", adc_bits=8)
    assert rep.std[0][0, 0] == 0.0 and rep.std[1][0, 0] > 0 and rep.std[2][0, 0] > 0
    assert np.isinf(rep.effective_bits[0][0])
    assert rep.readout_bits_adc[0] < min(rep.readout_bits[0], np.log2(254))


def test_noise_sources_validation_and_element_intensity():
    with pytest.raises(InvalidInputError, match="temperature_K"):
        NoiseSources(thermal=True, temperature_K=-1.0)
    with pytest.raises(InvalidInputError, match="amp_noise_V_rtHz"):
        NoiseSources(amp_noise_V_rtHz=-1e-9)
    with pytest.raises(InvalidInputError, match="thermal"):
        NoiseSources(thermal="yes")
    assert not NoiseSources().active
    circ = compile_network(_net([[0.5]], [2.0]), np.array([0.3]))
    inv = circ.inventory("behavioural")
    spring = inv.by_kind["springs"][0]
    ns = NoiseSources(thermal=True, amp_noise_V_rtHz=1e-8)
    assert element_noise_psd(spring, ns) == pytest.approx(4 * KT * 2e-6)
    assert element_noise_psd(inv.by_kind["predictions"][0], ns) == pytest.approx(1e-16)
    assert element_noise_psd(inv.by_kind["capacitors"][0], ns) == 0.0
    assert with_noise(circ, NoiseSources()).noise is None


def test_spec_fields_reach_the_ir_and_are_checked():
    circ = compile_network(_net([[0.5]], [2.0]), np.array([0.3]))
    assert AnalogSpec().apply(circ) is circ  # noise off: the circuit itself
    spec = AnalogSpec(thermal_noise=True, temperature_K=77.0, amp_noise_V_rtHz=5e-9)
    out = spec.apply(circ)
    assert out.noise == NoiseSources(True, 77.0, 5e-9)
    assert out.with_stimulus(np.array([0.1])).noise == out.noise
    with pytest.raises(InvalidInputError, match=r"^analog\.temperature_K"):
        AnalogSpec(thermal_noise=True, temperature_K=-3.0)
    with pytest.raises(InvalidInputError, match=r"^analog\.amp_noise_V_rtHz"):
        AnalogSpec(amp_noise_V_rtHz=-1e-9)


def test_unstable_linearisation_has_no_stationary_state():
    """A feedback crossbar of the wrong sign (G+ and G- swapped) makes the middle unit's
    J = g0 (pi2 w^2 - pi1) > 0: no stationary covariance (NaN, UNSTABLE)."""
    from pc_analog.circuit.ir import DifferentialPair

    circ = compile_network(_net([[1.0], [2.0]], [1.0, 1.0]), np.array([0.3]), np.array([0.1]))
    lay = circ.layers[1]
    flipped = DifferentialPair(lay.feedback.g_neg_S, lay.feedback.g_pos_S)
    bad = dataclasses.replace(
        circ, layers=(circ.layers[0], dataclasses.replace(lay, feedback=flipped))
    )
    bad = with_noise(bad, NoiseSources(thermal=True))
    S, J, _, status, msg = lyapunov_noise(bad, circ.x_init)
    assert J[0, 0, 0] == pytest.approx(1e-6 * (4.0 - 1.0))
    assert not status.success and "unstable" in msg and np.all(np.isnan(S))
