"""A training run's folder and its progress: what a run writes, when a folder may be used,
the metrics files and figures, and the progress shown while it runs.

A run writes :data:`OUTPUTS` into its folder.  A non-empty folder is refused unless the run
resumes from it or overwrites it (:func:`check_out_dir`), so a second run never silently
mixes its files with a first one's.  Progress (:class:`Progress`): a tqdm bar on a
terminal; without one (a log file, a pipe, CI) a plain line on stderr every N batches, or
every :data:`PROGRESS_SECONDS`, so a slow time-domain backend is never silent for long.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path

from pc_analog.errors import InvalidInputError
from pc_analog.io.formats import atomic_write_text

__all__ = ["OUTPUTS", "PROGRESS_SECONDS", "Progress", "check_out_dir"]


class Progress:
    """Progress of an epoch's batches: a tqdm bar on a terminal; elsewhere (a log file, a
    pipe, a CI job) a plain line on stderr every ``every`` batches, or every
    :data:`PROGRESS_SECONDS` when ``every`` is ``None``."""

    def __init__(self, tqdm, epoch: int, cfg, n: int, enabled: bool, every):
        self.n, self.done, self.every = n, 0, every
        self.label = f"epoch {epoch + 1}/{cfg.epochs}"
        self.t0 = self.t_last = time.perf_counter()
        tty = sys.stderr.isatty()
        self.bar = tqdm(total=n, desc=self.label, leave=False, disable=not (enabled and tty))
        self.lines = enabled and not tty

    def update(self) -> None:
        self.bar.update()
        self.done += 1
        if not self.lines or self.done == self.n:
            return
        now = time.perf_counter()
        due = self.done % self.every == 0 if self.every else now - self.t_last >= PROGRESS_SECONDS
        if due:
            self.t_last = now
            left = (now - self.t0) / self.done * (self.n - self.done)
            print(
                f"{self.label}: batch {self.done}/{self.n}, {now - self.t0:.1f} s, "
                f"~{left:.0f} s left in the epoch",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        self.bar.close()


#: Without a terminal and without ``progress_every``, a progress line at most this often.
PROGRESS_SECONDS = 10.0


def check_out_dir(out: Path, resume: bool, overwrite: bool, *, clear: bool = True) -> None:
    """Refuse a file, or a non-empty folder unless resuming or overwriting (nothing
    touched); with ``overwrite`` (and ``clear``), remove the outputs of the old run (no
    other file)."""
    if resume and overwrite:
        raise InvalidInputError("--resume and --overwrite: give one of them, not both")
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out: {out} exists and is not a folder")
    if not out.is_dir() or resume:
        return
    entries = sorted(e.name for e in os.scandir(out))
    if entries and not overwrite:
        raise InvalidInputError(
            f"--out: {out} is not empty ({len(entries)} entries, e.g. {entries[0]}); "
            "pass --resume to continue its run or --overwrite to replace it"
        )
    for name in OUTPUTS if clear else ():
        if name in entries and (out / name).is_file():
            (out / name).unlink()


#: What a run writes in its output folder.
OUTPUTS = (
    "config.json",
    "checkpoint.npz",
    "metrics.json",
    "metrics.csv",
    "final_network.json",
    "training.png",
    "conductances.png",
)


def write_metrics(out: Path, history: list) -> None:
    """Write the history as ``metrics.json`` and ``metrics.csv`` (atomically)."""
    atomic_write_text(out / "metrics.json", json.dumps(history, indent=1) + "\n")
    if history:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
        atomic_write_text(out / "metrics.csv", buf.getvalue())


def plots(out: Path, history: list, hw) -> None:
    """Write ``training.png`` (the history) and ``conductances.png`` (of ``hw``)."""
    import matplotlib

    from pc_analog.learning.figures import plot_conductance_histogram, plot_training

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plot_training(history)
    fig.savefig(out / "training.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    fig = plot_conductance_histogram(hw.conductances())
    fig.savefig(out / "conductances.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
