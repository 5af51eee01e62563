"""Tests for pc_analog.spice.raw (the raw-file reader) and pc_analog.spice.batch (the runner).

Parser tests build raw files by hand (no ngspice needed).  Tests marked
``ngspice`` run the real binary and compare with analytic oracles.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pc_analog.errors import BackendError, BackendUnavailableError
from pc_analog.spice.batch import find_ngspice_error, run_ngspice_batch
from pc_analog.spice.raw import RawPlot, parse_raw, read_raw

_skip_without_ngspice = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice binary not on PATH"
)


def requires_ngspice(func):
    """Mark a test as needing the ngspice binary and skip it when there is none."""
    return pytest.mark.ngspice(_skip_without_ngspice(func))


# --------------------------------------------------------------------------- helpers


def _raw_bytes(
    plotname: str,
    names: list[str],
    types: list[str],
    values: np.ndarray,
    *,
    binary: bool = True,
    title: str = "synthetic",
    n_points_header: int | None = None,
) -> bytes:
    """Write one plot in ngspice's raw layout (mirrors outitf.c), independent of the parser."""
    values = np.asarray(values)
    is_complex = np.iscomplexobj(values)
    n_points = values.shape[0] if n_points_header is None else n_points_header
    head = (
        f"Title: {title}\n"
        "Date: Mon Jan  1 00:00:00  2024\n"
        f"Plotname: {plotname}\n"
        f"Flags: {'complex' if is_complex else 'real'}\n"
        f"No. Variables: {len(names)}\n"
        f"No. Points: {n_points:<8d}\n"
        "Variables:\n"
    )
    for i, (n, t) in enumerate(zip(names, types, strict=True)):
        head += f"\t{i}\t{n}\t{t}\n"
    head += "Binary:\n" if binary else "Values:\n"
    if binary:
        if is_complex:
            body = np.ascontiguousarray(values, dtype="<c16").tobytes()
        else:
            body = np.ascontiguousarray(values, dtype="<f8").tobytes()
        return head.encode() + body
    out = []
    for p, row in enumerate(values):
        for j, x in enumerate(row):
            txt = f"{x.real:.15e},{x.imag:.15e}" if is_complex else f"{x:.15e}"
            out.append(f"{p}\t\t{txt}\n" if j == 0 else f"\t{txt}\n")
    return head.encode() + "".join(out).encode()


def _tran_values(n: int = 7) -> np.ndarray:
    t = np.linspace(0.0, 1e-3, n)
    return np.column_stack([t, np.exp(-t / 3e-4), -1e-3 * np.exp(-t / 3e-4)])


TRAN_NAMES = ["time", "v(x1_0)", "i(v1)"]
TRAN_TYPES = ["time", "voltage", "current"]


def _plot(plots: list[RawPlot], prefix: str) -> RawPlot:
    (hit,) = [p for p in plots if p.plotname.startswith(prefix)]
    return hit


# --------------------------------------------------------------------------- parser


@pytest.mark.parametrize("binary", [True, False])
def test_parse_two_plots_roundtrip(binary):
    op = np.array([[1.5, -2.0e-3]])
    tran = _tran_values()
    buf = _raw_bytes(
        "Operating Point", ["v(x1_0)", "i(v1)"], ["voltage", "current"], op, binary=binary
    )
    buf += _raw_bytes("Transient Analysis", TRAN_NAMES, TRAN_TYPES, tran, binary=binary)
    plots = parse_raw(buf)
    assert [p.plotname for p in plots] == ["Operating Point", "Transient Analysis"]
    p_op, p_tr = plots
    assert p_op.flags == ("real",) and not p_op.is_complex
    assert p_op.variables == ("v(x1_0)", "i(v1)")
    assert p_op["v(x1_0)"][0] == 1.5 and p_op.data["i(v1)"][0] == -2.0e-3
    assert p_tr.variables == tuple(TRAN_NAMES) and p_tr.var_types == tuple(TRAN_TYPES)
    assert p_tr.values.shape == (7, 3) and p_tr.values.dtype == np.float64
    assert p_tr.n_points == 7 and p_tr.title == "synthetic"
    # %.15e (ngspice's ASCII precision) keeps 16 significant digits.
    rtol = 0.0 if binary else 1e-15
    np.testing.assert_allclose(p_tr.values, tran, rtol=rtol, atol=0)
    np.testing.assert_array_equal(p_tr.data["time"], p_tr.values[:, 0])
    assert not p_tr.values.flags.writeable


