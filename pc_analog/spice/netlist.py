"""The SPICE backend's front half: a circuit IR written as an ngspice netlist.

:func:`write_netlist` turns one sample of a :class:`~pc_analog.circuit.ir.Circuit`
into a self-contained ngspice deck (SPEC section 3): it runs as it is under
``ngspice -b -r out.raw deck.cir`` with no file beside it, and saves the
activity nodes ``x<l>_<i>`` and the error nodes ``e<l>_<i>``.  Voltages are
activities one to one (1 V = 1 unit of activity).

The element lines are the circuit's inventory
(:meth:`~pc_analog.circuit.ir.Circuit.inventory`): each element kind writes its
own text, and which elements exist (the counting rule) is decided there, once,
for the netlist, the graph views and the cost model alike.

Two levels describe the same physics (DESIGN "The physics mapping"):

``"behavioural"``
    The exact PC dynamics with ideal behavioural sources.  Free unit: a
    capacitor ``C`` at ``x<l>_<i>``; clamped unit: a DC voltage source.
    Prediction ``m<l>_<j> = sum_i W_ji phi(v(x<l-1>_i)) + b_j`` (B source);
    spring: a resistor ``1 / (pi_j g0)`` from ``x<l>_<j>`` to ``m<l>_<j>`` (free
    units only); error ``e<l>_<j> = v(x<l>_<j>) - v(m<l>_<j>)`` (B source);
    feedback: a B current source injecting
    ``g0 phi'(v(x<l-1>_i)) sum_j Wfb_ij pi_j v(e<l>_<j>)`` into every free
    ``x<l-1>_<i>``.  Sums of more than 32 terms are split into partial sums at
    nodes ``pm<l>_<j>_<k>`` / ``pf<l-1>_<i>_<k>`` (ngspice parses a B source in
    time quadratic in its number of inputs).  KCL at a free node is then

        C dx/dt = -pi g0 (x - mu) + g0 phi'(x) Wfb^T (pi eps) = -g0 dF/dx

    (the last equality when ``Wfb = W^T``), i.e. PC inference with ``tau = C/g0``.

``"crossbar"``
    The weights as real conductances.  Forward crossbar of layer ``l``: columns
    driven at ``a<l-1>_<i> = phi(v(x<l-1>_i))`` and ``an<l-1>_<i> = -a``; rows
    ``r<l>_<j>`` held at virtual ground by 0 V sources ``Vr<l>_<j>`` that measure
    the row current ``sum_i (G+_ji - G-_ji) a_i + (Gb+_j - Gb-_j) * 1 V``; a
    transimpedance stage (CCVS, gain ``1/g_unit``) gives
    ``m<l>_<j> = W a + b``.  Feedback crossbar (its own conductances): columns
    ``u<l>_<j> = pi_j v(e<l>_<j>)`` and ``un = -u``, rows ``f<l-1>_<i>`` at virtual
    ground, CCVS ``s<l-1>_<i> = (Wfb u)_i``, and a B current source injecting
    ``g0 phi'(v(x<l-1>_i)) v(s<l-1>_<i>)`` into every free ``x<l-1>_<i>`` (rows
    that would feed a clamped unit are left out).  Zero-conductance cells are
    not elements.  Ideal devices settle to the behavioural equilibrium.

Analyses: ``"tran"`` (``.tran`` from the feedforward start, set by ``.ic``)
or ``"op"`` (``.op`` with ``.nodeset`` at the feedforward start, so DC Newton
finds the flow's rest point).  The transient deliberately omits ``uic``:
ngspice then solves the initial point with the ``.ic`` nodes held, so every
node (predictions, errors, crossbar rows) starts consistent and the raw file
holds the ``t = 0`` point (with ``uic`` ngspice 39 writes none).

For designers (SPEC section 3): the hardware numbers are ``.param`` cards at the top
(``C``, ``g0``, ``g_unit``, ``tau = C/g0``, and ``gu<l>`` for a layer with its own unit
conductance), and every element refers to them (``{C}``, ``{1/(prec*g0)}``,
``{1/(w*g_unit)}``, ``g0*...``), so editing one ``.param`` changes the whole circuit.
Cell instances pass no parameters (PySpice 1.5's parser drops the subcircuit name of an
instance line with ``name=value``), so per-unit numbers (precisions, weights) stay on
top-level lines.  The repeated cells are ``.subckt`` definitions, one per kind
(:meth:`~pc_analog.circuit.inventory.Inventory.subcircuit_lines`): replacing one
definition with a transistor-level cell changes every instance, and the nodes of SPEC
section 3 (``x<l>_<i>``, ``e<l>_<i>``) stay top-level nodes the instances connect to.
By default the deck ends with ngspice commands on ``*#`` lines (ngspice runs them as a
``.control`` block; PySpice's parser and other SPICE readers see comments), so
``ngspice -b deck.cir`` runs the analysis, prints the settled ``x`` and ``e``
voltages and exits 0.  pc-analog's own runner removes exactly that block
(:func:`~pc_analog.spice.sandbox.strip_run_commands`) and reads the raw file instead.

Numbers carry 10 significant digits (:func:`pc_analog.circuit._text.num`): no float
noise, deterministic text; expressions contain no blanks and stay on one line (PySpice's
parser would cut them at a blank).
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy import sparse

from pc_analog.circuit._text import TERMS_PER_LINE as _TERMS_PER_LINE
from pc_analog.circuit._text import num as _num
from pc_analog.circuit._text import v as _v
from pc_analog.circuit.amplifiers import amp_params
from pc_analog.circuit.elements import g_unit_params
from pc_analog.circuit.ir import Circuit, node_name
from pc_analog.errors import InvalidInputError
from pc_analog.model.activations import get_activation
from pc_analog.model.energy import hessian_blocks, weighted_errors

__all__ = [
    "GENERATOR_MARKER",
    "LEVELS",
    "ANALYSES",
    "spice_derivative",
    "default_t_stop",
    "write_netlist",
]

#: The comment line (second line of every deck) that marks a pc-analog netlist.
GENERATOR_MARKER = "* generator: pc-analog"

LEVELS = ("behavioural", "crossbar")
ANALYSES = ("tran", "op")

# The transient runs until the slowest mode of the linearised flow has decayed
# by this factor (exp(-lambda_min t / tau) = _SETTLE_FACTOR), bounded below and above.
_SETTLE_FACTOR = 1e-9
_T_STOP_MIN_TAU = 10.0
_T_STOP_MAX_TAU = 1e4
# Default maximum time step: this fraction of t_stop.
_STEPS_PER_RUN = 1000
# Free units above which lambda_min is estimated with a sparse eigensolver.
_DENSE_EIG_MAX = 2000


def spice_derivative(activation: str) -> str:
    """``phi'`` of ``activation`` as an ngspice expression template in ``{x}``.

    The expression lives with the activation (:attr:`Activation.dspice`).

    Raises
    ------
    InvalidInputError
        If the activation is unknown.
    """
    return get_activation(activation).dspice


def _listing(keyword: str, items: list[str]) -> list[str]:
    return [
        f"{keyword} " + " ".join(items[k : k + _TERMS_PER_LINE])
        for k in range(0, len(items), _TERMS_PER_LINE)
    ]


def _lambda_min(diag, upper, free: np.ndarray) -> float:
    """Smallest eigenvalue of the block-tridiagonal matrix restricted to ``free``."""
    # An object array: a nested list of equal-shaped blocks (one layer of n -> n units)
    # would be read by numpy as one 4-D number array, which bmat refuses.
    blocks = np.empty((len(diag), len(diag)), dtype=object)
    for l, D in enumerate(diag):
        blocks[l, l] = D[0]
    for l, U in enumerate(upper):
        blocks[l, l + 1], blocks[l + 1, l] = U[0], U[0].T
    H = sparse.bmat(blocks, format="csr")[free][:, free]
    if H.shape[0] <= _DENSE_EIG_MAX:
        return float(np.linalg.eigvalsh(H.toarray())[0])
    from scipy.sparse.linalg import eigsh  # pragma: no cover - large networks only

    try:  # pragma: no cover
        return float(eigsh(H, k=1, which="SA", tol=1e-3)[0][0])
    except Exception:  # pragma: no cover - no convergence: the caller takes the longest run
        return 0.0


def default_t_stop(circuit: Circuit, *, sample: int = 0) -> float:
    """A transient length (seconds) long enough for ``sample`` to settle.

    ``t_stop = ln(1/delta) / lambda_min * tau`` with ``delta = 1e-9`` and
    ``lambda_min`` the smallest eigenvalue of the energy's Hessian restricted
    to the free units at the start state (the slowest mode of the linearised
    flow ``tau dx/dt = -H dx``), clipped to ``[10, 1e4] * tau`` and rounded to
    two significant digits.  Where the start is not a convex point (``H`` has a
    non-positive eigenvalue) the Gauss-Newton part ``J^T diag(pi) J`` of ``H``
    is used instead.  The estimate assumes symmetric crossbars
    (``Wfb = W^T``); pass ``t_stop_s`` to :func:`write_netlist` otherwise.
    """
    tau = circuit.tau_s
    free = np.concatenate(circuit.clamp.free)
    n_free = int(free.sum())
    if n_free == 0:
        return _T_STOP_MIN_TAU * tau
    net = circuit.network()
    x = tuple(xl[sample : sample + 1] for xl in circuit.x_init)
    diag, upper = hessian_blocks(net, x)
    lam = _lambda_min(diag, upper, free)
    if lam <= 0:
        # An indefinite start (phi'' times a large error): use the Gauss-Newton part
        # J^T diag(pi) J of the Hessian instead, which is positive semi-definite.
        e = weighted_errors(net, x)
        for l in range(net.n_layers):
            curvature = net.phi(l).d2f(x[l]) * (e[l + 1] @ net.W(l + 1))
            idx = np.arange(net.sizes[l])
            diag[l][:, idx, idx] += curvature
        lam = _lambda_min(diag, upper, free)
    n_tau = math.log(1.0 / _SETTLE_FACTOR) / lam if lam > 0 else _T_STOP_MAX_TAU
    # Two significant digits: an estimate needs no more, and the netlist text then
    # does not depend on the last bits of the eigensolver (BLAS) result.
    return float(f"{float(np.clip(n_tau, _T_STOP_MIN_TAU, _T_STOP_MAX_TAU)) * tau:.2g}")


def _clamp_summary(circuit: Circuit) -> str:
    parts = []
    for l, m in enumerate(circuit.clamp.masks):
        k = int(m.sum())
        if k == 0:
            continue
        if k == m.size:
            parts.append(f"layer {l} all {k}")
        else:
            parts.append(f"layer {l} units {','.join(str(int(i)) for i in np.flatnonzero(m))}")
    return "; ".join(parts) if parts else "none"


_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _header(circuit: Circuit, *, sample: int, level: str, analysis: str, tran: str) -> list[str]:
    from pc_analog._version import __version__

    hw = circuit.hardware
    sizes = "-".join(map(str, circuit.sizes))
    acts = ", ".join(L.activation for L in circuit.layers)
    name = _UNSAFE.sub(" ", circuit.name)
    return [
        f"* pc-analog netlist {sizes} ({level}, {analysis})",
        GENERATOR_MARKER,
        f"* generator version: pc-analog {__version__}",
        f"* circuit: {name}",
        f"* sizes: {sizes} (n_0..n_L, L = {circuit.n_layers})",
        f"* activations phi_0..phi_(L-1): {acts}",
        f"* hardware: C = {_num(hw.c_F)} F, g0 = {_num(hw.g0_S)} S, g_unit = {_num(hw.g_unit_S)} S",
        f"* tau = C/g0 = {_num(hw.tau_s)} s",
        f"* level: {level}",
        f"* analysis: {analysis}{tran}",
        f"* sample: {sample} of batch {circuit.batch}",
        f"* clamped (DC voltage sources): {_clamp_summary(circuit)}",
        "* nodes: x<l>_<i> activity (1 V = 1 unit), e<l>_<i> prediction error, m<l>_<i> prediction",
    ]


def _params(circuit: Circuit, level: str) -> list[str]:
    """The ``.param`` cards: the hardware numbers every element refers to."""
    hw = circuit.hardware
    lines = [
        "* hardware parameters: every element refers to these",
        f".param C={_num(hw.c_F)} g0={_num(hw.g0_S)} g_unit={_num(hw.g_unit_S)}",
        ".param tau={C/g0}",
    ]
    if level == "crossbar" and circuit.crossbar is not None and circuit.crossbar.wires:
        lines.append("* crossbar wire: resistance of one segment between adjacent cells")
        lines.append(f".param r_wire={_num(circuit.crossbar.wire_r_ohm)}")
    own = g_unit_params(circuit)
    if level == "crossbar" and own:
        lines.append("* unit-weight conductance of the layers with their own")
        lines += _listing(".param", own)
    amp = amp_params(circuit.amplifiers)
    if amp:
        lines += ["* amplifier macro-model pc_amp: DC gain, gain-bandwidth, rails"] + amp
    return lines


def _run_commands(circuit: Circuit, analysis: str) -> list[str]:
    """``*#`` command lines: run, print every ``x`` and ``e`` node's settled voltage, quit."""
    at = "[k]" if analysis == "tran" else ""
    nodes = [
        f"{_v(node_name('x', l, i))}{at}"
        for l in range(circuit.n_layers + 1)
        for i in range(circuit.sizes[l])
    ]
    nodes += [
        f"{_v(node_name('e', l, j))}{at}"
        for l in range(1, circuit.n_layers + 1)
        for j in range(circuit.sizes[l])
    ]
    lines = [
        "* ngspice -b runs these *# lines as commands (other SPICE parsers see comments):",
        "* the analysis, then the settled x and e voltages (end of the transient or .op)",
        "*# set numdgt=12",
        "*# run",
    ]
    if analysis == "tran":
        lines.append("*# let k=length(time)-1")
    lines += ["*# " + ln for ln in _listing("print", nodes)]
    lines.append("*# quit")
    return lines


