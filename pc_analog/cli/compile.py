"""``pc-analog compile``: write one sample's SPICE netlist (SPEC section 3).

Compiles the network with its clamps into the circuit IR
(:func:`~pc_analog.circuit.ir.compile_network`) and writes the ngspice netlist
(:func:`~pc_analog.spice.netlist.write_netlist`) to a file, atomically (never a
half-written file), or to stdout with ``-o -``.  ``--clamp L=FILE.json`` clamps any units
(``null`` = free) as DC voltage sources; the free ones are capacitor nodes.  Without
``--input`` or ``--clamp`` the input layer is clamped to zeros.  The output never replaces
an input file (``-o NET.json`` is refused).
"""

from __future__ import annotations

import sys

import numpy as np

from pc_analog.cli._common import (
    EXIT_OK,
    add_clamp_option,
    add_hardware_options,
    add_spec_option,
    compile_with_spec,
    load_input,
    load_stimulus,
    nonnegative_int,
    positive_float,
)
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def _stimulus(args, net):
    """The batched input (zeros without ``--input``) and target (or ``None``)."""
    from pc_analog.io.formats import load_vectors

    if args.input is not None:
        x0 = load_input(args, net)[0]
    else:
        x0 = np.zeros((1, net.sizes[0]))
    y = None
    if args.target is not None:
        y, _ = load_vectors(args.target, net.sizes[-1], "target")
        if y.shape[0] != x0.shape[0]:
            raise InvalidInputError(f"target: {y.shape[0]} samples but input has {x0.shape[0]}")
    return x0, y


def run(args) -> int:
    """Write one sample's SPICE netlist; without ``--input`` the input is clamped to zeros."""
    from pathlib import Path

    from pc_analog.io.formats import atomic_write_text, check_not_input, load_network
    from pc_analog.spice.netlist import write_netlist

    if args.output != "-":
        clamp_files = [c.partition("=")[2] for c in args.clamp]
        check_not_input(args.output, (args.network, args.input, args.target, *clamp_files), "-o")
    net = load_network(args.network)
    if args.clamp:  # any clamp set (SPEC section 4)
        clamp, values, _ = load_stimulus(args, net, input_required=False)
        circuit = compile_with_spec(args, net, None, None, clamp=clamp, values=values)
    else:
        x0, y = _stimulus(args, net)
        circuit = compile_with_spec(args, net, x0, y)
    text = write_netlist(
        circuit,
        sample=args.sample,
        level=args.level,
        analysis=args.analysis,
        t_stop_s=args.t_stop_s,
        t_step_s=args.t_step_s,
    )
    if args.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    out = Path(args.output)
    if out.is_dir():
        raise InvalidInputError(f"-o: is a directory: {out}")
    if not out.parent.is_dir():
        raise InvalidInputError(f"-o: no such directory: {out.parent}")
    try:
        atomic_write_text(out, text)
    except OSError as exc:  # atomic_write_text's InvalidInputError is an OSError too
        raise InvalidInputError(f"-o: {exc}") from None
    return EXIT_OK


def add_parser(sub) -> None:
    """Register ``compile`` on the subcommand set ``sub``."""
    c = sub.add_parser(
        "compile",
        help="write a SPICE netlist of one sample (clamps as voltage sources)",
        description="Write an ngspice netlist (SPEC section 3). Without --input the input "
        "layer is clamped to zeros (unless a --clamp is given); with --target the output layer "
        "is clamped too; --clamp L=FILE clamps any units (null = free) as voltage sources.",
    )
    c.add_argument("network", metavar="NET.json")
    c.add_argument(
        "--input",
        metavar="X.json",
        help="input vector(s): raw data, mapped by the network's input_transform, clamped "
        "(default: the input layer at 0 V)",
    )
    c.add_argument("--target", metavar="Y.json", help="target vector(s), clamped at the output")
    add_clamp_option(c)
    c.add_argument(
        "-o", "--output", required=True, metavar="OUT.cir", help="netlist file, - for stdout"
    )
    c.add_argument("--level", default="behavioural", choices=("behavioural", "crossbar"))
    c.add_argument("--analysis", default="tran", choices=("tran", "op"))
    c.add_argument("--sample", type=nonnegative_int, default=0, help="sample of a batch (0-based)")
    c.add_argument("--t-stop-s", type=positive_float, help="transient length (default: settles)")
    c.add_argument(
        "--t-step-s", type=positive_float, help="maximum time step (default t_stop/1000)"
    )
    add_hardware_options(c)
    add_spec_option(c)
    c.set_defaults(func=run)
