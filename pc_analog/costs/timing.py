"""The timing stage: the physical settle next to digital backprop and digital PC.

Analog side (from the simulated transient of the ``ode`` backend):

- settling time (SPEC section 4) in seconds and in ``tau = C / g0``, next to the
  one-mode spectral prediction ``ln(1/delta) / rate(lambda_min)`` from the Hessian
  at the equilibrium (:func:`pc_analog.solvers.transient.predicted_settling_tau`);
- energy per inference, device counts and area (:mod:`pc_analog.costs.energy`),
  summed over the circuit's element inventory.

A non-ideal analog spec (format ``/2``, SPEC section 5) settles ``spec.apply(circuit)``
(level ``crossbar`` when ``wire_r_ohm > 0``, else ``behavioural``): its settling time is
measured against that circuit's own rest point, an unstable circuit (amplifier poles)
is a failed report with the backend's reason and no settling time, and the rest-point
shift against the ideal circuit is reported.  The digital side and the spectral
prediction are the ideal circuit's (see :func:`timing_report`).

Digital side (:mod:`pc_analog.costs.digital`): FLOP and memory-traffic counts and a
roofline model of backprop and of discrete PC, and wall-clock medians of
:func:`pc_analog.reference.variants.backprop` and
:func:`pc_analog.reference.variants.discrete_inference` measured on this CPU.

:func:`timing_report` puts it all in one :class:`~pc_analog.costs.report.TimingReport`.
Latency (one sample) and throughput (a large batch) are reported separately: a GPU
that loses on latency to its launch overheads can still win on throughput.  The
names of the split modules are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from pc_analog.circuit.ir import Circuit
from pc_analog.costs.digital import FlopCounts, Kernel, RooflineResult, flop_counts, roofline
from pc_analog.costs.digital_spec import _median_time
from pc_analog.costs.energy import (
    AnalogEnergy,
    amplifier_count,
    device_counts,
    energy_per_inference,
)
from pc_analog.costs.report import TimingReport, _div
from pc_analog.costs.specs import (
    AnalogSpec,
    DigitalSpec,
    load_analog_spec,
    load_digital_spec,
)
from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import dense_hessian, grad_x
from pc_analog.model.network import Network, as_batch
from pc_analog.reference.variants import backprop, discrete_inference
from pc_analog.solvers.base import Status
from pc_analog.solvers.ode import OdeBackend, slowest_mode
from pc_analog.solvers.transient import SETTLE_BAND_DEFAULT, predicted_settling_tau

__all__ = [
    "AnalogEnergy",
    "Kernel",
    "FlopCounts",
    "RooflineResult",
    "TimingReport",
    "amplifier_count",
    "device_counts",
    "energy_per_inference",
    "flop_counts",
    "roofline",
    "timing_report",
]

#: Amplifiers count as "limiting" when their time constant exceeds this fraction of tau.
AMP_LIMIT_FRACTION = 0.1
#: Cap on digital-PC steps searched for the same residual as the analog settle.
PC_MAX_STEPS = 200_000
#: Steps actually timed on the CPU at most; longer runs are extrapolated per step.
PC_TIMED_STEPS_MAX = 2_000


def _state_at(traj, t, ts_b: float, b: int):
    """The full state of sample ``b`` at time ``ts_b`` (linear between samples of ``t``)."""
    k = int(np.clip(np.searchsorted(t, ts_b, side="right") - 1, 0, len(t) - 2))
    w = 0.0 if t[k + 1] == t[k] else (ts_b - t[k]) / (t[k + 1] - t[k])
    return tuple(((1 - w) * v[k, b] + w * v[k + 1, b])[None, :] for v in traj)


def _free_residual(net: Network, x, free) -> float:
    g = grad_x(net, x)
    parts = [np.abs(gl[:, f]).max() for gl, f in zip(g, free) if f.any()]
    return float(max(parts)) if parts else 0.0


def _build_circuit(net, x0, y, spec: AnalogSpec, seed) -> Circuit:
    """``net`` programmed into ``spec.device`` through the one device path.

    :func:`pc_analog.hardware.hebbian.device_circuit`: the devices are fabricated from
    ``numpy.random.default_rng(seed)`` and read once, with the device's read noise, from
    the same generator; the IR holds the devices' conductances and per-layer ``g_unit``.
    Ideal devices give :func:`~pc_analog.circuit.ir.compile_network`'s circuit.
    """
    from pc_analog.hardware.hebbian import device_circuit

    return device_circuit(net, x0, y, device=spec.device, hardware=spec.hardware(), rng=seed)


def _measure_cpu(net, xb, yb, circ, cnet, gamma, T, t_settle, repeats, throughput_batch, tick):
    """Wall-clock medians of backprop and discrete PC on this CPU (one BLAS thread)."""
    B = xb.shape[0]
    x1, y1 = xb[:1], yb[:1]
    reps = np.tile(xb, (math.ceil(throughput_batch / B), 1))[:throughput_batch]
    repy = np.tile(yb, (math.ceil(throughput_batch / B), 1))[:throughput_batch]
    backprop(net, x1, y1)  # warm-up
    bp1 = _median_time(lambda: backprop(net, x1, y1), repeats)
    bpB = _median_time(lambda: backprop(net, reps, repy), repeats)
    tick("CPU backprop")
    x_init1 = tuple(v[:1] for v in circ.x_init)
    n_timed = int(min(T, PC_TIMED_STEPS_MAX)) if math.isfinite(T) else PC_TIMED_STEPS_MAX
    n_timed = max(n_timed, 1)
    xiB = tuple(
        np.tile(v, (math.ceil(throughput_batch / B), 1))[:throughput_batch] for v in circ.x_init
    )
    n_timed_B = max(1, min(n_timed, 50))

    # Fixed step counts, no tolerance: these runs are timed, not judged.
    def pc1():
        discrete_inference(
            cnet, x_init1, circ.clamp, step_size=gamma, n_steps=n_timed, on_failure="return"
        )

    def pcB():
        discrete_inference(
            cnet, xiB, circ.clamp, step_size=gamma, n_steps=n_timed_B, on_failure="return"
        )

    t_pc1 = _median_time(pc1, repeats)
    t_pcB = _median_time(pcB, max(1, repeats // 2))
    step1 = t_pc1 / n_timed
    stepB = t_pcB / n_timed_B
    cpu = {
        "bp_latency_s": bp1,
        "bp_throughput_per_s": throughput_batch / bpB,
        "pc_step_latency_s": step1,
        "pc_latency_at_L_steps_s": net.n_layers * step1,
        "pc_latency_s": T * step1,
        "pc_timed_steps": n_timed,
        "pc_throughput_per_s": _div(throughput_batch, T * stepB),
        "analog_over_bp_latency": t_settle / bp1,
        "analog_over_pc_latency": _div(t_settle, T * step1),
    }
    tick("CPU discrete PC")
    return cpu


def _inputs(net: Network, x0, y, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Batched inputs and targets (targets drawn from ``seed`` when ``y`` is None)."""
    xb = as_batch(x0, net.sizes[0], "input")
    B = xb.shape[0]
    if y is None:
        return xb, np.random.default_rng(seed).uniform(-1, 1, size=(B, net.sizes[-1]))
    yb = as_batch(y, net.sizes[-1], "target")
    if yb.shape[0] != B:
        raise InvalidInputError(f"target: {yb.shape[0]} samples but input has {B}")
    return xb, yb


