"""Network and vector files: ``pc-analog.network/1`` JSON (SPEC section 2) and ``.npz``.

Loading validates everything and raises :class:`~pc_analog.errors.InvalidInputError`
with a one-line message naming the field.  Saving is atomic (write to a temporary
file beside the target, then rename), so no half-written file is ever left.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.model.activations import ACTIVATIONS
from pc_analog.model.network import MAX_MAGNITUDE, InputTransform, Network

__all__ = [
    "FORMAT",
    "network_from_dict",
    "network_to_dict",
    "load_network",
    "save_network",
    "load_vectors",
    "atomic_write_text",
    "atomic_write_bytes",
    "check_not_input",
]

FORMAT = "pc-analog.network/1"
_FIELDS = ("format", "sizes", "activations", "precisions", "weights", "biases", "input_transform")


def _read_json(path: str | os.PathLike, what: str, *, missing_ok: bool = False):
    """Parse a JSON file; every failure is an InvalidInputError naming ``what``.

    With ``missing_ok`` a file that does not exist gives ``None`` (the caller then tries
    another reading of ``path``, e.g. as a preset name).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise InvalidInputError(f"{what}: file not found: {p}") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{what}: is a directory: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{what}: cannot read {p}: {exc}") from None
    try:
        # NaN/Infinity tokens parse to floats here and are rejected by _numeric,
        # which knows the field they sit in.
        return json.loads(text)
    except RecursionError:
        raise InvalidInputError(f"{what}: JSON nested too deeply in {p}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{what}: invalid JSON in {p}: {exc.msg} at line {exc.lineno}"
        ) from None


def _numeric(value, name: str, ndim: int) -> np.ndarray:
    """A finite float array of exactly ``ndim`` dimensions from nested JSON lists."""

    def check(v, depth, path):
        if depth == 0:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InvalidInputError(f"{path}: expected a number, got {type(v).__name__}")
            try:
                finite = math.isfinite(v)
            except OverflowError:  # an integer literal too large for a float
                finite = False
            if not finite:
                raise InvalidInputError(f"{path}: non-finite number")
            return
        if not isinstance(v, list):
            raise InvalidInputError(f"{path}: expected a list, got {type(v).__name__}")
        for i, item in enumerate(v):
            check(item, depth - 1, f"{path}[{i}]")

    check(value, ndim, name)
    if ndim >= 1 and len(value) == 0:
        raise InvalidInputError(f"{name}: empty")
    if ndim == 2:
        lengths = {len(r) for r in value}
        if len(lengths) > 1:
            raise InvalidInputError(f"{name}: rows have different lengths {sorted(lengths)}")
        if lengths == {0}:
            raise InvalidInputError(f"{name}: empty rows")
    if ndim == 0:
        return np.array(float(value))
    return np.array(value, dtype=float).reshape((len(value),) + ((-1,) if ndim == 2 else ()))


def network_from_dict(d: dict) -> Network:
    """Build and validate a :class:`Network` from a decoded ``pc-analog.network/1`` object."""
    if not isinstance(d, dict):
        raise InvalidInputError("network: the file must hold a JSON object")
    if "format" not in d:
        raise InvalidInputError(f"format: missing (expected {FORMAT!r})")
    if d["format"] != FORMAT:
        raise InvalidInputError(f"format: unknown {d['format']!r} (expected {FORMAT!r})")
    for key in d:
        if key not in _FIELDS:
            raise InvalidInputError(f"{key}: unknown field (known: {', '.join(_FIELDS)})")
    for key in ("sizes", "activations", "precisions", "weights", "biases"):
        if key not in d:
            raise InvalidInputError(f"{key}: missing")
    sizes = d["sizes"]
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
    ):
        raise InvalidInputError("sizes: must be a list of at least two positive integers")
    L = len(sizes) - 1
    for key in ("activations", "precisions", "weights", "biases"):
        if not isinstance(d[key], list) or len(d[key]) != L:
            raise InvalidInputError(f"{key}: must be a list of {L} entries (one per layer 1..{L})")
    for i, a in enumerate(d["activations"]):
        if not isinstance(a, str) or a not in ACTIVATIONS:
            raise InvalidInputError(
                f"activations[{i}]: unknown {a!r} (known: {', '.join(sorted(ACTIVATIONS))})"
            )
    weights, biases, precisions = [], [], []
    for i in range(L):
        W = _numeric(d["weights"][i], f"weights[{i}]", 2)
        if W.shape != (sizes[i + 1], sizes[i]):
            raise InvalidInputError(
                f"weights[{i}]: shape {W.shape[0]}x{W.shape[1] if W.ndim == 2 else 0} disagrees "
                f"with sizes (expected {sizes[i + 1]}x{sizes[i]})"
            )
        b = _numeric(d["biases"][i], f"biases[{i}]", 1)
        if b.shape != (sizes[i + 1],):
            raise InvalidInputError(
                f"biases[{i}]: length {b.size} disagrees with sizes (expected {sizes[i + 1]})"
            )
        p = d["precisions"][i]
        p = _numeric(p, f"precisions[{i}]", 1 if isinstance(p, list) else 0)
        if p.ndim == 1 and p.shape != (sizes[i + 1],):
            raise InvalidInputError(
                f"precisions[{i}]: length {p.size} disagrees with sizes (expected {sizes[i + 1]})"
            )
        if np.any(p <= 0):
            raise InvalidInputError(f"precisions[{i}]: must be > 0")
        weights.append(W)
        biases.append(b)
        precisions.append(p)
    transform = _input_transform(d.get("input_transform"), sizes[0])
    return Network(
        tuple(weights), tuple(biases), tuple(precisions), tuple(d["activations"]), transform
    )


