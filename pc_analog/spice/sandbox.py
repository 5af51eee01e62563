"""Netlist text and the sandbox check: what ngspice may be asked to read.

:func:`check_netlist` refuses netlists that would make ngspice do more than
simulate: ``.control`` / ``.endc`` / ``.exec`` blocks, ``*#`` command lines, a
``*ng_script`` deck, ``shell`` / ``system`` commands, and ``.include`` / ``.lib``
files outside the netlist's folder.  ``ngspice -b`` executes ``.control`` blocks and
``*#`` lines (``shell`` included), and the shared library runs them while loading
the circuit, so untrusted text must pass this check before either runner
(:mod:`pc_analog.spice.runner`) sees it.

One block is not refused but removed: the ``*#`` run commands pc-analog itself writes
at the end of a deck (:func:`strip_run_commands`; run, print node voltages, quit), so a
deck from ``pc-analog compile`` passes the check, and what the check returns (and the
runner runs) contains no command at all.

The small readers of netlist text (SPICE numbers, logical lines, the ``.tran`` stop
time, whether a card is present) live here too; the runner uses them to judge what
ngspice returned.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pc_analog.errors import InvalidInputError

__all__ = ["check_netlist", "strip_run_commands"]


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


# =========================================================================== run commands

# Exactly the block pc_analog.spice.netlist writes (after "*#", lower case, blanks as
# written): nothing in it reads or writes a file or leaves ngspice.
_RUN_BLOCK = re.compile(
    r"set numdgt=\d+\nrun\n(?:let k=length\(time\)-1\n)?"
    r"(?:print(?: v\([a-z0-9_]+\)(?:\[k\])?)+\n)+quit"
)


def strip_run_commands(text: str) -> str:
    """``text`` without pc-analog's own ``*#`` run commands (each such line becomes ``*``).

    A run of consecutive ``*#`` lines is removed only when it is exactly the block
    :func:`~pc_analog.spice.netlist.write_netlist` writes (``set numdgt``, ``run``,
    the optional ``let k=length(time)-1``, ``print`` of plain node voltages,
    ``quit``); any other ``*#`` line stays (and :func:`check_netlist` refuses it).
    pc-analog runs decks itself and reads the raw file, so the block, meant for a
    plain ``ngspice -b deck.cir``, would only print and quit.
    """
    if "*#" not in text:
        return text
    lines = _physical_lines(text)
    out = list(lines)
    k = 0
    changed = False
    while k < len(lines):
        if not _strip(lines[k]).startswith("*#"):
            k += 1
            continue
        end = k
        while end < len(lines) and _strip(lines[end]).startswith("*#"):
            end += 1
        body = "\n".join(_strip(ln)[2:].strip() for ln in lines[k:end])
        if _RUN_BLOCK.fullmatch(body):
            out[k:end] = ["*"] * (end - k)
            changed = True
        k = end
    if not changed:
        return text
    return "\n".join(out) + ("\n" if text.endswith(("\n", "\r")) else "")


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
    """The check of :func:`check_netlist` on one file's text (recursing into includes).

    Two passes over the same lines: physical lines for commands (control blocks,
    ``*#`` lines, shell words), logical lines (``+`` continuations joined) for the
    files ``.include``/``.lib`` read.  Long because it is kept as one function:
    both passes share the line lists, the refusal hint and the rewritten output,
    and a reviewer of a sandbox should read every rule in one place.
    """
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
        The deck to run: `text` itself, or `text` without pc-analog's own run
        commands (:func:`strip_run_commands`) and, if it includes files, with
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
    text = strip_run_commands(text)
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
