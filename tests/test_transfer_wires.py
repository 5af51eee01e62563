"""The transfer study's wire rows: the wired chip settles through the exact port reduction.

A crossbar with its wires is a linear resistive multiport; for fixed conductances the
crossbar level (:mod:`pc_analog.solvers._crossbar`) eliminates the ``2 J K`` wire taps once
per device state (Schur complement, :func:`~pc_analog.solvers._crossbar.port_matrices`) and
every settle then solves only the activity nodes.  Oracle: the unreduced circuit, the
inventory's element-by-element evaluation with a sparse LU nodal solve of every crossbar
mesh (:class:`~pc_analog.circuit.wires.NodalSolve`), whose KCL is solved here by a plain
batched Newton with a finite-difference Jacobian.  The study's wired chip comes to the same
rest point either way (to the solvers' tolerance), and the three methods' accuracies on a
tiny study are the same with the reduced and the unreduced settle.
"""

from __future__ import annotations

import numpy as np
import pytest

import pc_analog.experiments.transfer as transfer
from pc_analog.experiments.transfer import make_chip, rest_state, run_transfer
from pc_analog.learning.defaults import prepare_data
from pc_analog.model.network import Network

#: Newton on the unreduced KCL stops at ``|I| / g0 <= _GTOL`` (volts), as rest_state does.
_GTOL = 1e-10


def _unreduced_currents(circ, x):
    """The free units' KCL currents of the full wired circuit (every wire tap solved)."""
    inv = circ.inventory("crossbar")
    I = inv.node_currents(x)
    return np.concatenate([I[l][:, ~m] for l, m in enumerate(circ.clamp.masks)], axis=1)


def _unreduced_rest(circ, start):
    """Newton on the unreduced KCL from ``start``: each sample's dense Jacobian by forward
    differences (unit ``k`` of every sample perturbed at once: the samples decouple; the
    Jacobian's accuracy only sets the convergence rate, the stop is on the exact residual)."""
    x = [v.copy() for v in start]
    free = [(l, k) for l, m in enumerate(circ.clamp.masks) for k in np.flatnonzero(~m)]
    g0, h = circ.hardware.g0_S, 1e-7
    for _ in range(60):
        r = _unreduced_currents(circ, x) / g0
        if np.abs(r).max() <= _GTOL:
            return tuple(x)
        J = np.empty((r.shape[0], r.shape[1], len(free)))
        for j, (l, k) in enumerate(free):
            xp = [v.copy() for v in x]
            xp[l][:, k] += h
            J[:, :, j] = (_unreduced_currents(circ, xp) / g0 - r) / h
        step = np.linalg.solve(J, -r[:, :, None])[:, :, 0]
        for j, (l, k) in enumerate(free):
            x[l][:, k] += step[:, j]
    raise AssertionError("unreduced Newton did not converge")


def _chip_circuit(strength, clamped, arch=(8, 5, 3), n=4, seed=0):
    """A small wired chip's circuit (``strength`` 0: the chip without wires)."""
    net = Network.random(arch, "tanh", precisions=[1.0, 0.1], seed=seed)
    name = "wire" if strength else "ideal"
    chip = make_chip(name, strength, seed=seed).scaled_for(net)
    rng = np.random.default_rng(seed + 1)
    x, t = rng.normal(size=(n, arch[0])), 0.5 * rng.normal(size=(n, arch[-1]))
    return chip.circuit(chip.program(net), x, t if clamped else None)


@pytest.mark.parametrize("strength", [10.0, 100.0, 3000.0])
@pytest.mark.parametrize("clamped", [True, False])
def test_wired_chip_rest_point_equals_the_unreduced_circuit(strength, clamped):
    circ = _chip_circuit(strength, clamped)
    assert circ.crossbar is not None and circ.crossbar.wire_r_ohm == strength
    reduced = rest_state(circ)
    full = _unreduced_rest(circ, circ.x_init)
    # the reduced rest point is a zero of the unreduced KCL ...
    assert np.abs(_unreduced_currents(circ, reduced)).max() / circ.hardware.g0_S <= 1e-9
    # ... and the two solves land on the same point
    for a, b in zip(reduced, full):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    # the wires matter far beyond that tolerance: the wireless chip rests elsewhere
    # (measured 1.5 mV at 10 ohm, 15 mV at 100 ohm, 0.32 V at 3 kOhm)
    wireless = _chip_circuit(0.0, clamped)
    assert wireless.crossbar is None
    moved = max(np.abs(a - b).max() for a, b in zip(reduced, rest_state(wireless)))
    assert moved > 1e3 * 1e-9 * strength / 10.0


def test_tiny_wire_study_scores_the_same_with_the_unreduced_settle(monkeypatch):
    """ex-situ, hardware-aware and in-situ on a tiny digits study in a 30-ohm chip: the same
    accuracies (in the chip and in the ideal chip) when every wired settle is the unreduced
    circuit's Newton instead of the reduced one."""
    data = prepare_data("digits", input_scaling="global", limit_train=20, limit_test=20)
    kw = dict(arch=(64, 4, 10), epochs=1, lr=0.1, seed=0, batch=10)
    base = run_transfer("wire", 30.0, data, **kw)
    calls = []

    def unreduced(circuit):
        if circuit.crossbar is None:
            return rest_state(circuit)
        calls.append(circuit.batch)
        return _unreduced_rest(circuit, circuit.x_init)

    monkeypatch.setattr(transfer, "rest_state", unreduced)
    slow = run_transfer("wire", 30.0, data, **kw)
    assert len(calls) >= 7  # 2 steps x (hw_aware, in_situ) + 3 test reads
    assert base.diverged == () and slow.diverged == ()
    assert slow.accuracy == base.accuracy and slow.ideal_accuracy == base.ideal_accuracy
