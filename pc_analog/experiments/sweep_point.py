"""One sweep point: :func:`run_point`, a pure top-level function of ``(params, seed)``.

Every quantity reads the point's devices through the one device path
(:func:`pc_analog.hardware.hebbian.device_circuit`); see :data:`QUANTITIES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from pc_analog.experiments.sweep_config import _device_config, _resolved, point_analog_spec

__all__ = ["run_point", "run_group", "group_key"]

#: Parameters a group of points may differ in and still share work (see :func:`run_group`).
GROUP_FREE = ("digital", "dynamics", "damping_ratio")


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

    The point's network is programmed into its devices through the one device path,
    :func:`pc_analog.hardware.hebbian.device_circuit` (fabrication, then one read with
    read noise, both from the point's device generator); ``settling`` and ``devices``
    settle that circuit, and ``timing`` hands the same network, device preset and
    generator seed to :func:`pc_analog.costs.timing.timing_report`, whose circuit
    comes from the same path.

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

    Raises
    ------
    InvalidInputError
        ``timing`` with a ``bits``/``write_noise`` override: the timing stage names
        its device by preset (``AnalogSpec.device``), so an overridden device cannot
        reach it.
    """
    return run_group([(params, seed)], quantities)[0]


def group_key(params: Mapping, quantities: Sequence[str]):
    """Points with equal keys form one :func:`run_group` task: with ``timing`` asked, the
    resolved parameters except :data:`GROUP_FREE`; otherwise every point on its own."""
    p = _resolved(params)
    if "timing" not in quantities:
        return id(params)
    return tuple((k, repr(v)) for k, v in sorted(p.items()) if k not in GROUP_FREE)


def run_group(items: Sequence, quantities: Sequence[str] = ("settling",)) -> list[dict]:
    """Evaluate points ``items = [(params, seed), ...]`` that differ only in
    :data:`GROUP_FREE`; the rows equal :func:`run_point`'s, point by point.

    ``settling`` and ``devices`` are measured per point.  ``timing`` shares its work:
    points whose timing circuits are equal (conductance for conductance: the same
    network, device and stimulus, and a fabrication that drew no random number or drew
    the same) settle one circuit object, so its crossbar inventory is built once for RC
    and inertial dynamics; points that differ only in ``digital`` share one
    :func:`~pc_analog.costs.timing.timing_report` (every digital reference in one call;
    the digital side does not change the analog one).
    """
    from pc_analog._threads import single_threaded_blas
    from pc_analog.circuit.ir import Hardware
    from pc_analog.hardware.hebbian import device_circuit

    rows, timing_jobs = [], []
    for params, seed in items:
        seed0, index = int(seed[0]), int(seed[1])
        params = _resolved(params)
        if "timing" in quantities:
            _check_timing_device(params)
        net, x0, y = _network_and_data(params, seed0)
        hw = Hardware(c_F=params["c_F"], g0_S=params["g0_S"], g_unit_S=params["g_unit_S"])
        circ = device_circuit(
            net, x0, y, device=_device_config(params), hardware=hw, rng=[seed0, index]
        )
        row = {"point": index, "seed": seed0, **params}
        with single_threaded_blas():
            if "settling" in quantities:
                row.update(_settling_columns(circ, params))
            if "devices" in quantities:
                row.update(_device_columns(circ, net, x0, y, hw))
        rows.append(row)
        if "timing" in quantities:
            timing_jobs.append((row, net, x0, y, params, (seed0, index)))
    if timing_jobs:
        with single_threaded_blas():
            _timing_group(timing_jobs)
    return rows


