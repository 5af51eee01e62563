"""The ngspice backend against independent oracles.

Oracles: the equilibrium solver (damped Newton on the energy) and the ode backend
(scipy's ``solve_ivp`` on the same KCL) for the rest point, the transient and the
settling time; the behavioural deck for the crossbar deck; the subprocess path for the
shared-library path; closed-form RC/divider circuits for output parsing; ngspice's own
failures for the error classification; and /proc/self/status for memory.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import pc_analog as pa
from pc_analog.circuit.ir import Circuit, CircuitLayer, DifferentialPair, compile_network
from pc_analog.cli.main import main
from pc_analog.errors import BackendError, BackendUnavailableError, InvalidInputError
from pc_analog.io.formats import network_to_dict
from pc_analog.solvers.ode import OdeBackend
from pc_analog.spice import ngspice as ngs
from pc_analog.spice import runner as spice_runner
from pc_analog.spice import shared as spice_shared
from pc_analog.spice.netlist import write_netlist
from pc_analog.spice.ngspice import NgspiceBackend, SpiceRun, check_netlist, run_netlist
from pc_analog.spice.sandbox import strip_run_commands

# ------------------------------------------------------------------ tolerances
#: ngspice's rest point (.op, end of .tran) vs the equilibrium solver and the ode
#: backend: max |diff| / max |x|.
EQ_RTOL = 1e-6
#: ode vs ngspice trajectories at the ode's time points: max |diff| / max |x(0) - x*|.
TRAJ_RTOL = 1e-3
#: SPEC settling time, ode vs ngspice.
SETTLING_RTOL = 1e-2
#: shared library vs subprocess on the same deck: max |diff| / max |value|.
MODES_RTOL = 1e-9
#: Closed-form circuits (divider, RC) read back through either path.
CIRCUIT_RTOL = 1e-6
#: RSS growth allowed over MEM_RUNS consecutive shared-mode runs.  Measured on this
#: machine: 0.2 MB per 1000 runs of a 108-point RC transient (with destroy + remcirc;
#: without them the notes measured ~36 MB per 1000 runs).
MEM_RUNS = 1000
MEM_BOUND_MB = 20.0

NGSPICE = shutil.which("ngspice")


def needs_ngspice(test):
    """Mark a test that runs the ngspice binary; skip it when there is none."""
    skip = pytest.mark.skipif(NGSPICE is None, reason="ngspice binary not on PATH")
    return pytest.mark.ngspice(skip(test))


_SHARED = None


def _shared_ok() -> tuple[bool, str]:
    global _SHARED
    if _SHARED is None:
        _SHARED = ngs.shared_available()
    return _SHARED


def skip_unless_shared(mode: str = "shared") -> None:
    """Skip a shared-mode test when libngspice cannot be loaded in this process."""
    if mode == "shared":
        ok, why = _shared_ok()
        if not ok:
            pytest.skip(f"ngspice shared library unavailable: {why}")


def rel(a, b) -> float:
    """max |a - b| / max |b| over every layer."""
    num = max(np.abs(np.asarray(u) - np.asarray(v)).max() for u, v in zip(a, b))
    den = max(np.abs(np.asarray(v)).max() for v in b)
    return float(num / den)


def rss_mb() -> float:
    m = re.search(r"VmRSS:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
    return int(m.group(1)) / 1024.0


# ------------------------------------------------------------------ circuits
def _mid_clamp(sizes, layer_units: dict[int, list[int]]):
    masks = [np.zeros(n, dtype=bool) for n in sizes]
    for l, units in layer_units.items():
        masks[l][units] = True
    return pa.Clamp(tuple(masks))


def make_case(name: str) -> Circuit:
    """Seeded random networks with diagonal precisions, batch 2."""
    rng = np.random.default_rng(100 + CASES.index(name))
    if name == "tanh-target":
        net = pa.Network.random(
            [3, 5, 4, 2], "tanh", precisions=[1.0, [0.5, 1.0, 2.0, 3.0], [0.7, 1.3]], seed=11
        )
        return compile_network(net, rng.normal(size=(2, 3)), rng.normal(size=(2, 2)))
    if name == "sigmoid-mid-clamp":
        # no target; two units of layer 2 clamped, so layer 1 and the output must move
        sizes = [4, 6, 5, 3]
        net = pa.Network.random(
            sizes, "sigmoid", precisions=[[1.0] * 3 + [2.0] * 3, 0.5, 1.0], seed=12, gain=2.0
        )
        clamp = _mid_clamp(sizes, {0: [0, 1, 2, 3], 2: [0, 4]})
        values = tuple(rng.normal(size=(2, n)) for n in sizes)
        return compile_network(net, clamp=clamp, values=values)
    if name == "linear-mid-clamp":
        sizes = [3, 5, 4, 2]
        net = pa.Network.random(
            sizes, "linear", precisions=[[2.0, 1, 1, 0.5, 1], 1.5, 0.8], seed=13
        )
        clamp = _mid_clamp(sizes, {0: [0, 1, 2], 2: [1, 3]})
        values = tuple(rng.normal(size=(2, n)) for n in sizes)
        return compile_network(net, clamp=clamp, values=values)
    if name == "tanh-mid-clamp-target":
        sizes = [2, 4, 4, 3]
        net = pa.Network.random(
            sizes, "tanh", precisions=[1.0, [0.5, 2, 1, 1], 1.2], seed=14, gain=1.5
        )
        clamp = _mid_clamp(sizes, {0: [0, 1], 1: [2], 3: [0, 1, 2]})
        values = tuple(rng.normal(size=(2, n)) for n in sizes)
        return compile_network(net, clamp=clamp, values=values)
    raise KeyError(name)


CASES = ["tanh-target", "sigmoid-mid-clamp", "linear-mid-clamp", "tanh-mid-clamp-target"]
_CACHE: dict = {}


def results(name: str) -> dict:
    """Every backend's answer for one case, computed once per test session."""
    if name not in _CACHE:
        circ = make_case(name)
        eq = pa.settle(circ, backend="equilibrium", gtol=1e-13)
        assert eq.success
        _CACHE[name] = {
            "circuit": circ,
            "equilibrium": eq,
            "ode": OdeBackend(rtol=1e-10, atol=1e-13).settle(circ),
            "op": pa.settle(circ, backend="ngspice", analysis="op"),
            "tran": pa.settle(circ, backend="ngspice", analysis="tran"),
        }
    return _CACHE[name]


