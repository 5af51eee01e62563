"""``pc-analog simulate``: run a SPICE netlist in ngspice and report what it computed.

The netlist is untrusted.  :func:`~pc_analog.spice.sandbox.check_netlist_file` flattens
it (every ``.include``/``.lib`` expanded as ngspice 39 resolves it, from the netlist's
folder or an ``--allow-include`` folder only) and checks the flattened text: no
``.control`` blocks unless ``--allow-control`` (then only analysis and measurement
commands), no shell, no data files.  A refusal is bad input (exit 2).  That one
flattened deck, and nothing else, runs in an empty scratch folder.

Decks pc-analog did not write run as ngspice subprocesses (a crash of ngspice, e.g. on
``.tf``/``.sens`` in the shared library, cannot take this process down); pc-analog's
own ``.op``/``.tran`` decks may run in process.  The analyses are found before the
run: none is bad input.  Reported: node voltages at the end of a transient or at the
operating point, every other analysis (``.dc``, ``.ac``, ``.tf``, ``.noise`` ...) as a
table or values, and with ``--csv OUT`` each table as CSV.  ngspice's error report is
passed through whole (exit 3).
"""

from __future__ import annotations

import math
import sys

from pc_analog.cli._common import EXIT_OK, json_line, positive_float
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]

#: Vector names that are a plot's scale (its first column), in ngspice's raw files.
_SCALES = ("time", "frequency", "v-sweep", "i-sweep", "temp-sweep", "res-sweep")
#: Analyses the shared library runs in this process (others crash it: .tf, .sens).
_SHARED_OK = ("op", "tran", "dc", "ac")
#: Table rows printed as text (all of them go to --csv).
_MAX_TEXT_ROWS = 200
_GENERATOR = "* generator: pc-analog"


def _number(v):
    """A JSON-safe float (None for nan/inf)."""
    v = float(v)
    return v if math.isfinite(v) else None


def _table(vectors) -> tuple[list[str], list[list]]:
    """``(columns, rows)`` of one plot: the scale first, complex vectors as re/im."""
    import numpy as np

    names = sorted(
        vectors, key=lambda n: (n not in _SCALES, _SCALES.index(n) if n in _SCALES else 0)
    )
    cols: list[str] = []
    data = []
    for n in names:
        arr = np.asarray(vectors[n])
        if np.iscomplexobj(arr) and (n in _SCALES or not np.any(arr.imag)):
            arr = arr.real
        if np.iscomplexobj(arr):
            cols += [f"{n}.re", f"{n}.im"]
            data += [arr.real, arr.imag]
        else:
            cols.append(n)
            data.append(arr)
    length = min((len(d) for d in data), default=0)
    rows = [[_number(d[k]) for d in data] for k in range(length)]
    return cols, rows


def _mode_for(requested: str, text: str, cards: list[str], control: bool) -> tuple[str, str]:
    """``(mode to run, note)``: foreign decks, control blocks and risky analyses in a subprocess."""
    ours = _GENERATOR in "\n".join(text.splitlines()[:12])
    if requested == "subprocess":
        return "subprocess", ""
    if requested == "auto":
        if ours and not control and set(cards) <= {"op", "tran"}:
            return "auto", ""
        return "subprocess", ""
    risky = sorted(set(cards) - set(_SHARED_OK))
    if control or risky:
        why = "a control block" if control else "analyses " + ", ".join(risky)
        return "subprocess", f"--mode shared: {why} run as a subprocess (crash isolation)"
    return "shared", ""


def _csv_paths(out: str, kinds: list[str], netlist: str):
    from pathlib import Path

    base = Path(out)
    if not base.parent.is_dir():
        raise InvalidInputError(f"--csv {out}: no such folder {str(base.parent)!r}")
    if len(kinds) == 1:
        paths = {kinds[0]: base}
    else:
        paths = {k: base.with_name(f"{base.stem}_{k}{base.suffix or '.csv'}") for k in kinds}
    from pc_analog.io.formats import check_not_input

    for p in paths.values():
        check_not_input(p, [netlist], f"--csv {out}")
    return paths


