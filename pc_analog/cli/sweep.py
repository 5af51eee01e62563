"""``pc-analog bench sweep``: a co-design grid to a tidy CSV and its figures.

Loads a sweep config (format ``pc-analog.sweep/1``), runs every point through local
processes or a Dask cluster (:func:`~pc_analog.experiments.sweep.run_sweep`), writes
``DIR/sweep.csv`` and the figures the grid supports
(:func:`~pc_analog.viz.plots.sweep_figures`), and prints the analog/digital crossover
table.  Exit status 1 when a point did not settle.
"""

from __future__ import annotations

from pc_analog.cli._common import EXIT_NOT_CONVERGED, EXIT_OK, json_line, positive_int
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def _write_figures(res, out) -> list[str]:
    """Save each sweep figure as ``out/NAME.png`` (atomically); the paths written."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from pc_analog.io.formats import atomic_write_bytes
    from pc_analog.viz.plots import sweep_figures

    written = []
    for name, fig in sweep_figures(res).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(out / f"{name}.png", buf.getvalue())
        written.append(str(out / f"{name}.png"))
    return written


def _print_text(res, written, table, failed) -> None:
    print(
        f"sweep: {len(res.rows)} points on {res.executor} in {res.seconds:.1f} s; "
        f"wrote {', '.join(written)}"
    )
    for t in table:
        where = (
            "no crossing in range"
            if t["crossover"] is None
            else f"crosses 1 at n_weights = {t['crossover']:.4g}"
        )
        group = ", ".join(
            f"{k}={v}" for k, v in t.items() if k not in ("ratio", "min", "max", "crossover")
        )
        print(
            f"  analog/digital {t['ratio']:<17s} {group + ': ' if group else ''}"
            f"{t['min']:.3g} .. {t['max']:.3g}, {where}"
        )
    if failed:
        print(f"  {failed} point(s) did not settle (success = false in the CSV)")


def _check_sizes(cfg) -> None:
    """Every point's network fits :data:`~pc_analog.model.network.MAX_ELEMENTS` (a width
    of 10**9 is refused here, before any worker starts)."""
    from pc_analog.model.network import check_sizes

    grid = {k for k, _ in cfg.grid}

    def field(name: str) -> str:
        return f"{'grid' if name in grid else 'fixed'}.{name}"

    for p in cfg.points():
        sizes = [p["width"]] * (p["depth"] + 1)
        check_sizes(sizes, f"{field('width')} (with {field('depth')})")
        check_sizes(sizes, field("batch"), batch=p["batch"])
        if "timing" in cfg.quantities:
            check_sizes(sizes, field("throughput_batch"), batch=p["throughput_batch"])


def run(args) -> int:
    """Run the sweep, write the CSV and figures; 0, or 1 if a point did not settle."""
    from pathlib import Path

    from pc_analog.experiments.sweep import crossover_table, load_sweep_config, run_sweep

    cfg = load_sweep_config(args.config)
    _check_sizes(cfg)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out: not a directory: {out}")
    for parent in out.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(f"--out: {parent} is a file, not a folder")
            break
    config = Path(args.config)
    if config.name == "sweep.csv" or config.suffix == ".png":
        from pc_analog.io.formats import check_not_input

        check_not_input(out / config.name, [config], "--out")
    if args.scheduler is not None and args.workers is not None:
        raise InvalidInputError("--workers: only for local processes (not with --scheduler)")
    res = run_sweep(cfg, args.scheduler, max_workers=args.workers, progress=not args.json)
    out.mkdir(parents=True, exist_ok=True)
    res.to_csv(out / "sweep.csv")
    written = [str(out / "sweep.csv")]
    if not args.no_plots:
        written += _write_figures(res, out)
    varying = [k for k, v in cfg.grid if len(v) > 1]
    table = crossover_table(res.rows, varying=varying) if "timing" in cfg.quantities else []
    failed = sum(
        1 for r in res.rows if r.get("success") is False or r.get("analog.success") is False
    )
    if args.json:
        print(
            json_line(
                {
                    "points": len(res.rows),
                    "executor": res.executor,
                    "seconds": res.seconds,
                    "files": written,
                    "not_settled": failed,
                    "crossovers": table,
                }
            )
        )
    else:
        _print_text(res, written, table, failed)
    return EXIT_OK if not failed else EXIT_NOT_CONVERGED


def add_parser(bsub) -> None:
    """Register ``sweep`` on the ``bench`` subcommand set ``bsub``."""
    b = bsub.add_parser(
        "sweep",
        help="a co-design grid (depth, width, C, g0, dynamics, devices, ...) to a tidy CSV",
        description="Run every point of a sweep config (JSON or TOML, format "
        "pc-analog.sweep/1; see docs/sweeps.md) through local processes or a Dask cluster, "
        "and write DIR/sweep.csv (one row per point) and the figures the grid supports "
        "(settling time vs depth/width with fitted exponents, device error, analog/digital "
        "crossover).",
    )
    b.add_argument("config", metavar="CONFIG", help="sweep config (.json or .toml)")
    b.add_argument(
        "--out", default="sweep-out", metavar="DIR", help="output folder (default sweep-out)"
    )
    b.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler (dask://HOST:PORT or tcp://HOST:PORT); default local processes",
    )
    b.add_argument(
        "--workers", type=positive_int, help="local worker processes (default: CPU count)"
    )
    b.add_argument("--no-plots", action="store_true", help="write only the CSV")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=run)
