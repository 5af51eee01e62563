"""The Hebbian stage: settled node voltages -> conductance changes through device models.

After the circuit settles with input and label clamped, each cross-point of layer
``l`` sees the error voltage on its row and the activation on its column; the
local rule

    dW_l = eta * pi_l eps_l phi_{l-1}(x_{l-1})^T          (summed over the batch)
    db_l = eta * pi_l eps_l

equals ``-eta dF/dW_l`` at that state.  :class:`HardwareNetwork` holds the
physical state of every crossbar (forward, feedback and bias columns, each a
:class:`~pc_analog.hardware.devices.DeviceArray`) and turns it into a circuit IR for the
settle backends; :meth:`HardwareNetwork.hebbian_step` reads a settled result and
programs the devices.  With ``separate_feedback`` the feedback crossbar is its own
physical copy, written by the same pulses but with its own device noise, so weight
symmetry holds only as well as the devices allow.

Two update modes: ``stochastic`` programs every batch's update directly
(:func:`~pc_analog.hardware.devices.apply_update`, stochastic rounding to whole pulses);
``accumulate`` is mixed-precision training (Nandakumar et al., Frontiers in
Neuroscience 14:406, 2020): per-pair digital accumulators collect the updates and
only whole pulses are programmed (:func:`~pc_analog.hardware.devices.apply_accumulated`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pc_analog.circuit.ir import Circuit, DifferentialPair, Hardware, compile_network
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.devices import (
    DeviceArray,
    DeviceConfig,
    apply_accumulated,
    apply_update,
    fabricate,
    read,
    weights,
)
from pc_analog.model.network import Network, State
from pc_analog.reference.variants import Gradients, hebbian_update

__all__ = ["hebbian_from_state", "HardwareNetwork"]


def hebbian_from_state(circuit: Circuit, x: State) -> Gradients:
    """``dW_l = pi_l eps_l phi(x_{l-1})^T`` from node voltages ``x`` of ``circuit``.

    The errors are those the circuit's own error nodes carry: ``eps_l = x_l - mu_l``
    with ``mu_l`` computed from the forward crossbars of the IR.
    """
    return hebbian_update(circuit.network(), x)


@dataclass(frozen=True, eq=False)
class HardwareNetwork:
    """A PC network whose weights live in device arrays.

    Attributes
    ----------
    forward, feedback, bias : tuple of DeviceArray
        Per layer ``l = 1..L`` (index ``l-1``).  ``feedback`` is ``None`` unless
        the feedback crossbars are separate physical copies.
    precisions : tuple of ndarray
        ``pi_l`` (springs are fixed resistors, not trained).
    activations : tuple of str
    hardware : Hardware
    g_units : tuple of float
        Conductance of a unit weight per layer (``W = (G+ - G-) / g_unit_l``): the
        gain of the layer's read-out stage.  For bounded devices it maps the
        layer's weight range onto the device range (see :meth:`fabricate`); the
        circuit IR receives the read weights, i.e. the same currents expressed
        with the global ``hardware.g_unit_S``.
    chi_forward, chi_bias : tuple of ndarray or None
        The per-pair update accumulators (weight units) of the forward and bias
        crossbars in the ``accumulate`` update mode (see :meth:`with_accumulators`);
        ``None`` in the ``stochastic`` mode.  Separate feedback copies have none of
        their own: they receive the pulses of their forward crossbar.
    """

    forward: tuple[DeviceArray, ...]
    feedback: tuple[DeviceArray, ...] | None
    bias: tuple[DeviceArray, ...]
    precisions: tuple
    activations: tuple[str, ...]
    hardware: Hardware
    g_units: tuple[float, ...] = ()
    chi_forward: tuple[np.ndarray, ...] | None = None
    chi_bias: tuple[np.ndarray, ...] | None = None

    def __post_init__(self) -> None:
        if (self.chi_forward is None) != (self.chi_bias is None):
            raise InvalidInputError("chi_forward, chi_bias: give both accumulators or neither")
        if self.chi_forward is None:
            return
        for name, chis, arrs in (
            ("chi_forward", self.chi_forward, self.forward),
            ("chi_bias", self.chi_bias, self.bias),
        ):
            if len(chis) != len(arrs) or any(np.shape(c) != a.shape for c, a in zip(chis, arrs)):
                raise InvalidInputError(f"{name}: one accumulator per crossbar, of its shape")
            frozen = []
            for c in chis:
                c = np.array(c, dtype=float)
                if not np.all(np.isfinite(c)):
                    raise InvalidInputError(f"{name}: contains non-finite numbers")
                c.setflags(write=False)
                frozen.append(c)
            object.__setattr__(self, name, tuple(frozen))

    @property
    def update_mode(self) -> str:
        """``"accumulate"`` when the accumulators are kept, else ``"stochastic"``."""
        return "stochastic" if self.chi_forward is None else "accumulate"

    def with_accumulators(self) -> HardwareNetwork:
        """The same devices in the ``accumulate`` update mode, every accumulator zero.

        Needs a pulsed device (``levels`` or ``pulse_step_S``); see
        :func:`~pc_analog.hardware.devices.apply_accumulated`.
        """
        for a in self.forward + self.bias:
            if a.config.pulse_step_S is None:
                raise InvalidInputError(
                    f"update_mode: 'accumulate' needs a pulsed device (levels or "
                    f"pulse_step_S); device {a.config.name!r} is analog"
                )
        return dataclasses.replace(
            self,
            chi_forward=tuple(np.zeros(a.shape) for a in self.forward),
            chi_bias=tuple(np.zeros(a.shape) for a in self.bias),
        )

    @classmethod
    def fabricate(
        cls,
        net: Network,
        device: DeviceConfig,
        *,
        hardware: Hardware | None = None,
        separate_feedback: bool = False,
        weight_headroom: float = 4.0,
        rng: np.random.Generator,
    ) -> HardwareNetwork:
        """Program ``net``'s weights into freshly fabricated devices.

        For bounded devices each layer gets ``g_unit_l = (g_max - g_min) / w_max_l``
        with ``w_max_l = weight_headroom * max |W_l|``: the initial weights use
        ``1/weight_headroom`` of the range, leaving room to learn.  Unbounded devices
        use ``hardware.g_unit_S``.
        """
        hw = hardware if hardware is not None else Hardware()
        L = net.n_layers
        if device.bounded:
            w_max = [weight_headroom * max(np.abs(net.W(l)).max(), 1e-12) for l in range(1, L + 1)]
            g_units = tuple(device.range_S / w for w in w_max)
        else:
            g_units = (hw.g_unit_S,) * L
        fwd = tuple(fabricate(device, net.W(l), g_units[l - 1], rng) for l in range(1, L + 1))
        fb = None
        if separate_feedback:
            fb = tuple(fabricate(device, net.W(l).T, g_units[l - 1], rng) for l in range(1, L + 1))
        bias = tuple(fabricate(device, net.b(l), g_units[l - 1], rng) for l in range(1, L + 1))
        return cls(fwd, fb, bias, net.precisions, net.activations, hw, g_units)

    def _g(self, l: int) -> float:
        return self.g_units[l] if self.g_units else self.hardware.g_unit_S

    def network(
        self, *, rng: np.random.Generator | None = None, t_s: float | None = None
    ) -> Network:
        """The network the forward crossbars implement, as read (with read noise if ``rng``)."""
        return Network(
            tuple(read(a, self._g(l), rng=rng, t_s=t_s) for l, a in enumerate(self.forward)),
            tuple(read(a, self._g(l), rng=rng, t_s=t_s) for l, a in enumerate(self.bias)),
            self.precisions,
            self.activations,
        )

    def ideal_network(self) -> Network:
        """The programmed weights without read noise or drift."""
        return Network(
            tuple(weights(a, self._g(l)) for l, a in enumerate(self.forward)),
            tuple(weights(a, self._g(l)) for l, a in enumerate(self.bias)),
            self.precisions,
            self.activations,
        )

    def circuit(self, x0, target=None, *, rng=None, t_s=None) -> Circuit:
        """The circuit IR for a batch: forward reads, and the feedback copies if separate."""
        net = self.network(rng=rng, t_s=t_s)
        circ = compile_network(net, x0, target, hardware=self.hardware)
        if self.feedback is None:
            return circ
        g = self.hardware.g_unit_S
        layers = tuple(
            dataclasses.replace(
                layer,
                feedback=DifferentialPair.ideal(read(fb, self._g(l), rng=rng, t_s=t_s), g),
            )
            for l, (layer, fb) in enumerate(zip(circ.layers, self.feedback))
        )
        return Circuit(circ.hardware, layers, circ.clamp, circ.x_init, circ.name)

    def apply(
        self, grads: Gradients, lr: float, rng: np.random.Generator
    ) -> tuple[HardwareNetwork, int]:
        """Program ``lr * grads`` into every crossbar; returns the new state and the pulse count.

        In the ``accumulate`` mode the updates go through the accumulators and a
        separate feedback copy receives exactly the pulse counts of its forward
        crossbar (transposed), with its own write noise.
        """
        if self.chi_forward is not None:
            return self._apply_accumulated(grads, lr, rng)
        pulses = 0
        fwd, bias, fb = [], [], []
        for l in range(len(self.forward)):
            g = self._g(l)
            a, n = apply_update(self.forward[l], lr * grads.dW[l], g, rng)
            fwd.append(a)
            pulses += n
            a, n = apply_update(self.bias[l], lr * grads.db[l], g, rng)
            bias.append(a)
            pulses += n
            if self.feedback is not None:
                a, n = apply_update(self.feedback[l], lr * grads.dW[l].T, g, rng)
                fb.append(a)
                pulses += n
        new = dataclasses.replace(
            self,
            forward=tuple(fwd),
            bias=tuple(bias),
            feedback=tuple(fb) if self.feedback is not None else None,
        )
        return new, pulses

    def _apply_accumulated(self, grads: Gradients, lr: float, rng: np.random.Generator):
        pulses = 0
        fwd, bias, fb, chi_f, chi_b = [], [], [], [], []
        for l in range(len(self.forward)):
            g = self._g(l)
            chi = self.chi_forward[l]
            a, c, n = apply_accumulated(self.forward[l], chi, lr * grads.dW[l], g, rng)
            fwd.append(a)
            chi_f.append(c)
            pulses += n
            a, c, n = apply_accumulated(self.bias[l], self.chi_bias[l], lr * grads.db[l], g, rng)
            bias.append(a)
            chi_b.append(c)
            pulses += n
            if self.feedback is not None:
                # the old forward accumulator, transposed: the same whole-pulse counts
                a, _, n = apply_accumulated(self.feedback[l], chi.T, lr * grads.dW[l].T, g, rng)
                fb.append(a)
                pulses += n
        new = dataclasses.replace(
            self,
            forward=tuple(fwd),
            bias=tuple(bias),
            feedback=tuple(fb) if self.feedback is not None else None,
            chi_forward=tuple(chi_f),
            chi_bias=tuple(chi_b),
        )
        return new, pulses

    def hebbian_step(self, circuit: Circuit, x: State, lr: float, rng: np.random.Generator):
        """Read the settled voltages ``x`` of ``circuit``, program the Hebbian update.

        Returns ``(new_state, grads, pulses)``; ``grads`` is the unscaled update
        ``pi eps phi^T`` summed over the batch (``lr`` already includes 1/batch if wanted).
        """
        grads = hebbian_from_state(circuit, x)
        new, pulses = self.apply(grads, lr, rng)
        return new, grads, pulses

    def conductances(self) -> dict[str, np.ndarray]:
        """All programmed conductances by crossbar, for histograms."""
        out = {}
        for name, arrs in (
            ("forward", self.forward),
            ("bias", self.bias),
            ("feedback", self.feedback),
        ):
            if arrs is None:
                continue
            out[name] = np.concatenate(
                [np.concatenate([a.pair.g_pos_S.ravel(), a.pair.g_neg_S.ravel()]) for a in arrs]
            )
        return out
