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
    "int_at_least",
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
    "add_clamp_option",
    "parse_clamp_arg",
    "load_clamp_file",
    "load_stimulus",
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


def int_at_least(lo: int):
    """argparse type: an integer ``>= lo`` (a one-line error otherwise)."""

    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}: {s!r}")
        return v

    parse.__name__ = f"int_at_least_{lo}"
    return parse


#: argparse types: an integer >= 1, an integer >= 0.
positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


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


def load_input(args, net) -> tuple[np.ndarray, bool]:
    """``--input``: raw data features mapped by ``net``'s ``input_transform`` (SPEC section
    2; the identity when it has none) to the clamped input; ``(x0, single)``."""
    from pc_analog.io.formats import load_vectors

    x0, single = load_vectors(args.input, net.sizes[0], "input")
    return net.transform_input(x0), single


def load_io(args, net, need_target: bool):
    """``--input`` and ``--target`` vectors checked against ``net``'s widths.

    Returns ``(x0, y, single)``: batched input, batched target or ``None``, and whether
    the input file held one sample (a flat list).  The input file holds raw data
    features: ``x0`` is the network's ``input_transform`` of them (the identity when
    the file has none).
    """
    from pc_analog.io.formats import load_vectors

    x0, single = load_input(args, net)
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


def hardware_spec(args):
    """The analog spec of ``--hardware`` (``None`` without), refusing ``--c-F``, ``--g0-S``
    or ``--g-unit-S`` beside it (the spec carries C, g0 and g_unit)."""
    from pc_analog.circuit.ir import Hardware

    spec_arg = getattr(args, "spec", None)
    if spec_arg is None:
        return None
    from pc_analog.costs.specs import load_analog_spec

    spec = load_analog_spec(spec_arg)
    if hardware(args) != Hardware():
        raise InvalidInputError(
            "--hardware: give C, g0 and g_unit in the spec, not also as --c-F/--g0-S/--g-unit-S"
        )
    return spec


def compile_with_spec(args, net, x0, y, *, clamp=None, values=None):
    """The circuit of ``net`` with the hardware options, or with ``--hardware SPEC``: the
    spec's ``C``, ``g0``, ``g_unit`` and its non-idealities
    (:meth:`~pc_analog.costs.specs.AnalogSpec.apply`).  Stimulus: ``x0``/``y``, or any
    ``clamp`` with its batched ``values`` (:func:`load_stimulus`)."""
    from pc_analog.circuit.ir import compile_network

    stim = {"clamp": clamp, "values": values}
    spec = hardware_spec(args)
    if spec is None:
        return compile_network(net, x0, y, hardware=hardware(args), **stim)
    level = getattr(args, "level", None) or "behavioural"
    if spec.device == "ideal":
        circ = compile_network(net, x0, y, hardware=spec.hardware(), **stim)
    else:  # the weights programmed into the spec's devices, drawn by its mismatch_seed
        from pc_analog.hardware.hebbian import HardwareNetwork

        chip = HardwareNetwork.fabricate(
            net, spec.device, hardware=spec.hardware(), rng=spec.mismatch_seed
        )
        circ = chip.circuit(x0, y, **stim)
    return spec.apply(circ, level=level)


# ------------------------------------------------------------------ --clamp (SPEC section 4)


def add_clamp_option(p) -> None:
    """``--clamp L=FILE.json``, repeatable: clamp units of layer ``L`` (``null`` = free)."""
    p.add_argument(
        "--clamp",
        action="append",
        default=[],
        metavar="L=FILE.json",
        help="clamp units of layer L (0-based; negative counts from the top) to FILE's numbers; "
        "FILE holds a list (one sample) or a list of lists (a batch), null marks a free unit; "
        "repeatable. --input X is --clamp 0=X, --target Y is --clamp L=Y",
    )


def parse_clamp_arg(text: str, n_layers: int) -> tuple[int, str]:
    """``"L=FILE"`` -> ``(l, FILE)`` with ``0 <= l <= n_layers`` (``-1`` is the top layer)."""
    layer, sep, path = text.partition("=")
    if not sep or not path:
        raise InvalidInputError(f"--clamp: expected L=FILE.json, got {text!r}")
    try:
        l = int(layer)
    except ValueError:
        raise InvalidInputError(f"--clamp {text}: layer {layer!r} is not an integer") from None
    if not -(n_layers + 1) <= l <= n_layers:
        raise InvalidInputError(
            f"--clamp {text}: layer {l} out of range (the network has layers 0..{n_layers})"
        )
    return l % (n_layers + 1), path


