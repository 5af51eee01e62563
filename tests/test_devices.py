"""Device models: every statistic of a configured device is measured against its configuration.

Each statistical check uses a fixed seed and a sample large enough that the
configured value sits inside a 5-sigma band that a wrong implementation (a biased
rounding, a wrong noise scale, a misapplied multiplier) would leave.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.circuit.ir import DifferentialPair
from pc_analog.hardware.devices import (
    PRESETS,
    DeviceArray,
    DeviceConfig,
    apply_accumulated,
    apply_update,
    fabricate,
    load_device_config,
    read,
    weights,
)

G_UNIT = 1e-5  # siemens per unit weight (the Hardware default)
R = 2e-5  # conductance range of the test devices
EXACT = 1e-15  # relative tolerance of "exact" (a couple of ulp)
GRID = 1e-12  # distance from the level grid, as a fraction of the range
NSIG = 5.0  # width of statistical bands, in standard errors
STD_REL = 0.05  # a measured noise std against the configured one (write, read)
D2D_REL = 0.10  # the measured d2d spread against the configured one
RATIO_REL = 0.02  # mean up step / mean down step against 1 / (1 - asymmetry)
STEP_RTOL = 1e-9  # one measured step against its formula (float noise of G - G0)
CLOSED_RTOL = 1e-12  # closed-form n pulses against n single pulses
FLOAT = 1e-12  # round-off of a few floating-point operations (relative)


def _at(config: DeviceConfig, g_pos, g_neg, shape, seed=0) -> DeviceArray:
    """A crossbar of ``config`` devices (with its d2d draws) set to the given conductances."""
    arr = fabricate(config, np.zeros(shape), G_UNIT, seed)
    pair = DifferentialPair(np.broadcast_to(g_pos, shape), np.broadcast_to(g_neg, shape))
    return replace(arr, pair=pair)


def _dw_for(dg_S: float, shape) -> np.ndarray:
    """The weight change whose split asks each device of the pair for ``|dG| = dg_S``."""
    return np.full(shape, 2.0 * dg_S / G_UNIT)


def _stack(arr: DeviceArray) -> np.ndarray:
    return arr.conductances_S


# ------------------------------------------------------------------ ideal
def test_ideal_device_is_exact_digital_sgd():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(30, 20))
    arr = fabricate(PRESETS["ideal"], W, G_UNIT, 1)
    ideal = DifferentialPair.ideal(W, G_UNIT)
    np.testing.assert_array_equal(arr.pair.g_pos_S, ideal.g_pos_S)
    np.testing.assert_array_equal(arr.pair.g_neg_S, ideal.g_neg_S)
    np.testing.assert_allclose(weights(arr, G_UNIT), W, rtol=EXACT, atol=0)
    total = W.copy()
    for _ in range(200):
        dW = rng.normal(scale=0.5, size=W.shape)  # crosses zero often
        dW[rng.random(W.shape) < 0.1] = 0.0
        old = weights(arr, G_UNIT)
        arr, n = apply_update(arr, dW, G_UNIT, rng)
        np.testing.assert_allclose(weights(arr, G_UNIT), old + dW, rtol=EXACT, atol=0)
        assert n == 2 * np.count_nonzero(dW)
        total += dW
    np.testing.assert_allclose(weights(arr, G_UNIT), total, rtol=0, atol=FLOAT)
    # an ideal read is the programmed weights, whatever rng or time is given
    np.testing.assert_array_equal(read(arr, G_UNIT, rng=3, t_s=1e6), weights(arr, G_UNIT))


def test_fabricate_mapping_bounded_and_levels():
    W = np.linspace(-3, 3, 61)
    w_max = R / G_UNIT
    arr = fabricate(PRESETS["bounded"], W, G_UNIT, 0)
    # W = (G+ - G-)/g_unit, one side at g_min, |W| clipped at range / g_unit
    np.testing.assert_allclose(weights(arr, G_UNIT), np.clip(W, -w_max, w_max), rtol=EXACT)
    assert np.all(np.minimum(arr.pair.g_pos_S, arr.pair.g_neg_S) == 0.0)
    # 4 bit: each device at the level nearest its target
    c = PRESETS["4bit"]
    arr = fabricate(c, W, G_UNIT, 0)
    target = np.clip(G_UNIT * np.stack([np.maximum(W, 0), np.maximum(-W, 0)]), 0, R)
    assert np.all(np.abs(_stack(arr) - target) <= c.level_spacing_S / 2 * (1 + FLOAT))
    # with g_min > 0 the offset cancels in the pair
    c = DeviceConfig("offset", g_min_S=1e-6, g_max_S=1e-6 + R)
    arr = fabricate(c, W, G_UNIT, 0)
    np.testing.assert_allclose(weights(arr, G_UNIT), np.clip(W, -w_max, w_max), atol=1e-14)


def test_open_loop_pair_split_loses_the_half_a_floored_device_cannot_follow():
    arr = fabricate(PRESETS["bounded"], np.zeros(4), G_UNIT, 0)
    arr, _ = apply_update(arr, np.full(4, 0.4), G_UNIT, 0)
    np.testing.assert_allclose(weights(arr, G_UNIT), 0.2, rtol=EXACT)  # G- sat at g_min
    arr, _ = apply_update(arr, np.full(4, -0.1), G_UNIT, 0)
    np.testing.assert_allclose(weights(arr, G_UNIT), 0.1, rtol=1e-14)  # both sides move


# ------------------------------------------------------------------ bounds and levels
FINITE = [k for k, c in PRESETS.items() if c.bounded] + ["offset-hard-pulsed"]


def _config(name: str) -> DeviceConfig:
    if name == "offset-hard-pulsed":
        return DeviceConfig(
            name, g_min_S=2e-6, g_max_S=2.2e-5, pulse_step_S=3e-7, write_noise=0.05, asymmetry=0.3
        )
    return PRESETS[name]


@pytest.mark.parametrize("name", FINITE)
def test_bounds_never_exceeded(name):
    c = _config(name)
    rng = np.random.default_rng(11)
    arr = fabricate(c, rng.normal(scale=3.0, size=(6, 6)), G_UNIT, rng)
    hit_top = hit_bottom = False
    for _ in range(2000):
        scale = 10.0 ** rng.uniform(-3, 1)
        arr, _ = apply_update(arr, rng.normal(scale=scale, size=(6, 6)), G_UNIT, rng)
        G = _stack(arr)
        assert G.min() >= c.g_min_S and G.max() <= c.g_max_S
        hit_top |= bool(np.any(G >= c.g_max_S - 1e-3 * c.range_S))
        hit_bottom |= bool(np.any(G == c.g_min_S))
    assert hit_top and hit_bottom  # the updates did push against both bounds


@pytest.mark.parametrize("name", ["4bit", "4bit-noisy", "rram"])
def test_levels_grid_and_every_level_reachable(name):
    c = PRESETS[name]
    rng = np.random.default_rng(5)
    arr = fabricate(c, rng.normal(size=(10, 10)), G_UNIT, rng)
    seen: set[int] = set()
    for _ in range(500):
        arr, _ = apply_update(arr, rng.normal(scale=0.7, size=(10, 10)), G_UNIT, rng)
        k = (_stack(arr) - c.g_min_S) / c.level_spacing_S
        off = np.abs(k - np.rint(k)) * c.level_spacing_S / c.range_S
        assert off.max() <= GRID
        seen.update(np.rint(k).astype(int).ravel().tolist())
    assert seen == set(range(c.levels))  # exactly `levels` distinct values


# ------------------------------------------------------------------ stochastic rounding
@pytest.mark.parametrize(
    "config",
    [
        DeviceConfig("pulsed", g_min_S=0.0, g_max_S=R, pulse_step_S=R / 200),
        PRESETS["4bit"],  # pulse = one level; the level rounding must stay unbiased too
    ],
    ids=["pulsed-analog", "4bit"],
)
def test_stochastic_rounding_is_unbiased(config):
    shape, steps, frac = (200, 100), 5, 0.3  # 5 steps stay clear of the 16-level bounds
    ps = config.pulse_step_S
    mid = config.g_min_S + (config.levels // 2 if config.levels else 100) * ps
    arr = _at(config, mid, mid, shape)
    G0 = _stack(arr)
    dW = _dw_for(frac * ps, shape)
    total = 0
    for i in range(steps):
        before = _stack(arr)
        arr, n = apply_update(arr, dW, G_UNIT, 100 + i)
        total += n
        step = np.abs(_stack(arr) - before) / ps
        assert np.all(np.isclose(step, 0.0, atol=1e-9) | np.isclose(step, 1.0, rtol=STEP_RTOL))
    change = (_stack(arr) - G0) / ps  # in pulses; G+ up, G- down
    n_dev = change[0].size
    sigma = math.sqrt(steps * frac * (1 - frac) / n_dev)  # std error of the mean pulse count
    assert abs(change[0].mean() - steps * frac) < NSIG * sigma
    assert abs(-change[1].mean() - steps * frac) < NSIG * sigma
    assert abs(total / (2 * n_dev) - steps * frac) < NSIG * sigma / math.sqrt(2)
    assert arr.pulses == total


# ------------------------------------------------------------------ write noise
def test_write_noise_std_is_the_configured_fraction_of_the_range():
    c = replace(PRESETS["bounded"], name="bounded-noisy", write_noise=0.02)
    shape = (100, 100)
    arr = _at(c, R / 2, R / 2, shape)  # 25 sigma from either bound
    dg = 1e-7
    dW = _dw_for(dg, shape)
    dW[:, :10] = 0.0  # devices that are not written get no noise
    new, _ = apply_update(arr, dW, G_UNIT, 3)
    err = (_stack(new) - _stack(arr)) - np.stack([dg, -dg])[:, None, None]
    np.testing.assert_array_equal(_stack(new)[:, :, :10], _stack(arr)[:, :, :10])
    err = err[:, :, 10:].ravel()
    want = c.write_noise * c.range_S
    assert abs(err.std() / want - 1) < STD_REL
    assert abs(err.mean()) < NSIG * want / math.sqrt(err.size)


# ------------------------------------------------------------------ device-to-device
def test_d2d_multipliers_have_the_configured_spread_and_stay_fixed():
    c = DeviceConfig("d2d", g_min_S=0.0, g_max_S=R, pulse_step_S=R / 100, d2d_variation=0.1)
    shape, ps = (100, 100), c.pulse_step_S
    arr = _at(c, R / 2, R / 2, shape, seed=9)
    for s in (arr.up_scale, arr.down_scale):
        assert abs(s.std() / s.mean() / c.d2d_variation - 1) < D2D_REL
        assert abs(s.mean() - 1) < NSIG * c.d2d_variation / math.sqrt(s.size)

    def one_pulse_steps(a):
        """Measured (up step of G+, down step of G-) of one pulse from mid-range, in pulses."""
        a = replace(a, pair=DifferentialPair(np.full(shape, R / 2), np.full(shape, R / 2)))
        b, n = apply_update(a, _dw_for(ps, shape), G_UNIT, 0)
        assert n == 2 * a.up_scale[0].size
        d = (_stack(b) - _stack(a)) / ps
        return d[0], -d[1]

    up0, down0 = one_pulse_steps(arr)
    np.testing.assert_allclose(up0, arr.up_scale[0], rtol=STEP_RTOL)  # the multiplier is what moves
    np.testing.assert_allclose(down0, arr.down_scale[1], rtol=STEP_RTOL)
    assert abs(up0.std() / up0.mean() / c.d2d_variation - 1) < D2D_REL
    rng = np.random.default_rng(1)
    later = arr
    for _ in range(50):
        later, _ = apply_update(later, rng.normal(scale=0.05, size=shape), G_UNIT, rng)
    np.testing.assert_array_equal(later.up_scale, arr.up_scale)
    np.testing.assert_array_equal(later.down_scale, arr.down_scale)
    up1, down1 = one_pulse_steps(later)  # same device, same step
    np.testing.assert_array_equal(up1, up0)
    np.testing.assert_array_equal(down1, down0)


# ------------------------------------------------------------------ asymmetry
@pytest.mark.parametrize(
    ("pulsed", "d2d", "tol"),
    [(True, 0.1, RATIO_REL), (False, 0.1, RATIO_REL), (True, 0.0, FLOAT), (False, 0.0, FLOAT)],
    ids=["pulsed-d2d", "analog-d2d", "pulsed-exact", "analog-exact"],
)
def test_asymmetry_ratio_of_mean_up_to_mean_down_step(pulsed, d2d, tol):
    a = 0.2
    c = DeviceConfig(
        "asym",
        g_min_S=0.0,
        g_max_S=R,
        pulse_step_S=R / 100 if pulsed else None,
        d2d_variation=d2d,
        asymmetry=a,
    )
    shape, dg = (100, 100), R / 100
    arr = _at(c, R / 2, R / 2, shape, seed=4)
    ups, downs = [], []
    for sign in (+1, -1):
        new, _ = apply_update(arr, sign * _dw_for(dg, shape), G_UNIT, 0)
        d = _stack(new) - _stack(arr)
        i_up = 0 if sign > 0 else 1
        ups.append(d[i_up])
        downs.append(-d[1 - i_up])
    ratio = np.mean(ups) / np.mean(downs)
    assert abs(ratio * (1 - a) - 1) < tol


def test_level_rounding_keeps_sub_level_steps_unbiased():
    """A 0.8-level depression step on a 16-level device moves 0.8 levels on average."""
    a = 0.2
    c = replace(PRESETS["4bit"], name="4bit-asym", asymmetry=a)
    shape = (200, 100)
    mid = 8 * c.level_spacing_S
    arr = _at(c, mid, mid, shape)
    new, _ = apply_update(arr, -_dw_for(c.pulse_step_S, shape), G_UNIT, 12)
    levels_moved = (_stack(new) - _stack(arr)) / c.level_spacing_S
    assert np.all(np.isclose(levels_moved[0], 0.0, atol=FLOAT) | np.isclose(levels_moved[0], -1.0))
    down = -levels_moved[0]  # G+ depressed by one pulse of (1 - a) levels
    sigma = math.sqrt(a * (1 - a) / down.size)
    assert abs(down.mean() - (1 - a)) < NSIG * sigma
    np.testing.assert_allclose(levels_moved[1], 1.0, rtol=FLOAT)  # G+ potentiated a full level


# ------------------------------------------------------------------ soft bounds
def test_soft_bound_step_shrinks_linearly_towards_the_bound():
    c = DeviceConfig("soft", g_min_S=1e-6, g_max_S=1e-6 + R, pulse_step_S=R / 50, soft_bounds=True)
    g = np.linspace(c.g_min_S, c.g_max_S, 11)
    arr = _at(c, g, g, g.shape)
    new, _ = apply_update(arr, _dw_for(c.pulse_step_S, g.shape), G_UNIT, 0)
    up = new.pair.g_pos_S - g
    down = g - new.pair.g_neg_S
    np.testing.assert_allclose(up, c.pulse_step_S * (c.g_max_S - g) / R, rtol=STEP_RTOL, atol=1e-22)
    np.testing.assert_allclose(
        down, c.pulse_step_S * (g - c.g_min_S) / R, rtol=STEP_RTOL, atol=1e-22
    )
    # analog soft bounds: a small write scales the same way to first order in dG / R
    ca = replace(c, name="soft-analog", pulse_step_S=None)
    dg = 1e-6 * R
    new, _ = apply_update(_at(ca, g, g, g.shape), _dw_for(dg, g.shape), G_UNIT, 0)
    np.testing.assert_allclose(
        new.pair.g_pos_S - g, dg * (ca.g_max_S - g) / R, rtol=1e-5, atol=1e-24
    )


def test_soft_bound_closed_form_matches_pulse_by_pulse():
    c = DeviceConfig(
        "soft",
        g_min_S=0.0,
        g_max_S=R,
        pulse_step_S=R / 30,
        d2d_variation=0.1,
        asymmetry=0.3,
        soft_bounds=True,
    )
    shape = (20, 20)
    rng = np.random.default_rng(2)
    start = _at(c, rng.uniform(0, R, shape), rng.uniform(0, R, shape), shape, seed=8)
    for n in (1, 7, 40):
        for sign in (+1, -1):
            closed, pulses = apply_update(start, sign * _dw_for(n * c.pulse_step_S, shape), 1e-5, 0)
            assert pulses == 2 * n * start.up_scale[0].size
            stepped = start
            for _ in range(n):
                stepped, _ = apply_update(stepped, sign * _dw_for(c.pulse_step_S, shape), G_UNIT, 0)
            np.testing.assert_allclose(
                _stack(closed), _stack(stepped), rtol=CLOSED_RTOL, atol=1e-22
            )
            assert stepped.pulses == closed.pulses
            G = _stack(closed)
            assert G.min() > c.g_min_S and G.max() < c.g_max_S  # bounds only approached


# ------------------------------------------------------------------ reads
def test_read_noise_relative_std():
    c = replace(PRESETS["bounded"], name="read-noisy", read_noise=0.05)
    shape = (200, 100)
    g = 1.2e-5
    arr = _at(c, g, 0.0, shape)
    w = read(arr, G_UNIT, rng=np.random.default_rng(6))
    assert abs(w.std() / w.mean() / c.read_noise - 1) < STD_REL
    assert abs(w.mean() / (g / G_UNIT) - 1) < NSIG * c.read_noise / math.sqrt(w.size)
    # both sides of the pair are read with independent noise
    arr = _at(c, g, 0.5 * g, shape)
    w = read(arr, G_UNIT, rng=7)
    want = c.read_noise * math.hypot(g, 0.5 * g) / G_UNIT
    assert abs(w.std() / want - 1) < STD_REL
    # without rng a read is noiseless and the state never changes
    np.testing.assert_array_equal(read(arr, G_UNIT), weights(arr, G_UNIT))


def test_drift_power_law():
    c = replace(PRESETS["pcm"], read_noise=0.0)
    shape = (5, 4)
    rng = np.random.default_rng(0)
    arr = _at(c, rng.uniform(0, R, shape), rng.uniform(0, R, shape), shape)
    w = weights(arr, G_UNIT)
    t0 = c.drift_t0_s
    np.testing.assert_allclose(
        read(arr, G_UNIT, rng=1, t_s=10 * t0), w * 10.0 ** (-c.drift_nu), rtol=FLOAT
    )
    np.testing.assert_allclose(
        read(arr, G_UNIT, t_s=1000 * t0), w * 1000.0 ** (-c.drift_nu), rtol=FLOAT
    )
    np.testing.assert_array_equal(read(arr, G_UNIT, t_s=0.5 * t0), w)  # no drift before t0
    np.testing.assert_array_equal(read(arr, G_UNIT), w)


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"g_min_S": -1e-6}, "g_min_S"),
        ({"g_min_S": "0"}, "g_min_S"),
        ({"g_min_S": 1e-5, "g_max_S": 1e-5}, "g_max_S"),
        ({"g_max_S": float("nan")}, "g_max_S"),
        ({"g_max_S": R, "levels": 1}, "levels"),
        ({"g_max_S": R, "levels": 4.0}, "levels"),
        ({"g_max_S": R, "levels": True}, "levels"),
        ({"levels": 16}, "levels"),  # needs a finite range
        ({"pulse_step_S": 0.0}, "pulse_step_S"),
        ({"g_max_S": R, "pulse_step_S": 2 * R}, "pulse_step_S"),
        ({"g_max_S": R, "write_noise": -0.01}, "write_noise"),
        ({"write_noise": 0.01}, "write_noise"),  # a fraction of an infinite range
        ({"d2d_variation": -0.1}, "d2d_variation"),
        ({"asymmetry": 1.0}, "asymmetry"),
        ({"asymmetry": -0.1}, "asymmetry"),
        ({"soft_bounds": "yes"}, "soft_bounds"),
        ({"soft_bounds": True}, "soft_bounds"),  # needs a finite range
        ({"read_noise": float("inf")}, "read_noise"),
        ({"drift_nu": -0.05}, "drift_nu"),
        ({"drift_t0_s": 0.0}, "drift_t0_s"),
    ],
)
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(pa.InvalidInputError, match=field) as info:
        DeviceConfig(**kwargs)
    assert "\n" not in str(info.value)


def test_config_defaults_and_derived_values():
    c = PRESETS["4bit"]
    assert c.levels == 16 and c.pulse_step_S == pytest.approx(R / 15, rel=EXACT)
    assert c.level_spacing_S == c.pulse_step_S
    assert PRESETS["ideal"].exact_writes and not PRESETS["bounded"].exact_writes
    assert PRESETS["pcm"].asymmetry == 0.5 and PRESETS["pcm"].levels is None
    assert DeviceConfig(g_max_S=5).g_max_S == 5.0 and isinstance(
        DeviceConfig(g_max_S=5).g_max_S, float
    )
    with pytest.raises(TypeError):
        PRESETS["extra"] = PRESETS["ideal"]  # read-only


@pytest.mark.parametrize("name", list(PRESETS))
def test_json_round_trip(name, tmp_path):
    c = PRESETS[name]
    text = json.dumps(c.to_dict(), allow_nan=False)  # strict JSON: inf is written as null
    assert DeviceConfig.from_dict(json.loads(text)) == c
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    assert load_device_config(path) == c
    assert load_device_config(str(path)) == c
    assert load_device_config(name) is c


def test_load_errors_and_unknown_keys(tmp_path):
    with pytest.raises(pa.InvalidInputError, match="wirte_noise"):
        DeviceConfig.from_dict({"name": "x", "g_max_S": R, "wirte_noise": 0.02})
    with pytest.raises(pa.InvalidInputError, match="format"):
        DeviceConfig.from_dict({"format": "pc-analog.device/9"})
    with pytest.raises(pa.InvalidInputError, match="JSON object"):
        DeviceConfig.from_dict([1, 2])
    assert DeviceConfig.from_dict({"g_max_S": R, "levels": 8}).pulse_step_S == pytest.approx(R / 7)
    with pytest.raises(pa.InvalidInputError, match="neither a preset"):
        load_device_config("no-such-device")
    with pytest.raises(pa.InvalidInputError, match="directory"):
        load_device_config(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(pa.InvalidInputError, match="invalid JSON"):
        load_device_config(bad)
    bad.write_text(json.dumps({"g_max_S": R, "asymmetry": 2}))
    with pytest.raises(pa.InvalidInputError, match="asymmetry"):
        load_device_config(bad)
    with pytest.raises(pa.InvalidInputError):
        load_device_config(42)


def test_function_input_validation():
    arr = fabricate(PRESETS["4bit"], np.zeros((2, 3)), G_UNIT, 0)
    with pytest.raises(pa.InvalidInputError, match="dW"):
        apply_update(arr, np.zeros((3, 2)), G_UNIT, 0)
    with pytest.raises(pa.InvalidInputError, match="dW"):
        apply_update(arr, np.full((2, 3), np.nan), G_UNIT, 0)
    with pytest.raises(pa.InvalidInputError, match="rng"):
        apply_update(arr, np.zeros((2, 3)), G_UNIT, None)
    with pytest.raises(pa.InvalidInputError, match="g_unit_S"):
        fabricate(PRESETS["4bit"], np.zeros(2), 0.0, 0)
    with pytest.raises(pa.InvalidInputError, match="W"):
        fabricate(PRESETS["4bit"], [np.inf], G_UNIT, 0)
    with pytest.raises(pa.InvalidInputError, match="t_s"):
        read(arr, G_UNIT, t_s=-1.0)
    with pytest.raises(pa.InvalidInputError, match="up_scale"):
        replace(arr, up_scale=np.ones((2, 3)))
    with pytest.raises(pa.InvalidInputError, match="pair"):
        replace(arr, pair=DifferentialPair(np.full((2, 3), 2 * R), np.zeros((2, 3))))


# ------------------------------------------------------------------ seeding
@pytest.mark.parametrize("name", ["rram", "pcm", "4bit-noisy"])
def test_same_seed_same_result_different_seed_different(name):
    c = PRESETS[name]

    def run(seed):
        rng = np.random.default_rng(seed)
        arr = fabricate(c, np.random.default_rng(0).normal(size=(8, 8)), G_UNIT, rng)
        for i in range(20):
            arr, _ = apply_update(arr, 0.05 * np.sin(np.arange(64) + i).reshape(8, 8), G_UNIT, rng)
        return arr, read(arr, G_UNIT, rng=rng, t_s=100.0)

    (a, ra), (b, rb), (d, rd) = run(42), run(42), run(43)
    for x, y in ((a, b),):
        np.testing.assert_array_equal(_stack(x), _stack(y))
        np.testing.assert_array_equal(x.up_scale, y.up_scale)
        assert x.pulses == y.pulses
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(_stack(a), _stack(d))
    assert not np.array_equal(ra, rd)
    # an integer seed is the same as a Generator built from it
    e1, _ = apply_update(a, np.full((8, 8), 0.01), G_UNIT, 5)
    e2, _ = apply_update(a, np.full((8, 8), 0.01), G_UNIT, np.random.default_rng(5))
    np.testing.assert_array_equal(_stack(e1), _stack(e2))


# ------------------------------------------------- accumulated (mixed-precision) updates
ACC_STEPS = 300  # updates in the conservation test
ACC_PAIRS = 400  # pairs in the pulse-count comparison
ACC_T = 1000  # updates in the pulse-count comparison
ACC_SMALL = 0.05  # size of those updates, in pulse steps (random sign)
ACC_RATIO_MAX = 0.2  # accumulated / stochastic pulses (random walk theory: ~ACC_SMALL)
NOISE_PAIRS = 20000  # pairs in the write-noise check


def test_accumulate_conserves_the_requested_updates_and_counts_pulses():
    """No noise: programmed weight + accumulator = initial weight + sum of requests."""
    c = DeviceConfig("acc", g_max_S=R, levels=64)
    rng = np.random.default_rng(0)
    W0 = rng.uniform(-0.5, 0.5, (6, 7))  # |W| <= 0.5: 16 of 63 steps, far from g_max
    arr = fabricate(c, W0, G_UNIT, 1)
    W0 = weights(arr, G_UNIT)  # on the level grid
    eps = c.pulse_step_S / G_UNIT
    chi = np.zeros(W0.shape)
    requested = W0.copy()
    pulses = 0
    for i in range(ACC_STEPS):
        # mostly sub-step requests, now and then several steps at once
        dW = rng.normal(0.0, 0.3 * eps, W0.shape) * (1.0 + 10.0 * (i % 50 == 0))
        G_old = arr.conductances_S
        arr, chi, n = apply_accumulated(arr, chi, dW, G_UNIT, rng)
        requested += dW
        G = arr.conductances_S
        assert G.max() < c.g_max_S  # not saturated: the invariant must hold exactly
        np.testing.assert_allclose(weights(arr, G_UNIT) + chi, requested, rtol=0, atol=FLOAT)
        assert np.all(np.abs(chi) < eps)
        # pulses: the whole steps each device moved (levels = pulse steps here)
        moved = np.abs(G - G_old) / c.pulse_step_S
        np.testing.assert_allclose(moved, np.rint(moved), atol=GRID * 63)
        assert n == int(np.rint(moved).sum())
        # sign-magnitude: one device of every pair stays at g_min
        assert np.all(np.minimum(G[0], G[1]) == c.g_min_S)
        pulses += n
    assert arr.pulses == pulses > 0


def test_accumulate_uses_far_fewer_pulses_than_stochastic_rounding():
    """Many small random-sign requests: stochastic rounding pulses on every one of them.

    Stochastic mode splits each request over the pair, so each device is asked for
    ACC_SMALL / 2 steps and pulses with that probability: E = 2 pairs T ACC_SMALL / 2,
    checked within NSIG standard errors.  Accumulated mode pulses only when a pair's
    random walk leaves (-eps, eps), about once every ACC_SMALL^-2 updates (ratio
    ~ACC_SMALL): far fewer.
    """
    c = DeviceConfig("acc", g_max_S=R, levels=256)
    eps = c.pulse_step_S / G_UNIT
    rng = np.random.default_rng(3)
    signs = rng.choice([-1.0, 1.0], size=(ACC_T, ACC_PAIRS))
    mid = np.full(ACC_PAIRS, 0.5 * R)
    sto = acc = _at(c, mid, mid, (ACC_PAIRS,))
    chi = np.zeros(ACC_PAIRS)
    n_sto = n_acc = 0
    for s in signs:
        dW = ACC_SMALL * eps * s
        sto, n = apply_update(sto, dW, G_UNIT, rng)
        n_sto += n
        acc, chi, n = apply_accumulated(acc, chi, dW, G_UNIT, rng)
        n_acc += n
    # apply_update splits dW over the pair: each device is asked for ACC_SMALL / 2 steps
    p = ACC_SMALL / 2
    expect = 2 * ACC_PAIRS * ACC_T * p
    assert abs(n_sto - expect) < NSIG * math.sqrt(2 * ACC_PAIRS * ACC_T * p * (1 - p))
    assert n_acc < ACC_RATIO_MAX * n_sto
    # and never more than the requests' total size in steps (plus the start residue)
    assert n_acc <= ACC_PAIRS * ACC_T * ACC_SMALL


def test_accumulate_write_noise_only_on_pulsed_devices():
    c = DeviceConfig("acc", g_max_S=R, pulse_step_S=R / 100, write_noise=0.02)
    eps = c.pulse_step_S / G_UNIT
    g = np.full(NOISE_PAIRS, 0.5 * R)
    arr = _at(c, g, g, (NOISE_PAIRS,))
    chi = np.where(np.arange(NOISE_PAIRS) % 2 == 0, 0.6 * eps, 0.0)  # even pairs: one pulse
    rng = np.random.default_rng(7)
    new, chi_new, n = apply_accumulated(arr, chi, np.full(NOISE_PAIRS, 0.5 * eps), G_UNIT, rng)
    even = np.arange(NOISE_PAIRS) % 2 == 0
    assert n == NOISE_PAIRS // 2
    np.testing.assert_allclose(chi_new, np.where(even, 0.1 * eps, 0.5 * eps), atol=FLOAT)
    G0, G = arr.conductances_S, new.conductances_S
    # untouched devices: exactly as before (no noise draw)
    np.testing.assert_array_equal(G[:, ~even], G0[:, ~even])
    np.testing.assert_array_equal(G[0, even], G0[0, even])  # G- went down, G+ rested
    # the pulsed devices: one step down plus noise of std write_noise * range
    err = G[1, even] - (G0[1, even] - c.pulse_step_S)
    sd = c.write_noise * R
    k = err.size
    assert abs(err.mean()) < NSIG * sd / math.sqrt(k)
    assert abs(err.std() / sd - 1) < STD_REL
    # exactly k normals were drawn: the generator is where k draws leave it
    ref = np.random.default_rng(7)
    ref.normal(size=k)
    assert rng.random() == ref.random()


def test_accumulate_needs_a_pulsed_device_and_valid_input():
    for name in ("ideal", "bounded"):
        arr = fabricate(PRESETS[name], np.zeros(3), G_UNIT, 0)
        with pytest.raises(pa.InvalidInputError, match="pulse step"):
            apply_accumulated(arr, np.zeros(3), np.zeros(3), G_UNIT, 0)
    arr = fabricate(PRESETS["4bit"], np.zeros((2, 3)), G_UNIT, 0)
    with pytest.raises(pa.InvalidInputError, match="chi"):
        apply_accumulated(arr, np.zeros((3, 2)), np.zeros((2, 3)), G_UNIT, 0)
    with pytest.raises(pa.InvalidInputError, match="dW"):
        apply_accumulated(arr, np.zeros((2, 3)), np.full((2, 3), np.inf), G_UNIT, 0)


def test_accumulate_is_deterministic_per_seed():
    c = PRESETS["rram"]

    def run(seed):
        rng = np.random.default_rng(seed)
        arr = fabricate(c, np.random.default_rng(0).normal(size=(8, 8)), G_UNIT, rng)
        chi = np.zeros((8, 8))
        for i in range(20):
            dW = 0.3 * np.sin(np.arange(64) + i).reshape(8, 8)
            arr, chi, _ = apply_accumulated(arr, chi, dW, G_UNIT, rng)
        return arr, chi

    (a, ca), (b, cb), (d, _) = run(42), run(42), run(43)
    np.testing.assert_array_equal(_stack(a), _stack(b))
    np.testing.assert_array_equal(ca, cb)
    assert a.pulses == b.pulses > 0
    assert not np.array_equal(_stack(a), _stack(d))


# ------------------------------------------------------------- read_pair
def test_read_pair_is_the_read_as_conductances():
    """``read_pair`` makes the draws of ``read``; its pair's weights are ``read``'s, bit for bit."""
    from pc_analog.hardware.devices import read, read_pair

    c = PRESETS["pcm"]
    assert c.read_noise > 0 and c.drift_nu > 0
    arr = fabricate(c, np.random.default_rng(0).uniform(-1, 1, (3, 4)), 1e-5, 0)
    assert read_pair(arr) is arr.pair  # nothing to read differently: the programmed pair
    assert read_pair(arr, t_s=0.5 * c.drift_t0_s) is arr.pair  # before t0: no drift
    for rng, t_s in ((1, None), (None, 100.0), (2, 1e4)):
        p = read_pair(arr, np.random.default_rng(rng) if rng else None, t_s)
        w = read(arr, 1e-5, np.random.default_rng(rng) if rng else None, t_s)
        np.testing.assert_array_equal(p.weights(1e-5), w)
        assert p is not arr.pair
    drifted = read_pair(arr, t_s=20.0 * c.drift_t0_s)
    np.testing.assert_allclose(
        drifted.g_pos_S, arr.pair.g_pos_S * 20.0 ** (-c.drift_nu), rtol=1e-15, atol=0
    )
