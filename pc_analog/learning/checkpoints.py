"""Training checkpoints: the device state, accumulators and backprop twin of a run, on disk.

Checkpoints are written atomically (write, fsync, rename) and carry a SHA-256 over
their contents; a corrupt or truncated checkpoint is refused with a clear error, never
silently loaded.  :mod:`pc_analog.learning.train` writes one per epoch and re-exports
:func:`load_checkpoint` and :data:`CHECKPOINT`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from pc_analog.circuit.ir import DifferentialPair
from pc_analog.errors import InvalidInputError
from pc_analog.hardware.devices import DeviceArray, DeviceConfig
from pc_analog.hardware.hebbian import HardwareNetwork
from pc_analog.io.formats import atomic_write_bytes
from pc_analog.model.network import Network

__all__ = ["CHECKPOINT", "load_checkpoint"]

CHECKPOINT = "checkpoint.npz"


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
    cfg,
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


def load_checkpoint(path, cfg=None) -> dict:
    """Read and verify a checkpoint.

    Returns a dict with ``epoch``, ``history``, ``config``, ``forward``,
    ``feedback``, ``bias`` (device arrays), ``chi_forward``, ``chi_bias`` (the
    update accumulators, or None in the ``stochastic`` mode) and ``bp`` (weights,
    biases or None).

    ``cfg`` is an optional :class:`~pc_analog.learning.train.TrainConfig`.

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
