"""The transfer study: ex-situ backprop, hardware-aware backprop and in-situ PC on one chip.

A *chip* is one draw of a non-ideal circuit: an analog spec (amplifier offsets, wire
resistance, ``phi``/``phi'`` block errors, drawn by ``mismatch_seed``) and a device
technology (stuck devices, drawn by the fabrication seed).  Three ways to get a classifier
running on it, with the same architecture, initial weights, samples, order and learning
rate (batch 1, each sample settled on its own):

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
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from pc_analog.costs.specs import AnalogSpec
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.device_config import DeviceConfig
from pc_analog.hardware.hebbian import HardwareNetwork
from pc_analog.io.data import one_hot
from pc_analog.model.network import Network
from pc_analog.reference.variants import Gradients, output_error
from pc_analog.settling.registry import settle

__all__ = [
    "NONIDEALITIES",
    "METHODS",
    "Chip",
    "TransferResult",
    "make_chip",
    "physics_aware_backprop",
    "run_transfer",
]

#: Non-ideality -> (the strengths of the study, what a strength means).
NONIDEALITIES = {
    "ideal": ((0.0,), "no non-ideality (reference)"),
    "amp_offset": ((0.003, 0.01, 0.03), "amp_offset_V: std of every amplifier's input offset (V)"),
    "wire": ((10.0, 30.0), "wire_r_ohm: one crossbar wire segment (ohm; g_unit 10 uS)"),
    "phi_errors": (
        (0.05, 0.1),
        "std of every phi and phi' block's relative gain error; offsets std s/5 V",
    ),
    "stuck": ((0.01, 0.05), "stuck_fraction of devices (half at g_min, half at g_max)"),
    "all": (
        (1.0, 2.0),
        "k x (amp_offset 0.01 V, phi_errors 0.05, stuck 0.01); wires excluded (the "
        "crossbar level does not carry phi block errors)",
    ),
}
METHODS = ("ex_situ", "hw_aware", "in_situ")
#: A bounded, otherwise exact device (stuck devices need a finite g_max).
_G_MAX_S = 1e-4


@dataclass(frozen=True)
class Chip:
    """One non-ideal chip: ``spec`` at ``level``, devices ``device``, fabrication ``seed``."""

    spec: AnalogSpec
    level: str
    device: DeviceConfig
    seed: int
    g_units: tuple = ()

    def scaled_for(self, net: Network) -> Chip:
        """This chip with its per-layer unit conductances fixed as
        :meth:`HardwareNetwork.fabricate` sets them for ``net`` (bounded devices:
        ``(g_max - g_min) / (4 max |W_l|)``), so every weight set programmed later shares
        the conductance scale and the weight bound."""
        g = HardwareNetwork.fabricate(net, self.device, rng=[self.seed, 0]).g_units
        return dataclasses.replace(self, g_units=tuple(g))

    def program(self, net: Network) -> HardwareNetwork:
        """``net`` programmed into this chip's devices: the same stuck devices every time
        (the fabrication draws depend only on the shapes and ``seed``), the unit
        conductances of :meth:`scaled_for`; ``|W| > (g_max - g_min) / g_unit`` is clipped."""
        from pc_analog.hardware.device_arrays import fabricate

        if not self.g_units:
            raise InvalidInputError("chip: call scaled_for(net) before program")
        rng = np.random.default_rng([self.seed, 0])
        L, g = net.n_layers, self.g_units
        fwd = tuple(fabricate(self.device, net.W(l), g[l - 1], rng) for l in range(1, L + 1))
        bias = tuple(fabricate(self.device, net.b(l), g[l - 1], rng) for l in range(1, L + 1))
        return HardwareNetwork(
            fwd, None, bias, net.precisions, net.activations, self.spec.hardware(), g
        )

    def apply(self, circuit):
        return self.spec.apply(circuit, self.level)

    def forward(self, hw: HardwareNetwork, x: np.ndarray, chunk: int = 1) -> tuple:
        """The ADC read-out of every layer, the circuit settled with ``x`` at ``x_0`` and the
        rest free, ``chunk`` samples per settle."""
        parts = []
        for s in range(0, x.shape[0], chunk):
            r = settle(self.apply(hw.circuit(x[s : s + chunk])), backend="equilibrium",
                       on_failure="return")  # fmt: skip
            parts.append(tuple(self.spec.read_out(r)))
        return tuple(np.concatenate([p[l] for p in parts]) for l in range(len(parts[0])))

    def accuracy(self, hw: HardwareNetwork, x, labels, chunk: int = 1) -> float:
        return float(np.mean(np.argmax(self.forward(hw, x, chunk)[-1], axis=1) == labels))


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
    spec, stuck, level = {}, 0.0, "behavioural"
    if nonideality == "amp_offset":
        spec = dict(amp_offset_V=s)
    elif nonideality == "wire":
        spec, level = dict(wire_r_ohm=s), "crossbar"
    elif nonideality == "phi_errors":
        spec = dict(phi_gain_error=s, dphi_gain_error=s, phi_offset_V=s / 5, dphi_offset_V=s / 5)
    elif nonideality == "stuck":
        stuck = s
    elif nonideality == "all":
        spec = dict(
            amp_offset_V=0.01 * s,
            phi_gain_error=0.05 * s,
            dphi_gain_error=0.05 * s,
            phi_offset_V=0.01 * s,
            dphi_offset_V=0.01 * s,
        )
        stuck = 0.01 * s
    if stuck > 1:
        raise InvalidInputError(f"strength: stuck fraction {stuck} exceeds 1")
    device = DeviceConfig(
        name="transfer",
        g_min_S=0.0,
        g_max_S=_G_MAX_S if stuck > 0 else float("inf"),
        stuck_fraction=stuck,
        stuck_high_fraction=0.5 if stuck > 0 else 0.0,
    )
    return Chip(AnalogSpec(name=nonideality, mismatch_seed=seed, **spec), level, device, seed)


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


def _hebbian(chip: Chip, hw: HardwareNetwork, x, t, lr: float, rng) -> HardwareNetwork:
    """One in-situ step: settle the chip with ``x`` and ``t`` clamped, program the Hebbian
    update of what the ADCs read."""
    circ = chip.apply(hw.circuit(x, t))
    res = settle(circ, backend="equilibrium", on_failure="return")
    return hw.hebbian_step(circ, tuple(chip.spec.read_out(res)), lr, rng)[0]


def _one_step(chip: Chip, nets: dict, x, t, lr: float, rng, method: str):
    """``method``'s state after learning the sample ``(x, t)``."""
    from pc_analog.reference.variants import backprop

    net = nets[method]
    if method == "ex_situ":
        return _step(net, backprop(net, x, t), lr)
    if method == "hw_aware":
        return _step(net, physics_aware_backprop(net, chip.forward(chip.program(net), x), t), lr)
    return _hebbian(chip, net, x, t, lr, rng)