def _progress(progress: bool, measure_cpu: bool):
    """``(tick, close)``: a tqdm bar over the report's stages, or no-ops."""
    stages = ["analog settle", "digital PC steps", "roofline"] + (
        ["CPU backprop", "CPU discrete PC"] if measure_cpu else []
    )
    if not progress:
        return (lambda name: None), (lambda: None)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(stages), desc="timing", unit="stage", leave=False)

    def tick(name):
        bar.set_postfix_str(name)
        bar.update(1)

    return tick, bar.close


def _spectrum_at(spectrum, x_eq):
    """The free-unit Hessian eigenvalues ``(batch, n_free)`` of ``spectrum = (x, lam)`` if
    ``x`` is the state ``x_eq`` (the ode backend's ``last_spectrum``), else None."""
    if spectrum is None or x_eq is None:
        return None
    x, lam = spectrum
    same = len(x) == len(x_eq) and all(np.array_equal(a, b) for a, b in zip(x, x_eq))
    return lam if same else None


def _analog_section(
    net, ideal, actual, energy_circ, spec: AnalogSpec, band, inertial, damping_ratio, lam=None
):
    """The analog half of the report and the per-sample residual at the settle.

    ``ideal`` and ``actual`` are ``(circuit, settle result)`` pairs: the same pair for
    an ideal spec.  Settling time, energy, node voltages come from ``actual`` (energy
    integrated over ``energy_circ``'s crossbar inventory); the spectral prediction and
    the residual the digital PC is run to come from ``ideal``.
    """
    circ0, res0 = ideal
    circ, res = actual
    cnet = circ0.network()
    tau = circ.tau_s
    # lam: the settle's own spectrum at res0.x_eq (the same numbers slowest_mode gives)
    lam_min = float(np.min(slowest_mode(circ0, res0.x_eq) if lam is None else lam[:, 0]))
    en = energy_per_inference(res, energy_circ, spec)
    ts = np.asarray(res.settling_time_s, dtype=float)
    if res.status is Status.UNSTABLE:  # never a settling time for an unstable circuit
        ts = np.full_like(ts, np.nan)
    ts0 = np.asarray(res0.settling_time_s, dtype=float)
    free = circ0.clamp.free
    resid = np.array(
        [
            _free_residual(cnet, _state_at(res0.trajectory, res0.t, ts0[b], b), free)
            for b in range(circ0.batch)
        ]
    )
    with np.errstate(invalid="ignore"):
        vmax = float(max(np.abs(v).max() for v in res.trajectory))
    t_settle = float(np.max(ts))
    # the simulated pole when amp_gbw_Hz is set, else the /1 bandwidth the check assumes
    amp_tau = spec.amp_tau_s if spec.amp_gbw_Hz is None else 1 / (2 * math.pi * spec.amp_gbw_Hz)
    pred = predicted_settling_tau(lam_min, band, inertial=inertial, damping_ratio=damping_ratio)
    analog = {
        "success": bool(res.success),
        "dynamics": "inertial" if inertial else "RC",
        "tau_s": tau,
        "settling_time_s": t_settle,
        "settling_time_mean_s": float(np.mean(ts)),
        "settling_time_tau": t_settle / tau,
        "lambda_min": lam_min,
        "predicted_settling_tau": pred,
        "predicted_settling_s": tau * pred,
        "residual_at_settle": float(np.max(resid)),
        "t_end_s": en.t_end_s,
        "energy_springs_J": float(np.mean(en.springs_J)),
        "energy_crossbars_J": float(np.mean(en.crossbars_J)),
        "energy_amplifiers_J": float(np.mean(en.amplifiers_J)),
        "energy_J": float(np.mean(en.total_J)),
        "energy_springs_to_end_J": float(np.mean(en.springs_total_J)),
        "energy_crossbars_to_end_J": float(np.mean(en.crossbars_total_J)),
        "latency_s": t_settle,
        "throughput_per_s": _div(1.0, t_settle),
        "devices": device_counts(energy_circ, spec),
        "amp_tau_s": amp_tau,
        "amp_limited": bool(amp_tau > AMP_LIMIT_FRACTION * tau),
        "max_abs_V": vmax,
        "rails_ok": bool(vmax <= spec.supply_V),
        "aimc_forward_energy_J": flop_counts(net.sizes, 1).forward_macs * spec.mac_energy_J,
    }
    return analog, resid


