"""Run the ngspice binary in batch mode and read what it says when it fails.

:func:`run_ngspice_batch` runs ``ngspice -b -r out.raw`` on a netlist string in a
scratch directory (the raw file is read by :mod:`pc_analog.spice.raw`) and turns
every failure ngspice reports into a :class:`~pc_analog.errors.BackendError`;
:func:`find_ngspice_error` and :func:`ngspice_error_block` pick ngspice's reason
out of its output (the first error line, or the whole report).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from pc_analog.errors import BackendError, BackendUnavailableError
from pc_analog.spice.raw import RawPlot, read_raw

__all__ = ["find_ngspice_error", "ngspice_error_block", "run_ngspice_batch"]


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