def run_transfer(
    nonideality: str,
    strength: float,
    data,
    *,
    arch: tuple,
    epochs: int,
    lr: float,
    seed: int = 0,
    precision_output: float = 0.1,
    progress=None,
) -> TransferResult:
    """Train the three methods on ``data`` (a :class:`~pc_analog.learning.defaults.Data`)
    for the chip of ``nonideality`` at ``strength``; accuracies measured in the chip.

    Long because it is the study's three training loops side by side, sharing the sample
    order and the chip so that they differ only in the method.
    """
    chip = make_chip(nonideality, strength, seed)
    ideal = make_chip("ideal", 0.0, seed)
    net0 = Network.random(arch, "tanh", precisions=[1.0] * (len(arch) - 2) + [precision_output],
                          seed=seed)  # fmt: skip
    y = one_hot(data.lab_train, data.n_classes)
    chip, ideal = chip.scaled_for(net0), ideal.scaled_for(net0)
    nets = {"ex_situ": net0, "hw_aware": net0, "in_situ": chip.program(net0)}
    rng = np.random.default_rng([seed, 2])
    diverged = set()
    for epoch in range(epochs):
        order = np.random.default_rng([seed, 1, epoch]).permutation(data.x_train.shape[0])
        for k in order:
            x, t = data.x_train[k : k + 1], y[k : k + 1]
            step = functools.partial(_one_step, chip, nets, x, t, lr, rng)
            for m in METHODS:
                if m in diverged:
                    continue
                try:
                    nets[m] = step(m)
                except InvalidInputError:  # weights beyond the model's magnitude limit
                    diverged.add(m)
        if progress is not None:
            progress(f"{nonideality} {strength}: epoch {epoch + 1}/{epochs}")
    x_te, lab = data.x_test, data.lab_test
    acc = {m: float("nan") for m in METHODS}
    ideal_acc = {"ex_situ": float("nan"), "in_situ": float("nan")}
    # phi block errors make a batched settle slow (measured): those chips settle per sample
    chunk = 1 if chip.spec.phi_gain_error or chip.spec.phi_offset_V else 100
    for m in METHODS:
        if m in diverged:
            continue
        try:  # a run whose conductances ran past the model's limits counts as diverged
            w = nets[m].ideal_network() if m == "in_situ" else nets[m]
            hw = nets[m] if m == "in_situ" else chip.program(w)
            acc[m] = chip.accuracy(hw, x_te, lab, chunk)
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
