"""Device models for crossbar conductances, configured as data (in the spirit of aihwkit).

A weight is stored in a differential pair of two non-negative devices,
``W = (G+ - G-) / g_unit`` (:class:`~pc_analog.circuit.ir.DifferentialPair`).  This module
says how those conductances behave when they are programmed, updated and read:

- :class:`DeviceConfig` -- the physics of one device technology, as plain data
  (range, levels, pulse step, write noise, device-to-device variation, up/down
  asymmetry, soft bounds, read noise, drift), loadable from JSON or a preset name;
- :class:`DeviceArray` -- the state of one crossbar's devices: the programmed pair,
  the fabrication-time step multipliers of every device, and the pulse count;
- :func:`fabricate` -- build a crossbar and program initial weights into it;
- :func:`apply_update` -- apply a desired weight change through the device physics;
- :func:`apply_accumulated` -- the same through a per-pair digital accumulator
  (mixed-precision training: only whole pulses are programmed);
- :func:`read` / :func:`weights` -- the weights a read sees (noisy, drifted) or the
  noiseless programmed ones; :func:`read_pair` -- the conductances a read sees, the
  pair a circuit IR is built from.

The code lives in two modules, re-exported here (the import path of every name):
:mod:`pc_analog.hardware.device_config` (the technology as data: config, presets,
files) and :mod:`pc_analog.hardware.device_arrays` (the state of a crossbar and the
functions that fabricate, program and read it).

All functions are pure: they return new objects.  Randomness comes only from the
``rng`` argument (a :class:`numpy.random.Generator` or an integer seed), consumed in a
fixed order, so the same seed gives bit-identical results.

Conventions
-----------
- All quantities are SI: conductances in siemens (``_S``), times in seconds (``_s``).
- ``range = g_max - g_min`` is the conductance range of one device.
- **Write noise is a fraction of the range**: ``write_noise = 0.02`` ("2 % write
  noise") adds a Gaussian error of standard deviation ``0.02 * (g_max - g_min)`` to
  every device that a write event touches.
- **Read noise is relative to the conductance**: ``read_noise = 0.01`` multiplies
  every device's conductance by ``1 + 0.01 * N(0, 1)`` on every read.
- A desired weight change ``dW`` is split evenly across the pair,
  ``dG+ = +g_unit dW / 2``, ``dG- = -g_unit dW / 2`` (open-loop programming: both
  devices receive pulses, neither is read back).  A device that sits at a bound
  cannot follow its half of the request; that part of the update is lost.  With the
  fabrication mapping below one device of every pair starts at ``g_min``, so an update
  that *grows* ``|W|`` achieves only half of ``dW`` there while one that shrinks ``|W|``
  achieves all of it.  This is the physical behaviour of the scheme, not a bug;
  the ideal configuration is exempt (see :func:`apply_update`).

Typical published ranges (guidance from the literature, not values verified here):
RRAM (HfOx, TaOx) devices span roughly 1-100 uS with tens to a few hundred
distinguishable states, a few per cent cycle-to-cycle noise and ~10 % device-to-device
variation; PCM (GST) devices span roughly 0.1-25 uS, potentiate gradually (partial
SET) but depress abruptly (RESET), and drift as ``g(t) = g_prog (t/t0)^-nu`` with
``nu`` around 0.05 for the amorphous phase (aihwkit's PCM noise model takes
``t0 = 20 s``).
"""

from __future__ import annotations

from pc_analog.hardware.device_arrays import (
    DeviceArray,
    apply_accumulated,
    apply_update,
    fabricate,
    read,
    read_pair,
    weights,
)
from pc_analog.hardware.device_config import (
    DEVICE_FORMAT,
    PRESETS,
    DeviceConfig,
    load_device_config,
)

__all__ = [
    "DEVICE_FORMAT",
    "DeviceConfig",
    "DeviceArray",
    "PRESETS",
    "load_device_config",
    "fabricate",
    "apply_update",
    "apply_accumulated",
    "read",
    "read_pair",
    "weights",
]
