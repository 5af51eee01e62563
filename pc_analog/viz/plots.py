"""Figures people would rather look at than read.  matplotlib is imported lazily."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pc_analog.errors import InvalidInputError
from pc_analog.experiments.studies import fit_power_law, format_exponent
from pc_analog.learning.figures import plot_conductance_histogram, plot_training

__all__ = [
    "plot_transients",
    "plot_settling_scaling",
    "plot_training",
    "plot_conductance_histogram",
    "plot_crossover",
    "sweep_figures",
    "plot_error_arrival",
    "plot_fpa_alignment",
    "plot_variance_ratio",
    "plot_pc_timing",
    "plot_saddle",
    "plot_fisher",
    "log_ticks_at",
    "save_figure",
]


def _axes(ax, figsize=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def save_figure(fig, path_or_buf, *, dpi: int = 110, **kw) -> None:
    """``fig.savefig`` with a tight bounding box (nothing clipped: labels, legends placed
    outside the axes); other keywords pass through."""
    fig.savefig(path_or_buf, dpi=dpi, bbox_inches="tight", **kw)


def _tick_label(v: float) -> str:
    """Plain, short: 3, 0.03, 1e-04, 2048, 339, 16.4k, 1.05M."""
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.3g}G"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if float(v).is_integer():
        return str(int(v))
    if a >= 1e-3:
        r = float(f"{v:.3g}")  # 999.9999 -> 1000, 339.3 -> 339
        return str(int(r)) if r.is_integer() else f"{r:g}"
    return f"{v:.0e}"


def log_ticks_at(ax, values, *, axis: str = "x", max_labels: int = 8, min_gap: float = 0.12):
    """Ticks of a log axis at the measured ``values`` with plain labels (no ``10^k``), and
    minor tick labels off; values closer than ``min_gap`` decades to the previous label
    (or more than ``max_labels`` in all) are ticked without a label, so labels never
    collide."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    vals = np.unique(np.asarray([v for v in values if v is not None and v > 0], float))
    if vals.size == 0:
        return
    lv = np.log10(vals)
    span = float(lv[-1] - lv[0])
    gap = min_gap if vals.size <= max_labels else max(min_gap, span / (max_labels - 1) * 0.999)
    labels, last = [], None
    for v, l in zip(vals, lv):
        if last is None or l - last >= gap:
            labels.append(_tick_label(v))
            last = l
        else:
            labels.append("")
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(vals))
    a.set_major_formatter(FixedFormatter(labels))
    a.set_minor_formatter(NullFormatter())


