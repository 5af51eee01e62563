"""``pc-analog simulate``: run a SPICE netlist in ngspice and print its node voltages.

The netlist passes the safety check first (:func:`~pc_analog.spice.ngspice.check_netlist`:
no ``.control`` blocks unless ``--allow-control``, no shell commands, no includes
outside its folder; a refusal is bad input, exit 2), then runs in ngspice
(:func:`~pc_analog.spice.ngspice.run_netlist`); prints every node's final transient
voltage or operating-point voltage, as text or one JSON object.
"""

from __future__ import annotations

import json

from pc_analog.cli._common import EXIT_OK, positive_float
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def run(args) -> int:
    """Run a netlist in ngspice after the safety check; print the nodes' final voltages."""
    import time
    from pathlib import Path

    from pc_analog.spice.ngspice import check_netlist, run_netlist

    path = Path(args.netlist)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInputError(f"{args.netlist}: cannot read: {exc.strerror or exc}") from None
    text = check_netlist(text, path.resolve().parent, allow_control=args.allow_control)
    t0 = time.perf_counter()
    result = run_netlist(text, mode=args.mode, timeout_s=args.timeout_s)
    seconds = time.perf_counter() - t0
    if result.time is not None:
        analysis, t_end = "tran", result.t_end_s
    elif result.op is not None:
        analysis, t_end = "op", None
    else:
        raise InvalidInputError(f"{args.netlist}: no .tran or .op analysis to report")
    nodes = result.final_voltages()
    if args.json:
        out = {
            "analysis": analysis,
            "t_end_s": t_end,
            "nodes": nodes,
            "mode": result.mode,
            "seconds": seconds,
        }
        if result.note:
            out["note"] = result.note
        print(json.dumps(out))
    else:
        when = f"at t = {t_end:.6g} s" if analysis == "tran" else "operating point"
        print(f"ngspice {analysis} ({result.mode}, {seconds:.3g} s): node voltages {when}")
        width = max((len(k) for k in nodes), default=0)
        for k, v in nodes.items():
            print(f"  {k:<{width}}  {v: .12g}")
    return EXIT_OK


def add_parser(sub) -> None:
    """Register ``simulate`` on the subcommand set ``sub``."""
    m = sub.add_parser(
        "simulate",
        help="run a SPICE netlist in ngspice and print its node voltages",
        description="Run a netlist (e.g. from 'pc-analog compile') in ngspice and print every "
        "node's final voltage (transient) or operating-point voltage. Netlists with .control "
        "blocks, '*#' command lines, shell commands or .include/.lib files outside their folder "
        "are refused (exit 2).",
    )
    m.add_argument("netlist", metavar="OUT.cir")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument("--mode", default="auto", choices=("auto", "shared", "subprocess"))
    m.add_argument(
        "--allow-control",
        action="store_true",
        help="let .control blocks through (trusted netlists only; shell is refused anyway)",
    )
    m.add_argument(
        "--timeout-s", type=positive_float, default=600.0, help="wall-clock limit (default 600)"
    )
    m.set_defaults(func=run)
