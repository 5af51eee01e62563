"""The Hebbian stage: settled node voltages -> weight updates -> device programming.

Oracles:

- the update read from a settled circuit is checked against central finite
  differences of the energy (:func:`pc_analog.model.energy.energy`) in every weight and bias,
  at the very state the circuit settled to (equilibrium and ode backends);
- with the output precision small against the hidden ones the update points along
  backprop's gradient (Whittington & Bogacz), and a control with equal precisions shows
  the check can fail;
- ideal devices program exactly ``lr * dW``; with a separate, noisy feedback copy the
  mismatch between the copies is bounded by a random walk whose per-step variance
  follows from the device model (write noise, stochastic pulse and level rounding);
- read noise: same generator, same weights; the spread matches ``read_noise``.
"""

from __future__ import annotations

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.hardware.devices import PRESETS, DeviceConfig, load_device_config, weights
from pc_analog.hardware.hebbian import HardwareNetwork, hebbian_from_state
from pc_analog.model.energy import energy
from pc_analog.model.network import Network

FD_STEP = 1e-4  # central-difference step in a weight (F is quadratic in each weight)
FD_RTOL = 1e-7  # |Hebbian + dF/dW|_max / |dF/dW|_max (round-off of F / FD_STEP ~ 1e-12)
BACKEND_RTOL = 1e-6  # ode end point vs equilibrium: updates agree to the settle accuracy
COS_MIN = 0.99  # cosine(Hebbian, backprop) with a small output precision
PROGRAM_ATOL = 1e-12  # ideal devices program lr * dW exactly (round-off of G+ - G-)
DRIFT_MARGIN = 1.25  # measured copy mismatch vs its expected random-walk bound
READ_STD_REL = 0.1  # measured read-noise std vs configured (2048 weights: ~3 % s.e.)
NSIG = 5.0  # width of statistical bands, in standard errors


def _problem(sizes=(4, 5, 3, 2), precisions=1.0, batch=3, seed=1):
    net = Network.random(sizes, "tanh", precisions=precisions, seed=seed)
    rng = np.random.default_rng(seed + 100)
    x0 = rng.normal(size=(batch, sizes[0]))
    y = rng.normal(size=(batch, sizes[-1]))
    return net, x0, y


def _fd_params(net: Network, x):
    """``dF/dW_l`` and ``dF/db_l`` (summed over the batch) by central differences at ``x``."""
    dW, db = [], []
    for l in range(net.n_layers):
        for which, out in (("weights", dW), ("biases", db)):
            base = getattr(net, which)
            g = np.zeros_like(base[l])
            for idx in np.ndindex(base[l].shape):
                f = []
                for sgn in (+1.0, -1.0):
                    arrs = [a.copy() for a in base]
                    arrs[l][idx] += sgn * FD_STEP
                    f.append(energy(net.replace(**{which: tuple(arrs)}), x).sum())
                g[idx] = (f[0] - f[1]) / (2 * FD_STEP)
            out.append(g)
    return dW, db


# ------------------------------------------------------ update = -dF/dW
@pytest.mark.parametrize("backend", ["equilibrium", "ode"])
def test_hebbian_update_is_minus_energy_gradient_at_settled_state(backend):
    net, x0, y = _problem()
    hw = HardwareNetwork.fabricate(net, load_device_config("ideal"), rng=np.random.default_rng(0))
    circ = hw.circuit(x0, y)
    assert circ.symmetric
    res = pa.settle(circ, backend=backend)
    assert res.success, res.message
    upd = hebbian_from_state(circ, res.x)
    # the oracle: the energy of the *original* network, perturbed weight by weight,
    # at the state the circuit settled to
    fd_W, fd_b = _fd_params(net, res.x)
    for l in range(net.n_layers):
        for got, fd in ((upd.dW[l], fd_W[l]), (upd.db[l], fd_b[l])):
            scale = np.abs(fd).max()
            assert scale > 1e-3  # a nonzero update: the check has something to compare
            assert np.abs(got + fd).max() <= FD_RTOL * scale
    # the hidden errors are not zero at the settled state (the output error spread back)
    assert np.abs(upd.dW[0]).max() > 1e-3