def _same_circuit(a, b) -> bool:
    """Whether two circuits hold the same elements and stimulus (bit for bit)."""
    if a is b:
        return True
    if a.hardware != b.hardware or len(a.layers) != len(b.layers) or a.name != b.name:
        return False
    if (a.amplifiers, a.crossbar, a.noise) != (None, None, None) or (
        b.amplifiers,
        b.crossbar,
        b.noise,
    ) != (None, None, None):
        return False
    for la, lb in zip(a.layers, b.layers):
        if (la.activation, la.g_unit_S) != (lb.activation, lb.g_unit_S):
            return False
        arrays = [
            (pa.g_pos_S, pb.g_pos_S)
            for pa, pb in ((la.forward, lb.forward), (la.feedback, lb.feedback), (la.bias, lb.bias))
        ] + [
            (pa.g_neg_S, pb.g_neg_S)
            for pa, pb in ((la.forward, lb.forward), (la.feedback, lb.feedback), (la.bias, lb.bias))
        ]
        arrays.append((la.g_spring_S, lb.g_spring_S))
        if not all(np.array_equal(u, v) for u, v in arrays):
            return False
    same_x = all(np.array_equal(u, v) for u, v in zip(a.x_init, b.x_init))
    same_clamp = all(np.array_equal(u, v) for u, v in zip(a.clamp.free, b.clamp.free))
    return same_x and same_clamp


def _check_timing_device(p: Mapping) -> None:
    from pc_analog.errors import InvalidInputError

    if p["bits"] is not None or p["write_noise"] is not None:
        raise InvalidInputError(
            "timing: a bits/write_noise override cannot reach the timing stage, whose "
            "analog spec names its device by preset; measure overridden devices with "
            "'settling' or 'devices'"
        )


def _settling_columns(circ, p: Mapping) -> dict:
    """The ``settling`` quantity: the ode settle of the point's device circuit.

    With a non-ideal analog spec the circuit settled is the timing stage's
    (:func:`pc_analog.costs.timing.nonideal_circuits`: ``spec.apply``, deterministic),
    ``lambda_min`` and ``predicted_tau`` stay the ideal circuit's, and two columns are
    added: ``status`` and ``rest_point_shift_V`` (``max |x - x_ideal|``).

    The same columns as :func:`pc_analog.experiments.studies.settling_row`, which
    compiles a network itself; here the circuit is the one the devices make.
    """
    from pc_analog.solvers.ode import OdeBackend, slowest_mode
    from pc_analog.solvers.transient import predicted_settling_tau

    inertial = p["dynamics"] == "inertial"
    ode = OdeBackend(
        settle_band=p["band"],
        inertial=inertial,
        damping_ratio=p["damping_ratio"],
        on_failure="return",
    )
    spec = point_analog_spec(p)
    extra = {}
    if not spec.nonideal_fields:
        res = ode.settle(circ)
        x_ideal = res.x_eq
    else:  # the non-ideal circuit, as the timing stage settles it; lambda_min: the ideal's
        from pc_analog.costs.timing import nonideal_circuits
        from pc_analog.solvers.equilibrium import reference_rest_point

        x_ideal = reference_rest_point(circ)[0]
        res = ode.settle(nonideal_circuits(circ, spec)[0])
        x = res.x_eq if res.x_eq is not None else res.x
        extra = {
            "status": res.status.name,
            "rest_point_shift_V": max(float(np.abs(a - b).max()) for a, b in zip(x, x_ideal)),
        }
    lam = float(np.min(slowest_mode(circ, x_ideal)))
    t = float(np.max(res.settling_time_s))
    return {
        "settling_time_s": t,
        "settling_time_tau": t / circ.tau_s,
        "lambda_min": lam,
        "predicted_tau": predicted_settling_tau(
            lam, p["band"], inertial=inertial, damping_ratio=p["damping_ratio"]
        ),
        "success": bool(res.success),
        **extra,
    }


def _device_columns(circ, net, x0, y, hw) -> dict:
    """The ``devices`` quantity: the device circuit against the ideal compile of ``net``.

    Both sides are circuits, so the weights compared are the IR's effective weights
    ``(G+ - G-) / g_unit_l`` on each side (ideal devices give exactly zero).
    """
    from pc_analog.circuit.ir import compile_network
    from pc_analog.settling.registry import settle

    ideal = compile_network(net, x0, y, hardware=hw)
    L = net.n_layers
    num = sum(
        float(np.sum((circ.forward_weights(l) - ideal.forward_weights(l)) ** 2))
        for l in range(1, L + 1)
    )
    den = sum(float(np.sum(ideal.forward_weights(l) ** 2)) for l in range(1, L + 1))
    ref = settle(ideal, backend="equilibrium", on_failure="return")
    got = settle(circ, backend="equilibrium", on_failure="return")
    d = np.concatenate(
        [np.abs(a - b).ravel() for a, b in zip(got.x[1:-1], ref.x[1:-1])] + [np.zeros(0)]
    )
    return {
        "weight_rel_error": math.sqrt(num / den) if den > 0 else 0.0,
        "state_error_max_V": float(d.max()) if d.size else 0.0,
        "state_error_rms_V": float(np.sqrt(np.mean(d**2))) if d.size else 0.0,
        "device_success": bool(np.all(ref.success) and np.all(got.success)),
    }