def _plain_log_axis(ax, axis: str = "y") -> None:
    """A log axis without minor tick labels (matplotlib labels them over short ranges,
    where they overlap); over less than a decade, majors at 1-2-5 with plain labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    a = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    lo, hi = min(lo, hi), max(lo, hi)
    if lo > 0 and np.log10(hi / lo) < 1.5:
        a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FuncFormatter(lambda v, _pos: _tick_label(v)))
    a.set_minor_formatter(NullFormatter())


def _fit_label(xs, ys) -> tuple[str, tuple | None]:
    """``("p = 1.97 ± 0.03", (p, a))``, or why there is no fit and ``None``."""
    try:
        p, a, se = fit_power_law(xs, ys, return_stderr=True)
    except InvalidInputError:
        return "no fit (fewer than 3 points or under half a decade)", None
    return f"p = {format_exponent(p, se)}", (p, a)


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
    ``t ~ x^p`` and its standard error in the legend (``p = 1.97 ± 0.03``; no fit over
    fewer than 3 points or less than half a decade, see
    :func:`~pc_analog.experiments.studies.fit_power_law`).  The x ticks sit at the
    measured values."""
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
    all_x = []
    for name, rs in groups.items():
        xs = np.array([r[x] for r in rs], float)
        ts = np.array([r["settling_time_tau"] for r in rs], float)
        order = np.argsort(xs)
        xs, ts = xs[order], ts[order]
        all_x.extend(xs)
        text, fit = _fit_label(xs, ts)
        line = ax.loglog(xs, ts, "o-", label=f"{name}: t ~ {x}^p, {text}")[0]
        if fit is not None:
            p, a = fit
            ax.loglog(xs, a * xs**p, ":", color=line.get_color())
    log_ticks_at(ax, all_x)
    _plain_log_axis(ax, "y")
    ax.set_xlabel(x)
    ax.set_ylabel("settling time / tau")
    ax.legend(loc="best", fontsize=8)
    return ax


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
    (:func:`pc_analog.experiments.sweep.find_crossover`).

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
    from pc_analog.experiments.sweep import find_crossover

    ax = _axes(ax)
    groups: dict = {}
    for r in rows:
        groups.setdefault(None if by is None else r[by], []).append(r)
    all_x = []
    for g, rs in groups.items():
        xs = np.array([r[x] for r in rs], float)
        order = np.argsort(xs)
        all_x.extend(xs)
        for label, col in ratios.items():
            ys = np.array([np.nan if r[col] is None else r[col] for r in rs], float)[order]
            name = label if by is None else f"{label}, {by}={g}"
            xc = find_crossover(xs[order], ys)
            # The crossing goes in the legend entry: labels drawn at the crossings
            # themselves pile up when several series cross near one size.
            if xc is not None:
                name += f": crosses 1 at {_tick_label(xc)}"
            line = ax.loglog(xs[order], ys, "o-", label=name)[0]
            if xc is not None:
                ax.axvline(xc, color=line.get_color(), ls=":", lw=1)
                ax.plot([xc], [1.0], "D", color=line.get_color(), ms=7)
    ax.axhline(1.0, color="k", lw=1)
    log_ticks_at(ax, all_x)
    _plain_log_axis(ax, "y")
    ax.set_xlabel(x)
    ax.set_ylabel("analog / digital")
    # Below the axes: inside, six entries would cover the data.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7, ncol=2, frameon=False)
    return ax


def _config_title(config) -> str:
    """What a sweep held fixed (and single-valued grid entries): ``network random,
    activation tanh, depth 4``."""
    items = list(config.fixed) + [(k, v[0]) for k, v in config.grid if len(v) == 1]
    return ", ".join(f"{k} {v}" for k, v in items)


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
    setup = _config_title(result.config)
    figs = {}
    if "settling_time_tau" in cols:
        for x in ("depth", "width"):
            if x not in varying:
                continue
            others = [k for k in varying if k not in (x, "dynamics")]
            fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
            plot_settling_scaling(rows, x=x, by=["dynamics", *others], ax=ax)
            ax.set_title(f"settling time vs {x}\n{setup}", fontsize=10)
            figs[f"settling_vs_{x}"] = fig
    dev_axes = [k for k in ("bits", "write_noise", "device") if k in varying]
    if "state_error_rms_V" in cols and dev_axes:
        x = dev_axes[0]
        others = [k for k in varying if k != x]
        groups: dict = {}
        for r in rows:
            groups.setdefault(tuple(r[k] for k in others), []).append(r)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
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
        fig.suptitle(f"device error vs {x}: {setup}", fontsize=10)
        figs["device_error"] = fig
    if "time_ratio" in cols:
        size = next((k for k in ("width", "depth") if k in varying), None)
        if size is not None:
            x = "n_weights" if "n_weights" in cols else size
            others = [k for k in varying if k != size]
            fig, ax = plt.subplots(figsize=(6.5, 4.6), layout="constrained")
            from pc_analog.experiments.sweep import RATIO_COLUMNS

            ratios = {lab: c for lab, c in RATIO_COLUMNS.items() if c in cols}
            plot_crossover(rows, x=x, ratios=ratios, by=others[0] if others else None, ax=ax)
            ax.set_title(f"analog / digital (below 1: analog wins)\n{setup}", fontsize=10)
            figs["crossover"] = fig
    return figs


# ------------------------------------------------------------ the seeds' claims


