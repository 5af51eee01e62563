"""``pc-analog bench generate|inpaint|missing|memory``: inference in any direction.

Each subcommand trains a small network on scikit-learn's 8x8 digits by PC learning (or
reads a generative one with ``--network``, e.g. ``train --direction generative``'s
``final_network.json``), runs one task by settling with a different clamp set, and puts
its baseline beside it in the same run (:mod:`pc_analog.experiments.any_direction`):

- ``generate``: the label clamped at ``x_0``, the image free: one prototype per class;
- ``inpaint``: half the pixels clamped (``--mask random|top|left``), the rest settles;
  against mean imputation and scikit-learn's ``KNNImputer``;
- ``missing``: only the available pixels clamped, the label read at ``x_0``; against a
  backprop classifier fed mean-imputed inputs;
- ``memory``: ``K`` images stored, recalled from half-masked cues; against a classical
  Hopfield network (binary, Hebbian, asynchronous updates).
"""

from __future__ import annotations

import sys

import numpy as np

from pc_analog.cli._common import json_line, nonnegative_int, positive_float, positive_int
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def _data(args):
    from pc_analog.io.data import load_dataset

    d = load_dataset("digits")
    n = min(args.n_test, d.x_test.shape[0])
    return d.x_train, d.y_train, d.x_test[:n], d.y_test[:n]


def _generative(args, xtr, ltr):
    """The ``--network`` file (checked: 10 classes at x_0, 64 pixels at x_L) or a fresh one."""
    from pc_analog.experiments import any_direction as ad
    from pc_analog.io.data import one_hot
    from pc_analog.io.formats import load_network

    if args.network is not None:
        net = load_network(args.network)
        if (net.sizes[0], net.sizes[-1]) != (10, 64):
            raise InvalidInputError(
                f"--network: a generative digits network has 10 units at x_0 and 64 at x_L, "
                f"got {'-'.join(map(str, net.sizes))}"
            )
        return net
    return ad.train_generative(xtr, one_hot(ltr, 10), epochs=args.epochs, seed=args.seed)


