"""The seeds' exact claims not already covered by test_reference.py, each against an
independent oracle: seed 003's Fisher information (analytic Hessian, Monte Carlo by the
information equality and by the mean Hessian), seed 002's saddle toy (closed-form
equilibrated energy, finite differences), seed 001's Fig. 3 at step size 1 (cosine
exactly 1 once T >= L - 1) and Corollary 1 (no convergence before L - 1 steps), and the
physical depth scaling of settling (one-mode exponent of the chain's Hessian)."""

from __future__ import annotations

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.experiments import claims
from pc_analog.experiments.claims.landscape import _toy_net
from pc_analog.io.data import Dataset, load_digits

# Monte Carlo estimates must lie within this many standard errors of the exact value
# (a two-sided 5-sigma band: a false alarm about once in 1.7 million per entry).
MC_SIGMAS = 5.0
# Exact identities, up to rounding of a few operations.
EXACT_ATOL = 1e-12
FD_STEP = 1e-6
# Fitted settling exponents against the one-mode exponent of the same depths
# (the measured time also holds the faster modes and the band crossing).
EXPONENT_TOL = 0.05
SCALING_DEPTHS = (4, 6, 8, 12, 16)


def _net(seed=1):
    prec = [1.0, np.array([0.5, 1.0, 2.0, 3.0]), 0.7]
    return pa.Network.random([6, 5, 4, 3], "tanh", precisions=prec, seed=seed, gain=1.5)


# ------------------------------------------------------------------ seed 003


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_fisher_of_own_factor_is_the_precision(layer):
    net = _net()
    f = claims.fisher_information(net, np.linspace(-1, 1, 6), layer, n_samples=20000, seed=3)
    pi = np.broadcast_to(net.pi(layer), (net.sizes[layer],))
    # Analytic: the Hessian of 1/2 pi (x - mu)^2 is diag(pi) exactly.
    assert np.array_equal(f.own_analytic, np.diag(pi))
    # Monte Carlo through the information equality E[s s^T] = E[-d2 log p].
    assert np.all(np.abs(f.own_mc - f.own_analytic) <= MC_SIGMAS * f.own_se + EXACT_ATOL)
    # The test has power: a precision 10% off is rejected on the diagonal.
    assert np.all(np.abs(np.diag(f.own_mc) - 1.1 * pi) > MC_SIGMAS * np.diag(f.own_se))


def test_output_layer_energy_hessian_is_the_precision_at_every_state():
    """For the leaf layer the seed's identity holds pointwise, not only in expectation."""
    net = _net()
    L = net.n_layers
    rng = np.random.default_rng(0)
    x = tuple(rng.normal(size=(7, n)) * 3 for n in net.sizes)
    diag, _ = pa.hessian_blocks(net, x, layers=[L])
    expected = np.diag(np.broadcast_to(net.pi(L), (net.sizes[L],)))
    assert np.abs(diag[L] - expected).max() <= EXACT_ATOL
    f = claims.fisher_information(net, np.zeros(6), L, n_samples=5000)
    assert np.array_equal(f.full_analytic, f.own_analytic)
    assert np.abs(f.full_mc_hessian - expected).max() <= EXACT_ATOL


@pytest.mark.parametrize("layer", [1, 2])
def test_fisher_of_hidden_layer_adds_the_layer_above(layer):
    """A hidden activity is also a parameter of the layer above: its Fisher information
    is pi_l + J^T pi_{l+1} J, by the information equality and by the mean Hessian."""
    net = _net()
    f = claims.fisher_information(net, np.linspace(-1, 1, 6), layer, n_samples=20000, seed=4)
    assert np.all(
        np.abs(f.full_mc_score - f.full_analytic) <= MC_SIGMAS * f.full_score_se + EXACT_ATOL
    )
    assert np.all(
        np.abs(f.full_mc_hessian - f.full_analytic) <= MC_SIGMAS * f.full_hessian_se + EXACT_ATOL
    )
    # ... and the seed's value pi_l alone is rejected for a hidden layer.
    z = np.abs(np.diag(f.full_mc_score - f.own_analytic)) / np.diag(f.full_score_se)
    assert z.max() > MC_SIGMAS


def test_fisher_bad_input():
    with pytest.raises(pa.InvalidInputError, match="layer"):
        claims.fisher_information(_net(), np.zeros(6), 0)


# ------------------------------------------------------------------ seed 002


def test_toy_equilibrated_energy_matches_the_closed_form():
    rng = np.random.default_rng(0)
    for w1, w2, x, y in rng.uniform(-2, 2, size=(6, 4)):
        net = _toy_net(w1, w2)
        state, clamp = pa.io_state(net, np.array([[x]]), np.array([[y]]))
        eq = pa.solve_equilibrium(net, state, clamp, gtol=1e-13)
        loss, fstar = claims.toy_landscape(w1, w2, x=x, y=y)
        assert pa.energy(net, eq.x)[0] == pytest.approx(fstar, rel=1e-10, abs=1e-14)
        assert loss == pytest.approx(0.5 * (y - w2 * w1 * x) ** 2)