def load_clamp_file(path: str, n: int, what: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """A clamp file: a list of ``n`` entries (one sample) or a list of such lists.

    Entries are numbers (the unit is clamped to that value) or ``null`` (the unit is free).

    Returns
    -------
    values : ndarray, shape (batch, n)
        The clamp values, ``0`` where free.
    mask : ndarray of bool, shape (n,)
        ``True`` for a clamped unit.  Every row must clamp the same units (the circuit's
        voltage sources are the same for a whole batch).
    single : bool
        Whether the file held one sample (a flat list).
    """
    from pc_analog.io.formats import _read_json
    from pc_analog.model.network import MAX_MAGNITUDE

    v = _read_json(path, what)
    if not isinstance(v, list) or not v:
        raise InvalidInputError(f"{what}: must be a non-empty list of numbers/null or of lists")
    single = not isinstance(v[0], list)
    rows = [v] if single else v
    values = np.zeros((len(rows), n))
    masks = np.zeros((len(rows), n), dtype=bool)
    for r, row in enumerate(rows):
        where = what if single else f"{what}[{r}]"
        if not isinstance(row, list):
            raise InvalidInputError(f"{where}: expected a list, got {type(row).__name__}")
        if len(row) != n:
            raise InvalidInputError(f"{where}: {len(row)} entries, the layer has {n} units")
        for i, e in enumerate(row):
            if e is None:
                continue
            if isinstance(e, bool) or not isinstance(e, (int, float)):
                raise InvalidInputError(
                    f"{where}[{i}]: expected a number or null, got {type(e).__name__}"
                )
            try:
                e = float(e)
            except OverflowError:
                e = math.inf
            if not math.isfinite(e) or abs(e) > MAX_MAGNITUDE:
                raise InvalidInputError(
                    f"{where}[{i}]: {e} is not a finite number within +-{MAX_MAGNITUDE:g}"
                )
            values[r, i], masks[r, i] = e, True
    differs = np.flatnonzero(np.any(masks != masks[0], axis=1))
    if differs.size:
        raise InvalidInputError(
            f"{what}: row {differs[0]} leaves other units free than row 0; every sample of a "
            "batch must clamp the same units (one file per mask)"
        )
    return values, masks[0], single


def load_stimulus(args, net, *, input_required: bool):
    """The clamp set of ``--input``, ``--target`` and every ``--clamp L=FILE``.

    ``--input X`` clamps all of layer 0, ``--target Y`` all of the top layer, each
    ``--clamp`` the non-null units of its layer.  A file of one sample is repeated over
    the batch of the others.  Free units of layer 0 (nothing predicts them) start at 0;
    every other free unit starts at the feedforward prediction (SPEC section 1).

    Returns ``(clamp, values, single)``: a :class:`~pc_analog.model.network.Clamp`, the
    batched values (a state, clamped entries read) and whether every file held one sample.
    Raises :class:`InvalidInputError` for a layer given twice, batches that disagree,
    a clamp set that leaves no unit free, or (``input_required``) no clamp at all.
    """
    from pc_analog.io.formats import load_vectors
    from pc_analog.model.network import Clamp

    L = net.n_layers
    given: dict[int, tuple[np.ndarray, np.ndarray, bool, str]] = {}
    if getattr(args, "input", None) is not None:
        x0, single = load_input(args, net)
        given[0] = (x0, np.ones(net.sizes[0], bool), single, "--input")
    if getattr(args, "target", None) is not None:
        y, single = load_vectors(args.target, net.sizes[-1], "target")
        given[L] = (y, np.ones(net.sizes[-1], bool), single, "--target")
    for text in getattr(args, "clamp", None) or []:
        l, path = parse_clamp_arg(text, L)
        if l in given:
            raise InvalidInputError(
                f"--clamp {text}: layer {l} is already clamped by {given[l][3]}"
            )
        values, mask, single = load_clamp_file(path, net.sizes[l], f"--clamp {l}={path}")
        given[l] = (values, mask, single, f"--clamp {text}")
    if not given:
        if input_required:
            raise InvalidInputError("--input: required unless --clamp is given")
        given[0] = (np.zeros((1, net.sizes[0])), np.ones(net.sizes[0], bool), True, "zeros")
    batches = {v.shape[0] for v, *_ in given.values()} - {1}
    if len(batches) > 1:
        shown = ", ".join(f"{src}: {v.shape[0]}" for v, _, _, src in given.values())
        raise InvalidInputError(f"clamps: batch sizes differ ({shown})")
    batch = batches.pop() if batches else 1
    single = batch == 1 and all(s for _, _, s, _ in given.values())
    masks, values = [], []
    for l, n in enumerate(net.sizes):
        if l in given:
            v, m, _, _ = given[l]
            values.append(np.broadcast_to(v, (batch, n)).copy())
            masks.append(m)
        else:
            values.append(np.zeros((batch, n)))
            masks.append(np.zeros(n, bool))
    clamp = Clamp(tuple(masks))
    if getattr(args, "clamp", None) and clamp.n_free() == 0:
        raise InvalidInputError("clamps: every unit is clamped, nothing is left free to settle")
    return clamp, tuple(values), single
