"""BLAS threading for batched small-matrix work.

numpy's batched ``cholesky``/``matmul`` call BLAS once per small matrix; with a
multithreaded OpenBLAS every call pays a thread hand-off, and when another process
shares the cores the spinning threads slow a batched 128x128 Cholesky by 10-70x
(measured on the 2-core CI machine).  The hot loops of pc-analog therefore run with
one BLAS thread; parallelism, where it pays, comes from splitting the batch.
"""

from __future__ import annotations

import contextlib

__all__ = ["single_threaded_blas"]

_CONTROLLER = None


@contextlib.contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread inside the block (no-op without threadpoolctl)."""
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield
