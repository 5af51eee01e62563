"""Training in the simulated hardware: settle, read the voltages, program the devices.

Each mini-batch: take the devices' circuit IR (their true conductances, built once
per device state, :attr:`HardwareNetwork.structure`) with the batch's input and label
clamped as its stimulus, settle it with any backend, read the Hebbian update from the settled
node voltages and program it into the devices (:mod:`pc_analog.hardware.hebbian`).  A
digital-backprop twin (same architecture, same initial weights, same batches and
learning-rate schedule) trains in the same run as the reference.

Determinism and resuming: every random draw comes from a generator seeded by
``(seed, purpose, epoch, step)``, so a run resumed from its last checkpoint
repeats exactly what the uninterrupted run would have done.  Checkpoints
(:mod:`pc_analog.learning.checkpoints`) are written atomically at the end of every
epoch and carry a SHA-256 over their contents; a corrupt or truncated checkpoint is
refused with a clear error, never silently loaded.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pc_analog.circuit.ir import Hardware
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.devices import DeviceConfig, load_device_config
from pc_analog.hardware.hebbian import HardwareNetwork
from pc_analog.hardware.noisy_read import check_noise_backend
from pc_analog.io.data import one_hot
from pc_analog.io.formats import atomic_write_text
from pc_analog.learning._epoch import (  # noqa: F401 - the streams, named here too
    _EVAL,
    _FAB,
    _NOISE,
    _NOISE_EVAL,
    _SHUFFLE,
    _STEP,
    _EpochStats,
    _in_hardware,
    _settle_and_read,
    _train_epoch,
)
from pc_analog.learning.checkpoints import CHECKPOINT, _save_checkpoint, load_checkpoint
from pc_analog.learning.defaults import defaults_for, prepare_data, resolve_defaults
from pc_analog.learning.run_folder import Progress, check_out_dir, write_metrics
from pc_analog.learning.run_folder import plots as _plots
from pc_analog.model.activations import get_activation
from pc_analog.model.energy import feedforward
from pc_analog.model.network import Network
from pc_analog.settling.registry import get_backend, settle

__all__ = ["TrainConfig", "TrainReport", "train", "load_checkpoint", "CHECKPOINT"]

_SCHEDULES = ("constant", "cosine", "step")
_UPDATE_MODES = ("stochastic", "accumulate")
#: ``discriminative``: image at x_0, label at x_L; ``generative``: label at x_0, image at x_L
#: (the same chain run the other way, SPEC section 1).
_DIRECTIONS = ("discriminative", "generative")
#: The stream of the augmentation shifts, (seed, _AUGMENT, epoch) (the others: _epoch).
_AUGMENT = 6


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (and must match to resume one).

    A field left ``None`` takes the data set's default
    (:data:`pc_analog.learning.defaults.DATASET_DEFAULTS`, chosen on a validation hold-out
    by ``benchmarks/train_defaults.py``): ``TrainConfig(dataset="digits")`` is the run of
    ``pc-analog train --dataset digits`` (its five-seed test check:
    ``benchmarks/reports/train_defaults.md``).  The resolved values are what
    :meth:`to_dict` records.

    Attributes
    ----------
    dataset : str
        ``"digits"``, ``"fashion-mnist"`` or ``"idx:PATH"``.
    arch : tuple of int
        Layer widths; the first must match the data, the last the classes (default:
        the data's widths around the data set's default hidden width; for ``idx:PATH``
        filled in by :func:`train` once the data are read).
    activation : str
        Hidden activation (the input layer is read linearly).
    backend : str
        Settle backend for inference (``equilibrium``, ``ode``, ``ngspice``).
    device : str
        Device preset name or JSON file (:func:`pc_analog.hardware.devices.load_device_config`).
    epochs, batch_size : int
    lr : float
        Learning rate; the update of a batch is ``lr / batch * sum of pi eps phi^T``.
    lr_schedule : str
        ``constant``, ``cosine`` (to zero at the end) or ``step`` (x0.1 at 50% and 75%).
    precision_hidden, precision_output : float
        ``pi_l`` of hidden layers and of the output layer.
    separate_feedback : bool
        Feedback crossbars as separate physical copies.
    eval_mode : str
        ``feedforward`` (read the output of the feedforward pass) or ``settle``
        (settle the circuit with the output free and read the output nodes; the default
        with an ``analog`` spec, whose non-idealities only a settle sees).
    bp_baseline : bool
        Train the digital backprop twin too.
    seed : int
    init_gain : float
        Scale of the PyTorch-style initial weights.
    limit_train, limit_test : int or None
        Use only the first samples (quick runs).
    input_scaling : str
        ``none``, ``global`` (one offset and one gain for every input driver) or
        ``per-feature`` (one per input driver), from the training samples used
        (:func:`pc_analog.learning.defaults.prepare_data`); the test data get the same
        map, and the trained network file stores it as its ``input_transform``.
    standardize_inputs : bool or None
        The older spelling: ``True`` is ``input_scaling="global"``, ``False`` is
        ``"none"``; recorded as ``input_scaling != "none"``.
    validation_fraction : float or None
        Hold out this stratified fraction of the training part (permutation seed
        :data:`~pc_analog.learning.defaults.VALIDATION_SEED`) and report accuracy on it
        instead of the test set: how defaults and hyperparameters are chosen without
        looking at the test set.
    hardware : dict
        ``Hardware`` fields (``c_F``, ``g0_S``, ``g_unit_S``); with an ``analog`` spec,
        the spec's.
    analog : AnalogSpec or None
        The analog spec of ``--hardware`` (:class:`pc_analog.costs.specs.AnalogSpec`, or
        any object with ``apply(circuit)``, ``read_out(x)``, ``hardware()`` and
        ``to_dict()``): each batch settles ``analog.apply(circuit)``, the non-ideal
        circuit, and the Hebbian update reads ``analog.read_out(result)``, what the ADCs
        read.  Every non-ideality the spec models flows through these two calls.
        With noise sources every read is noisy, seeded per batch
        (:func:`pc_analog.hardware.noisy_read.settle_and_read`).
    update_mode : str
        How a batch's update reaches pulsed devices.  ``stochastic``: programmed at
        once, ``n = floor(x) + Bernoulli(x - floor(x))`` pulses for ``x`` pulse steps
        (:func:`pc_analog.hardware.devices.apply_update`).  ``accumulate``: mixed-precision
        training (Nandakumar et al., "Mixed-precision deep learning based on
        computational memory", Front. Neurosci. 14:406, 2020): each pair's update is
        added to a float64 accumulator ``chi``, the pair gets the whole pulses
        ``n = trunc(chi / epsilon)`` it holds and ``chi -= n epsilon``
        (:func:`pc_analog.hardware.devices.apply_accumulated`); the accumulators are saved
        in the checkpoints.  Needs a pulsed device: with an analog one (no levels,
        no pulse step, e.g. ``ideal``) :func:`train` refuses it.
    direction : str
        ``discriminative`` (image clamped at ``x_0``, label at ``x_L``) or ``generative``
        (label at ``x_0``, image at ``x_L``: ``arch`` runs from the classes to the pixels).
        A generative network is evaluated by settling with the image clamped and ``x_0``
        free, reading the label there (:func:`_accuracy_generative`); it has no backprop
        twin.
    augment_shift : float or None
        Each epoch, every training image moves by one pixel with this probability
        (:func:`pc_analog.io.data.shift_images`, seed ``(seed, 6, epoch)``); PC and its twin
        see the same images.  Image data sets only; ``0``: no augmentation.
    """

    dataset: str = "digits"
    arch: tuple[int, ...] | None = None
    activation: str = "tanh"
    backend: str = "equilibrium"
    device: str = "ideal"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    lr_schedule: str | None = None
    precision_hidden: float = 1.0
    precision_output: float | None = None
    separate_feedback: bool = False
    eval_mode: str | None = None
    bp_baseline: bool = True
    seed: int = 0
    init_gain: float = 1.0
    limit_train: int | None = None
    limit_test: int | None = None
    standardize_inputs: bool | None = None
    hardware: dict = field(default_factory=dict)
    update_mode: str = "stochastic"
    direction: str = "discriminative"
    input_scaling: str | None = None
    validation_fraction: float | None = None
    analog: object | None = None
    augment_shift: float | None = None

    def __post_init__(self) -> None:
        if self.direction not in _DIRECTIONS:
            raise InvalidInputError(
                f"direction: unknown {self.direction!r} ({', '.join(_DIRECTIONS)})"
            )
        resolve_defaults(self)
        if self.update_mode not in _UPDATE_MODES:
            raise InvalidInputError(
                f"update_mode: unknown {self.update_mode!r} ({', '.join(_UPDATE_MODES)})"
            )
        if self.arch is not None:
            object.__setattr__(self, "arch", tuple(int(a) for a in self.arch))
            if len(self.arch) < 2 or min(self.arch) < 1:
                raise InvalidInputError(
                    "arch: need at least two positive layer widths, e.g. 64-128-10"
                )
        if self.epochs < 1 or self.batch_size < 1:
            raise InvalidInputError("epochs and batch_size: must be >= 1")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise InvalidInputError("lr: must be a positive number")
        if self.lr_schedule not in _SCHEDULES:
            raise InvalidInputError(
                f"lr_schedule: unknown {self.lr_schedule!r} ({', '.join(_SCHEDULES)})"
            )
        if self.eval_mode not in ("feedforward", "settle"):
            raise InvalidInputError("eval_mode: 'feedforward' or 'settle'")
        if not (self.precision_hidden > 0 and self.precision_output > 0):
            raise InvalidInputError("precisions: must be > 0")
        get_activation(self.activation)
        get_backend(self.backend)  # unknown names fail here, before anything is written
        check_noise_backend(self.analog, self.backend)
        # One spelling of the hardware: every field, defaults filled in.
        try:
            hw = Hardware(**(self.hardware or {}))
        except TypeError as exc:
            raise InvalidInputError(f"hardware: {exc}") from None
        object.__setattr__(self, "hardware", dataclasses.asdict(hw))

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["hardware"] = dict(self.hardware)
        d["arch"] = None if self.arch is None else list(self.arch)
        d["analog"] = None if self.analog is None else self.analog.to_dict()
        return d

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (0-based) under the schedule."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + np.cos(np.pi * epoch / self.epochs))
        if self.lr_schedule == "step":
            return self.lr * (0.1 ** ((epoch >= self.epochs * 0.5) + (epoch >= self.epochs * 0.75)))
        return self.lr


