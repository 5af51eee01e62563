"""One sweep point: :func:`run_point`, a pure top-level function of ``(params, seed)``.

Every quantity reads the point's devices through the one device path
(:func:`pc_analog.hardware.hebbian.device_circuit`); see :data:`QUANTITIES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from pc_analog.experiments.sweep_config import _device_config, _resolved

__all__ = ["run_point"]


def _network_and_data(p: Mapping, seed0: int):
    from pc_analog.experiments.studies import chain_network
    from pc_analog.model.network import Network

    L, w, B = p["depth"], p["width"], p["batch"]
    if p["network"] == "chain":
        net = chain_network(L, w, activation=p["activation"], gain=p["gain"])
        return net, np.ones((B, w)), np.zeros((B, w))
    rng = np.random.default_rng([seed0, p["repeat"]])
    net = Network.random([w] * (L + 1), p["activation"], seed=rng, gain=p["gain"])
    return net, rng.uniform(-1, 1, size=(B, w)), rng.uniform(-1, 1, size=(B, w))


def run_point(params: Mapping, seed: Sequence[int], quantities: Sequence[str] = ("settling",)):
    """Evaluate one sweep point; a pure top-level function (picklable for any executor).

    Parameters
    ----------
    params : mapping
        A full parameter dict (:meth:`SweepConfig.points`).
    seed : (int, int)
        ``(sweep seed, point index)``: the network and data come from
        ``default_rng([seed[0], params["repeat"]])``, the devices from
        ``default_rng(list(seed))``.
    quantities : sequence of str
        From :data:`QUANTITIES`.

    Returns
    -------
    dict
        ``point``, every parameter, then the measured columns of each quantity.
    """
    import warnings

    from pc_analog._threads import single_threaded_blas
    from pc_analog.circuit.ir import Hardware
    from pc_analog.errors import ConvergenceWarning
    from pc_analog.experiments.studies import settling_row
    from pc_analog.hardware.hebbian import HardwareNetwork
    from pc_analog.settling.registry import settle

    seed0, index = int(seed[0]), int(seed[1])
    params = _resolved(params)
    net, x0, y = _network_and_data(params, seed0)
    hw = Hardware(c_F=params["c_F"], g0_S=params["g0_S"], g_unit_S=params["g_unit_S"])
    dev = _device_config(params)
    dev_rng = np.random.default_rng([seed0, index])
    if dev.exact_writes and dev.read_noise == 0 and dev.drift_nu == 0:
        net_dev = net
    else:
        hwnet = HardwareNetwork.fabricate(net, dev, hardware=hw, rng=dev_rng)
        net_dev = hwnet.network(rng=dev_rng)
    row = {"point": index, "seed": seed0, **params}
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if "settling" in quantities:
            r = settling_row(
                net_dev,
                x0,
                y,
                hardware=hw,
                inertial=params["dynamics"] == "inertial",
                damping_ratio=params["damping_ratio"],
                band=params["band"],
            )
            r.pop("dynamics")
            row.update(r)
        if "devices" in quantities:
            num = sum(
                float(np.sum((net_dev.W(l) - net.W(l)) ** 2)) for l in range(1, net.n_layers + 1)
            )
            den = sum(float(np.sum(net.W(l) ** 2)) for l in range(1, net.n_layers + 1))
            ref = settle(net, x0, y, hardware=hw, backend="equilibrium")
            got = settle(net_dev, x0, y, hardware=hw, backend="equilibrium")
            d = np.concatenate(
                [np.abs(a - b).ravel() for a, b in zip(got.x[1:-1], ref.x[1:-1])] + [np.zeros(0)]
            )
            row["weight_rel_error"] = math.sqrt(num / den) if den > 0 else 0.0
            row["state_error_max_V"] = float(d.max()) if d.size else 0.0
            row["state_error_rms_V"] = float(np.sqrt(np.mean(d**2))) if d.size else 0.0
            row["device_success"] = bool(np.all(ref.success) and np.all(got.success))
        if "timing" in quantities:
            row.update(_timing_columns(net_dev, x0, y, params, seed0))
    return row


_TIMING_CONFIG_KEPT = ("config.sizes", "config.pc_step_size_tau", "config.pc_steps_same_residual")


def _timing_columns(net, x0, y, p: Mapping, seed0: int) -> dict:
    """The ``timing`` quantity of one point (see :data:`QUANTITIES`)."""
    from pc_analog.costs.specs import load_analog_spec
    from pc_analog.costs.timing import timing_report

    # The weights are already programmed into the point's devices (``net``), so the
    # timing stage compiles them as they are (device "ideal").
    spec = replace(
        load_analog_spec(p["analog"]),
        c_F=p["c_F"],
        g0_S=p["g0_S"],
        g_unit_S=p["g_unit_S"],
        device="ideal",
    )
    rep = timing_report(
        net,
        x0,
        y,
        analog=spec,
        digital=(p["digital"],),
        inertial=p["dynamics"] == "inertial",
        damping_ratio=p["damping_ratio"],
        band=p["band"],
        measure_cpu=p["measure_cpu"],
        throughput_batch=p["throughput_batch"],
        seed=seed0,
    )
    name = rep.digital_specs[0].name
    out = {}
    for k, v in rep.as_row().items():
        if k.startswith("config.") and k not in _TIMING_CONFIG_KEPT:
            continue
        if k.startswith(f"digital.{name}."):
            k = "digital." + k[len(f"digital.{name}.") :]
        out[k] = "-".join(map(str, v)) if isinstance(v, list) else v
    s = net.sizes
    out["n_weights"] = int(sum(s[l - 1] * s[l] for l in range(1, len(s))))
    out["time_ratio"] = out["digital.analog_over_bp_latency"]
    a_thr, d_thr = out["analog.throughput_per_s"], out["digital.bp_throughput_per_s"]
    out["throughput_time_ratio"] = None if not (a_thr and d_thr) else d_thr / a_thr
    out["energy_ratio"] = out["digital.analog_over_bp_energy"]
    return out
