"""Netlist text and the sandbox check: what ngspice may be asked to read.

:func:`check_netlist` / :func:`check_netlist_file` turn an untrusted deck into the
one flattened deck ngspice runs.  What is checked is what runs: every ``.include``
and ``.lib FILE SECTION`` is expanded here, resolved as ngspice 39 resolves it
(:class:`_Flattener`, measured), each file read once, from the netlist's folder or an
``allow_include`` folder only, cycles and deep nesting refused; the flattened text
names no file, is checked as a whole, and is the text handed to ngspice (alone, in an
empty scratch folder).  Refused: ``.control``/``.exec`` blocks and ``*#`` command lines
(with ``allow_control``: any command outside :data:`ALLOWED_COMMANDS`, redirection,
pipes, history, backquotes), ``*ng_script``, ``shell``/``system`` cards, devices reading
data files (``file=``).

One block is not refused but removed: the ``*#`` run commands pc-analog itself writes
at the end of a deck (:func:`strip_run_commands`; run, print node voltages, quit), so a
deck from ``pc-analog compile`` passes the check, and what the check returns (and the
runner runs) contains no command at all.

The small readers of netlist text (SPICE numbers, logical lines, the ``.tran`` stop
time, whether a card is present, the analyses a deck runs) live here too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pc_analog.errors import InvalidInputError

__all__ = [
    "ALLOWED_COMMANDS",
    "analyses_of",
    "check_netlist",
    "check_netlist_file",
    "has_control",
    "strip_run_commands",
]


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


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


# =========================================================================== flattening

#: Includes nested deeper than this are refused (ngspice itself has no limit and
#: crashes on a file that includes itself).
MAX_INCLUDE_DEPTH = 16
#: The flattened deck may not exceed this many lines (includes can multiply text)...
MAX_FLAT_LINES = 2_000_000
#: ... nor read more than this many bytes of included files in all.
MAX_FLAT_BYTES = 256_000_000

_NG_BLANKS = " \t\v\f\r\ufeff"  # what ngspice skips before a card (isspace, and a BOM)


@dataclass(frozen=True)
class _Line:
    """One physical line of the flattened deck and where it came from."""

    text: str
    where: str  # "netlist", or the included file's path as written
    n: int  # 1-based line number in that file


def _ng_low(line: str) -> str:
    """A line as ngspice compares a card: leading blanks dropped, lower case."""
    return line.lstrip(_NG_BLANKS).lower()


def _strip_comment(s: str) -> str:
    """ngspice's in-line comments of an ``.include``/``.lib`` card (``;``, `` $ ``, ``//``)."""
    s = s.split(";", 1)[0]
    s = re.split(r"(?:(?<=\s)\$|//)", s, maxsplit=1)[0]
    return s


def _include_name(line: str) -> str | None:
    """The file an ``.include``/``.inc*`` card names, as ngspice's get_quoted_token reads it."""
    s = _strip_comment(line.lstrip(_NG_BLANKS))
    parts = s.split(None, 1)
    rest = parts[1].lstrip(_NG_BLANKS) if len(parts) > 1 else ""
    if not rest:
        return None
    if rest[0] in "\"'":
        end = re.search(r"[\"']", rest[1:])
        return rest[1 : 1 + end.start()] if end else None  # unterminated: ngspice fails
    return rest.split(None, 1)[0]


def _lib_tokens(line: str) -> tuple[str, str | None]:
    """``(file or section, section or None)`` of a ``.lib*`` card, split as ngspice 39 does.

    After the keyword, quotes count as blanks: ``.lib "/x/a.lib tt"`` names the file
    ``/x/a.lib`` and the section ``tt``; one token is a section definition.
    """
    s = _strip_comment(line.lstrip(_NG_BLANKS))
    words = [w for w in re.split(r"[\s\"']+", s) if w]
    if len(words) < 2:
        return "", None
    if len(words) == 2:
        return words[1], None
    return words[1], words[2]