def test_hebbian_update_agrees_between_backends():
    net, x0, y = _problem()
    hw = HardwareNetwork.fabricate(net, load_device_config("ideal"), rng=np.random.default_rng(0))
    circ = hw.circuit(x0, y)
    a = hebbian_from_state(circ, pa.settle(circ, backend="equilibrium").x).flat()
    b = hebbian_from_state(circ, pa.settle(circ, backend="ode").x).flat()
    assert np.abs(a - b).max() <= BACKEND_RTOL * np.abs(a).max()


def test_hebbian_update_is_not_the_feedforward_state_update():
    """Control: read at the feedforward start (not settled) the hidden updates vanish."""
    net, x0, y = _problem()
    hw = HardwareNetwork.fabricate(net, load_device_config("ideal"), rng=np.random.default_rng(0))
    circ = hw.circuit(x0, y)
    start = hebbian_from_state(circ, circ.x_init)
    settled = hebbian_from_state(circ, pa.settle(circ).x)
    assert np.abs(start.dW[0]).max() < 1e-12  # hidden errors are zero at the start
    assert np.abs(settled.dW[0]).max() > 1e-3


# --------------------------------------------------- small output precision ~ BP
def _cos_hebbian_bp(precision_output: float) -> float:
    net, x0, y = _problem((6, 8, 8, 3), precisions=[1.0, 1.0, precision_output], batch=10)
    hw = HardwareNetwork.fabricate(net, load_device_config("ideal"), rng=np.random.default_rng(0))
    circ = hw.circuit(x0, y)
    res = pa.settle(circ, backend="equilibrium")
    assert res.success, res.message
    return pa.cosine_similarity(hebbian_from_state(circ, res.x), pa.backprop(net, x0, y))


def test_hebbian_update_aligns_with_backprop_for_small_output_precision():
    cos_small = _cos_hebbian_bp(1e-3)
    assert cos_small > COS_MIN
    # control: with equal precisions the same network is visibly off backprop,
    # so the threshold above is not met by any update whatsoever
    cos_equal = _cos_hebbian_bp(1.0)
    assert cos_equal < COS_MIN
    assert cos_small > cos_equal


# ------------------------------------------------------------ programming
def test_apply_with_ideal_devices_is_exact():
    net, x0, y = _problem()
    for separate in (False, True):
        hw = HardwareNetwork.fabricate(
            net,
            load_device_config("ideal"),
            separate_feedback=separate,
            rng=np.random.default_rng(0),
        )
        grads = hebbian_from_state(hw.circuit(x0, y), pa.settle(hw.circuit(x0, y)).x)
        lr = 0.37
        before = hw.ideal_network()
        new, pulses = hw.apply(grads, lr, np.random.default_rng(1))
        after = new.ideal_network()
        for l in range(net.n_layers):
            np.testing.assert_allclose(
                after.weights[l] - before.weights[l], lr * grads.dW[l], rtol=0, atol=PROGRAM_ATOL
            )
            np.testing.assert_allclose(
                after.biases[l] - before.biases[l], lr * grads.db[l], rtol=0, atol=PROGRAM_ATOL
            )
        # one write event per device asked to change: 2 per nonzero weight, per crossbar
        n_nonzero = sum(
            np.count_nonzero(w) + np.count_nonzero(b) for w, b in zip(grads.dW, grads.db)
        )
        if separate:
            n_nonzero += sum(np.count_nonzero(w) for w in grads.dW)
        assert pulses == 2 * n_nonzero
        # the old state was not modified (pure functions)
        for l in range(net.n_layers):
            np.testing.assert_array_equal(hw.ideal_network().weights[l], before.weights[l])
        # ideal copies stay exact transposes: asymmetry below comes from the devices only
        assert new.circuit(x0, y).symmetric


def _copy_mismatch(hw: HardwareNetwork) -> np.ndarray:
    """Per-device difference between the forward crossbars and the feedback copies (S)."""
    d = []
    for f, b in zip(hw.forward, hw.feedback):
        d.append((f.pair.g_pos_S - b.pair.g_pos_S.T).ravel())
        d.append((f.pair.g_neg_S - b.pair.g_neg_S.T).ravel())
    return np.concatenate(d)


