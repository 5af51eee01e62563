"""A classical Hopfield network (Hopfield 1982), the associative-memory baseline.

Binary units ``s_i in {-1, +1}``; the Hebbian outer-product rule stores ``K`` patterns
``xi^k``: ``W = (1/N) sum_k xi^k xi^k^T`` with a zero diagonal.  Recall runs asynchronous
updates ``s_i <- sign(sum_j W_ij s_j)`` (ties keep the state) in a random order, sweep after
sweep, until no unit changes (a fixed point: the energy ``-1/2 s^T W s`` never rises) or
``max_sweeps``.  Capacity is about ``0.14 N`` random patterns (Amit, Gutfreund, Sompolinsky
1985); correlated images (digits) store fewer.

Images in ``[0, 1]`` are binarised at 0.5 (``s = +1`` for ink); unknown pixels of a cue
start at ``-1`` (background).  Numpy only; used by ``benchmarks/any_direction.py`` and
``pc-analog bench memory``.
"""

from __future__ import annotations

import numpy as np


def binarise(images: np.ndarray) -> np.ndarray:
    """``+1`` where a pixel is at least 0.5, else ``-1``."""
    return np.where(np.asarray(images) >= 0.5, 1.0, -1.0)


def store(patterns: np.ndarray) -> np.ndarray:
    """Hebbian weights ``W = (1/N) sum_k xi^k xi^k^T``, zero diagonal, of ``(K, N)`` patterns."""
    p = np.asarray(patterns, float)
    W = p.T @ p / p.shape[1]
    np.fill_diagonal(W, 0.0)
    return W


def recall(W: np.ndarray, cues: np.ndarray, *, max_sweeps: int = 100, seed: int = 0):
    """Asynchronous recall of each ``(batch, N)`` cue in ``{-1, +1}``; returns the states and
    the number of sweeps each took (``max_sweeps`` if it never reached a fixed point)."""
    rng = np.random.default_rng(seed)
    s = np.array(cues, float)
    sweeps = np.full(s.shape[0], max_sweeps)
    for b in range(s.shape[0]):
        for k in range(max_sweeps):
            changed = False
            for i in rng.permutation(s.shape[1]):
                h = W[i] @ s[b]
                if h != 0 and np.sign(h) != s[b, i]:
                    s[b, i] = np.sign(h)
                    changed = True
            if not changed:
                sweeps[b] = k + 1
                break
    return s, sweeps


def energy(W: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``-1/2 s^T W s`` per row."""
    return -0.5 * np.einsum("bi,ij,bj->b", s, W, s)
