"""Online and continual learning: PC in the circuit against backprop, one sample at a time.

Seed 000 claims PC is stronger than backprop in online and continual learning; the
published setting is Song et al. 2024, "Inferring neural activity before plasticity as a
foundation for learning beyond backpropagation" (prospective configuration), Nature
Neuroscience 27:348-358, where PC with the target clamped learns each sample with less
interference than backprop.  This script measures, on digits (8x8, standardized inputs,
architecture 64-128-10, tanh):

1. **online curves**: batch 1, each training sample seen once, test accuracy after 100,
   300 and 1000 samples; five seeds (seed = initial weights and sample order).
2. **split-digits continual learning**: one pass over the training samples of classes 0-4
   (task A), then one pass over those of classes 5-9 (task B), batch 1; accuracy on task
   A's test samples (argmax over all 10 outputs) before and after task B (forgetting =
   before - after), and on task B's after.

Methods, each with the same architecture, initial weights, samples and order:

* ``PC circuit, pi_L=1``: the ideal device crossbar circuit settled by the equilibrium
  backend with input and label clamped, the Hebbian update read from the settled node
  voltages (:meth:`HardwareNetwork.hebbian_step`), output precision 1 (the label clamp
  is as strong as the hidden springs: the "prospective" regime of Song et al.).
* ``PC circuit, pi_L=0.1``: the same with the library's default output precision 0.1
  (weaker clamp, closer to backprop).
* ``BP``: digital backprop on the same mean-squared loss (output precision 1).

The learning rate of each method is chosen separately on a validation hold-out
(stratified 20 % of the training part, the library's ``VALIDATION_SEED``; two seeds; the
criterion is the mean validation accuracy over the three points of the online curve);
the continual study uses the same rates.  The test set is read only with the chosen rates.

Run:  .venv/bin/python benchmarks/online.py [--quick] [--no-write]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_line, write_results  # noqa: E402

from pc_analog.errors import InvalidInputError  # noqa: E402
from pc_analog.hardware.hebbian import HardwareNetwork  # noqa: E402
from pc_analog.io.data import one_hot  # noqa: E402
from pc_analog.io.formats import atomic_write_bytes  # noqa: E402
from pc_analog.learning.defaults import prepare_data  # noqa: E402
from pc_analog.model.energy import feedforward  # noqa: E402
from pc_analog.model.network import Network  # noqa: E402
from pc_analog.reference.variants import backprop  # noqa: E402
from pc_analog.settling.registry import settle  # noqa: E402

KEY = "online"
SECTION = "Online and continual learning"
FIGURES = Path(__file__).resolve().parent / "figures"
ARCH = (64, 128, 10)
CHECKPOINTS = (100, 300, 1000)
SEEDS = (0, 1, 2, 3, 4)
SEARCH_SEEDS = (0, 1)
#: method -> (kind, output precision, learning-rate grid)
METHODS = {
    "PC circuit, pi_L=1": ("pc", 1.0, (0.003, 0.01, 0.03)),
    "PC circuit, pi_L=0.1": ("pc", 0.1, (0.1, 0.3, 1.0)),
    "BP": ("bp", 1.0, (0.01, 0.03, 0.1)),
}


class Learner:
    """One method's state: ``step(x, y)`` learns one sample, ``net()`` the current weights."""

    def __init__(self, kind: str, pi_out: float, lr: float, seed: int):
        self.kind, self.lr = kind, lr
        net0 = Network.random(ARCH, "tanh", precisions=[1.0, pi_out], seed=seed)
        self.steps = 0
        if kind == "pc":
            self.hw = HardwareNetwork.fabricate(net0, "ideal", rng=[seed, 0])
            self.rng = np.random.default_rng([seed, 3])  # exact device: draws nothing
        else:
            self.bp = net0

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.steps += 1
        if self.kind == "pc":
            circ = self.hw.circuit(x, y)
            res = settle(circ, backend="equilibrium", on_failure="return")
            self.hw, _, _ = self.hw.hebbian_step(circ, tuple(res.x), self.lr, self.rng)
        else:
            g = backprop(self.bp, x, y)
            self.bp = self.bp.replace(
                weights=tuple(W + self.lr * d for W, d in zip(self.bp.weights, g.dW)),
                biases=tuple(b + self.lr * d for b, d in zip(self.bp.biases, g.db)),
            )

    def net(self) -> Network:
        return self.hw.ideal_network() if self.kind == "pc" else self.bp


def _acc(net: Network, x, lab) -> float:
    if x.shape[0] == 0:
        return float("nan")
    return float(np.mean(np.argmax(feedforward(net, x)[-1], axis=1) == lab))


def online_curve(method: str, lr: float, seed: int, data, checkpoints) -> list[float]:
    """Accuracy on ``data.x_test`` after each checkpoint's number of batch-1 samples."""
    kind, pi, _ = METHODS[method]
    learner = Learner(kind, pi, lr, seed)
    order = np.random.default_rng([seed, 1]).permutation(data.x_train.shape[0])
    y = one_hot(data.lab_train, 10)
    out = []
    for i in range(max(checkpoints)):
        k = order[i % order.size]
        try:
            learner.step(data.x_train[k : k + 1], y[k : k + 1])
        except InvalidInputError:  # the weights diverged past the model's magnitude limit
            return out + [float("nan")] * (len(checkpoints) - len(out))
        if i + 1 in checkpoints:
            out.append(_acc(learner.net(), data.x_test, data.lab_test))
    return out


