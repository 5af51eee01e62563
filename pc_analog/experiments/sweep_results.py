"""Sweep results: the rows, their CSV form, and where a timing ratio crosses 1."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pc_analog.experiments.sweep_config import SweepConfig

__all__ = ["RATIO_COLUMNS", "SweepResult", "read_sweep_csv", "find_crossover", "crossover_table"]

RATIO_COLUMNS = {
    "latency (batch 1)": "time_ratio",
    "throughput": "throughput_time_ratio",
    "energy": "energy_ratio",
}
"""The timing ratios a crossover is looked for in: label -> column."""


@dataclass(frozen=True)
class SweepResult:
    """Rows of a sweep, one per point in sweep order.

    Attributes
    ----------
    config : SweepConfig
    rows : tuple of dict
        ``point``, ``seed``, every parameter, then the measured columns.
    executor : str
        Where it ran (e.g. ``"processes (2 workers)"``, ``"dask tcp://..."``).
    seconds : float
        Wall-clock time of the whole sweep.
    """

    config: SweepConfig
    rows: tuple[dict, ...]
    executor: str = ""
    seconds: float = float("nan")
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        cols = {}
        for r in self.rows:
            cols.update(dict.fromkeys(r))
        object.__setattr__(self, "columns", tuple(cols))

    def to_csv_text(self) -> str:
        """The tidy CSV: a header of :attr:`columns`, one line per point (None -> empty)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for r in self.rows:
            w.writerow(["" if r.get(c) is None else _cell(r.get(c)) for c in self.columns])
        return buf.getvalue()

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_csv_text` atomically to ``path``."""
        from pc_analog.io.formats import atomic_write_text

        atomic_write_text(path, self.to_csv_text())


def _cell(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _parse(s: str):
    if s == "":
        return None
    if s in ("true", "false"):
        return s == "true"
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def read_sweep_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a sweep CSV, values typed back (int, float, bool, None, str).

    Parameters whose values are strings (``network``, ``activation``, ``dynamics``,
    ``device``, ``analog``, ``digital``) stay strings.
    """
    text_cols = {"network", "activation", "dynamics", "device", "analog", "digital"}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (v if k in text_cols else _parse(v)) for k, v in r.items()} for r in rows]


def find_crossover(x: Sequence[float], ratio: Sequence[float]) -> float | None:
    """The smallest ``x`` where ``ratio`` crosses 1 (e.g. analog/digital time).

    Points are sorted by ``x``; between the first bracketing pair
    ``(ratio_i - 1)(ratio_{i+1} - 1) <= 0`` the crossing is interpolated linearly in
    log-log space, ``log x* = log x_i + (log x_{i+1} - log x_i) (-log r_i) /
    (log r_{i+1} - log r_i)``.  Returns ``None`` when the ratio stays on one side
    (non-finite points are skipped).
    """
    xs = np.asarray(x, float)
    rs = np.asarray(ratio, float)
    ok = np.isfinite(xs) & np.isfinite(rs) & (xs > 0) & (rs > 0)
    xs, rs = xs[ok], rs[ok]
    order = np.argsort(xs, kind="stable")
    lx, lr = np.log(xs[order]), np.log(rs[order])
    for i in range(lx.size):
        if lr[i] == 0:
            return float(np.exp(lx[i]))
        if i + 1 < lx.size and lr[i] * lr[i + 1] < 0:
            f = -lr[i] / (lr[i + 1] - lr[i])
            return float(np.exp(lx[i] + f * (lx[i + 1] - lx[i])))
    return None


def crossover_table(rows: Sequence[Mapping], *, x: str = "n_weights", varying=()) -> list[dict]:
    """Where each timing ratio crosses 1 against the size ``x``, per group of the other
    varying parameters.

    Parameters
    ----------
    rows : sequence of mapping
        Rows with the ``timing`` quantity.
    x : str
        The size column (default ``n_weights``).
    varying : sequence of str
        Grid parameters that vary; those other than ``depth``/``width`` (the size axes)
        split the rows into groups.

    Returns
    -------
    list of dict
        One per group and ratio that has a finite value (a digital reference without an
        energy figure has no energy row): the group's parameters, ``ratio`` (label of
        :data:`RATIO_COLUMNS`), ``min``/``max`` of the ratio over the group, and
        ``crossover`` (the ``x`` where it crosses 1, :func:`find_crossover`, or
        ``None``).
    """
    keys = [k for k in varying if k not in ("depth", "width")]
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for g, rs in groups.items():
        xs = [r[x] for r in rs]
        for label, col in RATIO_COLUMNS.items():
            if col not in rs[0]:
                continue
            ys = [np.nan if r[col] is None else r[col] for r in rs]
            if not np.isfinite(ys).any():  # e.g. energy against a machine without a figure
                continue
            out.append(
                {
                    **dict(zip(keys, g)),
                    "ratio": label,
                    "min": float(np.nanmin(ys)),
                    "max": float(np.nanmax(ys)),
                    "crossover": find_crossover(xs, ys),
                }
            )
    return out
