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
    "plot_crossover",
    "sweep_figures",
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
    rows: Sequence[Mapping], *, x: str = "depth", ax=None, by: str | Sequence[str] = "dynamics"
):
    """Settling time (in tau) against ``x`` on log-log axes, one series per ``by``
    (a column, or several: one series per combination), with the fitted power law
    ``t ~ x^p`` in the legend."""
    ax = _axes(ax)
    groups: dict = {}
    keys = [by] if isinstance(by, str) else list(by)
    for r in rows:
        name = (
            r[keys[0]]
            if len(keys) == 1
            else ", ".join(str(r[k]) if i == 0 else f"{k}={r[k]}" for i, k in enumerate(keys))
        )
        groups.setdefault(name, []).append(r)
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


def plot_crossover(
    rows: Sequence[Mapping],
    *,
    x: str,
    ratios: Mapping[str, str],
    by: str | None = None,
    ax=None,
):
    """Ratios (e.g. analog/digital time and energy) against ``x`` on log-log axes, the
    parity line ``ratio = 1`` and each crossing marked
    (:func:`pc_analog.sweep.find_crossover`).

    Parameters
    ----------
    rows : sequence of mapping
    x : str
        Size column (e.g. ``"n_weights"``).
    ratios : mapping label -> column
        The ratio columns to draw (below 1: analog wins).
    by : str, optional
        One series per value of this column (e.g. the batch).
    """
    from .sweep import find_crossover

    ax = _axes(ax)
    groups: dict = {}
    for r in rows:
        groups.setdefault(None if by is None else r[by], []).append(r)
    for g, rs in groups.items():
        xs = np.array([r[x] for r in rs], float)
        order = np.argsort(xs)
        for label, col in ratios.items():
            ys = np.array([r[col] for r in rs], float)[order]
            name = label if by is None else f"{label}, {by}={g}"
            line = ax.loglog(xs[order], ys, "o-", label=name)[0]
            xc = find_crossover(xs[order], ys)
            if xc is not None:
                ax.axvline(xc, color=line.get_color(), ls=":", lw=1)
                ax.plot([xc], [1.0], "D", color=line.get_color(), ms=7)
                ax.annotate(
                    f"{xc:.3g}",
                    (xc, 1.0),
                    textcoords="offset points",
                    xytext=(4, 6),
                    color=line.get_color(),
                    fontsize=8,
                )
    ax.axhline(1.0, color="k", lw=1)
    ax.set_xlabel(x)
    ax.set_ylabel("analog / digital")
    ax.legend(loc="best", fontsize=8)
    return ax


def sweep_figures(result) -> dict:
    """The figures a sweep's grid supports, by file stem; each a matplotlib Figure.

    ``settling_vs_depth`` / ``settling_vs_width`` when depth / width vary and settling
    was measured (one series per dynamics and per combination of the other varying
    parameters, fitted exponents in the legend); ``device_error`` when the device, its
    bits or write noise vary; ``crossover`` when timing ratios were measured and a
    size varies.
    """
    import matplotlib.pyplot as plt

    rows = list(result.rows)
    varying = [k for k, v in result.config.grid if len(v) > 1]
    cols = set(result.columns)
    figs = {}
    if "settling_time_tau" in cols:
        for x in ("depth", "width"):
            if x not in varying:
                continue
            others = [k for k in varying if k not in (x, "dynamics")]
            fig, ax = plt.subplots(figsize=(6.5, 4.2))
            plot_settling_scaling(rows, x=x, by=["dynamics", *others], ax=ax)
            ax.set_title(f"settling time vs {x}")
            fig.tight_layout()
            figs[f"settling_vs_{x}"] = fig
    dev_axes = [k for k in ("bits", "write_noise", "device") if k in varying]
    if "state_error_rms_V" in cols and dev_axes:
        x = dev_axes[0]
        others = [k for k in varying if k != x]
        groups: dict = {}
        for r in rows:
            groups.setdefault(tuple(r[k] for k in others), []).append(r)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
        for g, rs in groups.items():
            label = ", ".join(f"{k}={v}" for k, v in zip(others, g)) or None
            xs = [str(r[x]) for r in rs] if x == "device" else [r[x] for r in rs]
            a1.plot(xs, [r["weight_rel_error"] for r in rs], "o-", label=label)
            a2.plot(xs, [r["state_error_rms_V"] for r in rs], "o-", label=label)
        for a, lab in ((a1, "weight error ||W_dev - W|| / ||W||"), (a2, "rms |x_dev* - x*| (V)")):
            a.set_xlabel(x)
            a.set_ylabel(lab)
            if x != "device":
                a.set_yscale("log")
            if others:
                a.legend(fontsize=8)
        fig.tight_layout()
        figs["device_error"] = fig
    if "time_ratio" in cols:
        size = next((k for k in ("width", "depth") if k in varying), None)
        if size is not None:
            x = "n_weights" if "n_weights" in cols else size
            others = [k for k in varying if k != size]
            fig, ax = plt.subplots(figsize=(6.5, 4.2))
            from .sweep import RATIO_COLUMNS

            ratios = {lab: c for lab, c in RATIO_COLUMNS.items() if c in cols}
            plot_crossover(rows, x=x, ratios=ratios, by=others[0] if others else None, ax=ax)
            ax.set_title("analog / digital (below 1: analog wins)")
            fig.tight_layout()
            figs["crossover"] = fig
    return figs
