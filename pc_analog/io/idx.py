"""The IDX container format (MNIST and its kin): a reader of plain or gzip-compressed files.

Nothing is downloaded; a header promising more data than the file holds is refused
without allocating what it promises.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = ["read_idx"]

# IDX element types: type code -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_IDX_MAX_BYTES = 2**32  # payload limit of one IDX file (Fashion-MNIST's largest: 47 MB)
_IDX_CHUNK = 1 << 24  # read payloads in 16 MiB pieces


def read_idx(path, count: int | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST container format), plain or gzip-compressed.

    Layout: a 4-byte magic ``0x00 0x00 T D`` (``T`` the element type code, ``D`` the
    number of dimensions), then ``D`` big-endian uint32 sizes, then
    ``prod(sizes)`` big-endian elements. Type codes: ``0x08`` uint8, ``0x09`` int8,
    ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64. A file whose
    name ends in ``.gz`` is decompressed on the fly.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.
    count : int, optional
        Read only the first ``count`` entries along the first axis (all if ``None`` or
        larger than the file holds). The rest of the file is then not read, so bytes
        trailing the declared payload go undetected.

    Returns
    -------
    ndarray, shape ``sizes`` (first size capped at ``count``)
        The elements in native byte order with the file's element type.

    Raises
    ------
    InvalidInputError
        If the file is missing, unreadable, not gzip data although named ``.gz``, or
        malformed (bad magic, unknown type code, header or payload shorter or longer
        than the sizes say). The message names the file.
    """
    path = Path(os.fspath(path))
    if count is not None and (int(count) != count or count < 0):
        raise InvalidInputError(f"count: must be a non-negative integer or None, got {count!r}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return _read_idx_stream(fh, path, count)
    except FileNotFoundError as exc:
        raise InvalidInputError(f"{path}: no such IDX file") from exc
    except (OSError, EOFError) as exc:
        # gzip.BadGzipFile is an OSError; EOFError is a truncated gzip stream.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{path}: cannot read IDX file ({reason})") from exc


def _read_idx_stream(fh, path: Path, count: int | None) -> np.ndarray:
    """Parse an IDX stream (see :func:`read_idx`); ``path`` is for messages only."""
    magic = fh.read(4)
    if len(magic) < 4:
        raise InvalidInputError(f"{path}: truncated IDX file ({len(magic)} bytes, no header)")
    if magic[0] != 0 or magic[1] != 0:
        raise InvalidInputError(
            f"{path}: bad IDX magic 0x{magic.hex()} (must start with two zero bytes)"
        )
    type_code, ndim = magic[2], magic[3]
    if type_code not in _IDX_DTYPES:
        raise InvalidInputError(f"{path}: unknown IDX dtype code 0x{type_code:02X}")
    if ndim == 0:
        raise InvalidInputError(f"{path}: bad IDX magic 0x{magic.hex()} (zero dimensions)")
    dims = fh.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise InvalidInputError(
            f"{path}: truncated IDX header ({4 + len(dims)} bytes, {ndim} dimensions "
            f"need {4 + 4 * ndim})"
        )
    shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
    dtype = _IDX_DTYPES[type_code]
    # Python integers: a header of huge sizes must not wrap around or allocate them.
    expected = math.prod(shape) * dtype.itemsize
    out_shape = shape
    if count is not None and count < shape[0]:
        out_shape = (int(count), *shape[1:])
    wanted = math.prod(out_shape) * dtype.itemsize
    if wanted > _IDX_MAX_BYTES:
        raise InvalidInputError(
            f"{path}: IDX header declares shape {shape} of {dtype.name} ({wanted:.3g} bytes), "
            f"more than the limit {_IDX_MAX_BYTES:.3g} bytes"
        )
    payload = _read_at_most(fh, wanted)
    if len(payload) < wanted:
        raise InvalidInputError(
            f"{path}: truncated IDX file (payload {len(payload)} bytes, shape "
            f"{shape} of {dtype.name} needs {expected})"
        )
    if wanted == expected:
        extra = len(fh.read())
        if extra:
            raise InvalidInputError(
                f"{path}: IDX file has {extra} trailing bytes after shape {shape} of {dtype.name}"
            )
    data = np.frombuffer(payload, dtype=dtype).reshape(out_shape)
    return data.astype(dtype.newbyteorder("="))


def _read_at_most(fh, n: int) -> bytes:
    """Up to ``n`` bytes of ``fh``, read in chunks so that a header promising more data
    than the file holds allocates only what is there."""
    chunks, left = [], n
    while left > 0:
        chunk = fh.read(min(left, _IDX_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
