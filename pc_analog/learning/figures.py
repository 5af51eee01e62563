"""The figures a training run writes beside its metrics (matplotlib imported lazily).

They live with the learning stage so that :func:`pc_analog.learning.train.train`
needs nothing downstream; :mod:`pc_analog.viz.plots` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_training", "plot_conductance_histogram"]


def plot_training(history: Sequence[Mapping]):
    """Accuracy (hardware PC and its backprop twin) and energy per epoch; returns the figure."""
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    a1.plot(ep, [h["test_accuracy"] for h in history], "o-", label="PC in hardware (test)")
    a1.plot(ep, [h["train_accuracy"] for h in history], ".--", label="PC in hardware (train)")
    bp = [h.get("bp_test_accuracy", float("nan")) for h in history]
    if np.isfinite(bp).any():
        a1.plot(ep, bp, "s-", label="backprop twin (test)")
    a1.set_xlabel("epoch")
    a1.set_ylabel("accuracy")
    a1.legend(loc="lower right")
    a2.plot(ep, [h["energy"] for h in history], "o-")
    a2.set_xlabel("epoch")
    a2.set_ylabel("mean energy at equilibrium")
    a2.set_yscale("log")
    # Plain numbers at 1-2-5 (matplotlib falls back to linear steps inside one of them),
    # no minor labels: over less than a decade they read 2.6x10^-2, 2.8x10^-2, ...
    a2.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a2.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))
    a2.yaxis.set_minor_formatter(NullFormatter())
    return fig


def plot_conductance_histogram(conductances: Mapping[str, np.ndarray], bins: int = 60):
    """Histograms of programmed conductances (in uS) per crossbar; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    for name, g in conductances.items():
        ax.hist(np.asarray(g) * 1e6, bins=bins, histtype="step", label=name)
    ax.set_xlabel("conductance (uS)")
    ax.set_ylabel("devices")
    ax.set_yscale("log")
    ax.legend()
    return fig