@pytest.mark.parametrize("binary", [True, False])
def test_parse_complex(binary):
    f = np.array([1.0, 10.0, 100.0])
    h = 1.0 / (1.0 + 1j * f / 50.0)
    vals = np.column_stack([f + 0j, h, np.ones(3) + 0j])
    plots = parse_raw(
        _raw_bytes(
            "AC Analysis",
            ["frequency", "v(x)", "v(in)"],
            ["frequency", "voltage", "voltage"],
            vals,
            binary=binary,
        )
    )
    (p,) = plots
    assert p.is_complex and p.values.dtype == np.complex128
    np.testing.assert_allclose(p["v(x)"], h, rtol=1e-15)
    np.testing.assert_array_equal(p["frequency"].real, f)


def test_parse_accepts_variables_with_extra_fields_and_command_line():
    buf = _raw_bytes(
        "AC Analysis",
        ["frequency", "v(x)"],
        ["frequency", "voltage"],
        np.array([[1.0 + 0j, 0.5 - 0.5j]]),
    )
    buf = buf.replace(b"\tfrequency\tfrequency\n", b"\tfrequency\tfrequency\tgrid=3\n")
    buf = buf.replace(b"Plotname:", b"Command: ngspice-42, Build whenever\nPlotname:")
    (p,) = parse_raw(buf)
    assert p.variables == ("frequency", "v(x)") and p["v(x)"][0] == 0.5 - 0.5j


@pytest.mark.parametrize("binary", [True, False])
def test_every_truncation_raises_backend_error(binary):
    buf = _raw_bytes("Transient Analysis", TRAN_NAMES, TRAN_TYPES, _tran_values(3), binary=binary)
    parse_raw(buf)  # the whole file is fine
    for cut in range(len(buf)):
        with pytest.raises(BackendError):
            parse_raw(buf[:cut])


def test_truncated_binary_message():
    buf = _raw_bytes("Transient Analysis", TRAN_NAMES, TRAN_TYPES, _tran_values())
    with pytest.raises(BackendError, match="truncated"):
        parse_raw(buf[:-5])


def test_zero_points_placeholder_with_data_is_malformed():
    # An aborted ngspice run leaves "No. Points: 0" but has already streamed data.
    buf = _raw_bytes(
        "Transient Analysis", TRAN_NAMES, TRAN_TYPES, _tran_values(), n_points_header=0
    )
    with pytest.raises(BackendError, match="0 points"):
        parse_raw(buf)


def test_header_without_data_block_is_malformed():
    buf = (
        b"Title: t\nDate: d\nPlotname: Operating Point\nFlags: real\n"
        b"No. Variables: 3\nNo. Points: 0       \nVariables:\n"
    )
    with pytest.raises(BackendError, match="truncated"):
        parse_raw(buf)


@pytest.mark.parametrize(
    "buf",
    [
        b"",
        b"\n\n",
        b"garbage without colon\n",
        b"\x00\x01\x02\xff" * 10,
        b"Title: x\nPlotname: p\nFlags: real\nNo. Variables: two\nNo. Points: 1\n",
        b"Title: x\nPlotname: p\nFlags: weird\nNo. Variables: 1\nNo. Points: 1\n"
        b"Variables:\n\t0\tv(a)\tvoltage\nBinary:\n" + b"\0" * 8,
        b"Title: x\nPlotname: p\nFlags: real\nNo. Variables: 1\nNo. Points: 1\n"
        b"Variables:\n\t5\tv(a)\tvoltage\nBinary:\n" + b"\0" * 8,
        b"Title: x\nPlotname: p\nFlags: real\nNo. Variables: 1\nNo. Points: 1\n"
        b"Variables:\n\t0\tv(a)\tvoltage\nValues:\n0\t\tnot-a-number\n",
        b"Title: x\nPlotname: p\nFlags: real\nNo. Variables: 1\nNo. Points: 2\n"
        b"Variables:\n\t0\tv(a)\tvoltage\nValues:\n0\t\t1.0\n7\t\t2.0\n",
    ],
    ids=[
        "empty",
        "blank",
        "no-colon",
        "binary-junk",
        "bad-int",
        "bad-flags",
        "bad-index",
        "bad-float",
        "bad-point-label",
    ],
)
def test_malformed_inputs_raise_backend_error(buf):
    with pytest.raises(BackendError):
        parse_raw(buf)