# ------------------------------------------------------------------ equilibrium
@needs_ngspice
@pytest.mark.parametrize("name", CASES)
def test_op_and_tran_rest_where_equilibrium_and_ode_rest(name):
    r = results(name)
    eq, ode, op, tran = r["equilibrium"].x, r["ode"].x, r["op"].x, r["tran"].x
    assert r["op"].success and r["tran"].success and r["ode"].success
    for got in (op, tran):
        assert rel(got, eq) <= EQ_RTOL
        assert rel(got, ode) <= EQ_RTOL
    # the equilibrium the backend reports is the solver's
    assert rel(r["tran"].x_eq, eq) <= 1e-12
    # grad_max is small at the rest point, and clamped units are exactly their clamps
    assert np.all(r["op"].grad_max <= 1e-6) and np.all(r["tran"].grad_max <= 1e-6)
    circ = r["circuit"]
    for l, m in enumerate(circ.clamp.masks):
        np.testing.assert_array_equal(tran[l][:, m], circ.x_init[l][:, m])
        np.testing.assert_array_equal(op[l][:, m], circ.x_init[l][:, m])


@needs_ngspice
@pytest.mark.parametrize("name", CASES)
def test_transient_matches_ode_at_matched_times(name):
    r = results(name)
    ode, ng, circ = r["ode"], r["tran"], r["circuit"]
    x_star = r["equilibrium"].x
    scale = max(np.abs(ode.trajectory[l][0] - x_star[l]).max() for l in range(len(x_star)))
    t = ode.t[ode.t <= ng.t[-1]]
    err = 0.0
    for l in range(len(circ.sizes)):
        for b in range(circ.batch):
            for i in range(circ.sizes[l]):
                v = np.interp(t, ng.t, ng.trajectory[l][:, b, i])
                err = max(err, float(np.abs(v - ode.trajectory[l][: t.size, b, i]).max()))
    assert err / scale <= TRAJ_RTOL
    np.testing.assert_allclose(ng.settling_time_s, ode.settling_time_s, rtol=SETTLING_RTOL)
    # result fields of a time-domain backend
    assert ng.t[0] == 0.0 and np.all(np.diff(ng.t) > 0)
    assert ng.tau_s == pytest.approx(circ.tau_s)
    assert ng.energy_trace.shape == (ng.t.size, circ.batch)
    for l, n in enumerate(circ.sizes):
        assert ng.trajectory[l].shape == (ng.t.size, circ.batch, n)
        np.testing.assert_allclose(ng.trajectory[l][0], circ.x_init[l], rtol=0, atol=1e-9)
    # the energy never rises along the gradient flow (up to ngspice's tolerances)
    assert np.all(np.diff(ng.energy_trace, axis=0) <= 1e-9)
    assert ng.stats["level"] == "behavioural" and ng.stats["analysis"] == "tran"
    assert len(ng.stats["ngspice_points"]) == circ.batch


