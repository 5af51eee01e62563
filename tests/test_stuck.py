"""Stuck devices (issue 11): a seeded fraction of devices stuck at g_min or g_max.

Oracles: the realised fractions against binomial bounds; stuck devices never move under
Hebbian updates (pulsed, analog and accumulated) while the working ones do; the stuck
conductances reach the circuit every backend reads (equilibrium and ngspice agree on it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.device_arrays import apply_accumulated, apply_update, fabricate
from pc_analog.hardware.device_config import DeviceConfig
from pc_analog.hardware.hebbian import HardwareNetwork
from pc_analog.solvers.equilibrium import EquilibriumBackend

#: Binomial bound in standard deviations (a false alarm ~1e-5 per draw).
SIGMAS = 4.5

BOUNDED = dict(g_min_S=1e-6, g_max_S=2e-5)


def _within(k, n, p):
    return abs(k - n * p) <= SIGMAS * np.sqrt(n * p * (1 - p))


def test_realised_stuck_fractions_within_binomial_bounds():
    cfg = DeviceConfig("s", levels=32, stuck_fraction=0.07, stuck_high_fraction=0.3, **BOUNDED)
    arr = fabricate(cfg, np.random.default_rng(0).normal(0, 0.5, (60, 50)), 5e-6, 11)
    n = arr.stuck.size
    k = int(np.count_nonzero(arr.stuck))
    high = int(np.count_nonzero(arr.stuck == 2))
    assert _within(k, n, 0.07) and _within(high, k, 0.3)
    G = arr.conductances_S
    assert np.all(G[arr.stuck == 1] == cfg.g_min_S) and np.all(G[arr.stuck == 2] == cfg.g_max_S)
    again = fabricate(cfg, np.zeros((60, 50)), 5e-6, 11)
    other = fabricate(cfg, np.zeros((60, 50)), 5e-6, 12)
    assert np.array_equal(again.stuck, arr.stuck)  # per chip, by the seed
    assert not np.array_equal(other.stuck, arr.stuck)


def test_no_stuck_fraction_changes_nothing():
    cfg = DeviceConfig("s", levels=16, write_noise=0.01, **BOUNDED)
    W = np.random.default_rng(1).normal(0, 0.5, (5, 4))
    a = fabricate(cfg, W, 5e-6, 3)
    b = fabricate(DeviceConfig("s", levels=16, write_noise=0.01, stuck_fraction=0.0, **BOUNDED),
                  W, 5e-6, 3)  # fmt: skip
    assert a.stuck is None and np.array_equal(a.conductances_S, b.conductances_S)
    assert DeviceConfig().exact_writes and not DeviceConfig(stuck_fraction=0.1).exact_writes


@pytest.mark.parametrize(
    "kw",
    [dict(levels=16, **BOUNDED), dict(**BOUNDED), dict(g_min_S=0.0)],  # pulsed, analog, unbounded
)
def test_stuck_devices_never_move_under_updates(kw):
    cfg = DeviceConfig("s", stuck_fraction=0.2, stuck_high_fraction=0.5 if "g_max_S" in kw
                       else 0.0, **kw)  # fmt: skip
    rng = np.random.default_rng(2)
    arr = fabricate(cfg, rng.normal(0, 0.5, (8, 9)), 5e-6, rng)
    G0, st = arr.conductances_S, arr.stuck != 0
    assert st.any() and (~st).any()
    for _ in range(5):
        arr, _ = apply_update(arr, rng.normal(0, 0.5, (8, 9)), 5e-6, rng)
    G = arr.conductances_S
    assert np.array_equal(G[st], G0[st])
    assert np.mean(G[~st] != G0[~st]) > 0.5  # the working devices did move


def test_stuck_devices_never_move_under_accumulated_updates():
    cfg = DeviceConfig("s", levels=16, stuck_fraction=0.25, stuck_high_fraction=0.5, **BOUNDED)
    rng = np.random.default_rng(4)
    arr = fabricate(cfg, rng.normal(0, 0.5, (6, 7)), 5e-6, rng)
    G0, st = arr.conductances_S, arr.stuck != 0
    chi = np.zeros((6, 7))
    for _ in range(5):
        arr, chi, _ = apply_accumulated(arr, chi, rng.normal(0, 2.0, (6, 7)), 5e-6, rng)
    G = arr.conductances_S
    assert np.array_equal(G[st], G0[st]) and np.any(G[~st] != G0[~st])


def test_hebbian_training_keeps_stuck_cells_and_circuit_sees_them():
    net = pa.Network.random([4, 6, 3], "tanh", seed=0)
    cfg = DeviceConfig("s", levels=64, stuck_fraction=0.15, stuck_high_fraction=0.4, **BOUNDED)
    hw = HardwareNetwork.fabricate(net, cfg, rng=7)
    rng = np.random.default_rng(0)
    x0, y = rng.uniform(-1, 1, (4, 4)), rng.uniform(-1, 1, (4, 3))
    before = [a.conductances_S for a in hw.forward]
    for _ in range(3):
        c = hw.circuit(x0, y)
        x = EquilibriumBackend().settle(c).x
        hw, _, _ = hw.hebbian_step(c, x, 0.5, rng)
    for a, G0 in zip(hw.forward, before):
        st = a.stuck != 0
        assert st.any() and np.array_equal(a.conductances_S[st], G0[st])
        assert np.any(a.conductances_S[~st] != G0[~st])
    c = hw.circuit(x0, y)
    a = hw.forward[0]
    assert np.array_equal(c.layers[0].forward.g_pos_S, a.pair.g_pos_S)
    high = a.stuck[0] == 2
    assert high.any() and np.all(c.layers[0].forward.g_pos_S[high] == cfg.g_max_S)


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="no ngspice")
def test_every_backend_sees_the_stuck_devices():
    from pc_analog.spice.backend import NgspiceBackend

    net = pa.Network.random([3, 4, 2], "tanh", seed=1)
    cfg = DeviceConfig("s", stuck_fraction=0.3, stuck_high_fraction=0.5, **BOUNDED)
    ok = DeviceConfig("s", **BOUNDED)
    x0, y = np.array([[0.3, -0.5, 0.2]]), np.array([[0.1, -0.2]])
    c = HardwareNetwork.fabricate(net, cfg, rng=3).circuit(x0, y)
    c_ok = HardwareNetwork.fabricate(net, ok, rng=3).circuit(x0, y)
    eq = EquilibriumBackend().settle(c).x
    assert np.abs(eq[1] - EquilibriumBackend().settle(c_ok).x[1]).max() > 1e-2
    for level in ("behavioural", "crossbar"):
        op = NgspiceBackend(level=level, analysis="op").settle(c, on_failure="raise").x
        assert np.abs(op[1] - eq[1]).max() <= 1e-6 * max(1.0, np.abs(eq[1]).max())


@pytest.mark.parametrize(
    "kw, needle",
    [
        (dict(stuck_fraction=1.5), "device.stuck_fraction"),
        (dict(stuck_fraction=-0.1), "device.stuck_fraction"),
        (dict(stuck_high_fraction=2.0), "device.stuck_high_fraction"),
        (dict(stuck_fraction=0.1, stuck_high_fraction=0.5), "needs a finite g_max_S"),
        (dict(stuck_fraction="x"), "device.stuck_fraction"),
    ],
)
def test_bad_stuck_fields_are_refused(kw, needle):
    with pytest.raises(InvalidInputError, match=needle):
        DeviceConfig("s", **kw)


def test_cli_bad_stuck_fraction_exits_2(tmp_path):
    dev = tmp_path / "dev.json"
    dev.write_text(json.dumps({"format": "pc-analog.device/1", "stuck_fraction": 1.2}))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "pc_analog.cli.main", "train", "--device", str(dev),
           "--out", str(out), "--epochs", "1"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 2 and "device.stuck_fraction" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not out.exists()