def _step_variance_bound(hw: HardwareNetwork, grads, lr: float, c: DeviceConfig) -> float:
    """Mean over devices of the largest variance one update can add to ``G_fwd - G_fb``.

    Both copies get the same request ``|dG| = g_unit lr |dW| / 2``, i.e. ``x = |dG| / s``
    pulses, rounded stochastically (variance ``frac (1 - frac) s^2``); a written device
    gets write noise (``sigma_w^2``) and stochastic level rounding (at most ``s^2 / 4``).
    The draws of the two copies are independent and mean-zero and clipping is
    1-Lipschitz, so ``E[diff^2]`` grows by at most twice the per-copy variance.
    """
    s, sw = c.pulse_step_S, c.write_noise * c.range_S
    per = []
    for l, dW in enumerate(grads.dW):
        x = hw.g_units[l] * lr * np.abs(dW) / 2 / s
        frac = x - np.floor(x)
        p_written = np.where(x >= 1, 1.0, frac)
        v = 2 * (frac * (1 - frac) * s**2 + p_written * (sw**2 + s**2 / 4))
        per.append(np.concatenate([v.ravel(), v.ravel()]))  # the G+ and the G- device
    return float(np.concatenate(per).mean())


def test_separate_noisy_feedback_drifts_within_the_device_noise_bound():
    c = load_device_config("4bit-noisy")
    net, x0, y = _problem((8, 6, 4), batch=16)
    hw = HardwareNetwork.fabricate(net, c, separate_feedback=True, rng=np.random.default_rng(1))
    assert not hw.circuit(x0, y).symmetric  # separate write noise at fabrication already
    d0 = float(np.mean(_copy_mismatch(hw) ** 2))
    bound = d0
    lr, n_steps, pulses_total = 0.1, 20, 0
    for k in range(n_steps):
        fwd = hw.ideal_network()
        grads = pa.hebbian_update(fwd, pa.settle(fwd, x0, y).x)
        bound += _step_variance_bound(hw, grads, lr, c)
        hw, pulses = hw.apply(grads, lr, np.random.default_rng([7, k]))
        pulses_total += pulses
    d = _copy_mismatch(hw)
    dn = float(np.mean(d**2))
    assert dn > d0  # the copies drift apart ...
    assert dn <= DRIFT_MARGIN * bound  # ... no faster than the device noise allows
    # on the level grid: every mismatch is a whole number of levels
    levels = d / c.level_spacing_S
    np.testing.assert_allclose(levels, np.rint(levels), atol=1e-9)
    # in weight units: rms mismatch is a fraction of one device's range
    w_max = [c.range_S / g for g in hw.g_units]
    for l, (f, b) in enumerate(zip(hw.forward, hw.feedback)):
        wf, wb = weights(f, hw.g_units[l]), weights(b, hw.g_units[l]).T
        assert np.sqrt(np.mean((wf - wb) ** 2)) < 0.5 * w_max[l]
        assert np.corrcoef(wf.ravel(), wb.ravel())[0, 1] > 0.5
    assert pulses_total > 0
    assert pulses_total == sum(a.pulses for a in hw.forward + hw.feedback + hw.bias)


@pytest.mark.parametrize("name", [n for n, c in PRESETS.items() if c.pulse_step_S is not None])
def test_pulsed_devices_count_pulses(name):
    net, x0, y = _problem((8, 6, 4), batch=16)
    hw = HardwareNetwork.fabricate(
        net, PRESETS[name], separate_feedback=True, rng=np.random.default_rng(1)
    )
    fwd = hw.ideal_network()
    grads = pa.hebbian_update(fwd, pa.settle(fwd, x0, y).x)
    new, pulses = hw.apply(grads, 0.1, np.random.default_rng(2))
    assert pulses > 0
    assert pulses == sum(a.pulses for a in new.forward + new.feedback + new.bias)
    assert not new.circuit(x0, y).symmetric
    # the device state moved
    assert any(
        not np.array_equal(a.pair.g_pos_S, b.pair.g_pos_S) for a, b in zip(hw.forward, new.forward)
    )


