"""Training in the simulated hardware: settle, read the voltages, program the devices.

Each mini-batch: compile the current device state into a circuit with input and
label clamped, settle it with any backend, read the Hebbian update from the settled
node voltages and program it into the devices (:mod:`pc_analog.hardware.hebbian`).  A
digital-backprop twin (same architecture, same initial weights, same batches and
learning-rate schedule) trains in the same run as the reference.

Determinism and resuming: every random draw comes from a generator seeded by
``(seed, purpose, epoch, step)``, so a run resumed from its last checkpoint
repeats exactly what the uninterrupted run would have done.  Checkpoints are
written atomically (write, fsync, rename) at the end of every epoch and carry a
SHA-256 over their contents; a corrupt or truncated checkpoint is refused with a
clear error, never silently loaded.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pc_analog.circuit.ir import DifferentialPair, Hardware
from pc_analog.errors import ConvergenceWarning, InvalidInputError
from pc_analog.hardware.devices import DeviceArray, DeviceConfig, load_device_config
from pc_analog.hardware.hebbian import HardwareNetwork
from pc_analog.io.data import load_dataset, one_hot, standardize
from pc_analog.io.formats import atomic_write_bytes, atomic_write_text
from pc_analog.model.activations import get_activation
from pc_analog.model.energy import feedforward
from pc_analog.model.network import Network
from pc_analog.reference.variants import backprop
from pc_analog.settling.registry import get_backend, settle

__all__ = ["TrainConfig", "TrainReport", "train", "load_checkpoint", "CHECKPOINT"]

CHECKPOINT = "checkpoint.npz"
_SCHEDULES = ("constant", "cosine", "step")
_UPDATE_MODES = ("stochastic", "accumulate")
# Seeds for the independent random streams: (seed, purpose, epoch, step).
_FAB, _SHUFFLE, _STEP, _EVAL = 0, 1, 2, 3


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (and must match to resume one).

    Attributes
    ----------
    dataset : str
        ``"digits"``, ``"fashion-mnist"`` or ``"idx:PATH"``.
    arch : tuple of int
        Layer widths; the first must match the data, the last the classes.
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
        (settle the circuit with the output free and read the output nodes).
    bp_baseline : bool
        Train the digital backprop twin too.
    seed : int
    init_gain : float
        Scale of the PyTorch-style initial weights.
    limit_train, limit_test : int or None
        Use only the first samples (quick runs).
    standardize_inputs : bool
        Map the input features to zero mean and unit spread with one offset and one gain
        from the training samples used (:func:`pc_analog.io.data.standardize`); the test
        data gets the same map.
    hardware : dict
        ``Hardware`` fields (``c_F``, ``g0_S``, ``g_unit_S``).
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
    """

    dataset: str = "digits"
    arch: tuple[int, ...] = (64, 128, 10)
    activation: str = "tanh"
    backend: str = "equilibrium"
    device: str = "ideal"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    lr_schedule: str = "constant"
    precision_hidden: float = 1.0
    precision_output: float = 1.0
    separate_feedback: bool = False
    eval_mode: str = "feedforward"
    bp_baseline: bool = True
    seed: int = 0
    init_gain: float = 1.0
    limit_train: int | None = None
    limit_test: int | None = None
    standardize_inputs: bool = False
    hardware: dict = field(default_factory=dict)
    update_mode: str = "stochastic"

    def __post_init__(self) -> None:
        if self.update_mode not in _UPDATE_MODES:
            raise InvalidInputError(
                f"update_mode: unknown {self.update_mode!r} ({', '.join(_UPDATE_MODES)})"
            )
        object.__setattr__(self, "arch", tuple(int(a) for a in self.arch))
        if len(self.arch) < 2 or min(self.arch) < 1:
            raise InvalidInputError("arch: need at least two positive layer widths, e.g. 64-128-10")
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
        # One spelling of the hardware: every field, defaults filled in.
        try:
            hw = Hardware(**(self.hardware or {}))
        except TypeError as exc:
            raise InvalidInputError(f"hardware: {exc}") from None
        object.__setattr__(self, "hardware", dataclasses.asdict(hw))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["arch"] = list(self.arch)
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
        The final programmed weights (no read noise).
    out_dir : str
    """

    test_accuracy: float
    bp_test_accuracy: float
    epochs: int
    device: dict
    seconds: float
    history: list
    network: Network
    out_dir: str

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


# --------------------------------------------------------------- checkpoints
def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _pack_devices(prefix: str, arrs, out: dict, meta: dict) -> None:
    if arrs is None:
        meta[prefix] = None
        return
    metas = []
    for i, a in enumerate(arrs):
        m = {}
        for f in dataclasses.fields(a):
            v = getattr(a, f.name)
            key = f"{prefix}.{i}.{f.name}"
            if isinstance(v, DifferentialPair):
                out[key + ".g_pos_S"] = v.g_pos_S
                out[key + ".g_neg_S"] = v.g_neg_S
            elif isinstance(v, np.ndarray):
                out[key] = v
            elif isinstance(v, DeviceConfig):
                m[f.name] = {"__device__": v.to_dict()}
            else:
                m[f.name] = v.item() if isinstance(v, np.generic) else v
        metas.append(m)
    meta[prefix] = metas


def _unpack_devices(prefix: str, z, meta: dict):
    if meta.get(prefix) is None:
        return None
    arrs = []
    for i, m in enumerate(meta[prefix]):
        kw = {}
        for f in dataclasses.fields(DeviceArray):
            key = f"{prefix}.{i}.{f.name}"
            if key + ".g_pos_S" in z:
                kw[f.name] = DifferentialPair(z[key + ".g_pos_S"], z[key + ".g_neg_S"])
            elif key in z:
                kw[f.name] = z[key]
            elif f.name in m:
                v = m[f.name]
                kw[f.name] = (
                    DeviceConfig.from_dict(v["__device__"])
                    if isinstance(v, dict) and "__device__" in v
                    else v
                )
        arrs.append(DeviceArray(**kw))
    return tuple(arrs)


def _save_checkpoint(
    path: Path,
    *,
    cfg: TrainConfig,
    epoch: int,
    hw: HardwareNetwork,
    bp_net: Network | None,
    history: list,
) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {
        "config": cfg.to_dict(),
        "epoch": epoch,
        "history": history,
        "g_units": [float(g) for g in hw.g_units],
    }
    _pack_devices("forward", hw.forward, arrays, meta)
    _pack_devices("feedback", hw.feedback, arrays, meta)
    _pack_devices("bias", hw.bias, arrays, meta)
    if hw.chi_forward is not None:
        for name, chis in (("forward", hw.chi_forward), ("bias", hw.chi_bias)):
            for i, c in enumerate(chis):
                arrays[f"chi.{name}.{i}"] = c
    if bp_net is not None:
        for l in range(1, bp_net.n_layers + 1):
            arrays[f"bp.W{l}"] = bp_net.W(l)
            arrays[f"bp.b{l}"] = bp_net.b(l)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays["sha256"] = np.frombuffer(_digest(arrays).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, cfg: TrainConfig | None = None) -> dict:
    """Read and verify a checkpoint.

    Returns a dict with ``epoch``, ``history``, ``config``, ``forward``,
    ``feedback``, ``bias`` (device arrays), ``chi_forward``, ``chi_bias`` (the
    update accumulators, or None in the ``stochastic`` mode) and ``bp`` (weights,
    biases or None).

    Raises
    ------
    InvalidInputError
        If the file is missing, truncated, corrupt (checksum mismatch) or, when
        ``cfg`` is given, was written by a run with another configuration.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"checkpoint: not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception:
        raise InvalidInputError(
            f"checkpoint: {p} is truncated or corrupt (cannot be read)"
        ) from None
    stored = arrays.pop("sha256", None)
    if stored is None or bytes(stored).decode(errors="replace") != _digest(arrays):
        raise InvalidInputError(f"checkpoint: {p} is corrupt (checksum mismatch)")
    meta = json.loads(bytes(arrays["meta"]).decode())
    # Checkpoints from before the update modes were all stochastic.
    meta["config"].setdefault("update_mode", "stochastic")
    if cfg is not None and meta["config"] != cfg.to_dict():
        want = cfg.to_dict()
        keys = set(meta["config"]) | set(want)
        diff = sorted(k for k in keys if meta["config"].get(k) != want.get(k))
        raise InvalidInputError(
            f"checkpoint: {p} was written with another configuration "
            f"(differs in: {', '.join(diff)})"
        )
    L = len(meta["config"]["arch"]) - 1
    bp = None
    if "bp.W1" in arrays:
        bp = (
            [arrays[f"bp.W{l}"] for l in range(1, L + 1)],
            [arrays[f"bp.b{l}"] for l in range(1, L + 1)],
        )
    chi = {}
    for name in ("forward", "bias"):
        keys = sorted(
            (k for k in arrays if k.startswith(f"chi.{name}.")), key=lambda k: int(k.split(".")[2])
        )
        chi[name] = tuple(arrays[k] for k in keys) if keys else None
    return {
        "epoch": meta["epoch"],
        "history": meta["history"],
        "config": meta["config"],
        "forward": _unpack_devices("forward", arrays, meta),
        "feedback": _unpack_devices("feedback", arrays, meta),
        "bias": _unpack_devices("bias", arrays, meta),
        "chi_forward": chi["forward"],
        "chi_bias": chi["bias"],
        "g_units": tuple(meta.get("g_units", ())),
        "bp": bp,
    }


