"""The timing stage: the physical settle next to digital backprop and digital PC.

Analog side (from the simulated transient of the ``ode`` backend):

- settling time (SPEC section 4) in seconds and in ``tau = C / g0``, next to the
  one-mode spectral prediction ``ln(1/delta) / rate(lambda_min)`` from the Hessian
  at the equilibrium (:func:`pc_analog.experiments.studies.predicted_settling_tau`);
- energy per inference (:func:`energy_per_inference`): the dissipation in the
  error springs and in the crossbar cells integrated over the transient, plus the
  amplifiers' static power times the settling time;
- device counts and an area proxy (:func:`device_counts`).

Digital side:

- FLOP and memory-traffic counts per kernel of one backprop pass (forward and
  backward) and of one discrete-PC step (:func:`flop_counts`);
- a roofline model of both on a :class:`~pc_analog.costs.specs.DigitalSpec`
  (:func:`roofline`): ``t = sum_k max(flops_k / peak, bytes_k / bandwidth) + launch``;
- wall-clock medians of :func:`pc_analog.reference.variants.backprop` and
  :func:`pc_analog.reference.variants.discrete_inference` measured on this CPU.

:func:`timing_report` puts it all in one :class:`TimingReport`.  Latency (one
sample) and throughput (a large batch) are reported separately: a GPU that loses
on latency to its launch overheads can still win on throughput.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import cumulative_trapezoid

from pc_analog.circuit.ir import Circuit, compile_network
from pc_analog.costs.specs import (
    AnalogSpec,
    DigitalSpec,
    _median_time,
    load_analog_spec,
    load_digital_spec,
)
from pc_analog.errors import ConvergenceWarning, InvalidInputError
from pc_analog.model.energy import dense_hessian, grad_x
from pc_analog.model.network import Network, as_batch
from pc_analog.reference.variants import backprop, discrete_inference
from pc_analog.solvers.base import SettleResult
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


# ------------------------------------------------------------------ analog energy
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


def amplifier_count(circuit: Circuit) -> int:
    """Amplifiers of the behavioural circuit for one sample.

    Per layer ``l = 1..L`` that touches a free unit (in ``l`` or ``l-1``): one
    transimpedance stage per forward-crossbar row (the prediction ``m<l>_<j>``);
    if layer ``l-1`` has free units, one buffer per error node ``e<l>_<j>`` and one
    transimpedance stage per feedback-crossbar row into a free unit of ``l-1``.
    """
    masks = circuit.clamp.masks
    sizes = circuit.sizes
    n = 0
    for l in range(1, circuit.n_layers + 1):
        free_here, free_below = int((~masks[l]).sum()), int((~masks[l - 1]).sum())
        if free_here or free_below:
            n += sizes[l]
        if free_below:
            n += sizes[l] + free_below
    return n


def _powers(circuit: Circuit, traj) -> tuple[np.ndarray, np.ndarray]:
    """Instantaneous spring and crossbar dissipation ``(n_t, batch)`` in watts.

    Springs (free units only): ``P = sum_j pi_j g0 eps_j^2``.  Crossbars read with
    rows at virtual ground: a forward cell pair of layer ``l`` sees
    ``phi(x_{l-1,i})`` on ``G+`` and ``-phi`` on ``G-``, so dissipates
    ``(G+ + G-) phi^2``; a bias pair ``(G+ + G-) * (1 V)^2``; a feedback pair into a
    free unit sees ``+-pi_j eps_j``.
    """
    net = circuit.network()
    masks = circuit.clamp.masks
    n_t, batch = traj[0].shape[:2]
    flat = tuple(v.reshape(n_t * batch, -1) for v in traj)
    p_spring = np.zeros(n_t * batch)
    p_xbar = np.zeros(n_t * batch)
    for l in range(1, circuit.n_layers + 1):
        layer = circuit.layers[l - 1]
        h = net.phi(l - 1).f(flat[l - 1])
        eps = flat[l] - (h @ circuit.forward_weights(l).T + circuit.biases(l))
        free = ~masks[l]
        p_spring += (layer.g_spring_S[free] * eps[:, free] ** 2).sum(axis=1)
        if free.any() or (~masks[l - 1]).any():
            gf = layer.forward.g_pos_S + layer.forward.g_neg_S  # (n_l, n_{l-1})
            p_xbar += (h**2) @ gf.sum(axis=0)
            p_xbar += float((layer.bias.g_pos_S + layer.bias.g_neg_S).sum())
        below = ~masks[l - 1]
        if below.any():
            gb = (layer.feedback.g_pos_S + layer.feedback.g_neg_S)[below]  # (free, n_l)
            u = circuit.precisions(l) * eps
            p_xbar += (u**2) @ gb.sum(axis=0)
    return p_spring.reshape(n_t, batch), p_xbar.reshape(n_t, batch)


def energy_per_inference(
    result: SettleResult, circuit: Circuit, spec: AnalogSpec | None = None
) -> AnalogEnergy:
    """Energy of the settle in ``result`` (a time-domain result of ``circuit``).

    .. math::

        E = \\int_0^{t_s} \\Big[\\sum_{springs} \\pi_j g_0 \\varepsilon_j(t)^2
            + \\sum_{cells} G_c V_c(t)^2\\Big] dt + N_{amp} P_{amp} t_s

    integrated by the trapezoid rule on ``result.t`` (pass a dense transient, e.g.
    ``OdeBackend(t_eval_points=...)``, for accuracy).  The integrals are also given
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
    """Element counts (:meth:`Circuit.n_elements`), amplifiers and an area proxy (m^2).

    ``area = cells * cell_area + amplifiers * amp_area + capacitors * C / cap_density``.
    """
    spec = load_analog_spec(spec)
    d = dict(circuit.n_elements())
    d["amplifiers"] = amplifier_count(circuit)
    d["area_m2"] = (
        d["crossbar_cells"] * spec.cell_area_m2
        + d["amplifiers"] * spec.amp_area_m2
        + d["capacitors"] * spec.c_F / spec.cap_density_F_per_m2
    )
    return d