def plot_error_arrival(results: Sequence, *, axes=None):
    """Seed 001 Theorem 1: ``||eps_l||`` per layer (rows) and step (columns), one panel per
    :class:`~pc_analog.experiments.claims.ErrorArrivalResult`; exact zeros are white and the
    predicted first step ``L - l`` is outlined in red.  Returns the figure."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(
            1, len(results), figsize=(3.8 * len(results), 3.6), squeeze=False, layout="constrained"
        )
        axes = axes[0]
    fig = axes[0].figure
    for ax, r in zip(axes, results):
        norms = np.ma.masked_equal(r.error_norms.T, 0.0)
        im = ax.imshow(np.ma.log10(norms), origin="lower", aspect="auto", cmap="viridis")
        L = r.n_layers
        ax.step(
            [L - l for l in range(1, L + 1)],
            np.arange(L),
            where="mid",
            color="red",
            lw=1.5,
            label="t = L - l",
        )
        ax.set_xlabel("inference step t")
        ax.set_ylabel("layer l")
        ax.set_yticks(range(L), [str(l) for l in range(1, L + 1)])
        ax.set_title(
            f"{r.method.upper()}, L = {L}, step {r.step_size:g}: {'holds' if r.holds else 'FAILS'}",
            fontsize=10,
        )
        fig.colorbar(im, ax=ax, label="log10 ||eps_l||")
    axes[0].legend(loc="upper right", fontsize=8)
    return fig


def plot_fpa_alignment(result):
    """Seed 001 Figs. 3-5: cosine similarity of FPA-PC to backprop (at the initial
    weights, where every run shares them, and averaged over training, where each run
    follows its own updates) and test accuracy against ``T / L``; one colour per step
    size, one line style per depth, backprop's accuracy in grey.  Returns the figure."""
    import matplotlib.pyplot as plt

    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    styles = ["-", "--", ":", "-."]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    r = result
    for i, h in enumerate(r.n_hidden):
        L = h + 1
        for j, gamma in enumerate(r.step_sizes):
            t_over_L = r.n_steps[i, j] / L
            kw = dict(color=colors[j % len(colors)], ls=styles[i % len(styles)], marker="o", ms=3)
            a0.plot(t_over_L, r.cosine_init[i, j], label=f"SS {gamma:g}, L = {L}", **kw)
            a1.plot(t_over_L, r.cosine[i, j], **kw)
            a2.plot(t_over_L, r.test_accuracy[i, j], **kw)
        a2.axhline(r.bp_test_accuracy[i], color="grey", ls=styles[i % len(styles)], lw=0.8)
    for ax in (a0, a1, a2):
        ax.axvline(1.0, color="k", lw=0.5)
        ax.set_xlabel("inference steps / layers  (T / L)")
    a0.set_ylabel("cosine similarity to backprop")
    a1.set_ylabel("cosine similarity to backprop")
    a2.set_ylabel("test accuracy (grey: backprop)")
    a0.legend(fontsize=7, ncol=2)
    a0.set_title("at the initial weights (first batch)")
    a1.set_title("mean over training")
    a2.set_title(f"after {r.epochs} epochs")
    fig.suptitle(
        f"FPA-PC vs backprop: tanh MLPs, L = {', '.join(str(h + 1) for h in r.n_hidden)}, "
        f"step sizes {', '.join(f'{g:g}' for g in r.step_sizes)}",
        fontsize=11,
    )
    return fig


def plot_variance_ratio(result, *, ax=None):
    """Standard PC's equilibrium update against backprop's as the output variance grows:
    ``1 - cos`` and the relative error against the ratio ``r`` (log-log)."""
    ax = _axes(ax)
    ax.loglog(result.ratios, 1 - result.cosine, "o-", label="1 - cosine")
    ax.loglog(result.ratios, result.rel_error, "s-", label="|dW_PC/r - dW_BP| / |dW_BP|")
    log_ticks_at(ax, result.ratios)
    _plain_log_axis(ax, "y")
    ax.set_xlabel("output precision ratio r (variance ratio 1/r)")
    ax.invert_xaxis()
    ax.legend(loc="best")
    ax.set_title("standard PC -> backprop as r -> 0 (equilibrium update / r)")
    return ax


