"""``pc-analog bench timing``: one network's analog settle against digital backprop.

Settles the network in the simulated analog circuit (ode backend) and prints
:func:`~pc_analog.costs.timing.timing_report`: its settling time next to the spectral
prediction, energy per inference and device count beside backprop and discrete PC,
measured on this CPU and modelled on reference machines (roofline), as a table or one
JSON object.  Inputs come from the digits test set when the widths fit, else seeded
random vectors.  Exit status 1 when the analog circuit did not settle.
"""

from __future__ import annotations

import sys

import numpy as np

from pc_analog.cli._common import (
    DAMPING_RANGE,
    EXIT_BACKEND,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    bounded_float,
    json_line,
    nonnegative_int,
    parse_arch,
    positive_float,
    positive_int,
)
from pc_analog.errors import BackendUnavailableError

__all__ = ["add_parser", "run"]


def _bench_inputs(net, batch: int, seed: int):
    """Inputs and one-hot targets from the digits test set when the widths fit (64 in,
    10 out), else seeded random inputs in [0, 1] and targets in [-1, 1]."""
    if net.sizes[0] == 64 and net.sizes[-1] == 10:
        from pc_analog.io.data import load_digits

        try:
            ds = load_digits(seed=seed)
        except BackendUnavailableError:
            pass
        else:
            n = min(batch, ds.x_test.shape[0])
            return ds.x_test[:n], ds.one_hot_test()[:n], "digits (test set)"
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0, 1, size=(batch, net.sizes[0]))
    y = rng.uniform(-1, 1, size=(batch, net.sizes[-1]))
    return x0, y, "random (seeded)"


def _network(args):
    """``--net`` loaded, or a random network of ``--arch`` and ``--activation``."""
    from pc_analog.model.network import Network

    if args.net is not None:
        from pc_analog.io.formats import load_network

        return load_network(args.net)
    return Network.random(parse_arch(args.arch), args.activation, seed=args.seed)


def run(args) -> int:
    """Print the timing report; 0 if the analog circuit settled, 3 if it is unstable
    (a non-ideal spec's amplifier poles), else 1."""
    from pc_analog.costs.specs import load_analog_spec, load_digital_spec
    from pc_analog.costs.timing import timing_report
    from pc_analog.model.network import check_sizes

    net = _network(args)
    check_sizes(net.sizes, "--batch", batch=args.batch)
    check_sizes(net.sizes, "--throughput-batch", batch=args.throughput_batch)
    spec = load_analog_spec(args.hardware)
    digital = tuple(load_digital_spec(d) for d in (args.digital or ["gpu-a100"]))
    x0, y, source = _bench_inputs(net, args.batch, args.seed)
    report = timing_report(
        net,
        x0,
        y,
        analog=spec,
        digital=digital,
        inertial=args.inertial,
        damping_ratio=args.damping_ratio,
        band=args.settle_band,
        measure_cpu=not args.no_cpu,
        repeats=args.repeats,
        throughput_batch=args.throughput_batch,
        seed=args.seed,
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.json:
        out = report.to_dict()
        out["config"]["inputs"] = source
        print(json_line(out))
    else:
        print(report.table())
        print(f"inputs: {source}")
    if report.analog.get("status") == "UNSTABLE":  # the non-ideal circuit oscillates
        print(f"pc-analog bench timing: {report.analog['message']}", file=sys.stderr)
        return EXIT_BACKEND
    return EXIT_OK if report.analog["success"] else EXIT_NOT_CONVERGED


def add_parser(bsub) -> None:
    """Register ``timing`` on the ``bench`` subcommand set ``bsub``."""
    b = bsub.add_parser(
        "timing",
        help="analog settling time and energy vs digital backprop and PC for one network",
        description="Settle one network in the simulated analog circuit (ode backend) and put "
        "its settling time (next to the spectral prediction), energy per inference and device "
        "count beside backprop and discrete PC measured on this CPU and modelled on reference "
        "machines (roofline). Latency is batch 1; throughput a large batch. Hardware "
        "assumptions and their sources: docs/hardware.md.",
    )
    b.add_argument("--arch", default="64-128-10", help="layer widths (default 64-128-10)")
    b.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    b.add_argument("--net", metavar="NET.json", help="a network file instead of --arch")
    b.add_argument(
        "--hardware",
        metavar="SPEC",
        help="analog spec: preset (default, rram, pcm, low-power) or JSON file (format /2 "
        "non-idealities accepted: docs/hardware.md)",
    )
    b.add_argument(
        "--digital",
        action="append",
        metavar="NAME|JSON",
        help="digital reference (repeatable): gpu-a100, cpu-measured or a JSON file "
        "(default gpu-a100)",
    )
    b.add_argument("--inertial", action="store_true", help="second-order (spring-mass) dynamics")
    b.add_argument("--damping-ratio", type=bounded_float(*DAMPING_RANGE), default=1.0)
    b.add_argument("--settle-band", type=positive_float, default=1e-3)
    b.add_argument("--seed", type=nonnegative_int, default=0)
    b.add_argument("--batch", type=positive_int, default=4, help="samples settled (default 4)")
    b.add_argument(
        "--throughput-batch",
        type=positive_int,
        default=256,
        help="batch of the throughput columns (default 256)",
    )
    b.add_argument("--repeats", type=positive_int, default=7, help="CPU timing repeats")
    b.add_argument("--no-cpu", action="store_true", help="skip the CPU wall-clock measurements")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=run)
