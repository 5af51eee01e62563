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
programs the devices.

The IR holds the true device state: the programmed pairs ``(G+, G-)`` of every
crossbar as the devices hold them (``g_min`` offsets, stuck and drifted values
included) and each layer's ``g_unit_l`` (:attr:`CircuitLayer.g_unit_S`), so energy
and element counts see the real conductances.  Structure is separate from stimulus:
:attr:`HardwareNetwork.structure` is built once per device state (again only after
a Hebbian step changes conductances) and each batch gets its clamps through
:meth:`Circuit.with_stimulus`; only a noisy or drifted read builds new conductances.

One device path: :meth:`HardwareNetwork.fabricate` (and :func:`device_circuit`, its
one-call form returning the circuit) is how training, sweeps and the timing stage
put a network into devices.  With ``separate_feedback`` the feedback crossbar is its own
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
import os
from dataclasses import dataclass

import numpy as np

from pc_analog.circuit.ir import Circuit, CircuitLayer, Hardware
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.devices import (
    DeviceArray,
    DeviceConfig,
    apply_accumulated,
    apply_update,
    fabricate,
    load_device_config,
    read,
    read_pair,
    weights,
)
from pc_analog.model.network import Clamp, Network, State
from pc_analog.reference.variants import Gradients, hebbian_update

__all__ = ["hebbian_from_state", "HardwareNetwork", "device_circuit"]


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
        circuit IR carries it per layer (:attr:`CircuitLayer.g_unit_S`).  Empty:
        every layer uses ``hardware.g_unit_S``.
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
        device: DeviceConfig | str | os.PathLike,
        *,
        hardware: Hardware | None = None,
        separate_feedback: bool = False,
        weight_headroom: float = 4.0,
        rng,
    ) -> HardwareNetwork:
        """Program ``net``'s weights into freshly fabricated devices: the one device path.

        Training (:func:`pc_analog.learning.train.train`), sweeps
        (:func:`pc_analog.experiments.sweep.run_point`) and the timing stage put a
        network into devices through this method (or :func:`device_circuit`).

        Parameters
        ----------
        net : Network
            The weights to program.
        device : DeviceConfig, str or path-like
            The technology, or a preset name / JSON file
            (:func:`~pc_analog.hardware.devices.load_device_config`).
        hardware : Hardware, optional
            Node capacitance, ``g0`` and the unit conductance of unbounded devices.
        separate_feedback : bool
            Fabricate the feedback crossbars as separate physical copies.
        weight_headroom : float
            For bounded devices each layer gets ``g_unit_l = (g_max - g_min) / w_max_l``
            with ``w_max_l = weight_headroom * max |W_l|``: the initial weights use
            ``1/weight_headroom`` of the range, leaving room to learn.  Unbounded
            devices use ``hardware.g_unit_S``.
        rng : numpy.random.Generator, int or sequence of int
            Source of the fabrication draws (a seed goes through
            :func:`numpy.random.default_rng`; a Generator is used and advanced).
            Draws: every forward crossbar, then the feedback copies, then the bias
            columns, each as :func:`~pc_analog.hardware.devices.fabricate` draws.
        """
        device = load_device_config(device)
        rng = np.random.default_rng(rng)
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

    @property
    def structure(self) -> Circuit:
        """The circuit IR of the programmed devices, built once per device state.

        Every crossbar holds the pairs ``(G+, G-)`` as the devices hold them (the
        same :class:`DifferentialPair` objects, not copies); the feedback crossbar is
        the separate copy or, without one, the forward pair transposed (the reverse
        read of the same devices); each layer carries its ``g_unit_l``.  The stimulus
        is a placeholder (one sample, the input layer clamped, every node at 0 V):
        use :meth:`circuit` or :meth:`Circuit.with_stimulus` for a batch.  Cached on
        this instance; a Hebbian step returns a new instance, so a change of
        conductances is the only thing that rebuilds it.
        """
        circ = self.__dict__.get("_structure")
        if circ is None:
            circ = _structural_circuit(self, _build_layers(self, None, None))
            object.__setattr__(self, "_structure", circ)
        return circ

    def _read_changes(self, rng, t_s) -> bool:
        """Whether a read with ``rng``/``t_s`` sees other conductances than programmed."""
        arrs = self.forward + self.bias + (self.feedback or ())
        noisy = rng is not None and any(a.config.read_noise > 0 for a in arrs)
        drift = t_s is not None and any(
            a.config.drift_nu > 0 and t_s > a.config.drift_t0_s for a in arrs
        )
        return noisy or drift

    def circuit(
        self,
        x0=None,
        target=None,
        *,
        clamp: Clamp | None = None,
        values: State | None = None,
        rng=None,
        t_s: float | None = None,
    ) -> Circuit:
        """The circuit IR for a batch: the devices as a read sees them, with this stimulus.

        Parameters
        ----------
        x0, target, clamp, values :
            The stimulus, as for :func:`~pc_analog.circuit.ir.compile_network`.
        rng : numpy.random.Generator or int, optional
            Source of the read noise of this read (a backend reading the crossbars
            once for a settle); None reads without noise.  Draws, as
            :func:`~pc_analog.hardware.devices.read_pair` makes them: every forward
            crossbar, then every bias column, then the separate feedback copies;
            devices without read noise draw nothing.
        t_s : float, optional
            Time since programming (seconds) for drift; None: no drift.

        Returns
        -------
        Circuit
            :attr:`structure` with the new stimulus (no conductance rebuilt) when the
            read sees the programmed conductances; otherwise a circuit of the read
            conductances (``G_read = G (t/t0)^-nu (1 + read_noise N(0, 1))`` per
            device), effective weights ``(G+_read - G-_read) / g_unit_l`` equal to
            :meth:`network` with the same ``rng``.
        """
        if self._read_changes(rng, t_s):
            base = _structural_circuit(self, _build_layers(self, rng, t_s))
        else:
            base = self.structure
        return base.with_stimulus(x0, target, clamp=clamp, values=values)

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

    def hebbian_step(
        self, circuit: Circuit, x: State, lr: float, rng: np.random.Generator, *, adc=None
    ):
        """Read the settled voltages ``x`` of ``circuit``, program the Hebbian update.

        ``adc`` (a :class:`~pc_analog.circuit.converters.Converter`, optional): the
        read-out converter; the update is computed from the quantised ``x``
        (``None``: an ideal read).

        Returns ``(new_state, grads, pulses)``; ``grads`` is the unscaled update
        ``pi eps phi^T`` summed over the batch (``lr`` already includes 1/batch if wanted).
        """
        if adc is not None:
            x = tuple(adc(v) for v in x)
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


