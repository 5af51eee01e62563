"""The classical Hopfield baseline of ``benchmarks/any_direction.py``.

The reference implementation lives in :mod:`pc_analog.experiments.hopfield` so that
``pc-analog bench memory`` runs it too; this module re-exports it for the benchmark scripts.
"""

from pc_analog.experiments.hopfield import binarise, energy, recall, store

__all__ = ["binarise", "store", "recall", "energy"]