@needs_ngspice
def test_feedforward_start_without_target_is_at_rest():
    """No target and no clamp above a free unit: the start is the equilibrium."""
    net = pa.Network.random([4, 6, 3], "sigmoid", precisions=[1.0, [0.5, 1, 2]], seed=3)
    circ = compile_network(net, np.random.default_rng(3).normal(size=(2, 4)))
    res = pa.settle(circ, backend="ngspice")
    assert res.success
    np.testing.assert_array_equal(res.settling_time_s, [0.0, 0.0])
    assert rel(res.x, circ.x_init) <= EQ_RTOL
    for l in range(len(circ.sizes)):
        assert np.abs(res.trajectory[l] - circ.x_init[l]).max() <= 1e-9


@needs_ngspice
def test_crossbar_level_rests_where_behavioural_does():
    r = results("tanh-target")
    circ = r["circuit"]
    op = pa.settle(circ, backend="ngspice", level="crossbar", analysis="op")
    tran = pa.settle(circ, backend="ngspice", level="crossbar", analysis="tran")
    for got in (op.x, tran.x):
        assert rel(got, r["op"].x) <= EQ_RTOL
        assert rel(got, r["equilibrium"].x) <= EQ_RTOL
    assert tran.stats["level"] == "crossbar"


@needs_ngspice
def test_asymmetric_feedback_rests_where_the_ode_does():
    """Feedback crossbar != forward^T: no energy, so the ode's end point is the oracle."""
    base = make_case("tanh-target")
    g = base.hardware.g_unit_S
    layers = []
    for k, L in enumerate(base.layers):
        W = base.forward_weights(k + 1)
        skew = np.random.default_rng(k).uniform(0.8, 1.2, size=W.T.shape)
        layers.append(
            CircuitLayer(
                L.forward, DifferentialPair.ideal(W.T * skew, g), L.bias, L.g_spring_S, L.activation
            )
        )
    circ = Circuit(base.hardware, tuple(layers), base.clamp, base.x_init)
    assert not circ.symmetric
    ode = OdeBackend(rtol=1e-10, atol=1e-13, t_max_s=200 * circ.tau_s).settle(circ)
    op = pa.settle(circ, backend="ngspice", analysis="op")
    tran = pa.settle(circ, backend="ngspice", analysis="tran")
    assert rel(op.x, ode.x) <= EQ_RTOL
    assert rel(tran.x, ode.x) <= EQ_RTOL
    assert rel(tran.x_eq, tran.x) == 0.0  # no solver: the final state is the reference


@needs_ngspice
def test_uic_deck_gets_the_initial_condition_prepended(monkeypatch):
    """With ``uic`` ngspice writes no t = 0 point; the backend adds x(0) itself."""
    import pc_analog.spice.netlist as nl

    real = nl.write_netlist

    def with_uic(*args, **kw):
        text = real(*args, **kw)
        return re.sub(r"^(\.tran .*)$", r"\1 uic", text, flags=re.M)

    monkeypatch.setattr(nl, "write_netlist", with_uic)
    circ = make_case("linear-mid-clamp")
    res = pa.settle(circ, backend="ngspice", mode="subprocess")
    assert res.t[0] == 0.0 and res.t[1] > 0
    for l in range(len(circ.sizes)):
        np.testing.assert_array_equal(res.trajectory[l][0], circ.x_init[l])
    assert rel(res.x, results("linear-mid-clamp")["equilibrium"].x) <= EQ_RTOL
    assert np.all(np.isfinite(res.settling_time_s))


# ------------------------------------------------------------------ two paths, one answer
def _max_rel(a: SpiceRun, b: SpiceRun) -> float:
    worst = 0.0
    assert list(a.plots) == list(b.plots)
    for kind in a.plots:
        assert list(a.plots[kind]) == list(b.plots[kind])
        for name, va in a.plots[kind].items():
            vb = b.plots[kind][name]
            assert va.shape == vb.shape, (kind, name)
            scale = max(float(np.abs(vb).max()), 1e-300)
            worst = max(worst, float(np.abs(va - vb).max()) / scale)
    return worst


