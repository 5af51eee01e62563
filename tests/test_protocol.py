"""The backend protocol: Status, SettleResult, on_failure, options, central checks.

Oracles: each backend forced to fail by its own limit (``max_steps=1``,
``max_iter=1``, a horizon shorter than one time constant), an operating point
replaced by one ngspice could not have converged to (a node at 1e+32, a shifted node)
or computed by ngspice for a deck that is not the IR's circuit, and the circuit's own
KCL residual (:func:`pc_analog.solvers.dynamics.residual_max`) for the judgement.
"""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import warnings
from types import MappingProxyType

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.circuit.ir import Circuit, CircuitLayer, DifferentialPair, compile_network, node_name
from pc_analog.errors import (
    BackendError,
    ConvergenceError,
    ConvergenceWarning,
    InvalidInputError,
)
from pc_analog.settling.registry import BACKENDS, get_backend, settle
from pc_analog.solvers.base import Backend, SettleResult, Status, apply_on_failure
from pc_analog.solvers.discrete import DiscreteBackend, discrete_inference
from pc_analog.solvers.dynamics import FreeIndex, current_jacobian_blocks, residual_max
from pc_analog.solvers.equilibrium import EquilibriumBackend, solve_equilibrium
from pc_analog.solvers.ode import OdeBackend
from pc_analog.spice import backend as spice_backend
from pc_analog.spice.backend import OP_KCL_RTOL, OP_MAX_ABS_V, judge_operating_point
from pc_analog.spice.ngspice import NgspiceBackend, SpiceRun

NGSPICE = shutil.which("ngspice")
needs_ngspice = pytest.mark.skipif(NGSPICE is None, reason="ngspice binary not on PATH")

#: A shifted operating-point node (volts): far above any converged residual
#: (OP_KCL_RTOL of 1 V), far below OP_MAX_ABS_V, so only the residual can catch it.
OP_SHIFT_V = 1e-2


def _circuit(batch: int = 2) -> Circuit:
    net = pa.Network.random([3, 5, 4, 2], "tanh", seed=7)
    rng = np.random.default_rng(1)
    return compile_network(net, rng.normal(size=(batch, 3)), rng.normal(size=(batch, 2)))


def _skew(circ: Circuit) -> Circuit:
    """The same circuit with one feedback crossbar 10% off: not a gradient flow."""
    layers = list(circ.layers)
    fb = layers[1].feedback
    layers[1] = CircuitLayer(
        layers[1].forward,
        DifferentialPair(fb.g_pos_S * 1.1, fb.g_neg_S),
        layers[1].bias,
        layers[1].g_spring_S,
        layers[1].activation,
    )
    return Circuit(circ.hardware, tuple(layers), circ.clamp, circ.x_init)


CIRC = _circuit()

# name, options that make it fail, the failure status
FAILING = [
    ("discrete", {"max_steps": 1}, Status.MAX_STEPS),
    ("equilibrium", {"max_iter": 1}, Status.MAX_ITER),
    ("ode", {"t_max_s": 0.1 * CIRC.tau_s}, Status.NOT_SETTLED),
    pytest.param(
        "ngspice", {"t_stop_s": 0.1 * CIRC.tau_s}, Status.NOT_SETTLED, marks=needs_ngspice
    ),
]
SUCCEEDING = ["discrete", "equilibrium", "ode", pytest.param("ngspice", marks=needs_ngspice)]


# ------------------------------------------------------------------ Status
def test_status_members_carry_distinct_messages_and_only_success_succeeds():
    msgs = [s.message for s in Status]
    assert all(isinstance(m, str) and len(m) > 8 for m in msgs)
    assert len(set(msgs)) == len(msgs)
    assert [s for s in Status if s.success] == [Status.SUCCESS]
    assert Status.KCL_RESIDUAL.message.startswith("ngspice did not converge")
    assert "iteration limit" in Status.MAX_ITER.message
    assert "step limit" in Status.MAX_STEPS.message
    # SPEC section 4: exit 3 for a backend failing on valid input, 1 for limits.
    assert {s for s in Status if s.backend_failure} == {
        Status.NON_FINITE,
        Status.KCL_RESIDUAL,
        Status.UNSTABLE,
        Status.BACKEND_FAILED,
    }
    for required in ("SUCCESS", "MAX_ITER", "MAX_STEPS", "NON_FINITE", "UNSTABLE"):
        assert required in Status.__members__


