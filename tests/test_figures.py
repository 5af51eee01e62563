"""Power-law fits carry their uncertainty and refuse short ranges; figures keep their
labels apart and inside the saved image."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from pc_analog.errors import InvalidInputError  # noqa: E402
from pc_analog.experiments.studies import fit_power_law, format_exponent  # noqa: E402
from pc_analog.viz import plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ fit_power_law


def test_fit_recovers_an_exact_power_law_with_zero_stderr():
    x = np.array([2.0, 4.0, 8.0, 16.0])
    p, a, se = fit_power_law(x, 3.0 * x**1.5, return_stderr=True)
    assert p == pytest.approx(1.5, abs=1e-12)
    assert a == pytest.approx(3.0, rel=1e-12)
    assert se == pytest.approx(0.0, abs=1e-12)
    # The old call keeps its 2-tuple.
    assert fit_power_law(x, 3.0 * x**1.5) == pytest.approx((p, a))


def test_stderr_matches_the_closed_form():
    # OLS slope of log y on log x: se = sqrt(SSR / (n - 2) / Sxx).
    x = np.array([1.0, 3.0, 10.0, 30.0, 100.0])
    y = np.array([1.1, 8.0, 105.0, 880.0, 9600.0])
    p, _, se = fit_power_law(x, y, return_stderr=True)
    lx, ly = np.log(x), np.log(y)
    slope, icpt = np.polyfit(lx, ly, 1)
    ssr = np.sum((ly - slope * lx - icpt) ** 2)
    assert p == pytest.approx(slope)
    assert se == pytest.approx(np.sqrt(ssr / 3 / np.sum((lx - lx.mean()) ** 2)), rel=1e-12)


def test_stderr_matches_the_spread_of_the_exponent_over_seeds():
    """y = a x^p e^noise: the reported stderr is the spread of p across noise draws."""
    x = np.array([4.0, 6.0, 8.0, 12.0, 16.0, 24.0])
    sigma, n_seeds = 0.05, 2000
    rng = np.random.default_rng(0)
    ps, ses = [], []
    for _ in range(n_seeds):
        y = 2.0 * x**1.97 * np.exp(rng.normal(0.0, sigma, x.size))
        p, _, se = fit_power_law(x, y, return_stderr=True)
        ps.append(p)
        ses.append(se)
    ps, ses = np.array(ps), np.array(ses)
    empirical = ps.std(ddof=1)
    exact = sigma / np.sqrt(np.sum((np.log(x) - np.log(x).mean()) ** 2))
    # sd of a sample sd over 2000 draws is ~1.6 %: 6 % is 4 of those.
    assert empirical == pytest.approx(exact, rel=0.06)
    assert np.sqrt(np.mean(ses**2)) == pytest.approx(empirical, rel=0.06)
    assert ps.mean() == pytest.approx(1.97, abs=3 * exact / np.sqrt(n_seeds))


@pytest.mark.parametrize(
    "x, y, match",
    [
        ([1.0, 10.0], [1.0, 10.0], "2 point"),
        ([1.0, 1.5, 3.0], [1.0, 2.0, 3.0], "0.48 decade"),
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "0.00 decade"),
        ([1.0, 3.0, 10.0], [1.0, 0.0, 3.0], "positive"),
        ([1.0, 3.0, np.nan], [1.0, 2.0, 3.0], "positive"),
        ([1.0, 3.0, 10.0], [1.0, 2.0], "3 x values but 2"),
    ],
)
def test_fit_refuses_what_says_nothing_about_an_exponent(x, y, match):
    with pytest.raises(InvalidInputError, match=match):
        fit_power_law(x, y)
    with pytest.raises(InvalidInputError, match=match):
        fit_power_law(x, y, return_stderr=True)


def test_fit_accepts_exactly_half_a_decade_and_explicit_lower_limits():
    x = [1.0, 2.0, 10**0.5]
    fit_power_law(x, [1.0, 2.0, 3.0])
    p, _, se = fit_power_law([1.0, 4.0], [1.0, 16.0], return_stderr=True, min_points=2)
    assert p == pytest.approx(2.0) and np.isnan(se)


@pytest.mark.parametrize(
    "p, se, text",
    [
        (1.97345, 0.031, "1.97 ± 0.03"),
        (1.97345, 0.0149, "1.973 ± 0.015"),
        (1.97345, 0.096, "2.0 ± 0.1"),
        (-0.1, 0.08, "-0.10 ± 0.08"),
        (2.0, 0.0, "2.0000 ± 0.0000"),
        (1.5, float("nan"), "1.50 ± ?"),
        (12.3, 2.5, "12 ± 2"),
    ],
)
def test_format_exponent(p, se, text):
    assert format_exponent(p, se) == text


# ------------------------------------------------------------------ figures


def _chain_rows(depths, dynamics="RC", p=2.0):
    return [
        {"depth": d, "dynamics": dynamics, "settling_time_tau": 0.7 * d**p * (1 + 0.01 * (-1) ** d)}
        for d in depths
    ]


def _renderer(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _overlaps(boxes) -> bool:
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_settling_legend_shows_the_exponent_with_its_error():
    rows = _chain_rows([4, 6, 8, 12, 16]) + _chain_rows([4, 6, 8, 12, 16], "inertial", 1.0)
    ax = plots.plot_settling_scaling(rows)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    p, _, se = fit_power_law(
        [4, 6, 8, 12, 16], [r["settling_time_tau"] for r in rows[:5]], return_stderr=True
    )
    assert labels[0] == f"RC: t ~ depth^p, p = {format_exponent(p, se)}"
    assert "±" in labels[1]
    # the dotted fitted line is drawn
    assert sum(line.get_linestyle() == ":" for line in ax.get_lines()) == 2
    # Under a decade of x: matplotlib would label the minor ticks (5, 7, ... over 6, 8).
    _renderer(ax.figure)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "6", "8", "12", "16"]
    assert not any(t.get_text() for t in ax.get_xminorticklabels())
    assert not any(t.get_text() for t in ax.get_yminorticklabels())


@pytest.mark.parametrize("ts", [(12.4, 12.9, 10.9, 11.5), (10.0, 18.0, 33.0, 62.0)])
def test_a_narrow_log_y_range_gets_plain_labels_that_do_not_overlap(ts):
    rows = [
        {"width": w, "dynamics": "RC", "settling_time_tau": t} for w, t in zip((4, 8, 16, 32), ts)
    ]
    ax = plots.plot_settling_scaling(rows, x="width")
    r = _renderer(ax.figure)
    labels = [t for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) >= 2 and not _overlaps([t.get_window_extent(r) for t in labels])
    assert all("$" not in t.get_text() for t in labels)  # plain numbers, no 10^k
    assert not any(t.get_text() for t in ax.get_yminorticklabels())


def test_settling_draws_no_fit_over_less_than_half_a_decade():
    ax = plots.plot_settling_scaling(_chain_rows([4, 5, 6]) + _chain_rows([2, 4, 8], "inertial"))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "no fit" in labels[0] and "±" not in labels[0]
    assert "±" in labels[1]
    assert sum(line.get_linestyle() == ":" for line in ax.get_lines()) == 1


def test_log_ticks_sit_at_the_data_with_plain_non_overlapping_labels():
    xs = [256, 1024, 4096, 16384, 65536, 262144, 1048576, 1100000]
    ax = plots._axes(None)
    ax.loglog(xs, np.arange(1, len(xs) + 1), "o-")
    plots.log_ticks_at(ax, xs)
    fig = ax.figure
    r = _renderer(fig)
    assert list(ax.get_xticks()) == xs
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    texts = [t.get_text() for t in labels]
    assert texts == ["256", "1024", "4096", "16.4k", "65.5k", "262k", "1.05M"]
    assert not _overlaps([t.get_window_extent(r) for t in labels])
    assert not any(t.get_text() for t in ax.get_xminorticklabels())


def test_crossover_labels_do_not_overlap_and_name_the_crossing():
    # Three ratios crossing 1 at nearly the same size: labels at the crossings would pile up.
    rows = [
        {"n": n, "t": (n / 1000) ** -0.5, "e": (n / 1100) ** -0.6, "q": (n / 1200) ** -0.4}
        for n in (100, 300, 1000, 3000, 10000)
    ]
    ax = plots.plot_crossover(rows, x="n", ratios={"time": "t", "energy": "e", "tput": "q"})
    fig = ax.figure
    r = _renderer(fig)
    texts = [t for t in ax.texts if t.get_text()] + list(ax.get_legend().get_texts())
    assert not _overlaps([t.get_window_extent(r) for t in texts])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "time: crosses 1 at 1000",
        "energy: crosses 1 at 1100",
        "tput: crosses 1 at 1200",
    ]


def _png_size(path) -> tuple[int, int]:
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_save_figure_keeps_what_lies_outside_the_canvas(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))  # no layout engine: the legend hangs outside
    ax.plot([1, 2], [1, 2], label="a long legend entry placed right of the axes")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    plots.save_figure(fig, tmp_path / "f.png", dpi=100)
    w, _ = _png_size(tmp_path / "f.png")
    r = _renderer(fig)
    legend_right = ax.get_legend().get_window_extent(r).x1 * 100 / fig.dpi
    assert w > 400 and w >= legend_right  # the canvas is 400 px wide; nothing cut off


def test_seed_figures_keep_their_labels_inside_the_figure(tmp_path):
    tm = SimpleNamespace(
        n_hidden=(2, 4, 8, 16),
        bp_s=np.array([1, 2, 4, 8]) * 1e-4,
        fpa_s=np.array([2, 3, 6, 12]) * 1e-4,
        zil_s=np.array([3, 5, 9, 20]) * 1e-4,
        pc_s=np.array([30, 60, 200, 900]) * 1e-4,
        pc_gtol=1e-4,
        batch=64,
        width=64,
        repeats=21,
    )
    ax = plots.plot_pc_timing(tm)
    fig = ax.figure
    r = _renderer(fig)
    # constrained layout: the x label is inside the canvas even without a tight bbox
    lab = ax.xaxis.label.get_window_extent(r)
    assert lab.y0 >= 0 and lab.x1 <= fig.bbox.x1
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()] == ["3", "5", "9", "17"]
    assert "width 64" in ax.get_title() and "batch 64" in ax.get_title()
    r = np.array([1.0, 0.3, 0.1, 0.03, 0.01, 1e-3, 1e-4])
    ax = plots.plot_variance_ratio(SimpleNamespace(ratios=r, cosine=1 - r * 1e-3, rel_error=r))
    fig = ax.figure
    rend = _renderer(fig)
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in ticks] == ["1e-04", "0.001", "0.01", "0.03", "0.1", "0.3", "1"]
    assert not _overlaps([t.get_window_extent(rend) for t in ticks])
    assert not any(t.get_text() for t in ax.get_yminorticklabels())


def _load_codesign():
    spec = importlib.util.spec_from_file_location("codesign_bench", ROOT / "benchmarks/codesign.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_codesign_figures_redraw_from_the_stored_rows(tmp_path, monkeypatch):
    mod = _load_codesign()
    monkeypatch.setattr(mod, "FIGURES", tmp_path)
    monkeypatch.setattr(mod, "run_sweep", None)  # a redraw never sweeps
    paths = mod.redraw()
    assert sorted(p.name for p in paths) == ["codesign_depth.png", "codesign_width.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((ROOT / "benchmarks/results/codesign.json").read_text())["raw"]["rows"]
    assert set(rows) == {"W", "D"}


def test_training_energy_axis_has_plain_labels():
    from pc_analog.learning.figures import plot_training

    energies = [0.0287, 0.0199, 0.0178, 0.0172, 0.0172, 0.017]  # under a decade
    hist = [
        dict(epoch=i + 1, test_accuracy=0.9, train_accuracy=0.9, bp_test_accuracy=0.9, energy=e)
        for i, e in enumerate(energies)
    ]
    fig = plot_training(hist)
    a2 = fig.axes[1]
    r = _renderer(fig)
    labels = [t for t in a2.get_yticklabels() if t.get_text()]
    assert len(labels) >= 2 and all("$" not in t.get_text() for t in labels)
    assert not _overlaps([t.get_window_extent(r) for t in labels])
    assert not any(t.get_text() for t in a2.get_yminorticklabels())
