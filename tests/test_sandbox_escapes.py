"""Sandbox-escape corpus for ``pc-analog simulate``: every technique refused, nothing written.

Each case builds a deck (and its included files) whose payload writes a marker file
(``shell touch MARKER``, or ``echo > MARKER``) and asserts that ``pc-analog simulate``
refuses it with exit 2, one line on stderr, and that no marker appears, in both run
modes.  Cases marked ``live`` are first run through plain ``ngspice -b`` to prove the
payload really fires there (so the case tests an escape, not a typo).

The techniques: the audit of issue 15 (a ``.lib "FILE SECTION"`` quoted as one token,
an in-folder symlink whose target includes a relative file, ``codemodel`` under
``--allow-control``), then variants: ``~``, ``..``, absolute paths, quoted and
unquoted, ``.inc*``/``.lib*`` prefixes, tabs, ``.lib`` sections, control blocks in
included files, after continuation lines, in every case, ``*#`` lines, ``*ng_script``,
commands outside the allow-list (``shell``, ``codemodel``, ``osdi``, ``source``,
``cd``, ``load``, ``alias``, ...), redirection, ``!``, backquotes, escapes, ``write``
outside the scratch folder, ``set sourcepath``, data-file devices, NUL bytes.

Mutation check (run by hand, see the report of issue 15): disabling any one check
in :mod:`pc_analog.spice.sandbox` makes at least one case here fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pc_analog.cli.main import main
from pc_analog.spice.sandbox import MAX_INCLUDE_DEPTH, check_netlist

NGSPICE = shutil.which("ngspice")
needs_ngspice = pytest.mark.skipif(NGSPICE is None, reason="ngspice not installed")

HEAD = "escape\nV1 a 0 1\nR1 a 0 1k\n"
TAIL = ".op\n.end\n"
PAYLOAD = ".control\nshell touch {m}\n.endc\n"


def _payload(marker) -> str:
    return PAYLOAD.format(m=marker)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _setup(tmp_path, name):
    """``(deck folder, outside folder, marker)``; the deck's folder is tmp/deck."""
    deck = tmp_path / "deck"
    out = tmp_path / "outside"
    deck.mkdir()
    out.mkdir()
    return deck, out, tmp_path / f"marker_{name.strip('_')}"  # ngspice lower-cases *# lines


# Each builder writes files and returns (deck text, extra CLI flags, live).
def _lib_quoted_one_token(deck, out, m):  # audit (a)
    _write(out / "evil.lib", ".lib mysec\nR9 a 0 1k\n" + _payload(m) + ".endl mysec\n")
    return HEAD + f'.lib "{out}/evil.lib mysec"\n' + TAIL, [], True


def _lib_quoted_one_token_single(deck, out, m):
    _write(out / "evil.lib", ".lib s\n" + _payload(m) + ".endl s\n")
    return HEAD + f".LIB '{out}/evil.lib s'\n" + TAIL, [], True


def _symlink_relative_nested(deck, out, m):  # audit (b)
    _write(out / "t.inc", "R2 a 0 1k\n.include n.inc\n")
    _write(out / "n.inc", "R3 a 0 1k\n")  # what the old checker read
    _write(deck / "n.inc", _payload(m))  # what ngspice reads: relative to the link
    (deck / "link.inc").symlink_to(out / "t.inc")
    return HEAD + ".include link.inc\n" + TAIL, ["--allow-include", str(out)], True


def _symlink_dir_nested(deck, out, m):
    _write(out / "lib" / "t.inc", ".include ../n.inc\n")
    _write(deck / "n.inc", _payload(m))
    (deck / "sub").mkdir()
    (deck / "sub" / "lnk").symlink_to(out / "lib")
    return HEAD + ".include sub/lnk/t.inc\n" + TAIL, [], False


def _symlink_to_outside(deck, out, m):
    _write(out / "evil.inc", _payload(m))
    (deck / "l.inc").symlink_to(out / "evil.inc")
    return HEAD + ".include l.inc\n" + TAIL, [], True


def _codemodel_allow_control(deck, out, m):  # audit: native code under --allow-control
    return (
        HEAD + TAIL.replace(".end", f".control\ncodemodel {out}/x.cm\n.endc\n.end"),
        ["--allow-control"],
        False,
    )


