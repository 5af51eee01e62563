"""Field checks shared by the analog and digital specs (:mod:`pc_analog.costs.specs`,
:mod:`pc_analog.costs.digital_spec`): a positive number in :data:`SPEC_RANGE`, and the
keys of a JSON record against a dataclass's fields."""

from __future__ import annotations

import math
from dataclasses import MISSING, fields

import numpy as np

from pc_analog.errors import InvalidInputError

#: Every physical number of a spec lies in this range (SI units).  Values far outside it
#: (a 1e-300 F node, a 1e300 S spring) make time constants that no integrator can step
#: and energies that overflow; the CLI's hardware flags use the same bounds.
SPEC_RANGE = (1e-30, 1e30)


def _positive(value, label: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{label}: must be a positive number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise InvalidInputError(f"{label}: must be a positive finite number, got {value!r}")
    lo, hi = SPEC_RANGE
    if not lo <= v <= hi:
        raise InvalidInputError(f"{label}: {v:g} is outside [{lo:g}, {hi:g}]")
    return v


def _fields_from(cls, d, what: str, fmt: str) -> dict:
    if not isinstance(d, dict):
        raise InvalidInputError(f"{what}: expected a JSON object, got {type(d).__name__}")
    known = [f.name for f in fields(cls)]
    for key in d:
        if key != "format" and key not in known:
            raise InvalidInputError(
                f"{what}.{key}: unknown field (known: format, {', '.join(known)})"
            )
    if "format" in d and d["format"] != fmt:
        raise InvalidInputError(f"{what}.format: unknown {d['format']!r} (expected {fmt!r})")
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in d:
            raise InvalidInputError(f"{what}.{f.name}: missing")
    return {k: v for k, v in d.items() if k != "format"}