#: Fields the energy circuit of a behavioural-level settle leaves ideal (their values).
_ENERGY_IDEAL = {"amp_gbw_Hz": None, "phi_gain_error": 0.0, "phi_offset_V": 0.0,
                 "dphi_gain_error": 0.0, "dphi_offset_V": 0.0, "thermal_noise": False,
                 "amp_noise_V_rtHz": 0.0}  # fmt: skip


def nonideal_circuits(circ: Circuit, spec: AnalogSpec) -> tuple[Circuit, Circuit]:
    """``(settled, energy)`` circuits of a non-ideal ``spec`` applied to ``circ``.

    ``settled`` is ``spec.apply(circ, level)`` with level ``crossbar`` when
    ``wire_r_ohm > 0``, else ``behavioural``, without its noise sources (the timing stage
    settles the deterministic circuit).  ``energy`` is the circuit whose crossbar
    inventory the dissipation is summed over: ``settled`` itself at the crossbar level;
    at the behavioural level the crossbar-level circuit of the same spec with the
    behavioural-only fields (:data:`_ENERGY_IDEAL`) ideal, evaluated along the
    behavioural trajectory (the approximation the report names).
    """
    level = "crossbar" if spec.wire_r_ohm > 0 else "behavioural"
    settled = spec.apply(circ, level)
    if settled.noise is not None:
        settled = dataclasses.replace(settled, noise=None)
    if level == "crossbar":
        return settled, settled
    espec = dataclasses.replace(spec, **_ENERGY_IDEAL)
    energy = espec.apply(circ, "crossbar") if espec.nonideal_fields else circ
    return settled, dataclasses.replace(energy, noise=None) if energy.noise else energy


