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

import dataclasses
import os
import warnings
from pathlib import Path

from pc_analog.cli._common import (
    EXIT_OK,
    add_hardware_options,
    add_spec_option,
    hardware,
    hardware_spec,
    json_line,
    parse_arch,
    positive_float,
    positive_int,
)
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def _analog(args):
    """The analog spec of ``--hardware`` (None without), and the hardware options' dict."""
    spec = hardware_spec(args)
    return (None, dataclasses.asdict(hardware(args))) if spec is None else (spec, {})


def _config(args):
    """The :class:`~pc_analog.learning.train.TrainConfig` of the options; an option not
    given (``None``) takes the data set's default."""
    from pc_analog.learning.train import TrainConfig

    arch = parse_arch(args.arch) if args.arch is not None else None
    if args.seed < 0:
        raise InvalidInputError("--seed: must be >= 0")
    if args.standardize and args.input_scaling not in (None, "global"):
        raise InvalidInputError(
            f"--standardize: contradicts --input-scaling {args.input_scaling} "
            "(--standardize is --input-scaling global)"
        )
    spec, hw = _analog(args)
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
        input_scaling="global" if args.standardize else args.input_scaling,
        validation_fraction=args.validation_fraction,
        update_mode=args.update_mode,
        direction=args.direction,
        hardware=hw,
        analog=spec,
        augment_shift=args.augment_shift,
    )


#: What a killed run needs to resume (kept when a run fails after a checkpoint).
RESUMABLE = ("config.json", "checkpoint.npz", "metrics.json", "metrics.csv")


def _check_out(args) -> None:
    """``--out`` must be (or become) a folder, and no output may replace an input file."""
    from pc_analog.io.formats import check_not_input
    from pc_analog.learning.run_folder import OUTPUTS, check_out_dir

    out = Path(args.out)
    check_out_dir(out, args.resume, args.overwrite, clear=False)  # refused before any work
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

    _check_out(args)
    cfg = _config(args)
    out = Path(args.out)
    created, before = _snapshot(out)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            report = train(
                cfg,
                args.out,
                resume=args.resume,
                overwrite=args.overwrite,
                progress=not (args.json or args.quiet),
                progress_every=args.progress_every,
                plots=not args.no_plots,
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
        split = "validation" if cfg.validation_fraction else "test"
        print(
            f"{split} accuracy {report.test_accuracy:.4f} (backprop twin "
            f"{report.bp_test_accuracy:.4f}) after {report.epochs} epochs on "
            f"{args.dataset}, device {summary['device']}, {report.seconds:.1f} s; "
            f"results in {args.out}"
        )
    return EXIT_OK


def add_parser(sub) -> None:
    """Register ``train`` on the subcommand set ``sub``.

    Long because it declares every option of the command, one ``add_argument`` each.
    """
    from pc_analog.learning.defaults import DATASET_DEFAULTS

    _D, _F = DATASET_DEFAULTS["digits"], DATASET_DEFAULTS["fashion-mnist"]
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
    t.add_argument(
        "--arch", help="layer widths, e.g. 64-128-10 (default: the data's widths around the "
        f"data set's default hidden width: digits 64-{_D['hidden']}-10, fashion-mnist "
        f"784-{_F['hidden']}-10)"
    )  # fmt: skip
    t.add_argument("--activation", default="tanh")
    t.add_argument(
        "--backend",
        default="equilibrium",
        help="equilibrium (the rest point by Newton's method: fast, no dynamics) | ode "
        "(integrates the circuit's equations in time) | ngspice (simulates the netlist)",
    )
    t.add_argument("--device", default="ideal", help="device preset or JSON file")
    t.add_argument(
        "--epochs", type=positive_int, help=f"default: the data set's (digits {_D['epochs']})"
    )
    t.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"default: the data set's (digits {_D['batch_size']})",
    )
    t.add_argument("--lr", type=positive_float, help=f"default: the data set's (digits {_D['lr']})")
    t.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine", "step"),
        help=f"default: the data set's (digits {_D['lr_schedule']})",
    )
    t.add_argument(
        "--precision-output",
        type=positive_float,
        help="pi_L, the output springs' conductance over the hidden ones' (hidden pi = 1); "
        f"default: the data set's (digits {_D['precision_output']}: a weak label clamp)",
    )
    t.add_argument(
        "--separate-feedback",
        action="store_true",
        help="feedback crossbars as separate physical copies",
    )
    t.add_argument(
        "--eval",
        dest="eval_mode",
        choices=("feedforward", "settle"),
        help="how accuracy is read: the feedforward pass, or the circuit settled with the "
        "output free (default: feedforward; settle with --hardware)",
    )
    t.add_argument(
        "--input-scaling",
        choices=("none", "global", "per-feature"),
        help="inputs shifted and scaled from the training samples: one offset and gain for "
        "all input drivers (global) or one per driver (per-feature); stored in "
        "final_network.json as its input_transform (default: the data set's)",
    )
    t.add_argument("--standardize", action="store_true", help="--input-scaling global")
    t.add_argument(
        "--validation-fraction",
        type=positive_float,
        metavar="F",
        help="hold out this fraction of the training part and report accuracy on it, "
        "not on the test set (to choose hyperparameters)",
    )
    t.add_argument(
        "--augment-shift",
        type=float,
        metavar="P",
        help="each epoch, move every training image by one pixel with probability P, in "
        f"[0, 1] (image data sets; default: digits {_D['augment_shift']:g}, fashion-mnist "
        f"{_F['augment_shift']:g})",
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
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in a non-empty DIR (its old outputs are removed first)",
    )
    t.add_argument(
        "--progress-every",
        type=positive_int,
        metavar="N",
        help="without a terminal: a progress line on stderr every N batches "
        "(default: every 10 s); on a terminal a progress bar",
    )
    t.add_argument("--quiet", action="store_true", help="no progress output (as with --json)")
    t.add_argument("--no-plots", action="store_true")
    t.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    add_spec_option(t)
    add_hardware_options(t)
    t.set_defaults(func=run)