def _write_csv(path, cols, rows) -> None:
    """One table as CSV, written atomically by the project's one writer."""
    import csv
    import io

    from pc_analog.io.formats import atomic_write_text

    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(cols)
    w.writerows([["" if v is None else repr(v) for v in r] for r in rows])
    atomic_write_text(path, buf.getvalue())


class _Progress:
    """ngspice's ``Reference value`` lines on stderr, at most about once a second."""

    def __init__(self, tty: bool):
        import time

        self.tty, self.last, self.clock, self.shown = tty, 0.0, time.monotonic, False

    def __call__(self, line: str) -> None:
        if "reference value" not in line.lower():
            return
        now = self.clock()
        if now - self.last < 1.0:
            return
        self.last = now
        text = "ngspice: " + line.strip()
        if self.tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
            self.shown = True
        else:
            print(text, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)


def run(args) -> int:
    """Flatten and check the netlist, run it in ngspice, report every analysis."""
    import time

    from pc_analog.spice.runner import run_netlist
    from pc_analog.spice.sandbox import analyses_of, check_netlist_file, has_control

    text = check_netlist_file(
        args.netlist, args.allow_control, allow_include=args.allow_include or ()
    )
    cards, commands = analyses_of(text)
    if not cards:
        extra = (
            f" (the .control commands {', '.join(commands)} are not captured: write them "
            "as cards, e.g. .tran, and 'run' them)"
            if commands
            else ""
        )
        raise InvalidInputError(
            f"{args.netlist}: no analysis card (.op, .tran, .dc, .ac, .tf, .noise, ...)" + extra
        )
    control = has_control(text)
    mode, note = _mode_for(args.mode, text, cards, control)
    uncaptured = [c for c in commands if c not in cards]
    if uncaptured:
        note = "; ".join(
            filter(
                None,
                [
                    note,
                    f"analyses run by .control commands ({', '.join(uncaptured)}) "
                    "are not captured, only the deck's cards",
                ],
            )
        )
    kinds_expected = cards
    csv_paths = None
    if args.csv:
        csv_paths = _csv_paths(args.csv, kinds_expected, args.netlist)
    progress = None
    if args.progress or sys.stderr.isatty():
        progress = _Progress(sys.stderr.isatty() and not args.progress)
    t0 = time.perf_counter()
    try:
        result = run_netlist(text, mode=mode, timeout_s=args.timeout_s, progress=progress)
    finally:
        if progress is not None:
            progress.done()
    seconds = time.perf_counter() - t0
    if result.note:
        note = "; ".join(filter(None, [result.note, note]))

    report = _collect(result)
    if csv_paths is not None:
        _write_tables(args, result, report)
    if args.json:
        out = {
            "analysis": report["analysis"],
            "analyses": list(result.plots),
            "t_end_s": report["t_end"],
            "nodes": report["nodes"],
            "tables": report["sweeps"],
            "values": report["values"],
            "mode": result.mode,
            "seconds": seconds,
        }
        if note:
            out["note"] = note
        print(json_line(out))
    else:
        _print_text(result, report, seconds, note)
    return EXIT_OK


def _collect(result) -> dict:
    """Node voltages, sweep tables and single-point values of a run."""
    if result.time is not None:
        analysis, t_end = "tran", result.t_end_s
    elif result.op is not None:
        analysis, t_end = "op", None
    else:
        analysis, t_end = next(iter(result.plots), None), None
    nodes = {k: _number(v) for k, v in result.final_voltages().items()}
    tables: dict[str, dict] = {}
    values: dict[str, dict] = {}
    for kind, vectors in result.plots.items():
        cols, rows = _table(vectors)
        if kind.startswith(("tran", "op")) or len(rows) != 1:
            tables[kind] = {"columns": cols, "rows": rows}
        else:
            values[kind] = dict(zip(cols, rows[0]))
    sweeps = {k: v for k, v in tables.items() if not k.startswith(("tran", "op"))}
    return {
        "analysis": analysis,
        "t_end": t_end,
        "nodes": nodes,
        "tables": tables,
        "values": values,
        "sweeps": sweeps,
    }