def _nonideal_section(spec: AnalogSpec, res0, actual) -> dict:
    """Report keys of a non-ideal settle: status, level, rest-point shift, energy model.

    ``rest_point_shift_V = max |x - x_ideal|`` over every node (clamped ones too: the
    DAC moves them) between the non-ideal circuit's rest point and the ideal one's.
    """
    circ, res = actual
    x = res.x_eq if res.x_eq is not None else res.x
    shift = max(float(np.max(np.abs(a - b))) for a, b in zip(x, res0.x_eq))
    level = "crossbar" if spec.wire_r_ohm > 0 else "behavioural"
    left = [n for n in spec.nonideal_fields if n in _ENERGY_IDEAL]
    if level == "crossbar":
        model = "crossbar inventory of the simulated crossbar-level circuit (wires, readouts)"
    else:
        model = (
            "crossbar-level dissipation of the same network and spec integrated along the "
            "behavioural non-ideal trajectory"
            + (f"; the energy circuit leaves {', '.join(left)} ideal (amplifier outputs "
               "evaluated instantaneously from the node voltages)" if left else "")
        )  # fmt: skip
    out = {
        "status": res.status.name,
        "message": res.message,
        "nonideal_fields": list(spec.nonideal_fields),
        "circuit_level": level,
        "rest_point_shift_V": shift,
        "prediction_of": "ideal circuit",
        "energy_model": model + "; amplifiers' static power over the settling time",
    }
    if spec.thermal_noise or spec.amp_noise_V_rtHz > 0:
        out["noise"] = "deterministic settle: noise fields not simulated (pc-analog noise)"
    return out


def _pc_steps(circ, res, resid, pc_step_size, lam=None) -> tuple[float, float]:
    """Digital PC's Euler step ``gamma`` (tau) and the steps ``T`` to the analog residual.

    ``lam``: the free-unit Hessian's eigenvalues at ``res.x_eq`` if already known."""
    cnet = circ.network()
    if pc_step_size is None and lam is not None:
        gamma = 1.0 / float(np.max(lam[:, -1]))
    elif pc_step_size is None:
        H = dense_hessian(cnet, res.x_eq)
        fmask = np.concatenate(circ.clamp.free)
        lam_max = float(np.max(np.linalg.eigvalsh(H[:, fmask][:, :, fmask])[:, -1]))
        gamma = 1.0 / lam_max
    else:
        gamma = float(pc_step_size)
    steps = []
    for b in range(circ.batch):
        x_init = tuple(v[b : b + 1] for v in circ.x_init)
        r = discrete_inference(
            cnet,
            x_init,
            circ.clamp,
            step_size=gamma,
            n_steps=PC_MAX_STEPS,
            gtol=max(resid[b], 1e-300),
            on_failure="return",  # a run that cannot reach the residual counts as nan steps
        )
        steps.append(r.n_steps if r.success else math.nan)
    return gamma, float(np.max(steps))