class _Flattener:
    """Expands ``.include`` and ``.lib`` exactly as ngspice 39 resolves them.

    Measured on ngspice 39: ``.include NAME`` resolves relative to the folder of the
    including file *as its path was written* (through a symlink: the link's folder,
    not the target's), ``~/`` is the home folder; ``.lib FILE SECTION`` references in
    the deck and in included files resolve relative to the deck's folder, and inside
    a library file relative to the library's real folder (symlinks resolved), where
    its own ``.include`` cards resolve too.  ``.include``/``.lib`` cards are read one
    physical line at a time (a ``+`` continuation does not add a file name).  Every
    file must resolve, after symlinks, inside one of ``roots``; each is read once
    and its text is what runs.
    """

    def __init__(self, roots: list[Path]):
        self.roots = roots
        self.count = 0
        self.bytes = 0

    def _refuse(self, line: _Line, msg: str) -> InvalidInputError:
        return InvalidInputError(f"{line.where} line {line.n}: {msg}")

    def _open(self, line: _Line, keyword: str, name: str, dir_name: str | None):
        """``(path as written, real path, text)`` of a file named by ``keyword``."""
        if not name:
            raise self._refuse(line, f"{keyword} without a file name")
        if "\0" in name:
            raise self._refuse(line, f"{keyword}: a NUL byte in the file name")
        if os.path.isabs(name):
            path = name
        elif name.startswith("~/"):
            path = os.path.expanduser(name)
        elif dir_name is None:
            raise self._refuse(line, f"{keyword} {name!r} with no folder to resolve it in")
        else:
            path = os.path.join(dir_name, name) if dir_name else name
        real = Path(os.path.realpath(path))
        if not self.roots or not any(_is_within(real, r) for r in self.roots):
            where = ", ".join(str(r) for r in self.roots) or "none"
            raise self._refuse(
                line,
                f"{keyword} {name!r} points outside the netlist's folder and every "
                f"--allow-include folder ({where}); refused",
            )
        if not real.is_file():
            raise self._refuse(line, f"{keyword} {name!r}: no such file")
        try:
            self.bytes += real.stat().st_size
            if self.bytes > MAX_FLAT_BYTES:
                raise self._refuse(
                    line, f"{keyword} {name!r}: included files exceed {MAX_FLAT_BYTES} bytes"
                )
            data = real.read_bytes()
        except OSError as exc:
            raise self._refuse(line, f"cannot read {name!r}: {exc.strerror or exc}") from None
        return path, real, data.decode("utf-8", errors="replace")

    def _lines(self, text: str, where: str) -> list[_Line]:
        if "\0" in text:
            raise InvalidInputError(f"{where}: a NUL byte in the text; refused")
        self.count += text.count("\n")
        if self.count > MAX_FLAT_LINES:
            raise InvalidInputError(
                f"{where}: the netlist with its includes exceeds {MAX_FLAT_LINES} lines"
            )
        return [_Line(t, where, k + 1) for k, t in enumerate(_physical_lines(text))]

    def read(
        self, lines: list[_Line], dir_name: str | None, stack: tuple, title: bool
    ) -> list[_Line]:
        """``lines`` with every ``.include`` replaced by the file's lines (recursively)."""
        out: list[_Line] = []
        for k, line in enumerate(lines):
            low = _ng_low(line.text)
            if (title and k == 0) or not low.startswith(".inc"):
                out.append(line)
                continue
            keyword = line.text.split(None, 1)[0]
            name = _include_name(line.text)
            if name is None:
                raise self._refuse(line, f"{keyword} without a file name (or an open quote)")
            path, real, text = self._open(line, keyword, name, dir_name)
            if real in stack:
                raise self._refuse(
                    line, f"{keyword} {name!r} is already being read: a cycle; refused"
                )
            if len(stack) >= MAX_INCLUDE_DEPTH:
                raise self._refuse(line, f"{keyword} nested deeper than {MAX_INCLUDE_DEPTH}")
            out.append(_Line("*", line.where, line.n))
            sub = self._lines(text, path)
            out += self.read(sub, os.path.dirname(path), stack + (real,), title=False)
        return out

    def libs(self, lines: list[_Line], dir_name: str | None, stack: tuple) -> list[_Line]:
        """``lines`` with every ``.lib FILE SECTION`` replaced by that section (recursively)."""
        out: list[_Line] = []
        for line in lines:
            if not _ng_low(line.text).startswith(".lib"):
                out.append(line)
                continue
            name, section = _lib_tokens(line.text)
            keyword = line.text.split(None, 1)[0]
            if section is None:
                raise self._refuse(
                    line,
                    f"{keyword} {name!r}: a library section header outside a library file "
                    "(a .lib reference needs a file and a section)",
                )
            path, real, text = self._open(line, keyword, name, dir_name)
            key = (real, section.lower())
            if key in stack:
                raise self._refuse(line, f"{keyword} {name!r} {section}: a cycle; refused")
            if len(stack) >= MAX_INCLUDE_DEPTH:
                raise self._refuse(line, f"{keyword} nested deeper than {MAX_INCLUDE_DEPTH}")
            habitat = str(real.parent)
            body = self.read(self._lines(text, path), habitat, (real,), title=False)
            start = None
            for j, b in enumerate(body):
                low = _ng_low(b.text)
                if low.startswith(".lib"):
                    n2, s2 = _lib_tokens(b.text)
                    if s2 is None and n2.lower() == section.lower():
                        start = j
                        break
            if start is None:
                raise self._refuse(line, f"{keyword} {name!r}: no section {section!r} in it")
            end = start + 1
            while end < len(body) and not _ng_low(body[end].text).startswith(".endl"):
                end += 1
            out.append(_Line("*", line.where, line.n))
            out += self.libs(body[start + 1 : end], habitat, stack + (key,))
        return out


