"""The ``ngspice`` backend: compiled netlists settled by ngspice itself.

Three layers, downstream of :mod:`pc_analog.spice.netlist` (which writes the decks):

:func:`check_netlist`
    Refuses netlists that would make ngspice do more than simulate: ``.control``
    / ``.endc`` / ``.exec`` blocks, ``*#`` command lines, a ``*ng_script`` deck,
    ``shell`` / ``system`` commands, and ``.include`` / ``.lib`` files outside the
    netlist's folder.  ``ngspice -b`` executes ``.control`` blocks and ``*#``
    lines (``shell`` included), and the shared library runs them while loading
    the circuit, so untrusted text must pass this check before either path sees it.

:func:`run_netlist`
    Runs one deck, either in process through PySpice's ``NgSpiceShared`` (one
    ngspice per process, reused under a lock, started without any ``.spiceinit``;
    ~2-5 ms fixed cost) or as a subprocess ``ngspice -b -n -r``
    (:func:`pc_analog.spice.raw.run_ngspice_batch`; ~15-20 ms fixed cost, killed
    on timeout, runs in parallel across processes).
    Both return a :class:`SpiceRun` with the same vector names: bare node names
    (``x1_0``), ``time``, and ``v1#branch`` for source currents.  ngspice's own
    failures (singular matrix, time step too small, parse errors, a transient that
    stopped short of its end time) raise :class:`~pc_analog.errors.BackendError`
    with the first relevant ngspice line.

:class:`NgspiceBackend`
    ``settle(circuit, backend="ngspice")``: writes one deck per sample, runs them,
    and reads the activity nodes ``x<l>_<i>`` back as a :class:`SettleResult`
    with the trajectory, the SPEC settling time and the equilibrium.

PySpice is imported lazily, only when the shared path is first used.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from pc_analog.circuit.ir import Circuit, node_name
from pc_analog.errors import (
    BackendError,
    BackendUnavailableError,
    ConvergenceWarning,
    InvalidInputError,
)
from pc_analog.model.energy import energy
from pc_analog.solvers.base import Backend, SettleResult
from pc_analog.solvers.dynamics import FreeIndex, energy_trace, residual_max
from pc_analog.solvers.equilibrium import solve_equilibrium
from pc_analog.solvers.transient import SETTLE_BAND_DEFAULT, settling_time
from pc_analog.spice.raw import find_ngspice_error, run_ngspice_batch

__all__ = [
    "SpiceRun",
    "check_netlist",
    "run_netlist",
    "run_netlists",
    "shared_available",
    "NgspiceBackend",
    "MODES",
]

MODES = ("auto", "shared", "subprocess")

#: How to install what this backend needs on Debian/Ubuntu.
INSTALL_HINT = "apt-get install ngspice libngspice0-dev"

#: "auto" runs decks larger than this in a subprocess (the shared library keeps
#: the whole deck and its output in this process's memory).
AUTO_MAX_LINES = 20_000
AUTO_MAX_BYTES = 2_000_000

#: A transient must end at ``t >= t_stop (1 - TSTOP_RTOL)``.
TSTOP_RTOL = 1e-9

#: A sample whose start is this close (volts, max norm) to the equilibrium starts at
#: rest: settling time 0.  It is the decks' ``vntol``, ngspice's voltage resolution,
#: below which the SPEC band ``delta * |x(0) - x*|`` cannot be resolved.
AT_REST_V = 1e-9

#: Default wall-clock limit of one ngspice run (seconds).
TIMEOUT_DEFAULT_S = 600.0

#: The common time grid of a batch is the union of the samples' time points unless
#: the resampled trajectory would exceed this many float64 values; then sample 0's grid.
_UNION_MAX_VALUES = 50_000_000

# Seconds to wait for ngspice's background thread to stop after ``bg_halt``.
_HALT_WAIT_S = 10.0

_log = logging.getLogger(__name__)


# =========================================================================== results


@dataclass(frozen=True, eq=False)
class SpiceRun:
    """What one ngspice run produced.

    Attributes
    ----------
    plots : Mapping of str to Mapping of str to ndarray
        Every plot ngspice made, keyed by analysis kind (``"tran"``, ``"op"``,
        ``"ac"``, ``"dc"``, ...; a second plot of one kind gets ``"tran2"``), in
        ngspice's order.  Each maps vector name to a read-only array: ``"time"``
        (or ``"frequency"``...), bare node names (``"x1_0"``) and source currents
        (``"v1#branch"``), the same names in both modes.
    time : ndarray or None
        The transient's time points (seconds), if a ``.tran`` ran.
    voltages : Mapping of str to ndarray
        Node voltages of the transient (node name -> array over ``time``); empty
        without a ``.tran``.
    op : Mapping of str to float or None
        The operating point (node voltages and ``#branch`` currents), if an
        ``.op`` ran.
    stdout, stderr : str
        ngspice's messages (in shared mode as the library delivered them).
    mode : {"shared", "subprocess"}
        The path that actually ran.
    seconds : float
        Wall time of the run (load, simulate, read, clean up).
    note : str
        Why ``"auto"``/``"shared"`` ran as a subprocess (empty otherwise).
    """

    plots: Mapping[str, Mapping[str, np.ndarray]]
    time: np.ndarray | None
    voltages: Mapping[str, np.ndarray]
    op: Mapping[str, float] | None
    stdout: str
    stderr: str
    mode: str
    seconds: float
    note: str = ""

    @property
    def t_end_s(self) -> float | None:
        """float or None : The transient's last time point."""
        return None if self.time is None or self.time.size == 0 else float(self.time[-1])

    def final_voltages(self) -> dict[str, float]:
        """Node voltages at the end of the transient, else at the operating point."""
        if self.time is not None:
            return {k: float(v[-1]) for k, v in self.voltages.items()}
        if self.op is not None:
            return {k: v for k, v in self.op.items() if _is_node(k)}
        return {}


def _is_node(name: str) -> bool:
    return (
        "#" not in name
        and not name.startswith("@")
        and name not in ("time", "frequency", "temp-sweep", "v-sweep", "i-sweep")
    )


# =========================================================================== netlist text

_SUFFIX = (
    ("meg", 1e6),
    ("mil", 25.4e-6),
    ("t", 1e12),
    ("g", 1e9),
    ("k", 1e3),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
    ("a", 1e-18),
)
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)([a-z]*)$", re.IGNORECASE)