@needs_ngspice
def test_shared_and_subprocess_give_the_same_numbers():
    skip_unless_shared()
    circ = make_case("tanh-mid-clamp-target")
    for analysis in ("op", "tran"):
        text = write_netlist(circ, sample=1, analysis=analysis)
        shared = run_netlist(text, mode="shared")
        sub = run_netlist(text, mode="subprocess")
        assert (shared.mode, sub.mode) == ("shared", "subprocess")
        assert _max_rel(shared, sub) <= MODES_RTOL
    assert shared.time[-1] == sub.time[-1]
    assert set(shared.voltages) == {
        f"x{l}_{i}" for l, n in enumerate(circ.sizes) for i in range(n)
    } | {f"e{l}_{j}" for l in (1, 2, 3) for j in range(circ.sizes[l])}
    # and the backend in both modes
    a = pa.settle(circ, backend="ngspice", mode="shared", analysis="op")
    b = pa.settle(circ, backend="ngspice", mode="subprocess", analysis="op")
    assert a.stats["mode"] == "shared" and b.stats["mode"] == "subprocess"
    assert rel(a.x, b.x) <= MODES_RTOL


DIVIDER = """error analysis of a divider
V1 in 0 DC 1
R1 in error_0 1k
R2 error_0 0 3k
C1 error_0 0 1n
.tran 1u 100u
.end
"""


@needs_ngspice
def test_error_in_title_and_node_names_is_not_a_failure_in_shared_mode():
    """PySpice 1.5 raises on any stdout line containing "error"; the backend must not."""
    skip_unless_shared()
    run = run_netlist(DIVIDER, mode="shared")
    assert run.mode == "shared"
    assert run.voltages["error_0"][-1] == pytest.approx(0.75, rel=CIRCUIT_RTOL)
    assert run.t_end_s == pytest.approx(1e-4)
    op = run_netlist(DIVIDER.replace(".tran 1u 100u", ".op"), mode="shared")
    assert op.op["error_0"] == pytest.approx(0.75, rel=CIRCUIT_RTOL)
    assert op.op["v1#branch"] == pytest.approx(-0.25e-3, rel=CIRCUIT_RTOL)
    assert op.time is None and dict(op.voltages) == {}


@needs_ngspice
@pytest.mark.parametrize("mode", ["shared", "subprocess"])
def test_rc_decay_read_back(mode):
    skip_unless_shared(mode)
    text = "rc\nR1 x 0 1k\nC1 x 0 1u\n.ic v(x)=1\n.options reltol=1e-6\n.tran 1u 5m 0 1u\n.end\n"
    run = run_netlist(text, mode=mode)
    assert run.mode == mode and run.op is None
    np.testing.assert_allclose(run.voltages["x"], np.exp(-run.time / 1e-3), rtol=1e-5, atol=0)
    assert run.time[0] == 0.0 and run.t_end_s == pytest.approx(5e-3)


# ------------------------------------------------------------------ failures
PARALLEL_SOURCES = "two sources\nV1 a 0 1\nV2 a 0 2\nR1 a 0 1k\n.op\n.end\n"
SYNTAX_ERROR = "bad deck\nV1 a 0 1\nQ1 a b c nomodel\n.op\n.end\n"
RUNAWAY = (
    "relaxation\nC1 a 0 1p\nB1 0 a i = v(a) > 0.5 ? -1 : 1\n.ic v(a)=0\n"
    ".options norefvalue\n.tran 1n 1u uic\n.end\n"
)


@needs_ngspice
@pytest.mark.parametrize("mode", ["shared", "subprocess"])
@pytest.mark.parametrize(
    "text, needle",
    [
        (PARALLEL_SOURCES, "singular matrix"),
        (PARALLEL_SOURCES.replace(".op", ".tran 1u 10u"), "singular matrix"),
        (SYNTAX_ERROR, "error on line"),
    ],
)
def test_ngspice_failures_raise_backend_error(mode, text, needle):
    skip_unless_shared(mode)
    with pytest.raises(BackendError) as info:
        run_netlist(text, mode=mode)
    msg = str(info.value)
    assert needle in msg.splitlines()[0].lower()  # ngspice's report follows, whole
    # the shared instance is still usable afterwards
    ok = run_netlist(DIVIDER.replace(".tran 1u 100u", ".op"), mode=mode)
    assert ok.op["error_0"] == pytest.approx(0.75)


@needs_ngspice
@pytest.mark.parametrize("mode", ["shared", "subprocess"])
def test_timeout_halts_a_runaway_simulation(mode):
    skip_unless_shared(mode)
    with pytest.raises(BackendError, match="timed out"):
        run_netlist(RUNAWAY, mode=mode, timeout_s=0.5)
    ok = run_netlist(DIVIDER, mode=mode)
    assert ok.voltages["error_0"][-1] == pytest.approx(0.75, rel=CIRCUIT_RTOL)