def _roots(folder, allow_include) -> list[Path]:
    roots = []
    if folder is not None:
        roots.append(Path(os.path.realpath(os.path.expanduser(os.fspath(folder)))))
    for d in allow_include or ():
        real = Path(os.path.realpath(os.path.expanduser(os.fspath(d))))
        if not real.is_dir():
            raise InvalidInputError(f"--allow-include {os.fspath(d)!r}: not a folder")
        roots.append(real)
    return roots


def flatten_netlist(
    text: str,
    folder: str | os.PathLike[str] | None,
    *,
    allow_include=(),
    dir_name: str | None = None,
) -> list[_Line]:
    """The deck's physical lines with every ``.include``/``.lib`` expanded in place."""
    fl = _Flattener(_roots(folder, allow_include))
    if dir_name is None and folder is not None:
        dir_name = os.fspath(folder)
    top = fl.read(fl._lines(text, "netlist"), dir_name, (), title=True)
    return fl.libs(top, dir_name, ())


# =========================================================================== commands

#: Commands a ``.control``/``.exec`` block or ``*#`` line may use with
#: ``allow_control``: analyses, measurements, vector arithmetic, printing, flow
#: control.  Nothing that runs a program, loads code, reads a file, changes folder
#: or writes outside the scratch folder (``write``/``wrdata`` only to a bare name).
ALLOWED_COMMANDS = frozenset(
    """
    ac alter break compose continue cutout dc define deftype destroy display disto
    dowhile echo else end fft fourier goto if inventory label let linearize listing
    meas measure noise op option options print psd pz quit repeat reset resume run
    save sens set setplot setscale settype show showmod spec status stop strcmp tf
    tran transpose undefine unlet unset version while wrdata write
    """.split()
)
#: ngspice's csh-like lexer: redirection, pipes, background, history, backquote
#: substitution and backslash escapes could all run or write what the words do not say.
_COMMAND_BAD_CHARS = "<>|&`\\!"
_FILE_COMMANDS = ("write", "wrdata")
_SET_COMMANDS = ("set", "unset")
#: Shown (and commented out) rather than refused: no graphics in batch mode.
_SKIPPED_COMMANDS = ("plot", "iplot", "asciiplot")
_FILE_PARAM = re.compile(r"(?<![a-z0-9_])[a-z_]*file\s*=")
_ANALYSES = ("op", "tran", "ac", "dc", "tf", "sens", "noise", "pz", "disto", "pss", "sp")


