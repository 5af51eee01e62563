"""The circuit IR: one immutable description of the physical circuit a network compiles to.

The IR carries every physical number; the netlist writer, the ODE builder and the
graph views all read it, so ngspice and scipy simulate the same circuit.  Device
effects (Hebbian learning through device models) produce a new IR; no backend is
ever patched on its own.

Physics (behavioural level, SPEC section 3, DESIGN "The physics mapping"):

- node ``x<l>_<i>``: a capacitor ``C`` to ground; its voltage is the activity ``x_{l,i}``;
- prediction ``mu_l = W_l phi(x_{l-1}) + b_l``: an ideal (buffered) source at node
  ``m<l>_<i>``; the weights are read from a forward crossbar of differential pairs,
  ``W = (G+ - G-) / g_unit``, the bias from a column driven at 1 V;
- error spring: a conductance ``pi_l g0`` between ``x<l>_<i>`` and ``m<l>_<i>``; the
  prediction error ``eps = v(x) - v(m)`` is also buffered at node ``e<l>_<i>``;
- feedback into ``x_{l-1,i}``: a current ``g0 phi'(x_{l-1,i}) sum_j Wfb_ij pi_j eps_j``
  read from a feedback crossbar (a separate physical copy of the conductances, kept in
  step with the forward one; ideal devices make ``Wfb = W^T``);
- clamped units are ideal voltage sources.

KCL at a free node then reads ``C dx/dt = -g0 dF/dx`` (when ``Wfb = W^T``), so the
circuit *is* PC inference with ``tau = C / g0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pc_analog.circuit._text import node_name
from pc_analog.circuit.amplifiers import Amplifiers, _ro
from pc_analog.circuit.noise import NoiseSources
from pc_analog.circuit.wires import CrossbarModel
from pc_analog.errors import InvalidInputError
from pc_analog.model.energy import initial_state, io_state
from pc_analog.model.network import Clamp, Network, State

__all__ = [
    "Hardware",
    "DifferentialPair",
    "CircuitLayer",
    "Circuit",
    "compile_network",
    "node_name",
]


@dataclass(frozen=True)
class Hardware:
    """Physical parameters of the analog substrate (SI units).

    Attributes
    ----------
    c_F : float
        Node capacitance ``C`` (farad).  Default 1 pF.
    g0_S : float
        Unit conductance ``g0`` (siemens): a precision ``pi`` becomes ``pi * g0``.
        Default 1 uS, so ``tau = C / g0 = 1 us``.
    g_unit_S : float
        Crossbar conductance of a unit weight: ``W = (G+ - G-) / g_unit``.  The
        transimpedance stage that reads a row has feedback resistance ``1 / g_unit``.
        Default 10 uS (a mid-range RRAM/PCM conductance).
    """

    c_F: float = 1e-12
    g0_S: float = 1e-6
    g_unit_S: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("c_F", "g0_S", "g_unit_S"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise InvalidInputError(f"hardware.{name}: must be a positive number, got {v!r}")

    @property
    def tau_s(self) -> float:
        """The time constant ``C / g0`` in seconds."""
        return self.c_F / self.g0_S


def _frozen(a: np.ndarray) -> np.ndarray:
    """A freshly computed float array made read-only in place (no copy: nothing else
    holds it)."""
    a = np.asarray(a, dtype=float)
    if a.base is not None or not a.flags.owndata:
        return _ro(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class DifferentialPair:
    """A signed weight array stored as two non-negative conductance arrays.

    ``W = (g_pos_S - g_neg_S) / g_unit_S``.
    """

    g_pos_S: np.ndarray
    g_neg_S: np.ndarray

    def __post_init__(self) -> None:
        gp, gn = _ro(self.g_pos_S), _ro(self.g_neg_S)
        if gp.shape != gn.shape:
            raise InvalidInputError("differential pair: G+ and G- shapes differ")
        # min >= 0 fails for a negative entry or a NaN, a finite max for +inf (one pass
        # per reduction, no temporaries: this runs for every pair of every training batch)
        lo = min(gp.min(initial=0.0), gn.min(initial=0.0))
        hi = max(gp.max(initial=0.0), gn.max(initial=0.0))
        if not (lo >= 0 and np.isfinite(hi)):
            raise InvalidInputError("differential pair: conductances must be finite and >= 0")
        object.__setattr__(self, "g_pos_S", gp)
        object.__setattr__(self, "g_neg_S", gn)

    @classmethod
    def ideal(cls, w, g_unit_S: float) -> DifferentialPair:
        """The minimal ideal pair: ``G+ = g_unit max(W, 0)``, ``G- = g_unit max(-W, 0)``."""
        w = np.asarray(w, dtype=float)
        # the same operations as g * max(w, 0) and g * max(-w, 0), in place (no temporaries),
        # made read-only here: nothing else holds them, so the pair keeps them uncopied
        gp = np.maximum(w, 0.0, out=np.empty_like(w))  # out=: an array even when 0-d
        np.multiply(gp, g_unit_S, out=gp)
        gn = np.negative(w, out=np.empty_like(w))
        np.maximum(gn, 0.0, out=gn)
        np.multiply(gn, g_unit_S, out=gn)
        return cls(_frozen(gp), _frozen(gn))

    def weights(self, g_unit_S: float) -> np.ndarray:
        """The signed weights ``(G+ - G-) / g_unit``."""
        w = self.g_pos_S - self.g_neg_S
        if isinstance(w, np.ndarray) and np.ndim(g_unit_S) == 0:  # the same division, in place
            return np.divide(w, g_unit_S, out=w)
        return w / g_unit_S

    def _weights(self, g_unit_S: float) -> np.ndarray:
        """:meth:`weights` as a read-only array, remembered for the last ``g_unit_S``.

        The same numbers as :meth:`weights`, bit for bit.  A training batch reads the
        weights of a pair twice (its circuit's network, then the device update) and the
        pair never changes, so the second read is free.  Callers must not write to it.
        """
        memo = self.__dict__.get("_w")
        if memo is None or memo[0] != g_unit_S:
            memo = (g_unit_S, _frozen(self.weights(g_unit_S)))
            object.__setattr__(self, "_w", memo)
        return memo[1]

    def _transposed(self) -> DifferentialPair:
        """The pair read in reverse, ``(G+^T, G-^T)``: views of this pair's arrays.

        A trusted private construction (the arrays are this pair's, already checked and
        read-only, so nothing is copied or checked again); the result remembers it is this
        pair transposed, so :meth:`Circuit._effective` can take its weights as the forward
        weights transposed (the same numbers: ``(G+^T - G-^T) / g = ((G+ - G-) / g)^T``
        element by element) and :attr:`Circuit.symmetric` needs no comparison.
        """
        new = object.__new__(DifferentialPair)
        object.__setattr__(new, "g_pos_S", self.g_pos_S.T)
        object.__setattr__(new, "g_neg_S", self.g_neg_S.T)
        object.__setattr__(new, "_T_of", self)
        return new


@dataclass(frozen=True, eq=False)
class CircuitLayer:
    """The elements between activity layers ``l-1`` and ``l`` (``l = 1..L``).

    Attributes
    ----------
    forward : DifferentialPair
        ``n_l x n_{l-1}`` crossbar computing ``W_l phi(x_{l-1})``.
    feedback : DifferentialPair
        ``n_{l-1} x n_l`` crossbar computing ``Wfb_l (pi_l eps_l)`` (ideally ``W_l^T``).
    bias : DifferentialPair
        ``(n_l,)`` bias column, driven at 1 V.
    g_spring_S : ndarray
        ``(n_l,)`` error-spring conductances ``pi_l g0``.
    activation : str
        ``phi_{l-1}``, applied to ``x_{l-1}``.
    g_unit_S : float or None
        This layer's conductance of a unit weight (the gain of its read-out stage):
        ``W_l = (G+ - G-) / g_unit_S``.  ``None``: the circuit's
        ``hardware.g_unit_S``.  Bounded devices map each layer's weight range onto
        the device range, so layers differ (:meth:`HardwareNetwork.fabricate`).
    """

    forward: DifferentialPair
    feedback: DifferentialPair
    bias: DifferentialPair
    g_spring_S: np.ndarray
    activation: str
    g_unit_S: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "g_spring_S", _ro(self.g_spring_S))
        g = self.g_unit_S
        if g is not None:
            if not (isinstance(g, (int, float)) and np.isfinite(g) and g > 0):
                raise InvalidInputError(f"circuit layer: g_unit_S must be > 0, got {g!r}")
            object.__setattr__(self, "g_unit_S", float(g))
        n_out, n_in = self.forward.g_pos_S.shape
        if self.feedback.g_pos_S.shape != (n_in, n_out):
            raise InvalidInputError(
                "circuit layer: feedback crossbar must be the forward's transpose shape"
            )
        if self.bias.g_pos_S.shape != (n_out,) or self.g_spring_S.shape != (n_out,):
            raise InvalidInputError("circuit layer: bias and spring arrays must have n_l entries")
        if np.any(self.g_spring_S <= 0):
            raise InvalidInputError("circuit layer: spring conductances must be > 0")


@dataclass(frozen=True, eq=False)
class Circuit:
    """A compiled circuit: elements, clamps and the initial condition, for a batch of samples.

    Attributes
    ----------
    hardware : Hardware
    layers : tuple of CircuitLayer
        ``layers[l-1]`` connects activity layers ``l-1`` and ``l``.
    clamp : Clamp
        Which units are voltage sources.
    x_init : tuple of ndarray
        ``(batch, n_l)`` per layer: clamp voltages on clamped units, the
        feedforward start (the ``.ic``) on free units.
    name : str
        A title for netlists and reports.
    amplifiers : Amplifiers or None
        Non-ideal amplifiers (finite gain, offsets, rails:
        :mod:`pc_analog.circuit.amplifiers`); ``None`` is the ideal circuit, whose rest
        point is the minimum of ``F``.
    noise : NoiseSources or None
        White noise sources (thermal ``4kTG``, amplifier and device read noise:
        :mod:`pc_analog.circuit.noise`); ``None`` is the noiseless circuit.  Only the
        stochastic backends (``sde``, the noise analyses) read it.
    """

    hardware: Hardware
    layers: tuple[CircuitLayer, ...]
    clamp: Clamp
    x_init: State
    name: str = "pc-analog circuit"
    amplifiers: Amplifiers | None = None
    #: Crossbar-level physics (wire resistance, transimpedance readouts) in every backend,
    #: :mod:`pc_analog.circuit.wires`; ``None``: the behavioural circuit.
    crossbar: CrossbarModel | None = None
    noise: NoiseSources | None = None

    def __post_init__(self) -> None:
        if not self.layers:
            raise InvalidInputError("circuit: needs at least one layer")
        sizes = self.sizes
        for l in range(1, len(self.layers)):
            if self.layers[l].forward.g_pos_S.shape[1] != sizes[l]:
                raise InvalidInputError(f"circuit: layer {l + 1} does not chain with layer {l}")
        self.clamp.check(sizes)
        if len(self.x_init) != len(sizes):
            raise InvalidInputError("circuit: x_init needs one array per activity layer")
        x = tuple(_ro(v) for v in self.x_init)
        batch = x[0].shape[0] if x[0].ndim == 2 else -1
        for l, (v, n) in enumerate(zip(x, sizes)):
            if v.ndim != 2 or v.shape != (batch, n) or not np.all(np.isfinite(v)):
                raise InvalidInputError(f"circuit: x_init[{l}] must be finite, shape (batch, {n})")
        object.__setattr__(self, "x_init", x)
        if self.amplifiers is not None:
            if not isinstance(self.amplifiers, Amplifiers):
                raise InvalidInputError("circuit: amplifiers must be an Amplifiers record")
            self.amplifiers.check(sizes)
        if self.crossbar is not None and not isinstance(self.crossbar, CrossbarModel):
            raise InvalidInputError("circuit: crossbar must be a CrossbarModel record")
        if self.noise is not None and not isinstance(self.noise, NoiseSources):
            raise InvalidInputError("circuit: noise must be a NoiseSources record")

    # ----------------------------------------------------------------- shape
    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths ``(n_0, ..., n_L)``."""
        first = self.layers[0].forward.g_pos_S.shape[1]
        return (first,) + tuple(L.forward.g_pos_S.shape[0] for L in self.layers)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def batch(self) -> int:
        return self.x_init[0].shape[0]

    @property
    def tau_s(self) -> float:
        return self.hardware.tau_s

    @property
    def ideal_amplifiers(self) -> bool:
        """Whether every amplifier is ideal (no :attr:`amplifiers` record)."""
        return self.amplifiers is None

    @property
    def ideal(self) -> bool:
        """Whether the circuit is ideal: no non-ideal amplifiers and no wire resistance
        (its rest point is then the minimum of ``F``)."""
        return self.amplifiers is None and (self.crossbar is None or not self.crossbar.wires)

    # -------------------------------------------------------------- stimulus
    def with_stimulus(
        self, x0=None, target=None, *, clamp: Clamp | None = None, values: State | None = None
    ) -> Circuit:
        """The same elements with a new stimulus (clamp set, clamp values, start state).

        Structure (conductances, springs, activations, hardware) is kept as it is;
        only the clamps and the initial condition (the feedforward start of the
        circuit's own network) change, so a training batch or a new input does not
        rebuild the IR.  Arguments as for :func:`compile_network`.
        """
        x_init, clamp = _stimulus(self.network(), x0, target, clamp, values, "stimulus")
        new = Circuit(
            self.hardware,
            self.layers,
            clamp,
            tuple(_ro(v) for v in x_init),
            self.name,
            self.amplifiers,
            self.crossbar,
            self.noise,
        )
        for key in ("_eff", "_net", "_xbar", "_sym"):  # derived from the layers only: still valid
            if key in self.__dict__:
                object.__setattr__(new, key, self.__dict__[key])
        return new

    # ------------------------------------------------------- derived values
    def g_unit(self, l: int) -> float:
        """Conductance of a unit weight of layer ``l`` (``l = 1..L``), in siemens."""
        g = self.layers[l - 1].g_unit_S
        return self.hardware.g_unit_S if g is None else g

    def _effective(self):
        """Signed weights read from the conductances, computed once per instance.

        The cache lives in the instance's ``__dict__``, not in a dataclass field, so
        ``dataclasses.replace`` (which builds a new instance) can never carry a stale one.
        """
        cache = self.__dict__.get("_eff")
        if cache is None:
            cache = []
            for l, L in enumerate(self.layers, start=1):
                g = self.g_unit(l)
                fw = L.forward._weights(g)
                if _reverse_read(L):  # the same numbers, element by element (_transposed)
                    fb = fw.T
                else:
                    fb = _frozen(L.feedback.weights(g))
                cache.append(
                    (fw, fb, L.bias._weights(g), _frozen(L.g_spring_S / self.hardware.g0_S))
                )
            cache = tuple(cache)
            object.__setattr__(self, "_eff", cache)
        return cache

    def forward_weights(self, l: int) -> np.ndarray:
        """Effective ``W_l = (G+ - G-) / g_unit`` of the forward crossbar (``l = 1..L``)."""
        return self._effective()[l - 1][0]

    def feedback_weights(self, l: int) -> np.ndarray:
        """Effective ``Wfb_l`` (``n_{l-1} x n_l``) of the feedback crossbar."""
        return self._effective()[l - 1][1]

    def biases(self, l: int) -> np.ndarray:
        """Effective ``b_l`` of the bias column."""
        return self._effective()[l - 1][2]

    def precisions(self, l: int) -> np.ndarray:
        """``pi_l = g_spring / g0``."""
        return self._effective()[l - 1][3]

    @property
    def symmetric(self) -> bool:
        """Whether every feedback crossbar equals its forward crossbar transposed (to 1e-12)."""
        # max |Wfb - W^T| <= 1e-12 (allclose with rtol 0 for finite weights; NaN fails).
        # A reverse read of the forward pair (_transposed) has Wfb = W^T exactly, so the
        # difference is 0 where W is finite and NaN where it is not.  Derived from the
        # layers only: computed once per instance (with_stimulus carries it over).
        sym = self.__dict__.get("_sym")
        if sym is None:
            sym = all(
                bool(np.isfinite(self.forward_weights(l)).all())
                if _reverse_read(self.layers[l - 1])
                else np.abs(self.feedback_weights(l) - self.forward_weights(l).T).max(initial=0.0)
                <= 1e-12
                for l in range(1, self.n_layers + 1)
            )
            object.__setattr__(self, "_sym", sym)
        return sym

    def network(self) -> Network:
        """The PC network the circuit implements (forward crossbars, springs, activations).

        When :attr:`symmetric` holds the circuit's dynamics are exactly
        ``C dx/dt = -g0 dF/dx`` for this network's energy ``F``.
        """
        net = self.__dict__.get("_net")
        if net is None:
            net = Network(
                tuple(self.forward_weights(l) for l in range(1, self.n_layers + 1)),
                tuple(self.biases(l) for l in range(1, self.n_layers + 1)),
                tuple(self.precisions(l) for l in range(1, self.n_layers + 1)),
                tuple(L.activation for L in self.layers),
            )
            object.__setattr__(self, "_net", net)
        return net

    # ------------------------------------------------------------ inventory
    def inventory(self, level: str = "behavioural"):
        """The circuit's elements at ``level`` (``"behavioural"`` or ``"crossbar"``).

        An immutable :class:`~pc_analog.circuit.inventory.Inventory`, built once per
        instance and level; the netlist writer, the graph views, :meth:`n_elements`
        and the cost model all read it (the counting rule is in
        :mod:`pc_analog.circuit.inventory`).  It depends on the clamp set, so
        :meth:`with_stimulus` does not carry it over.
        """
        key = f"_inv_{level}"
        inv = self.__dict__.get(key)
        if inv is None:
            from pc_analog.circuit._build import build_inventory

            inv = build_inventory(self, level)
            object.__setattr__(self, key, inv)
        return inv

    def n_elements(self, level: str = "crossbar") -> dict[str, int]:
        """Element counts per kind of :meth:`inventory` at ``level`` (every kind listed).

        Keys are :data:`pc_analog.circuit.inventory.KINDS` (``capacitors``, ``clamps``,
        ``springs``, ``crossbar_cells``, ...); the values sum to the element count.
        """
        return self.inventory(level).counts

    # --------------------------------------------------------------- graphs
    def to_networkx(self, *, sample: int = 0, level: str = "crossbar"):
        """The electrical graph: one edge per element (see :mod:`pc_analog.circuit.graphs`)."""
        from pc_analog.circuit.graphs import to_networkx

        return to_networkx(self, sample=sample, level=level)

    def spring_network(self, *, sample: int = 0, mass_Fs: float = 0.0):
        """The mechanical view (:func:`pc_analog.circuit.graphs.spring_network`)."""
        from pc_analog.circuit.graphs import spring_network

        return spring_network(self, sample=sample, mass_Fs=mass_Fs)


def _reverse_read(layer: CircuitLayer) -> bool:
    """Whether ``layer``'s feedback crossbar is its forward pair read in reverse
    (:meth:`DifferentialPair._transposed`), so ``Wfb = W^T`` by construction."""
    return layer.feedback.__dict__.get("_T_of") is layer.forward


def _stimulus(net: Network, x0, target, clamp, values, who: str):
    """``(x_init, clamp)``: the clamps and the feedforward start (SPEC section 1) from
    either ``x0``/``target`` or a ``clamp`` with batched ``values``."""
    if clamp is not None:
        if values is None or x0 is not None or target is not None:
            raise InvalidInputError(f"{who}: pass either x0/target or clamp with values")
        return initial_state(net, clamp, values), clamp
    if x0 is None:
        raise InvalidInputError(f"{who}: need an input x0 (or clamp and values)")
    return io_state(net, x0, target)


def compile_network(
    net: Network,
    x0=None,
    target=None,
    *,
    clamp: Clamp | None = None,
    values: State | None = None,
    hardware: Hardware | None = None,
    name: str | None = None,
) -> Circuit:
    """Compile ``net`` with its clamps into a :class:`Circuit` (ideal devices).

    Give either ``x0`` (input, clamped) and optionally ``target`` (output, clamped),
    or a ``clamp`` with batched ``values``.  The initial condition is the
    feedforward start (SPEC section 1).  Weights map to ideal differential pairs
    ``G+ = g_unit max(W, 0)``, ``G- = g_unit max(-W, 0)``; the feedback crossbar is
    the forward one transposed; precisions map to springs ``pi g0``.
    """
    hw = hardware if hardware is not None else Hardware()
    x_init, clamp = _stimulus(net, x0, target, clamp, values, "compile")
    layers = []
    for l in range(1, net.n_layers + 1):
        W = net.W(l)
        layers.append(
            CircuitLayer(
                forward=DifferentialPair.ideal(W, hw.g_unit_S),
                feedback=DifferentialPair.ideal(W.T, hw.g_unit_S),
                bias=DifferentialPair.ideal(net.b(l), hw.g_unit_S),
                g_spring_S=net.pi(l) * hw.g0_S,
                activation=net.activations[l - 1],
            )
        )
    title = name or f"pc-analog {'-'.join(map(str, net.sizes))} {'/'.join(net.activations)}"
    x_ro = tuple(_ro(v) for v in x_init)
    circ = Circuit(hw, tuple(layers), clamp, x_ro, title)
    return circ