def _input_transform(t, n0: int) -> InputTransform | None:
    """The optional ``input_transform`` field: ``{"offset": a, "scale": s}``, each a number
    or a list of ``n0`` numbers; ``null`` or absent is the identity."""
    if t is None:
        return None
    if not isinstance(t, dict):
        raise InvalidInputError(
            f'input_transform: must be an object {{"offset": ..., "scale": ...}}, '
            f"got {type(t).__name__}"
        )
    for key in t:
        if key not in ("offset", "scale"):
            raise InvalidInputError(f"input_transform.{key}: unknown field (known: offset, scale)")
    parts = {}
    for key in ("offset", "scale"):
        if key not in t:
            raise InvalidInputError(f"input_transform.{key}: missing")
        v = t[key]
        arr = _numeric(v, f"input_transform.{key}", 1 if isinstance(v, list) else 0)
        if arr.ndim == 1 and arr.size != n0:
            raise InvalidInputError(
                f"input_transform.{key}: length {arr.size} disagrees with sizes "
                f"(expected {n0}, the input width, or one number)"
            )
        parts[key] = arr
    return InputTransform(parts["offset"], parts["scale"])


def network_to_dict(net: Network) -> dict:
    """The ``pc-analog.network/1`` object for ``net`` (numbers as Python floats)."""
    return {
        "format": FORMAT,
        "sizes": list(net.sizes),
        "activations": list(net.activations),
        "precisions": [p.tolist() for p in net.precisions],
        "weights": [W.tolist() for W in net.weights],
        "biases": [b.tolist() for b in net.biases],
        **(
            {}
            if net.input_transform is None
            else {"input_transform": net.input_transform.to_json()}
        ),
    }


def _load_npz(path: Path) -> Network:
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = str(z["format"]) if "format" in z else None
            if fmt is None:
                raise InvalidInputError(f"format: missing in {path}")
            if fmt != FORMAT:
                raise InvalidInputError(f"format: unknown {fmt!r} in {path} (expected {FORMAT!r})")
            sizes_arr = z["sizes"]
            if sizes_arr.ndim != 1 or sizes_arr.dtype.kind not in "iu":
                raise InvalidInputError(f"sizes: must be a 1-D integer array in {path}")
            sizes = [int(s) for s in sizes_arr]
            acts = z["activations"]
            if acts.ndim != 1:
                raise InvalidInputError(f"activations: must be a 1-D array of names in {path}")
            L = len(sizes) - 1
            d = {
                "format": fmt,
                "sizes": sizes,
                "activations": [str(a) for a in acts],
                "precisions": [z[f"pi{l}"].tolist() for l in range(1, L + 1)],
                "weights": [z[f"W{l}"].tolist() for l in range(1, L + 1)],
                "biases": [z[f"b{l}"].tolist() for l in range(1, L + 1)],
            }
            if "input_offset" in z or "input_scale" in z:
                d["input_transform"] = {
                    "offset": z["input_offset"].tolist(),
                    "scale": z["input_scale"].tolist(),
                }
    except InvalidInputError:
        raise
    except KeyError as exc:
        raise InvalidInputError(f"{exc.args[0]}: missing in {path}") from None
    except Exception:  # zipfile / pickle / format errors of every kind
        raise InvalidInputError(
            f"network: {path} is not a pc-analog .npz network file (unreadable or corrupt)"
        ) from None
    return network_from_dict(d)