def _check_command(body: str, line: _Line, hint: str) -> None:
    """Refuse a control-block command outside :data:`ALLOWED_COMMANDS`."""
    for c in _COMMAND_BAD_CHARS:
        if c in body:
            raise InvalidInputError(
                f"{line.where} line {line.n}: {c!r} in a control command (redirection, pipe, "
                "history, backquote or escape) refused; use gt/lt/ne in expressions" + hint
            )
    for part in body.split(";"):
        words = part.split()
        if not words or words[0].startswith("*"):
            continue
        w = words[0]
        if w not in ALLOWED_COMMANDS:
            raise InvalidInputError(
                f"{line.where} line {line.n}: command {w!r} is not an analysis or measurement "
                f"command (allowed: {', '.join(sorted(ALLOWED_COMMANDS))}); refused"
            )
        if w in _FILE_COMMANDS + _SET_COMMANDS and re.search(r"[/~$]|sourcepath", part):
            raise InvalidInputError(
                f"{line.where} line {line.n}: {w} with a path ('/', '~', '$' or sourcepath) "
                "refused: files go to the scratch folder only"
            )


def check_lines(lines: list[_Line], allow_control: bool) -> list[_Line]:
    """The check of the flattened deck; returns it with graphics commands commented out."""
    hint = " (pass --allow-control / allow_control=True only for a trusted netlist)"
    out = list(lines)
    in_control = False
    prev_cmd = ""
    for k, line in enumerate(lines):
        s = _ng_low(line.text)
        where = f"{line.where} line {line.n}"
        if s.startswith("*ng_script"):
            raise InvalidInputError(
                f"{where}: '*ng_script' makes ngspice run the file as a command script; refused"
            )
        if s.startswith((".control", ".exec", ".endc")):
            if not allow_control:
                word = s.split()[0]
                raise InvalidInputError(
                    f"{where}: '{word}' block runs ngspice commands; refused{hint}"
                )
            in_control = not s.startswith(".endc")
            continue
        if s.startswith((".inc", ".lib")):  # the flattener expanded every one it saw
            raise InvalidInputError(f"{where}: an unexpanded {s.split()[0]} card; refused")
        command = None
        if s.startswith("*#"):
            if not allow_control:
                raise InvalidInputError(f"{where}: '*#' lines are ngspice commands; refused{hint}")
            command = s[2:].lstrip(_NG_BLANKS)
        elif in_control:
            if s.startswith(("*", "#")) or not s:
                continue
            command = s
        if command is not None:
            if command.startswith("+"):
                command = prev_cmd + " " + command[1:]
            elif command.split()[:1] and command.split()[0] in _SKIPPED_COMMANDS:
                out[k] = _Line("* (pc-analog: skipped) " + line.text.strip(), line.where, line.n)
                continue
            _check_command(command, line, hint)
            prev_cmd = command
            continue
        body = s[1:].lstrip(_NG_BLANKS) if s.startswith("+") else s
        if re.match(r"(shell|system)(?![a-z0-9_])", body):
            raise InvalidInputError(f"{where}: 'shell'/'system' command refused")
        if k > 0 and not s.startswith("*") and _FILE_PARAM.search(s):
            raise InvalidInputError(
                f"{where}: a device or model reading a data file ('...file=') refused"
            )
    return out


