"""The transfer study: ex-situ backprop, hardware-aware backprop and in-situ PC on one chip.

A *chip* is one draw of a non-ideal circuit: an analog spec (amplifier offsets, wire
resistance, ``phi``/``phi'`` block errors, drawn by ``mismatch_seed``; thermal noise at a
node capacitance ``c_F``), a device technology (stuck devices, drawn by the fabrication
seed) and, optionally, a separate feedback crossbar whose devices do not match their
forward twins (:func:`feedback_gains`).  Three ways to get a classifier running on it,
with the same architecture, initial weights, samples, order, batch size and learning
rate:

* ``ex_situ``: digital backprop on ideal arithmetic, the weights then programmed into the
  chip (:meth:`Chip.program`) and evaluated in it.
* ``hw_aware``: *physics-aware* backprop (Wright et al., "Deep physical neural networks
  trained with backpropagation", Nature 601:549, 2022): each sample's forward pass is the
  chip's own (the current digital weights programmed, the circuit settled with the output
  free: the non-ideal feedforward, read through the ADCs), the backward pass is the
  digital model's recursion evaluated at those states (:func:`physics_aware_backprop`).
* ``in_situ``: PC Hebbian training in the chip: each sample settles the non-ideal circuit
  with input and label clamped, the update is read from what the ADCs read and programmed
  into the chip's devices (the step :func:`pc_analog.learning.train.train` takes with an
  ``analog`` spec, here at batch 1 with per-sample settles).

Every accuracy is measured in the chip: settle with the output free, read the output
nodes through the ADCs, ``argmax``.

Reads.  A chip settles to its rest point: the ``equilibrium`` backend for a symmetric
circuit; with mismatched feedback crossbars (no energy any more) Newton on the circuit's
KCL started at the forward crossbars' energy minimum (:func:`rest_state`).  With thermal
noise on, every read is one draw of the node voltages from the circuit's stationary
distribution in the linear-noise approximation, ``x = x* + L z``, ``L L^T = Sigma`` the
solution of the Lyapunov equation at ``x*`` (the library's read,
:func:`pc_analog.hardware.noisy_read.noisy_read`, via :meth:`Chip.read`): what an ADC
sampling a settled, noisy circuit sees.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from dataclasses import dataclass

import numpy as np

from pc_analog.circuit.ir import DifferentialPair
from pc_analog.costs.specs import AnalogSpec
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.device_arrays import DeviceArray
from pc_analog.hardware.device_config import DeviceConfig
from pc_analog.hardware.hebbian import HardwareNetwork
from pc_analog.hardware.noisy_read import noisy_read
from pc_analog.io.data import one_hot
from pc_analog.model.network import Network
from pc_analog.reference.variants import Gradients, output_error
from pc_analog.settling.registry import settle

__all__ = [
    "NONIDEALITIES",
    "FEEDBACK_STREAM",
    "METHODS",
    "Chip",
    "TransferResult",
    "feedback_gains",
    "make_chip",
    "rest_state",
    "physics_aware_backprop",
    "run_transfer",
]

#: Non-ideality -> (the strengths of the study, what a strength means).
NONIDEALITIES = {
    "ideal": ((0.0,), "no non-ideality (reference)"),
    "amp_offset": ((0.003, 0.01, 0.03), "amp_offset_V: std of every amplifier's input offset (V)"),
    "wire": ((10.0, 30.0, 100.0), "wire_r_ohm: one crossbar wire segment (ohm; g_unit 10 uS)"),
    "phi_errors": (
        (0.01, 0.03, 0.1),
        "std of every phi and phi' block's relative gain error; offsets std s/5 V",
    ),
    "fb_mismatch": (
        (0.05, 0.1, 0.2),
        "relative std of every feedback-crossbar device's conductance against its programmed "
        "target (a separate feedback copy receiving the forward pulses, each device off by "
        "a fixed factor 1 + s z)",
    ),
    "stuck": ((0.01, 0.03, 0.1), "stuck_fraction of devices (half at g_min, half at g_max)"),
    "thermal": (
        (1e-16, 1e-17, 1e-18),
        "c_F: node capacitance (F) with thermal noise 4kTG on (kT/C = (6.4, 20, 64 mV)^2); "
        "every read one draw from the stationary noise",
    ),
    "all": (
        (0.5, 1.0, 2.0),
        "k x (amp_offset 0.01 V, phi_errors 0.05, stuck 0.01, fb_mismatch 0.1; the feedback "
        "copy's stuck devices drawn on their own) and thermal noise at c_F = 1e-16/k^2 F; "
        "wires excluded (the crossbar level does not carry phi block errors)",
    ),
}
METHODS = ("ex_situ", "hw_aware", "in_situ")
#: A bounded, otherwise exact device (stuck devices need a finite g_max).
_G_MAX_S = 1e-4
#: The rng stream ``[seed, FEEDBACK_STREAM]`` of a separate feedback copy's fabrication
#: (forward and bias crossbars: ``[seed, 0]``; training 1-3; mismatch factors 4).
FEEDBACK_STREAM = 5


#: A separate feedback copy per programmed state, built once (see Chip.circuit).
_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def feedback_gains(net: Network, mismatch: float, seed: int) -> tuple:
    """The fixed factors of a separate feedback crossbar's devices against their programmed
    targets: per layer ``(2, n_{l-1}, n_l)`` (``G+``, ``G-`` of the transposed crossbar),
    ``max(1 + mismatch z, 0)`` with ``z ~ N(0, 1)`` drawn by ``[seed, 4]``.

    The feedback device at ``(i, j)`` receives the pulses of its forward twin ``(j, i)``
    and conducts ``gain`` times what they program: the copies differ by a fixed
    per-device factor (and by their own stuck devices, :data:`FEEDBACK_STREAM`).
    ``mismatch = 0``: every factor is exactly 1.
    """
    rng = np.random.default_rng([seed, 4])
    return tuple(
        np.maximum(1.0 + mismatch * rng.standard_normal((2,) + net.W(l).T.shape), 0.0)
        for l in range(1, net.n_layers + 1)
    )


def _with_twin(hw: HardwareNetwork, gains: tuple) -> HardwareNetwork:
    """``hw`` whose separate feedback copies conduct as fabricated: each working device
    ``gain`` times its programmed conductance (the copy ``hw.feedback`` holds, which
    received the forward crossbar's pulses), clipped to the device range; each stuck
    device of the copy at its stuck conductance (``g_min`` or ``g_max``, whatever the
    gain).  Cached per device state, so the circuit structure is built once per state.

        G_fb = stuck ? G_stuck : clip(gain * G_programmed, g_min, g_max)
    """
    twin = _TWINS.get(hw)
    if twin is None:
        fb = []
        for a, k in zip(hw.feedback, gains):
            c = a.config
            G = np.clip(k * a.conductances_S, c.g_min_S, c.g_max_S)
            if a.stuck is not None:
                G = np.where(a.stuck == 1, c.g_min_S, np.where(a.stuck == 2, c.g_max_S, G))
            ones = np.ones(G.shape)
            fb.append(DeviceArray(c, DifferentialPair(G[0], G[1]), ones, ones, 0, a.stuck))
        twin = dataclasses.replace(hw, feedback=tuple(fb))
        _TWINS[hw] = twin
    return twin


def rest_state(circuit) -> tuple:
    """The rest point of ``circuit``: the ``equilibrium`` backend's for a symmetric circuit;
    otherwise Newton on the KCL residual (:func:`~pc_analog.solvers.rest_point.
    newton_rest_point`) started at the energy minimum of the forward crossbars' network.
    Raises :class:`InvalidInputError` if Newton does not converge (counted as diverged)."""
    if circuit.symmetric:
        return settle(circuit, backend="equilibrium", on_failure="return").x
    from pc_analog.solvers.base import Status
    from pc_analog.solvers.equilibrium import solve_equilibrium
    from pc_analog.solvers.rest_point import newton_rest_point

    eq = solve_equilibrium(
        circuit.network(), circuit.x_init, circuit.clamp, gtol=1e-10, on_failure="return"
    )
    x, _, status, msg, *_ = newton_rest_point(circuit, eq.x, gtol=1e-10, max_iter=100)
    if status is not Status.SUCCESS:
        raise InvalidInputError(f"mismatched feedback: no rest point ({msg})")
    return x


@dataclass(frozen=True)
class Chip:
    """One non-ideal chip: ``spec`` at ``level``, devices ``device``, fabrication ``seed``,
    feedback copies mismatched by ``fb_mismatch`` (0: the forward crossbars read in
    reverse)."""

    spec: AnalogSpec
    level: str
    device: DeviceConfig
    seed: int
    g_units: tuple = ()
    fb_mismatch: float = 0.0
    fb_gains: tuple = ()

    def scaled_for(self, net: Network) -> Chip:
        """This chip with its per-layer unit conductances fixed as
        :meth:`HardwareNetwork.fabricate` sets them for ``net`` (bounded devices:
        ``(g_max - g_min) / (4 max |W_l|)``), so every weight set programmed later shares
        the conductance scale and the weight bound; and with the feedback factors of
        :func:`feedback_gains` drawn for ``net``'s shapes."""
        g = HardwareNetwork.fabricate(net, self.device, rng=[self.seed, 0]).g_units
        gains = feedback_gains(net, self.fb_mismatch, self.seed) if self.fb_mismatch else ()
        return dataclasses.replace(self, g_units=tuple(g), fb_gains=gains)

    def program(self, net: Network) -> HardwareNetwork:
        """``net`` programmed into this chip's devices: the same stuck devices every time
        (the fabrication draws depend only on the shapes and ``seed``), the unit
        conductances of :meth:`scaled_for`; ``|W| > (g_max - g_min) / g_unit`` is clipped.

        With mismatched feedback (``fb_gains``) the feedback crossbars are a separate
        physical copy (``HardwareNetwork.feedback``) programmed to ``W_l^T``: its stuck
        devices are its own draw (same device config, the stream ``[seed,
        FEEDBACK_STREAM]``, independent of the forward crossbars' ``[seed, 0]``), and it
        receives the forward crossbars' Hebbian pulses (``HardwareNetwork.apply``); the
        mismatch factors are applied when the circuit is built (:func:`_with_twin`)."""
        from pc_analog.hardware.device_arrays import fabricate

        if not self.g_units:
            raise InvalidInputError("chip: call scaled_for(net) before program")
        rng = np.random.default_rng([self.seed, 0])
        L, g = net.n_layers, self.g_units
        fwd = tuple(fabricate(self.device, net.W(l), g[l - 1], rng) for l in range(1, L + 1))
        bias = tuple(fabricate(self.device, net.b(l), g[l - 1], rng) for l in range(1, L + 1))
        fb = None
        if self.fb_gains:  # a separate crossbar, fabricated on its own: its own stuck draws
            rfb = np.random.default_rng([self.seed, FEEDBACK_STREAM])
            fb = tuple(fabricate(self.device, net.W(l).T, g[l - 1], rfb) for l in range(1, L + 1))
        return HardwareNetwork(
            fwd, fb, bias, net.precisions, net.activations, self.spec.hardware(), g
        )

    def apply(self, circuit):
        return self.spec.apply(circuit, self.level)

    def circuit(self, hw: HardwareNetwork, x, t=None):
        """The chip's circuit of the devices ``hw`` with input ``x`` (and target ``t``)
        clamped: the separate feedback copies if mismatched, the spec applied."""
        if self.fb_gains:
            hw = _with_twin(hw, self.fb_gains)
        return self.apply(hw.circuit(x, t))

    def read(self, circuit, rng) -> tuple:
        """What the ADCs read of ``circuit`` settled: the rest point, one noisy draw
        around it when the chip has noise sources, quantised.

        The draw is the library's (:func:`pc_analog.hardware.noisy_read.noisy_read`:
        ``x* + L z``, ``L L^T = Sigma`` the Lyapunov covariance of the circuit linearised
        at ``x*``, by Cholesky where the circuit is a gradient flow, by the Lyapunov
        equation where it is not, as with mismatched feedback), ``z`` drawn from ``rng``.
        A sample whose linearisation has no stationary state (the library reads it
        without noise and counts it) raises :class:`InvalidInputError` here: a chip that
        does not come to rest counts as diverged."""
        nr = noisy_read(circuit, rest_state(circuit), rng)
        if nr.unstable:
            raise InvalidInputError(
                f"thermal noise: {nr.unstable} sample(s) at an unstable rest point "
                "(no stationary noise)"
            )
        return tuple(self.spec.read_out(nr.x))

    def forward(self, hw: HardwareNetwork, x: np.ndarray, chunk: int = 50, rng=None) -> tuple:
        """The ADC read-out of every layer, the circuit settled with ``x`` at ``x_0`` and the
        rest free, ``chunk`` samples per settle (``rng``: the noisy reads' draws)."""
        parts = []
        for s in range(0, x.shape[0], chunk):
            parts.append(self.read(self.circuit(hw, x[s : s + chunk]), rng))
        return tuple(np.concatenate([p[l] for p in parts]) for l in range(len(parts[0])))

    def accuracy(self, hw: HardwareNetwork, x, labels, chunk: int = 50, rng=None) -> float:
        return float(np.mean(np.argmax(self.forward(hw, x, chunk, rng)[-1], axis=1) == labels))


def make_chip(nonideality: str, strength: float, seed: int = 0) -> Chip:
    """The chip of ``nonideality`` at ``strength`` (:data:`NONIDEALITIES`), drawn by ``seed``
    (both the ``mismatch_seed`` and the fabrication seed)."""
    if nonideality not in NONIDEALITIES:
        raise InvalidInputError(
            f"nonideality: unknown {nonideality!r} (known: {', '.join(NONIDEALITIES)})"
        )
    s = float(strength)
    if not (np.isfinite(s) and s >= 0):
        raise InvalidInputError(f"strength: must be a finite number >= 0, got {strength!r}")
    spec, stuck, level, fb = {}, 0.0, "behavioural", 0.0
    if nonideality == "amp_offset":
        spec = dict(amp_offset_V=s)
    elif nonideality == "wire":
        spec, level = dict(wire_r_ohm=s), "crossbar"
    elif nonideality == "phi_errors":
        spec = dict(phi_gain_error=s, dphi_gain_error=s, phi_offset_V=s / 5, dphi_offset_V=s / 5)
    elif nonideality == "fb_mismatch":
        fb = s
    elif nonideality == "stuck":
        stuck = s
    elif nonideality == "thermal" and s > 0:  # strength 0: noise off
        spec = dict(c_F=s, thermal_noise=True)
    elif nonideality == "all" and s > 0:
        spec = dict(
            amp_offset_V=0.01 * s,
            phi_gain_error=0.05 * s,
            dphi_gain_error=0.05 * s,
            phi_offset_V=0.01 * s,
            dphi_offset_V=0.01 * s,
            c_F=1e-16 / s**2,
            thermal_noise=True,
        )
        stuck, fb = 0.01 * s, 0.1 * s
    if stuck > 1:
        raise InvalidInputError(f"strength: stuck fraction {stuck} exceeds 1")
    device = DeviceConfig(
        name="transfer",
        g_min_S=0.0,
        g_max_S=_G_MAX_S if stuck > 0 else float("inf"),
        stuck_fraction=stuck,
        stuck_high_fraction=0.5 if stuck > 0 else 0.0,
    )
    spec = AnalogSpec(name=nonideality, mismatch_seed=seed, **spec)
    return Chip(spec, level, device, seed, fb_mismatch=fb)


def physics_aware_backprop(net: Network, a: tuple, y: np.ndarray) -> Gradients:
    """Backprop's recursion evaluated at given layer states ``a`` (a chip's forward pass).

    ``e_L = pi_L (y - a_L)``, ``e_l = phi_l'(a_l) * (e_{l+1} W_{l+1})``,
    ``dW_l = e_l^T phi_{l-1}(a_{l-1})``, ``db_l = sum_batch e_l``: with ``a`` the ideal
    feedforward states this is :func:`pc_analog.reference.variants.backprop` exactly; with
    a chip's states it is physics-aware training (the forward pass physical, the backward
    pass the digital model's).
    """
    L = net.n_layers
    if len(a) != L + 1:
        raise InvalidInputError(f"a: need {L + 1} layer states, got {len(a)}")
    e = [None] * (L + 1)
    e[L] = output_error(net, a[L], y)
    for l in range(L - 1, 0, -1):
        e[l] = net.phi(l).df(a[l]) * (e[l + 1] @ net.W(l + 1))
    dW = tuple(e[l].T @ net.phi(l - 1).f(a[l - 1]) for l in range(1, L + 1))
    db = tuple(e[l].sum(axis=0) for l in range(1, L + 1))
    return Gradients("bp", dW, db, float("nan"))


@dataclass(frozen=True)
class TransferResult:
    """Accuracies in the chip of the three methods (and of the ideal chip for reference)."""

    nonideality: str
    strength: float
    seed: int
    accuracy: dict  # method -> test accuracy in the chip
    ideal_accuracy: dict  # method -> the same weights in an ideal chip (ex_situ, in_situ)
    diverged: tuple = ()
    status: str = "ok"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _step(net: Network, g: Gradients, lr: float) -> Network:
    return net.replace(
        weights=tuple(W + lr * d for W, d in zip(net.weights, g.dW)),
        biases=tuple(b + lr * d for b, d in zip(net.biases, g.db)),
    )


def _hebbian(chip: Chip, hw: HardwareNetwork, x, t, lr: float, rng, read_rng):
    """One in-situ step: settle the chip with ``x`` and ``t`` clamped, program the Hebbian
    update (summed over the batch) of what the ADCs read."""
    circ = chip.circuit(hw, x, t)
    return hw.hebbian_step(circ, chip.read(circ, read_rng), lr, rng)[0]


def _one_step(chip: Chip, nets: dict, x, t, lr: float, rng, read_rng, method: str):
    """``method``'s state after learning the batch ``(x, t)`` (updates summed over it)."""
    from pc_analog.reference.variants import backprop

    net = nets[method]
    if method == "ex_situ":
        return _step(net, backprop(net, x, t), lr)
    if method == "hw_aware":
        a = chip.forward(chip.program(net), x, x.shape[0], read_rng)
        return _step(net, physics_aware_backprop(net, a, t), lr)
    return _hebbian(chip, net, x, t, lr, rng, read_rng)


def run_transfer(
    nonideality: str,
    strength: float,
    data,
    *,
    arch: tuple,
    epochs: int,
    lr: float,
    seed: int = 0,
    batch: int = 1,
    precision_output: float = 0.1,
    progress=None,
) -> TransferResult:
    """Train the three methods on ``data`` (a :class:`~pc_analog.learning.defaults.Data`)
    for the chip of ``nonideality`` at ``strength``; accuracies measured in the chip.

    Every method takes the same steps: ``batch`` samples of one shuffled order per step,
    the update summed over the batch times ``lr`` (so ``lr`` is the per-sample rate).

    Long because it is the study's three training loops side by side, sharing the sample
    order and the chip so that they differ only in the method.
    """
    if not (isinstance(batch, int) and batch >= 1):
        raise InvalidInputError(f"batch: must be an integer >= 1, got {batch!r}")
    chip = make_chip(nonideality, strength, seed)
    ideal = make_chip("ideal", 0.0, seed)
    net0 = Network.random(arch, "tanh", precisions=[1.0] * (len(arch) - 2) + [precision_output],
                          seed=seed)  # fmt: skip
    y = one_hot(data.lab_train, data.n_classes)
    chip, ideal = chip.scaled_for(net0), ideal.scaled_for(net0)
    nets = {"ex_situ": net0, "hw_aware": net0, "in_situ": chip.program(net0)}
    rng, read_rng = np.random.default_rng([seed, 2]), np.random.default_rng([seed, 3])
    diverged = set()
    for epoch in range(epochs):
        order = np.random.default_rng([seed, 1, epoch]).permutation(data.x_train.shape[0])
        for s in range(0, order.size, batch):
            k = order[s : s + batch]
            step = functools.partial(_one_step, chip, nets, data.x_train[k], y[k], lr, rng,
                                     read_rng)  # fmt: skip
            for m in METHODS:
                if m in diverged:
                    continue
                try:
                    nets[m] = step(m)
                except InvalidInputError:  # weights beyond the model's limits, no rest point
                    diverged.add(m)
        if progress is not None:
            progress(f"{nonideality} {strength}: epoch {epoch + 1}/{epochs}")
    x_te, lab = data.x_test, data.lab_test
    acc = {m: float("nan") for m in METHODS}
    ideal_acc = {"ex_situ": float("nan"), "in_situ": float("nan")}
    for m in METHODS:
        if m in diverged:
            continue
        try:  # a run whose conductances ran past the model's limits counts as diverged
            w = nets[m].ideal_network() if m == "in_situ" else nets[m]
            hw = nets[m] if m == "in_situ" else chip.program(w)
            acc[m] = chip.accuracy(hw, x_te, lab, 50, read_rng)
            if m in ideal_acc:
                ideal_acc[m] = ideal.accuracy(ideal.program(w), x_te, lab, 100)
        except InvalidInputError:
            diverged.add(m)
            acc[m] = float("nan")
            if m in ideal_acc:
                ideal_acc[m] = float("nan")
    return TransferResult(
        nonideality,
        float(strength),
        seed,
        acc,
        ideal_acc,
        tuple(sorted(diverged)),
        "ok" if not diverged else "diverged",
    )
