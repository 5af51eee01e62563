"""The layered predictive-coding network (SPEC section 1) and its clamp masks.

A network holds weights ``W_l`` (shape ``n_l x n_{l-1}``), biases ``b_l``,
precisions ``pi_l`` (scalar or diagonal) and activations ``phi_{l-1}`` for
``l = 1..L``.  Python lists are 0-based, so ``weights[l-1]`` is ``W_l``, exactly as
in the network file.  Activity states are tuples of arrays ``x[l]`` of shape
``(batch, n_l)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.model.activations import Activation, get_activation

__all__ = [
    "Network",
    "InputTransform",
    "Clamp",
    "State",
    "as_batch",
    "MAX_MAGNITUDE",
    "MAX_ELEMENTS",
    "check_sizes",
]

State = tuple[np.ndarray, ...]

MAX_MAGNITUDE = 1e6
"""Guard rail on a network's numbers: every weight and bias has ``|v| <= MAX_MAGNITUDE`` and
every precision lies in ``[1 / MAX_MAGNITUDE, MAX_MAGNITUDE]``.

With activities of order one the energy ``1/2 pi eps^2`` and its gradient ``pi eps W`` stay
many decades below float64 overflow (``~1e308``), and a spring conductance ``pi g0`` spans at
most twelve decades, so the flow's time scales stay within what an ODE solver can step
through.  Outside the bound the energy or its gradient overflows (``pi = 1e308`` gave an
all-zero PC update) or relaxation takes forever (``pi = 1e-300``); such files are refused
with the field's name.
"""

MAX_ELEMENTS = 10**8
"""Guard rail on sizes: at most this many weights in a network (800 MB of float64), and at
most this many numbers in one batch of activities, so a typo such as width ``10**9`` is a
one-line error instead of an out-of-memory crash."""


def check_sizes(sizes: Sequence[int], name: str = "sizes", batch: int = 1) -> None:
    """Raise :class:`InvalidInputError` naming ``name`` unless the layer widths ``sizes``
    give at most :data:`MAX_ELEMENTS` weights and ``batch * sum(sizes)`` activities."""
    n_weights = sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    if n_weights > MAX_ELEMENTS:
        raise InvalidInputError(
            f"{name}: widths {'-'.join(map(str, sizes))} give {n_weights:.3g} weights, "
            f"more than the limit {MAX_ELEMENTS:.0e}"
        )
    n_units = int(batch) * sum(int(s) for s in sizes)
    if n_units > MAX_ELEMENTS:
        raise InvalidInputError(
            f"{name}: batch {batch} of widths {'-'.join(map(str, sizes))} gives {n_units:.3g} "
            f"activities, more than the limit {MAX_ELEMENTS:.0e}"
        )


def _finite_array(value, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """``value`` as a private read-only float array, checked (dimensions, finite, magnitude).

    A read-only float64 array that owns its data is taken as it is (a copy would equal it,
    layout too), as :func:`pc_analog.circuit.amplifiers._ro` does: the weights a circuit
    reads from its crossbars are such arrays, built once per batch in training.
    """
    if (
        isinstance(value, np.ndarray)
        and value.dtype == np.float64
        and value.flags.owndata
        and not value.flags.writeable
    ):
        arr = value
    else:
        try:
            arr = np.array(value, dtype=float)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name}: not an array of numbers") from None
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        raise InvalidInputError(
            f"{name}: expected {' or '.join(f'{d}-D' for d in ndims)}, got {arr.ndim}-D"
        )
    # max(max, -min) <= MAX_MAGNITUDE holds exactly when every entry is finite and within
    # the limit (a NaN makes both reductions NaN): two passes without temporaries; the
    # checks below then only name what is wrong.
    if arr.size and max(float(arr.max()), -float(arr.min())) <= MAX_MAGNITUDE:
        arr.setflags(write=False)
        return arr
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name}: contains non-finite numbers (NaN or inf)")
    if arr.size and np.max(np.abs(arr)) > MAX_MAGNITUDE:
        raise InvalidInputError(
            f"{name}: |value| {np.max(np.abs(arr)):.3g} exceeds the limit {MAX_MAGNITUDE:g} "
            "(pc_analog.model.network.MAX_MAGNITUDE)"
        )
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class InputTransform:
    """The map from raw data features to the clamped input (SPEC section 2).

    ``x_0 = (r - offset) * scale``, with ``offset`` and ``scale`` each a number or a
    vector of length ``n_0`` (one DAC offset and gain per input driver).  Raw features
    are the data set's own numbers (scikit-learn digits: pixel counts 0-16; IDX files:
    bytes 0-255).  ``scale`` must be non-zero: the map is invertible
    (:meth:`inverse`), so a raw sample is recovered from the voltage it clamps.

    Parameters
    ----------
    offset, scale : float or array_like
    """

    offset: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        offset = _finite_array(self.offset, "input_transform.offset", (0, 1))
        scale = _finite_array(self.scale, "input_transform.scale", (0, 1))
        if np.any(scale == 0):
            raise InvalidInputError("input_transform.scale: must be non-zero")
        if np.min(np.abs(scale)) < 1 / MAX_MAGNITUDE:
            raise InvalidInputError(
                f"input_transform.scale: |scale| {np.min(np.abs(scale)):.3g} is below the "
                f"limit {1 / MAX_MAGNITUDE:g} (pc_analog.model.network.MAX_MAGNITUDE)"
            )
        if offset.ndim and scale.ndim and offset.shape != scale.shape:
            raise InvalidInputError(
                f"input_transform: offset has {offset.size} entries, scale {scale.size}"
            )
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "scale", scale)

    @property
    def size(self) -> int | None:
        """The input width the vectors fix (``None``: both are scalars)."""
        for v in (self.offset, self.scale):
            if v.ndim:
                return int(v.size)
        return None

    def check(self, n0: int) -> None:
        """Raise :class:`InvalidInputError` unless the vectors have length ``n0``."""
        if self.size is not None and self.size != n0:
            raise InvalidInputError(
                f"input_transform: has {self.size} entries, the input layer has {n0} units"
            )

    def __call__(self, raw) -> np.ndarray:
        """``(raw - offset) * scale`` (``raw`` of shape ``(batch, n_0)`` or ``(n_0,)``)."""
        return (np.asarray(raw, dtype=float) - self.offset) * self.scale

    def inverse(self, x0) -> np.ndarray:
        """The raw features of the clamped input ``x0``: ``x0 / scale + offset``."""
        return np.asarray(x0, dtype=float) / self.scale + self.offset

    def then(self, offset, scale) -> InputTransform:
        """This map followed by ``x -> (x - offset) * scale``: one map
        ``(r - (o1 + o2 / s1)) * (s1 s2)``."""
        o2 = np.asarray(offset, dtype=float)
        s2 = np.asarray(scale, dtype=float)
        return InputTransform(self.offset + o2 / self.scale, self.scale * s2)

    def to_json(self) -> dict:
        """``{"offset": ..., "scale": ...}`` as in the network file (numbers or lists)."""
        return {"offset": self.offset.tolist(), "scale": self.scale.tolist()}

    def __repr__(self) -> str:
        def short(v):
            return f"{float(v):g}" if v.ndim == 0 else f"<{v.size} values>"

        return f"InputTransform(offset={short(self.offset)}, scale={short(self.scale)})"


@dataclass(frozen=True, eq=False)
class Network:
    """A layered PC network with energy ``F = sum_l 1/2 eps_l^T diag(pi_l) eps_l``.

    Parameters
    ----------
    weights : sequence of array_like
        ``weights[l-1]`` is ``W_l`` with shape ``(n_l, n_{l-1})``.
    biases : sequence of array_like
        ``biases[l-1]`` is ``b_l`` with shape ``(n_l,)``.
    precisions : sequence of float or array_like
        ``precisions[l-1]`` is ``pi_l > 0``: a scalar or a vector of length ``n_l``.
    activations : sequence of str
        ``activations[l-1]`` is ``phi_{l-1}``, applied to ``x_{l-1}`` to predict layer ``l``.
    input_transform : InputTransform or dict, optional
        How raw data features become the clamped input, ``x_0 = (r - offset) * scale``
        (:meth:`transform_input`); ``None`` (the default) is the identity.  Stored in the
        network file, so a trained network carries the scaling its inputs had.

    Notes
    -----
    Predictions and errors are ``mu_l = W_l phi_{l-1}(x_{l-1}) + b_l`` and
    ``eps_l = x_l - mu_l``.  All arrays are stored read-only; use
    :meth:`replace` to derive a modified network.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    precisions: tuple[np.ndarray, ...]
    activations: tuple[str, ...]
    input_transform: InputTransform | None = None
    _acts: tuple[Activation, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        weights = tuple(_finite_array(w, f"weights[{i}]", 2) for i, w in enumerate(self.weights))
        L = len(weights)
        if L == 0:
            raise InvalidInputError("weights: a network needs at least one layer of weights")
        for name in ("biases", "precisions", "activations"):
            if len(getattr(self, name)) != L:
                raise InvalidInputError(
                    f"{name}: has {len(getattr(self, name))} entries, expected {L} (one per W_l)"
                )
        for i in range(1, L):
            if weights[i].shape[1] != weights[i - 1].shape[0]:
                raise InvalidInputError(
                    f"weights[{i}]: shape {weights[i].shape} does not chain with "
                    f"weights[{i - 1}] of shape {weights[i - 1].shape}"
                )
        biases = []
        for i, b in enumerate(self.biases):
            b = _finite_array(b, f"biases[{i}]", 1)
            if b.shape != (weights[i].shape[0],):
                raise InvalidInputError(
                    f"biases[{i}]: length {b.shape[0]} disagrees with "
                    f"n_{i + 1}={weights[i].shape[0]}"
                )
            biases.append(b)
        precisions = []
        for i, p in enumerate(self.precisions):
            p = _finite_array(p, f"precisions[{i}]", (0, 1))
            if p.ndim == 1 and p.shape != (weights[i].shape[0],):
                raise InvalidInputError(
                    f"precisions[{i}]: length {p.shape[0]} disagrees with "
                    f"n_{i + 1}={weights[i].shape[0]}"
                )
            if np.any(p <= 0):
                raise InvalidInputError(f"precisions[{i}]: must be > 0")
            if np.min(p) < 1 / MAX_MAGNITUDE:
                raise InvalidInputError(
                    f"precisions[{i}]: {np.min(p):.3g} is below the limit {1 / MAX_MAGNITUDE:g} "
                    "(pc_analog.model.network.MAX_MAGNITUDE)"
                )
            precisions.append(p)
        acts = tuple(get_activation(a) for a in self.activations)
        t = self.input_transform
        if isinstance(t, dict):
            if set(t) != {"offset", "scale"}:
                raise InvalidInputError(
                    "input_transform: must hold exactly the fields offset and scale, got "
                    f"{', '.join(map(str, t)) or 'none'}"
                )
            t = InputTransform(t["offset"], t["scale"])
        elif t is not None and not isinstance(t, InputTransform):
            raise InvalidInputError(
                f"input_transform: expected an InputTransform, a dict or None, got {t!r}"
            )
        if t is not None:
            t.check(weights[0].shape[1])
        object.__setattr__(self, "input_transform", t)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", tuple(biases))
        object.__setattr__(self, "precisions", tuple(precisions))
        object.__setattr__(self, "activations", tuple(a.name for a in acts))
        object.__setattr__(self, "_acts", acts)

    # ------------------------------------------------------------------ shape
    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths ``(n_0, ..., n_L)``."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def n_layers(self) -> int:
        """``L``, the number of weight layers (the network has ``L + 1`` activity layers)."""
        return len(self.weights)

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    # ------------------------------------------------------------- accessors
    def W(self, l: int) -> np.ndarray:  # noqa: E743 - the paper's name
        """``W_l`` for ``l = 1..L``."""
        return self.weights[l - 1]

    def b(self, l: int) -> np.ndarray:
        """``b_l`` for ``l = 1..L``."""
        return self.biases[l - 1]

    def pi(self, l: int) -> np.ndarray:
        """The precision of layer ``l = 1..L`` as a vector of length ``n_l``."""
        return np.broadcast_to(self.precisions[l - 1], (self.sizes[l],))

    def phi(self, l: int) -> Activation:
        """The activation applied to ``x_l`` (``l = 0..L-1``) when predicting layer ``l+1``."""
        return self._acts[l]

    def transform_input(self, raw) -> np.ndarray:
        """The clamped input for raw data features: ``x_0 = (raw - offset) * scale``.

        ``raw`` has shape ``(batch, n_0)`` or ``(n_0,)`` (returned as one row); without
        an :attr:`input_transform` it is returned as it is (as a float batch).
        """
        x = as_batch(raw, self.sizes[0], "input")
        return x if self.input_transform is None else self.input_transform(x)

    # --------------------------------------------------------- construction
    @classmethod
    def random(
        cls,
        sizes: Sequence[int],
        activations: str | Sequence[str] = "tanh",
        precisions: float | Sequence = 1.0,
        *,
        seed: int | np.random.Generator | None = 0,
        gain: float = 1.0,
        bias: bool = True,
    ) -> Network:
        """A network with PyTorch-style initial weights ``U(-k, k)``, ``k = gain/sqrt(n_{l-1})``.

        Parameters
        ----------
        sizes : sequence of int
            ``(n_0, ..., n_L)``.
        activations : str or sequence of str
            One name for every layer, or ``L`` names.  A single name applies
            ``"linear"`` to the input (``activations[0]``) and the name elsewhere.
        precisions : float or sequence
            One scalar for all layers, or ``L`` entries (scalars or vectors).
        seed : int or numpy.random.Generator, optional
            Source of randomness.
        gain : float
            Multiplies the initialisation range.
        bias : bool
            Whether biases are drawn too (else zero).
        """
        try:
            sizes = [int(s) for s in sizes]
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"sizes: must be a sequence of integers, got {sizes!r}"
            ) from None
        if len(sizes) < 2 or min(sizes) < 1:
            raise InvalidInputError("sizes: need at least two layers of positive width")
        check_sizes(sizes)
        L = len(sizes) - 1
        if isinstance(activations, str):
            activations = ["linear"] + [activations] * (L - 1)
        if isinstance(precisions, (int, float, np.floating, np.integer)):
            precisions = [float(precisions)] * L
        if not isinstance(gain, (int, float, np.floating, np.integer)) or not np.isfinite(gain):
            raise InvalidInputError(f"gain: must be a finite number, got {gain!r}")
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"seed: must be an integer >= 0, a numpy Generator or None, got {seed!r} ({exc})"
            ) from None
        weights, biases = [], []
        for l in range(1, L + 1):
            k = gain / np.sqrt(sizes[l - 1])
            weights.append(rng.uniform(-k, k, size=(sizes[l], sizes[l - 1])))
            biases.append(rng.uniform(-k, k, size=sizes[l]) if bias else np.zeros(sizes[l]))
        return cls(tuple(weights), tuple(biases), tuple(precisions), tuple(activations))

    def replace(self, **changes) -> Network:
        """A copy with some of ``weights``, ``biases``, ``precisions``, ``activations``,
        ``input_transform`` replaced."""
        kw = dict(
            weights=self.weights,
            biases=self.biases,
            precisions=self.precisions,
            activations=self.activations,
            input_transform=self.input_transform,
        )
        kw.update(changes)
        return Network(**kw)

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        return f"Network(sizes={sizes}, activations={list(self.activations)})"