def test_transient_that_stops_short_is_an_error():
    t = np.linspace(0, 1e-6, 11)
    raw = [("tran1", {"time": t, "a": np.ones_like(t)})]
    text = "short\nC1 a 0 1p\n.tran 1n 2u\n.end\n"
    with pytest.raises(BackendError, match="stopped the transient at t = 1e-06 s of 2e-06 s"):
        ngs._assemble(raw, text, "", "", "shared", 0.0, "")
    ok = ngs._assemble(raw, text.replace("2u", "1u"), "", "", "shared", 0.0, "")
    assert ok.t_end_s == 1e-6
    with pytest.raises(BackendError, match="no operating point"):
        ngs._assemble([], "x\nR1 a 0 1\n.op\n.end\n", "", "", "shared", 0.0, "")


def test_spice_numbers():
    for tok, v in [
        ("5m", 5e-3),
        ("2.5e-05", 2.5e-5),
        ("1MEG", 1e6),
        ("10ns", 1e-8),
        ("3u", 3e-6),
        ("1k", 1e3),
        (".5p", 0.5e-12),
        ("7", 7.0),
        ("2mil", 50.8e-6),
    ]:
        assert ngs._spice_number(tok) == pytest.approx(v)
    assert ngs._spice_number("{tstop}") is None


@needs_ngspice
def test_fallback_to_subprocess_when_the_library_cannot_load(monkeypatch):
    def broken():
        raise ngs._SharedUnavailable("libngspice.so: cannot open shared object file")

    monkeypatch.setattr(spice_shared, "_shared_instance", broken)
    for mode in ("auto", "shared"):
        run = run_netlist(DIVIDER, mode=mode)
        assert run.mode == "subprocess"
        assert "cannot open shared object" in run.note
    monkeypatch.setattr(spice_runner.shutil, "which", lambda name: None)
    for mode in ("auto", "shared", "subprocess"):
        with pytest.raises(
            BackendUnavailableError, match="apt-get install ngspice libngspice0-dev"
        ):
            run_netlist(DIVIDER, mode=mode)


def test_large_decks_run_as_subprocess_in_auto_mode(monkeypatch):
    seen = {}
    monkeypatch.setattr(spice_runner.shutil, "which", lambda name: "/usr/bin/ngspice")
    monkeypatch.setattr(
        spice_runner, "_run_subprocess", lambda *a: seen.setdefault("sub", ([], "", ""))
    )
    big = "big\n" + "* filler\n" * (ngs.AUTO_MAX_LINES + 1) + ".end\n"
    run = run_netlist(big, mode="auto")
    assert run.mode == "subprocess" and "sub" in seen


def test_bad_options_are_invalid_input():
    with pytest.raises(InvalidInputError):
        run_netlist(DIVIDER, mode="parallel")
    with pytest.raises(InvalidInputError):
        run_netlist(DIVIDER, timeout_s=0)
    for kw in (
        {"level": "gate"},
        {"analysis": "ac"},
        {"mode": "x"},
        {"settle_band": 1.5},
        {"t_stop_s": -1.0},
        {"timeout_s": float("inf")},
    ):
        with pytest.raises(InvalidInputError):
            NgspiceBackend(**kw)


_FRESH_PROCESS = """
import json, sys
from pc_analog.errors import BackendError
from pc_analog.spice.ngspice import run_netlist
out = {}
deck = "q\\nR1 a 0 1k\\nV1 a 0 1\\n.op\\n.end\\n"
r = run_netlist(deck, mode="shared")
out["first"] = [r.mode, r.op["v1#branch"]]
try:
    run_netlist(deck.replace(".end", ".control\\nquit\\n.endc\\n.end"), mode="shared")
except BackendError as exc:
    out["quit"] = str(exc)
r = run_netlist(deck, mode="shared")
out["after"] = [r.mode, r.op["v1#branch"], r.note]
print(json.dumps(out))
"""


@needs_ngspice
def test_shared_mode_ignores_spiceinit_and_survives_quit(tmp_path):
    """In a fresh process: ./.spiceinit is not sourced (ngspice runs it at library
    initialisation, shell included); a 'quit' retires shared mode without crashing."""
    import subprocess
    import sys

    skip_unless_shared()
    marker = tmp_path / "spiceinit_ran"
    (tmp_path / ".spiceinit").write_text(f"shell touch {marker}\n")
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not marker.exists()
    assert out["first"] == ["shared", pytest.approx(-1e-3)]
    assert "exited" in out["quit"]
    assert out["after"][:2] == ["subprocess", pytest.approx(-1e-3)]
    assert "cannot be restarted" in out["after"][2]