@dataclass(frozen=True)
class TrainReport:
    """Outcome of :func:`train`.

    Attributes
    ----------
    test_accuracy, bp_test_accuracy : float
        Final test accuracy of the hardware-trained network and of the backprop twin
        (``nan`` without the twin).
    epochs : int
    device : dict
        The device configuration.
    seconds : float
        Wall time of this run (a resumed run counts only its own time).
    history : list of dict
        Metrics per epoch.
    network : Network
        The final programmed weights (no read noise), with the run's input scaling as its
        ``input_transform`` (so it takes the data set's raw features).
    out_dir : str
    config : TrainConfig
        The run's configuration, every default resolved.
    """

    test_accuracy: float
    bp_test_accuracy: float
    epochs: int
    device: dict
    seconds: float
    history: list
    network: Network
    out_dir: str
    config: TrainConfig | None = None

    def summary(self) -> dict:
        last = self.history[-1] if self.history else {}
        return {
            "test_accuracy": self.test_accuracy,
            "bp_test_accuracy": self.bp_test_accuracy,
            "epochs": self.epochs,
            "device": self.device.get("name", "custom"),
            "seconds": round(self.seconds, 3),
            "seconds_per_epoch": last.get("seconds"),
            "pulses": last.get("pulses_total"),
            "out_dir": self.out_dir,
        }


