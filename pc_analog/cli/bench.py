"""``pc-analog bench``: the group of benchmark subcommands.

``bench timing`` (:mod:`pc_analog.cli.timing`) puts one network's analog settle beside
digital backprop; ``bench sweep`` (:mod:`pc_analog.cli.sweep`) runs a co-design grid;
``bench generate|inpaint|missing|memory`` (:mod:`pc_analog.cli.any_direction`) infer in any
direction beside their baselines; ``bench transfer`` (:mod:`pc_analog.cli.transfer`) trains
ex-situ BP, hardware-aware BP and in-situ PC for one non-ideal chip.
A new benchmark is a module with ``add_parser(bsub)`` and ``run(args)``, listed in
``BENCH_COMMANDS``.
"""

from __future__ import annotations

from pc_analog.cli import any_direction, sweep, timing, transfer
from pc_analog.cli._common import Parser

__all__ = ["add_parser", "BENCH_COMMANDS"]

#: The ``bench`` subcommand modules in the order ``bench --help`` lists them.
BENCH_COMMANDS = (timing, sweep, any_direction, transfer)


def add_parser(sub) -> None:
    """Register the ``bench`` group and its subcommands on the subcommand set ``sub``."""
    bench = sub.add_parser(
        "bench",
        help="timing and energy against digital backprop, any-direction tasks (bench timing, ...)",
    )
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH", parser_class=Parser)
    bsub.required = True
    for module in BENCH_COMMANDS:
        module.add_parser(bsub)