def _tilde(deck, out, m):
    home = out / "home"
    _write(home / "evil.inc", _payload(m))
    os.environ["HOME"] = str(home)  # restored by the fixture
    return HEAD + ".include ~/evil.inc\n" + TAIL, [], True


def _tilde_quoted(deck, out, m):
    home = out / "home"
    _write(home / "evil.inc", _payload(m))
    os.environ["HOME"] = str(home)
    return HEAD + '.include "~/evil.inc"\n' + TAIL, [], True


def _dotdot(deck, out, m):
    _write(out / "evil.inc", _payload(m))
    return HEAD + ".include ../outside/evil.inc\n" + TAIL, [], True


def _dotdot_through_sub(deck, out, m):
    _write(out / "evil.inc", _payload(m))
    (deck / "sub").mkdir()
    return HEAD + ".include sub/../../outside/evil.inc\n" + TAIL, [], True


def _absolute(deck, out, m):
    _write(out / "evil.inc", _payload(m))
    return HEAD + f".include {out}/evil.inc\n" + TAIL, [], True


def _absolute_tab_upper(deck, out, m):
    _write(out / "evil.inc", _payload(m))
    return HEAD + f"\t.INCLUDE\t'{out}/evil.inc'\n" + TAIL, [], True


def _inc_prefix(deck, out, m):
    _write(out / "evil.inc", _payload(m))
    return HEAD + f'.incfoo "{out}/evil.inc"\n' + TAIL, [], True


def _lib_dotdot(deck, out, m):
    _write(out / "e.lib", ".lib tt\n" + _payload(m) + ".endl tt\n")
    return HEAD + ".lib ../outside/e.lib tt\n" + TAIL, [], True


def _lib_prefix(deck, out, m):
    _write(out / "e.lib", ".lib tt\n" + _payload(m) + ".endl tt\n")
    return HEAD + f".libfoo {out}/e.lib tt\n" + TAIL, [], True


def _lib_inside_control_in_section(deck, out, m):
    # an in-folder library whose section holds the payload
    _write(deck / "m.lib", ".lib tt\nR2 a 0 1k\n" + _payload(m) + ".endl tt\n")
    return HEAD + ".lib m.lib tt\n" + TAIL, [], True


def _lib_include_inside_lib(deck, out, m):
    # inside a library, .include resolves from the library's real folder
    _write(out / "evil.inc", _payload(m))
    _write(deck / "m.lib", ".lib tt\n.include ../outside/evil.inc\n.endl tt\n")
    return HEAD + ".lib m.lib tt\n" + TAIL, [], True


def _control_in_included_file(deck, out, m):
    _write(deck / "parts.inc", "R2 a 0 1k\n" + _payload(m))
    return HEAD + ".include parts.inc\n" + TAIL, [], True


def _control_nested_two_deep(deck, out, m):
    _write(deck / "a.inc", ".include sub/b.inc\n")
    _write(deck / "sub" / "b.inc", "* b\n.inc c.inc\n")
    _write(deck / "sub" / "c.inc", _payload(m))
    return HEAD + ".include a.inc\n" + TAIL, [], True


def _control_after_continuation(deck, out, m):
    return HEAD + "R5 a 0\n+ 1k\n+\n" + _payload(m) + TAIL, [], True


def _control_case(deck, out, m):
    return HEAD + f"  .CoNtRoL\n  SHELL touch {m}\n  .EnDc\n" + TAIL, [], True


def _exec_block(deck, out, m):
    return HEAD + f".exec\nshell touch {m}\n.endc\n" + TAIL, [], False


def _star_hash(deck, out, m):
    return HEAD + f"*# shell touch {m}\n" + TAIL, [], True


def _star_hash_indented(deck, out, m):
    return HEAD + f"   *#shell touch {m}\n" + TAIL, [], True


def _star_hash_after_end(deck, out, m):
    return HEAD + TAIL + f"*# shell touch {m}\n", [], True


def _star_hash_in_include(deck, out, m):
    _write(deck / "p.inc", f"*# shell touch {m}\n")
    return HEAD + ".include p.inc\n" + TAIL, [], True