def _roofline_rows(net, dspecs, T, t_settle, energy_J, throughput_batch) -> dict:
    """Per reference machine: BP and PC latency, throughput, energy and the analog ratios."""
    c1 = flop_counts(net.sizes, 1, target=True)
    cB = flop_counts(net.sizes, throughput_batch, target=True)
    dig = {}
    for d in dspecs:
        bp1, bpB = roofline(c1.bp, d), roofline(cB.bp, d)
        st1, stB = roofline(c1.pc_step, d), roofline(cB.pc_step, d)
        pc_lat = T * st1.time_s
        dig[d.name] = {
            "bp_latency_s": bp1.time_s,
            "bp_throughput_per_s": throughput_batch / bpB.time_s,
            "bp_energy_J": bp1.energy_J,
            "pc_step_latency_s": st1.time_s,
            "pc_latency_at_L_steps_s": net.n_layers * st1.time_s,
            "pc_latency_s": pc_lat,
            "pc_throughput_per_s": _div(throughput_batch, T * stB.time_s),
            "pc_energy_J": None if st1.energy_J is None else T * st1.energy_J,
            "bp_kernels": bp1.n_kernels,
            "pc_step_kernels": st1.n_kernels,
            "bp_bound": bp1.bound,
            "analog_over_bp_latency": t_settle / bp1.time_s,
            "analog_over_bp_energy": None if bp1.energy_J is None else energy_J / bp1.energy_J,
            "analog_over_pc_latency": _div(t_settle, pc_lat),
        }
    return dig


