"""Analog spec format /2 (SPEC section 5): field names, defaults, /1 compatibility, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pc_analog.costs.specs import (
    ANALOG_PRESETS,
    ANALOG_SPEC_FORMAT,
    ANALOG_SPEC_FORMAT_V1,
    NOT_IMPLEMENTED,
    AnalogSpec,
    load_analog_spec,
    save_spec,
)
from pc_analog.errors import InvalidInputError

V2_FIELDS = {
    "amp_gain": None,
    "amp_gbw_Hz": None,
    "amp_offset_V": 0.0,
    "amp_rail_V": None,
    "amp_noise_V_rtHz": 0.0,
    "wire_r_ohm": 0.0,
    "dac_bits": None,
    "dac_range_V": 1.0,
    "adc_bits": None,
    "adc_range_V": 1.0,
    "thermal_noise": False,
    "temperature_K": 300.0,
    "mismatch_seed": 0,
    "phi_gain_error": 0.0,
    "phi_offset_V": 0.0,
    "dphi_gain_error": 0.0,
    "dphi_offset_V": 0.0,
}


def _write(tmp_path, d):
    p = tmp_path / "spec.json"
    p.write_text(json.dumps(d))
    return p


def test_every_spec_field_name_exists_with_an_ideal_default():
    s = AnalogSpec()
    for name, default in V2_FIELDS.items():
        assert getattr(s, name) == default, name
    assert s.nonideal_fields == ()
    assert s.amp_bandwidth_Hz == 100e6 and s.amp_tau_s > 0  # /1 fields still work


def test_v1_file_still_loads_and_default_spec_still_writes_v1(tmp_path):
    p = _write(tmp_path, {"format": ANALOG_SPEC_FORMAT_V1, "c_F": 2e-12, "name": "old"})
    s = load_analog_spec(p)
    assert s.c_F == 2e-12 and s.amp_gain is None
    assert AnalogSpec().to_dict()["format"] == ANALOG_SPEC_FORMAT_V1
    assert ANALOG_PRESETS["default"] == AnalogSpec()


def test_v2_round_trip(tmp_path):
    s = AnalogSpec(
        name="chip", amp_gain=1e4, amp_offset_V=2e-3, amp_rail_V=1.2, dac_bits=7,
        adc_bits=9, adc_range_V=2.0, mismatch_seed=3,
    )  # fmt: skip
    d = s.to_dict()
    assert d["format"] == ANALOG_SPEC_FORMAT and d["amp_gain"] == 1e4
    save_spec(s, tmp_path / "s.json")
    assert load_analog_spec(tmp_path / "s.json") == s
    assert set(s.nonideal_fields) == {
        "amp_gain", "amp_offset_V", "amp_rail_V", "dac_bits", "adc_bits", "adc_range_V",
        "mismatch_seed",
    }  # fmt: skip


def test_null_and_zero_mean_ideal(tmp_path):
    d = {"format": ANALOG_SPEC_FORMAT, **{k: None for k in V2_FIELDS if k not in
         ("dac_range_V", "adc_range_V", "temperature_K")}}  # fmt: skip
    d.update(amp_offset_V=0, wire_r_ohm=0, amp_noise_V_rtHz=0, thermal_noise=False)
    s = load_analog_spec(_write(tmp_path, d))
    assert s.nonideal_fields == ()


def test_unknown_field_refused_by_name(tmp_path):
    with pytest.raises(InvalidInputError, match=r"^analog\.amp_gian: unknown field"):
        load_analog_spec(_write(tmp_path, {"format": ANALOG_SPEC_FORMAT, "amp_gian": 100}))


def test_v2_field_in_a_v1_file_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match=r"^analog\.amp_gain: a field of format"):
        load_analog_spec(_write(tmp_path, {"format": ANALOG_SPEC_FORMAT_V1, "amp_gain": 100}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amp_gain", 0),
        ("amp_gain", -10.0),
        ("amp_gain", "big"),
        ("amp_gain", float("inf")),
        ("amp_rail_V", 0.0),
        ("amp_rail_V", -1.0),
        ("amp_offset_V", -1e-3),
        ("wire_r_ohm", -1.0),
        ("dac_bits", 0),
        ("adc_bits", 0),
        ("adc_bits", 2.5),
        ("dac_bits", True),
        ("dac_bits", 33),
        ("dac_range_V", 0.0),
        ("adc_range_V", -1.0),
        ("temperature_K", 0.0),
        ("thermal_noise", "yes"),
        ("mismatch_seed", -1),
        ("mismatch_seed", 1.5),
    ],
)
def test_bad_values_refused_naming_the_field(field, value):
    with pytest.raises(InvalidInputError, match=rf"^analog\.{field}: ") as info:
        AnalogSpec(**{field: value})
    assert "\n" not in str(info.value)


def test_every_v2_field_is_implemented():
    """Nothing of format /2 is refused any more: a spec with every non-ideality on loads,
    and each field reads back as set away from ideal."""
    assert NOT_IMPLEMENTED == ()
    on = dict(amp_gain=1e4, amp_gbw_Hz=1e7, amp_offset_V=1e-3, amp_rail_V=1.5,
              amp_noise_V_rtHz=1e-8, wire_r_ohm=1.0, dac_bits=8, adc_bits=8,
              thermal_noise=True, temperature_K=350.0, mismatch_seed=3, phi_gain_error=0.01,
              phi_offset_V=1e-3, dphi_gain_error=0.01, dphi_offset_V=1e-3)  # fmt: skip
    assert set(AnalogSpec(**on).nonideal_fields) == set(on)


def test_presets_load_by_name():
    assert load_analog_spec("low-power").c_F == 10e-12
    assert load_analog_spec("rram").nonideal_fields == ()


@pytest.mark.parametrize(
    ("field", "value"), [("c_F", 1e-300), ("g0_S", 1e300), ("g_unit_S", 1e-40)]
)
def test_extreme_physical_numbers_are_refused(tmp_path, field, value):
    """A 1e-300 F node makes a time constant no integrator can step: refused by name."""
    with pytest.raises(InvalidInputError, match=rf"^analog\.{field}: .* is outside"):
        load_analog_spec(_write(tmp_path, {"format": ANALOG_SPEC_FORMAT, field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("amp_gbw_Hz", 1e7), ("phi_gain_error", 0.05), ("phi_offset_V", 1e-3),
     ("dphi_gain_error", 0.05), ("dphi_offset_V", 1e-3), ("amp_noise_V_rtHz", 1e-8)],
)  # fmt: skip
def test_behavioural_only_fields_refused_at_crossbar_level(field, value):
    """The crossbar model has no poles or block errors: refused there, never ignored
    (before this check, the crossbar rest point with phi_gain_error 0.05 was the ideal one)."""
    from pc_analog.circuit.ir import compile_network
    from pc_analog.model.network import Network

    net = Network.random([3, 4, 2], ["linear", "tanh"], seed=1)
    circ = compile_network(net, np.zeros((1, 3)))
    spec = AnalogSpec(**{field: value})
    assert spec.apply(circ, "behavioural") is not circ  # applied at the behavioural level
    with pytest.raises(InvalidInputError, match=f"analog.{field}: not implemented at the crossbar"):
        spec.apply(circ, "crossbar")