def test_accumulate_mode_programs_the_summed_updates_and_keeps_copies_equal():
    """Noiseless pulsed devices: weights + accumulators = initial weights + sum lr * grads.

    The feedback copy gets the same whole-pulse counts, so it stays the exact transpose.
    """
    c = DeviceConfig("acc", g_max_S=2e-5, levels=256)
    net, x0, y = _problem((8, 6, 4), batch=16)
    hw = HardwareNetwork.fabricate(
        net, c, separate_feedback=True, weight_headroom=16.0, rng=np.random.default_rng(1)
    )  # room enough that no device reaches g_max: nothing is lost at a bound
    hw = hw.with_accumulators()
    assert hw.update_mode == "accumulate"
    start = hw.ideal_network()
    total_dW = [np.zeros_like(w) for w in start.weights]
    total_db = [np.zeros_like(b) for b in start.biases]
    lr, pulses_total = 0.05, 0
    for k in range(20):
        fwd = hw.ideal_network()
        grads = pa.hebbian_update(fwd, pa.settle(fwd, x0, y).x)
        hw, pulses = hw.apply(grads, lr, np.random.default_rng([7, k]))
        pulses_total += pulses
        for l in range(net.n_layers):
            total_dW[l] += lr * grads.dW[l]
            total_db[l] += lr * grads.db[l]
    now = hw.ideal_network()
    for l in range(net.n_layers):
        np.testing.assert_allclose(
            now.weights[l] + hw.chi_forward[l],
            start.weights[l] + total_dW[l],
            rtol=0,
            atol=PROGRAM_ATOL,
        )
        np.testing.assert_allclose(
            now.biases[l] + hw.chi_bias[l], start.biases[l] + total_db[l], rtol=0, atol=PROGRAM_ATOL
        )
        eps = c.pulse_step_S / hw.g_units[l]
        assert np.all(np.abs(hw.chi_forward[l]) < eps)
        assert hw.forward[l].conductances_S.max() < c.g_max_S
        np.testing.assert_array_equal(
            hw.feedback[l].conductances_S, hw.forward[l].conductances_S.transpose(0, 2, 1)
        )
    assert pulses_total > 0
    assert pulses_total == sum(a.pulses for a in hw.forward + hw.feedback + hw.bias)


def test_accumulate_mode_needs_pulsed_devices_and_matching_accumulators():
    net, _, _ = _problem((8, 6, 4))
    hw = HardwareNetwork.fabricate(net, PRESETS["ideal"], rng=np.random.default_rng(1))
    assert hw.update_mode == "stochastic"
    with pytest.raises(pa.InvalidInputError, match="update_mode"):
        hw.with_accumulators()
    hw = HardwareNetwork.fabricate(net, PRESETS["4bit"], rng=np.random.default_rng(1))
    acc = hw.with_accumulators()
    with pytest.raises(pa.InvalidInputError, match="chi_forward"):
        HardwareNetwork(
            hw.forward,
            None,
            hw.bias,
            hw.precisions,
            hw.activations,
            hw.hardware,
            hw.g_units,
            acc.chi_forward[:1],
            acc.chi_bias,
        )
    with pytest.raises(pa.InvalidInputError, match="both"):
        HardwareNetwork(
            hw.forward,
            None,
            hw.bias,
            hw.precisions,
            hw.activations,
            hw.hardware,
            hw.g_units,
            acc.chi_forward,
            None,
        )


# --------------------------------------------------------------- read noise
def test_circuit_read_noise_follows_the_generator():
    c = load_device_config("rram")
    assert c.read_noise > 0
    net, x0, y = _problem((64, 32, 4), batch=2)
    hw = HardwareNetwork.fabricate(net, c, separate_feedback=True, rng=np.random.default_rng(0))
    a = hw.circuit(x0, y, rng=np.random.default_rng(1))
    b = hw.circuit(x0, y, rng=np.random.default_rng(1))
    other = hw.circuit(x0, y, rng=np.random.default_rng(2))
    quiet = hw.circuit(x0, y)
    for l in range(1, net.n_layers + 1):
        np.testing.assert_array_equal(a.forward_weights(l), b.forward_weights(l))
        np.testing.assert_array_equal(a.feedback_weights(l), b.feedback_weights(l))
        np.testing.assert_array_equal(a.biases(l), b.biases(l))
        assert not np.array_equal(a.forward_weights(l), other.forward_weights(l))
        assert not np.array_equal(a.feedback_weights(l), other.feedback_weights(l))
    # the spread: W_read - W = (dG+ - dG-) / g with dG ~ read_noise * G * N(0, 1)
    arr, g = hw.forward[0], hw.g_units[0]
    sigma = c.read_noise * np.hypot(arr.pair.g_pos_S, arr.pair.g_neg_S) / g
    # the circuit holds the same currents in the global g_unit: compare in weight units
    z = (a.forward_weights(1) - quiet.forward_weights(1)) / sigma
    n = z.size
    assert abs(z.mean()) < NSIG / np.sqrt(n)
    assert abs(z.std() - 1.0) < READ_STD_REL
    # without read noise in the config the generator changes nothing
    hw_ideal = HardwareNetwork.fabricate(
        net, load_device_config("ideal"), rng=np.random.default_rng(0)
    )
    i1 = hw_ideal.circuit(x0, y, rng=np.random.default_rng(1))
    i2 = hw_ideal.circuit(x0, y, rng=np.random.default_rng(2))
    for l in range(1, net.n_layers + 1):
        np.testing.assert_array_equal(i1.forward_weights(l), i2.forward_weights(l))