@dataclass(frozen=True, eq=False)
class Clamp:
    """Which units are held fixed (voltage sources in the circuit).

    Attributes
    ----------
    masks : tuple of ndarray of bool
        ``masks[l]`` has shape ``(n_l,)``; ``True`` marks a clamped unit.  The
        same units are clamped in every sample of a batch.
    """

    masks: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        masks = []
        for m in self.masks:
            m = np.array(m, dtype=bool).reshape(-1)
            m.setflags(write=False)
            masks.append(m)
        object.__setattr__(self, "masks", tuple(masks))

    @classmethod
    def layers(cls, sizes: Sequence[int], clamped: Sequence[int]) -> Clamp:
        """Clamp whole layers listed in ``clamped`` (negative indices count from the end)."""
        n = len(sizes)
        idx = {c % n for c in clamped}
        return cls(tuple(np.full(s, l in idx) for l, s in enumerate(sizes)))

    @classmethod
    def io(cls, sizes: Sequence[int], *, target: bool) -> Clamp:
        """The discriminative default: the input layer, and the output layer if ``target``."""
        return cls.layers(sizes, [0, -1] if target else [0])

    def check(self, sizes: Sequence[int]) -> None:
        """Raise :class:`InvalidInputError` unless the masks fit ``sizes``."""
        if len(self.masks) != len(sizes):
            raise InvalidInputError(
                f"clamp: has {len(self.masks)} layer masks, the network has {len(sizes)} layers"
            )
        for l, (m, n) in enumerate(zip(self.masks, sizes)):
            if m.shape != (n,):
                raise InvalidInputError(
                    f"clamp: mask of layer {l} has {m.size} units, expected {n}"
                )

    @property
    def free(self) -> tuple[np.ndarray, ...]:
        """The complementary masks (``True`` marks a free unit)."""
        return tuple(~m for m in self.masks)

    def n_free(self) -> int:
        """Number of free units per sample."""
        return int(sum((~m).sum() for m in self.masks))


def as_batch(x, n: int, name: str) -> np.ndarray:
    """``x`` as a read-write float array of shape ``(batch, n)``; a 1-D ``x`` is one sample.

    Entries must be finite.  (Magnitudes are not bounded here: a sample that overflows
    fails alone in the solvers; vector *files* are bounded by ``MAX_MAGNITUDE``.)"""
    try:
        arr = np.array(x, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name}: expected an array of numbers, got a {type(x).__name__} that is not one"
        ) from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise InvalidInputError(f"{name}: expected {n} numbers per sample, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name}: contains non-finite numbers (NaN or inf)")
    return arr