# ------------------------------------------------------------------ training
def _accuracy_ff(net: Network, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(feedforward(net, x)[-1], axis=1) == labels))


def _accuracy_generative(net: Network, x: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of a generative network: the image clamped at ``x_L``, everything else free,
    the label read at ``x_0`` (``argmax``) after settling to equilibrium."""
    from pc_analog.model.network import Clamp

    clamp = Clamp.layers(net.sizes, [-1])
    values = tuple(np.zeros((x.shape[0], n)) for n in net.sizes[:-1]) + (x,)
    r = settle(net, clamp=clamp, values=values, on_failure="return")
    return float(np.mean(np.argmax(r.x[0], axis=1) == labels))


def _accuracy_settle(
    cfg: TrainConfig, hw: HardwareNetwork, x, labels, batch: int, rng, noise_rng
) -> float:
    """Accuracy of the circuit settled with the output free, read through the ADCs (with
    the circuit's noise when it has noise sources, drawn from ``noise_rng``)."""
    hits = 0
    for s in range(0, x.shape[0], batch):
        circ = _in_hardware(cfg, hw.circuit(x[s : s + batch], rng=rng))
        _, xr, _ = _settle_and_read(cfg, circ, noise_rng)
        hits += int(np.sum(np.argmax(xr[-1], axis=1) == labels[s : s + batch]))
    return hits / x.shape[0]


def _check_device(cfg: TrainConfig) -> DeviceConfig:
    """The run's device config, refused early when the run cannot use it."""
    device = load_device_config(cfg.device)
    ideal_copy = device.exact_writes and device.read_noise == 0 and device.drift_nu == 0
    if cfg.separate_feedback and not ideal_copy and cfg.backend in ("equilibrium", "discrete"):
        raise InvalidInputError(
            f"separate_feedback: with device {device.name!r} the feedback copies differ from "
            "the forward crossbars, which the gradient-flow backends cannot settle; use "
            "backend 'ode' or 'ngspice'"
        )
    if cfg.update_mode == "accumulate" and device.pulse_step_S is None:
        raise InvalidInputError(
            f"update_mode: 'accumulate' needs a pulsed device (levels or pulse_step_S); "
            f"device {device.name!r} is analog"
        )
    return device


def _load_data(cfg: TrainConfig):
    """The run's data (:func:`~pc_analog.learning.defaults.prepare_data`) and the config
    with ``arch`` filled in from the data when it was left ``None``; widths checked
    (reversed for a generative network: the label at ``x_0``, the image at ``x_L``)."""
    data = prepare_data(
        cfg.dataset,
        input_scaling=cfg.input_scaling,
        validation_fraction=cfg.validation_fraction,
        limit_train=cfg.limit_train,
        limit_test=cfg.limit_test,
    )
    n_in = data.x_train.shape[1]
    ends = (n_in, data.n_classes)
    if cfg.direction == "generative":
        ends = ends[::-1]
    if cfg.arch is None:
        hidden = defaults_for(cfg.dataset)["hidden"]
        cfg = dataclasses.replace(cfg, arch=(ends[0], hidden, ends[1]))
    if cfg.augment_shift and data.image_shape is None:
        raise InvalidInputError(f"augment_shift: {cfg.dataset} has no image shape to shift")
    if (cfg.arch[0], cfg.arch[-1]) != ends:
        raise InvalidInputError(
            f"arch: {'-'.join(map(str, cfg.arch))} does not fit {cfg.dataset} "
            f"({n_in} inputs, {data.n_classes} classes, {cfg.direction}: "
            f"{ends[0]} at x_0, {ends[1]} at x_L)"
        )
    return cfg, data


def _start(cfg: TrainConfig, out: Path, net0: Network, device: DeviceConfig, resume: bool):
    """``(start_epoch, history, hw, bp_net)``: from the checkpoint, or freshly fabricated.

    A fresh start programs ``net0`` through the one device path,
    :meth:`HardwareNetwork.fabricate`, seeded by ``(seed, _FAB)``.
    """
    hw_params = Hardware(**cfg.hardware)
    ckpt = out / CHECKPOINT
    if resume and ckpt.exists():
        state = load_checkpoint(ckpt, cfg)
        hw = HardwareNetwork(
            state["forward"],
            state["feedback"],
            state["bias"],
            net0.precisions,
            net0.activations,
            hw_params,
            state["g_units"],
            state["chi_forward"],
            state["chi_bias"],
        )
        if hw.update_mode != cfg.update_mode:
            raise InvalidInputError(
                f"checkpoint: {ckpt} holds no update accumulators for update_mode "
                f"{cfg.update_mode!r}"
                if hw.chi_forward is None
                else f"checkpoint: {ckpt} holds update accumulators, update_mode is "
                f"{cfg.update_mode!r}"
            )
        bp_net = None
        if state["bp"] is not None:
            bp_net = net0.replace(weights=tuple(state["bp"][0]), biases=tuple(state["bp"][1]))
        return state["epoch"], state["history"], hw, bp_net
    if resume:
        warnings.warn(f"no checkpoint in {out}: starting from scratch", stacklevel=3)
    hw = HardwareNetwork.fabricate(
        net0,
        device,
        hardware=hw_params,
        separate_feedback=cfg.separate_feedback,
        rng=np.random.default_rng([cfg.seed, _FAB]),
    )
    if cfg.update_mode == "accumulate":
        hw = hw.with_accumulators()
    return 0, [], hw, (net0 if cfg.bp_baseline and cfg.direction != "generative" else None)


def _epoch_row(cfg, epoch, hw, bp_net, stats: _EpochStats, pulses_total, data, t_ep) -> dict:
    """The metrics row of an epoch (evaluation reads the devices with seed ``(seed, _EVAL)``)."""
    x_tr, lab_tr, x_te, lab_te = data
    net_now = hw.network(rng=np.random.default_rng([cfg.seed, _EVAL, epoch]))
    acc = _accuracy_generative if cfg.direction == "generative" else _accuracy_ff
    if cfg.direction == "generative":
        test_acc = acc(net_now, x_te, lab_te)
    elif cfg.eval_mode == "settle":
        test_acc = _accuracy_settle(
            cfg, hw, x_te, lab_te, 256, np.random.default_rng([cfg.seed, _EVAL, epoch]),
            np.random.default_rng([cfg.seed, _NOISE_EVAL, epoch]),
        )  # fmt: skip
    else:
        test_acc = _accuracy_ff(net_now, x_te, lab_te)
    return {
        "epoch": epoch + 1,
        "lr": cfg.lr_at(epoch),
        "train_accuracy": acc(net_now, x_tr, lab_tr),
        "test_accuracy": test_acc,
        "bp_train_accuracy": _accuracy_ff(bp_net, x_tr, lab_tr) if bp_net else float("nan"),
        "bp_test_accuracy": _accuracy_ff(bp_net, x_te, lab_te) if bp_net else float("nan"),
        "energy": float(np.mean(stats.energies)),
        "mean_settling_time_s": (
            float(np.mean(stats.settle_times)) if stats.settle_times else float("nan")
        ),
        "pulses": int(stats.pulses),
        "pulses_total": int(pulses_total),
        "unsettled_samples": int(stats.unsettled),
        "seconds": time.perf_counter() - t_ep,
    }


def train(
    cfg: TrainConfig,
    out_dir,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    progress_every: int | None = None,
    plots: bool = True,
) -> TrainReport:
    """Train in the simulated hardware (and the backprop twin) and write results to ``out_dir``.

    Writes ``checkpoint.npz`` after every epoch, ``metrics.json``/``metrics.csv``,
    ``config.json``, and at the end ``final_network.json`` (with the input scaling as
    its ``input_transform`` from the data set's raw features) and the plots
    ``training.png`` and ``conductances.png``.  A non-empty ``out_dir`` is refused
    unless ``resume`` (continue from its checkpoint) or ``overwrite`` (its old outputs
    are removed first).  ``progress``: a bar on a terminal, else a line on stderr every
    ``progress_every`` batches (default: every :data:`PROGRESS_SECONDS`), and a line
    per epoch.  The stages are helpers: the device and data checks
    (:func:`_check_device`, :func:`_load_data`), the start from a checkpoint or a
    fabrication (:func:`_start`), one epoch (:func:`_train_epoch`) and its metrics
    (:func:`_epoch_row`).  Long because it is the run's outline, in the order of its
    steps, each a call to one of those helpers.
    """
    from tqdm.auto import tqdm

    from pc_analog.io.formats import save_network

    t_start = time.perf_counter()
    out = Path(out_dir)
    device = _check_device(cfg)
    cfg, data = _load_data(cfg)
    x_tr, lab_tr, x_te, lab_te = data.x_train, data.lab_train, data.x_test, data.lab_test
    check_out_dir(out, resume, overwrite)
    out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known to be good
    y_tr = one_hot(lab_tr, data.n_classes)
    L = len(cfg.arch) - 1
    prec = [cfg.precision_hidden] * (L - 1) + [cfg.precision_output]
    net0 = Network.random(
        cfg.arch, cfg.activation, precisions=prec, seed=cfg.seed, gain=cfg.init_gain
    )
    start, history, hw, bp_net = _start(cfg, out, net0, device, resume)
    atomic_write_text(
        out / "config.json",
        json.dumps({"config": cfg.to_dict(), "device": device.to_dict()}, indent=1) + "\n",
    )
    n_batches = (x_tr.shape[0] + cfg.batch_size - 1) // cfg.batch_size
    pulses_total = history[-1]["pulses_total"] if history else 0
    for epoch in range(start, cfg.epochs):
        t_ep = time.perf_counter()
        bar = Progress(tqdm, epoch, cfg, n_batches, progress, progress_every)
        x_ep = data.augmented(cfg.augment_shift, [cfg.seed, _AUGMENT, epoch])
        hw, bp_net, stats = _train_epoch(cfg, epoch, hw, bp_net, x_ep, y_tr, bar)
        bar.close()
        pulses_total += stats.pulses
        row = _epoch_row(
            cfg, epoch, hw, bp_net, stats, pulses_total, (x_tr, lab_tr, x_te, lab_te), t_ep
        )
        history.append(row)
        _save_checkpoint(
            out / CHECKPOINT, cfg=cfg, epoch=epoch + 1, hw=hw, bp_net=bp_net, history=history
        )
        write_metrics(out, history)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}/{cfg.epochs}: {_SPLIT[cfg.validation_fraction is None]} "
                f"{row['test_accuracy']:.4f} (bp {row['bp_test_accuracy']:.4f})"
                f", energy {row['energy']:.4g}, {row['seconds']:.1f} s"
            )
    # input_transform maps raw data at x_0 (SPEC section 2); a generative network has the
    # label there, so its file carries none (its images at x_L are the scaled ones).
    transform = None if cfg.direction == "generative" else data.transform
    final = hw.ideal_network().replace(input_transform=transform)
    save_network(final, out / "final_network.json")
    if plots and history:
        _plots(out, history, hw)
    last = history[-1]
    return TrainReport(
        test_accuracy=float(last["test_accuracy"]),
        bp_test_accuracy=float(last["bp_test_accuracy"]),
        epochs=cfg.epochs,
        device=device.to_dict(),
        seconds=time.perf_counter() - t_start,
        history=history,
        network=final,
        out_dir=str(out),
        config=cfg,
    )


_SPLIT = {True: "test", False: "validation"}