def continual(method: str, lr: float, seed: int, data, limit: int | None) -> dict:
    """Task A (classes 0-4) then task B (5-9), one pass each, batch 1."""
    kind, pi, _ = METHODS[method]
    learner = Learner(kind, pi, lr, seed)
    y = one_hot(data.lab_train, 10)
    rng = np.random.default_rng([seed, 2])
    te_a, te_b = data.lab_test < 5, data.lab_test >= 5
    row = {}
    for task, mask in (("A", data.lab_train < 5), ("B", data.lab_train >= 5)):
        idx = rng.permutation(np.flatnonzero(mask))[:limit]
        for k in idx:
            learner.step(data.x_train[k : k + 1], y[k : k + 1])
        net = learner.net()
        row[f"acc_A_after_{task}"] = _acc(net, data.x_test[te_a], data.lab_test[te_a])
        row[f"acc_B_after_{task}"] = _acc(net, data.x_test[te_b], data.lab_test[te_b])
    row["forgetting_A"] = row["acc_A_after_A"] - row["acc_A_after_B"]
    row["samples"] = learner.steps
    return row


def choose_lr(quick: bool) -> dict:
    """Per method: validation accuracy of every grid rate, the chosen one."""
    val = prepare_data("digits", input_scaling="global", validation_fraction=0.2)
    cps = (20, 50) if quick else CHECKPOINTS
    out = {}
    for m, (_, _, grid) in METHODS.items():
        scores = {}
        for lr in grid[:1] if quick else grid:
            curves = [online_curve(m, lr, s, val, cps) for s in SEARCH_SEEDS]
            scores[lr] = float(np.mean(curves))  # nan: diverged on a seed
            scores[lr] = -1.0 if np.isnan(scores[lr]) else scores[lr]
            print(f"search {m} lr {lr}: mean validation accuracy {scores[lr]:.4f}", flush=True)
        best = max(scores, key=lambda k: scores[k])  # first in grid order on ties
        out[m] = {"scores": {str(k): v for k, v in scores.items()}, "lr": best}
    return out


def run(quick: bool) -> dict:
    t0 = time.perf_counter()
    chosen = choose_lr(quick)
    data = prepare_data("digits", input_scaling="global", limit_test=100 if quick else None)
    cps = (20, 50) if quick else CHECKPOINTS
    seeds = SEEDS[:2] if quick else SEEDS
    rows = []
    for m in METHODS:
        lr = chosen[m]["lr"]
        for s in seeds:
            curve = online_curve(m, lr, s, data, cps)
            cont = continual(m, lr, s, data, 40 if quick else None)
            rows.append({"method": m, "lr": lr, "seed": s, "curve": curve, **cont})
            print(f"{m} seed {s}: curve {curve}, continual {cont}", flush=True)
    return {
        "arch": list(ARCH),
        "checkpoints": list(cps),
        "seeds": list(seeds),
        "search": chosen,
        "rows": rows,
        "n_train": int(data.x_train.shape[0]),
        "n_test": int(data.x_test.shape[0]),
        "seconds": time.perf_counter() - t0,
        "quick": quick,
    }


def _stats(v) -> str:
    v = np.asarray(v, float) * 100
    return f"{v.mean():.1f} ± {v.std(ddof=1) if v.size > 1 else 0:.1f}"


def _paired(raw: dict) -> list[str]:
    """PC minus BP, paired by seed (same initial weights and samples), in points."""
    bp = {r["seed"]: r for r in raw["rows"] if r["method"] == "BP"}
    out = []
    for m in METHODS:
        if m == "BP":
            continue
        rows = [r for r in raw["rows"] if r["method"] == m]
        parts = []
        for i, c in enumerate(raw["checkpoints"]):
            d = [r["curve"][i] - bp[r["seed"]]["curve"][i] for r in rows]
            parts.append(f"after {c}: {_stats(d)}")
        d = [r["forgetting_A"] - bp[r["seed"]]["forgetting_A"] for r in rows]
        parts.append(f"forgetting of A: {_stats(d)}")
        out.append(f"- {m} minus BP, paired by seed (points): " + "; ".join(parts) + ".")
    return ["Differences, PC minus BP (mean ± sd over seeds):", "", *out]


