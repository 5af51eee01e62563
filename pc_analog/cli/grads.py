"""``pc-analog grads``: one batch's weight updates by backprop or a PC variant.

Methods ``bp``, ``pc``, ``fpa``, ``zil`` (:func:`~pc_analog.reference.variants.gradients`),
in the descent-direction convention of SPEC section 4; prints ``dW`` and ``db`` per layer
as text or one JSON object.  Exit status 1 when standard PC's equilibrium is not reached.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from pc_analog.cli._common import (
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    json_line,
    load_io,
    positive_float,
    positive_int,
)
from pc_analog.errors import BackendError, ConvergenceWarning, InvalidInputError

__all__ = ["add_parser", "run"]


def _method_options(args) -> dict:
    """The keyword options of ``gradients`` that apply to ``args.method``."""
    kw = {}
    if args.method in ("bp", "fpa", "zil"):
        kw["loss"] = args.loss
    elif args.loss != "mse":
        raise InvalidInputError("--loss: standard PC uses the Gaussian energy (mse) only")
    if args.method == "fpa":
        kw["step_size"] = args.step_size
        kw["n_steps"] = args.steps
    if args.method == "pc":
        kw["variance_ratio"] = args.variance_ratio
    return kw


def run(args) -> int:
    """Compute and print the updates; 0, or 1 if PC's equilibrium was not reached."""
    from pc_analog.io.formats import load_network
    from pc_analog.reference.variants import gradients

    net = load_network(args.network)
    x0, y, _ = load_io(args, net, need_target=True)
    kw = _method_options(args)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow: refused just below
        try:
            g = gradients(net, x0, y, args.method, **kw)
        except ConvergenceWarning as w:
            print(f"pc-analog: equilibrium not reached: {w}", file=sys.stderr)
            return EXIT_NOT_CONVERGED
    if not all(np.all(np.isfinite(a)) for a in (*g.dW, *g.db)):
        raise BackendError(
            f"{args.method}: the update is not finite (diverged; a smaller --step-size?)"
        )
    out = {"method": g.method, "dW": [w.tolist() for w in g.dW], "db": [b.tolist() for b in g.db]}
    if args.json:
        print(json_line(out))
    else:
        for l, (w, b) in enumerate(zip(g.dW, g.db), start=1):
            print(f"dW{l} (norm {np.linalg.norm(w):.6g}) =\n{np.array2string(w, precision=6)}")
            print(f"db{l} = {np.array2string(b, precision=6)}")
    return EXIT_OK


#: ``reference.variants``' METHODS and LOSSES, spelled out so that building the parser
#: imports no scipy; ``tests/test_startup.py`` checks them against the library's.
METHODS = ("bp", "pc", "fpa", "zil")
LOSSES = ("mse", "ce")


def add_parser(sub) -> None:
    """Register ``grads`` on the subcommand set ``sub``."""
    g = sub.add_parser("grads", help="weight updates by backprop or a PC variant")
    g.add_argument("network", metavar="NET.json")
    g.add_argument("--input", required=True, metavar="X.json")
    g.add_argument("--target", required=True, metavar="Y.json")
    g.add_argument("--method", required=True, choices=METHODS)
    g.add_argument("--loss", default="mse", choices=LOSSES, help="output loss (bp, fpa, zil)")
    g.add_argument("--step-size", type=positive_float, default=1.0, help="fpa: inference step")
    g.add_argument("--steps", type=positive_int, help="fpa: inference steps (default L)")
    g.add_argument(
        "--variance-ratio",
        type=positive_float,
        default=1.0,
        help="pc: output precision scale r; the update is divided by r (r -> 0 gives BP)",
    )
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=run)