def test_random_corruption_never_raises_anything_but_backend_error():
    rng = np.random.default_rng(1234)
    good = _raw_bytes("Operating Point", ["v(a)"], ["voltage"], np.array([[1.0]]), binary=False)
    good += _raw_bytes("Transient Analysis", TRAN_NAMES, TRAN_TYPES, _tran_values(4))
    for _ in range(300):
        buf = bytearray(good)
        for pos in rng.integers(0, len(buf), size=rng.integers(1, 4)):
            buf[pos] = int(rng.integers(0, 256))
        try:
            parse_raw(bytes(buf))
        except BackendError:
            pass


def test_read_raw_missing_file(tmp_path):
    with pytest.raises(BackendError, match="cannot read"):
        read_raw(tmp_path / "nope.raw")


def test_find_ngspice_error_classification():
    # Lines a successful ngspice 39 run prints (measured), plus user text echoes.
    benign = "\n".join(
        [
            "Note: No compatibility mode selected!",
            "Circuit: error analysis of a divider",
            'binary raw file "out.raw"',
            "Doing analysis at TEMP = 27.000000 and TNOM = 27.000000",
            "No. of Data Columns : 2  ",
            "Using transient initial conditions",
            "Initial Transient Solution",
            "error                                   0.5",
            "v1#branch                          -1e-03",
            " Reference value :  2.74643e-12\r Reference value :  6.14304e-12\r",
            "Note: Starting dynamic gmin stepping",
            "Note: Dynamic gmin stepping completed",
            "Note: Transient op started",
            "Note: Transient op finished successfully",
            "No. of Data Rows : 5011",
            "Total analysis time (seconds) = 0.026",
        ]
    )
    assert find_ngspice_error(benign) is None
    fatal = [
        "Warning: singular matrix:  check node v1#branch",
        "doAnalyses: TRAN:  Timestep too small; time = 1e-06, timestep = 1.25e-20: trouble",
        "doAnalyses: iteration limit reached",
        "run simulation(s) aborted",
        "Error on line 4 or its substitute:",
        "Error: circuit not parsed.",
        "DC solution failed -",
    ]
    for line in fatal:
        assert find_ngspice_error(benign, "x\n" + line + "\ny") == line.strip()


def test_missing_binary_raises_unavailable(monkeypatch):
    monkeypatch.setattr("pc_analog.spice.batch.shutil.which", lambda name: None)
    with pytest.raises(BackendUnavailableError):
        run_ngspice_batch("t\nR1 a 0 1\n.op\n.end\n", timeout_s=5)


# --------------------------------------------------------------------------- real ngspice

RC_NETLIST = """rc discharge, tau = 1 ms
R1 x 0 1k
C1 x 0 1u
.ic v(x)=1
.options reltol=1e-6 abstol=1e-12 vntol=1e-9
.tran 1u 5m 0 1u uic
.end
"""


@requires_ngspice
def test_rc_discharge_matches_exponential():
    plots, _out, _err, rc = run_ngspice_batch(RC_NETLIST, timeout_s=30)
    assert rc == 0
    p = _plot(plots, "Transient")
    t, v = p["time"], p["v(x)"]
    # ngspice 39 with uic writes no t=0 sample: the first point is at tstep/100.
    assert np.all(t > 0) and np.all(np.diff(t) > 0)
    assert t[-1] == pytest.approx(5e-3, rel=1e-12)  # reached tstop
    assert np.diff(t).max() <= 1e-6 * (1 + 1e-9)  # max step honoured
    rel = np.abs(v - np.exp(-t / 1e-3)) / np.exp(-t / 1e-3)
    # Required 1e-4; measured max 4.1e-7 (trapezoidal rule, h/tau = 1e-3, 5 tau).
    assert rel.max() < 1e-4
    assert rel.max() < 1e-6