def _png(args, images: np.ndarray, rows: int) -> None:
    """Write ``images`` (``(k, 64)``) as a grid of 8x8 pictures to ``--png``."""
    if args.png is None:
        return
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pc_analog.io.formats import atomic_write_bytes
    from pc_analog.viz.plots import save_figure

    cols = int(np.ceil(images.shape[0] / rows))
    fig, ax = plt.subplots(rows, cols, figsize=(cols, rows), squeeze=False)
    for k, a in enumerate(ax.reshape(-1)):
        a.axis("off")
        if k < images.shape[0]:
            a.imshow(images[k].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    buf = io.BytesIO()
    save_figure(fig, buf)
    plt.close(fig)
    try:
        atomic_write_bytes(args.png, buf.getvalue())
    except OSError as exc:
        raise InvalidInputError(f"--png: {exc}") from None


def _generate(args) -> dict:
    from pc_analog.experiments import any_direction as ad
    from pc_analog.io.data import one_hot

    xtr, ltr, _, _ = _data(args)
    net = _generative(args, xtr, ltr)
    gen = np.clip(ad.generate(net, one_hot(np.arange(10), 10)), 0, 1)
    means = np.stack([xtr[ltr == c].mean(axis=0) for c in range(10)])
    _png(args, gen, 1)
    return {
        "task": "generate",
        "rms_to_class_mean": ad.rms_per_sample(gen, means).tolist(),
        "images": gen.round(3).tolist(),
    }


def _inpaint(args) -> dict:
    from pc_analog.experiments import any_direction as ad

    xtr, ltr, xte, _ = _data(args)
    net = _generative(args, xtr, ltr)
    rng = np.random.default_rng(args.seed)
    n = xte.shape[0]
    if args.mask == "random":
        known = ad.random_masks(n, 64, 0.5, rng)
    else:
        known = ad.half_masks(n, which=args.mask)
    pc = ad.inpaint(net, xte, known)
    out = {"task": "inpaint", "mask": args.mask, "n_test": n}
    for name, v in {
        "pc": pc,
        "mean": ad.mean_impute(xtr, xte, known),
        "knn": ad.knn_impute(xtr, xte, known),
    }.items():
        out[f"rms_{name}"] = float(np.sqrt(np.mean(((v - xte) ** 2)[~known])))
    k = min(n, 8)
    _png(
        args, np.concatenate([xte[:k], np.where(known[:k], xte[:k], 0.5), np.clip(pc[:k], 0, 1)]), 3
    )
    return out


def _missing(args) -> dict:
    from pc_analog.experiments import any_direction as ad
    from pc_analog.io.data import one_hot

    xtr, ltr, xte, lte = _data(args)
    net = _generative(args, xtr, ltr)
    bp = ad.train_bp_classifier(xtr, one_hot(ltr, 10), epochs=3 * args.epochs, seed=args.seed)
    known = ad.random_masks(xte.shape[0], 64, args.keep, np.random.default_rng(args.seed))
    pc = ad.classify_missing(net, xte, known)
    bp_pred = ad.bp_predict(bp, ad.mean_impute(xtr, xte, known))
    return {
        "task": "missing",
        "keep": args.keep,
        "n_test": int(xte.shape[0]),
        "accuracy_pc": float(np.mean(pc == lte)),
        "accuracy_bp_mean_imputed": float(np.mean(bp_pred == lte)),
    }


def _memory(args) -> dict:
    from pc_analog.experiments import any_direction as ad
    from pc_analog.experiments import hopfield

    xtr, _, _, _ = _data(args)
    if args.k > xtr.shape[0]:  # refused before training, not after
        raise InvalidInputError(f"--k: at most {xtr.shape[0]} training digits, got {args.k}")
    mem = xtr[: args.k]
    net = ad.train_memory(mem, epochs=args.epochs, seed=args.seed)
    known = ad.half_masks(args.k, which="top")
    err = ad.rms_per_sample(ad.recall(net, mem, known), mem)
    pats = hopfield.binarise(mem)
    s, _ = hopfield.recall(hopfield.store(pats), np.where(known, pats, -1.0), seed=args.seed)
    herr = ad.rms_per_sample((s + 1) / 2, (pats + 1) / 2)
    return {
        "task": "memory",
        "K": args.k,
        "recalled_pc": float(np.mean(err <= args.within)),
        "median_rms_pc": float(np.median(err)),
        "recalled_hopfield": float(np.mean(herr <= args.within)),
        "median_rms_hopfield": float(np.median(herr)),
    }


_TASKS = {"generate": _generate, "inpaint": _inpaint, "missing": _missing, "memory": _memory}


def run(args) -> int:
    """Run one task and print its result (one JSON object with ``--json``)."""
    if args.keep is not None and not 0 < args.keep <= 1:
        raise InvalidInputError(f"--keep: must lie in (0, 1], got {args.keep}")
    out = _TASKS[args.bench_command](args)
    if args.json:
        print(json_line(out))
    else:
        for k, v in out.items():
            if k != "images":
                print(f"{k}: {v}")
    sys.stdout.flush()
    return 0


def add_parser(bsub) -> None:
    """Register ``bench generate``, ``inpaint``, ``missing`` and ``memory`` on ``bsub``."""
    helps = {
        "generate": "class-conditional generation: clamp the label, free the image",
        "inpaint": "inpainting: clamp half the pixels, settle the rest (vs mean, KNNImputer)",
        "missing": "classification with missing pixels (vs backprop on mean-imputed inputs)",
        "memory": "associative memory: recall K digits from half-masked cues (vs Hopfield)",
    }
    for name, text in helps.items():
        p = bsub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--epochs",
            type=positive_int,
            default=400 if name == "memory" else 10,
            help="PC learning epochs (default 10; memory: 400 full-batch epochs)",
        )
        p.add_argument("--seed", type=nonnegative_int, default=0)
        p.add_argument("--n-test", type=positive_int, default=100, help="test digits used")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--keep", type=float, default=0.5 if name == "missing" else None,
                       help="missing: fraction of pixels available (default 0.5)")  # fmt: skip
        if name in ("generate", "inpaint", "missing"):
            p.add_argument("--network", metavar="NET.json", help="a generative 10-...-64 network")
        if name in ("generate", "inpaint"):
            p.add_argument("--png", metavar="OUT.png", help="write the images as a picture")
        if name == "inpaint":
            p.add_argument("--mask", default="random", choices=("random", "top", "left"))
        if name == "memory":
            p.add_argument("--k", type=positive_int, default=25, help="stored images")
            p.add_argument(
                "--within", type=positive_float, default=0.05, help="recall rms threshold"
            )
        p.set_defaults(func=run)
