"""``pc-analog settle``: settle a network with any clamp set (input, target, ``--clamp``).

Loads the network and the vectors, runs :func:`~pc_analog.settling.registry.settle` with
the chosen backend (``discrete``, ``equilibrium``, ``ode``, ``ngspice``) and prints the
settled activities, the energy and whether it converged (SPEC section 4), as text or as
one JSON object.  ``--clamp L=FILE.json`` clamps any units of any layer (``null`` = free),
so the same network infers in any direction: a label clamped at one end and the image
left free at the other, half an image clamped and the rest filled in.  Exit status 1 when
the backend stopped short of rest (an iteration or time limit); 3 when it failed on valid
input (ngspice's operating point off its KCL residual, an unstable circuit, a non-finite
state), with the reason on stderr.
"""

from __future__ import annotations

import sys

import numpy as np

from pc_analog.cli._common import (
    DAMPING_RANGE,
    EXIT_BACKEND,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    add_clamp_option,
    add_hardware_options,
    add_spec_option,
    bounded_float,
    compile_with_spec,
    hardware,
    json_line,
    layers_out,
    load_io,
    load_stimulus,
    positive_float,
    positive_int,
    scalar_or_list,
)
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def _backend_options(args) -> dict:
    """The keyword options of ``settle`` that apply to ``args.backend``."""
    if args.backend == "discrete":
        options = {"step_size": args.step_size, "max_steps": args.max_steps}
        if args.gtol is not None:
            options["gtol"] = args.gtol
        return options
    if args.backend == "equilibrium" and args.gtol is not None:
        return {"gtol": args.gtol}
    if args.backend == "ode":
        return {
            "method": args.method,
            "settle_band": args.settle_band,
            "inertial": args.inertial,
            "damping_ratio": args.damping_ratio,
        }
    if args.backend == "ngspice":
        return {
            "level": args.level,
            "mode": args.ngspice_mode,
            "analysis": args.analysis,
            **({"settle_band": args.settle_band} if args.analysis == "tran" else {}),
        }
    return {}


def run(args) -> int:
    """Settle and print the result; 0 if converged, 1 if stopped short, 3 if the backend failed."""
    from pc_analog.io.formats import load_network
    from pc_analog.settling.registry import settle

    net = load_network(args.network)
    options = _backend_options(args)
    if args.clamp:  # any clamp set (SPEC section 4): --input/--target join the --clamp files
        clamp, values, single = load_stimulus(args, net, input_required=True)
        circuit = compile_with_spec(args, net, None, None, clamp=clamp, values=values)
        res = settle(circuit, backend=args.backend, on_failure="return", **options)
    elif args.input is None:
        raise InvalidInputError("--input: required unless --clamp is given")
    elif args.spec is None:
        x0, y, single = load_io(args, net, need_target=False)
        res = settle(
            net, x0, y, backend=args.backend, hardware=hardware(args), on_failure="return",
            **options,
        )  # fmt: skip
    else:
        x0, y, single = load_io(args, net, need_target=False)
        circuit = compile_with_spec(args, net, x0, y)
        res = settle(circuit, backend=args.backend, on_failure="return", **options)
    out = {
        "backend": res.backend,
        "x": layers_out(res.x, single),
        "energy": scalar_or_list(res.energy, single),
        "converged": bool(res.success),
        "status": res.status.name,
        "message": res.message,
        "grad_max": scalar_or_list(res.grad_max, single),
        "stats": res.stats,
    }
    if res.settling_time_s is not None:
        out["settling_time_s"] = scalar_or_list(res.settling_time_s, single)
    if res.tau_s is not None:
        out["tau_s"] = float(res.tau_s)
    if args.json:
        print(json_line(out))
    else:
        print(f"backend {res.backend}: {res.message}")
        for l, xl in enumerate(res.x):
            print(f"x{l} = {np.array2string(xl[0] if single else xl, precision=6)}")
        print(f"energy = {out['energy']}")
    if res.success:
        return EXIT_OK
    print(f"pc-analog: {res.backend}: {res.message}", file=sys.stderr)
    return EXIT_BACKEND if res.status.backend_failure else EXIT_NOT_CONVERGED


#: The registry's backend names, spelled out so that building the parser imports no
#: backend (and so no scipy); ``tests/test_startup.py`` checks it against ``BACKENDS``.
BACKEND_NAMES = ("discrete", "equilibrium", "ngspice", "ode", "sde")


def add_parser(sub) -> None:
    """Register ``settle`` on the subcommand set ``sub``."""
    s = sub.add_parser("settle", help="settle a network from the feedforward start")
    s.add_argument("network", metavar="NET.json", help="network file (.json or .npz)")
    s.add_argument(
        "--input",
        metavar="X.json",
        help="input vector(s): raw data, mapped by the network's input_transform, clamped "
        "(required without --clamp)",
    )
    s.add_argument("--target", metavar="Y.json", help="target vector(s), clamped at the output")
    add_clamp_option(s)
    s.add_argument("--backend", default="equilibrium", choices=BACKEND_NAMES)
    s.add_argument("--gtol", type=positive_float, help="tolerance on max |dF/dx|")
    s.add_argument("--step-size", type=positive_float, default=0.1, help="discrete: step in tau")
    s.add_argument("--max-steps", type=positive_int, default=100_000, help="discrete: step limit")
    s.add_argument(
        "--settle-band",
        type=positive_float,
        default=1e-3,
        help="time-domain backends: delta of the settling time (default 1e-3)",
    )
    s.add_argument("--method", default="auto", help="ode: solve_ivp method (default auto)")
    s.add_argument(
        "--inertial",
        action="store_true",
        help="ode: second-order spring-network dynamics (mass and damping)",
    )
    s.add_argument(
        "--damping-ratio",
        type=bounded_float(*DAMPING_RANGE),
        default=1.0,
        help="ode --inertial: damping ratio of the slowest mode (default 1)",
    )
    s.add_argument(
        "--analysis",
        default="tran",
        choices=("tran", "op"),
        help="ngspice: a transient (settling time) or the operating point only (default tran)",
    )
    s.add_argument(
        "--level",
        default="behavioural",
        choices=("behavioural", "crossbar"),
        help="circuit level (default behavioural); crossbar: --hardware wires and readouts in "
        "every backend",
    )
    s.add_argument(
        "--ngspice-mode",
        default="auto",
        choices=("auto", "shared", "subprocess"),
        help="ngspice: in-process shared library or ngspice subprocesses (default auto)",
    )
    add_hardware_options(s)
    add_spec_option(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=run)