# ------------------------------------------------------------------ training
def _accuracy_ff(net: Network, x: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(feedforward(net, x)[-1], axis=1) == labels))


def _accuracy_settle(hw: HardwareNetwork, backend: str, x, labels, batch: int, rng) -> float:
    hits = 0
    for s in range(0, x.shape[0], batch):
        circ = hw.circuit(x[s : s + batch], rng=rng)
        r = settle(circ, backend=backend)
        hits += int(np.sum(np.argmax(r.x[-1], axis=1) == labels[s : s + batch]))
    return hits / x.shape[0]


def _write_metrics(out: Path, history: list) -> None:
    atomic_write_text(out / "metrics.json", json.dumps(history, indent=1) + "\n")
    if history:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
        atomic_write_text(out / "metrics.csv", buf.getvalue())


def _plots(out: Path, history: list, hw: HardwareNetwork) -> None:
    import matplotlib

    from pc_analog.learning.figures import plot_conductance_histogram, plot_training

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plot_training(history)
    fig.savefig(out / "training.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    fig = plot_conductance_histogram(hw.conductances())
    fig.savefig(out / "conductances.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def train(
    cfg: TrainConfig, out_dir, *, resume: bool = False, progress: bool = True, plots: bool = True
) -> TrainReport:
    """Train in the simulated hardware (and the backprop twin) and write results to ``out_dir``.

    Writes ``checkpoint.npz`` after every epoch, ``metrics.json``/``metrics.csv``,
    ``config.json``, and at the end ``final_network.json`` and the plots
    ``training.png`` and ``conductances.png``.
    """
    from tqdm.auto import tqdm

    from pc_analog.io.formats import save_network

    t_start = time.perf_counter()
    out = Path(out_dir)
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
    hw_params = Hardware(**cfg.hardware)
    data = load_dataset(cfg.dataset)
    x_tr, lab_tr = data.x_train, data.y_train
    x_te, lab_te = data.x_test, data.y_test
    if cfg.limit_train:
        x_tr, lab_tr = x_tr[: cfg.limit_train], lab_tr[: cfg.limit_train]
    if cfg.limit_test:
        x_te, lab_te = x_te[: cfg.limit_test], lab_te[: cfg.limit_test]
    if cfg.standardize_inputs:
        x_tr, x_te, _, _ = standardize(x_tr, x_te)
    if cfg.arch[0] != x_tr.shape[1] or cfg.arch[-1] != data.n_classes:
        raise InvalidInputError(
            f"arch: {'-'.join(map(str, cfg.arch))} does not fit {cfg.dataset} "
            f"({x_tr.shape[1]} inputs, {data.n_classes} classes)"
        )
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known to be good
    y_tr = one_hot(lab_tr, data.n_classes)
    L = len(cfg.arch) - 1
    prec = [cfg.precision_hidden] * (L - 1) + [cfg.precision_output]
    net0 = Network.random(
        cfg.arch, cfg.activation, precisions=prec, seed=cfg.seed, gain=cfg.init_gain
    )

    ckpt = out / CHECKPOINT
    if resume and ckpt.exists():
        state = load_checkpoint(ckpt, cfg)
        start = state["epoch"]
        history = state["history"]
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
    else:
        if resume:
            warnings.warn(f"no checkpoint in {out}: starting from scratch", stacklevel=2)
        start, history = 0, []
        hw = HardwareNetwork.fabricate(
            net0,
            device,
            hardware=hw_params,
            separate_feedback=cfg.separate_feedback,
            rng=np.random.default_rng([cfg.seed, _FAB]),
        )
        if cfg.update_mode == "accumulate":
            hw = hw.with_accumulators()
        bp_net = net0 if cfg.bp_baseline else None
    atomic_write_text(
        out / "config.json",
        json.dumps({"config": cfg.to_dict(), "device": device.to_dict()}, indent=1) + "\n",
    )
    n = x_tr.shape[0]
    n_batches = (n + cfg.batch_size - 1) // cfg.batch_size
    pulses_total = history[-1]["pulses_total"] if history else 0
    for epoch in range(start, cfg.epochs):
        t_ep = time.perf_counter()
        lr = cfg.lr_at(epoch)
        order = np.random.default_rng([cfg.seed, _SHUFFLE, epoch]).permutation(n)
        energies, settle_times, pulses = [], [], 0
        bar = tqdm(
            total=n_batches,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=None if progress else True,
        )
        for step in range(n_batches):
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            rng = np.random.default_rng([cfg.seed, _STEP, epoch, step])
            circ = hw.circuit(x_tr[idx], y_tr[idx], rng=rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                res = settle(circ, backend=cfg.backend)
            hw, _, p = hw.hebbian_step(circ, res.x, lr / idx.size, rng)
            pulses += p
            energies.append(float(np.mean(res.energy)))
            if res.settling_time_s is not None:
                settle_times.append(float(np.nanmean(res.settling_time_s)))
            if bp_net is not None:
                g = backprop(bp_net, x_tr[idx], y_tr[idx])
                k = lr / idx.size
                bp_net = bp_net.replace(
                    weights=tuple(W + k * d for W, d in zip(bp_net.weights, g.dW)),
                    biases=tuple(b + k * d for b, d in zip(bp_net.biases, g.db)),
                )
            bar.update()
        bar.close()
        pulses_total += pulses
        net_now = hw.network(rng=np.random.default_rng([cfg.seed, _EVAL, epoch]))
        if cfg.eval_mode == "settle":
            test_acc = _accuracy_settle(
                hw, cfg.backend, x_te, lab_te, 256, np.random.default_rng([cfg.seed, _EVAL, epoch])
            )
        else:
            test_acc = _accuracy_ff(net_now, x_te, lab_te)
        row = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_accuracy": _accuracy_ff(net_now, x_tr, lab_tr),
            "test_accuracy": test_acc,
            "bp_train_accuracy": _accuracy_ff(bp_net, x_tr, lab_tr) if bp_net else float("nan"),
            "bp_test_accuracy": _accuracy_ff(bp_net, x_te, lab_te) if bp_net else float("nan"),
            "energy": float(np.mean(energies)),
            "mean_settling_time_s": float(np.mean(settle_times)) if settle_times else float("nan"),
            "pulses": int(pulses),
            "pulses_total": int(pulses_total),
            "seconds": time.perf_counter() - t_ep,
        }
        history.append(row)
        _save_checkpoint(ckpt, cfg=cfg, epoch=epoch + 1, hw=hw, bp_net=bp_net, history=history)
        _write_metrics(out, history)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}: test {row['test_accuracy']:.4f} "
                f"(bp {row['bp_test_accuracy']:.4f})"
                f", energy {row['energy']:.4g}, {row['seconds']:.1f} s"
            )
    final = hw.ideal_network()
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
    )
