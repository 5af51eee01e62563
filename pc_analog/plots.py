"""Figures people would rather look at than read.  matplotlib is imported lazily."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .studies import fit_power_law

__all__ = [
    "plot_transients",
    "plot_settling_scaling",
    "plot_training",
    "plot_conductance_histogram",
]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def plot_transients(
    results: Mapping,
    *,
    sample: int = 0,
    layers: Sequence[int] | None = None,
    ax=None,
    max_units: int = 6,
):
    """Activities against time (in tau) for several backends' results on one axis.

    Parameters
    ----------
    results : mapping label -> SettleResult
        Time-domain results (``t`` and ``trajectory`` set).  The first is drawn as
        lines, the others as markers, so agreement shows as markers on lines.
    sample : int
        Which sample of the batch.
    layers : sequence of int, optional
        Layers to draw (default: every layer with free units, i.e. that moves).
    max_units : int
        At most this many units per layer.
    """
    ax = _axes(ax)
    colors = __import__("matplotlib").pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = [
        dict(lw=1.5),
        dict(ls="none", marker="o", ms=3, mfc="none"),
        dict(ls="none", marker="x", ms=3),
    ]
    for k, (label, res) in enumerate(results.items()):
        if res.t is None or res.trajectory is None:
            raise ValueError(f"{label}: not a time-domain result")
        tau = res.tau_s
        ls = layers
        if ls is None:
            ls = [
                l for l, tr in enumerate(res.trajectory) if np.ptp(tr[:, sample], axis=0).max() > 0
            ]
        c = 0
        step = max(1, res.t.size // 60) if k > 0 else 1
        for l in ls:
            for i in range(min(max_units, res.trajectory[l].shape[2])):
                ax.plot(
                    res.t[::step] / tau,
                    res.trajectory[l][::step, sample, i],
                    color=colors[c % len(colors)],
                    label=f"{label}" if c == 0 else None,
                    **styles[min(k, 2)],
                )
                c += 1
    ax.set_xlabel("time / tau")
    ax.set_ylabel("node voltage (V)")
    ax.legend(loc="best")
    return ax


def plot_settling_scaling(
    rows: Sequence[Mapping], *, x: str = "depth", ax=None, by: str = "dynamics"
):
    """Settling time (in tau) against ``x`` on log-log axes, one series per ``by``,
    with the fitted power law ``t ~ x^p`` in the legend."""
    ax = _axes(ax)
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[by], []).append(r)
    for name, rs in groups.items():
        xs = np.array([r[x] for r in rs], float)
        ts = np.array([r["settling_time_tau"] for r in rs], float)
        order = np.argsort(xs)
        xs, ts = xs[order], ts[order]
        if xs.size >= 2:
            p, a = fit_power_law(xs, ts)
            line = ax.loglog(xs, ts, "o-", label=f"{name}: t ~ {x}^{p:.2f}")[0]
            ax.loglog(xs, a * xs**p, ":", color=line.get_color())
        else:
            ax.loglog(xs, ts, "o-", label=str(name))
    ax.set_xlabel(x)
    ax.set_ylabel("settling time / tau")
    ax.legend(loc="best")
    return ax


def plot_training(history: Sequence[Mapping]):
    """Accuracy (hardware PC and its backprop twin) and energy per epoch; returns the figure."""
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
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
    fig.tight_layout()
    return fig


def plot_conductance_histogram(conductances: Mapping[str, np.ndarray], bins: int = 60):
    """Histograms of programmed conductances (in uS) per crossbar; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, g in conductances.items():
        ax.hist(np.asarray(g) * 1e6, bins=bins, histtype="step", label=name)
    ax.set_xlabel("conductance (uS)")
    ax.set_ylabel("devices")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return fig