def test_result_derives_success_and_message_from_status():
    x = (np.zeros((1, 2)),)
    r = SettleResult("b", x, np.zeros(1), Status.MAX_ITER, "", np.zeros(1))
    assert not r.success and r.message == Status.MAX_ITER.message
    ok = SettleResult("b", x, np.zeros(1), Status.SUCCESS, "done in 3", np.zeros(1))
    assert ok.success and ok.message == "done in 3"
    with pytest.raises(InvalidInputError, match="Status"):
        SettleResult("b", x, np.zeros(1), True, "", np.zeros(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ok.status = Status.UNSTABLE


# ------------------------------------------------------------------ equality
def test_settle_results_compare_by_value_and_never_raise():
    a = settle(CIRC, backend="ode", on_failure="return")
    b = settle(CIRC, backend="ode", on_failure="return")
    assert a == b and a.equals(b) and not (a != b)
    assert a.settling_time_s is not None
    # NaN compares equal to NaN inside a result (a result equals itself)
    nan = dataclasses.replace(a, settling_time_s=np.array([np.nan, 1.0]))
    assert nan == dataclasses.replace(a, settling_time_s=np.array([np.nan, 1.0]))
    x2 = (a.x[0], a.x[1] + 1e-15) + a.x[2:]
    assert a != dataclasses.replace(a, x=x2)
    assert a != dataclasses.replace(a, status=Status.NOT_SETTLED)
    assert a != dataclasses.replace(a, message=a.message + ".")
    assert a != dataclasses.replace(a, stats={**a.stats, "nfev": -1})
    assert a != dataclasses.replace(a, nfev=(a.nfev or 0) + 1)
    assert a != dataclasses.replace(a, t=None)
    assert a != dataclasses.replace(a, energy=a.energy[:1])  # other shape: False, no raise
    assert a != dataclasses.replace(a, trajectory=a.trajectory[:-1])
    assert (a == "ode") is False and (a != 3) is True
    with pytest.raises(TypeError):
        hash(a)


def test_equal_results_from_different_backends_differ_only_where_they_should():
    e = settle(CIRC, backend="equilibrium", on_failure="return")
    d = settle(CIRC, backend="discrete", on_failure="return")
    assert e != d and e == e


# ------------------------------------------------------------------ counters
def test_counters_are_typed_fields_and_kept_in_stats():
    e = settle(CIRC, backend="equilibrium")
    assert isinstance(e.nit, int) and e.nit >= 1 and e.nit == e.stats["nit"]
    assert e.nfev == e.stats["nfev"] and e.njev == e.stats["njev"] and e.nfact >= 1
    d = settle(CIRC, backend="discrete")
    assert d.n_steps == d.stats["n_steps"] and d.n_steps > 1
    o = settle(CIRC, backend="ode")
    assert o.nfev == o.stats["nfev"] and o.n_steps >= 1 and o.nfact == o.stats["nlu"]


# ------------------------------------------------------------------ on_failure
@pytest.mark.parametrize("name, opts, status", FAILING)
def test_on_failure_warn_is_the_default(name, opts, status):
    with pytest.warns(ConvergenceWarning) as rec:
        r = get_backend(name, **opts).settle(CIRC)
    assert r.status is status and not r.success
    assert str(rec[0].message) == r.message
    assert rec[0].filename == __file__  # the warning points at the caller


@pytest.mark.parametrize("name, opts, status", FAILING)
def test_on_failure_raise_carries_the_result(name, opts, status):
    with pytest.raises(ConvergenceError) as exc:
        get_backend(name, on_failure="raise", **opts).settle(CIRC)
    assert isinstance(exc.value, BackendError)
    assert exc.value.result.status is status and exc.value.result.backend == name
    assert str(exc.value) == exc.value.result.message


@pytest.mark.parametrize("name, opts, status", FAILING)
def test_on_failure_return_is_silent(name, opts, status):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        r = get_backend(name, on_failure="return", **opts).settle(CIRC)
        # per call, through the registry, overriding the instance's own policy
        r2 = settle(CIRC, backend=get_backend(name, **opts), on_failure="return")
    assert r.status is status and r2.status is status
    assert status.message in r.message or r.message.startswith("not")


@pytest.mark.parametrize("name", SUCCEEDING)
def test_on_failure_raise_lets_a_converged_result_through(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        r = settle(CIRC, backend=name, on_failure="raise")
    assert r.status is Status.SUCCESS and r.success


def test_per_call_policy_overrides_the_backend_policy():
    be = EquilibriumBackend(max_iter=1, on_failure="return")
    with pytest.raises(ConvergenceError):
        be.settle(CIRC, on_failure="raise")
    with pytest.warns(ConvergenceWarning):
        settle(CIRC, backend=be, on_failure="warn")
    assert be.settle(CIRC).status is Status.MAX_ITER  # its own policy again


def test_solver_functions_take_on_failure_too():
    net, x, clamp = CIRC.network(), CIRC.x_init, CIRC.clamp
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        r = solve_equilibrium(net, x, clamp, max_iter=1, on_failure="return")
        d = discrete_inference(net, x, clamp, n_steps=1, gtol=1e-8, on_failure="return")
    assert r.status is Status.MAX_ITER and d.status is Status.MAX_STEPS
    with pytest.raises(ConvergenceError) as exc:
        solve_equilibrium(net, x, clamp, max_iter=1, on_failure="raise")
    assert exc.value.result.status is Status.MAX_ITER
    with pytest.warns(ConvergenceWarning):
        discrete_inference(net, x, clamp, n_steps=1, gtol=1e-8)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_bad_on_failure_is_invalid_input(name):
    with pytest.raises(InvalidInputError, match="on_failure.*warn, raise, return"):
        get_backend(name, on_failure="ignore")
    with pytest.raises(InvalidInputError, match="on_failure"):
        settle(CIRC, backend=name, on_failure="loud")
    with pytest.raises(InvalidInputError, match="on_failure"):
        apply_on_failure(settle(CIRC, backend="equilibrium"), "quiet")


# ------------------------------------------------------------------ options
@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_unknown_option_names_itself_and_the_known_ones(name):
    cls = BACKENDS[name]
    for make in (lambda: get_backend(name, tolerance=1), lambda: cls(tolerance=1)):
        with pytest.raises(InvalidInputError) as exc:
            make()
        msg = str(exc.value)
        assert "'tolerance'" in msg and name in msg
        for known in cls.option_names():
            assert known in msg
    assert "on_failure" in cls.option_names()
    with pytest.raises(InvalidInputError, match="tolerance"):
        settle(CIRC, backend=name, tolerance=1e-3)
    with pytest.raises(InvalidInputError, match="positional"):
        cls(*range(len(cls.option_names()) + 1))


def test_backends_survive_pickling_and_show_their_options():
    be = OdeBackend(rtol=1e-6, on_failure="raise")
    back = pickle.loads(pickle.dumps(be))
    assert back.rtol == 1e-6 and back.on_failure == "raise"
    assert "rtol=1e-06" in repr(be) and "on_failure='raise'" in repr(be)


# ------------------------------------------------------------------ central checks
def test_requirements_are_declared_and_checked_before_the_backend_runs():
    assert DiscreteBackend.requires_symmetric and EquilibriumBackend.requires_symmetric
    assert not OdeBackend.requires_symmetric and not NgspiceBackend.requires_symmetric

    class Gradient(Backend):
        name = "gradient-probe"
        requires_symmetric = True

        def _settle(self, circuit):  # pragma: no cover - must not be reached
            raise AssertionError("ran on a circuit it cannot handle")

    skew = _skew(CIRC)
    for be in (Gradient(), DiscreteBackend(), EquilibriumBackend()):
        with pytest.raises(InvalidInputError, match="feedback crossbars"):
            be.settle(skew)
    with pytest.raises(TypeError):
        Backend()  # abstract


def test_a_non_finite_state_is_never_a_success():
    class Liar(Backend):
        name = "liar"

        def _settle(self, circuit):
            x = tuple(np.full_like(v, np.nan) for v in circuit.x_init)
            z = np.zeros(circuit.batch)
            return SettleResult(self.name, x, z, Status.SUCCESS, "fine", z)

    with pytest.raises(ConvergenceError) as exc:
        Liar(on_failure="raise").settle(CIRC)
    assert exc.value.result.status is Status.NON_FINITE
    with np.errstate(all="ignore"):
        d = DiscreteBackend(step_size=50.0, max_steps=200, on_failure="return").settle(CIRC)
    assert d.status is Status.NON_FINITE and d.status.backend_failure


def _runaway(gain: float = 5.0) -> Circuit:
    """Feedback crossbars reading ``-gain`` x the forward ones: a growing mode."""
    net = pa.Network.random([2, 3, 3, 2], "linear", seed=5)
    circ = compile_network(net, np.ones((1, 2)), None)
    layers = [
        dataclasses.replace(
            L, feedback=DifferentialPair(L.feedback.g_neg_S * gain, L.feedback.g_pos_S * gain)
        )
        for L in circ.layers
    ]
    return Circuit(circ.hardware, tuple(layers), circ.clamp, circ.x_init)


def test_ode_reports_a_runaway_as_unstable_not_settled():
    bad = _runaway()
    fi = FreeIndex(bad)
    J = fi.sparse(*current_jacobian_blocks(bad, bad.x_init)).toarray()
    assert np.linalg.eigvals(J).real.max() > 0  # the oracle: a growing mode
    with np.errstate(all="ignore"):
        r = OdeBackend(t_max_s=200 * bad.tau_s, on_failure="return").settle(bad)
    assert r.status is Status.UNSTABLE, r.message
    assert r.status.backend_failure and "times its initial distance" in r.message
    # 40x: the state overflows to inf/NaN within the horizon; still UNSTABLE, and said so
    with np.errstate(all="ignore"):
        r = OdeBackend(t_max_s=200 * bad.tau_s, on_failure="return").settle(_runaway(40.0))
    assert r.status is Status.UNSTABLE and "non-finite" in r.message, r.message


def test_asymmetric_run_that_never_comes_to_rest_is_not_settled():
    # Without a known rest point the settling time is measured against the end point;
    # a run cut off by its horizon must not count as settled.
    skew = _skew(CIRC)
    r = OdeBackend(t_max_s=0.5 * skew.tau_s, on_failure="return").settle(skew)
    assert r.status is Status.NOT_SETTLED, r.message
    full = OdeBackend(on_failure="return").settle(skew)
    assert full.status is Status.SUCCESS


def test_asymmetric_run_starting_at_rest_settles_at_once():
    net = pa.Network.random([2, 3, 2], "tanh", seed=5)
    skew = _skew(compile_network(net, np.ones((1, 2)), None))  # no target: at rest
    r = OdeBackend(on_failure="raise").settle(skew)
    assert r.status is Status.SUCCESS and r.settling_time_s[0] == 0


# ------------------------------------------------------------------ ngspice .op
def _fake_runs(circuit: Circuit, x_state, *, mode="subprocess"):
    """The SpiceRuns ngspice would return with node voltages ``x_state``."""
    runs = []
    for b in range(circuit.batch):
        op = {
            node_name("x", l, i): float(x_state[l][b, i])
            for l in range(circuit.n_layers + 1)
            for i in range(circuit.sizes[l])
        }
        runs.append(
            SpiceRun(
                plots=MappingProxyType({}),
                time=None,
                voltages=MappingProxyType({}),
                op=MappingProxyType(op),
                stdout="",
                stderr="",
                mode=mode,
                seconds=0.0,
            )
        )
    return runs


def _patch_runs(monkeypatch, x_state):
    monkeypatch.setattr(
        spice_backend, "run_netlists", lambda texts, **kw: _fake_runs(CIRC, x_state)
    )


def test_op_with_a_node_at_1e32_is_ngspice_not_converged(monkeypatch):
    eq = settle(CIRC, backend="equilibrium")
    x = [v.copy() for v in eq.x]
    x[2][1, 3] = 1e32  # what ngspice leaves in a node it could not solve (exit 0)
    _patch_runs(monkeypatch, tuple(x))
    with pytest.warns(ConvergenceWarning, match="1e\\+32"):
        r = NgspiceBackend(analysis="op").settle(CIRC)
    assert r.status is Status.KCL_RESIDUAL and not r.success
    assert "sample 1" in r.message and r.message.startswith("ngspice did not converge")
    with pytest.raises(ConvergenceError):
        NgspiceBackend(analysis="op", on_failure="raise").settle(CIRC)


def test_op_off_by_a_millivolt_fails_on_its_residual_alone(monkeypatch):
    eq = settle(CIRC, backend="equilibrium")
    x = [v.copy() for v in eq.x]
    x[1][0, 2] += OP_SHIFT_V  # modest voltages: only the KCL residual can tell
    _patch_runs(monkeypatch, tuple(x))
    r = NgspiceBackend(analysis="op", on_failure="return").settle(CIRC)
    assert r.status is Status.KCL_RESIDUAL and "KCL residual" in r.message
    assert "sample 0" in r.message
    gm = residual_max(CIRC, FreeIndex(CIRC), tuple(x))
    assert r.stats["kcl_residual_V"] == pytest.approx(list(gm))
    assert gm[0] > OP_KCL_RTOL and gm[1] <= 1e-9


def test_op_with_a_nan_node_is_non_finite(monkeypatch):
    eq = settle(CIRC, backend="equilibrium")
    x = [v.copy() for v in eq.x]
    x[1][0, 0] = np.nan
    _patch_runs(monkeypatch, tuple(x))
    r = NgspiceBackend(analysis="op", on_failure="return").settle(CIRC)
    assert r.status is Status.NON_FINITE


def test_judge_operating_point_thresholds():
    eq = settle(CIRC, backend="equilibrium")
    fi = FreeIndex(CIRC)
    gm = residual_max(CIRC, fi, eq.x)
    assert judge_operating_point(CIRC, eq.x, gm) == (Status.SUCCESS, "")
    big = [v.copy() for v in eq.x]
    big[3][0, 0] = 2 * OP_MAX_ABS_V  # a clamped node counts too
    assert judge_operating_point(CIRC, tuple(big), gm)[0] is Status.KCL_RESIDUAL
    tol = OP_KCL_RTOL * max(1.0, max(np.abs(v).max() for v in eq.x[:1] + eq.x[1:]))
    assert judge_operating_point(CIRC, eq.x, np.array([0.0, 0.99 * tol]))[0] is Status.SUCCESS
    assert judge_operating_point(CIRC, eq.x, np.array([0.0, 1.01 * tol]))[0] is (
        Status.KCL_RESIDUAL
    )


@needs_ngspice
@pytest.mark.parametrize("level", ["behavioural", "crossbar"])
def test_a_good_op_passes_its_kcl_judgement(level):
    r = NgspiceBackend(analysis="op", level=level, on_failure="raise").settle(CIRC)
    assert r.status is Status.SUCCESS
    assert max(r.stats["kcl_residual_V"]) < 1e-6 < OP_KCL_RTOL
    assert "KCL residual" in r.message


@needs_ngspice
def test_an_op_of_a_different_circuit_is_caught(monkeypatch):
    """ngspice converges, but on a deck whose biases are not the IR's: the op it
    returns is no rest point of the circuit, and the residual says so."""
    import pc_analog.spice.netlist as nl

    shifted = dataclasses.replace(
        CIRC,
        layers=tuple(
            dataclasses.replace(
                L,
                bias=DifferentialPair(
                    L.bias.g_pos_S + 0.05 * CIRC.hardware.g_unit_S, L.bias.g_neg_S
                ),
            )
            if k == 1
            else L
            for k, L in enumerate(CIRC.layers)
        ),
    )
    real = nl.write_netlist
    monkeypatch.setattr(nl, "write_netlist", lambda circuit, **kw: real(shifted, **kw))
    r = NgspiceBackend(analysis="op", on_failure="return").settle(CIRC)
    assert r.status is Status.KCL_RESIDUAL, r.message
    good = NgspiceBackend(analysis="op", on_failure="return").settle(shifted)
    assert good.status is Status.SUCCESS


def test_discrete_divergence_stops_at_once():
    """A step far above ``2 / lambda_max`` overflows within a few hundred steps; the run
    must stop there (NON_FINITE) instead of stepping NaNs until ``n_steps``."""
    net = pa.Network.random([3, 4, 2], "linear", seed=0)
    x_init, clamp = pa.io_state(net, np.ones((1, 3)), np.zeros((1, 2)))
    r = pa.discrete_inference(
        net, x_init, clamp, step_size=1e3, n_steps=20_000, on_failure="return"
    )
    assert r.status is Status.NON_FINITE
    assert r.n_steps < 1000