@requires_ngspice
def test_divider_op_matches_analytic():
    net = "divider\nV1 in 0 3\nR1 in out 1k\nR2 out 0 2k\n.op\n.end\n"
    plots, *_ = run_ngspice_batch(net, timeout_s=30)
    (p,) = plots
    assert p.plotname == "Operating Point" and p.n_points == 1
    assert set(p.variables) == {"v(in)", "v(out)", "i(v1)"}
    assert p["v(out)"][0] == pytest.approx(3.0 * 2e3 / 3e3, rel=1e-12)
    assert p["v(in)"][0] == pytest.approx(3.0, rel=1e-15)
    # SPICE sign convention: current flows into the + terminal, so a supplying source is < 0.
    assert p["i(v1)"][0] == pytest.approx(-1e-3, rel=1e-12)


@requires_ngspice
def test_binary_and_ascii_raw_agree():
    base = """rc with source
V1 in 0 dc 1 ac 1
R1 in x 1k
C1 x 0 1u
{opt}
.op
.ac dec 3 10 10k
.tran 10u 2m
.end
"""
    bin_plots, *_ = run_ngspice_batch(base.format(opt=""), timeout_s=30)
    asc_plots, *_ = run_ngspice_batch(base.format(opt=".options filetype=ascii"), timeout_s=30)
    # ngspice 39 orders plots by analysis type (AC, OP, TRAN), not by netlist order.
    assert [p.plotname for p in bin_plots] == [
        "AC Analysis",
        "Operating Point",
        "Transient Analysis",
    ]
    assert [p.plotname for p in asc_plots] == [p.plotname for p in bin_plots]
    for b, a in zip(bin_plots, asc_plots, strict=True):
        assert b.variables == a.variables and b.values.shape == a.values.shape
        assert b.values.dtype == a.values.dtype
        # Same simulation; ASCII is printed with %.15e (16 significant digits), so
        # values agree to <= 5e-16 relative (measured max 3.6e-16), not bit for bit.
        np.testing.assert_allclose(a.values, b.values, rtol=1e-15, atol=1e-300)
    ac = _plot(bin_plots, "AC")
    w = 2 * np.pi * ac["frequency"].real
    np.testing.assert_allclose(ac["v(x)"], 1 / (1 + 1j * w * 1e-3), rtol=1e-9)


@requires_ngspice
@pytest.mark.parametrize(
    ("netlist", "fragment"),
    [
        ("parallel sources\nV1 a 0 1\nV2 a 0 2\nR1 a 0 1k\n.op\n.end\n", "singular matrix"),
        # ngspice 39 exits 0 here (gmin/transient-op fallback), only the message tells.
        (
            "floating cap node\nV1 a 0 1\nR1 a b 1k\nC1 b c 1u\nC2 c 0 1u\n.op\n.end\n",
            "singular matrix",
        ),
        (
            "no solution after 1us\nR1 a 0 1\nB1 a 0 i = v(a)*v(a) + (time > 1u ? 1 : -1)\n"
            ".tran 10n 2u\n.end\n",
            "Timestep too small",
        ),
        ("syntax\nV1 a 0 1\nR1 a 0\nQ7 a b\n.op\n.end\n", "Error on line"),
    ],
    ids=["parallel-V", "floating-cap", "timestep-too-small", "syntax"],
)
def test_ngspice_failures_raise_backend_error(netlist, fragment):
    with pytest.raises(BackendError, match=fragment):
        run_ngspice_batch(netlist, timeout_s=30)


@requires_ngspice
def test_error_word_in_title_or_node_is_not_a_failure(tmp_path):
    net = "error budget\nV1 in 0 1\nR1 in error 1k\nR2 error 0 1k\n.op\n.end\n"
    plots, out, err, rc = run_ngspice_batch(net, timeout_s=30, workdir=tmp_path)
    assert rc == 0 and "error budget" in out
    assert plots[0]["v(error)"][0] == pytest.approx(0.5, rel=1e-12)
    assert plots[0].title == "error budget"
    assert (tmp_path / "in.cir").is_file() and (tmp_path / "out.raw").is_file()


@requires_ngspice
def test_timeout_kills_ngspice():
    net = "endless\nR1 x 0 1k\nC1 x 0 1u\n.ic v(x)=1\n.tran 1n 100 0 1n uic\n.end\n"
    with pytest.raises(BackendError, match="timed out"):
        run_ngspice_batch(net, timeout_s=0.5)


@requires_ngspice
def test_netlist_without_analysis_raises():
    with pytest.raises(BackendError, match="no raw file"):
        run_ngspice_batch("nothing to do\nR1 a 0 1k\n.end\n", timeout_s=30)