def _write_tables(args, result, report) -> None:
    tables, values = report["tables"], report["values"]
    for kind, p in _csv_paths(args.csv, list(result.plots), args.netlist).items():
        t = tables.get(kind) or {
            "columns": list(values[kind]),
            "rows": [list(values[kind].values())],
        }
        _write_csv(p, t["columns"], t["rows"])


def _fmt(v) -> str:
    return f"{v: .12g}" if v is not None else "nan"


def _print_text(result, report, seconds: float, note: str) -> None:
    print(f"ngspice {', '.join(result.plots)} ({result.mode}, {seconds:.3g} s)")
    if note:
        print(f"note: {note}")
    nodes = report["nodes"]
    if nodes:
        t_end = report["t_end"]
        when = f"at t = {t_end:.6g} s" if report["analysis"] == "tran" else "operating point"
        print(f"node voltages {when}:")
        width = max(len(k) for k in nodes)
        for k, v in nodes.items():
            print(f"  {k:<{width}}  {_fmt(v)}")
    for kind, t in report["sweeps"].items():
        rows = t["rows"]
        print(f"{kind} ({len(rows)} points):")
        print("  " + "  ".join(f"{c:>16}" for c in t["columns"]))
        for r in rows[:_MAX_TEXT_ROWS]:
            print("  " + "  ".join(f"{v:>16.9g}" if v is not None else f"{'nan':>16}" for v in r))
        if len(rows) > _MAX_TEXT_ROWS:
            print(f"  ... {len(rows) - _MAX_TEXT_ROWS} more rows (--csv OUT writes all)")
    for kind, vals in report["values"].items():
        print(f"{kind}:")
        width = max((len(k) for k in vals), default=0)
        for k, v in vals.items():
            print(f"  {k:<{width}}  {_fmt(v)}")


def add_parser(sub) -> None:
    """Register ``simulate`` on the subcommand set ``sub``."""
    m = sub.add_parser(
        "simulate",
        help="run a SPICE netlist in ngspice and report its analyses",
        description="Run a netlist (e.g. from 'pc-analog compile', or an ngspice example deck) "
        "in ngspice in a sandbox: .include/.lib files are expanded by pc-analog (only from the "
        "netlist's folder and --allow-include folders) and the one flattened deck runs in an "
        "empty scratch folder. Prints node voltages (.tran end, .op) and tables (.dc, .ac, "
        "...). Refused with exit 2: .control blocks and '*#' lines (unless --allow-control), "
        "shell commands, includes outside the allowed folders, include cycles.",
    )
    m.add_argument("netlist", metavar="FILE.cir")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument(
        "--mode",
        default="auto",
        choices=("auto", "shared", "subprocess"),
        help="auto (default): decks pc-analog did not write run as an ngspice subprocess",
    )
    m.add_argument(
        "--allow-control",
        action="store_true",
        help="let .control blocks through, restricted to analysis and measurement commands "
        "(no shell, codemodel, osdi, source, cd, redirection; files only in the scratch folder)",
    )
    m.add_argument(
        "--allow-include",
        action="append",
        metavar="DIR",
        help="a folder included model libraries may come from (repeatable)",
    )
    m.add_argument(
        "--csv", metavar="OUT", help="write each analysis as CSV (OUT_<kind>.csv if several)"
    )
    m.add_argument(
        "--progress",
        action="store_true",
        help="print ngspice's progress on stderr (automatic on a terminal)",
    )
    m.add_argument(
        "--timeout-s", type=positive_float, default=600.0, help="wall-clock limit (default 600)"
    )
    m.set_defaults(func=run)