# ------------------------------------------------------------------ digital counts
@dataclass(frozen=True)
class Kernel:
    """One kernel: its name, FLOPs and memory traffic in values (not bytes)."""

    name: str
    flops: int
    words: int


@dataclass(frozen=True)
class FlopCounts:
    """Kernels of one backprop pass and of one discrete-PC step."""

    sizes: tuple[int, ...]
    batch: int
    bp: tuple[Kernel, ...]
    pc_step: tuple[Kernel, ...]

    @property
    def bp_flops(self) -> int:
        return sum(k.flops for k in self.bp)

    @property
    def pc_step_flops(self) -> int:
        return sum(k.flops for k in self.pc_step)

    @property
    def bp_words(self) -> int:
        return sum(k.words for k in self.bp)

    @property
    def pc_step_words(self) -> int:
        return sum(k.words for k in self.pc_step)

    @property
    def forward_macs(self) -> int:
        """Multiply-accumulates of the forward MVMs (weights only)."""
        s = self.sizes
        return self.batch * sum(s[l - 1] * s[l] for l in range(1, len(s)))


def flop_counts(sizes: Sequence[int], batch: int, *, target: bool = True) -> FlopCounts:
    """FLOPs and memory traffic per kernel (batch ``B``, widths ``n_0..n_L``).

    Conventions: a matmul of ``(B, n) @ (n, m)`` costs ``2 B n m`` FLOPs; every
    elementwise add, subtract, multiply, activation ``phi`` or derivative ``phi'``
    costs 1 FLOP per element (a transcendental counts as one); every kernel reads
    its inputs and writes its outputs once (``words``).

    Backprop (as :func:`pc_analog.reference.variants.backprop` computes it):

    - ``act<l-1>``, ``l = 1..L``: ``h = phi(a_{l-1})``: ``B n_{l-1}`` FLOPs;
    - ``fwd<l>``: ``a_l = h W_l^T + b_l``: ``2 B n_{l-1} n_l + B n_l``;
    - ``out``: ``e_L = pi (y - a_L)``: ``2 B n_L``;
    - ``bwd<l>``, ``l = L-1..1``: ``e_l = phi'(a_l) * (e_{l+1} W_{l+1})``:
      ``2 B n_{l+1} n_l + 2 B n_l``;
    - ``grad<l>``, ``l = 1..L``: ``dW = e_l^T h_{l-1}``, ``db = sum e_l``:
      ``2 B n_l n_{l-1} + B n_l``.

    One discrete-PC step (:func:`pc_analog.reference.variants.discrete_inference`), input
    clamped, output clamped if ``target``:

    - ``act<l-1>`` and ``pred<l>`` as ``act``/``fwd`` above, ``l = 1..L``;
    - ``err<l>``: ``e_l = pi (x_l - mu_l)``: ``2 B n_l``;
    - ``step<l>`` for each free layer ``l < L``:
      ``x_l -= gamma (e_l - phi'(x_l) * (e_{l+1} W_{l+1}))``: ``2 B n_{l+1} n_l + 5 B n_l``;
      for a free output layer ``x_L -= gamma e_L``: ``2 B n_L``.
    """
    s = [int(v) for v in sizes]
    B = int(batch)
    if len(s) < 2 or min(s) < 1 or B < 1:
        raise InvalidInputError("flop_counts: need >= 2 layer widths >= 1 and batch >= 1")
    L = len(s) - 1
    act = [Kernel(f"act{l - 1}", B * s[l - 1], 2 * B * s[l - 1]) for l in range(1, L + 1)]
    fwd = [
        Kernel(
            f"fwd{l}",
            2 * B * s[l - 1] * s[l] + B * s[l],
            B * s[l - 1] + s[l] * s[l - 1] + s[l] + B * s[l],
        )
        for l in range(1, L + 1)
    ]
    bp = [k for pair in zip(act, fwd) for k in pair]
    bp.append(Kernel("out", 2 * B * s[L], 3 * B * s[L] + s[L]))
    for l in range(L - 1, 0, -1):
        bp.append(
            Kernel(
                f"bwd{l}",
                2 * B * s[l + 1] * s[l] + 2 * B * s[l],
                B * s[l + 1] + s[l + 1] * s[l] + 2 * B * s[l],
            )
        )
    for l in range(1, L + 1):
        bp.append(
            Kernel(
                f"grad{l}",
                2 * B * s[l] * s[l - 1] + B * s[l],
                B * s[l] + B * s[l - 1] + s[l] * s[l - 1] + s[l],
            )
        )
    pc = []
    for l in range(1, L + 1):
        pc.append(act[l - 1])
        pc.append(Kernel(f"pred{l}", fwd[l - 1].flops, fwd[l - 1].words))
        pc.append(Kernel(f"err{l}", 2 * B * s[l], 3 * B * s[l] + s[l]))
    for l in range(1, L):
        pc.append(
            Kernel(
                f"step{l}",
                2 * B * s[l + 1] * s[l] + 5 * B * s[l],
                B * s[l + 1] + s[l + 1] * s[l] + 3 * B * s[l],
            )
        )
    if not target:
        pc.append(Kernel(f"step{L}", 2 * B * s[L], 3 * B * s[L]))
    return FlopCounts(tuple(s), B, tuple(bp), tuple(pc))