# ------------------------------------------ the IR holds the true device state
# Tolerances of the device-state tests.
ENERGY_RTOL = 1e-12  # same trapezoid rule on the same samples; only summation order differs
ROUNDING_RTOL = 1e-12  # old path (ideal pairs at the global g_unit) vs the device pairs
T_EVAL = 401  # samples of the transient the energy is integrated on


def _rram_453(separate_feedback=False):
    net, x0, y = _problem((4, 5, 3), batch=2)
    hw = HardwareNetwork.fabricate(
        net, "rram", separate_feedback=separate_feedback, rng=np.random.default_rng(7)
    )
    return net, x0, y, hw


def _device_crossbar_power(hw: HardwareNetwork, clamp, traj) -> np.ndarray:
    """``(n_t, batch)`` crossbar dissipation, summed cell by cell over the device arrays.

    Physics (rows held at virtual ground by their transimpedance stages): a cell of
    conductance ``G`` with voltage ``V`` across it dissipates ``G V^2``.  A forward pair
    ``(j, i)`` of layer ``l`` is driven at ``+phi(x_{l-1,i})`` on ``G+`` and ``-phi`` on
    ``G-``; a bias pair at ``+-1 V``; a feedback pair ``(i, j)`` into unit ``i`` of layer
    ``l-1`` at ``+-pi_j eps_j`` with ``eps_j = x_{l,j} - (W phi + b)_j``, ``W`` and ``b``
    read from the same devices, ``(G+ - G-) / g_unit_l``.  A layer's read-out runs when
    layer ``l`` or ``l-1`` has a free unit; feedback only into free units.  Nothing here
    reads the circuit IR.
    """
    n_t, batch = traj[0].shape[:2]
    p = np.zeros((n_t, batch))
    for l in range(1, len(hw.forward) + 1):
        f, b = hw.forward[l - 1].pair, hw.bias[l - 1].pair
        fb = hw.feedback[l - 1].pair if hw.feedback is not None else None
        g = hw.g_units[l - 1]
        W, bias = (f.g_pos_S - f.g_neg_S) / g, (b.g_pos_S - b.g_neg_S) / g
        phi = np.tanh(traj[l - 1]) if l > 1 else traj[0]  # input layer read linearly
        eps = traj[l] - (phi @ W.T + bias)
        u = hw.precisions[l - 1] * eps
        free_here, free_below = ~clamp.masks[l], ~clamp.masks[l - 1]
        for t in range(n_t):
            for s in range(batch):
                if free_here.any() or free_below.any():
                    for j in range(W.shape[0]):
                        for i in range(W.shape[1]):
                            v = phi[t, s, i]
                            p[t, s] += f.g_pos_S[j, i] * v**2 + f.g_neg_S[j, i] * (-v) ** 2
                        p[t, s] += b.g_pos_S[j] * 1.0**2 + b.g_neg_S[j] * (-1.0) ** 2
                for i in np.flatnonzero(free_below):
                    for j in range(W.shape[0]):
                        gp = fb.g_pos_S[i, j] if fb is not None else f.g_pos_S[j, i]
                        gn = fb.g_neg_S[i, j] if fb is not None else f.g_neg_S[j, i]
                        v = u[t, s, j]
                        p[t, s] += gp * v**2 + gn * (-v) ** 2
    return p