def timing_report(
    net: Network,
    x0,
    y=None,
    *,
    analog: AnalogSpec | str | None = None,
    digital: Sequence[DigitalSpec | str] | DigitalSpec | str = ("gpu-a100",),
    inertial: bool = False,
    damping_ratio: float = 1.0,
    band: float = SETTLE_BAND_DEFAULT,
    measure_cpu: bool = True,
    repeats: int = 7,
    throughput_batch: int = 256,
    pc_step_size: float | None = None,
    t_eval_points: int = 4001,
    seed: int = 0,
    progress: bool = False,
    circuit: Circuit | None = None,
) -> TimingReport:
    """Settle ``net`` in the analog circuit and compare with digital BP and PC.

    Long because most of it is the numpydoc parameter list of a public entry point; the
    work is delegated to one helper per stage.

    Parameters
    ----------
    net : Network
    x0 : array_like
        ``(batch, n_0)`` inputs (1-D for one sample), clamped.
    y : array_like, optional
        ``(batch, n_L)`` targets, clamped at the output (the learning phase, the
        analog counterpart of a backprop pass).  Default: targets drawn from
        ``seed`` (uniform in ``[-1, 1]``), since backprop needs one.
    analog : AnalogSpec or str, optional
        Spec, preset name or JSON path (default preset ``"default"``).  Every ``/2``
        non-ideality is accepted: the settle is the ode backend's of
        ``spec.apply(circuit)`` (level ``crossbar`` when ``wire_r_ohm > 0``) without its
        noise sources (deterministic; noise: ``pc-analog noise``), amplifier poles as
        states; its settling time is measured against its own rest point, and an
        unstable circuit gives ``analog["success"] = False``, ``status`` ``UNSTABLE`` and
        no settling time or energy.  The energy sums the crossbar inventory along the
        non-ideal trajectory (:func:`nonideal_circuits`; ``analog["energy_model"]`` says
        what is approximated).  The spectral prediction, the digital-PC step and the
        residual the digital PC runs to are the ideal circuit's (the digital side is
        unchanged).  Extra keys: ``status``, ``message``, ``nonideal_fields``,
        ``circuit_level``, ``rest_point_shift_V`` (``max |x - x_ideal|``),
        ``prediction_of``, ``energy_model`` and ``noise`` when a noise field is set.
    digital : sequence of DigitalSpec or str
        Reference machines for the roofline model (``"cpu-measured"`` allowed).
    inertial, damping_ratio :
        Second-order (spring network with mass) dynamics, as in the ode backend.
    band : float
        ``delta`` of the settling time.
    measure_cpu : bool
        Time backprop and discrete PC on this CPU (median of ``repeats``).  Without
        it the report is deterministic.
    repeats : int
        Repeats per CPU measurement.
    throughput_batch : int
        Batch of the throughput figures (roofline and CPU).
    pc_step_size : float, optional
        Digital-PC Euler step ``gamma`` in ``tau``; default ``1 / lambda_max`` of the
        Hessian at the equilibrium (the largest step that never overshoots a mode).
    t_eval_points : int
        Points of the dense transient the energy is integrated on.
    seed : int
        Seeds the default target and the device fabrication.
    progress : bool
        Show a tqdm bar over the stages.
    circuit : Circuit, optional
        The circuit this call would build (``net`` programmed into ``spec.device`` from
        ``seed`` with the batch ``x0``, ``y`` as stimulus), already built, e.g. shared by
        several reports of the same point (RC and inertial, several digital references):
        its cached inventory is then built once.  The caller vouches that it is that
        circuit (:func:`pc_analog.experiments.sweep_point.run_group` compares the
        conductances).
    """
    spec = load_analog_spec(analog)
    if isinstance(digital, (DigitalSpec, str)):
        digital = (digital,)
    dspecs = tuple(load_digital_spec(d) for d in digital)
    if repeats < 1 or throughput_batch < 1 or t_eval_points < 2:
        raise InvalidInputError("timing: need repeats >= 1, throughput_batch >= 1, t_eval >= 2")
    if not 0 < band < 1:
        raise InvalidInputError("timing: band must be between 0 and 1")
    if pc_step_size is not None and not pc_step_size > 0:
        raise InvalidInputError("timing: pc_step_size must be > 0")
    xb, yb = _inputs(net, x0, y, seed)
    tick, close = _progress(progress, measure_cpu)

    circ = _build_circuit(net, xb, yb, spec, seed) if circuit is None else circuit
    if circ.batch != xb.shape[0]:
        raise InvalidInputError(f"timing: circuit has {circ.batch} samples, input {xb.shape[0]}")
    if circ.clamp.n_free() == 0:
        raise InvalidInputError(
            "timing: with input and target clamped the network has no free unit to settle "
            "(it needs a hidden layer)"
        )
    ode = OdeBackend(
        settle_band=band,
        inertial=inertial,
        damping_ratio=damping_ratio,
        t_eval_points=t_eval_points,
        on_failure="return",  # the report carries the status (analog["success"])
    )
    res = ode.settle(circ)
    lam = _spectrum_at(ode.last_spectrum, res.x_eq)  # reused by the prediction and gamma
    actual = energy_circ = None
    if spec.nonideal_fields:
        actual, energy_circ = nonideal_circuits(circ, spec)
        actual = (actual, ode.settle(actual))
    analog, resid = _analog_section(
        net, (circ, res), actual or (circ, res), energy_circ or circ, spec, band, inertial,
        damping_ratio, lam,
    )  # fmt: skip
    if actual is not None:
        analog.update(_nonideal_section(spec, res, actual))
    t_settle = analog["settling_time_s"]
    tick("analog settle")
    gamma, T = _pc_steps(circ, res, resid, pc_step_size, lam)
    tick("digital PC steps")
    dig = _roofline_rows(net, dspecs, T, t_settle, analog["energy_J"], throughput_batch)
    tick("roofline")
    cpu = None
    if measure_cpu:
        from pc_analog._threads import single_threaded_blas

        with single_threaded_blas():
            cpu = _measure_cpu(
                net, xb, yb, circ, circ.network(), gamma, T, t_settle, repeats,
                throughput_batch, tick,
            )  # fmt: skip
    close()
    config = {
        "sizes": list(net.sizes),
        "activations": list(net.activations),
        "batch": xb.shape[0],
        "throughput_batch": throughput_batch,
        "target": "given" if y is not None else "random",
        "dynamics": "inertial" if inertial else "RC",
        "damping_ratio": damping_ratio if inertial else None,
        "band": band,
        "seed": seed,
        "analog_spec": spec.name,
        "device": spec.device,
        "digital_specs": [d.name for d in dspecs],
        "pc_step_size_tau": gamma,
        "pc_steps_same_residual": T,
    }
    rest = (actual[1] if actual is not None else res).x_eq
    return TimingReport(config, analog, dig, cpu, spec, dspecs, rest_point=rest)