@dataclass(frozen=True)
class RooflineResult:
    """Roofline time and energy of a sequence of kernels on one machine.

    ``time_s = sum_k [max(flops_k / peak, bytes_k / bandwidth) + launch]``,
    ``energy_J = flops * energy_per_flop`` (``None`` when the spec has no energy).
    ``bound`` counts kernels by what limits them: ``compute``, ``memory`` or
    ``launch`` (the launch latency exceeds both).
    """

    machine: str
    time_s: float
    energy_J: float | None
    flops: int
    bytes: float
    n_kernels: int
    bound: dict


def roofline(kernels: Sequence[Kernel], spec: DigitalSpec | str, repeat: int = 1) -> RooflineResult:
    """The roofline model of ``kernels`` run ``repeat`` times in sequence on ``spec``."""
    spec = load_digital_spec(spec)
    if repeat < 0:
        raise InvalidInputError("roofline: repeat must be >= 0")
    t = 0.0
    bound = {"compute": 0, "memory": 0, "launch": 0}
    flops = sum(k.flops for k in kernels)
    nbytes = sum(k.words for k in kernels) * spec.bytes_per_value
    for k in kernels:
        tc = k.flops / spec.peak_flops
        tm = k.words * spec.bytes_per_value / spec.mem_bandwidth_Bps
        t += max(tc, tm) + spec.launch_latency_s
        if spec.launch_latency_s > max(tc, tm):
            bound["launch"] += 1
        elif tc >= tm:
            bound["compute"] += 1
        else:
            bound["memory"] += 1
    e = None if spec.energy_per_flop_J is None else flops * spec.energy_per_flop_J * repeat
    return RooflineResult(
        spec.name,
        t * repeat,
        e,
        flops * repeat,
        nbytes * repeat,
        len(kernels) * repeat,
        {k: v * repeat for k, v in bound.items()},
    )