def figure(raw: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pc_analog.viz.plots import save_figure

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    cps = raw["checkpoints"]
    for i, m in enumerate(METHODS):
        rows = [r for r in raw["rows"] if r["method"] == m]
        c = np.array([r["curve"] for r in rows]) * 100
        a1.errorbar(cps, c.mean(0), yerr=c.std(0, ddof=1), marker="o", capsize=3, label=m)
        for j, key in enumerate(("acc_A_after_A", "acc_A_after_B", "acc_B_after_B")):
            v = np.array([r[key] for r in rows]) * 100
            a2.bar(j + 0.27 * (i - 1), v.mean(), 0.27, yerr=v.std(ddof=1), capsize=3,
                   color=f"C{i}", label=m if j == 0 else None)  # fmt: skip
    a1.set_xscale("log")
    a1.set_xlabel("training samples seen (batch 1)")
    a1.set_ylabel("test accuracy (%)")
    a1.set_title("online learning, digits (5 seeds, mean ± sd)")
    a1.legend(fontsize=8)
    a2.set_xticks([0, 1, 2], ["task A after A", "task A after B", "task B after B"])
    a2.set_ylabel("test accuracy (%)")
    a2.set_title("split digits: 0-4 then 5-9")
    buf = io.BytesIO()
    save_figure(fig, buf)
    plt.close(fig)
    return buf.getvalue()


def render(raw: dict) -> str:
    cps = raw["checkpoints"]
    lines = [
        raw.get("machine_line", machine_line()),
        "",
        "Seed 000 claims predictive coding beats backprop in online and continual learning "
        "(the setting of Song et al. 2024, *Nature Neuroscience* 27:348, prospective "
        "configuration). Measured here on digits (`benchmarks/online.py`), architecture "
        f"{'-'.join(map(str, raw['arch']))} tanh, standardized inputs, batch 1, each "
        f"sample seen once; {len(raw['seeds'])} seeds (initial weights and sample order), "
        "mean ± sample sd. PC runs in the circuit: the ideal crossbar circuit settled by "
        "the equilibrium backend with input and label clamped, the Hebbian update read "
        "from the node voltages. BP is digital backprop on the same loss. Same initial "
        "weights, samples and order for every method; each method's learning rate chosen "
        "on a validation hold-out (20 % of the training part, 2 seeds, mean accuracy over "
        "the curve's points; a rate whose weights diverge on a seed scores as diverged), "
        "not on the test set.",
        "",
        "| method | lr (validation scores) | "
        + " | ".join(f"test acc. after {c}" for c in cps)
        + " |",
        "|---|---|" + "---|" * len(cps),
    ]
    for m in METHODS:
        rows = [r for r in raw["rows"] if r["method"] == m]
        s = raw["search"][m]
        sc = ", ".join(
            f"{k}: " + ("diverged" if v < 0 else f"{v * 100:.1f}") for k, v in s["scores"].items()
        )
        cols = " | ".join(_stats([r["curve"][i] for r in rows]) for i in range(len(cps)))
        lines.append(f"| {m} | {s['lr']} ({sc}) | {cols} |")
    lines += [
        "",
        "Split digits (one pass over the training samples of classes 0-4, then one over "
        "5-9; test accuracy on each task's test samples, argmax over all ten outputs; "
        "forgetting = task A before - after task B):",
        "",
        "| method | task A after A | task A after B | forgetting of A | task B after B |",
        "|---|---|---|---|---|",
    ]
    for m in METHODS:
        rows = [r for r in raw["rows"] if r["method"] == m]
        cols = [
            _stats([r[k] for r in rows])
            for k in ("acc_A_after_A", "acc_A_after_B", "forgetting_A", "acc_B_after_B")
        ]
        lines.append(f"| {m} | " + " | ".join(cols) + " |")
    lines += ["", *_paired(raw), ""]
    lines += ["![online and continual learning](benchmarks/figures/online.png)", ""]
    lines += NOTES
    lines += [
        "",
        f"The run took {raw['seconds']:.0f} s wall (the learning-rate search included), "
        "sharing the 2 cores with other benchmark processes.",
    ]
    return "\n".join(lines) + "\n"


#: The reading of the stored run (numbers copied from its tables above).
NOTES = [
    "Reading: on this task seed 000's claim is not supported. With the default output "
    "precision 0.1 (a weak label clamp, where PC's update approaches backprop's) PC in the "
    "circuit tracks BP within 0.2 points at every point of the online curve and forgets as "
    "much. With output precision 1 (the label clamp as strong as the hidden springs, the "
    "regime of prospective configuration) PC is 1.9 ± 1.5 points *behind* BP after 100 "
    "samples, level after 300 and 1000, and forgets task A 1.8 ± 0.7 points less: "
    "consistent over seeds but small, since every method forgets task A almost completely "
    "(95-97 points; one pass per task, no replay, a shared output layer). BP wins the "
    "first 100 samples against that PC. Not reproduced here: Song et al.'s own tasks and "
    "architectures; this is one small measurement on digits, with learning rates chosen "
    "per method.",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI-size run (not written)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--redraw", action="store_true", help="re-render the stored results")
    args = ap.parse_args(argv)
    if args.redraw:
        import json

        raw = json.loads((Path(__file__).resolve().parent / "results" / f"{KEY}.json").read_text())
        raw = raw["raw"]
    else:
        raw = run(args.quick)
        raw["machine_line"] = machine_line()
    text = render(raw)
    print(text)
    if not (args.no_write or args.quick):
        FIGURES.mkdir(exist_ok=True)
        atomic_write_bytes(FIGURES / "online.png", figure(raw))
        path = write_results(KEY, SECTION, text, script="benchmarks/online.py", raw=raw)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