def _ng_script(deck, out, m):
    return f"*ng_script\nshell touch {m}\n", ["--allow-control"], False


def _ctl(cmd):
    def build(deck, out, m):
        return (
            HEAD + TAIL.replace(".end", ".control\n" + cmd.format(m=m, out=out) + "\n.endc\n.end"),
            ["--allow-control"],
            False,
        )

    build.__name__ = f"_allow_control_{cmd.split()[0]}"
    return build


ALLOW_CONTROL_CMDS = [
    "shell touch {m}",
    "SHELL touch {m}",
    "echo hi > {m}",
    "print v(a) >> {m}",
    "echo ok ; shell touch {m}",
    "!touch {m}",
    "echo `shell touch {m}`",
    "sh\\ell touch {m}",
    '"shell" touch {m}',
    "alias s shell",
    "codemodel {out}/x.cm",
    "osdi {out}/x.osdi",
    "pre_osdi {out}/x.osdi",
    "load {out}/x.raw",
    "source {out}/x.cir",
    "cd {out}",
    "setcs sourcepath = ( {out} )",
    "set sourcepath = ( {out} )",
    "write {m} v(a)",
    "write ../x.raw",
    "wrdata $HOME/x v(a)",
    "gnuplot {m} v(a)",
    "hardcopy {m} v(a)",
    "edit {m}",
    "rspice {m}",
    "aspice {m}",
    "system touch {m}",
]


def _data_file_device(deck, out, m):
    return (
        HEAD
        + f'A1 %v([a]) src\n.model src filesource (file="{out}/secret" amploffset=[0])\n'
        + TAIL,
        [],
        False,
    )


def _section_header_in_deck(deck, out, m):
    return HEAD + ".lib tt\nR2 a 0 1k\n.endl tt\n" + TAIL, [], False


def _nul_byte(deck, out, m):
    return HEAD + "R2 a 0 1k\0\n" + _payload(m) + TAIL, ["--allow-control"], False


def _include_unterminated_quote(deck, out, m):
    return HEAD + f'.include "{out}/evil.inc\n' + TAIL, [], False


CASES = [
    _lib_quoted_one_token,
    _lib_quoted_one_token_single,
    _symlink_relative_nested,
    _symlink_dir_nested,
    _symlink_to_outside,
    _codemodel_allow_control,
    _tilde,
    _tilde_quoted,
    _dotdot,
    _dotdot_through_sub,
    _absolute,
    _absolute_tab_upper,
    _inc_prefix,
    _lib_dotdot,
    _lib_prefix,
    _lib_inside_control_in_section,
    _lib_include_inside_lib,
    _control_in_included_file,
    _control_nested_two_deep,
    _control_after_continuation,
    _control_case,
    _exec_block,
    _star_hash,
    _star_hash_indented,
    _star_hash_after_end,
    _star_hash_in_include,
    _ng_script,
    _data_file_device,
    _section_header_in_deck,
    _nul_byte,
    _include_unterminated_quote,
] + [_ctl(c) for c in ALLOW_CONTROL_CMDS]
IDS = [c.__name__.strip("_") for c in CASES[: -len(ALLOW_CONTROL_CMDS)]] + [
    "allow_control:" + c for c in ALLOW_CONTROL_CMDS
]

#: The refusal each case must get (a lower-case piece of the message): a case refused
#: for another reason means a check it relies on stopped working.
_BAD_CHAR_NEEDLE = {c: repr(c) for c in "<>|&`\\!"}
NEEDLES = {
    "lib_quoted_one_token": "outside",
    "lib_quoted_one_token_single": "outside",
    "symlink_relative_nested": "'.control'",
    "symlink_dir_nested": "outside",
    "symlink_to_outside": "outside",
    "codemodel_allow_control": "command 'codemodel'",
    "tilde": "outside",
    "tilde_quoted": "outside",
    "dotdot": "outside",
    "dotdot_through_sub": "outside",
    "absolute": "outside",
    "absolute_tab_upper": "outside",
    "inc_prefix": "outside",
    "lib_dotdot": "outside",
    "lib_prefix": "outside",
    "lib_inside_control_in_section": "'.control'",
    "lib_include_inside_lib": "outside",
    "control_in_included_file": "'.control'",
    "control_nested_two_deep": "'.control'",
    "control_after_continuation": "'.control'",
    "control_case": "'.control'",
    "exec_block": "'.exec'",
    "star_hash": "'*#'",
    "star_hash_indented": "'*#'",
    "star_hash_after_end": "'*#'",
    "star_hash_in_include": "'*#'",
    "ng_script": "*ng_script",
    "data_file_device": "data file",
    "section_header_in_deck": "section header",
    "nul_byte": "nul byte",
    "include_unterminated_quote": "without a file name",
}