# ------------------------------------------------------------------ the report
@dataclass(frozen=True)
class TimingReport:
    """Analog settle vs digital backprop and digital PC for one network.

    Attributes
    ----------
    config : dict
        Network sizes, activations, batch, dynamics, band, seed, spec names.
    analog : dict
        Settling times, spectral prediction, energy terms (means per inference),
        device counts, area, amplifier and rail checks.
    digital : dict
        Per reference machine (roofline): backprop and PC latency (batch 1),
        throughput (large batch) and energy; ratios analog / digital.
    cpu : dict or None
        Wall-clock medians on this CPU (``None`` when not measured).
    analog_spec, digital_specs :
        The specs used.
    """

    config: dict
    analog: dict
    digital: dict
    cpu: dict | None
    analog_spec: AnalogSpec = field(repr=False)
    digital_specs: tuple[DigitalSpec, ...] = field(repr=False)

    def to_dict(self) -> dict:
        """Nested, JSON-serialisable (non-finite numbers become ``None``)."""
        return _clean(
            {
                "config": self.config,
                "analog": self.analog,
                "digital": self.digital,
                "cpu": self.cpu,
                "analog_spec": self.analog_spec.to_dict(),
                "digital_specs": [s.to_dict() for s in self.digital_specs],
            }
        )

    def as_row(self) -> dict:
        """One flat dict (``section.key``), JSON-serialisable.

        Deterministic when the report was made with ``measure_cpu=False`` and
        without the ``cpu-measured`` digital reference.
        """
        row: dict = {}

        def put(prefix, d):
            for k, v in d.items():
                key = f"{prefix}.{k}" if prefix else k
                if isinstance(v, dict):
                    put(key, v)
                elif isinstance(v, (list, tuple)):
                    row[key] = "-".join(map(str, v)) if key.endswith("sizes") else list(v)
                else:
                    row[key] = v

        put("config", self.config)
        put("analog", self.analog)
        put("digital", self.digital)
        if self.cpu is not None:
            put("cpu", self.cpu)
        return _clean(row)

    def table(self) -> str:
        """The printed report."""
        return _table(self)


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        v = float(o)
        return v if math.isfinite(v) else None
    return o


def _div(a: float, b: float) -> float:
    """``a / b`` with ``inf`` for ``b == 0`` and ``nan`` propagated."""
    return math.inf if b == 0 else a / b


def _state_at(traj, t, ts_b: float, b: int):
    """The full state of sample ``b`` at time ``ts_b`` (linear between samples of ``t``)."""
    k = int(np.clip(np.searchsorted(t, ts_b, side="right") - 1, 0, len(t) - 2))
    w = 0.0 if t[k + 1] == t[k] else (ts_b - t[k]) / (t[k + 1] - t[k])
    return tuple(((1 - w) * v[k, b] + w * v[k + 1, b])[None, :] for v in traj)