def _spice_number(token: str) -> float | None:
    """A SPICE number with an optional scale suffix (``5m``, ``2.5e-05``, ``1meg``, ``10ns``)."""
    m = _NUMBER.match(token.strip())
    if not m:
        return None
    value = float(m.group(1))
    suffix = m.group(2).lower()
    for s, scale in _SUFFIX:
        if suffix.startswith(s):
            return value * scale
    return value


def _physical_lines(text: str) -> list[str]:
    # str.splitlines splits on more characters than ngspice does (\r, \v, \f, ...):
    # that can only create extra line starts, i.e. make the check stricter.
    return text.splitlines()


def _strip(line: str) -> str:
    """A line as ngspice compares it: leading blanks (and a BOM) dropped, lower case."""
    return line.lstrip().lstrip("\ufeff").lstrip().lower()


def _logical_lines(lines: list[str]) -> list[tuple[int, str, list[int]]]:
    """Continuation lines (``+``) joined: ``(first line index, text, line indices)``."""
    out: list[tuple[int, str, list[int]]] = []
    for k, line in enumerate(lines):
        s = line.lstrip()
        if s.startswith("+") and out:
            first, text, idx = out[-1]
            out[-1] = (first, text + " " + s[1:], idx + [k])
        else:
            out.append((k, line, [k]))
    return out


def _tran_stop(text: str) -> float | None:
    """``tstop`` of the deck's ``.tran`` (None if there is none or it is not a plain number)."""
    for _, line, _ in _logical_lines(_physical_lines(text)):
        s = _strip(line)
        if s.startswith(".tran"):
            toks = s.split()
            if len(toks) >= 3:
                return _spice_number(toks[2])
    return None


def _has_card(text: str, card: str) -> bool:
    return any(_strip(ln).split()[:1] == [card] for ln in _physical_lines(text))


# =========================================================================== safety

_CONTROL_START = (".control", ".endc", ".exec")
_SHELL_WORD = re.compile(r"(?<![a-z0-9])(shell|system)(?![a-z0-9])")
_FIRST_WORD_SHELL = re.compile(r"(shell|system)(?![a-z0-9_])")
_MAX_INCLUDE_DEPTH = 16


