"""Tests written for mutants the rest of the suite let through (issue 10, item 5).

Each test names the mutation it exists to catch.  They check contracts that end-point
tests cannot see:

- the dense equilibrium path's line search never accepts an energy rise (Armijo with
  the right sign): one free unit whose full Newton step raises ``F`` by a hair
  (``5e-5 |g p|``, inside the window a sign-flipped Armijo test would let through);
- level rounding keeps every conductance on the grid inside ``[g_min, g_max]`` even for
  an input beyond the bounds (the public paths clip first, so only the helper shows it).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

import pc_analog as pa
import pc_analog.solvers.equilibrium as eq_mod
from pc_analog.hardware.device_arrays import _quantize
from pc_analog.hardware.devices import PRESETS

PI1, PI2, B1, W2 = 1.0, 4.0, 0.5, 3.0  # x1 free between input (0) and target y


def _F(x, y):
    return 0.5 * PI1 * (x - B1) ** 2 + 0.5 * PI2 * (y - W2 * np.tanh(x)) ** 2


def _newton_rise(y):
    """``(F(a + p) - F(a)) / |g p|`` for the pure Newton step ``p`` from the start ``a = B1``
    (hand-derived: g = -pi2 r w t', h = pi1 + pi2 (w t')^2 - pi2 r w t'', r = y - w t)."""
    t = np.tanh(B1)
    t1, t2 = 1 - t * t, -2 * t * (1 - t * t)
    r = y - W2 * t
    g = -PI2 * r * W2 * t1
    h = PI1 + PI2 * (W2 * t1) ** 2 - PI2 * r * W2 * t2
    p = -g / h
    assert h > 0 and g * p < 0  # a descent direction: the step is tried at alpha = 1
    return (_F(B1 + p, y) - _F(B1, y)) / abs(g * p)


def test_equilibrium_line_search_never_accepts_an_energy_rise(monkeypatch):
    """Mutant: ``ok = F_new <= F - ARMIJO alpha slope`` (equilibrium.py, the Armijo test)."""
    y = brentq(lambda v: _newton_rise(v) - 5e-5, 0.0, 0.5, xtol=1e-15)
    assert 0 < _newton_rise(y) < eq_mod._ARMIJO  # the window a wrong sign accepts
    net = pa.Network(
        (np.eye(1), np.array([[W2]])),
        (np.array([B1]), np.zeros(1)),
        (PI1, PI2),
        ("linear", "tanh"),
    )
    x, clamp = pa.io_state(net, np.zeros((1, 1)), np.array([[y]]))
    assert x[1][0, 0] == B1
    seen = []
    real = eq_mod.grad_x

    def spy(n, state):  # the solver takes a gradient at its start and after every step
        seen.append(float(pa.energy(n, state)[0]))
        return real(n, state)

    monkeypatch.setattr(eq_mod, "grad_x", spy)
    res = pa.solve_equilibrium(net, x, clamp, structured=False)
    assert res.success
    assert len(seen) >= 3
    # the iterates' energies never rise (trial points are only ever inspected when their
    # energy differs from the current one by rounding, 1e-13 |F|)
    rises = np.diff(seen)
    assert np.all(rises <= 1e-13 * max(1.0, abs(seen[0]))), rises
    assert abs(res.grad_max[0]) <= 1e-10


@pytest.mark.parametrize("name", ["4bit", "4bit-noisy"])
def test_level_rounding_stays_on_the_grid_inside_the_bounds(name):
    """Mutant: ``np.clip(k, 0, c.levels)`` in devices._quantize (one level too many)."""
    c = PRESETS[name]
    assert c.levels is not None
    dg = c.level_spacing_S
    G = np.concatenate(
        [
            np.linspace(c.g_min_S - 3 * dg, c.g_max_S + 3 * dg, 401),
            [c.g_max_S + 0.6 * dg, c.g_min_S - 0.6 * dg],
        ]
    )
    rng = np.random.default_rng(0)
    for u in (None, rng.random(G.shape)):
        q = _quantize(c, G, u)
        assert q.min() >= c.g_min_S and q.max() <= c.g_max_S * (1 + 1e-15)
        k = (q - c.g_min_S) / dg
        np.testing.assert_allclose(k, np.rint(k), atol=1e-9)
        assert np.rint(k).max() == c.levels - 1