def plot_pc_timing(result, *, ax=None):
    """Wall time per batch of backprop and digital PC variants against depth (log-log)."""
    ax = _axes(ax)
    L = np.array(result.n_hidden) + 1
    for name, t in (
        ("backprop", result.bp_s),
        ("FPA-PC, step 1, T = L-1", result.fpa_s),
        ("Z-IL", result.zil_s),
        (f"standard PC to gtol {result.pc_gtol:g}", result.pc_s),
    ):
        ax.loglog(L, t * 1e3, "o-", label=name)
    log_ticks_at(ax, L)
    _plain_log_axis(ax, "y")
    ax.set_xlabel("layers L")
    ax.set_ylabel("time per batch (ms)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(
        f"digital PC vs backprop: tanh MLP width {result.width}, batch {result.batch}, "
        f"median of {result.repeats}",
        fontsize=10,
    )
    return ax


def plot_saddle(results: Sequence, *, lim: float = 1.6, n: int = 161):
    """Seed 002 toy ``f(x) = w2 w1 x``: the loss (left) and the equilibrated energy
    ``F* = Loss / (1 + w2^2)`` (right) with the GD and PC paths from the same starts,
    and the loss along each path.  Returns the figure."""
    import matplotlib.pyplot as plt

    from pc_analog.experiments.claims import toy_landscape

    r0 = results[0]
    g = np.linspace(-lim, lim, n)
    w1, w2 = np.meshgrid(g, g, indexing="xy")
    loss, fstar = toy_landscape(w1, w2, x=r0.x, y=r0.y)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), layout="constrained")
    for ax, z, title, key in (
        (axes[0], loss, "loss  1/2 (y - w2 w1 x)^2: gradient descent", "gd_path"),
        (axes[1], fstar, "equilibrated energy F*: PC", "pc_path"),
    ):
        ax.contourf(w1, w2, z, levels=30, cmap="viridis")
        for r in results:
            p = getattr(r, key)
            ax.plot(p[:, 0], p[:, 1], "w.-", ms=2, lw=0.8)
            ax.plot(*r.start, "ro", ms=4)
        ax.plot(0, 0, "kx")
        ax.set_xlabel("w1")
        ax.set_ylabel("w2")
        ax.set_title(title, fontsize=9)
    for k, r in enumerate(results):
        (line,) = axes[2].semilogy(r.gd_loss, lw=1, label="GD" if k == 0 else None)
        axes[2].semilogy(r.pc_loss, ls="--", color=line.get_color(), label="PC" if k == 0 else None)
    axes[2].axhline(r0.escape_loss, color="k", lw=0.5)
    axes[2].set_xlabel("iteration (same learning rate)")
    axes[2].set_ylabel("loss")
    axes[2].legend()
    axes[2].set_title("escape: loss below half the saddle's")
    fig.suptitle(
        f"f(x) = w2 w1 x, x = {r0.x:g}, y = {r0.y:g}, learning rate {r0.lr:g}, "
        f"{len(results)} starts",
        fontsize=11,
    )
    return fig


def plot_fisher(results: Sequence, *, ax=None):
    """Seed 003: Monte Carlo Fisher information (diagonal, +-2 standard errors) against
    the analytic value, for the layer's own factor (the seed's ``pi_l``) and for the
    full model (``pi_l + J^T pi_{l+1} J``)."""
    ax = _axes(ax)
    lo, hi = np.inf, -np.inf
    for r in results:
        for what, exact, mc, se, marker in (
            ("own factor", r.own_analytic, r.own_mc, r.own_se, "o"),
            ("with the layer above", r.full_analytic, r.full_mc_score, r.full_score_se, "s"),
        ):
            if what != "own factor" and np.array_equal(r.full_analytic, r.own_analytic):
                continue  # the output layer: nothing above it
            x, y, e = np.diag(exact), np.diag(mc), 2 * np.diag(se)
            ax.errorbar(
                x, y, yerr=e, ls="none", marker=marker, ms=4, label=f"layer {r.layer}, {what}"
            )
            lo, hi = min(lo, x.min(), y.min()), max(hi, x.max(), y.max())
    ax.plot([lo, hi], [lo, hi], "k:", lw=0.8, label="y = x")
    ax.set_xlabel("analytic E[d2F/dx2] (diagonal)")
    ax.set_ylabel("Monte Carlo E[s s^T] (diagonal)")
    ax.legend(fontsize=7)
    n = results[0].n_samples if results else 0
    ax.set_title(f"Fisher information of the activities ({n} Monte Carlo samples)")
    return ax
