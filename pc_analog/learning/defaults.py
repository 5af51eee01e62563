"""What a training run uses when the user says nothing: per-data-set defaults, and the data.

:data:`DATASET_DEFAULTS` holds, per data set, the hyperparameters a bare
``pc-analog train --dataset NAME --out DIR`` uses (any :class:`~pc_analog.learning.train.
TrainConfig` field left ``None`` takes its value here).  They were chosen on a validation
hold-out carved from the training part, never on the test set, by
``benchmarks/train_defaults.py`` (its grid, every validation score and the 5-seed test
check are in ``benchmarks/results/train_defaults.json`` and BENCHMARKS.md).

:func:`prepare_data` loads a data set, optionally carves the validation hold-out, and maps
the raw features through the input scaling; the same map, as an
:class:`~pc_analog.model.network.InputTransform` from the data set's *raw* features
(digits: pixel counts 0-16, IDX: bytes 0-255), is stored in the trained network file, so
the file (and a netlist compiled from it) takes raw data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from pc_analog.circuit.ir import Hardware
from pc_analog.errors import InvalidInputError
from pc_analog.io.data import (
    _stratified_split,
    check_shift_probability,
    load_dataset,
    shift_images,
    standardize,
)
from pc_analog.model.network import InputTransform

__all__ = [
    "DATASET_DEFAULTS",
    "GENERIC_DEFAULTS",
    "INPUT_SCALINGS",
    "Data",
    "prepare_data",
    "resolve_defaults",
]

#: How the input features are scaled before they are clamped: ``none`` (the data set's
#: ``[0, 1]`` features), ``global`` (one offset and one gain for every input driver, from
#: the training samples: :func:`pc_analog.io.data.standardize`) or ``per-feature`` (an
#: offset and a gain per input driver: zero mean, unit spread per feature; a feature
#: constant over the training samples keeps gain 1).
INPUT_SCALINGS = ("none", "global", "per-feature")

#: Defaults for a data set not in :data:`DATASET_DEFAULTS` (``idx:PATH``): the hidden
#: width; input and output widths come from the data.
GENERIC_DEFAULTS = MappingProxyType(
    {
        "hidden": 128,
        "epochs": 10,
        "batch_size": 32,
        "lr": 0.1,
        "lr_schedule": "constant",
        "precision_output": 1.0,
        "input_scaling": "none",
        "augment_shift": 0.0,
    }
)

#: Per data set: the hidden width and the hyperparameters (``lr`` is the TrainConfig's
#: learning rate; the update is ``lr / batch * sum pi eps phi^T``).  Digits: chosen on
#: validation hold-outs by ``benchmarks/train_defaults.py`` (round 4: the best worst-seed
#: score of a 12-point screen over three hold-outs and five seeds, within a budget of
#: 5400 mini-batches a run, then PC in the circuit on the library's hold-out, 5 seeds).
DATASET_DEFAULTS = MappingProxyType(
    {
        "digits": MappingProxyType(
            {
                "hidden": 256,
                "epochs": 120,
                "batch_size": 32,
                "lr": 1.0,
                "lr_schedule": "cosine",
                "precision_output": 0.1,
                "input_scaling": "global",
                "augment_shift": 0.25,
            }
        ),
        # The configuration of benchmarks/train_targets.py case c (chosen there on a
        # validation hold-out), not re-searched by benchmarks/train_defaults.py (a
        # Fashion-MNIST run is ~30 min of CPU here); its five-seed test check, 88.17-88.30 %,
        # is in BENCHMARKS.md.
        "fashion-mnist": MappingProxyType(
            {
                "hidden": 256,
                "epochs": 60,
                "batch_size": 32,
                "lr": 0.4,
                "lr_schedule": "cosine",
                "precision_output": 0.1,
                "input_scaling": "global",
                "augment_shift": 0.0,
            }
        ),
    }
)

#: The validation hold-out: this fraction of each class of the training part, drawn by a
#: permutation of this seed (the same hold-out for every training seed).
VALIDATION_SEED = 12345


def defaults_for(dataset: str) -> MappingProxyType:
    """The defaults of ``dataset`` (:data:`GENERIC_DEFAULTS` for one not in the table)."""
    return DATASET_DEFAULTS.get(dataset, GENERIC_DEFAULTS)


@dataclass(frozen=True)
class Data:
    """A training run's data, scaled, with the map from raw features.

    Attributes
    ----------
    x_train, x_test : ndarray
        Clamped inputs ``x_0 = transform(raw)``; ``x_test`` is the validation hold-out
        when the run asked for one.
    lab_train, lab_test : ndarray of int
    n_classes : int
    transform : InputTransform
        ``x_0 = (r - offset) * scale`` from the data set's raw features ``r``.
    features_train : ndarray or None
        The training samples' features before the input scaling (``[0, 1]``), kept for
        :meth:`augmented`; ``scaling`` is the scaling's ``(m, s)``: ``x = (f - m) / s``.
    image_shape : tuple of int or None
        The data set's image shape (:attr:`pc_analog.io.data.Dataset.image_shape`).
    """

    x_train: np.ndarray
    lab_train: np.ndarray
    x_test: np.ndarray
    lab_test: np.ndarray
    n_classes: int
    transform: InputTransform
    features_train: np.ndarray | None = None
    scaling: tuple = (0.0, 1.0)
    image_shape: tuple | None = None

    def augmented(self, p: float, rng) -> np.ndarray:
        """The training inputs with each image moved by one pixel with probability ``p``
        (:func:`pc_analog.io.data.shift_images` on the features, then the scaling
        ``(f - m) / s``); ``p = 0``: :attr:`x_train` itself, nothing drawn."""
        if not p:
            return self.x_train
        m, s = self.scaling
        return (shift_images(self.features_train, self.image_shape, p, rng) - m) / s


def prepare_data(
    dataset: str,
    *,
    input_scaling: str,
    validation_fraction: float | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Data:
    """Load ``dataset``, carve the validation hold-out, limit, and scale the inputs.

    The order: the validation hold-out (if ``validation_fraction``) is a stratified
    fraction of the training part, drawn with :data:`VALIDATION_SEED`, and replaces the
    test part; then the limits keep the first samples; then the scaling statistics are
    taken from the training samples kept, and applied to both parts.
    """
    if input_scaling not in INPUT_SCALINGS:
        raise InvalidInputError(
            f"input_scaling: unknown {input_scaling!r} ({', '.join(INPUT_SCALINGS)})"
        )
    data = load_dataset(dataset)
    x_tr, lab_tr = data.x_train, data.y_train
    x_te, lab_te = data.x_test, data.y_test
    if validation_fraction is not None:
        if not 0 < validation_fraction < 1:
            raise InvalidInputError(
                f"validation_fraction: must lie in (0, 1), got {validation_fraction!r}"
            )
        tr, va = _stratified_split(lab_tr, validation_fraction, VALIDATION_SEED)
        x_tr, lab_tr, x_te, lab_te = x_tr[tr], lab_tr[tr], x_tr[va], lab_tr[va]
    if limit_train:
        x_tr, lab_tr = x_tr[:limit_train], lab_tr[:limit_train]
    if limit_test:
        x_te, lab_te = x_te[:limit_test], lab_te[:limit_test]
    # features x = r / raw_scale: the identity scaling from raw features
    transform, f_tr, m, s = InputTransform(0.0, 1.0 / data.raw_scale), x_tr, 0.0, 1.0
    if input_scaling != "none":
        x_tr, x_te, m, s = standardize(x_tr, x_te, per_feature=input_scaling == "per-feature")
        transform = transform.then(m, 1.0 / s)
    return Data(
        x_tr, lab_tr, x_te, lab_te, data.n_classes, transform, f_tr, (m, s), data.image_shape
    )


#: Input and output widths of the data sets whose default ``arch`` is known before loading.
_WIDTHS = {"digits": (64, 10), "fashion-mnist": (784, 10)}


def resolve_defaults(cfg) -> None:
    """Fill every ``None`` field of the :class:`~pc_analog.learning.train.TrainConfig` ``cfg``
    from its data set's defaults (in place, as its ``__post_init__`` does)."""

    def put(name, value):
        object.__setattr__(cfg, name, value)

    if not isinstance(cfg.dataset, str):
        raise InvalidInputError(f"dataset: must be a string, got {cfg.dataset!r}")
    d = defaults_for(cfg.dataset)
    for name in ("epochs", "batch_size", "lr", "lr_schedule", "precision_output"):
        if getattr(cfg, name) is None:
            put(name, d[name])
    scaling, std = cfg.input_scaling, cfg.standardize_inputs
    if std is not None and scaling is not None and (scaling != "none") != bool(std):
        raise InvalidInputError(
            f"standardize_inputs: {std!r} contradicts input_scaling {scaling!r}"
        )
    if scaling is None:
        scaling = d["input_scaling"] if std is None else ("global" if std else "none")
    if scaling not in INPUT_SCALINGS:
        raise InvalidInputError(f"input_scaling: unknown {scaling!r} ({', '.join(INPUT_SCALINGS)})")
    put("input_scaling", scaling)
    put("standardize_inputs", scaling != "none")
    v = cfg.validation_fraction
    if v is not None and not (isinstance(v, (int, float)) and 0 < v < 1):
        raise InvalidInputError(f"validation_fraction: must lie in (0, 1), got {v!r}")
    p = d["augment_shift"] if cfg.augment_shift is None else cfg.augment_shift
    put("augment_shift", check_shift_probability(p))
    if cfg.arch is None and cfg.dataset in _WIDTHS:
        n_in, n_out = _WIDTHS[cfg.dataset]
        if getattr(cfg, "direction", "discriminative") == "generative":
            n_in, n_out = n_out, n_in  # the label at x_0, the image at x_L
        put("arch", (n_in, d["hidden"], n_out))
    if cfg.analog is not None:
        for name in ("apply", "read_out", "hardware", "to_dict"):
            if not callable(getattr(cfg.analog, name, None)):
                raise InvalidInputError(
                    f"analog: expected an analog spec (pc_analog.costs.specs.AnalogSpec), "
                    f"got {type(cfg.analog).__name__} without {name}()"
                )
        spec_hw = dataclasses.asdict(cfg.analog.hardware())
        given = dataclasses.asdict(Hardware(**(cfg.hardware or {})))
        if given not in (spec_hw, dataclasses.asdict(Hardware())):
            raise InvalidInputError(
                "hardware: give C, g0 and g_unit in the analog spec, not also as hardware"
            )
        put("hardware", spec_hw)
        spec_device = getattr(cfg.analog, "device", "ideal")
        if spec_device != "ideal":
            if cfg.device not in ("ideal", spec_device):
                raise InvalidInputError(
                    f"device: {cfg.device!r} contradicts the analog spec's {spec_device!r}"
                )
            put("device", spec_device)
    if cfg.eval_mode is None:
        put("eval_mode", "feedforward" if cfg.analog is None else "settle")
