"""The analog cost model: energy, amplifier count and area, summed over the circuit's inventory.

Every number here is a sum over the elements of ``circuit.inventory(COST_LEVEL)``
(the crossbar level: the physical circuit whose cells dissipate and take area),
so a count can never differ from the netlist ngspice runs or from the graph views.
Each element kind owns its share (:mod:`pc_analog.circuit.inventory`):

- dissipation: a spring ``pi g0 (v(x) - v(m))^2``, a crossbar cell
  ``G (v(col) - v(row))^2`` (rows at virtual ground: a forward pair sees
  ``+-phi(x)``, a bias pair ``+-1 V``, a feedback pair ``+-pi eps``); sources are ideal;
- static power: ``amplifiers * amp_static_power_W``, an amplifier being every
  controlled source in the deck (readouts, error buffers, column drivers'
  ``phi``/``pi`` blocks and inverters, ``phi'`` blocks);
- area: ``cells * cell_area + amplifiers * amp_area + sum_C C / cap_density``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import cumulative_trapezoid

from pc_analog.circuit.ir import Circuit
from pc_analog.costs.specs import AnalogSpec, load_analog_spec
from pc_analog.errors import InvalidInputError
from pc_analog.solvers.base import SettleResult

__all__ = ["COST_LEVEL", "AnalogEnergy", "amplifier_count", "device_counts", "energy_per_inference"]

#: The inventory level the cost model counts and integrates.
COST_LEVEL = "crossbar"


@dataclass(frozen=True)
class AnalogEnergy:
    """Energy of one settle, per sample (joules, arrays of shape ``(batch,)``).

    ``*_J`` integrate from ``t = 0`` to the sample's settling time; ``*_total_J``
    to the end of the simulated transient (``t_end_s``), which also counts the
    steady-state currents that keep flowing while a clamp holds the circuit away
    from zero error.
    """

    springs_J: np.ndarray
    crossbars_J: np.ndarray
    amplifiers_J: np.ndarray
    springs_total_J: np.ndarray
    crossbars_total_J: np.ndarray
    settling_time_s: np.ndarray
    t_end_s: float
    n_amplifiers: int

    @property
    def total_J(self) -> np.ndarray:
        """Springs + crossbars + amplifiers over the settling window."""
        return self.springs_J + self.crossbars_J + self.amplifiers_J


def amplifier_count(circuit: Circuit, *, level: str = COST_LEVEL) -> int:
    """Amplifiers (controlled sources) of ``circuit``'s inventory at ``level``.

    At the crossbar level: per layer ``l = 1..L`` one readout per forward row
    (``m<l>_<j>``), one buffer per error node, two stages per forward column
    (``phi`` block and inverter); if layer ``l-1`` has free units, two per
    feedback column, one readout per feedback row into a free unit and one
    ``phi'`` block per free unit.
    """
    return circuit.inventory(level).n_amplifiers


def _powers(circuit: Circuit, traj) -> tuple[np.ndarray, np.ndarray]:
    """Instantaneous spring and crossbar dissipation ``(n_t, batch)`` in watts.

    The sum of :meth:`Element.power_W` over the inventory's springs and crossbar
    cells at every time point (see the module docstring).
    """
    n_t, batch = traj[0].shape[:2]
    flat = tuple(v.reshape(n_t * batch, -1) for v in traj)
    p = circuit.inventory(COST_LEVEL).power_W(flat)
    return p["springs"].reshape(n_t, batch), p["crossbar_cells"].reshape(n_t, batch)


def energy_per_inference(
    result: SettleResult, circuit: Circuit, spec: AnalogSpec | None = None
) -> AnalogEnergy:
    """Energy of the settle in ``result`` (a time-domain result of ``circuit``).

    .. math::

        E = \\int_0^{t_s} \\Big[\\sum_{springs} \\pi_j g_0 \\varepsilon_j(t)^2
            + \\sum_{cells} G_c V_c(t)^2\\Big] dt + N_{amp} P_{amp} t_s

    integrated by the trapezoid rule on ``result.t`` (pass a dense transient, e.g.
    ``OdeBackend(t_eval_points=...)``, for accuracy); springs, cells and amplifiers
    are those of ``circuit.inventory("crossbar")``.  The integrals are also given
    to the end of the transient.  The model is the RC circuit's; with inertial
    dynamics the same conductances are integrated along the inertial trajectory.
    """
    if result.t is None or result.trajectory is None or result.settling_time_s is None:
        raise InvalidInputError("energy_per_inference: needs a time-domain settle result")
    spec = load_analog_spec(spec)
    t = np.asarray(result.t, dtype=float)
    ps, px = _powers(circuit, result.trajectory)
    cs = cumulative_trapezoid(ps, t, axis=0, initial=0.0)
    cx = cumulative_trapezoid(px, t, axis=0, initial=0.0)
    ts = np.asarray(result.settling_time_s, dtype=float)
    es = np.array([np.interp(ts[b], t, cs[:, b]) for b in range(circuit.batch)])
    ex = np.array([np.interp(ts[b], t, cx[:, b]) for b in range(circuit.batch)])
    n_amp = amplifier_count(circuit)
    return AnalogEnergy(
        springs_J=es,
        crossbars_J=ex,
        amplifiers_J=n_amp * spec.amp_static_power_W * ts,
        springs_total_J=cs[-1].copy(),
        crossbars_total_J=cx[-1].copy(),
        settling_time_s=ts,
        t_end_s=float(t[-1]),
        n_amplifiers=n_amp,
    )


def device_counts(circuit: Circuit, spec: AnalogSpec | None = None) -> dict:
    """Element counts of the crossbar inventory, amplifiers and its area (m^2).

    Keys: ``capacitors``, ``voltage_sources`` (the clamp sources), ``springs``,
    ``crossbar_cells``, ``amplifiers`` and ``area_m2`` = the sum of the elements'
    areas, ``cells * cell_area + amplifiers * amp_area + sum_C C / cap_density``.
    """
    spec = load_analog_spec(spec)
    inv = circuit.inventory(COST_LEVEL)
    c = inv.counts
    return {
        "capacitors": c["capacitors"],
        "voltage_sources": c["clamps"],
        "springs": c["springs"],
        "crossbar_cells": c["crossbar_cells"],
        "amplifiers": inv.n_amplifiers,
        "area_m2": inv.area_m2(spec),
    }
