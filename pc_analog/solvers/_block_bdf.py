"""scipy's BDF with a per-sample block-diagonal Jacobian: batched dense factorisations.

The ``ode`` backend integrates the free units of a whole batch as one system whose
Jacobian is block diagonal over samples (one dense ``n_free x n_free`` block per
sample, block tridiagonal inside).  scipy's :class:`~scipy.integrate.BDF` factorises
the batch's sparse Newton matrix ``I - c J`` with SuperLU, whose fill-in on the dense
per-sample blocks dominates the run.  :class:`BlockBDF` is the same integrator (same
steps, error control, order selection and dense output: only the linear algebra
changes) with the Newton matrix kept as ``B`` dense blocks: one factorisation is the
batched inverse ``(I - c J_b)^{-1}`` of every block (LAPACK looped in C by numpy),
one solve a batched matrix-vector product.  Trajectories equal the sparse run's to
the Newton tolerance (the iteration converges to the same BDF solution; only the
rounding of the linear solves differs).

It relies on three members of scipy's BDF (``jac``/``J``, ``lu``/``solve_lu`` and
``I``), used by ``BDF._step_impl`` only as ``LU = lu(I - c * J)`` and
``solve_lu(LU, b)``; ``tests/test_ode.py`` checks its trajectories against the
sparse BDF and a tight reference.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.integrate import BDF

__all__ = ["BlockBDF", "BlockMatrix", "block_bdf_fits"]

#: An eigenmode is applied exactly in a BDF Newton solve when treating it as the bulk
#: (``sigma I``, see ``_factor``) would contract its Newton error by less than this.
DEFLATE_CONTRACTION = 0.03
#: Largest ``batch * n_free**2`` (dense block entries) the block path stores (256 MB).
MAX_BLOCK_ENTRIES = 2**25


def block_bdf_fits(batch: int, n_free: int) -> bool:
    """Whether ``batch`` dense ``n_free x n_free`` blocks fit the memory budget."""
    return batch * n_free * n_free <= MAX_BLOCK_ENTRIES


class BlockMatrix:
    """A block-diagonal matrix ``scale * J`` kept as ``J``'s ``(B, n, n)`` blocks.

    Supports the algebra BDF uses: ``c * M`` (scalar) and ``I - M`` (with
    :class:`_Identity`).  ``J``'s eigendecomposition (symmetric blocks only: the
    ideal circuit's ``J = -H``) is computed once and shared by every multiple.
    """

    __array_ufunc__ = None  # numpy scalars defer to __rmul__

    def __init__(self, blocks: np.ndarray, scale: float = 1.0, _cache: dict | None = None):
        self.blocks, self.scale = blocks, scale
        self._cache = {} if _cache is None else _cache

    def __rmul__(self, c):
        return BlockMatrix(self.blocks, float(c) * self.scale, self._cache)

    __mul__ = __rmul__

    def toarray(self) -> np.ndarray:
        """The whole ``scale * J`` as one dense block-diagonal matrix (for checks)."""
        from scipy.linalg import block_diag

        return self.scale * block_diag(*self.blocks)

    def eig(self):
        """``(lambda, Q, Q^T)`` of the unscaled blocks (``Q`` in single precision) if they
        are symmetric, else None."""
        if "eig" not in self._cache:
            J = self.blocks
            asym = np.abs(J - J.transpose(0, 2, 1)).max() if J.size else 0.0
            sym = asym <= 1e-12 * max(np.abs(J).max(), 1e-300)
            if sym:
                lam, Q = np.linalg.eigh(J.astype(np.float32))
                lam = lam.astype(np.float64)
                self._cache["eig"] = (lam, Q, np.ascontiguousarray(Q.transpose(0, 2, 1)))
            else:
                self._cache["eig"] = None
        return self._cache["eig"]


class _Identity:
    """The identity in ``I - c J``: subtracting a :class:`BlockMatrix` gives ``_Shifted``."""

    __array_ufunc__ = None

    def __sub__(self, other: BlockMatrix) -> _Shifted:
        return _Shifted(other)


class _Shifted:
    """``I - M`` for a :class:`BlockMatrix` ``M`` (factorised by ``BlockBDF.lu``)."""

    def __init__(self, m: BlockMatrix):
        self.m = m


def _factor(A: _Shifted):
    """``I - c J`` ready to solve (an exact or approximate inverse for BDF's Newton).

    Symmetric ``J = Q diag(lambda) Q^T``: ``(I - c J)^{-1} = Q diag(w) Q^T``,
    ``w = 1 / (1 - c lambda)``, with no new factorisation when ``c`` changes.  Modes
    whose ``w`` is within a factor ``1 +- DEFLATE_CONTRACTION`` of a shared
    ``sigma = 1 / (1 - c mu)`` (``mu`` the sample's median eigenvalue) are applied as
    ``sigma I``, the others exactly:

        (I - c J)^{-1}  ~  sigma I + Q_k diag(w_k - sigma) Q_k^T

    so a Newton iteration with it contracts every mode at least by
    ``DEFLATE_CONTRACTION`` (``|1 - (1 - c lambda) sigma|`` for an omitted mode) and
    converges to the same BDF solution; a solve costs ``O(n k)`` instead of ``O(n^2)``
    per sample.  ``Q`` is applied in single precision (again only an approximate
    inverse; the residual stays double).  Unsymmetric ``J``: the batched inverse.
    """
    eig = A.m.eig()
    c = A.m.scale
    if eig is None:
        M = -c * A.m.blocks
        idx = np.arange(M.shape[1])
        M[:, idx, idx] += 1.0
        return ("inv", np.linalg.inv(M), None, None, None)
    lam, Q, QT = eig
    n = lam.shape[1]
    w = 1.0 / (1.0 - c * lam)
    mu = np.median(lam, axis=1, keepdims=True)
    if np.all(1.0 - c * mu >= 0.5):
        sigma = 1.0 / (1.0 - c * mu)
        miss = np.abs(1.0 - (1.0 - c * lam) * sigma)  # contraction of an omitted mode
        k = int((miss > DEFLATE_CONTRACTION).sum(axis=1).max())
        if k <= n // 2:
            top = np.argsort(-miss, axis=1)[:, :k]
            Qk = np.take_along_axis(Q, top[:, None, :], axis=2)
            QkT = np.take_along_axis(QT, top[:, :, None], axis=1)
            wk = (np.take_along_axis(w, top, axis=1) - sigma).astype(np.float32)
            return ("deflated", Qk, QkT, wk, sigma)
    return ("eig", Q, QT, w.astype(np.float32), None)


def _solve(fac, b: np.ndarray) -> np.ndarray:
    kind, Q, QT, w, sigma = fac
    B = Q.shape[0]
    v = b.reshape(B, -1)
    if kind == "inv":
        return np.einsum("bij,bj->bi", Q, v).ravel()
    u = np.einsum("bij,bj->bi", QT, v.astype(np.float32)) * w
    out = np.einsum("bij,bj->bi", Q, u).astype(np.float64)
    if kind == "deflated":
        out += sigma * v
    return out.ravel()


class BlockBDF(BDF):
    """:class:`scipy.integrate.BDF` whose ``jac`` returns a :class:`BlockMatrix`.

    Parameters
    ----------
    fun, t0, y0, t_bound : as for BDF
    jac : callable ``jac(t, y) -> BlockMatrix``
        The Jacobian of ``fun`` as per-sample dense blocks (sample-major ``y``).
    **options : passed to BDF (``rtol``, ``atol``, ...).

    Notes
    -----
    ``nlu`` counts batched factorisations (one per BDF factorisation, as for the
    sparse run), ``njev`` Jacobian evaluations.
    """

    def __init__(self, fun, t0, y0, t_bound, jac, **options):
        super().__init__(fun, t0, y0, t_bound, jac=jac, **options)

        def lu(A: _Shifted):
            self.nlu += 1
            return _factor(A)

        self.lu, self.solve_lu, self.I = lu, _solve, _Identity()
        self.J = self._J0

    def _validate_jac(self, jac, sparsity):
        """The block Jacobian (wrapped to count ``njev``) and its value at ``t0``.

        BDF's constructor picks the sparse branch for a sparse ``J``; a 1x1 sparse
        stand-in keeps it from allocating a dense ``n x n`` identity (``__init__``
        replaces ``lu``, ``solve_lu`` and ``I`` right after).
        """

        def wrapped(t, y):
            self.njev += 1
            return jac(t, y)

        self._J0 = wrapped(self.t, self.y)
        return wrapped, sp.csc_matrix((1, 1))