def _check_positive(name: str, v) -> None:
    ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    if not (ok and math.isfinite(v) and v > 0):
        raise InvalidInputError(f"{name}: must be a positive number, got {v!r}")


def write_netlist(
    circuit: Circuit,
    *,
    sample: int = 0,
    level: str = "behavioural",
    analysis: str = "tran",
    t_stop_s: float | None = None,
    t_step_s: float | None = None,
    reltol: float = 1e-6,
    vntol: float = 1e-9,
    abstol: float | None = None,
    chgtol: float | None = None,
    trtol: float = 1e-3,
    method: str = "gear",
    run_commands: bool = True,
) -> str:
    """One sample of ``circuit`` as an ngspice netlist (the deck's text).

    Long because of its docstring (every option of the deck) and the validation of its
    keyword arguments; the text itself comes from the circuit's inventory.

    Parameters
    ----------
    circuit : Circuit
        The compiled circuit (read only; it is the single source of truth).
    sample : int
        Which sample of the batch supplies clamp values and initial conditions.
    level : {"behavioural", "crossbar"}
        Ideal behavioural sources, or conductance crossbars with transimpedance
        readout (see the module docstring).  Both settle to the same equilibrium.
    analysis : {"tran", "op"}
        ``"tran"``: ``.tran t_step t_stop 0 t_step`` from ``.ic`` at the
        feedforward start ``circuit.x_init`` (an initial operating point with
        the ``.ic`` nodes held, not ``uic``).  ``"op"``: ``.op`` with
        ``.nodeset`` at the feedforward start.
    t_stop_s : float, optional
        Transient length; default :func:`default_t_stop`.
    t_step_s : float, optional
        Print step and maximum time step; default ``t_stop / 1000``.
    reltol, vntol : float
        ngspice relative tolerance and absolute voltage tolerance (V).
    abstol : float, optional
        ngspice absolute current tolerance (A); default ``vntol * g0``, a
        current as small, relative to the unit conductance, as ``vntol``.
    chgtol : float, optional
        ngspice charge tolerance (C) of the time-step control; default
        ``vntol * C``.  ngspice's own default (1e-14 C, 10 mV on 1 pF) is far
        too loose for picofarad nodes.
    trtol : float
        ngspice truncation-error factor (its default, 7, overestimates the
        error).  The default 1e-3 keeps a single RC decay within about 3e-5
        (relative) of ``exp(-t/tau)`` over 8 time constants.
    method : {"gear", "trap"}
        Integration method.
    run_commands : bool
        End the deck with the ``*#`` command lines that make plain ``ngspice -b``
        run it and print the settled ``x`` and ``e`` voltages (SPEC section 3).
        pc-analog's runner strips them; ``False`` leaves them out.

    Returns
    -------
    str
        The deck: title line (never containing the word "error"),
        :data:`GENERATOR_MARKER`, header comments (sizes, activations, ``C``,
        ``g0``, ``g_unit``, ``tau = C/g0``, level, sample, clamps), ``.param``
        cards, ``.subckt`` cells, elements, analysis, ``.save`` of every ``x`` and
        ``e`` node, the run commands, ``.end``.

    Raises
    ------
    InvalidInputError
        For an unknown level, analysis or method, a sample outside the batch,
        non-positive times or tolerances, or an activation without a known
        ngspice derivative.
    """
    if level not in LEVELS:
        raise InvalidInputError(f"level: unknown {level!r} (known: {', '.join(LEVELS)})")
    if analysis not in ANALYSES:
        raise InvalidInputError(f"analysis: unknown {analysis!r} (known: {', '.join(ANALYSES)})")
    if method not in ("gear", "trap"):
        raise InvalidInputError(f"method: unknown {method!r} (known: gear, trap)")
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
        raise InvalidInputError(f"sample: must be an integer, got {sample!r}")
    if not 0 <= sample < circuit.batch:
        raise InvalidInputError(f"sample: {sample} outside the batch of {circuit.batch}")
    sample = int(sample)
    for name, v in (("t_stop_s", t_stop_s), ("t_step_s", t_step_s), ("abstol", abstol)):
        if v is not None:
            _check_positive(name, v)
    if chgtol is not None:
        _check_positive("chgtol", chgtol)
    for name, v in (("reltol", reltol), ("vntol", vntol), ("trtol", trtol)):
        _check_positive(name, v)
    for layer in circuit.layers:
        spice_derivative(layer.activation)

    hw = circuit.hardware
    tran = ""
    if analysis == "tran":
        t_stop = float(t_stop_s) if t_stop_s is not None else default_t_stop(circuit, sample=sample)
        t_step = float(t_step_s) if t_step_s is not None else t_stop / _STEPS_PER_RUN
        if t_step > t_stop:
            raise InvalidInputError(f"t_step_s: {t_step!r} exceeds t_stop_s {t_stop!r}")
        tran = (
            f" (t_stop = {_num(t_stop)} s = {t_stop / hw.tau_s:.6g} tau, max step {_num(t_step)} s)"
        )
    abstol = float(abstol) if abstol is not None else vntol * hw.g0_S
    chgtol = float(chgtol) if chgtol is not None else vntol * hw.c_F

    lines = _header(circuit, sample=sample, level=level, analysis=analysis, tran=tran)
    inventory = circuit.inventory(level)
    lines.append("")
    lines += _params(circuit, level)
    lines.append("")
    lines.append("* cells: replace a definition to change every instance")
    lines += inventory.subcircuit_lines()
    lines.append("")
    lines += inventory.spice_lines(sample)

    free_x = [
        (node_name("x", l, i), circuit.x_init[l][sample, i])
        for l in range(circuit.n_layers + 1)
        for i in np.flatnonzero(~circuit.clamp.masks[l])
    ]
    starts = [f"v({x})={_num(v)}" for x, v in free_x]
    lines.append("")
    lines.append(
        f".options reltol={_num(reltol)} vntol={_num(vntol)} abstol={_num(abstol)} "
        f"chgtol={_num(chgtol)} trtol={_num(trtol)} method={method}"
    )
    if analysis == "tran":
        lines.append("* initial condition: the feedforward start")
        lines += _listing(".ic", starts)
        lines.append(f".tran {_num(t_step)} {_num(t_stop)} 0 {_num(t_step)}")
    else:
        lines.append("* DC Newton starts at the feedforward start")
        lines += _listing(".nodeset", starts)
        lines.append(".op")
    saves = [
        _v(node_name("x", l, i))
        for l in range(circuit.n_layers + 1)
        for i in range(circuit.sizes[l])
    ]
    saves += [
        _v(node_name("e", l, j))
        for l in range(1, circuit.n_layers + 1)
        for j in range(circuit.sizes[l])
    ]
    lines += _listing(".save", saves)
    if run_commands:
        lines += _run_commands(circuit, analysis)
    lines.append(".end")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- transient noise
