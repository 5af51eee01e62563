"""Read ngspice raw files and run ngspice in batch mode.

This module is deliberately small and depends on numpy only.  It reads the
raw files that ``ngspice -b -r out.raw netlist.cir`` writes (binary, the
default, or ASCII with ``.options filetype=ascii``), real plots (``.op``,
``.tran``, ``.dc``) and complex plots (``.ac``), and any number of plots in one
file.  :func:`run_ngspice_batch` runs the ngspice binary on a netlist string in
a scratch directory and turns every failure ngspice reports into a
:class:`~pc_analog.errors.BackendError`.

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
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from pc_analog.errors import BackendError, BackendUnavailableError

__all__ = [
    "RawPlot",
    "parse_raw",
    "read_raw",
    "find_ngspice_error",
    "ngspice_error_block",
    "run_ngspice_batch",
]


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

# Lines ngspice prints when an analysis failed or will be unreliable.  Matched
# per line (after splitting on \n and \r), case-insensitively.
_FATAL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"singular matrix",
        r"timestep too small",
        r"iteration limit reached",
        r"simulation\(s\) aborted",
        r"solution failed",  # "DC solution failed -", "Transient solution failed -"
        r"^\s*error\b",  # "Error: ...", "Error on line 4 ...", "ERROR - ..."
        r"^\s*fatal\b",
        r"^\s*panic\b",
        r"rawfile write error",
        r"circuit not parsed",
        r"no circuit loaded",
    )
)

# Lines that merely echo user text (the title) or tabulate node voltages; a node
# or a title called "error" must not be taken for a failure.
_IGNORED_LINE = re.compile(
    r"^\s*(circuit:|title:)"
    r"|^\s*\S+\s+[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?(\s+[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)?(\s+\*)?\s*$",
    re.IGNORECASE,
)


def find_ngspice_error(*texts: str) -> str | None:
    """Return the first line of ngspice output that reports a failure.

    Parameters
    ----------
    *texts : str
        Captured streams, searched in the given order (pass stderr first: that
        is where ngspice 39 prints its diagnostics).

    Returns
    -------
    str or None
        The stripped offending line, or None if nothing looks like a failure.

    Notes
    -----
    Recognised: ``singular matrix``, ``Timestep too small``, ``iteration limit
    reached``, ``simulation(s) aborted``, ``DC/Transient solution failed``,
    lines starting with ``Error``/``ERROR``/``Fatal``/``Panic``, ``circuit not
    parsed``.  Informational output of a successful ngspice 39 run is *not*
    matched: ``Note: No compatibility mode selected!``, ``Using transient
    initial conditions``, ``Reference value : ...`` progress, ``Note: Starting
    dynamic gmin stepping`` / ``Note: Transient op started`` and the like, the
    ``Circuit: <title>`` echo and the node-voltage tables.
    """
    for text in texts:
        for line in re.split(r"[\r\n]+", text):
            if not line.strip() or _IGNORED_LINE.search(line):
                continue
            if any(p.search(line) for p in _FATAL_PATTERNS):
                return line.strip()
    return None


# Lines of a successful run that say nothing about a failure.
_BENIGN_LINE = re.compile(
    r"^\s*(note:|reference value|circuit:|doing analysis at|no\. of data|binary raw file"
    r"|ascii raw file|warning: .*(compatibility|no compatibility))",
    re.IGNORECASE,
)
#: At most this many lines of ngspice's messages are quoted in an error.
ERROR_BLOCK_MAX_LINES = 24


def ngspice_error_block(*texts: str) -> str | None:
    """ngspice's whole error report: from the first failure line on, without noise.

    Parameters
    ----------
    *texts : str
        Captured streams (stderr first).

    Returns
    -------
    str or None
        The first line :func:`find_ngspice_error` finds, the lines that follow it up
        to the next blank line (the reason ngspice gives over several lines: the
        offending card, "Simulation interrupted due to error!"), then every later
        failure line (each kind once: repeated gmin steps count once); progress and
        notes dropped, at most :data:`ERROR_BLOCK_MAX_LINES` lines.  None if nothing
        failed.
    """
    first = find_ngspice_error(*texts)
    if first is None:
        return None
    lines = [ln.rstrip() for text in texts for ln in re.split(r"\r?\n|\r", text)]
    start = next(k for k, ln in enumerate(lines) if ln.strip() == first)
    block = [first]
    seen = {_shape(first)}
    k = start + 1
    while k < len(lines) and lines[k].strip():  # the reason, up to the next blank line
        if not _BENIGN_LINE.search(lines[k]) and _shape(lines[k]) not in seen:
            block.append(lines[k])
            seen.add(_shape(lines[k]))
        k += 1
    for ln in lines[k:]:  # later failures, each kind once
        if (
            ln.strip()
            and not _IGNORED_LINE.search(ln)
            and any(p.search(ln) for p in _FATAL_PATTERNS)
            and _shape(ln) not in seen
        ):
            block.append(ln.strip())
            seen.add(_shape(ln))
    return "\n".join(block[:ERROR_BLOCK_MAX_LINES])


def _shape(line: str) -> str:
    """A line with its numbers blanked: repeated gmin steps count once."""
    return re.sub(r"[-+]?\d[\d.]*(e[-+]?\d+)?", "#", line.strip().lower())


def _ngspice_binary() -> str:
    exe = shutil.which("ngspice")
    if exe is None:
        raise BackendUnavailableError(
            "ngspice binary not found on PATH (on Debian/Ubuntu: apt-get install ngspice)"
        )
    return exe


def run_ngspice_batch(
    netlist_text: str,
    *,
    timeout_s: float,
    workdir: str | os.PathLike[str] | None = None,
    progress=None,
) -> tuple[list[RawPlot], str, str, int]:
    """Run ``ngspice -b -n -r out.raw in.cir`` on a netlist and read the result.

    Parameters
    ----------
    netlist_text : str
        Complete netlist (title line first, ``.end`` last).  It is run as is:
        refuse ``.control`` blocks before calling this if the text is untrusted.
    timeout_s : float
        Wall-clock limit in seconds; on expiry ngspice is killed.
    workdir : str or os.PathLike, optional
        Directory for ``in.cir`` and ``out.raw`` (created if needed and kept,
        handy for debugging).  By default a temporary directory is used and
        removed afterwards.
    progress : callable, optional
        Called with each line ngspice prints while it runs (stderr and stdout,
        split on ``\\r`` and ``\\n``, e.g. ``Reference value : 1.2e-05``), from a
        reader thread.

    Returns
    -------
    plots : list of RawPlot
        Plots of the raw file, in file order.
    stdout : str
        Captured standard output.
    stderr : str
        Captured standard error (ngspice 39 prints diagnostics and the
        ``Reference value`` progress here).
    returncode : int
        Exit status (0 on success).

    Raises
    ------
    BackendUnavailableError
        If no ``ngspice`` executable is on ``PATH``.
    BackendError
        On timeout, nonzero exit status, a failure message in the output (see
        :func:`find_ngspice_error`), a missing/empty/malformed raw file, or a
        plot with no points.  The message quotes ngspice's whole error report
        (:func:`ngspice_error_block`, possibly several lines).

    Notes
    -----
    ``-n`` keeps ngspice from reading ``.spiceinit`` in the working or home
    directory, so results do not depend on the user's configuration; ngspice
    runs with the scratch directory as working directory and stdin closed.
    """
    exe = _ngspice_binary()
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="pc_analog_ngspice_") as tmp:
            return _run_in(exe, netlist_text, Path(tmp), timeout_s, progress)
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    return _run_in(exe, netlist_text, wd, timeout_s, progress)


def _communicate(proc, timeout_s: float, progress) -> tuple[bytes, bytes]:
    """``proc.communicate`` that also hands every line to ``progress`` as it comes."""
    if progress is None:
        return proc.communicate(timeout=timeout_s)
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def pump(stream, key):
        pending = b""
        for piece in iter(lambda: stream.read1(4096), b""):
            chunks[key].append(piece)
            pending += piece
            *done, pending = re.split(rb"[\r\n]", pending)
            for ln in done:
                if ln.strip():
                    try:
                        progress(ln.decode("utf-8", errors="replace"))
                    except Exception:  # noqa: BLE001 - a display must not break the run
                        pass

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True),
    ]
    for t in threads:
        t.start()
    proc.wait(timeout=timeout_s)  # TimeoutExpired: the caller kills the group
    for t in threads:
        t.join()
    return b"".join(chunks["out"]), b"".join(chunks["err"])


def _run_in(
    exe: str, netlist_text: str, wd: Path, timeout_s: float, progress=None
) -> tuple[list[RawPlot], str, str, int]:
    cir, raw = wd / "in.cir", wd / "out.raw"
    if raw.exists():
        raw.unlink()
    text = netlist_text if netlist_text.endswith("\n") else netlist_text + "\n"
    cir.write_text(text, encoding="utf-8")
    proc = subprocess.Popen(
        [exe, "-b", "-n", "-r", raw.name, cir.name],
        cwd=wd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own process group, so a timeout kills everything
    )
    try:
        out_b, err_b = _communicate(proc, timeout_s, progress)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if progress is not None:
            proc.wait()
        else:
            proc.communicate()
        raise BackendError(f"ngspice timed out after {timeout_s:g} s") from None
    stdout = out_b.decode("utf-8", errors="replace")
    stderr = err_b.decode("utf-8", errors="replace")
    rc = proc.returncode

    problem = ngspice_error_block(stderr, stdout)
    if rc != 0:
        if problem is None:
            tail = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
            problem = tail[-1] if tail else "no output"
        status = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        raise BackendError(f"ngspice {status}: {problem}")
    if problem is not None:
        raise BackendError(f"ngspice reported: {problem}")
    if not raw.exists() or raw.stat().st_size == 0:
        raise BackendError("ngspice wrote no raw file (no analysis in the netlist?)")
    plots = read_raw(raw)
    for p in plots:
        if p.n_points == 0:
            raise BackendError(f"ngspice produced no points for {p.plotname!r}")
    return plots, stdout, stderr, rc