def _needle(case_id: str) -> str:
    if case_id in NEEDLES:
        return NEEDLES[case_id]
    cmd = ALLOW_CONTROL_CMDS[IDS.index(case_id) - len(NEEDLES)]
    for c in "<>|&`\\!":
        if c in cmd:
            return _BAD_CHAR_NEEDLE[c]
    word = cmd.split(";")[-1].split()[0].lower()
    if word in ("set", "write", "wrdata"):
        return "with a path"
    return f"command {word!r}"


@pytest.fixture()
def home_restored():
    old = os.environ.get("HOME")
    yield
    if old is None:
        os.environ.pop("HOME", None)
    else:
        os.environ["HOME"] = old


def _plain_ngspice(deck_file, scratch):
    """What plain ``ngspice -b`` does with the deck (proves the payload is live)."""
    subprocess.run(
        [NGSPICE, "-b", "-n", str(deck_file)],
        cwd=scratch,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("build, case_id", list(zip(CASES, IDS)), ids=IDS)
def test_escape_is_refused_and_writes_nothing(build, case_id, tmp_path, capsys, home_restored):
    deck, out, marker = _setup(tmp_path, build.__name__)
    text, flags, live = build(deck, out, marker)
    cir = deck / "deck.cir"
    cir.write_bytes(text.encode())
    if live and NGSPICE:
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        _plain_ngspice(cir, scratch)
        assert marker.exists(), "the payload does not fire in plain ngspice: not an escape"
        marker.unlink()
    for mode in ("shared", "subprocess"):
        assert main(["simulate", str(cir), "--mode", mode, *flags]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("pc-analog: error: "), err
        assert _needle(case_id) in err.lower(), err
        assert not marker.exists()
    assert [p for p in tmp_path.iterdir() if p.name.lower().startswith("marker")] == []


def test_corpus_size():
    assert len(CASES) == len(IDS) == len(set(IDS)) >= 50
    assert len(NEEDLES) == len(CASES) - len(ALLOW_CONTROL_CMDS)


# ------------------------------------------------------------------ crashes


def _cli(args, cwd):
    """The command line in a fresh process: a crash shows as a signal, not a dead pytest."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    code = "import sys; from pc_analog.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.mark.parametrize("mode", ["auto", "shared", "subprocess"])
def test_self_include_and_cycles_are_refused_not_crashes(tmp_path, mode):
    _write(tmp_path / "self.cir", HEAD + ".include self.cir\n" + TAIL)
    _write(tmp_path / "a.inc", ".include b.inc\n")
    _write(tmp_path / "b.inc", ".include a.inc\n")
    _write(tmp_path / "ab.cir", HEAD + ".include a.inc\n" + TAIL)
    _write(tmp_path / "s.lib", ".lib tt\n.lib s.lib tt\n.endl tt\n")  # ngspice hangs on it
    _write(tmp_path / "lib.cir", HEAD + ".lib s.lib tt\n" + TAIL)
    needle = "a cycle; refused"
    for name in ("self.cir", "ab.cir", "lib.cir"):
        r = _cli(["simulate", name, "--mode", mode], tmp_path)
        assert r.returncode == 2, (name, r.returncode, r.stderr)  # not 139 (SIGSEGV)
        assert needle in r.stderr and r.stderr.count("\n") == 1


def test_include_depth_is_limited(tmp_path):
    for k in range(MAX_INCLUDE_DEPTH + 2):
        _write(tmp_path / f"d{k}.inc", f".include d{k + 1}.inc\n")
    _write(tmp_path / f"d{MAX_INCLUDE_DEPTH + 2}.inc", "R2 a 0 1k\n")
    with pytest.raises(Exception, match="nested deeper than"):
        check_netlist(HEAD + ".include d0.inc\n" + TAIL, tmp_path)


def test_include_blowup_is_limited(tmp_path, monkeypatch):
    import pc_analog.spice.sandbox as sb

    monkeypatch.setattr(sb, "MAX_FLAT_LINES", 1000)
    _write(tmp_path / "x0.inc", "R2 a 0 1k\n" * 10)
    for k in range(1, 6):  # each level includes the one below ten times: 10^6 lines
        _write(tmp_path / f"x{k}.inc", f".include x{k - 1}.inc\n" * 10)
    with pytest.raises(Exception, match="exceeds 1000 lines"):
        check_netlist(HEAD + ".include x5.inc\n" + TAIL, tmp_path)


@needs_ngspice
@pytest.mark.parametrize("card", [".tf v(a) v1", ".sens v(a)"])
@pytest.mark.parametrize("mode", ["auto", "shared"])
def test_tf_and_sens_run_isolated(tmp_path, card, mode):
    _write(tmp_path / "tf.cir", HEAD + card + "\n.end\n")
    r = _cli(["simulate", "tf.cir", "--json", "--mode", mode], tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["mode"] == "subprocess" and d["analyses"] == [card[1:].split()[0]]
    assert d["values"][d["analyses"][0]]


# ------------------------------------------------------------------ what does run


EXAMPLE_DECK = """RC low pass, ngspice example style
V1 in 0 dc 0 ac 1 pulse(0 1 0 1n 1n 50u 100u)
R1 in out 1k
C1 out 0 10n
.tran 100n 40u
.control
run
let gain = v(in) - v(out)
meas tran vmax max v(out)
print v(out)[10]
plot v(in) v(out)
echo done
.endc
.end
"""


@needs_ngspice
@pytest.mark.parametrize("mode", ["auto", "shared", "subprocess"])
def test_example_deck_with_control_runs_with_allow_control(tmp_path, capsys, mode):
    cir = _write(tmp_path / "rc.cir", EXAMPLE_DECK)
    assert main(["simulate", str(cir), "--json", "--mode", mode]) == 2
    assert ".control" in capsys.readouterr().err
    assert main(["simulate", str(cir), "--json", "--mode", mode, "--allow-control"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["analysis"] == "tran" and d["mode"] == "subprocess"
    assert set(d["nodes"]) == {"in", "out"}  # the let vector 'gain' is not a node
    assert d["nodes"]["out"] == pytest.approx(1 - 2.718281828 ** (-4), rel=1e-2)
    assert list(tmp_path.iterdir()) == [cir]  # nothing written beside the deck


@needs_ngspice
def test_symlinked_include_resolves_like_ngspice(tmp_path, capsys):
    """A nested relative include of a symlinked file resolves from the link's folder."""
    deck, out, _ = _setup(tmp_path, "x")
    _write(out / "t.inc", ".include n.inc\n")
    _write(out / "n.inc", "R2 a 0 1\n")  # would give 1 A
    _write(deck / "n.inc", "R2 a 0 1k\n")  # ngspice's choice: 2 mA in total
    (deck / "link.inc").symlink_to(out / "t.inc")
    cir = _write(deck / "d.cir", HEAD + ".include link.inc\n" + TAIL)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    plain = subprocess.run(
        [NGSPICE, "-b", "-n", str(cir)], cwd=scratch, capture_output=True, text=True, check=False
    )
    assert "-2.00000e-03" in plain.stdout.replace("\t", " ") or "2.000000e-03" in plain.stdout
    args = ["simulate", str(cir), "--json", "--allow-include", str(out)]
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["nodes"]["a"] == 1.0
    flat = check_netlist(cir.read_text(), deck, allow_include=[out])
    assert "R2 a 0 1k" in flat and "R2 a 0 1\n" not in flat


@needs_ngspice
def test_allow_include_admits_a_model_library(tmp_path, capsys):
    deck, pdk, _ = _setup(tmp_path, "x")
    _write(pdk / "models.lib", ".lib tt\nR2 a 0 1k\n.endl tt\n.lib ff\nR2 a 0 1\n.endl ff\n")
    cir = _write(deck / "d.cir", HEAD + f".lib '{pdk}/models.lib' tt\n" + TAIL)
    assert main(["simulate", str(cir), "--json"]) == 2
    assert "--allow-include" in capsys.readouterr().err
    assert main(["simulate", str(cir), "--json", "--allow-include", str(pdk)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["values"] == {} and d["nodes"] == {"a": 1.0}
    assert main(["simulate", str(cir), "--allow-include", str(tmp_path / "nope")]) == 2


@needs_ngspice
@pytest.mark.parametrize("mode", ["auto", "shared", "subprocess"])
def test_dc_and_ac_are_tables_and_csv(tmp_path, capsys, mode):
    cir = _write(
        tmp_path / "sweep.cir",
        "sweeps\nV1 in 0 dc 0 ac 1\nR1 in out 1k\nR2 out 0 1k\nC1 out 0 1n\n"
        ".dc v1 0 1 0.25\n.ac dec 3 1k 1meg\n.end\n",
    )
    csv = tmp_path / "res.csv"
    assert main(["simulate", str(cir), "--json", "--mode", mode, "--csv", str(csv)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["tables"]) == {"dc", "ac"}
    dc = d["tables"]["dc"]
    assert dc["columns"][0] == "v-sweep" and len(dc["rows"]) == 5
    k = dc["columns"].index("out")
    assert [r[k] for r in dc["rows"]] == pytest.approx([0, 0.125, 0.25, 0.375, 0.5])
    assert d["tables"]["ac"]["columns"][0] == "frequency"
    assert "out.re" in d["tables"]["ac"]["columns"]
    lines = (tmp_path / "res_dc.csv").read_text().splitlines()
    assert lines[0].startswith("v-sweep,") and len(lines) == 6
    assert (tmp_path / "res_ac.csv").exists()
    one = _write(tmp_path / "one.cir", cir.read_text().replace(".ac dec 3 1k 1meg\n", ""))
    assert main(["simulate", str(one), "--csv", str(one)]) == 2  # never over the netlist
    assert "overwrite" in capsys.readouterr().err
    assert main(["simulate", str(cir)]) == 0
    assert "dc (5 points)" in capsys.readouterr().out


def test_no_analysis_is_refused_before_running(tmp_path, capsys):
    cir = _write(tmp_path / "none.cir", HEAD + ".end\n")
    assert main(["simulate", str(cir)]) == 2
    assert "no analysis" in capsys.readouterr().err
    cir = _write(tmp_path / "ctl.cir", HEAD + ".control\nop\nprint v(a)\n.endc\n.end\n")
    assert main(["simulate", str(cir), "--allow-control"]) == 2
    assert "not captured" in capsys.readouterr().err


def test_the_final_check_refuses_any_file_card_the_flattener_missed():
    """Defence in depth: the checked text may name no file at all."""
    from pc_analog.errors import InvalidInputError
    from pc_analog.spice.sandbox import _Line, check_lines

    for card in (".include /etc/passwd", "  .LIB /x.lib tt", "\t.incx y", ".lib tt"):
        lines = [_Line("t", "netlist", 1), _Line(card, "netlist", 2)]
        with pytest.raises(InvalidInputError, match="line 2: an unexpanded"):
            check_lines(lines, allow_control=True)


@needs_ngspice
def test_progress_lines_stream_while_ngspice_runs(tmp_path, capsys):
    from pc_analog.cli.simulate import _Progress
    from pc_analog.spice.batch import run_ngspice_batch

    seen: list[str] = []
    run_ngspice_batch(HEAD + ".tran 1u 100u\n.end\n", timeout_s=60, progress=seen.append)
    assert any("Circuit:" in ln for ln in seen)  # handed over line by line
    p = _Progress(tty=False)
    p("stray line")
    p("Reference value :  1.00000e-05")
    p("Reference value :  2.00000e-05")  # within a second: not shown
    assert capsys.readouterr().err == "ngspice: Reference value :  1.00000e-05\n"
    cir = _write(tmp_path / "t.cir", HEAD + ".tran 1u 100u\n.end\n")
    assert main(["simulate", str(cir), "--progress", "--mode", "subprocess"]) == 0


# ------------------------------------------------------------------ fidelity

FIDELITY = {
    # .lib in an included file in a subfolder resolves from the deck's folder
    "lib_in_sub_include": (".include sub/uses.inc", {"sub/uses.inc": ".lib q.lib tt\n"}),
    "lib_quoted_one_token": ('.lib "q.lib tt"', {}),
    "tab_upper_single_quotes": ("\t.INCLUDE\t'n.inc'", {}),
    "inc_prefix_semicolon_comment": (".incfoo n.inc;comment", {}),
    "dollar_comment": (".include n.inc $ comment", {}),
    # inside a library (reached through a symlink) .include resolves from its real folder
    "lib_symlink_habitat": (".lib mlink.lib tt", {}),
    "include_symlink_as_written": (".include link.inc", {}),
}


def _fidelity_tree(tmp_path):
    deck, real = tmp_path / "deck", tmp_path / "real"
    _write(deck / "n.inc", "R2 a 0 2k\n")
    _write(real / "n.inc", "R2 a 0 1k\n")
    _write(deck / "q.lib", ".lib tt\nR2 a 0 8k\n.endl tt\n")
    _write(deck / "sub" / "q.lib", ".lib tt\nR2 a 0 4k\n.endl tt\n")
    _write(real / "m.lib", ".lib tt\n.include n.inc\n.endl tt\n")
    _write(real / "t.inc", ".include n.inc\n")
    (deck / "mlink.lib").symlink_to(real / "m.lib")
    (deck / "link.inc").symlink_to(real / "t.inc")
    return deck, real


@needs_ngspice
@pytest.mark.parametrize("case", sorted(FIDELITY))
def test_flattening_means_what_ngspice_means(tmp_path, case):
    """Plain ngspice on the deck in its folder and the flattened deck give the same circuit."""
    from pc_analog.spice.raw import read_raw
    from pc_analog.spice.runner import run_netlist
    from pc_analog.spice.sandbox import check_netlist_file

    deck, real = _fidelity_tree(tmp_path)
    card, files = FIDELITY[case]
    for name, text in files.items():
        _write(deck / name, text)
    cir = _write(deck / "d.cir", "fidelity\nV1 a 0 1\n" + card + "\n.op\n.end\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    subprocess.run(
        [NGSPICE, "-b", "-n", "-r", "out.raw", str(cir)],
        cwd=scratch,
        capture_output=True,
        timeout=60,
        check=True,
    )
    plain = -float(read_raw(scratch / "out.raw")[0].data["i(v1)"][0])
    flat = check_netlist_file(cir, allow_include=[real])
    ours = -run_netlist(flat, mode="subprocess").op["v1#branch"]
    assert ours == pytest.approx(plain, rel=1e-9) and plain > 0


@needs_ngspice
def test_noise_pz_disto_are_reported_with_plain_names(tmp_path, capsys):
    cir = _write(
        tmp_path / "nz.cir",
        "nz\nV1 in 0 dc 0 ac 1\nR1 in out 1k\nC1 out 0 1n\nR2 out 0 10k\n"
        ".noise v(out) V1 dec 2 1k 100k\n.pz in 0 out 0 vol pz\n.disto dec 2 1k 10k\n.end\n",
    )
    assert main(["simulate", str(cir), "--json", "--csv", str(tmp_path / "r.csv")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["analyses"] == ["pz", "disto", "disto2", "noise", "noise2"]
    assert d["values"]["pz"]["pole(1)"] == pytest.approx(-1.1e6)
    assert d["tables"]["noise"]["columns"][0] == "frequency"
    assert sorted(p.name for p in tmp_path.glob("r_*.csv")) == [
        f"r_{k}.csv" for k in sorted(d["analyses"])
    ]


def test_included_bytes_are_limited(tmp_path, monkeypatch):
    import pc_analog.spice.sandbox as sb

    monkeypatch.setattr(sb, "MAX_FLAT_BYTES", 100)
    _write(tmp_path / "big.inc", "*" * 200 + "\n")  # one long line: no line limit helps
    with pytest.raises(Exception, match="exceed 100 bytes"):
        check_netlist(HEAD + ".include big.inc\n" + TAIL, tmp_path)
