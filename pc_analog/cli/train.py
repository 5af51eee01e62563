"""``pc-analog train``: Hebbian training in the simulated circuit, beside a backprop twin.

Builds a :class:`~pc_analog.learning.train.TrainConfig` from the options and runs
:func:`~pc_analog.learning.train.train`: every mini-batch settles the circuit with input
and label clamped and the Hebbian update programs the devices; a digital-backprop twin
trains on the same batches.  Writes checkpoints, history and figures to ``--out``
(``--resume`` continues a killed run) and prints the test accuracies, or one JSON summary.
A run that fails (bad input found late, a full disk) removes what it wrote in ``--out``
unless it wrote a checkpoint, which it keeps for ``--resume``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from pc_analog.cli._common import (
    EXIT_OK,
    add_hardware_options,
    json_line,
    parse_arch,
    positive_float,
    positive_int,
)
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def _config(args):
    """The :class:`~pc_analog.learning.train.TrainConfig` of the options."""
    from pc_analog.learning.train import TrainConfig

    arch = parse_arch(args.arch)
    if args.seed < 0:
        raise InvalidInputError("--seed: must be >= 0")
    return TrainConfig(
        dataset=args.dataset,
        arch=arch,
        activation=args.activation,
        backend=args.backend,
        device=args.device,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        precision_output=args.precision_output,
        separate_feedback=args.separate_feedback,
        eval_mode=args.eval_mode,
        bp_baseline=not args.no_bp,
        seed=args.seed,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        standardize_inputs=args.standardize,
        update_mode=args.update_mode,
        direction=args.direction,
        hardware={"c_F": args.c_F, "g0_S": args.g0_S, "g_unit_S": args.g_unit_S},
    )


#: What a run writes in its ``--out`` folder (pc_analog.learning.train.train).
OUTPUTS = (
    "config.json",
    "checkpoint.npz",
    "metrics.json",
    "metrics.csv",
    "final_network.json",
    "training.png",
    "conductances.png",
)
#: What a killed run needs to resume (kept when a run fails after a checkpoint).
RESUMABLE = ("config.json", "checkpoint.npz", "metrics.json", "metrics.csv")


def _check_out(args) -> None:
    """``--out`` must be (or become) a folder, and no output may replace an input file."""
    from pc_analog.io.formats import check_not_input

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out: {out} exists and is not a folder")
    for parent in out.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(f"--out: {parent} is a file, not a folder")
            break
    device = Path(args.device)
    if device.exists():
        for name in OUTPUTS:
            check_not_input(out / name, [device], "--out")


def _snapshot(out: Path) -> tuple[list[Path], dict[str, int]]:
    """The folders ``out`` and its missing ancestors that a run would create, and the
    files already in ``out`` with their modification times."""
    created = [p for p in (out, *out.parents) if not p.exists()]
    before = {}
    if out.is_dir():
        for e in os.scandir(out):
            before[e.name] = e.stat(follow_symlinks=False).st_mtime_ns
    return created, before


def _clean_up(out: Path, created: list[Path], before: dict[str, int]) -> str:
    """Undo what a failed run wrote in ``out``; returns a note for the error message.

    A checkpoint written by this run is kept, with what ``--resume`` needs beside it;
    otherwise every file and folder the run created is removed (files it replaced were
    written atomically and stay whole).
    """
    if not out.is_dir():
        return ""

    def is_new(name: str) -> bool:
        try:
            mtime = (out / name).stat().st_mtime_ns
        except OSError:
            return False
        return before.get(name) != mtime

    keep = RESUMABLE if is_new("checkpoint.npz") else ()
    for e in list(os.scandir(out)):
        if e.name not in before and e.name not in keep and e.is_file(follow_symlinks=False):
            try:
                os.unlink(e.path)
            except OSError:
                pass
    if keep:
        return f" (the checkpoint in {out} is kept: --resume continues)"
    for d in created:  # deepest first
        try:
            d.rmdir()
        except OSError:
            break
    return ""


def run(args) -> int:
    """Train and print the summary; 0 on success."""
    from pc_analog.learning.train import train

    cfg = _config(args)
    _check_out(args)
    out = Path(args.out)
    created, before = _snapshot(out)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            report = train(
                cfg, args.out, resume=args.resume, progress=not args.json, plots=not args.no_plots
            )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{exc}{_clean_up(out, created, before)}") from None
    except OSError as exc:  # a write the library does not wrap (a figure), disk full
        note = _clean_up(out, created, before)
        where = exc.filename or out
        raise InvalidInputError(
            f"--out: cannot write {where}: {exc.strerror or exc}{note}"
        ) from None
    except Exception:
        _clean_up(out, created, before)
        raise
    summary = report.summary()
    if args.json:  # strict JSON: a missing number (no backprop twin) is null, not NaN
        print(json_line(summary))
    else:
        print(
            f"test accuracy {report.test_accuracy:.4f} (backprop twin "
            f"{report.bp_test_accuracy:.4f}) after {report.epochs} epochs on "
            f"{args.dataset}, device {summary['device']}, {report.seconds:.1f} s; "
            f"results in {args.out}"
        )
    return EXIT_OK


def add_parser(sub) -> None:
    """Register ``train`` on the subcommand set ``sub``."""
    t = sub.add_parser(
        "train",
        help="Hebbian training in the simulated circuit, beside a backprop twin",
        description="Train a PC network in the simulated hardware: each mini-batch settles "
        "the circuit with input and label clamped, and the Hebbian update read from the node "
        "voltages programs the devices. A digital-backprop twin (same architecture, initial "
        "weights, batches and learning rate) trains in the same run. Checkpoints after every "
        "epoch; --resume continues a killed run exactly.",
    )
    t.add_argument("--dataset", default="digits", help="digits | fashion-mnist | idx:PATH")
    t.add_argument("--arch", default="64-128-10", help="layer widths, e.g. 64-128-10")
    t.add_argument("--activation", default="tanh")
    t.add_argument("--backend", default="equilibrium", help="equilibrium | ode | ngspice")
    t.add_argument("--device", default="ideal", help="device preset or JSON file")
    t.add_argument("--epochs", type=positive_int, default=10)
    t.add_argument("--batch-size", type=positive_int, default=32)
    t.add_argument("--lr", type=positive_float, default=0.1)
    t.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine", "step"))
    t.add_argument(
        "--precision-output",
        type=positive_float,
        default=1.0,
        help="pi_L; hidden layers have pi = 1",
    )
    t.add_argument(
        "--separate-feedback",
        action="store_true",
        help="feedback crossbars as separate physical copies",
    )
    t.add_argument(
        "--eval", dest="eval_mode", default="feedforward", choices=("feedforward", "settle")
    )
    t.add_argument(
        "--standardize",
        action="store_true",
        help="shift and scale the inputs to zero mean, unit spread (one offset, one gain)",
    )
    t.add_argument(
        "--update-mode",
        default="stochastic",
        metavar="MODE",
        help="stochastic (each batch's update rounded stochastically to whole pulses) | "
        "accumulate (mixed precision: per-pair digital accumulators, only whole pulses "
        "programmed; needs a pulsed device)",
    )
    t.add_argument("--no-bp", action="store_true", help="skip the backprop twin")
    t.add_argument(
        "--direction",
        default="discriminative",
        choices=("discriminative", "generative"),
        help="discriminative: image at x_0, label at x_L; generative: label at x_0, image at "
        "x_L (--arch from classes to pixels, e.g. 10-32-64; no backprop twin)",
    )
    t.add_argument("--limit-train", type=positive_int)
    t.add_argument("--limit-test", type=positive_int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, metavar="DIR", help="output folder")
    t.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    t.add_argument("--no-plots", action="store_true")
    t.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    add_hardware_options(t)
    t.set_defaults(func=run)