# ------------------------------------------------------------------ memory and speed
def _shared_runs(n: int):
    """``n`` shared-mode runs of a small RC deck after a warm-up: (last run, RSS growth in
    MB)."""
    text = "rc mem\nR1 x 0 1k\nC1 x 0 1u\n.ic v(x)=1\n.tran 10u 1m 0 10u\n.end\n"
    for _ in range(5):  # warm up allocator and library
        run_netlist(text, mode="shared")
    before = rss_mb()
    for _ in range(n):
        run = run_netlist(text, mode="shared")
    return run, rss_mb() - before


@needs_ngspice
def test_shared_mode_memory_stays_flat():
    skip_unless_shared()
    run, growth = _shared_runs(MEM_RUNS)
    assert run.mode == "shared" and run.time.size > 100
    assert growth < MEM_BOUND_MB, f"RSS grew {growth:.1f} MB over {MEM_RUNS} runs"


# ------------------------------------------------------------------ safety
def _write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


HEAD = "title\nV1 a 0 1\nR1 a 0 1k\n"
TAIL = ".op\n.end\n"


@pytest.mark.parametrize(
    "body, line, needle",
    [
        (".control\necho hi\n.endc\n", 4, ".control"),
        ("  .CONTROL\n  ECHO hi\n  .ENDC\n", 4, ".control"),
        ("\t.Control\n.endc\n", 4, ".control"),
        (".endc\n", 4, ".endc"),
        (".exec\necho hi\n.endc\n", 4, ".exec"),
        ("*# shell touch pwned\n", 4, "*#"),
        ("   *#echo hi\n", 4, "*#"),
        ("shell touch pwned\n", 4, "shell"),
        ("  SYSTEM rm -rf x\n", 4, "shell"),
        ("+ shell touch pwned\n", 4, "shell"),
        (".include /etc/passwd\n", 4, "outside"),
        (".INCLUDE '/etc/passwd'\n", 4, "outside"),
        ('  .Inc "/etc/hostname"\n', 4, "outside"),
        (".lib /etc/passwd tt\n", 4, "outside"),
        (".LIB '/etc/passwd' tt\n", 4, "outside"),
        (".include ../outside.cir\n", 4, "outside"),
        (".include sub/../../outside.cir\n", 4, "outside"),
        (".include\n+ /etc/passwd\n", 4, "without a file name"),  # as ngspice reads it
        (".include ~/.bashrc\n", 4, "outside"),
        (".include\n", 4, "without a file name"),
        (".include missing.inc\n", 4, "no such file"),
    ],
)
def test_unsafe_netlists_are_refused(tmp_path, body, line, needle):
    folder = tmp_path / "deck"
    folder.mkdir()
    _write(tmp_path, "outside.cir", "R9 a 0 1k\n")
    (folder / "sub").mkdir()
    with pytest.raises(InvalidInputError) as info:
        check_netlist(HEAD + body + TAIL, folder)
    msg = str(info.value)
    assert "\n" not in msg and f"line {line}" in msg and needle in msg.lower()


def test_ng_script_and_first_line_tricks_are_refused(tmp_path):
    for text in ("*ng_script\nshell touch x\n", "  *NG_SCRIPT\necho\n", "\ufeff*ng_script\n"):
        with pytest.raises(InvalidInputError, match="line 1: '\\*ng_script'"):
            check_netlist(text, tmp_path)
    # a title line is checked too
    with pytest.raises(InvalidInputError, match="line 1"):
        check_netlist(".control\nR1 a 0 1\n.endc\n.end\n", tmp_path)
    # and lines after .end (ngspice still reads *# lines there)
    with pytest.raises(InvalidInputError, match="line 5"):
        check_netlist(HEAD + ".end\n*# shell touch x\n", tmp_path)


def test_symlink_and_nested_include_escapes_are_refused(tmp_path):
    folder = tmp_path / "deck"
    folder.mkdir()
    secret = _write(tmp_path, "secret.inc", "R9 a 0 1k\n")
    (folder / "link.inc").symlink_to(secret)
    with pytest.raises(InvalidInputError, match="line 4: .include 'link.inc' points outside"):
        check_netlist(HEAD + ".include link.inc\n" + TAIL, folder)
    _write(folder, "inner.inc", "R2 a 0 1k\n.include ../secret.inc\n")
    with pytest.raises(InvalidInputError, match="inner.inc line 2: .include '../secret.inc'"):
        check_netlist(HEAD + ".include inner.inc\n" + TAIL, folder)
    _write(folder, "ctl.inc", "R2 a 0 1k\n.control\nshell touch x\n.endc\n")
    with pytest.raises(InvalidInputError, match="ctl.inc line 2: '.control'"):
        check_netlist(HEAD + ".include ctl.inc\n" + TAIL, folder)
    with pytest.raises(InvalidInputError, match="no folder"):
        check_netlist(HEAD + ".include inner.inc\n" + TAIL, None)