def _as_path(path, what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path`; anything else is an InvalidInputError."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise InvalidInputError(f"{what}: expected a file name, got {path!r}")
    return Path(path)


def load_network(path: str | os.PathLike) -> Network:
    """Load a network from ``.json`` (``pc-analog.network/1``) or ``.npz``."""
    p = _as_path(path, "network")
    if p.suffix == ".npz":
        if not p.exists():
            raise InvalidInputError(f"network: file not found: {p}")
        return _load_npz(p)
    return network_from_dict(_read_json(p, "network"))


class _WriteError(InvalidInputError, OSError):
    """An output file cannot be written: bad input to the command line (exit status 2),
    and still an :class:`OSError` for callers that catch I/O failures."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_not_input(out: str | os.PathLike, inputs, what: str) -> None:
    """Refuse to write ``out`` when it is one of the ``inputs`` (outputs never overwrite an
    input file): :class:`InvalidInputError` naming ``what`` (e.g. ``"-o"``).

    ``inputs`` may hold ``None`` (an option not given); paths are compared after resolving
    symbolic links, and by inode when both exist (hard links, other spellings)."""
    o = Path(out)
    for i in inputs:
        if i is None:
            continue
        i = Path(i)
        same = o.resolve() == i.resolve()
        if not same and o.exists() and i.exists():
            try:
                same = os.path.samefile(o, i)
            except OSError:
                same = False
        if same:
            raise InvalidInputError(
                f"{what}: {out} is also an input file; writing would overwrite it"
            )


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename.

    Raises
    ------
    InvalidInputError
        When ``path`` cannot be written (no such folder, a folder of that name, no
        permission, disk full); the message names ``path``, never the temporary file,
        and no temporary file is left behind.  The exception is an :class:`OSError` too.
    """
    p = _as_path(path, "output")
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise _WriteError(f"{p}: cannot write: is a directory")
    if not parent.is_dir():
        raise _WriteError(f"{p}: cannot write: no such folder {parent}")
    try:
        _atomic_write(p, parent, data)
    except _WriteError:
        raise
    except OSError as exc:
        raise _WriteError(f"{p}: cannot write: {exc.strerror or exc}") from exc


def _atomic_write(p: Path, parent: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.")
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (or keep the
        # mode of the file being replaced).
        mode = p.stat().st_mode & 0o777 if p.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_network(net: Network, path: str | os.PathLike) -> None:
    """Save as JSON, or as compressed ``.npz`` when the name ends in ``.npz``."""
    p = Path(path)
    if p.suffix == ".npz":
        import io

        arrays = {
            "format": np.array(FORMAT),
            "sizes": np.array(net.sizes),
            "activations": np.array(net.activations),
        }
        for l in range(1, net.n_layers + 1):
            arrays[f"W{l}"] = net.W(l)
            arrays[f"b{l}"] = net.b(l)
            arrays[f"pi{l}"] = net.precisions[l - 1]
        if net.input_transform is not None:
            arrays["input_offset"] = net.input_transform.offset
            arrays["input_scale"] = net.input_transform.scale
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(p, buf.getvalue())
    else:
        atomic_write_text(p, json.dumps(network_to_dict(net)) + "\n")


def load_vectors(path: str | os.PathLike, n: int, what: str) -> tuple[np.ndarray, bool]:
    """Read a JSON vector file: a list of ``n`` numbers (one sample) or a list of such lists.

    Returns
    -------
    x : ndarray, shape (batch, n)
    single : bool
        Whether the file held one sample (a flat list).
    """
    v = _read_json(path, what)
    if not isinstance(v, list) or not v:
        raise InvalidInputError(f"{what}: must be a non-empty list of numbers or of lists ({path})")
    single = not isinstance(v[0], list)
    arr = _numeric(v, what, 1 if single else 2)
    if np.max(np.abs(arr)) > MAX_MAGNITUDE:
        raise InvalidInputError(
            f"{what}: |value| {np.max(np.abs(arr)):.3g} exceeds the limit {MAX_MAGNITUDE:g} "
            f"(pc_analog.model.network.MAX_MAGNITUDE) ({path})"
        )
    if single:
        arr = arr[None, :]
    if arr.shape[1] != n:
        raise InvalidInputError(
            f"{what}: {arr.shape[1]} numbers per sample, the network needs {n} ({path})"
        )
    return arr, single
