"""The equilibrium solver against closed forms, the discrete flow and a dense solve."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.solvers.base import Status
from pc_analog.solvers.equilibrium import GTOL_DEFAULT, _block_solve, _free_blocks

# Agreement between two exact methods in float64 on well-conditioned problems.
EXACT_RTOL = 1e-9
# The flow's limit computed by many small Euler steps, stopped at |grad| <= 1e-12.
FLOW_ATOL = 1e-9


def _linear_closed_form(net, clamp, values):
    """Minimise F for a linear network as one weighted least-squares problem.

    Built independently of the Hessian code: every error eps_l = x_l - W_l x_{l-1} - b_l
    is an affine function of the stacked free activities z, eps = A z - c; the
    minimiser solves (A^T P A) z = A^T P c with P = diag(pi).
    """
    sizes = net.sizes
    offs = np.concatenate([[0], np.cumsum(sizes)])
    free = np.concatenate(clamp.free)
    out = []
    for s in range(values[0].shape[0]):
        v = np.concatenate([vl[s] for vl in values])
        rows, cs, ps = [], [], []
        for l in range(1, net.n_layers + 1):
            M = np.zeros((sizes[l], offs[-1]))  # eps_l = M v - b_l
            M[:, offs[l] : offs[l + 1]] = np.eye(sizes[l])
            M[:, offs[l - 1] : offs[l]] = -net.W(l)
            rows.append(M)
            cs.append(net.b(l))
            ps.append(net.pi(l))
        M = np.vstack(rows)
        b = np.concatenate(cs)
        P = np.concatenate(ps)
        A = M[:, free]
        c = b - M[:, ~free] @ v[~free]
        z = np.linalg.solve(A.T @ (P[:, None] * A), A.T @ (P * c))
        v[free] = z
        out.append(v)
    V = np.array(out)
    return tuple(V[:, offs[l] : offs[l + 1]] for l in range(len(sizes)))


@pytest.mark.parametrize(
    "precisions",
    [1.0, [2.0, 0.5, 1.5], [np.linspace(0.5, 2, 6), 1.0, np.array([0.3, 3.0])]],
    ids=["unit", "scalar", "diagonal"],
)
def test_linear_equilibrium_equals_closed_form(precisions):
    net = pa.Network.random([4, 6, 5, 2], "linear", precisions=precisions, seed=1)
    rng = np.random.default_rng(0)
    x0, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    x, clamp = pa.io_state(net, x0, y)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success
    ref = _linear_closed_form(net, clamp, x)
    for a, b in zip(res.x, ref):
        np.testing.assert_allclose(a, b, rtol=EXACT_RTOL, atol=EXACT_RTOL)
    # A linear network's energy is quadratic: Newton needs a single full step.
    assert res.nit <= 2


def test_linear_equilibrium_with_clamps_in_the_middle():
    net = pa.Network.random([3, 5, 5, 4], "linear", precisions=[1.0, [0.5] * 5, 2.0], seed=3)
    rng = np.random.default_rng(1)
    masks = (
        np.array([1, 0, 1], bool),  # part of the input free
        np.array([0, 1, 0, 0, 1], bool),
        np.ones(5, bool),  # a whole middle layer clamped: the chain splits
        np.array([0, 0, 1, 0], bool),
    )
    clamp = pa.Clamp(masks)
    values = tuple(rng.normal(size=(3, n)) for n in net.sizes)
    x = pa.initial_state(net, clamp, values)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success
    for a, b in zip(res.x, _linear_closed_form(net, clamp, x)):
        np.testing.assert_allclose(a, b, rtol=EXACT_RTOL, atol=EXACT_RTOL)
    for a, v, m in zip(res.x, values, masks):
        np.testing.assert_array_equal(a[:, m], v[:, m])  # clamped units never move


def test_only_input_clamped_rests_at_feedforward():
    net = pa.Network.random([5, 7, 3], "tanh", seed=2)
    x0 = np.random.default_rng(2).normal(size=(4, 5))
    x, clamp = pa.io_state(net, x0)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success and res.nit == 0
    assert np.all(res.energy == 0.0)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus"])
def test_nonlinear_equilibrium_beats_every_discrete_iterate_and_is_the_flow_limit(act):
    rng = np.random.default_rng(4)
    net = pa.Network.random(
        [6, 8, 7, 3], act, precisions=[1.0, rng.uniform(0.5, 2, 7), 0.8], seed=5, gain=1.5
    )
    x0, y = rng.normal(size=(6, 6)), rng.normal(size=(6, 3))
    x, clamp = pa.io_state(net, x0, y)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success
    assert np.all(res.grad_max <= GTOL_DEFAULT)
    g = pa.grad_x(net, res.x)
    assert max(np.abs(gl[:, ~m]).max() for gl, m in zip(g, clamp.masks) if (~m).any()) <= 1e-10
    flow = pa.discrete_inference(net, x, clamp, step_size=0.05, n_steps=200_000, gtol=1e-12)
    assert flow.success
    # Energy along the discrete flow never rises (an invariant of small steps) ...
    assert np.all(np.diff(flow.energy_trace, axis=0) <= 1e-15)
    # ... and the equilibrium's energy is at most every iterate's (up to rounding of F).
    assert np.all(res.energy <= flow.energy_trace.min(axis=0) + 1e-14 * (1 + res.energy))
    for a, b in zip(res.x, flow.x):
        np.testing.assert_allclose(a, b, atol=FLOW_ATOL)


def test_generative_direction_free_top_layer():
    """Data clamped at x_L, nothing at x_0: the other end of the chain is free."""
    net = pa.Network.random([2, 5, 8], "linear", precisions=[0.5, 2.0], seed=7)
    rng = np.random.default_rng(7)
    clamp = pa.Clamp.layers(net.sizes, [-1])
    values = tuple(rng.normal(size=(3, n)) for n in net.sizes)
    x = pa.initial_state(net, clamp, values)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success
    for a, b in zip(res.x, _linear_closed_form(net, clamp, x)):
        np.testing.assert_allclose(a, b, rtol=EXACT_RTOL, atol=EXACT_RTOL)


def test_generative_tanh_equilibrium_is_a_minimum_below_the_flow():
    """Free top layer with tanh: the flow is slow here, so check the rest point by
    the second-order condition (Hessian on the free units positive definite) and
    by its energy against every iterate of the flow from the same start."""
    net = pa.Network.random([3, 6, 8], ["linear", "tanh"], seed=8, gain=0.7)
    rng = np.random.default_rng(8)
    clamp = pa.Clamp.layers(net.sizes, [-1])
    values = tuple(0.3 * rng.normal(size=(3, n)) for n in net.sizes)
    x = pa.initial_state(net, clamp, values)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success
    free = np.concatenate(clamp.free)
    H = pa.dense_hessian(net, res.x)[:, free][:, :, free]
    assert np.all(np.linalg.eigvalsh(H)[:, 0] > 0)
    flow = pa.discrete_inference(net, x, clamp, step_size=0.2, n_steps=5000)
    assert np.all(res.energy <= flow.energy_trace.min(axis=0))


def test_block_solve_equals_dense_solve():
    rng = np.random.default_rng(8)
    net = pa.Network.random([3, 5, 4, 6, 2], "tanh", precisions=[1.0, 2.0, 0.5, 1.5], seed=9)
    masks = (
        np.ones(3, bool),
        np.array([0, 1, 0, 0, 1], bool),
        np.zeros(4, bool),
        np.zeros(6, bool),
        np.ones(2, bool),
    )
    clamp = pa.Clamp(masks)
    x = tuple(rng.normal(size=(4, n)) for n in net.sizes)
    diag, upper = pa.hessian_blocks(net, x)
    blocks = _free_blocks(clamp)
    rhs = [rng.normal(size=(4, idx.size)) for _, idx in blocks]
    lam = np.array([0.0, 0.1, 1.0, 10.0]) + 5.0  # keep every damped Hessian positive definite
    p, bad = _block_solve(diag, upper, blocks, rhs, lam)
    assert not bad.any()
    free = np.concatenate(clamp.free)
    H = pa.dense_hessian(net, x)[:, free][:, :, free] + lam[:, None, None] * np.eye(free.sum())
    ref = np.linalg.solve(H, np.concatenate(rhs, axis=1)[:, :, None])[:, :, 0]
    np.testing.assert_allclose(np.concatenate(p, axis=1), ref, rtol=1e-10, atol=1e-12)


def test_block_solve_flags_indefinite_samples():
    rng = np.random.default_rng(10)
    net = pa.Network.random([2, 3, 2], "linear", seed=1)
    clamp = pa.Clamp.io(net.sizes, target=True)
    x = tuple(rng.normal(size=(2, n)) for n in net.sizes)
    diag, upper = pa.hessian_blocks(net, x)
    blocks = _free_blocks(clamp)
    p, bad = _block_solve(diag, upper, blocks, [np.ones((2, 3))], np.array([0.0, -100.0]))
    assert bad.tolist() == [False, True]


def test_non_convergence_reports_and_warns():
    net = pa.Network.random([4, 6, 3], "tanh", seed=0, gain=2.0)
    rng = np.random.default_rng(0)
    x, clamp = pa.io_state(net, rng.normal(size=(2, 4)), 3 * rng.normal(size=(2, 3)))
    with pytest.warns(pa.ConvergenceWarning):
        res = pa.solve_equilibrium(net, x, clamp, max_iter=1, gtol=1e-14)
    assert not res.success and "not converged" in res.message
    assert res.nit == 1


def test_equilibrium_solver_budget_on_a_standard_case():
    """Work counters catch an algorithmic regression even on a noisy machine."""
    net = pa.Network.random([64, 32, 10], "tanh", seed=0)
    rng = np.random.default_rng(0)
    y = np.eye(10)[rng.integers(0, 10, 32)]
    x, clamp = pa.io_state(net, rng.uniform(size=(32, 64)), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pa.solve_equilibrium(net, x, clamp)
    assert res.success
    assert res.nit <= 8 and res.nfact <= 8 and res.nfev <= 20


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "linear"])
def test_low_rank_path_equals_general_path(act):
    """One free hidden layer between clamped input and a narrow clamped output: the
    Woodbury solve and the general block Cholesky give the same rest point."""
    rng = np.random.default_rng(21)
    net = pa.Network.random(
        [12, 30, 4], act, precisions=[rng.uniform(0.5, 2, 30), 0.6], seed=22, gain=1.8
    )
    x, clamp = pa.io_state(net, rng.normal(size=(6, 12)), 2 * rng.normal(size=(6, 4)))
    fast = pa.solve_equilibrium(net, x, clamp)
    ref = pa.solve_equilibrium(net, x, clamp, structured=False)
    assert fast.success and ref.success
    for a, b in zip(fast.x, ref.x):
        np.testing.assert_allclose(a, b, atol=1e-10)
    # partly clamped hidden layer: still one free block
    masks = list(clamp.masks)
    masks[1] = np.arange(30) % 3 == 0
    clamp2 = pa.Clamp(tuple(masks))
    x2 = pa.initial_state(net, clamp2, tuple(rng.normal(size=(6, n)) for n in net.sizes))
    fast = pa.solve_equilibrium(net, x2, clamp2)
    ref = pa.solve_equilibrium(net, x2, clamp2, structured=False)
    for a, b in zip(fast.x, ref.x):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_low_rank_solve_matches_dense_linear_algebra():
    from pc_analog.solvers.equilibrium import _low_rank_layer, _woodbury_solve

    rng = np.random.default_rng(23)
    net = pa.Network.random([5, 16, 3], "tanh", precisions=[2.0, [0.5, 1.0, 1.5]], seed=24)
    x, clamp = pa.io_state(net, rng.normal(size=(4, 5)), rng.normal(size=(4, 3)))
    blocks = _free_blocks(clamp)
    assert _low_rank_layer(net, blocks) == 1
    r = rng.normal(size=(4, 16))
    lam = np.array([0.0, 0.1, 1.0, 3.0])
    (p,), bad = _woodbury_solve(net, x, 1, blocks[0][1], r, lam)
    assert not bad.any()
    H = pa.dense_hessian(net, x)[:, 5:21, 5:21] + lam[:, None, None] * np.eye(16)
    np.testing.assert_allclose(
        p, np.linalg.solve(H, r[:, :, None])[:, :, 0], rtol=1e-10, atol=1e-12
    )


# --------------------------------------------------------------------------------------
# The structured path (Gauss-Newton in error coordinates) against the dense reference.

# Both paths stopped at max |dF/dx| <= STRUCTURED_GTOL rest within STRUCTURED_ATOL of each
# other (the distance is about |H^-1| gtol on these well-conditioned problems).
STRUCTURED_GTOL = 1e-12
STRUCTURED_ATOL = 1e-9


def _layered_case(sizes, act, clamped, seed, precisions=1.0, batch=5, gain=1.5):
    net = pa.Network.random(sizes, act, precisions=precisions, seed=seed, gain=gain)
    rng = np.random.default_rng(1000 + seed)
    clamp = pa.Clamp.layers(sizes, clamped)
    values = tuple(rng.uniform(-1.0, 1.0, size=(batch, n)) for n in sizes)
    return net, pa.initial_state(net, clamp, values), clamp


def _assert_same_rest(net, x, clamp, method="gauss-newton"):
    fast = pa.solve_equilibrium(net, x, clamp, gtol=STRUCTURED_GTOL)
    ref = pa.solve_equilibrium(net, x, clamp, gtol=STRUCTURED_GTOL, structured=False)
    assert fast.success and ref.success
    assert fast.method == method and ref.method == "newton"
    for a, b in zip(fast.x, ref.x):
        np.testing.assert_allclose(a, b, rtol=0, atol=STRUCTURED_ATOL)
    for a, v, m in zip(fast.x, x, clamp.masks):
        np.testing.assert_array_equal(a[:, m], v[:, m])  # clamped units never move
    # The reported energy and gradient are those of the returned state.
    np.testing.assert_allclose(fast.energy, pa.energy(net, fast.x), rtol=1e-12, atol=1e-15)
    g = pa.grad_x(net, fast.x)
    free = [np.abs(gl[:, ~m]).max(axis=1) for gl, m in zip(g, clamp.masks) if (~m).any()]
    np.testing.assert_allclose(fast.grad_max, np.max(free, axis=0), rtol=1e-6, atol=1e-15)
    assert np.all(np.max(free, axis=0) <= STRUCTURED_GTOL * (1 + 1e-6))
    return fast, ref


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "linear"])
@pytest.mark.parametrize(
    "sizes", [[10, 24, 3], [10, 24, 16, 3], [8, 20, 16, 12, 4], [6, 12, 12, 12, 12, 2]]
)
def test_structured_path_equals_dense_path(sizes, act):
    """Input and output clamped, 1 to 4 free layers, diagonal precisions, batch 5."""
    rng = np.random.default_rng(len(sizes))
    precisions = [rng.uniform(0.5, 2.0, n) if l % 2 else 0.8 for l, n in enumerate(sizes[1:])]
    net, x, clamp = _layered_case(sizes, act, [0, -1], seed=len(sizes), precisions=precisions)
    _assert_same_rest(net, x, clamp)


@pytest.mark.parametrize(
    "sizes, clamped",
    [
        ([6, 14, 5, 12, 9, 3], [0, 2, 5]),  # a clamped middle layer: two closed segments
        ([6, 14, 5, 12, 9, 3], [0, 2]),  # a closed segment below an open one (top free)
        ([6, 14, 12, 3], [0, 1, 3]),  # one free layer, everything around it clamped
    ],
)
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_structured_path_with_clamped_middle_layers(sizes, clamped, act):
    rng = np.random.default_rng(3)
    precisions = [rng.uniform(0.5, 2.0, n) for n in sizes[1:]]
    net, x, clamp = _layered_case(sizes, act, clamped, seed=4, precisions=precisions)
    _assert_same_rest(net, x, clamp)


def test_structured_path_linear_network_equals_closed_form():
    """A second oracle: for a linear network one Gauss-Newton step is the exact solve."""
    net, x, clamp = _layered_case([5, 9, 7, 6, 3], "linear", [0, 4], seed=6, precisions=0.7)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success and res.method == "gauss-newton" and res.nit == 1
    for a, b in zip(res.x, _linear_closed_form(net, clamp, x)):
        np.testing.assert_allclose(a, b, rtol=EXACT_RTOL, atol=EXACT_RTOL)


def test_layered_segments_condition():
    from pc_analog.solvers._gauss_newton import layered_segments

    net = pa.Network.random([6, 14, 5, 12, 9, 3], "tanh", seed=0)
    sizes = net.sizes
    assert layered_segments(net, pa.Clamp.layers(sizes, [0, 5])) == [(1, 4)]
    assert layered_segments(net, pa.Clamp.layers(sizes, [0, 2, 5])) == [(1, 1), (3, 4)]
    assert layered_segments(net, pa.Clamp.layers(sizes, [0, 2])) == [(1, 1), (3, 5)]
    assert layered_segments(net, pa.Clamp.layers(sizes, [0])) == [(1, 5)]
    assert layered_segments(net, pa.Clamp.layers(sizes, range(6))) == []
    # not layered: the input free, or a partly clamped layer
    assert layered_segments(net, pa.Clamp.layers(sizes, [5])) is None
    masks = list(pa.Clamp.layers(sizes, [0, 5]).masks)
    masks[2] = np.arange(5) == 0
    assert layered_segments(net, pa.Clamp(tuple(masks))) is None
    # a clamped top wider than the segment below it: the low-rank part would not be low
    wide = pa.Network.random([4, 3, 8], "tanh", seed=0)
    assert layered_segments(wide, pa.Clamp.layers(wide.sizes, [0, 2])) is None


@pytest.mark.parametrize("how", ["partial-hidden", "free-input", "wide-top"])
def test_other_clamps_take_the_dense_path(how):
    rng = np.random.default_rng(7)
    if how == "wide-top":
        net = pa.Network.random([4, 3, 8], "tanh", seed=1, gain=1.5)
        clamp = pa.Clamp.layers(net.sizes, [0, 2])
    else:
        net = pa.Network.random([5, 9, 7, 3], "tanh", seed=1, gain=1.5)
        masks = list(pa.Clamp.layers(net.sizes, [0, 3]).masks)
        if how == "partial-hidden":
            masks[2] = np.arange(7) % 2 == 0  # a clamp in the middle of a layer
        else:
            masks[0] = np.arange(5) < 3  # some input units free
        clamp = pa.Clamp(tuple(masks))
    values = tuple(rng.uniform(-1.0, 1.0, size=(4, n)) for n in net.sizes)
    x = pa.initial_state(net, clamp, values)
    _assert_same_rest(net, x, clamp, method="newton")


def test_structured_path_hands_stalled_samples_to_the_dense_path(monkeypatch):
    """A line search that never accepts a step (forced here) ends the Gauss-Newton
    phase for those samples; the dense path finishes them from where they are."""
    import pc_analog.solvers._gauss_newton as gnm

    net, x, clamp = _layered_case([8, 12, 10, 3], "tanh", [0, 3], seed=2)
    monkeypatch.setattr(gnm, "_BACKTRACKS", 0)
    res = pa.solve_equilibrium(net, x, clamp, gtol=STRUCTURED_GTOL)
    ref = pa.solve_equilibrium(net, x, clamp, gtol=STRUCTURED_GTOL, structured=False)
    assert res.success and res.method == "gauss-newton+newton"
    assert res.nit == 1 + ref.nit  # one (refused) Gauss-Newton step, then the same Newton
    for a, b in zip(res.x, ref.x):
        np.testing.assert_allclose(a, b, rtol=0, atol=STRUCTURED_ATOL)


def test_structured_path_is_faster_in_work_than_the_dense_path(monkeypatch):
    """Two free 64-unit layers: no Hessian block is ever formed on the structured path."""
    import pc_analog.solvers.equilibrium as eqm

    calls = []
    inner = eqm.hessian_blocks
    monkeypatch.setattr(eqm, "hessian_blocks", lambda *a, **k: calls.append(1) or inner(*a, **k))
    net, x, clamp = _layered_case([16, 64, 64, 4], "tanh", [0, 3], seed=9, gain=1.0)
    res = pa.solve_equilibrium(net, x, clamp)
    assert res.success and res.method == "gauss-newton" and not calls


@pytest.mark.parametrize("krylov", [True, False])
def test_slow_samples_go_on_with_the_dense_path(krylov, monkeypatch):
    """Large weights (gain 3) and a one-unit clamped top: Gauss-Newton's linear rate
    degrades for some samples.  The Newton-Krylov steps finish them on the structured
    path; without them (each step replaced by the Gauss-Newton step) the dense path
    finishes them.  Every sample must end at a stationary point that is a minimum (the
    dense Hessian on the free units is positive semidefinite): an oracle independent of
    both paths."""
    from pc_analog.solvers._gauss_newton import _Segment

    if not krylov:
        monkeypatch.setattr(
            _Segment, "newton_krylov", lambda self, pt, g, q, fac, act: (self.step(g, fac), 0, 0)
        )
    net = pa.Network.random([5, 4, 15, 17, 1], "tanh", seed=1, gain=3.0)
    rng = np.random.default_rng(1)
    clamp = pa.Clamp.layers(net.sizes, [0, 4])
    values = tuple(rng.normal(scale=2.0, size=(4, s)) for s in net.sizes)
    x = pa.initial_state(net, clamp, values)
    res = pa.solve_equilibrium(net, x, clamp, gtol=1e-10)
    assert res.success and res.method == ("gauss-newton" if krylov else "gauss-newton+newton")
    assert (res.nhvp > 0) == krylov
    g = pa.grad_x(net, res.x)
    free = np.concatenate(clamp.free)
    assert np.abs(np.concatenate(g, axis=1)[:, free]).max() <= 1e-10 * (1 + 1e-6)
    H = pa.dense_hessian(net, res.x)[:, free][:, :, free]
    assert np.linalg.eigvalsh(H).min() >= -1e-8


# ------------------------------------------------------------------ blown-up samples
def test_inverse_of_a_batch_gives_nan_only_for_the_failing_samples():
    from pc_analog.solvers._gauss_newton import _inv_or_nan

    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 3, 3))
    M = A @ np.transpose(A, (0, 2, 1)) + np.eye(3)
    M[1] = 0.0  # singular
    M[2, 0, 0] = np.inf  # non-finite
    inv = _inv_or_nan(M)
    for b in (0, 3):
        np.testing.assert_allclose(inv[b] @ M[b], np.eye(3), atol=1e-12)
    assert np.isnan(inv[1]).all() and np.isnan(inv[2]).all()


def test_a_blown_up_sample_fails_alone_instead_of_raising():
    net = pa.Network.random([6, 8, 3], "linear", seed=0)
    rng = np.random.default_rng(1)
    x0, y = rng.normal(size=(3, 6)), rng.normal(size=(3, 3))
    x0[2] *= 1e160  # its energy overflows
    with np.errstate(all="ignore"):
        res = pa.settle(net, x0, y, backend="equilibrium", on_failure="return")
    # the sample's gradient may still be finite: it fails at the iteration limit
    assert not res.success and res.status in (Status.MAX_ITER, Status.NON_FINITE), res.message
    assert np.all(res.grad_max[:2] <= GTOL_DEFAULT)
    assert not np.isfinite(res.grad_max[2]) or res.grad_max[2] > GTOL_DEFAULT