def _timing_group(jobs) -> None:
    """The ``timing`` quantity of a group of points (see :data:`QUANTITIES`), into each
    job's row.

    The timing stage programs ``net`` into the point's device preset through the same
    device path and from the same generator seed ``[seed0, index]`` as
    :func:`run_point`, so its circuit (and the crossbar energy it integrates) is the
    point's device circuit, not ideal pairs of the device weights.  Equal circuits are
    one object (:func:`_same_circuit`); one report per circuit and dynamics covers
    every digital reference asked for.
    """
    from pc_analog.costs.specs import load_digital_spec
    from pc_analog.costs.timing import _build_circuit, _inputs

    circuits: list = []  # distinct timing circuits of the group
    reports: dict = {}  # (circuit index, dynamics, damping ratio) -> [jobs]
    for job in jobs:
        row, net, x0, y, p, seed = job
        spec = point_analog_spec(p)
        xb, yb = _inputs(net, x0, y, list(seed))
        circ = _build_circuit(net, xb, yb, spec, list(seed))
        k = next((i for i, c in enumerate(circuits) if _same_circuit(c, circ)), None)
        if k is None:
            circuits.append(circ)
            k = len(circuits) - 1
        reports.setdefault((k, p["dynamics"], p["damping_ratio"]), []).append(job)
    for (k, _, _), group in reports.items():
        digitals = list(dict.fromkeys(j[4]["digital"] for j in group))
        row, net, x0, y, p, seed = group[0]
        rep = _timing_report(net, x0, y, p, seed, digitals, circuits[k])
        for row, net, _, _, p, _ in group:
            name = load_digital_spec(p["digital"]).name
            row.update(_timing_row(rep, name, net))


_TIMING_CONFIG_KEPT = ("config.sizes", "config.pc_step_size_tau", "config.pc_steps_same_residual")


def _timing_report(net, x0, y, p: Mapping, seed, digitals, circuit):
    from pc_analog.costs.timing import timing_report

    return timing_report(
        net,
        x0,
        y,
        analog=point_analog_spec(p),
        digital=tuple(digitals),
        inertial=p["dynamics"] == "inertial",
        damping_ratio=p["damping_ratio"],
        band=p["band"],
        measure_cpu=p["measure_cpu"],
        throughput_batch=p["throughput_batch"],
        seed=list(seed),
        circuit=circuit,
    )


def _timing_row(rep, name: str, net) -> dict:
    """The columns of one digital reference ``name`` of a timing report."""
    names = {d.name for d in rep.digital_specs}
    out = {}
    for k, v in rep.as_row().items():
        if k.startswith("config.") and k not in _TIMING_CONFIG_KEPT:
            continue
        if k.startswith(f"digital.{name}."):
            k = "digital." + k[len(f"digital.{name}.") :]
        elif any(k.startswith(f"digital.{other}.") for other in names):
            continue  # another point's digital reference
        out[k] = "-".join(map(str, v)) if isinstance(v, list) else v
    s = net.sizes
    out["n_weights"] = int(sum(s[l - 1] * s[l] for l in range(1, len(s))))
    out["time_ratio"] = out["digital.analog_over_bp_latency"]
    a_thr, d_thr = out["analog.throughput_per_s"], out["digital.bp_throughput_per_s"]
    out["throughput_time_ratio"] = None if not (a_thr and d_thr) else d_thr / a_thr
    out["energy_ratio"] = out["digital.analog_over_bp_energy"]
    return out