def test_toy_pc_update_is_gradient_descent_on_the_equilibrated_energy():
    """Envelope theorem: the Hebbian update at equilibrium is -dF*/dw (finite differences)."""
    for w1, w2 in [(0.3, -0.2), (0.05, 0.02), (-1.1, 0.7)]:
        g = pa.pc_gradients(_toy_net(w1, w2), [[1.0]], [[1.0]], gtol=1e-13)
        d1 = (
            claims.toy_landscape(w1 + FD_STEP, w2)[1] - claims.toy_landscape(w1 - FD_STEP, w2)[1]
        ) / (2 * FD_STEP)
        d2 = (
            claims.toy_landscape(w1, w2 + FD_STEP)[1] - claims.toy_landscape(w1, w2 - FD_STEP)[1]
        ) / (2 * FD_STEP)
        assert g.dW[0][0, 0] == pytest.approx(-d1, rel=1e-6, abs=1e-10)
        assert g.dW[1][0, 0] == pytest.approx(-d2, rel=1e-6, abs=1e-10)


def test_pc_escapes_the_saddle_faster_than_gradient_descent():
    """Seed 002: from the same start near w = 0 and with the same learning rate, PC
    reaches half the saddle's loss in fewer iterations than GD on the loss."""
    rng = np.random.default_rng(2)
    starts = rng.normal(scale=0.05, size=(4, 2))
    for start in starts:
        r = claims.saddle_escape(start, lr=0.1, n_iter=80)
        assert np.array_equal(r.gd_path[0], r.pc_path[0])
        assert r.pc_escape is not None and r.gd_escape is not None, start
        assert r.pc_escape < r.gd_escape, (start, r.pc_escape, r.gd_escape)
        # GD's path is the loss gradient's: check the first step analytically.
        w1, w2 = start
        resid = 1.0 - w1 * w2
        step = 0.1 * np.array([resid * w2, resid * w1])
        assert np.allclose(r.gd_path[1] - r.gd_path[0], step, atol=EXACT_ATOL)


# ------------------------------------------------------------------ seed 001


def _small_digits(n_train=192, n_test=128):
    d = load_digits(seed=0)
    return Dataset(
        d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test], d.y_test[:n_test], 10, "digits"
    )


def test_fig3_fpa_with_step_one_and_enough_steps_is_backprop_throughout_training():
    r = claims.fpa_alignment(
        _small_digits(),
        n_hidden=(2,),
        width=16,
        step_sizes=(1.0, 0.1),
        ratios=(0.0, 1.0),
        epochs=1,
        progress=False,
    )
    L = 3
    assert r.n_steps[0, 0].tolist() == [0, L]
    # Step 1, T >= L - 1: every batch's update is backprop's; the same training.
    assert r.cosine[0, 0, 1] == pytest.approx(1.0, abs=EXACT_ATOL)
    assert r.test_accuracy[0, 0, 1] == r.bp_test_accuracy[0]
    # T = 0: only the last layer learns -- not backprop.
    assert r.cosine[0, 0, 0] < 0.99
    # Step 0.1 has not converged after L steps.
    assert r.cosine[0, 1, 1] < 0.99


def test_corollary1_standard_pc_takes_at_least_L_minus_1_steps():
    t = claims.digital_pc_vs_bp_time((1, 3), width=8, batch=4, repeats=1, pc_step=0.2)
    for h, steps in zip(t.n_hidden, t.pc_steps):
        assert steps >= h  # L - 1 = h
    assert np.all(t.bp_s > 0) and np.all(t.fpa_s > 0)


def test_error_arrival_detects_a_violation():
    """The checker can fail: cut one layer's weights and the error never arrives below it."""
    net = pa.Network.random([4, 5, 5, 5, 3], "tanh", seed=0)
    rng = np.random.default_rng(0)
    x0, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 3))
    assert claims.error_arrival(net, x0, y, step_size=0.5).holds
    W = list(net.weights)
    W[2] = np.zeros_like(W[2])
    cut = claims.error_arrival(net.replace(weights=W), x0, y, step_size=0.5)
    assert not cut.holds
    assert cut.first_step[:2] == (None, None)
    with pytest.raises(pa.InvalidInputError, match="method"):
        claims.error_arrival(net, x0, y, method="bp")


# ------------------------------------------------------------------ physical scaling


def test_rc_and_critically_damped_settling_exponents():
    """RC settling ~ L^2, critically damped ~ L: the fitted exponents over depths 4..16
    match the one-mode exponents of lambda_min = 4 sin^2(pi / 2L) (1.97 and 0.98)."""
    r = claims.depth_scaling(SCALING_DEPTHS)
    assert r.rc_exponent == pytest.approx(r.rc_mode_exponent, abs=EXPONENT_TOL)
    assert r.inertial_exponent == pytest.approx(r.inertial_mode_exponent, abs=EXPONENT_TOL)
    assert 1.85 < r.rc_exponent < 2.05
    assert 0.9 < r.inertial_exponent < 1.05
    assert all(row["success"] for row in r.rows)
    # the standard errors are those of the same least-squares fits
    from pc_analog.experiments.studies import fit_power_law

    p, _, se = fit_power_law(SCALING_DEPTHS, r.rc_tau, return_stderr=True)
    assert (r.rc_exponent, r.rc_exponent_stderr) == (p, se) and 0 < se < 0.1
    p, _, se = fit_power_law(SCALING_DEPTHS, r.inertial_tau, return_stderr=True)
    assert (r.inertial_exponent, r.inertial_exponent_stderr) == (p, se) and 0 < se < 0.1


def test_claims_package_reexports_every_family_name():
    """``from pc_analog.experiments.claims import X`` works for each family module's names."""
    from pc_analog.experiments.claims import inference, landscape, updates

    for module in (inference, landscape, updates):
        for name in module.__all__:
            assert name in claims.__all__, name
            assert getattr(claims, name) is getattr(module, name), name
    names = [n for m in (inference, landscape, updates) for n in m.__all__]
    assert sorted(claims.__all__) == sorted(names)
