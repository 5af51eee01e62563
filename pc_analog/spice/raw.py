"""Read ngspice raw files.

This module is deliberately small and depends on numpy only.  It reads the
raw files that ``ngspice -b -r out.raw netlist.cir`` writes (binary, the
default, or ASCII with ``.options filetype=ascii``), real plots (``.op``,
``.tran``, ``.dc``) and complex plots (``.ac``), and any number of plots in one
file.  Running ngspice in batch mode, and reading its error reports, is
:mod:`pc_analog.spice.batch`.

Layout written by ngspice 39 (``src/frontend/outitf.c``), one block per plot::

    Title: <circuit title, lower-cased>
    Date: <date>
    Plotname: Transient Analysis
    Flags: real                      (or "complex")
    No. Variables: 2
    No. Points: 5011                 (a "0       " placeholder until the plot ends)
    Variables:
    \\t0\\ttime\\ttime
    \\t1\\tv(x)\\tvoltage              (optional extra fields such as "grid=3")
    Binary:                          (or "Values:")
    <points x variables little-endian float64, row-major; 2 float64 per complex value>

In ASCII each point is ``"<index>\\t\\t<value>\\n"`` followed by one
``"\\t<value>\\n"`` line per remaining variable; complex values are written as
``re,im``.  Newer ngspice versions add a ``Command:`` line, which is ignored.

When ngspice aborts an analysis it never rewrites the ``No. Points``
placeholder, so the file declares 0 points yet carries data (or stops right
after ``Variables:``).  Both are reported as malformed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from pc_analog.errors import BackendError

__all__ = ["RawPlot", "parse_raw", "read_raw"]


@dataclass(frozen=True, eq=False)
class RawPlot:
    """One plot (one analysis) of an ngspice raw file.

    Attributes
    ----------
    title : str
        Circuit title as ngspice wrote it (ngspice lower-cases the deck).
    date : str
        The ``Date:`` header, verbatim.
    plotname : str
        Analysis name, e.g. ``"Transient Analysis"``, ``"Operating Point"``,
        ``"AC Analysis"``.
    flags : tuple of str
        Words of the ``Flags:`` header, lower-cased, e.g. ``("real",)``.
    variables : tuple of str
        Vector names in file order, as ngspice writes them: ``"time"``,
        ``"v(x1_0)"``, ``"i(v1)"``, ``"frequency"``.
    var_types : tuple of str
        Vector types in file order (``"time"``, ``"voltage"``, ``"current"``...).
    values : numpy.ndarray
        Read-only array of shape ``(n_points, n_variables)``; ``float64`` for
        real plots, ``complex128`` for complex ones.  In complex plots the
        imaginary part of a ``frequency`` column is set to 0 (ngspice writes
        uninitialised memory there).
    data : Mapping of str to numpy.ndarray
        Read-only mapping name -> column of `values` (a read-only view).  If a
        name occurs twice the first column wins.
    """

    title: str
    date: str
    plotname: str
    flags: tuple[str, ...]
    variables: tuple[str, ...]
    var_types: tuple[str, ...]
    values: np.ndarray = field(repr=False)
    data: Mapping[str, np.ndarray] = field(repr=False)

    @property
    def is_complex(self) -> bool:
        """bool : True if the plot holds complex values (``Flags: complex``)."""
        return "complex" in self.flags

    @property
    def n_points(self) -> int:
        """int : Number of points (rows of `values`)."""
        return int(self.values.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        """Return the column called `name` (same as ``self.data[name]``)."""
        return self.data[name]


# --------------------------------------------------------------------------- parsing


def _malformed(msg: str, offset: int) -> BackendError:
    return BackendError(f"malformed ngspice raw file at byte {offset}: {msg}")


def _next_line(buf: bytes, pos: int) -> tuple[str, int]:
    """Return the header line starting at `pos` (decoded, without EOL) and the next offset."""
    end = buf.find(b"\n", pos)
    if end < 0:
        raise _malformed("header line without newline (file truncated?)", pos)
    return buf[pos:end].decode("latin-1").rstrip("\r"), end + 1


def _skip_blank(buf: bytes, pos: int) -> int:
    n = len(buf)
    while pos < n and buf[pos] in b" \t\r\n":
        pos += 1
    return pos


def _parse_int(value: str, key: str, pos: int) -> int:
    try:
        out = int(value.strip())
    except ValueError:
        raise _malformed(f"{key}: expected an integer, got {value.strip()!r}", pos) from None
    if out < 0:
        raise _malformed(f"{key}: negative value {out}", pos)
    return out


def _parse_ascii_values(
    buf: bytes, pos: int, n_points: int, n_vars: int, is_complex: bool
) -> tuple[np.ndarray, int]:
    n_lines = n_points * n_vars
    if n_lines == 0:
        return np.zeros((n_points, n_vars), dtype=np.complex128 if is_complex else np.float64), pos
    # ngspice ends every value line with "\n"; a missing final newline means the
    # last number may have been cut, so it counts as truncation.
    parts = buf[pos:].split(b"\n", n_lines)
    if len(parts) <= n_lines:
        raise _malformed(
            f"ASCII values truncated: expected {n_lines} value lines "
            f"({n_points} points x {n_vars} variables), found {len(parts) - 1}",
            pos,
        )
    lines = parts[:n_lines]
    new_pos = len(buf) - len(parts[n_lines])
    joined = b" ".join(lines)
    if is_complex:
        joined = joined.replace(b",", b" ")
    toks = joined.split()
    per_point = 1 + n_vars * (2 if is_complex else 1)
    if len(toks) != n_points * per_point:
        raise _malformed(
            f"ASCII values: expected {n_points * per_point} tokens, found {len(toks)}", pos
        )
    arr = np.array(toks).reshape(n_points, per_point)
    try:
        idx = arr[:, 0].astype(np.int64)
        vals = arr[:, 1:].astype(np.float64)
    except ValueError as exc:
        raise _malformed(f"ASCII values: {exc}", pos) from None
    if not np.array_equal(idx, np.arange(n_points)):
        bad = int(np.flatnonzero(idx != np.arange(n_points))[0])
        raise _malformed(f"ASCII values: point {bad} is labelled {int(idx[bad])}", pos)
    if is_complex:
        vals = vals[:, 0::2] + 1j * vals[:, 1::2]
    return vals, new_pos


def _parse_one_plot(buf: bytes, pos: int) -> tuple[RawPlot, int]:
    """One plot of a raw file from byte ``pos``: ``(plot, position after it)``.

    Long because the header, the variable list and the binary or ASCII
    values are one sequential read whose every step checks the previous one's
    counts; split, the pieces would pass the half-parsed state between them.
    """
    start = pos
    head: dict[str, str] = {}
    names: list[str] = []
    types: list[str] = []
    fmt: str | None = None
    while fmt is None:
        if pos >= len(buf):
            raise _malformed(
                "file ends inside a plot header (ngspice aborted before writing data?)", start
            )
        line_pos = pos
        line, pos = _next_line(buf, pos)
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise _malformed(f"unexpected header line {line[:80]!r}", line_pos)
        key = key.strip().lower()
        if key in ("binary", "values"):
            fmt = key
        elif key == "variables":
            if "no. variables" not in head:
                raise _malformed("'Variables:' before 'No. Variables:'", line_pos)
            n_vars = _parse_int(head["no. variables"], "No. Variables", line_pos)
            pending = [value] if value.strip() else []
            while len(pending) < n_vars:
                if pos >= len(buf):
                    raise _malformed(
                        f"variable list truncated after {len(pending)} of {n_vars} "
                        "(ngspice aborted before writing data?)",
                        line_pos,
                    )
                vline, pos = _next_line(buf, pos)
                if vline.strip():
                    pending.append(vline)
            for i, vline in enumerate(pending):
                fields = vline.split()
                if len(fields) < 3 or fields[0] != str(i):
                    raise _malformed(f"bad variable line {i}: {vline.strip()[:80]!r}", line_pos)
                names.append(fields[1])
                types.append(fields[2])
        elif key in head:
            raise _malformed(f"duplicate header {key!r} (missing data block?)", line_pos)
        else:
            head[key] = value.strip()

    for required in ("plotname", "flags", "no. variables", "no. points"):
        if required not in head:
            raise _malformed(f"missing header {required!r}", start)
    n_vars = _parse_int(head["no. variables"], "No. Variables", start)
    n_points = _parse_int(head["no. points"], "No. Points", start)
    if len(names) != n_vars:
        raise _malformed(f"{len(names)} variables listed, {n_vars} declared", start)
    flags = tuple(w.lower() for w in head["flags"].split())
    is_complex = "complex" in flags
    if "real" not in flags and not is_complex:
        raise _malformed(f"unsupported Flags: {head['flags']!r}", start)
    if "unpadded" in flags:
        raise _malformed("unpadded raw files are not supported", start)

    if fmt == "binary":
        n_doubles = n_points * n_vars * (2 if is_complex else 1)
        n_bytes = 8 * n_doubles
        if pos + n_bytes > len(buf):
            raise _malformed(
                f"binary data truncated: {n_points} points x {n_vars} variables need "
                f"{n_bytes} bytes, {len(buf) - pos} available",
                pos,
            )
        flat = np.frombuffer(buf, dtype="<f8", count=n_doubles, offset=pos)
        if is_complex:
            values = flat.astype("<f8").view("<c16").astype(np.complex128)
        else:
            values = flat.astype(np.float64)
        values = values.reshape(n_points, n_vars)
        pos += n_bytes
    else:
        values, pos = _parse_ascii_values(buf, pos, n_points, n_vars, is_complex)

    # What follows must be nothing or the next plot.  Anything else means the
    # point count is wrong -- typically "No. Points: 0" left by an aborted run.
    nxt = _skip_blank(buf, pos)
    if nxt < len(buf) and not buf.startswith(b"Title:", nxt):
        hint = (
            " (header says 0 points: ngspice aborted before finalising the plot)"
            if n_points == 0
            else ""
        )
        raise _malformed(
            f"{len(buf) - nxt} unexpected bytes after plot {head['plotname']!r}{hint}", nxt
        )

    if is_complex:
        # ngspice never sets the imaginary part of the AC frequency scale: it is
        # uninitialised memory (measured: 1.6e-218, 1.5e-87, -5.5e-9 on three runs).
        for j, vtype in enumerate(types):
            if vtype.lower() == "frequency":
                values[:, j] = values[:, j].real
    values.setflags(write=False)
    data: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        data.setdefault(name, values[:, j])
    plot = RawPlot(
        title=head.get("title", ""),
        date=head.get("date", ""),
        plotname=head["plotname"],
        flags=flags,
        variables=tuple(names),
        var_types=tuple(types),
        values=values,
        data=MappingProxyType(data),
    )
    return plot, nxt


def parse_raw(buf: bytes) -> list[RawPlot]:
    """Parse the bytes of an ngspice raw file.

    Parameters
    ----------
    buf : bytes
        Whole file content, binary or ASCII raw format, one or more plots.

    Returns
    -------
    list of RawPlot
        The plots in file order.  ngspice 39 writes analyses in its own fixed
        order (e.g. ``.ac`` before ``.op`` before ``.tran``), not netlist order,
        so look plots up by `RawPlot.plotname`.

    Raises
    ------
    BackendError
        If the content is empty, truncated or malformed, including the
        ``No. Points: 0`` placeholder that an aborted ngspice run leaves behind.
    """
    buf = bytes(buf)
    pos = _skip_blank(buf, 0)
    if pos >= len(buf):
        raise BackendError("malformed ngspice raw file: empty")
    plots: list[RawPlot] = []
    while pos < len(buf):
        plot, pos = _parse_one_plot(buf, pos)
        plots.append(plot)
    return plots


def read_raw(path: str | os.PathLike[str]) -> list[RawPlot]:
    """Read an ngspice raw file from disk.

    Parameters
    ----------
    path : str or os.PathLike
        File written by ``ngspice -b -r path`` (or the ``write`` command).

    Returns
    -------
    list of RawPlot
        See :func:`parse_raw`.

    Raises
    ------
    BackendError
        If the file is missing, empty, truncated or malformed.
    """
    try:
        buf = Path(path).read_bytes()
    except OSError as exc:
        raise BackendError(f"cannot read ngspice raw file {os.fspath(path)!r}: {exc}") from exc
    try:
        return parse_raw(buf)
    except BackendError as exc:
        raise BackendError(f"{exc} [{os.fspath(path)}]") from None


# --------------------------------------------------------------------------- running


# Lines that merely echo user text (the title) or tabulate node voltages; a node
# or a title called "error" must not be taken for a failure.