def test_allow_control_lets_control_through_but_never_shell(tmp_path):
    harmless = HEAD + TAIL.replace(".end", ".control\necho hello\n.endc\n.end")
    assert check_netlist(harmless, tmp_path, allow_control=True) == harmless
    for bad in (
        ".control\nshell touch x\n.endc\n",
        ".control\necho a ; Shell touch x\n.endc\n",
        ".control\npre_shell touch x\n.endc\n",
        ".control\nalias s shell\n.endc\n",
        "*# echo a; system x\n",
    ):
        with pytest.raises(InvalidInputError, match=r"command '(shell|pre_shell|alias|system)'"):
            check_netlist(HEAD + bad + TAIL, tmp_path, allow_control=True)
    with pytest.raises(InvalidInputError, match="outside"):
        check_netlist(HEAD + ".include /etc/passwd\n" + TAIL, tmp_path, allow_control=True)


def test_pc_analog_decks_pass_unchanged():
    circ = make_case("tanh-target")
    for level in ("behavioural", "crossbar"):
        for analysis in ("op", "tran"):
            text = write_netlist(circ, level=level, analysis=analysis)
            assert "* generator: pc-analog" in text
            # only pc-analog's own run commands (for a plain ngspice -b) are removed
            bare = write_netlist(circ, level=level, analysis=analysis, run_commands=False)
            assert check_netlist(bare, None) == bare
            assert check_netlist(text, None) == strip_run_commands(text) != text


@needs_ngspice
@pytest.mark.parametrize("mode", ["shared", "subprocess"])
def test_safe_include_inside_the_folder_runs_from_any_directory(tmp_path, monkeypatch, mode):
    skip_unless_shared(mode)
    folder = tmp_path / "deck dir"
    _write(folder, "parts/r2.inc", "* parts\nR2 a 0 1k\n.include more.inc\n")
    _write(folder, "parts/more.inc", "R3 a 0 1k\n")
    safe = check_netlist(HEAD + ".include parts/r2.inc\n" + TAIL, folder)
    assert "R2 a 0 1k\n*\nR3 a 0 1k" in safe and ".inc" not in safe.lower()  # flattened
    # .lib with a section (ngspice 39 cannot read .lib file names with spaces)
    plain = tmp_path / "plain"
    _write(plain, "parts/models.lib", ".lib tt\nR4 a 0 1k\n.endl tt\n.lib ff\nR4 a 0 1\n.endl\n")
    lib = check_netlist(HEAD + ".LIB 'parts/../parts/models.lib' tt\n" + TAIL, plain)
    assert "R4 a 0 1k" in lib and "R4 a 0 1\n" not in lib and ".lib" not in lib.lower()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = run_netlist(safe, mode=mode)
    assert run.op["v1#branch"] == pytest.approx(-3e-3, rel=CIRCUIT_RTOL)  # three 1k in parallel
    run = run_netlist(lib, mode=mode)
    assert run.op["v1#branch"] == pytest.approx(-2e-3, rel=CIRCUIT_RTOL)  # R1 and the tt R4


@needs_ngspice
@pytest.mark.parametrize("mode", ["shared", "subprocess"])
def test_a_deck_that_fails_to_load_is_a_backend_error(tmp_path, mode):
    skip_unless_shared(mode)
    folder = tmp_path / "with space"
    _write(folder, "m.lib", ".lib tt\nR4 a 0 1k\n.endl tt\n")
    # flattened, a library in a folder with a space (which ngspice 39 cannot name) runs
    flat = check_netlist(HEAD + ".lib m.lib tt\n" + TAIL, folder)
    assert run_netlist(flat, mode=mode).op["v1#branch"] == pytest.approx(-2e-3, rel=CIRCUIT_RTOL)
    text = HEAD + f".lib {folder / 'm.lib'} tt\n" + TAIL  # unchecked: ngspice reads it
    with pytest.raises(BackendError, match="(?i)could not find library file"):
        run_netlist(text, mode=mode)
    ok = run_netlist(DIVIDER, mode=mode)  # the shared instance survived
    assert ok.voltages["error_0"][-1] == pytest.approx(0.75, rel=CIRCUIT_RTOL)