_PRED = re.compile(r"^B(m\d+_\d+) \1 0 (V=.*)$")
_ERR_CELL = re.compile(r"^X(x\d+_\d+) \1 (m\d+_\d+) (e\d+_\d+) (pc_unit|pc_error)$")
_ERR_CELL_E = re.compile(r"^X(e\d+_\d+) (x\d+_\d+) (m\d+_\d+) \1 (pc_error)$")
_ERR_B = re.compile(r"^B(e\d+_\d+) \1 0 (V=.*)$")
_FB = re.compile(r"^Xf(x(\d+)_(\d+)) \1 (\S+) (pc_dphi_\w+)$")


def _trnoise(name: str, plus: str, minus: str, rms: float, step_s: float, kind: str) -> str:
    return f"{kind}{name} {plus} {minus} dc 0 trnoise({_num(rms)} {_num(step_s)} 0 0)"


def add_trnoise(deck: str, circuit: Circuit, *, step_s: float, gains, seed: int = 0) -> str:
    """``deck`` (a behavioural :func:`write_netlist` of ``circuit``) with ngspice ``trnoise``
    sources for the circuit's noise sources (:mod:`pc_analog.circuit.noise`).

    A white source of one-sided density ``S`` becomes ``trnoise(NA NT 0 0)``: Gaussian
    samples of rms ``NA = sqrt(S / (2 NT))`` every ``NT = step_s`` seconds, linear between
    samples (ngspice manual, "Transient noise source"), whose one-sided density is
    ``2 NA^2 NT = S`` well below ``1 / NT``.

    - thermal noise of a spring ``g`` (free unit ``x<l>_<j>``): a current source
      ``In<l>_<j>`` from ``m`` into ``x`` with ``S = 4 k T g``;
    - amplifier noise: a voltage source in series with the stage's output (the prediction
      ``m``, the error ``e``, the feedback sum read by the ``phi'`` block), of the
      output-referred density ``(a k)^2 e_n^2`` (``gains``: a dict from the stage's output
      node name to ``a k``, the closed-loop gain times the clip derivative at the rest
      point; 1 for ideal amplifiers).

    ``seed`` goes to ``.options seed``.  Device read noise (drive-dependent) is refused.
    """
    noise = circuit.noise
    if noise is None:
        return deck
    if noise.read_noise_rtHz > 0:
        raise InvalidInputError("ngspice noise: device read noise has no trnoise form yet")
    _check_positive("step_s", step_s)
    en = noise.amp_noise_V_rtHz
    amp_rms = en / math.sqrt(2.0 * step_s)
    out, extra = [], []
    for line in deck.splitlines():
        if en > 0 and (m := _PRED.match(line)):
            node = m.group(1)
            out.append(f"B{node} {node}q 0 {m.group(2)}")
            extra.append(_trnoise(node, node, f"{node}q", gains[node] * amp_rms, step_s, "Vn"))
            continue
        if en > 0 and ((m := _ERR_CELL.match(line)) or (m2 := _ERR_CELL_E.match(line))):
            if m is not None:
                x, mm, e, cell = m.groups()
                out.append(f"X{x} {x} {mm} {e}q {cell}")
            else:
                e, x, mm, cell = m2.groups()
                out.append(f"X{e} {x} {mm} {e}q {cell}")
            extra.append(_trnoise(e, e, f"{e}q", gains[e] * amp_rms, step_s, "Vn"))
            continue
        if en > 0 and (m := _ERR_B.match(line)):
            e = m.group(1)
            out.append(f"B{e} {e}q 0 {m.group(2)}")
            extra.append(_trnoise(e, e, f"{e}q", gains[e] * amp_rms, step_s, "Vn"))
            continue
        if en > 0 and (m := _FB.match(line)):
            x, l, i, node, cell = m.groups()
            s = f"s{l}_{i}"
            out.append(f"Xf{x} {x} {s}n {cell}")
            extra.append(_trnoise(f"{s}n", f"{s}n", node, gains[s] * amp_rms, step_s, "Vn"))
            continue
        if line.startswith(".options "):
            out.append(line + f" seed={int(seed)}")
            if noise.thermal:
                for l in range(1, circuit.n_layers + 1):
                    g = circuit.layers[l - 1].g_spring_S
                    for j in np.flatnonzero(circuit.clamp.free[l]):
                        x, mm = node_name("x", l, j), node_name("m", l, j)
                        rms = math.sqrt(4.0 * noise.kT_J * g[j] / (2.0 * step_s))
                        extra.append(_trnoise(f"{l}_{j}", mm, x, rms, step_s, "In"))
            out.append("* noise sources (trnoise: white, rms NA = sqrt(S/(2 NT)) every NT)")
            out += extra
            extra = []
            continue
        out.append(line)
    return "\n".join(out) + "\n"
