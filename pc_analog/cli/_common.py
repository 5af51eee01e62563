"""What every subcommand of the command line shares.

The exit statuses, the argparse parser whose errors are one line and exit 2, the
argument types (positive numbers, counts), the hardware options (``--c-F``,
``--g0-S``, ``--g-unit-S``), loading ``--input``/``--target`` vectors against a network,
``--arch`` widths, and turning per-layer arrays into JSON lists.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from pc_analog.errors import InvalidInputError

__all__ = [
    "EXIT_OK",
    "EXIT_NOT_CONVERGED",
    "EXIT_BAD_INPUT",
    "EXIT_BACKEND",
    "Parser",
    "positive_float",
    "positive_int",
    "bounded_float",
    "HARDWARE_RANGE",
    "finite_or_null",
    "json_line",
    "DAMPING_RANGE",
    "nonnegative_int",
    "layers_out",
    "scalar_or_list",
    "load_io",
    "hardware",
    "add_hardware_options",
    "parse_arch",
]

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT, EXIT_BACKEND = 0, 1, 2, 3


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (usage goes to ``--help``) and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise InvalidInputError(message)


def positive_float(s: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not (v > 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a positive number: {s!r}")
    return v


#: Range of each hardware option (C in F, g0 and g_unit in S): wide enough for any
#: physical circuit, narrow enough that tau = C/g0 stays a finite, non-zero float.
HARDWARE_RANGE = (1e-30, 1e30)
#: Range of --damping-ratio: below ~1e-3 a spring network rings for thousands of periods
#: (the ODE runs for ever), above ~1e3 it creeps as slowly.
DAMPING_RANGE = (1e-3, 1e3)


def bounded_float(lo: float, hi: float):
    """argparse type: a finite number in ``[lo, hi]``."""

    def parse(s: str) -> float:
        v = positive_float(s)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must lie in [{lo:g}, {hi:g}]: {s!r}")
        return v

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def positive_int(s: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {s!r}")
    return v


def nonnegative_int(s: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {s!r}")
    return v


def finite_or_null(v):
    """``v`` with every non-finite float replaced by ``None`` (JSON ``null``)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: finite_or_null(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite_or_null(x) for x in v]
    return v


def json_line(obj) -> str:
    """``obj`` as one line of strict JSON: NaN and infinities (a diverged or unsettled
    result) become ``null``, never the non-standard tokens ``NaN``/``Infinity``."""
    return json.dumps(finite_or_null(obj), allow_nan=False)


def layers_out(x, single: bool):
    """Per-layer arrays ``(batch, n_l)`` as JSON lists; one sample's rows if ``single``."""
    return [xl[0].tolist() if single else xl.tolist() for xl in x]


def scalar_or_list(v: np.ndarray, single: bool):
    """A per-sample array as one float (``single``) or a list of floats."""
    return float(v[0]) if single else [float(e) for e in v]


def load_io(args, net, need_target: bool):
    """``--input`` and ``--target`` vectors checked against ``net``'s widths.

    Returns ``(x0, y, single)``: batched input, batched target or ``None``, and whether
    the input file held one sample (a flat list).  The input file holds raw data
    features: ``x0`` is the network's ``input_transform`` of them (the identity when
    the file has none).
    """
    from pc_analog.io.formats import load_vectors

    x0, single = load_vectors(args.input, net.sizes[0], "input")
    x0 = net.transform_input(x0)  # raw data features -> clamped input (SPEC section 2)
    y = None
    if args.target is not None:
        y, _ = load_vectors(args.target, net.sizes[-1], "target")
        if y.shape[0] != x0.shape[0]:
            raise InvalidInputError(f"target: {y.shape[0]} samples but input has {x0.shape[0]}")
    elif need_target:
        raise InvalidInputError("--target: required for this command")
    return x0, y, single


def hardware(args):
    """The :class:`~pc_analog.circuit.ir.Hardware` of the hardware options."""
    from pc_analog.circuit.ir import Hardware

    return Hardware(c_F=args.c_F, g0_S=args.g0_S, g_unit_S=args.g_unit_S)


def add_hardware_options(p) -> None:
    """``--c-F``, ``--g0-S`` and ``--g-unit-S`` with the library's defaults."""
    from pc_analog.circuit.ir import Hardware

    hw = Hardware()
    p.add_argument(
        "--c-F",
        dest="c_F",
        type=bounded_float(*HARDWARE_RANGE),
        default=hw.c_F,
        help=f"node capacitance C in farad (default {hw.c_F:g})",
    )
    p.add_argument(
        "--g0-S",
        dest="g0_S",
        type=bounded_float(*HARDWARE_RANGE),
        default=hw.g0_S,
        help=f"unit conductance g0 in siemens (default {hw.g0_S:g}); tau = C/g0",
    )
    p.add_argument(
        "--g-unit-S",
        dest="g_unit_S",
        type=bounded_float(*HARDWARE_RANGE),
        default=hw.g_unit_S,
        help=f"crossbar conductance of a unit weight (default {hw.g_unit_S:g})",
    )


def parse_arch(text: str) -> tuple[int, ...]:
    """``"64-128-10"`` -> ``(64, 128, 10)``; at least two widths, each >= 1."""
    try:
        arch = tuple(int(a) for a in text.split("-"))
    except ValueError:
        raise InvalidInputError(f"--arch: expected widths joined by '-', got {text!r}") from None
    if len(arch) < 2 or min(arch) < 1:
        raise InvalidInputError(f"--arch: need at least two widths >= 1, got {text!r}")
    return arch


def add_spec_option(p) -> None:
    """``--hardware SPEC``: an analog spec (preset name or JSON file, SPEC section 5)."""
    p.add_argument(
        "--hardware",
        metavar="SPEC",
        dest="spec",
        help="analog spec: a preset (default, rram, pcm, low-power) or a JSON file of format "
        "pc-analog.analog-spec/1 or /2 (its C, g0, g_unit and non-idealities)",
    )


def compile_with_spec(args, net, x0, y):
    """The circuit of ``net`` with the hardware options, or with ``--hardware SPEC``: the
    spec's ``C``, ``g0``, ``g_unit`` and its non-idealities
    (:meth:`~pc_analog.costs.specs.AnalogSpec.apply`)."""
    from pc_analog.circuit.ir import Hardware, compile_network

    spec_arg = getattr(args, "spec", None)
    if spec_arg is None:
        return compile_network(net, x0, y, hardware=hardware(args))
    from pc_analog.costs.specs import load_analog_spec

    spec = load_analog_spec(spec_arg)
    if hardware(args) != Hardware():
        raise InvalidInputError(
            "--hardware: give C, g0 and g_unit in the spec, not also as --c-F/--g0-S/--g-unit-S"
        )
    if spec.device != "ideal":
        raise InvalidInputError(
            f"--hardware: device {spec.device!r}: programming device presets in settle and "
            "compile is not implemented yet (issue 11); use device 'ideal'"
        )
    return spec.apply(compile_network(net, x0, y, hardware=spec.hardware()))