def _build_layers(hw: HardwareNetwork, rng, t_s) -> tuple[CircuitLayer, ...]:
    """The circuit layers of the devices as a read with ``rng``/``t_s`` sees them."""
    if rng is not None:
        rng = np.random.default_rng(rng)
    fwd = [read_pair(a, rng, t_s) for a in hw.forward]
    bias = [read_pair(a, rng, t_s) for a in hw.bias]
    if hw.feedback is not None:
        fb = [read_pair(a, rng, t_s) for a in hw.feedback]
    else:
        fb = [p._transposed() for p in fwd]  # the same devices read in reverse: views
    g0 = hw.hardware.g0_S
    return tuple(
        CircuitLayer(
            forward=fwd[l],
            feedback=fb[l],
            bias=bias[l],
            g_spring_S=np.broadcast_to(hw.precisions[l], fwd[l].g_pos_S.shape[:1]) * g0,
            activation=hw.activations[l],
            g_unit_S=hw.g_units[l] if hw.g_units else None,
        )
        for l in range(len(hw.forward))
    )


def _structural_circuit(hw: HardwareNetwork, layers: tuple[CircuitLayer, ...]) -> Circuit:
    """``layers`` as a :class:`Circuit` with a placeholder stimulus (see ``structure``)."""
    sizes = (layers[0].forward.g_pos_S.shape[1],) + tuple(
        L.forward.g_pos_S.shape[0] for L in layers
    )
    x_init = tuple(np.zeros((1, n)) for n in sizes)
    return Circuit(hw.hardware, layers, Clamp.io(sizes, target=False), x_init, _title(hw, sizes))


def _title(hw: HardwareNetwork, sizes) -> str:
    name = hw.forward[0].config.name
    return f"pc-analog {'-'.join(map(str, sizes))} {'/'.join(hw.activations)} ({name} devices)"


def device_circuit(
    net: Network,
    x0=None,
    target=None,
    *,
    device: DeviceConfig | str | os.PathLike,
    hardware: Hardware | None = None,
    rng,
    separate_feedback: bool = False,
    weight_headroom: float = 4.0,
    clamp: Clamp | None = None,
    values: State | None = None,
    t_s: float | None = None,
) -> Circuit:
    """Program ``net`` into fabricated devices and return the circuit a settle reads.

    ``HardwareNetwork.fabricate(net, device, ..., rng=g).circuit(x0, target, rng=g)``
    with one generator ``g = numpy.random.default_rng(rng)``: the fabrication draws
    first, then the read noise of the circuit's read (see
    :meth:`HardwareNetwork.fabricate` and :meth:`HardwareNetwork.circuit`).  With an
    ideal device (exact writes, no read noise, no drift) this is the circuit
    :func:`~pc_analog.circuit.ir.compile_network` builds, conductance for conductance,
    and no random number is drawn.
    """
    g = np.random.default_rng(rng)
    hwnet = HardwareNetwork.fabricate(
        net,
        device,
        hardware=hardware,
        separate_feedback=separate_feedback,
        weight_headroom=weight_headroom,
        rng=g,
    )
    return hwnet.circuit(x0, target, clamp=clamp, values=values, rng=g, t_s=t_s)
