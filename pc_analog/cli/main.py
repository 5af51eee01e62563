"""The ``pc-analog`` command line (SPEC section 4): parser assembly and exit statuses.

Each subcommand lives in its own module with ``add_parser(sub)`` (its options) and a
``run(args) -> int``: :mod:`~pc_analog.cli.settle`, :mod:`~pc_analog.cli.grads`,
:mod:`~pc_analog.cli.compile`, :mod:`~pc_analog.cli.simulate`, :mod:`~pc_analog.cli.train`,
:mod:`~pc_analog.cli.bench` (the ``bench`` group), :mod:`~pc_analog.cli.timing`
(``bench timing``) and :mod:`~pc_analog.cli.sweep` (``bench sweep``); shared argument
helpers are in :mod:`~pc_analog.cli._common`.  This module builds the parser and maps
failures to exit statuses in one place.

Exit status: 0 success (``--help``, ``--version`` too); 1 a solver did not converge (the
result is still printed, with ``"converged": false``); 2 bad input (one line on stderr,
no traceback, no file written); 3 a backend is unavailable or failed (its reason whole,
possibly several lines, e.g. ngspice's error report); 130 interrupted;
141 stdout closed early (a reader such as ``head`` went away: nothing more is printed,
no traceback).  Set ``PC_ANALOG_DEBUG=1`` to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import os
import sys

from pc_analog._version import __version__
from pc_analog.cli import bench, grads, noise, settle, simulate, stability, train
from pc_analog.cli import compile as compile_  # the module, not the builtin
from pc_analog.cli._common import EXIT_BACKEND, EXIT_BAD_INPUT, Parser
from pc_analog.errors import BackendError, BackendUnavailableError, InvalidInputError

__all__ = ["main"]

#: The subcommand modules in the order ``--help`` lists them.
SUBCOMMANDS = (settle, grads, compile_, stability, simulate, train, bench, noise)
#: Exit status when stdout is closed under us: 128 + SIGPIPE, as the shell reports it.
EXIT_BROKEN_PIPE = 141


def _build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="pc-analog", description="Predictive coding as analog-circuit relaxation.")
    p.add_argument("--version", action="version", version=f"pc-analog {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return p


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no file descriptor (in-process callers)
        pass


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a file name or JSON key may hold a newline)."""
    return str(exc).replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        try:
            args = _build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else 0
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return status
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except InvalidInputError as exc:
        print(f"pc-analog: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (BackendUnavailableError, BackendError) as exc:
        # A backend's reason is passed through whole (ngspice's error report spans
        # several lines: the failing line, then why); bad input above stays one line.
        print(f"pc-analog: backend: {str(exc).rstrip()}", file=sys.stderr)
        return EXIT_BACKEND
    except KeyboardInterrupt:
        print("pc-analog: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # pragma: no cover - a bug; say so in one line
        if os.environ.get("PC_ANALOG_DEBUG"):
            raise
        print(
            f"pc-analog: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(set PC_ANALOG_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
