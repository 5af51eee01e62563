"""ngspice in this process: PySpice's ``NgSpiceShared``, one instance, reused under a lock.

One ngspice per process (the library keeps global state), created on first use
without any ``.spiceinit``, cleaned (``destroy`` of its plots, ``remcirc``) after every run;
~2-5 ms fixed cost per run.  A failed load or an ngspice that exited cannot be
restarted in one process: the reason is kept and later runs go to subprocesses
(:func:`pc_analog.spice.runner.run_netlist` decides).  PySpice is imported lazily,
only when this path is first used.

Coexistence with a user's own PySpice in the same process: ngspice's library has one
global state and PySpice declares its C API on one module-level ``ffi`` (a second
``NgSpiceShared`` fails with "duplicate declaration of struct ngcomplex"), so there can
be only one instance.  pc-analog's instance is registered as PySpice's instance 0:
``NgSpiceShared.new_instance()`` afterwards returns it (a working ``NgSpiceShared``; its
messages are collected, not judged).  If the user's instance came first, pc-analog does
not take it over (its callbacks are the user's) and runs its decks as subprocesses.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from pc_analog.errors import BackendError
from pc_analog.spice.batch import find_ngspice_error

__all__ = ["shared_available"]

# Seconds to wait for ngspice's background thread to stop after ``bg_halt``.
_HALT_WAIT_S = 10.0

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


class _UnsupportedVersionFilter(logging.Filter):
    """Drops PySpice's "Unsupported Ngspice version N" warning, and only that one.

    PySpice 1.5 knows ngspice versions up to 34 and warns for any later one; ngspice 39
    runs every deck here as the agreement tests check (ngspice vs the equilibrium solver
    to 1e-6, tests/test_netlist.py and tests/test_ngspice.py), so the warning says
    nothing to a pc-analog user.  Any other PySpice message passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unsupported Ngspice version")


_SHARED_LOCK = threading.Lock()
_SHARED = None  # the one _QuietNgSpice of this process
_SHARED_FAILURE: str | None = None  # why the shared library cannot be used (final)


def _make_shared_class():
    """Define the PySpice subclass (PySpice is imported here, not at module import).

    Long because it is one class definition (the callbacks ngspice calls
    and the few commands this package sends), which must be created lazily.
    """
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
    quiet = _UnsupportedVersionFilter()
    NgSpiceShared._logger.addFilter(quiet)  # the logger the version warning is sent to
    try:
        ng = _init_without_spiceinit(cls)
    except Exception as exc:
        _SHARED_FAILURE = f"loading {lib} failed ({type(exc).__name__}: {exc})"
        raise _SharedUnavailable(_SHARED_FAILURE) from None
    finally:
        NgSpiceShared._logger.removeFilter(quiet)
    ng._pc_done = threading.Event()
    ng._pc_exited = None
    # PySpice's own entry point must find this instance instead of declaring the C API
    # on its ffi a second time (cffi.CDefError) and re-initialising the library.
    NgSpiceShared._instances[0] = ng
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
        # Plots that exist before this run (a user's, through the same PySpice instance)
        # are neither read nor destroyed.
        before = set(ng._pc_plots())
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
            plots = {p: ng._pc_vectors(p) for p in reversed(ng._pc_plots()) if p not in before}
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
                    for p in ng._pc_plots():
                        if p not in before:
                            ng._pc_command(f"destroy {p}")
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
