"""Data converters at the circuit's boundary: the DAC that drives clamped nodes and the ADC
that reads settled activities.

Both are uniform mid-tread quantisers over ``[-R, R]`` (0 V is a level; ``2^bits - 2``
steps over the full range, the step count of aihwkit's defaults ``inp_res = 1/(2^7 - 2)``
and ``out_res = 1/(2^9 - 2)``): for ``bits >= 2`` the step is

    delta = R / (2^(bits-1) - 1),      q(v) = clip(delta * round(v / delta), -R, R)

(``2^bits - 1`` levels, ``round`` half to even); ``bits = 1`` is a comparator,
``q(v) = R`` for ``v >= 0`` and ``-R`` below.  Values beyond the range clip to ``+-R``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = ["Converter", "quantise", "dac_circuit"]


@dataclass(frozen=True)
class Converter:
    """A ``bits``-bit converter over ``+-range_V`` (``quantise`` applies it)."""

    bits: int
    range_V: float

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, (int, np.integer)):
            raise InvalidInputError(f"converter bits: must be an integer, got {self.bits!r}")
        if not 1 <= self.bits <= 32:
            raise InvalidInputError(f"converter bits: must be 1..32, got {self.bits!r}")
        r = self.range_V
        if isinstance(r, bool) or not (isinstance(r, (int, float)) and math.isfinite(r) and r > 0):
            raise InvalidInputError(f"converter range_V: must be > 0, got {r!r}")

    @property
    def step_V(self) -> float:
        """The quantisation step ``delta`` (``2 R`` for one bit)."""
        if self.bits == 1:
            return 2.0 * self.range_V
        return self.range_V / (2 ** (self.bits - 1) - 1)

    def __call__(self, v):
        return quantise(v, self.bits, self.range_V)


def quantise(v, bits: int, range_V: float) -> np.ndarray:
    """``v`` quantised by a ``bits``-bit converter over ``+-range_V`` (module docstring)."""
    v = np.asarray(v, dtype=float)
    if bits == 1:
        return np.where(v >= 0, range_V, -range_V)
    delta = range_V / (2 ** (bits - 1) - 1)
    return np.clip(delta * np.round(v / delta), -range_V, range_V)


def dac_circuit(circuit, bits: int, range_V: float):
    """``circuit`` with every clamp value quantised by the DAC; the free units start from
    the feedforward pass of the quantised clamps (the circuit's own start rule)."""
    conv = Converter(bits, range_V)
    values = tuple(
        np.where(m[None, :], conv(x), x) for x, m in zip(circuit.x_init, circuit.clamp.masks)
    )
    return circuit.with_stimulus(clamp=circuit.clamp, values=values)
