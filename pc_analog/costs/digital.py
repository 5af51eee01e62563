"""The digital side of the timing stage: FLOP and memory-traffic counts, and a roofline.

- FLOP and memory-traffic counts per kernel of one backprop pass (forward and
  backward) and of one discrete-PC step (:func:`flop_counts`);
- a roofline model of both on a :class:`~pc_analog.costs.specs.DigitalSpec`
  (:func:`roofline`): ``t = sum_k max(flops_k / peak, bytes_k / bandwidth) + launch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pc_analog.costs.specs import DigitalSpec, load_digital_spec
from pc_analog.errors import InvalidInputError

__all__ = ["Kernel", "FlopCounts", "RooflineResult", "flop_counts", "roofline"]


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
