"""``pc-analog stability``: the circuit linearised at its rest point (SPEC section 4).

Compiles the network with its input (and target) clamped and the analog spec's
non-idealities (``--hardware``), solves the rest point (the zero of the KCL residual) and
reports :func:`~pc_analog.solvers.stability.stability`: the eigenvalues (1/s; node states
plus one state per amplifier pole when ``amp_gbw_Hz`` is set), ``stable``, the slowest
decay rate, the worst damping ratio and the gain-bandwidth below which the rest point
oscillates.  Exit status 0 when the report is made (stable or not: ``"stable"`` says
which), 3 when the rest point could not be solved, 2 for bad input.
"""

from __future__ import annotations

import sys

from pc_analog.cli._common import (
    EXIT_BACKEND,
    EXIT_OK,
    add_hardware_options,
    add_spec_option,
    compile_with_spec,
    json_line,
    load_io,
)

__all__ = ["add_parser", "run"]


def run(args) -> int:
    """Print the stability report; 0 once made, 3 if the rest point was not found."""
    from pc_analog.io.formats import load_network
    from pc_analog.solvers.stability import stability

    net = load_network(args.network)
    x0, y, single = load_io(args, net, need_target=False)
    circuit = compile_with_spec(args, net, x0, y)
    rep = stability(circuit, bound=not args.no_bound)
    out = rep.to_dict()
    if single:
        out["eigenvalues"] = out["eigenvalues"][0]
    out["tau_s"] = float(circuit.tau_s)
    if args.json:
        print(json_line(out))
    else:
        print(f"stability: {rep.message}")
        print(f"stable = {rep.stable}")
        print(f"slowest decay = {rep.slowest_decay_per_s:.6g} /s")
        print(f"worst damping ratio = {rep.worst_damping_ratio:.6g}")
        if rep.gbw_bound_Hz is not None:
            print(f"GBW bound = {rep.gbw_bound_Hz:.6g} Hz")
    if rep.status.name in ("SUCCESS", "UNSTABLE"):
        return EXIT_OK
    print(f"pc-analog: stability: {rep.message}", file=sys.stderr)
    return EXIT_BACKEND


def add_parser(sub) -> None:
    """Register ``stability`` on the subcommand set ``sub``."""
    s = sub.add_parser("stability", help="eigenvalues of the circuit linearised at rest")
    s.add_argument("network", metavar="NET.json", help="network file (.json or .npz)")
    s.add_argument("--input", required=True, metavar="X.json", help="input vector(s), clamped")
    s.add_argument("--target", metavar="Y.json", help="target vector(s), clamped at the output")
    s.add_argument(
        "--no-bound", action="store_true", help="skip the search for the GBW bound (faster)"
    )
    add_hardware_options(s)
    add_spec_option(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=run)