def test_ir_conductances_are_the_device_arrays_and_energy_counts_them():
    from pc_analog.costs.timing import energy_per_inference
    from pc_analog.solvers.ode import OdeBackend

    net, x0, y, hw = _rram_453()
    circ = hw.circuit(x0, y)
    for l, layer in enumerate(circ.layers):
        f, b = hw.forward[l].pair, hw.bias[l].pair
        np.testing.assert_array_equal(layer.forward.g_pos_S, f.g_pos_S)
        np.testing.assert_array_equal(layer.forward.g_neg_S, f.g_neg_S)
        np.testing.assert_array_equal(layer.bias.g_pos_S, b.g_pos_S)
        np.testing.assert_array_equal(layer.bias.g_neg_S, b.g_neg_S)
        np.testing.assert_array_equal(layer.feedback.g_pos_S, f.g_pos_S.T)  # reverse read
        np.testing.assert_array_equal(layer.feedback.g_neg_S, f.g_neg_S.T)
    # the g_min offsets are there: every device conducts, so the IR sums to the devices'
    dev_sum = float(hw.forward[0].pair.g_pos_S.sum() + hw.forward[0].pair.g_neg_S.sum())
    ir_sum = float(circ.layers[0].forward.g_pos_S.sum() + circ.layers[0].forward.g_neg_S.sum())
    assert ir_sum == dev_sum and ir_sum > 2 * 20 * PRESETS["rram"].g_min_S - 1e-18
    res = OdeBackend(t_eval_points=T_EVAL).settle(circ)
    en = energy_per_inference(res, circ)
    traj = tuple(np.asarray(v) for v in res.trajectory)
    hand = np.trapezoid(_device_crossbar_power(hw, circ.clamp, traj), res.t, axis=0)
    np.testing.assert_allclose(en.crossbars_total_J, hand, rtol=ENERGY_RTOL, atol=0)


def test_ir_keeps_each_layers_g_unit_and_reads_the_old_paths_weights():
    from pc_analog.circuit.ir import compile_network
    from pc_analog.hardware.devices import read

    net, x0, y, hw = _rram_453(separate_feedback=True)
    assert len(set(hw.g_units)) == 2 and hw.hardware.g_unit_S not in hw.g_units
    circ = hw.circuit(x0, y, rng=np.random.default_rng(5))
    # The old path: read weights (forward, bias, then the feedback copies, one
    # generator), compiled as ideal pairs at the global g_unit.
    r = np.random.default_rng(5)
    old_net = hw.network(rng=r)
    old_fb = [read(a, hw.g_units[l], rng=r) for l, a in enumerate(hw.feedback)]
    old = compile_network(old_net, x0, y, hardware=hw.hardware)
    for l in range(1, net.n_layers + 1):
        assert circ.layers[l - 1].g_unit_S == hw.g_units[l - 1]
        assert circ.g_unit(l) == hw.g_units[l - 1]
        np.testing.assert_array_equal(circ.forward_weights(l), old_net.W(l))
        np.testing.assert_array_equal(circ.biases(l), old_net.b(l))
        np.testing.assert_array_equal(circ.feedback_weights(l), old_fb[l - 1])
        for got, want in (
            (circ.forward_weights(l), old.forward_weights(l)),
            (circ.biases(l), old.biases(l)),
        ):
            np.testing.assert_allclose(got, want, rtol=ROUNDING_RTOL, atol=0)
    for a, b in zip(circ.x_init, old.x_init):
        np.testing.assert_allclose(a, b, rtol=ROUNDING_RTOL, atol=1e-15)
    # noiseless: the weights the devices were programmed to
    quiet = hw.circuit(x0, y)
    for l in range(1, net.n_layers + 1):
        np.testing.assert_array_equal(
            quiet.forward_weights(l), weights(hw.forward[l - 1], hw.g_units[l - 1])
        )


