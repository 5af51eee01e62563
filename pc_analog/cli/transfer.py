"""``pc-analog bench transfer``: ex-situ BP, hardware-aware BP and in-situ PC on one chip.

Trains the three classifiers of :func:`pc_analog.experiments.transfer.run_transfer` on
digits (or Fashion-MNIST) for one non-ideality at one or more strengths and prints each
one's test accuracy measured in the chip.  An unknown non-ideality or a bad strength: one
line, exit 2.
"""

from __future__ import annotations

from pc_analog.cli._common import EXIT_OK, json_line, nonnegative_int, positive_int
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]

#: Dataset -> default (training, test) samples: the reduced study's.
_LIMITS = {"digits": (300, 200), "fashion-mnist": (500, 300)}


def _nonideality(text: str) -> str:
    from pc_analog.experiments.transfer import NONIDEALITIES

    if text not in NONIDEALITIES:
        raise InvalidInputError(
            f"--nonideality: unknown {text!r} (known: {', '.join(NONIDEALITIES)})"
        )
    return text


def run(args) -> int:
    """Run the study for ``args.nonideality``; print a table (or one JSON line)."""
    import math

    from pc_analog.experiments.transfer import METHODS, NONIDEALITIES, make_chip, run_transfer
    from pc_analog.learning.defaults import prepare_data

    name = _nonideality(args.nonideality)
    strengths = args.strength if args.strength else list(NONIDEALITIES[name][0])
    for s in strengths:
        make_chip(name, s, args.seed)  # every strength checked before any training
    n_tr, n_te = _LIMITS[args.dataset]
    data = prepare_data(
        args.dataset,
        input_scaling="global",
        limit_train=args.limit_train or n_tr,
        limit_test=args.limit_test or n_te,
    )
    n_in = data.x_train.shape[1]
    rows = [
        run_transfer(name, s, data, arch=(n_in, args.hidden, 10), epochs=args.epochs,
                     lr=args.lr, seed=args.seed, batch=args.batch).to_dict()
        for s in strengths
    ]  # fmt: skip
    if args.json:
        print(json_line({"nonideality": name, "rows": rows}))
        return EXIT_OK
    print(f"transfer: {name} on {args.dataset} ({data.x_train.shape[0]} training, "
          f"{data.x_test.shape[0]} test samples, {n_in}-{args.hidden}-10, {args.epochs} "
          f"epochs, batch {args.batch}, seed {args.seed}); test accuracy in the chip "
          "(%)")  # fmt: skip
    print(f"  {'strength':>9s}  " + "  ".join(f"{m:>9s}" for m in METHODS))
    for r in rows:
        accs = [r["accuracy"][m] for m in METHODS]
        cells = "  ".join("diverged" if math.isnan(a) else f"{a * 100:9.1f}" for a in accs)
        print(f"  {r['strength']:9.4g}  {cells}")
    return EXIT_OK


def add_parser(bsub) -> None:
    """Register ``transfer`` on the ``bench`` subcommand set ``bsub``."""
    from pc_analog.cli._common import positive_float

    b = bsub.add_parser(
        "transfer",
        help="ex-situ BP vs hardware-aware BP vs in-situ PC training in a non-ideal chip",
        description="Train three classifiers for one chip with a non-ideality "
        "(amp_offset, wire, phi_errors, fb_mismatch, stuck, thermal, all, or ideal): "
        "backprop programmed "
        "afterwards (ex_situ), physics-aware backprop through the chip's forward pass "
        "(hw_aware), and PC Hebbian training in the chip (in_situ); print each one's test "
        "accuracy measured in the chip.",
    )
    b.add_argument("--nonideality", required=True, metavar="NAME")
    b.add_argument(
        "--strength",
        type=float,
        action="append",
        metavar="S",
        help="strength (repeatable; default: the study's strengths)",
    )
    b.add_argument("--dataset", choices=list(_LIMITS), default="digits")
    b.add_argument("--epochs", type=positive_int, default=3)
    b.add_argument("--batch", type=positive_int, default=10, help="samples per step (all methods)")
    b.add_argument("--lr", type=positive_float, default=0.1)
    b.add_argument("--hidden", type=positive_int, default=32)
    b.add_argument("--limit-train", type=positive_int, help="default 300 (digits), 500 (fashion)")
    b.add_argument("--limit-test", type=positive_int, help="default 200 (digits), 300 (fashion)")
    b.add_argument("--seed", type=nonnegative_int, default=0)
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=run)