def _include_target(rest: str) -> tuple[str | None, str]:
    """The file name after ``.include``/``.lib`` (quoted or not) and what follows it."""
    rest = rest.strip()
    if not rest:
        return None, ""
    if rest[0] in "\"'":
        end = rest.find(rest[0], 1)
        if end < 0:
            return rest[1:], ""
        return rest[1:end], rest[end + 1 :]
    parts = rest.split(None, 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _check_text(
    text: str,
    *,
    where: str,
    base: Path | None,
    root: Path | None,
    allow_control: bool,
    depth: int,
    seen: set[Path],
    rewrite: bool,
) -> str:
    if depth > _MAX_INCLUDE_DEPTH:
        raise InvalidInputError(f"{where}: .include nested deeper than {_MAX_INCLUDE_DEPTH}")
    lines = _physical_lines(text)
    hint = " (pass --allow-control / allow_control=True only for a trusted netlist)"

    # Pass 1, physical lines: control blocks, command lines, shell words.
    in_control = False
    for k, line in enumerate(lines):
        s = _strip(line)
        n = k + 1
        if s.startswith("*ng_script"):
            if not allow_control:
                raise InvalidInputError(
                    f"{where} line {n}: '*ng_script' makes ngspice run the file as a "
                    f"command script; refused{hint}"
                )
            in_control = True
        if s.startswith(_CONTROL_START):
            if not allow_control:
                word = s.split()[0]
                raise InvalidInputError(
                    f"{where} line {n}: '{word}' block runs ngspice commands; refused{hint}"
                )
            in_control = not s.startswith(".endc")
            continue
        command = in_control
        body = s
        if s.startswith("*#"):
            if not allow_control:
                raise InvalidInputError(
                    f"{where} line {n}: '*#' lines are ngspice commands; refused{hint}"
                )
            command, body = True, s[2:].lstrip()
        elif s.startswith("+"):
            body = s[1:].lstrip()
        if _FIRST_WORD_SHELL.match(body) or (command and _SHELL_WORD.search(body)):
            raise InvalidInputError(f"{where} line {n}: 'shell'/'system' command refused")

    # Pass 2, logical lines: files read by .include / .lib.
    out_lines = list(lines)
    changed = False
    for first, line, idx in _logical_lines(lines):
        s = line.lstrip().lstrip("\ufeff").lstrip()
        low = s.lower()
        if not (low.startswith(".inc") or low.startswith(".lib")):
            continue
        n = first + 1
        words = s.split(None, 1)
        keyword, rest = words[0], (words[1] if len(words) > 1 else "")
        name, after = _include_target(rest)
        if low.startswith(".lib") and name and not after.strip():
            continue  # ".lib <section>" opens a section of a library file: nothing is read
        if not name:
            raise InvalidInputError(f"{where} line {n}: {keyword} without a file name")
        target = Path(os.path.expanduser(name))  # ngspice expands ~ too
        if not target.is_absolute():
            if base is None:
                raise InvalidInputError(
                    f"{where} line {n}: {keyword} {name!r} with no folder to resolve it in"
                )
            target = base / target
        resolved = target.resolve()
        if root is None or not _is_within(resolved, root):
            raise InvalidInputError(
                f"{where} line {n}: {keyword} {name!r} points outside the netlist's folder "
                f"({root}); refused"
            )
        if not resolved.is_file():
            raise InvalidInputError(
                f"{where} line {n}: {keyword} {name!r}: no such file in the netlist's folder"
            )
        if resolved not in seen:
            seen.add(resolved)
            try:
                sub = resolved.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise InvalidInputError(
                    f"{where} line {n}: cannot read {name!r}: {exc.strerror or exc}"
                ) from None
            _check_text(
                sub,
                where=f"{resolved.name}",
                base=resolved.parent,
                root=root,
                allow_control=allow_control,
                depth=depth + 1,
                seen=seen,
                rewrite=False,
            )
        if rewrite:
            if '"' in str(resolved):
                raise InvalidInputError(f"{where} line {n}: {keyword}: a '\"' in the file name")
            out_lines[idx[0]] = f'{keyword} "{resolved}" {after.strip()}'.rstrip()
            for j in idx[1:]:
                out_lines[j] = "*"
            changed = True
    if not (rewrite and changed):
        return text
    # Lines were split as str.splitlines does (on more separators than ngspice);
    # every piece passed the checks above, so joining them with "\n" adds nothing unsafe.
    return "\n".join(out_lines) + ("\n" if text.endswith(("\n", "\r")) else "")


def check_netlist(
    text: str, folder: str | os.PathLike[str] | None, allow_control: bool = False
) -> str:
    """Refuse a netlist that would make ngspice do more than simulate.

    Parameters
    ----------
    text : str
        The deck (title line first).
    folder : str or os.PathLike or None
        The netlist's folder: relative ``.include``/``.lib`` paths resolve here,
        and every included file must lie inside it.  None: no includes allowed.
    allow_control : bool
        Let ``.control``/``.endc``/``.exec`` blocks, ``*#`` command lines and a
        ``*ng_script`` deck through (for trusted netlists only: control scripts can
        write files).  ``shell``/``system`` and includes outside `folder` are
        refused even then.

    Returns
    -------
    str
        The deck to run: `text` itself, or, if it includes files, `text` with
        every ``.include``/``.lib`` path made absolute (so the deck means the
        same in a scratch directory, in this process, and without ngspice's
        ``sourcepath`` search).  Run this text, not the original.

    Raises
    ------
    InvalidInputError
        One line naming the line number: a ``.control``/``.endc``/``.exec``
        line, a ``*#`` line (ngspice executes these even in batch mode), a
        ``*ng_script`` line, a ``shell``/``system`` command (as a line's first
        word, or anywhere in a control line), an ``.include``/``.lib`` (any card
        starting with ``.inc`` or ``.lib``, as ngspice matches them) that is
        missing its file name, resolves (after ``~`` expansion, ``..`` and
        symlinks) outside `folder`, or names no existing file.  Included files are
        checked the same way, recursively.  A one-word ``.lib <section>`` (a
        section header inside a library file) reads nothing and passes.

    Notes
    -----
    Matching is case-insensitive, ignores leading blanks, joins ``+``
    continuation lines for file names, and looks at every line, including the
    title and lines after ``.end``.  Decks written by pc-analog (``* generator:
    pc-analog``) are checked too; they contain none of these.
    """
    root = None
    if folder is not None:
        root = Path(folder).expanduser().resolve()
    return _check_text(
        text,
        where="netlist",
        base=root,
        root=root,
        allow_control=bool(allow_control),
        depth=0,
        seen=set(),
        rewrite=True,
    )


# =========================================================================== shared mode

_SHARED_LOCK = threading.Lock()
_SHARED = None  # the one _QuietNgSpice of this process
_SHARED_FAILURE: str | None = None  # why the shared library cannot be used (final)


def _make_shared_class():
    """Define the PySpice subclass (PySpice is imported here, not at module import)."""
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi

    class _QuietNgSpice(NgSpiceShared):
        """``NgSpiceShared`` that collects ngspice's messages without judging them.

        PySpice flags any stdout line containing "error" (a title or node name)
        and any stderr line not starting with "Warning:" (informational notes of
        successful runs), then raises; here every message is only collected and
        :func:`find_ngspice_error` classifies it.  ngspice's background-thread
        callback receives *true when the thread has stopped* (its argument means
        "no run"); PySpice reads it the other way round and returns None, which
        cffi reports.
        """

        @staticmethod
        def _send_char(message_c, ngspice_id, user_data):
            self = ffi.from_handle(user_data)
            message = ffi.string(message_c).decode("utf-8", errors="replace")
            prefix, _, content = message.partition(" ")
            if prefix == "stderr":
                self._stderr.append(content)
            elif prefix == "stdout":
                self._stdout.append(content)
            else:  # e.g. the "Reference value" progress comes without a prefix
                self._stdout.append(message)
            return 0

        @staticmethod
        def _background_thread_running(no_run, ngspice_id, user_data):
            self = ffi.from_handle(user_data)
            self._is_running = not bool(no_run)
            if no_run:
                self._pc_done.set()
            return 0

        @staticmethod
        def _exit(exit_status, immediate_unloading, quit_exit, ngspice_id, user_data):
            self = ffi.from_handle(user_data)
            self._pc_exited = (int(exit_status), bool(immediate_unloading), bool(quit_exit))
            return int(exit_status)

        def _pc_command(self, command: str) -> None:
            rc = self._ngspice_shared.ngSpice_Command(command.encode("ascii"))
            self._number_of_exec_calls += 1
            if self._number_of_exec_calls > self.NUMBER_OF_EXEC_CALLS_TO_RELEASE_MEMORY:
                self._ngspice_shared.ngSpice_Command(ffi.NULL)  # trims ngspice's history
                self._number_of_exec_calls = 0
            if rc:
                raise BackendError(f"ngspice (shared) refused the command {command!r} (rc {rc})")

        def _pc_running(self) -> bool:
            return bool(self._ngspice_shared.ngSpice_running())

        def _pc_plots(self) -> list[str]:
            return [p for p in self.plot_names if p != "const"]

        def _pc_vectors(self, plot: str) -> dict[str, np.ndarray]:
            lib = self._ngspice_shared
            names_c = lib.ngSpice_AllVecs(plot.encode("utf-8"))
            out: dict[str, np.ndarray] = {}
            i = 0
            while names_c[i] != ffi.NULL:
                name = ffi.string(names_c[i]).decode("utf-8", errors="replace")
                i += 1
                info = lib.ngGet_Vec_Info(f"{plot}.{name}".encode())
                if info == ffi.NULL:
                    continue
                n = int(info.v_length)
                if info.v_realdata != ffi.NULL:
                    buf = ffi.buffer(info.v_realdata, 8 * n)
                    arr = np.frombuffer(buf, dtype=np.float64).copy()
                elif info.v_compdata != ffi.NULL:
                    raw = np.frombuffer(ffi.buffer(info.v_compdata, 16 * n), dtype=np.float64)
                    arr = raw[0::2] + 1j * raw[1::2]
                else:
                    arr = np.zeros(0)
                out[_normalise_name(name)] = arr
            return out

    return _QuietNgSpice


def _library_candidates(cls) -> list[str]:
    path = cls.LIBRARY_PATH or "libngspice{}.so"
    first = path.format("")
    out = [first]
    if "NGSPICE_LIBRARY_PATH" not in os.environ and first == "libngspice.so":
        out.append("libngspice.so.0")  # Debian's libngspice0 without the -dev symlink
    return out


def _shared_instance():
    """The process's ngspice (created on first use); raises _SharedUnavailable."""
    global _SHARED, _SHARED_FAILURE
    if _SHARED is not None:
        return _SHARED
    if _SHARED_FAILURE is not None:
        raise _SharedUnavailable(_SHARED_FAILURE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls = _make_shared_class()
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared
    except Exception as exc:  # ImportError, or PySpice failing at import
        _SHARED_FAILURE = f"PySpice is not usable ({type(exc).__name__}: {exc})"
        raise _SharedUnavailable(_SHARED_FAILURE) from None
    if NgSpiceShared._instances:
        _SHARED_FAILURE = "another PySpice NgSpiceShared instance owns ngspice in this process"
        raise _SharedUnavailable(_SHARED_FAILURE)
    # A failed dlopen cannot be retried in-process (cffi keeps the declarations), so
    # probe the candidates with ctypes first.
    lib = None
    errors = []
    for cand in _library_candidates(cls):
        try:
            ctypes.CDLL(cand)
        except OSError as exc:
            errors.append(str(exc))
            continue
        lib = cand
        break
    if lib is None:
        _SHARED_FAILURE = f"the ngspice shared library cannot be loaded ({'; '.join(errors)})"
        raise _SharedUnavailable(_SHARED_FAILURE)
    cls.LIBRARY_PATH = lib
    pylog = logging.getLogger("PySpice")
    old_level = pylog.level
    pylog.setLevel(logging.CRITICAL)  # "Unsupported Ngspice version 39" is harmless
    try:
        ng = _init_without_spiceinit(cls)
    except Exception as exc:
        _SHARED_FAILURE = f"loading {lib} failed ({type(exc).__name__}: {exc})"
        raise _SharedUnavailable(_SHARED_FAILURE) from None
    finally:
        pylog.setLevel(old_level)
    ng._pc_done = threading.Event()
    ng._pc_exited = None
    _SHARED = ng
    return ng


def _init_without_spiceinit(cls):
    """Create the instance the way ``ngspice -n`` starts: without any ``.spiceinit``.

    When the library initialises it sources ``./.spiceinit`` if the working
    directory has one, else ``~/.spiceinit`` (measured: a ``shell`` command in
    ``./.spiceinit`` ran).  So initialise inside a scratch directory whose own
    ``.spiceinit`` is empty: nothing from the caller's directory or home runs, and
    shared and subprocess runs use the same settings.  (The working directory is
    changed for the duration of the call, once per process, under the lock.)
    """
    try:
        old = os.getcwd()
    except OSError:  # the working directory was deleted: nothing can be read from it
        return cls(ngspice_id=0)
    with tempfile.TemporaryDirectory(prefix="pc_analog_ngspice_") as tmp:
        Path(tmp, ".spiceinit").write_text("* intentionally empty (pc-analog)\n")
        os.chdir(tmp)
        try:
            return cls(ngspice_id=0)
        finally:
            os.chdir(old)


class _SharedUnavailable(Exception):
    pass


class _NgspiceExited(Exception):
    pass


def _fatal_exit(ng) -> bool:
    """Whether ngspice called its exit callback for good (``quit``, or asking to be unloaded).

    A parse error that ngspice 39 treats as fatal ("Could not find library file",
    exit status 1) also calls it, with both flags false; ngspice then returns from
    ``ngSpice_Circ`` with 1 and stays usable (measured), so that is an ordinary failure.
    """
    flags = ng._pc_exited
    return flags is not None and (flags[1] or flags[2])


def shared_available() -> tuple[bool, str]:
    """Whether the shared library can be used in this process, and if not, why.

    The first call loads it (~0.2 s).
    """
    with _SHARED_LOCK:
        try:
            _shared_instance()
        except _SharedUnavailable as exc:
            return False, str(exc)
    return True, ""


def _mark_shared_broken(reason: str) -> None:
    global _SHARED, _SHARED_FAILURE
    _SHARED_FAILURE = reason
    _SHARED = None


def _run_shared(text: str, timeout_s: float) -> tuple[dict, str, str]:
    """Load, run (in ngspice's background thread, halted on timeout), read, clean up."""
    with _SHARED_LOCK:
        ng = _shared_instance()
        out: list[str] = []
        err: list[str] = []
        timed_out = False
        try:
            ng.clear_output()
            ng._pc_exited = None
            lines = [ln for ln in text.splitlines() if ln.strip()]
            try:
                ng.load_circuit("\n".join(lines))  # no flags are set, so no false alarms
            except NameError:  # PySpice: ngSpice_Circ returned nonzero
                if _fatal_exit(ng):
                    raise _NgspiceExited() from None
                problem = find_ngspice_error("\n".join(ng._stderr), "\n".join(ng._stdout))
                raise BackendError(
                    f"ngspice (shared) could not load the deck: {problem or 'no message'}"
                ) from None
            out += ng._stdout
            err += ng._stderr
            if _fatal_exit(ng):  # "quit" in a .control block
                raise _NgspiceExited()
            ng.clear_output()
            ng._pc_done.clear()
            ng._pc_command("bg_run")
            if not ng._pc_done.wait(timeout_s):
                timed_out = True
                ng._pc_command("bg_halt")
                ng._pc_done.wait(_HALT_WAIT_S)
            # the callback fires just before the thread ends; wait for the flag too
            deadline = time.monotonic() + _HALT_WAIT_S
            while ng._pc_running():
                if time.monotonic() > deadline:
                    _mark_shared_broken("ngspice's background thread did not stop")
                    raise BackendError(
                        f"ngspice (shared) did not stop after bg_halt ({timeout_s:g} s limit)"
                    )
                time.sleep(1e-4)
            out += ng._stdout
            err += ng._stderr
            plots = {p: ng._pc_vectors(p) for p in reversed(ng._pc_plots())}
        except _NgspiceExited:
            pass  # reported below
        finally:
            if _fatal_exit(ng):
                # ngspice ran its exit path: any further command may crash the process.
                _mark_shared_broken(
                    f"ngspice exited (status {ng._pc_exited[0]}) in an earlier run; "
                    "it cannot be restarted in this process"
                )
            if _SHARED is ng:
                ng.clear_output()
                try:
                    ng._pc_command("destroy all")
                    ng._pc_command("remcirc")
                except BackendError:
                    pass
                ng.clear_output()
        if _fatal_exit(ng):
            status = ng._pc_exited[0]
            problem = find_ngspice_error("\n".join(err), "\n".join(out))
            raise BackendError(
                f"ngspice (shared) exited with status {status}"
                + (f": {problem}" if problem else " (a 'quit' command?)")
                + "; later runs in this process use subprocesses"
            )
        if timed_out:
            raise BackendError(f"ngspice timed out after {timeout_s:g} s")
    return plots, "\n".join(out), "\n".join(err)


# =========================================================================== both modes

_BATCH_PLOT_KINDS = {
    "transient analysis": "tran",
    "operating point": "op",
    "ac analysis": "ac",
    "dc transfer characteristic": "dc",
    "noise spectral density curves": "noise",
    "integrated noise": "noise",
    "transfer function": "tf",
    "sensitivity analysis": "sens",
    "pole-zero analysis": "pz",
    "distortion analysis": "disto",
}
_BRANCH = re.compile(r"^i\((.+)\)$", re.IGNORECASE)
_VOLT = re.compile(r"^v\((.+)\)$", re.IGNORECASE)


def _normalise_name(name: str) -> str:
    """Batch raw names ``v(x)``/``i(v1)`` as the shared library names them: ``x``/``v1#branch``."""
    m = _VOLT.match(name)
    if m and "," not in m.group(1):
        return m.group(1)
    m = _BRANCH.match(name)
    if m:
        return f"{m.group(1)}#branch"
    return name


def _natural_key(name: str):
    """``x2_10`` after ``x2_9``: digit runs compare as numbers."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]


def _plot_kind(name: str) -> str:
    low = name.strip().lower()
    if low in _BATCH_PLOT_KINDS:
        return _BATCH_PLOT_KINDS[low]
    return re.sub(r"\d+$", "", low) or low


def _assemble(
    raw_plots: list[tuple[str, dict[str, np.ndarray]]],
    text: str,
    stdout: str,
    stderr: str,
    mode: str,
    seconds: float,
    note: str,
) -> SpiceRun:
    plots: dict[str, Mapping[str, np.ndarray]] = {}
    for name, vectors in raw_plots:
        kind = _plot_kind(name)
        key, k = kind, 1
        while key in plots:
            k += 1
            key = f"{kind}{k}"
        vecs = {}
        for vname in sorted(vectors, key=_natural_key):
            arr = vectors[vname]
            arr = np.asarray(arr)
            arr.setflags(write=False)
            vecs[vname] = arr
        plots[key] = MappingProxyType(vecs)

    t = None
    voltages: dict[str, np.ndarray] = {}
    if "tran" in plots:
        tran = plots["tran"]
        if "time" not in tran:
            raise BackendError("ngspice produced a transient without a time vector")
        t = np.real(tran["time"])
        if t.size == 0:
            raise BackendError("ngspice produced no points for the transient")
        t_stop = _tran_stop(text)
        if t_stop is not None and t[-1] < t_stop * (1 - TSTOP_RTOL):
            problem = find_ngspice_error(stderr, stdout)
            raise BackendError(
                f"ngspice stopped the transient at t = {t[-1]:.6g} s of {t_stop:.6g} s"
                + (f": {problem}" if problem else "")
            )
        voltages = {k: np.real(v) for k, v in tran.items() if _is_node(k)}
    elif _has_card(text, ".tran"):
        problem = find_ngspice_error(stderr, stdout)
        raise BackendError(f"ngspice produced no transient: {problem or 'no message'}")
    op = None
    if "op" in plots:
        op = {k: float(np.real(v[0])) for k, v in plots["op"].items() if v.size}
    elif _has_card(text, ".op"):
        problem = find_ngspice_error(stderr, stdout)
        raise BackendError(f"ngspice produced no operating point: {problem or 'no message'}")
    return SpiceRun(
        plots=MappingProxyType(plots),
        time=t,
        voltages=MappingProxyType(voltages),
        op=MappingProxyType(op) if op is not None else None,
        stdout=stdout,
        stderr=stderr,
        mode=mode,
        seconds=seconds,
        note=note,
    )


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InvalidInputError(f"mode: unknown {mode!r} (known: {', '.join(MODES)})")


def _is_large(text: str) -> bool:
    return len(text) > AUTO_MAX_BYTES or text.count("\n") > AUTO_MAX_LINES


def _choose(text: str, mode: str) -> tuple[str, str]:
    """``(mode to run, note)`` for a requested mode."""
    if mode == "subprocess":
        return "subprocess", ""
    if mode == "auto" and _is_large(text):
        if shutil.which("ngspice") is not None:
            return "subprocess", ""
        note = "large netlist, but no ngspice binary: ran in shared mode"
        mode = "shared"
    else:
        note = ""
    with _SHARED_LOCK:
        try:
            _shared_instance()
            return "shared", note
        except _SharedUnavailable as exc:
            reason = str(exc)
    if shutil.which("ngspice") is None:
        raise BackendUnavailableError(
            f"ngspice is not available: no ngspice binary on PATH and {reason} "
            f"(on Debian/Ubuntu: {INSTALL_HINT})"
        )
    return "subprocess", f"shared mode unavailable, ran as a subprocess: {reason}"


def _run_subprocess(text: str, timeout_s: float, workdir) -> tuple[list, str, str]:
    if shutil.which("ngspice") is None:
        raise BackendUnavailableError(
            f"ngspice binary not found on PATH (on Debian/Ubuntu: {INSTALL_HINT})"
        )
    plots, stdout, stderr, _ = run_ngspice_batch(text, timeout_s=timeout_s, workdir=workdir)
    raw = [(p.plotname, {_normalise_name(k): p.data[k] for k in p.variables}) for p in plots]
    return raw, stdout, stderr


def run_netlist(
    text: str,
    *,
    mode: str = "auto",
    timeout_s: float = TIMEOUT_DEFAULT_S,
    workdir: str | os.PathLike[str] | None = None,
) -> SpiceRun:
    """Run one ngspice deck and read every vector it produced.

    Parameters
    ----------
    text : str
        The deck, run as it is: pass untrusted text through :func:`check_netlist`
        first (``.control`` blocks and ``*#`` lines execute commands).
    mode : {"auto", "shared", "subprocess"}
        ``"shared"``: in this process through PySpice's ``NgSpiceShared`` (one
        instance per process, reused under a lock, cleaned after every run).
        ``"subprocess"``: ``ngspice -b -n -r`` in a scratch directory.
        ``"auto"``: a subprocess for decks over 20 000 lines or 2 MB, else shared.
        If the shared library cannot be loaded (PySpice or libngspice missing, or a
        failed load, which cannot be retried in one process), ``"auto"`` and
        ``"shared"`` run a subprocess and say why in :attr:`SpiceRun.note`.
    timeout_s : float
        Wall-clock limit; the subprocess is killed, the shared run halted.
    workdir : str or os.PathLike, optional
        Subprocess mode: directory kept with ``in.cir`` and ``out.raw``.  Shared
        mode: ``in.cir`` is written there for reference.

    Returns
    -------
    SpiceRun

    Raises
    ------
    BackendError
        ngspice reported a failure (the message quotes its first relevant line),
        timed out, or ended a transient before its stop time.
    BackendUnavailableError
        Neither the shared library nor the ngspice binary is available.
    InvalidInputError
        For an unknown mode or a non-positive timeout.
    """
    _check_mode(mode)
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0 and math.isfinite(timeout_s)):
        raise InvalidInputError(f"timeout_s: must be a positive number, got {timeout_s!r}")
    chosen, note = _choose(text, mode)
    t0 = time.perf_counter()
    if chosen == "shared":
        if workdir is not None:
            Path(workdir).mkdir(parents=True, exist_ok=True)
            (Path(workdir) / "in.cir").write_text(text, encoding="utf-8")
        plots, stdout, stderr = _run_shared(text, timeout_s)
        problem = find_ngspice_error(stderr, stdout)
        if problem is not None:
            raise BackendError(f"ngspice reported: {problem}")
        raw = list(plots.items())
    else:
        raw, stdout, stderr = _run_subprocess(text, timeout_s, workdir)
    return _assemble(raw, text, stdout, stderr, chosen, time.perf_counter() - t0, note)


def run_netlists(
    texts: Sequence[str],
    *,
    mode: str = "auto",
    timeout_s: float = TIMEOUT_DEFAULT_S,
    workdir: str | os.PathLike[str] | None = None,
    max_workers: int | None = None,
) -> list[SpiceRun]:
    """Run several decks; subprocess runs go in parallel, shared runs one after another.

    Parameters
    ----------
    texts : sequence of str
    mode : {"auto", "shared", "subprocess"}
        As in :func:`run_netlist`.  For several transients on a machine with more
        than one CPU, ``"auto"`` runs subprocesses in parallel (one ngspice per
        process is all the shared library allows); operating points (~5 ms each
        in shared mode, ~20 ms as a subprocess) stay in shared mode.
    timeout_s : float
        Per deck.
    workdir : str or os.PathLike, optional
        Deck ``k`` runs in ``workdir/run<k>``.
    max_workers : int, optional
        Parallel subprocesses; default ``os.cpu_count()``.

    Returns
    -------
    list of SpiceRun
        In the order of `texts`.  The first failure is raised after all runs end.
    """
    _check_mode(mode)
    texts = list(texts)
    workers = max(1, min(len(texts), max_workers or os.cpu_count() or 1))
    if (
        mode == "auto"
        and len(texts) > 1
        and workers > 1
        and any(_has_card(t, ".tran") for t in texts)
        and shutil.which("ngspice")
    ):
        mode = "subprocess"  # transients: CPU-bound, so parallel processes win

    def wd(k):
        return None if workdir is None else Path(workdir) / f"run{k}"

    if mode != "subprocess" or workers == 1:
        return [
            run_netlist(t, mode=mode, timeout_s=timeout_s, workdir=wd(k))
            for k, t in enumerate(texts)
        ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run_netlist, t, mode="subprocess", timeout_s=timeout_s, workdir=wd(k))
            for k, t in enumerate(texts)
        ]
        concurrent.futures.wait(futures)
    return [f.result() for f in futures]


# =========================================================================== backend


class NgspiceBackend(Backend):
    """Settle the compiled circuit in ngspice, one deck per sample.

    Parameters
    ----------
    level : {"behavioural", "crossbar"}
        Netlist level (:func:`pc_analog.spice.netlist.write_netlist`).
    analysis : {"tran", "op"}
        ``"tran"``: the transient from the feedforward start (trajectory,
        settling time); ``"op"``: only the DC operating point, i.e. the
        equilibrium, far faster.
    mode : {"auto", "shared", "subprocess"}
        How ngspice runs (:func:`run_netlists`).
    settle_band : float
        ``delta`` of the SPEC settling time.
    t_stop_s : float, optional
        Transient length; default the largest
        :func:`pc_analog.spice.netlist.default_t_stop` over the batch (so every sample
        runs over the same interval), evaluated at the equilibrium when the
        circuit is symmetric (``ln(1e9) / lambda_min`` time constants of the
        slowest mode there, clipped to ``[10, 1e4] tau``).
    max_step_s : float, optional
        ngspice's print and maximum time step; default ``t_stop / 1000``.
    timeout_s : float
        Wall-clock limit per sample.

    Notes
    -----
    The samples' adaptive time points differ, so the batch's trajectory is
    resampled by linear interpolation onto the **union** of all samples' time
    points (every sample is exact at its own points).  Should that array exceed
    5e7 values, sample 0's grid is used instead (``stats["time_grid"]`` says
    which).  Settling times are measured on each sample's own points, before any
    resampling, by linear interpolation of the deviation between points; a sample
    that starts within ``AT_REST_V`` (1 nV) of the equilibrium has settling time
    0.  A deck with ``uic`` has no ``t = 0`` point; the initial
    condition is then prepended at ``t = 0``.  Clamped units are their constant
    clamp values.
    """

    name = "ngspice"

    def __init__(
        self,
        level: str = "behavioural",
        analysis: str = "tran",
        mode: str = "auto",
        settle_band: float = SETTLE_BAND_DEFAULT,
        t_stop_s: float | None = None,
        max_step_s: float | None = None,
        timeout_s: float = TIMEOUT_DEFAULT_S,
    ):
        from pc_analog.spice.netlist import ANALYSES, LEVELS

        if level not in LEVELS:
            raise InvalidInputError(
                f"ngspice level: unknown {level!r} (known: {', '.join(LEVELS)})"
            )
        if analysis not in ANALYSES:
            raise InvalidInputError(
                f"ngspice analysis: unknown {analysis!r} (known: {', '.join(ANALYSES)})"
            )
        _check_mode(mode)
        if not 0 < settle_band < 1:
            raise InvalidInputError("ngspice backend: settle_band must be between 0 and 1")
        for nm, v in (("t_stop_s", t_stop_s), ("max_step_s", max_step_s)):
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise InvalidInputError(f"ngspice backend: {nm} must be a positive number")
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise InvalidInputError("ngspice backend: timeout_s must be a positive number")
        self.level, self.analysis, self.mode = level, analysis, mode
        self.settle_band, self.t_stop_s, self.max_step_s = settle_band, t_stop_s, max_step_s
        self.timeout_s = timeout_s

    # ----------------------------------------------------------------- helpers
    def _decks(self, circuit: Circuit, x_eq) -> tuple[list[str], float | None]:
        import dataclasses

        from pc_analog.spice.netlist import default_t_stop, write_netlist

        t_stop = None
        if self.analysis == "tran":
            t_stop = self.t_stop_s
            if t_stop is None:
                # default_t_stop reads the slowest mode of the Hessian at the circuit's
                # x_init; at the start of a nonlinear network that Hessian can be
                # indefinite (then it returns its 1e4 tau cap, and the default max step
                # t_stop/1000 = 10 tau is far too coarse), so ask at the equilibrium.
                probe = circuit if x_eq is None else dataclasses.replace(circuit, x_init=x_eq)
                t_stop = max(default_t_stop(probe, sample=b) for b in range(circuit.batch))
        texts = [
            write_netlist(
                circuit,
                sample=b,
                level=self.level,
                analysis=self.analysis,
                t_stop_s=t_stop,
                t_step_s=self.max_step_s,
            )
            for b in range(circuit.batch)
        ]
        return texts, t_stop

    @staticmethod
    def _sample_trace(circuit: Circuit, b: int, vecs: Mapping[str, np.ndarray], n_t: int):
        """Per layer ``(n_t, n_l)`` for sample ``b``: free units from ngspice, clamps constant."""
        out = []
        for l, n_l in enumerate(circuit.sizes):
            arr = np.broadcast_to(circuit.x_init[l][b], (n_t, n_l)).copy()
            for i in np.flatnonzero(~circuit.clamp.masks[l]):
                arr[:, i] = np.asarray(vecs[node_name("x", l, int(i))], dtype=float).reshape(-1)
            out.append(arr)
        return tuple(out)

    # ------------------------------------------------------------------ settle
    def settle(self, circuit: Circuit) -> SettleResult:
        wall0 = time.perf_counter()
        net = circuit.network()
        x_eq = None
        if circuit.symmetric:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                x_eq = solve_equilibrium(net, circuit.x_init, circuit.clamp, gtol=1e-13).x
        texts, t_stop = self._decks(circuit, x_eq)
        runs = run_netlists(texts, mode=self.mode, timeout_s=self.timeout_s)
        fi = FreeIndex(circuit)
        tau = circuit.tau_s
        for r in runs:
            have = r.voltages if self.analysis == "tran" else (r.op or {})
            missing = [
                node_name("x", l, int(i))
                for l in range(circuit.n_layers + 1)
                for i in np.flatnonzero(~circuit.clamp.masks[l])
                if node_name("x", l, int(i)) not in have
            ]
            if missing:
                raise BackendError(f"ngspice output lacks the node(s) {', '.join(missing[:5])}")

        modes = sorted({r.mode for r in runs})
        notes = sorted({r.note for r in runs if r.note})
        stats = {
            "mode": modes[0] if len(modes) == 1 else modes,
            "level": self.level,
            "analysis": self.analysis,
            "ngspice_seconds": float(sum(r.seconds for r in runs)),
        }
        if notes:
            stats["note"] = "; ".join(notes)

        if self.analysis == "op":
            per = [self._sample_trace(circuit, b, r.op, 1) for b, r in enumerate(runs)]
            x = tuple(
                np.concatenate([per[b][l] for b in range(circuit.batch)])
                for l in range(circuit.n_layers + 1)
            )
            if x_eq is None:
                x_eq = x
            gm = residual_max(circuit, fi, x)
            stats["wall_seconds"] = time.perf_counter() - wall0
            return SettleResult(
                self.name,
                x,
                energy(net, x),
                True,
                f"ngspice operating point ({self.level}, {'/'.join(modes)})",
                gm,
                tau_s=tau,
                x_eq=x_eq,
                stats=stats,
            )

        # ---- transient: each sample on its own time points first
        per_t, per_traj = [], []
        for b, r in enumerate(runs):
            t_b = np.asarray(r.time, dtype=float)
            traj_b = self._sample_trace(circuit, b, r.voltages, t_b.size)
            # uic decks have no t = 0 point: prepend the initial condition
            if t_b[0] > 0:
                t_b = np.concatenate([[0.0], t_b])
                traj_b = tuple(
                    np.concatenate([circuit.x_init[l][b][None, :], v], axis=0)
                    for l, v in enumerate(traj_b)
                )
            per_t.append(t_b)
            per_traj.append(traj_b)

        x_final = tuple(
            np.stack([per_traj[b][l][-1] for b in range(circuit.batch)])
            for l in range(circuit.n_layers + 1)
        )
        if x_eq is None:
            x_eq = x_final
        y_eq = fi.pack(x_eq).reshape(circuit.batch, fi.n_free)
        y0 = fi.pack(circuit.x_init).reshape(circuit.batch, fi.n_free)
        st = np.zeros(circuit.batch)
        for b in range(circuit.batch):
            if fi.n_free == 0 or np.abs(y0[b] - y_eq[b]).max() <= AT_REST_V:
                continue  # starts at rest (to ngspice's resolution): settling time 0
            parts = [per_traj[b][l][:, idx] for l, idx in fi.blocks]
            yb = np.concatenate(parts, axis=1)
            yb[0] = y0[b]  # the exact start (ngspice's .ic point can be 1 ulp off)
            st_b = settling_time(per_t[b], yb[:, None, :], y_eq[b : b + 1], band=self.settle_band)
            st[b] = st_b[0]

        # ---- one common grid for the batch
        same = all(tb.shape == per_t[0].shape and np.array_equal(tb, per_t[0]) for tb in per_t)
        n_total = sum(circuit.sizes)
        if same:
            t, grid = per_t[0], "shared by all samples"
        else:
            union = np.unique(np.concatenate(per_t))
            if union.size * circuit.batch * n_total <= _UNION_MAX_VALUES:
                t, grid = union, "union of the samples' time points"
            else:
                t, grid = per_t[0], "sample 0's time points"
        traj = []
        for l, n_l in enumerate(circuit.sizes):
            arr = np.empty((t.size, circuit.batch, n_l))
            for b in range(circuit.batch):
                tb, vb = per_t[b], per_traj[b][l]
                if tb.shape == t.shape and np.array_equal(tb, t):
                    arr[:, b, :] = vb
                else:
                    for i in range(n_l):
                        arr[:, b, i] = np.interp(t, tb, vb[:, i])
            traj.append(arr)
        traj = tuple(traj)
        n_t = t.size
        e_trace = energy_trace(circuit, traj)
        gm = residual_max(circuit, fi, x_final)

        ok = not np.any(np.isnan(st))
        what = f"ngspice tran ({self.level}, {'/'.join(modes)})"
        if ok:
            msg = (
                f"settled: {what}; max settling time {np.max(st):.4g} s = "
                f"{np.max(st) / tau:.4g} tau"
            )
        else:
            msg = f"not settled within {t[-1]:.3g} s: {what}"
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        stats.update(
            {
                "t_stop_s": float(t_stop) if t_stop is not None else float(t[-1]),
                "t_end_s": float(t[-1]),
                "n_points": int(n_t),
                "ngspice_points": [int(r.time.size) for r in runs],
                "time_grid": grid,
                "wall_seconds": time.perf_counter() - wall0,
            }
        )
        return SettleResult(
            self.name,
            x_final,
            energy(net, x_final),
            bool(ok),
            msg,
            gm,
            t=t,
            energy_trace=e_trace,
            settling_time_s=st,
            tau_s=tau,
            trajectory=traj,
            x_eq=x_eq,
            stats=stats,
        )