def test_ideal_devices_give_the_compiled_circuit():
    from pc_analog.circuit.ir import compile_network
    from pc_analog.hardware.hebbian import device_circuit

    net, x0, y = _problem()
    hw = pa.Hardware(g_unit_S=3e-5)
    got = device_circuit(net, x0, y, device="ideal", hardware=hw, rng=0)
    want = compile_network(net, x0, y, hardware=hw)
    for a, b in zip(got.layers, want.layers):
        for p, q in ((a.forward, b.forward), (a.feedback, b.feedback), (a.bias, b.bias)):
            np.testing.assert_array_equal(p.g_pos_S, q.g_pos_S)
            np.testing.assert_array_equal(p.g_neg_S, q.g_neg_S)
        np.testing.assert_array_equal(a.g_spring_S, b.g_spring_S)
        assert a.activation == b.activation
    assert [got.g_unit(l) for l in (1, 2, 3)] == [3e-5] * 3
    assert got.clamp.masks[-1].all() and got.batch == x0.shape[0]


def test_structure_is_built_once_per_device_state():
    net, x0, y = _problem()
    hw = HardwareNetwork.fabricate(net, "4bit", rng=0)
    a = hw.circuit(x0, y, rng=np.random.default_rng(1))
    b = hw.circuit(x0[:1])
    assert a.layers is b.layers is hw.structure.layers  # same elements, new stimulus
    assert a.layers[0].forward is hw.forward[0].pair  # the devices' pair, not a copy
    np.testing.assert_array_equal(a.x_init[-1], y)
    assert not b.clamp.masks[-1].any() and b.batch == 1
    grads = hebbian_from_state(a, pa.settle(a).x)
    new, _ = hw.apply(grads, 0.5, np.random.default_rng(2))
    assert new.circuit(x0, y).layers is not a.layers  # a Hebbian step: new conductances
    assert hw.circuit(x0, y).layers is a.layers  # the old state keeps its structure
    # with read noise every read is a new set of conductances, drawn from the generator
    noisy = HardwareNetwork.fabricate(net, "rram", rng=0)
    r1 = noisy.circuit(x0, y, rng=np.random.default_rng(1))
    assert r1.layers is not noisy.structure.layers
    assert noisy.circuit(x0, y).layers is noisy.structure.layers


# ------------------------------------------------------- one device path
def _spy_fabricate(monkeypatch):
    """Record every call of ``HardwareNetwork.fabricate``: (device name, generator state)."""
    calls = []
    orig = HardwareNetwork.fabricate.__func__

    def spy(cls, net, device, *, rng, **kw):
        g = np.random.default_rng(rng)
        calls.append((load_device_config(device).name, g.bit_generator.state["state"]))
        return orig(cls, net, device, rng=g, **kw)

    monkeypatch.setattr(HardwareNetwork, "fabricate", classmethod(spy))
    return calls


def test_train_sweep_and_timing_program_devices_through_one_path(monkeypatch, tmp_path):
    from pc_analog.costs.timing import timing_report
    from pc_analog.experiments.sweep import PARAMETERS, run_point
    from pc_analog.learning.train import TrainConfig, train

    calls = _spy_fabricate(monkeypatch)
    cfg = TrainConfig(
        arch=(64, 4, 10), device="rram", epochs=1, limit_train=16, limit_test=16, batch_size=16
    )
    train(cfg, tmp_path / "run", progress=False, plots=False)
    assert [c[0] for c in calls] == ["rram"]
    calls.clear()
    params = {k: d for k, (d, _, _) in PARAMETERS.items()}
    params.update(depth=2, width=3, analog="rram", digital="gpu-a100")
    run_point(params, (4, 2), ("settling", "timing"))
    # the sweep point and its timing stage: the same device from the same generator state
    assert [c[0] for c in calls] == ["rram", "rram"]
    assert calls[0][1] == calls[1][1]
    calls.clear()
    net, x0, y = _problem((3, 4, 2), batch=1)
    timing_report(net, x0, y, analog="rram", measure_cpu=False, t_eval_points=51)
    assert [c[0] for c in calls] == ["rram"]


def test_reverse_read_of_one_crossbar_sees_the_same_noisy_read():
    """Without a separate copy the feedback is the forward devices read in reverse: the
    same read (and its noise), so the circuit stays exactly symmetric under read noise."""
    net, x0, y, hw = _rram_453()
    circ = hw.circuit(x0, y, rng=np.random.default_rng(3))
    assert circ.symmetric
    for l in range(1, net.n_layers + 1):
        np.testing.assert_array_equal(circ.feedback_weights(l), circ.forward_weights(l).T)
        assert not np.array_equal(
            circ.forward_weights(l), weights(hw.forward[l - 1], hw.g_units[l - 1])
        )