def analyses_of(text: str) -> tuple[list[str], list[str]]:
    """The analyses a (checked) deck runs: ``(from its cards, from control commands)``.

    Each list in order of first appearance, without repeats (``op``, ``tran``, ``ac``,
    ``dc``, ``tf``, ``sens``, ``noise``, ``pz``, ``disto``, ``pss``, ``sp``).
    """
    cards: list[str] = []
    commands: list[str] = []
    in_control = False
    for line in _physical_lines(text):
        s = _ng_low(line)
        if s.startswith((".control", ".exec")):
            in_control = True
            continue
        if s.startswith(".endc"):
            in_control = False
            continue
        if s.startswith("*#"):
            found, words = commands, s[2:].split()
        elif in_control:
            found, words = commands, s.split()
        elif s.startswith("."):
            found, words = cards, s[1:].split()
        else:
            continue
        for part in " ".join(words).split(";"):
            w = part.split()[:1]
            if w and w[0] in _ANALYSES and w[0] not in found:
                found.append(w[0])
    return cards, commands


def has_control(text: str) -> bool:
    """Whether a (checked) deck has a control block or ``*#`` command lines."""
    return any(_ng_low(ln).startswith((".control", ".exec", "*#")) for ln in _physical_lines(text))


def check_netlist(
    text: str,
    folder: str | os.PathLike[str] | None,
    allow_control: bool = False,
    *,
    allow_include=(),
    dir_name: str | None = None,
) -> str:
    """Check a netlist and return the one flattened deck ngspice may run.

    Parameters
    ----------
    text : str
        The deck (title line first).
    folder : str or os.PathLike or None
        The netlist's folder: relative ``.include``/``.lib`` names resolve here (or
        in `dir_name`, the folder as the deck's path was written), and every file
        read must lie, after symlinks, inside it or an `allow_include` folder.
        None: no includes.
    allow_control : bool
        Let ``.control``/``.exec`` blocks and ``*#`` lines through, restricted to
        :data:`ALLOWED_COMMANDS` (no shell, code loading, sourcing, ``cd``, paths in
        ``set``, redirection, or writing outside the scratch folder).
    allow_include : iterable of path-like
        More folders included files may come from (model libraries, a PDK).

    Returns
    -------
    str
        The flattened deck: pc-analog's own ``*#`` run block removed
        (:func:`strip_run_commands`), every ``.include`` and ``.lib FILE SECTION``
        replaced by the text it reads (resolved as ngspice 39 resolves it, see
        :class:`_Flattener`), graphics commands (``plot``) commented out.  It names no
        file, so ngspice reads nothing else; this exact text was checked.  A deck
        without includes comes back unchanged (line numbers kept).

    Raises
    ------
    InvalidInputError
        One line naming the file and line: a control block or ``*#`` line (or, with
        `allow_control`, a command outside the allow-list), ``*ng_script``, a
        ``shell``/``system`` card, a device reading a data file (``file=``), an
        include outside the allowed folders, missing, unnamed, a cycle, nested
        deeper than :data:`MAX_INCLUDE_DEPTH` or beyond :data:`MAX_FLAT_LINES`, a
        ``.lib`` section header outside a library, a section that is not there.
    """
    text = strip_run_commands(text)
    lines = flatten_netlist(text, folder, allow_include=allow_include, dir_name=dir_name)
    lines = check_lines(lines, bool(allow_control))
    out = "\n".join(line.text for line in lines)
    return out + ("\n" if text.endswith(("\n", "\r")) else "")


def check_netlist_file(
    path: str | os.PathLike[str], allow_control: bool = False, *, allow_include=()
) -> str:
    """:func:`check_netlist` of a file: includes resolve from its folder as written."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    dir_name = os.path.dirname(name) or "."
    return check_netlist(
        data.decode("utf-8", errors="replace"),
        dir_name,
        allow_control,
        allow_include=allow_include,
        dir_name=dir_name,
    )
