"""Noise sources of the circuit: data of the IR, and the noise intensity each element owns.

Every noise source is white (flat one-sided power spectral density ``S`` up to far above
the circuit's bandwidth ``1/tau``) and independent of every other:

- **thermal noise** of every physical conductance ``G`` (Johnson-Nyquist): a current
  source in parallel with it of one-sided density ``S_I = 4 k T G`` (A^2/Hz).  At the
  behavioural level the only physical conductances are the springs ``pi g0`` (SPEC
  section 5: controlled sources are noiseless); the crossbar level adds every crossbar
  cell (both devices of each pair) and wire segment (a circuit carrying a crossbar model:
  :func:`pc_analog.solvers._crossbar.row_noise_maps`); the readouts' transimpedance is
  part of the noiseless amplifier model;
- **amplifier noise**: every active stage (prediction, error buffer, feedback sum;
  :mod:`pc_analog.circuit.amplifiers`) has an input-referred white voltage noise of
  density ``e_n`` (V/sqrt(Hz), so ``S_V = e_n^2``).  It enters exactly where the stage's
  input offset enters: a stage ``v = clip(a (u + V_os + v_n(t)))`` sees a time-varying
  offset;
- **device read noise** during settling: each crossbar device's conductance fluctuates
  as ``G (1 + r(t))`` with ``r`` white of relative density ``read_noise_rtHz``
  (1/sqrt(Hz)).  A read row sums the currents ``G_ji r_ji(t) v_i`` of its cells, so the
  row's stage sees an extra input noise of density
  ``sum_i (G+_ji^2 + G-_ji^2) v_i^2 / g_unit^2 * read_noise_rtHz^2`` (V^2/Hz) with
  ``v_i`` the column drive (``phi(x)``, ``1 V`` for the bias, ``pi e`` for the feedback
  columns).  A device's per-read relative standard deviation ``sigma_r`` (the
  ``read_noise`` of :class:`pc_analog.hardware.device_config.DeviceConfig`) maps to a
  density through the length of a read, :func:`read_noise_density`.

A white source of one-sided density ``S`` is, in the circuit's stochastic differential
equation ``C dx = I(x) dt + B dW``, a column of ``B`` of size ``sqrt(S / 2)`` times the
source's gain into the node currents (a two-sided density ``S/2`` per Wiener increment).
For a single node of capacitance ``C`` on its own conductance ``G``:
``C dx = -G x dt + sqrt(2 k T G) dW`` has stationary variance ``kT/C`` for every ``G``.

Everything is off by default (:attr:`NoiseSources.active` False): a circuit without
noise sources is the deterministic circuit of every other backend.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = [
    "K_BOLTZMANN",
    "NoiseSources",
    "NOISE_KINDS",
    "element_noise_psd",
    "with_noise",
    "stage_read_psd",
    "read_noise_density",
]

#: Boltzmann's constant (J/K), exact in the 2019 SI.
K_BOLTZMANN = 1.380649e-23


def _nonneg(v, label: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"noise.{label}: must be a number, got {v!r}")
    v = float(v)
    if not (math.isfinite(v) and v >= 0):
        raise InvalidInputError(f"noise.{label}: must be a finite number >= 0, got {v!r}")
    return v


@dataclass(frozen=True)
class NoiseSources:
    """The circuit's noise sources (SPEC section 5 names; all off by default).

    Attributes
    ----------
    thermal : bool
        Thermal current noise ``4 k T G`` of every physical conductance.
    temperature_K : float
        Absolute temperature ``T`` (> 0; default 300 K).
    amp_noise_V_rtHz : float
        Input-referred white voltage noise density ``e_n`` of every amplifier (>= 0).
    read_noise_rtHz : float
        Relative white conductance noise density of every crossbar device while it is
        read (1/sqrt(Hz), >= 0): ``G(t) = G (1 + r(t))``, ``S_r = read_noise_rtHz^2``.
    """

    thermal: bool = False
    temperature_K: float = 300.0
    amp_noise_V_rtHz: float = 0.0
    read_noise_rtHz: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.thermal, bool):
            raise InvalidInputError(f"noise.thermal: must be true or false, got {self.thermal!r}")
        t = _nonneg(self.temperature_K, "temperature_K")
        if not t > 0:
            raise InvalidInputError(f"noise.temperature_K: must be > 0, got {t!r}")
        object.__setattr__(self, "temperature_K", t)
        for name in ("amp_noise_V_rtHz", "read_noise_rtHz"):
            object.__setattr__(self, name, _nonneg(getattr(self, name), name))

    @property
    def active(self) -> bool:
        """Whether any source is on."""
        return self.thermal or self.amp_noise_V_rtHz > 0 or self.read_noise_rtHz > 0

    @property
    def kT_J(self) -> float:
        """``k T`` in joules."""
        return K_BOLTZMANN * self.temperature_K

    def thermal_psd(self, g_S) -> np.ndarray:
        """One-sided current noise density ``4 k T G`` (A^2/Hz) of conductances ``g_S``
        (0 with thermal noise off)."""
        g = np.asarray(g_S, dtype=float)
        return 4.0 * self.kT_J * g if self.thermal else np.zeros_like(g)

    @property
    def amp_psd(self) -> float:
        """One-sided input voltage noise density ``e_n^2`` (V^2/Hz) of every amplifier."""
        return self.amp_noise_V_rtHz**2


#: Which element kinds own a noise source, and its kind: ``"current"`` (a parallel current
#: source, A^2/Hz) or ``"voltage"`` (an input-referred voltage source, V^2/Hz).
NOISE_KINDS = {
    "springs": "current",
    "crossbar_cells": "current",
    "wire_segments": "current",
    "predictions": "voltage",
    "error_buffers": "voltage",
    "feedback_sources": "voltage",
    "row_readouts": "voltage",
    "column_drivers": "voltage",
}


def element_noise_psd(element, noise: NoiseSources | None) -> float:
    """The one-sided noise density an element owns under ``noise`` (module docstring):
    ``4kTG`` (A^2/Hz) for a conductance (spring, crossbar cell), ``e_n^2`` (V^2/Hz) per
    amplifier stage of an active element, 0 for an element without a noise source
    (capacitors, clamps, references).  Read noise depends on the drive voltages, so it is
    added per stage by :func:`stage_read_psd`, not here."""
    if noise is None:
        return 0.0
    kind = NOISE_KINDS.get(element.kind)
    if kind == "current":
        return float(noise.thermal_psd(element.g_S))
    if kind == "voltage":
        return element.amplifiers * noise.amp_psd
    return 0.0


def with_noise(circuit, noise: NoiseSources | None):
    """``circuit`` with its noise sources set (``None`` or inactive: no noise)."""
    if noise is not None and not isinstance(noise, NoiseSources):
        raise InvalidInputError("noise: expected a NoiseSources record")
    if noise is not None and not noise.active:
        noise = None
    return dataclasses.replace(circuit, noise=noise)


def stage_read_psd(circuit, x, layer: int, role: str) -> np.ndarray:
    """Input noise density (V^2/Hz) of the read stages of one crossbar from device read
    noise, ``(batch, n)`` at activity state ``x`` (module docstring).

    ``role="forward"``: the prediction stages of layer ``layer`` (rows of ``W_l`` and the
    bias column, driven by ``phi(x_{l-1})`` and 1 V); ``role="feedback"``: the feedback
    sums into layer ``layer - 1`` (rows of ``Wfb_l``, driven by ``pi_l eps_l``).
    """
    noise = circuit.noise
    batch = circuit.x_init[0].shape[0] if x is None else x[0].shape[0]
    lay = circuit.layers[layer - 1]
    gu = circuit.g_unit(layer)
    n_out, n_in = lay.forward.g_pos_S.shape
    if noise is None or noise.read_noise_rtHz == 0:
        return np.zeros((batch, n_out if role == "forward" else n_in))
    r2 = noise.read_noise_rtHz**2
    net = circuit.network()
    if role == "forward":
        G2 = (lay.forward.g_pos_S**2 + lay.forward.g_neg_S**2) / gu**2
        Gb2 = (lay.bias.g_pos_S**2 + lay.bias.g_neg_S**2) / gu**2
        a = net.phi(layer - 1).f(x[layer - 1])
        return r2 * ((a**2) @ G2.T + Gb2[None, :])
    G2 = (lay.feedback.g_pos_S**2 + lay.feedback.g_neg_S**2) / gu**2  # (n_in, n_out)
    mu = net.phi(layer - 1).f(x[layer - 1]) @ circuit.forward_weights(layer).T
    eps = x[layer] - mu - circuit.biases(layer)
    u = circuit.precisions(layer) * eps
    return r2 * ((u**2) @ G2.T)


def read_noise_density(read_noise: float, t_read_s: float) -> float:
    """White relative density (1/sqrt(Hz)) of a conductance whose reads of length
    ``t_read_s`` scatter by ``read_noise`` (relative standard deviation per read).

    A white ``r(t)`` of one-sided density ``S_r`` averaged over a window ``T`` has
    variance ``S_r / (2 T)`` (noise-equivalent bandwidth ``1/(2T)``), so
    ``S_r = 2 sigma_r^2 T`` and the density is ``sigma_r sqrt(2 T)``.  The window is an
    assumption the caller states (``pc-analog noise`` takes ``T = tau = C/g0``, the
    circuit's own integration time; docs/noise.md): a per-read figure carries no
    spectrum, and real read noise is partly 1/f, which this white model does not have.
    """
    r = _nonneg(read_noise, "read_noise")
    t = _nonneg(t_read_s, "t_read_s")
    if not t > 0:
        raise InvalidInputError(f"noise.t_read_s: must be > 0, got {t!r}")
    return r * math.sqrt(2.0 * t)
