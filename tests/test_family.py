"""The benchmark family of issue 16 (benchmarks/family.py): its span, and agreement of the
default solve with the dense reference path on random members (no clock is read)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import pc_analog as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import family  # noqa: E402

MEMBERS = family.family()


def test_family_spans_the_issue():
    """>= 24 members over gains 0.5-3, depths 2-6, widths 32-512, the four activations,
    both input kinds and target kinds, tops of 1 to 100 units and the four clamp sets."""
    assert len(MEMBERS) >= 24
    assert {m.gain for m in MEMBERS} >= {0.5, 3.0}
    depths = {len(m.sizes) - 1 for m in MEMBERS}
    assert min(depths) == 2 and max(depths) == 6
    widths = {w for m in MEMBERS for w in m.sizes[1:-1]}
    assert min(widths) == 32 and max(widths) == 512
    assert {m.act for m in MEMBERS} == {"tanh", "sigmoid", "softplus", "linear"}
    assert {m.inputs for m in MEMBERS} == {"digits", "normal"}
    assert {m.target for m in MEMBERS} == {"onehot", "continuous"}
    tops = {m.sizes[-1] for m in MEMBERS if m.clamp != "generative"}
    assert min(tops) == 1 and max(tops) == 100
    assert {m.clamp for m in MEMBERS} == {"label", "label+middle", "generative", "partial-input"}


def test_clamp_sets_clamp_what_they_say():
    for m in MEMBERS:
        net, x, clamp, x0, y = family.build(m, 3)
        masks = clamp.masks
        if m.clamp == "generative":
            assert not masks[0].any() and masks[-1].all()
            assert all(not k.any() for k in masks[1:-1])
            np.testing.assert_array_equal(x[-1], y)
        else:
            assert masks[-1].all()
            assert masks[0].all() == (m.clamp != "partial-input")
            mids = [k.any() for k in masks[1:-1]]
            assert any(mids) == (m.clamp == "label+middle")


# Members small enough for the dense path at batch 4 in a few seconds, drawn at random.
SMALL = [m for m in MEMBERS if max(m.sizes) <= 128]
PICK = [SMALL[i] for i in np.random.default_rng(16).choice(len(SMALL), 6, replace=False)]


@pytest.mark.parametrize("m", PICK, ids=[m.name for m in PICK])
def test_default_solve_rests_where_the_dense_path_rests(m):
    """Both paths at gtol 1e-11 from the same start agree to 1e-9 (relative), and the rest
    point is a minimum: the dense Hessian on the free units is positive semidefinite."""
    net, x, clamp, _, _ = family.build(m, 4)
    fast = pa.solve_equilibrium(net, x, clamp, gtol=1e-11)
    dense = pa.solve_equilibrium(net, x, clamp, gtol=1e-11, structured=False, max_iter=500)
    assert fast.success and dense.success
    assert family._rel(fast.x, dense.x) <= 1e-9
    free = np.concatenate(clamp.free)
    H = pa.dense_hessian(net, fast.x)[:, free][:, :, free]
    assert np.linalg.eigvalsh(H).min() >= -1e-8


def test_newton_krylov_members_agree_with_the_dense_path():
    """The members whose solve takes Newton-Krylov steps (gain 3: strong curvature) rest
    where the dense path rests."""
    (m,) = [m for m in MEMBERS if m.name == "gain 3 tanh"]
    net, x, clamp, _, _ = family.build(m, 6)
    fast = pa.solve_equilibrium(net, x, clamp, gtol=1e-11)
    dense = pa.solve_equilibrium(net, x, clamp, gtol=1e-11, structured=False, max_iter=500)
    assert fast.success and dense.success and fast.nhvp > 0
    assert family._rel(fast.x, dense.x) <= 1e-9


def test_hessian_vector_product_matches_finite_differences():
    """``_Segment.hvp`` (the exact Hessian in error coordinates) against central
    differences of the gradient."""
    from pc_analog.solvers._gauss_newton import _Segment

    (m,) = [m for m in MEMBERS if m.name == "deep tanh gain 1.5"]
    net, xs, _, _, _ = family.build(m, 5)
    x = [np.array(v) for v in xs]
    seg = _Segment(net, x, 1, net.n_layers - 1)
    pt = seg.point_from_x(x)
    g, q, _ = seg.gradient(pt)
    d2f = [seg.act[l].d2f_given(pt.x[i], pt.f[i], pt.df[i]) for i, l in enumerate(seg.layers)]
    rng = np.random.default_rng(3)
    v = [rng.normal(size=e.shape) for e in pt.eps]
    hv = seg.hvp(pt, q, d2f, v)
    h = 1e-6
    gp = seg.gradient(seg.point([e + h * w for e, w in zip(pt.eps, v)]))[0]
    gm = seg.gradient(seg.point([e - h * w for e, w in zip(pt.eps, v)]))[0]
    for a, b, c in zip(hv, gp, gm):
        np.testing.assert_allclose(a, (b - c) / (2 * h), atol=1e-7 * np.abs(a).max())


def test_compacted_tail_rests_where_the_whole_batch_rests(monkeypatch):
    """Finishing the last hard samples on a compacted batch (``_Segment.subset``) gives the
    rest point of the uncompacted solve, sample for sample, and the other samples keep
    theirs."""
    import pc_analog.solvers._gauss_newton as gn

    (m,) = [m for m in MEMBERS if m.name == "gain 3 tanh"]
    net, x, clamp, _, _ = family.build(m, 32)
    calls = []
    inner = gn._Segment.subset
    monkeypatch.setattr(
        gn._Segment, "subset", lambda self, idx: calls.append(idx) or inner(self, idx)
    )
    compact = pa.solve_equilibrium(net, x, clamp, gtol=1e-11)
    assert calls and len(calls[0]) < 32  # the tail was compacted
    monkeypatch.setattr(gn, "COMPACT_FRACTION", -1.0)
    whole = pa.solve_equilibrium(net, x, clamp, gtol=1e-11)
    assert compact.success and whole.success
    g = pa.grad_x(net, compact.x)  # recomputed: the returned state itself is at rest
    free = np.concatenate(clamp.free)
    assert np.abs(np.concatenate(g, axis=1)[:, free]).max() <= 1e-11 * (1 + 1e-6)
    assert family._rel(compact.x, whole.x) <= 1e-9
    np.testing.assert_allclose(compact.energy, whole.energy, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["shallow sigmoid gain 2", "softplus gain 2 top 20"])
def test_one_layer_factors_equal_the_explicit_woodbury_factors(name):
    """One free layer: the Woodbury factors kept as ``w = phi' D^{-1/2}`` with ``M`` from one
    GEMM (``_Segment.KK``) give the step of the explicit ``G = W_t diag(phi')`` factors, and
    that step solves ``(D + G^T Pi_t G) p = -g`` (the Gauss-Newton system, built densely)."""
    from pc_analog.solvers._gauss_newton import _Segment

    (m,) = [m for m in MEMBERS if m.name == name]
    net, xs, _, _, _ = family.build(m, 7)
    x = [np.array(v) for v in xs]
    seg = _Segment(net, x, 1, 1)
    assert seg.KK is not None
    pt = seg.point_from_x(x)
    pt.eps[0] = pt.eps[0] + np.random.default_rng(5).normal(0.0, 0.3, pt.eps[0].shape)
    pt = seg.point(pt.eps)  # away from the start, so g is not tiny
    g, q, _ = seg.gradient(pt)
    fast = seg.step([v.copy() for v in g], seg.factors(pt, q))[0]
    seg.KK = None  # the general path: G materialised per sample
    fac = seg.factors(pt, q)
    slow = seg.step([v.copy() for v in g], fac)[0]
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12 * np.abs(slow).max())
    S, s = fac[0][0], fac[1][0]  # S = G D^{-1/2}, s = D^{-1/2}
    for b in range(g[0].shape[0]):
        G = S[b] / s[b][None, :]
        A = np.diag(1.0 / s[b] ** 2) + G.T @ np.diag(net.pi(net.n_layers)) @ G
        np.testing.assert_allclose(A @ fast[b], -g[0][b], atol=1e-10 * np.abs(g[0][b]).max())


def test_agreement_counts_samples_that_do_not_converge(monkeypatch):
    """The agreement column compares only samples converged on both paths and counts the
    others per path; with a cap too small for gain 3 at gtol 1e-11 every sample is a miss."""
    (m,) = [m for m in MEMBERS if m.name == "gain 3 tanh"]
    net, x, clamp, _, _ = family.build(m, 4)
    r = family.agreement(net, x, clamp, m)
    assert r["agree_converged"] and r["agree"] <= 1e-9 and not r["agree_same_path"]
    assert r["agree_nonconv_fast"] == r["agree_nonconv_dense"] == 0
    monkeypatch.setattr(family, "AGREE_MAX_ITER", 2)
    r = family.agreement(net, x, clamp, m)
    assert not r["agree_converged"]
    assert r["agree_nonconv_fast"] == r["agree_nonconv_dense"] == 4
    assert np.isnan(r["agree"])  # nothing compared
    assert "4/4 not conv." in family._agree_cell(r)
    (mid,) = [m for m in MEMBERS if m.name == "label + middle"]
    net, x, clamp, _, _ = family.build(mid, 2)
    assert family.agreement(net, x, clamp, mid)["agree_same_path"]