# ------------------------------------------------------------------ command line
@pytest.fixture()
def deck_files(tmp_path):
    net = pa.Network.random([3, 5, 4, 2], "tanh", precisions=[1.0, [0.5, 1, 2, 3], 0.7], seed=5)
    x0, y = [0.5, -1.0, 0.25], [0.3, -0.2]
    (tmp_path / "net.json").write_text(json.dumps(network_to_dict(net)))
    (tmp_path / "x.json").write_text(json.dumps(x0))
    (tmp_path / "y.json").write_text(json.dumps(y))
    circ = compile_network(net, np.array([x0]), np.array([y]))
    eq = pa.settle(circ, backend="equilibrium", gtol=1e-13).x
    return tmp_path, circ, eq


@needs_ngspice
@pytest.mark.parametrize("analysis", ["op", "tran"])
@pytest.mark.parametrize("mode", ["auto", "subprocess"])
def test_simulate_json_names_spec_nodes_at_equilibrium(capsys, deck_files, analysis, mode):
    folder, circ, eq = deck_files
    out = folder / "out.cir"
    args = [
        "compile",
        str(folder / "net.json"),
        "--input",
        str(folder / "x.json"),
        "--target",
        str(folder / "y.json"),
        "--analysis",
        analysis,
        "-o",
        str(out),
    ]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--json", "--mode", mode]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["analysis"] == analysis and d["mode"] in ("shared", "subprocess")
    assert (d["t_end_s"] is None) == (analysis == "op")
    assert d["seconds"] > 0
    expect = {f"x{l}_{i}" for l, n in enumerate(circ.sizes) for i in range(n)}
    assert expect <= set(d["nodes"])
    got = [np.array([d["nodes"][f"x{l}_{i}"] for i in range(n)]) for l, n in enumerate(circ.sizes)]
    assert rel(got, [v[0] for v in eq]) <= EQ_RTOL


@needs_ngspice
def test_simulate_human_output(capsys, tmp_path):
    p = _write(tmp_path, "div.cir", DIVIDER)
    assert main(["simulate", str(p)]) == 0
    out = capsys.readouterr().out
    assert "t = 0.0001 s" in out and re.search(r"error_0\s+0\.75", out)


def test_simulate_refuses_unsafe_netlists_exit_2(capsys, tmp_path):
    marker = tmp_path / "pwned"
    for body in (f"*# shell touch {marker}\n", f".control\nshell touch {marker}\n.endc\n"):
        p = _write(tmp_path, "bad.cir", HEAD + body + TAIL)
        for extra in ([], ["--allow-control"]):
            assert main(["simulate", str(p), *extra]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and re.search(r"netlist line [45]: ", err)
    assert not marker.exists()
    assert main(["simulate", str(tmp_path / "nope.cir")]) == 2


@needs_ngspice
def test_simulate_allow_control_runs_a_harmless_control_block(capsys, tmp_path):
    p = _write(tmp_path, "ctl.cir", HEAD + ".op\n.control\necho hello\n.endc\n.end\n")
    assert main(["simulate", str(p), "--json"]) == 2
    capsys.readouterr()
    assert main(["simulate", str(p), "--json", "--allow-control"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] == {"a": 1.0}


@needs_ngspice
@pytest.mark.parametrize(
    "text, needle", [(PARALLEL_SOURCES, "singular matrix"), (SYNTAX_ERROR, "Error on line")]
)
def test_simulate_ngspice_failure_exit_3(capsys, tmp_path, text, needle):
    p = _write(tmp_path, "fail.cir", text)
    assert main(["simulate", str(p)]) == 3
    err = capsys.readouterr().err
    assert needle in err.splitlines()[0]
    assert err.count("\n") >= 3  # ngspice's report is passed through whole


@needs_ngspice
def test_settle_cli_ngspice_backend(capsys, deck_files):
    folder, circ, eq = deck_files
    base = [
        "settle",
        str(folder / "net.json"),
        "--input",
        str(folder / "x.json"),
        "--target",
        str(folder / "y.json"),
        "--backend",
        "ngspice",
        "--json",
    ]
    assert main(base) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["backend"] == "ngspice" and d["converged"] is True
    assert d["tau_s"] == pytest.approx(circ.tau_s)
    assert 0 < d["settling_time_s"] < d["stats"]["t_end_s"]
    assert rel([np.array(v) for v in d["x"]], [v[0] for v in eq]) <= EQ_RTOL
    assert main(base + ["--level", "crossbar", "--ngspice-mode", "subprocess"]) == 0
    d2 = json.loads(capsys.readouterr().out)
    assert d2["stats"]["level"] == "crossbar" and d2["stats"]["mode"] == "subprocess"
    assert rel([np.array(v) for v in d2["x"]], [v[0] for v in eq]) <= EQ_RTOL
    np.testing.assert_allclose(d2["settling_time_s"], d["settling_time_s"], rtol=SETTLING_RTOL)