def _free_residual(net: Network, x, free) -> float:
    g = grad_x(net, x)
    parts = [np.abs(gl[:, f]).max() for gl, f in zip(g, free) if f.any()]
    return float(max(parts)) if parts else 0.0


def _build_circuit(net, x0, y, spec: AnalogSpec, seed: int) -> Circuit:
    if spec.device == "ideal":
        return compile_network(net, x0, y, hardware=spec.hardware())
    from pc_analog.hardware.devices import load_device_config
    from pc_analog.hardware.hebbian import HardwareNetwork

    rng = np.random.default_rng(seed)
    hwnet = HardwareNetwork.fabricate(
        net, load_device_config(spec.device), hardware=spec.hardware(), rng=rng
    )
    return hwnet.circuit(x0, y)


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)

        def pc1():
            discrete_inference(cnet, x_init1, circ.clamp, step_size=gamma, n_steps=n_timed)

        def pcB():
            discrete_inference(cnet, xiB, circ.clamp, step_size=gamma, n_steps=n_timed_B)

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
) -> TimingReport:
    """Settle ``net`` in the analog circuit and compare with digital BP and PC.

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
        Spec, preset name or JSON path (default preset ``"default"``).
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
    xb = as_batch(x0, net.sizes[0], "input")
    B = xb.shape[0]
    if y is None:
        yb = np.random.default_rng(seed).uniform(-1, 1, size=(B, net.sizes[-1]))
    else:
        yb = as_batch(y, net.sizes[-1], "target")
        if yb.shape[0] != B:
            raise InvalidInputError(f"target: {yb.shape[0]} samples but input has {B}")

    stages = ["analog settle", "digital PC steps", "roofline"] + (
        ["CPU backprop", "CPU discrete PC"] if measure_cpu else []
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(stages), desc="timing", unit="stage", leave=False)

    def tick(name):
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)

    # ---- analog
    circ = _build_circuit(net, xb, yb, spec, seed)
    if circ.clamp.n_free() == 0:
        raise InvalidInputError(
            "timing: with input and target clamped the network has no free unit to settle "
            "(it needs a hidden layer)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = OdeBackend(
            settle_band=band,
            inertial=inertial,
            damping_ratio=damping_ratio,
            t_eval_points=t_eval_points,
        ).settle(circ)
    cnet = circ.network()
    tau = circ.tau_s
    lam = slowest_mode(circ, res.x_eq)
    lam_min = float(np.min(lam))
    en = energy_per_inference(res, circ, spec)
    ts = np.asarray(res.settling_time_s, dtype=float)
    free = circ.clamp.free
    resid = np.array(
        [_free_residual(cnet, _state_at(res.trajectory, res.t, ts[b], b), free) for b in range(B)]
    )
    vmax = float(max(np.abs(v).max() for v in res.trajectory))
    counts = device_counts(circ, spec)
    t_settle = float(np.max(ts))
    analog = {
        "success": bool(res.success),
        "dynamics": "inertial" if inertial else "RC",
        "tau_s": tau,
        "settling_time_s": t_settle,
        "settling_time_mean_s": float(np.mean(ts)),
        "settling_time_tau": t_settle / tau,
        "lambda_min": lam_min,
        "predicted_settling_tau": predicted_settling_tau(
            lam_min, band, inertial=inertial, damping_ratio=damping_ratio
        ),
        "predicted_settling_s": tau
        * predicted_settling_tau(lam_min, band, inertial=inertial, damping_ratio=damping_ratio),
        "residual_at_settle": float(np.max(resid)),
        "t_end_s": en.t_end_s,
        "energy_springs_J": float(np.mean(en.springs_J)),
        "energy_crossbars_J": float(np.mean(en.crossbars_J)),
        "energy_amplifiers_J": float(np.mean(en.amplifiers_J)),
        "energy_J": float(np.mean(en.total_J)),
        "energy_springs_to_end_J": float(np.mean(en.springs_total_J)),
        "energy_crossbars_to_end_J": float(np.mean(en.crossbars_total_J)),
        "latency_s": t_settle,
        "throughput_per_s": 1.0 / t_settle if t_settle > 0 else math.inf,
        "devices": counts,
        "amp_tau_s": spec.amp_tau_s,
        "amp_limited": bool(spec.amp_tau_s > AMP_LIMIT_FRACTION * tau),
        "max_abs_V": vmax,
        "rails_ok": bool(vmax <= spec.supply_V),
        "aimc_forward_energy_J": flop_counts(net.sizes, 1).forward_macs * spec.mac_energy_J,
    }
    tick("analog settle")

    # ---- digital PC: steps to the analog residual
    if pc_step_size is None:
        H = dense_hessian(cnet, res.x_eq)
        fmask = np.concatenate(free)
        lam_max = float(np.max(np.linalg.eigvalsh(H[:, fmask][:, :, fmask])[:, -1]))
        gamma = 1.0 / lam_max
    else:
        gamma = float(pc_step_size)
    steps = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for b in range(B):
            x_init = tuple(v[b : b + 1] for v in circ.x_init)
            r = discrete_inference(
                cnet,
                x_init,
                circ.clamp,
                step_size=gamma,
                n_steps=PC_MAX_STEPS,
                gtol=max(resid[b], 1e-300),
            )
            steps.append(r.n_steps if r.success else math.nan)
    T = float(np.max(steps))
    tick("digital PC steps")

    # ---- roofline
    target = True
    c1 = flop_counts(net.sizes, 1, target=target)
    cB = flop_counts(net.sizes, throughput_batch, target=target)
    dig = {}
    for d in dspecs:
        bp1, bpB = roofline(c1.bp, d), roofline(cB.bp, d)
        st1, stB = roofline(c1.pc_step, d), roofline(cB.pc_step, d)
        pc_lat = T * st1.time_s
        row = {
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
            "analog_over_bp_energy": None
            if bp1.energy_J is None
            else analog["energy_J"] / bp1.energy_J,
            "analog_over_pc_latency": _div(t_settle, pc_lat),
        }
        dig[d.name] = row
    tick("roofline")

    cpu = None
    if measure_cpu:
        from pc_analog._threads import single_threaded_blas

        with single_threaded_blas():
            cpu = _measure_cpu(
                net, xb, yb, circ, cnet, gamma, T, t_settle, repeats, throughput_batch, tick
            )
    if bar is not None:
        bar.close()

    config = {
        "sizes": list(net.sizes),
        "activations": list(net.activations),
        "batch": B,
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
    return TimingReport(config, analog, dig, cpu, spec, dspecs)


# ------------------------------------------------------------------ printing
def _si(v, unit: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if v == 0:
        return f"0 {unit}"
    prefixes = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"),
                (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a")]  # fmt: skip
    for scale, p in prefixes:
        if abs(v) >= scale:
            return f"{v / scale:.3g} {p}{unit}"
    return f"{v:.3g} {unit}"


def _ratio(v) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.3g}x"


def _table(r: TimingReport) -> str:
    c, a = r.config, r.analog
    dev = a["devices"]
    lines = [
        f"pc-analog timing: {'-'.join(map(str, c['sizes']))} "
        f"({'/'.join(c['activations'])}), batch {c['batch']}, target {c['target']}, "
        f"{c['dynamics']} dynamics, band {c['band']:g}",
        f"analog spec {c['analog_spec']!r} (device {c['device']}), "
        f"tau = C/g0 = {_si(a['tau_s'], 's')}",
        "",
        "analog (simulated transient, ode backend)" + ("" if a["success"] else "  [NOT SETTLED]"),
        f"  settling time (max over batch)  {_si(a['settling_time_s'], 's')} = "
        f"{a['settling_time_tau']:.4g} tau   (mean {_si(a['settling_time_mean_s'], 's')})",
        f"  spectral prediction             {_si(a['predicted_settling_s'], 's')} = "
        f"{a['predicted_settling_tau']:.4g} tau   (ln(1/band)/rate, lambda_min = "
        f"{a['lambda_min']:.4g})",
        f"  energy / inference              {_si(a['energy_J'], 'J')} = springs "
        f"{_si(a['energy_springs_J'], 'J')} + crossbars {_si(a['energy_crossbars_J'], 'J')} "
        f"+ amplifiers {_si(a['energy_amplifiers_J'], 'J')}",
        f"    (to end of transient {_si(a['t_end_s'], 's')}: springs "
        f"{_si(a['energy_springs_to_end_J'], 'J')}, crossbars "
        f"{_si(a['energy_crossbars_to_end_J'], 'J')})",
        f"  devices                         {dev['capacitors']} capacitors, "
        f"{dev['crossbar_cells']} crossbar cells, {dev['springs']} springs, "
        f"{dev['amplifiers']} amplifiers, {dev['voltage_sources']} clamps; "
        f"area ~ {a['devices']['area_m2'] * 1e6:.3g} mm^2",
        f"  amplifier tau                   {_si(a['amp_tau_s'], 's')} "
        f"({'LIMITS the settle' if a['amp_limited'] else 'fast enough'}: tau/amp_tau = "
        f"{a['tau_s'] / a['amp_tau_s']:.3g})",
        f"  node voltages                   max |V| {a['max_abs_V']:.3g} V "
        f"{'within' if a['rails_ok'] else 'EXCEEDS'} the +-{r.analog_spec.supply_V:g} V rails",
        f"  published AIMC chip, same forward MVMs: {_si(a['aimc_forward_energy_J'], 'J')} "
        "(context only)",
        "",
        f"digital PC: step {c['pc_step_size_tau']:.3g} tau, "
        f"T = {c['pc_steps_same_residual']:.0f} steps to the analog residual "
        f"max|dF/dx| = {a['residual_at_settle']:.3g}; "
        f"no digital PC needs fewer than L = {len(c['sizes']) - 1} steps",
        "",
    ]
    hdr = (
        f"{'machine':<22}{'BP latency':>12}{'PC latency':>12}"
        f"{'BP thrpt/s':>12}{'PC thrpt/s':>12}{'BP energy':>12}{'PC energy':>12}"
    )
    lines += [
        f"latency = batch 1; throughput = inferences/s at batch {c['throughput_batch']}",
        hdr,
        "-" * len(hdr),
    ]

    def row(name, d):
        return (
            f"{name:<22}{_si(d.get('bp_latency_s'), 's'):>12}{_si(d.get('pc_latency_s'), 's'):>12}"
            f"{d.get('bp_throughput_per_s', math.nan):>12.3g}"
            f"{d.get('pc_throughput_per_s', math.nan):>12.3g}"
            f"{_si(d.get('bp_energy_J'), 'J'):>12}{_si(d.get('pc_energy_J'), 'J'):>12}"
        )

    if r.cpu is not None:
        lines.append(row("this CPU (measured)", r.cpu))
    for name, d in r.digital.items():
        lines.append(row(f"{name} (roofline)", d))
    lines.append(
        f"{'analog (one circuit)':<22}{_si(a['latency_s'], 's'):>12}{'':>12}"
        f"{a['throughput_per_s']:>12.3g}{'':>12}{_si(a['energy_J'], 'J'):>12}"
    )
    L = len(c["sizes"]) - 1
    lines.append(
        f"digital PC at its minimum of L = {L} steps: "
        + ", ".join(
            f"{name} {_si(d['pc_latency_at_L_steps_s'], 's')}"
            for name, d in ([("this CPU", r.cpu)] if r.cpu is not None else [])
            + list(r.digital.items())
        )
    )
    lines += ["", "analog / digital (below 1: analog wins)"]
    if r.cpu is not None:
        lines.append(
            f"  vs this CPU: latency {_ratio(r.cpu['analog_over_bp_latency'])} of BP, "
            f"{_ratio(r.cpu['analog_over_pc_latency'])} of PC"
        )
    for name, d in r.digital.items():
        lines.append(
            f"  vs {name}: latency {_ratio(d['analog_over_bp_latency'])} of BP, "
            f"{_ratio(d['analog_over_pc_latency'])} of PC; energy "
            f"{_ratio(d['analog_over_bp_energy'])} of BP"
        )
    return "\n".join(lines)
