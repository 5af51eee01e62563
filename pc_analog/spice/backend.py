"""The ``ngspice`` backend: the compiled circuit settled by ngspice, one deck per sample.

``settle(circuit, backend="ngspice")`` writes one deck per sample
(:func:`pc_analog.spice.netlist.write_netlist`), runs them
(:func:`pc_analog.spice.runner.run_netlists`), and reads the activity nodes
``x<l>_<i>`` back as a :class:`~pc_analog.solvers.base.SettleResult`: for a
transient with the trajectory, the SPEC settling time and the equilibrium; for an
operating point with the rest state only.

ngspice's ``.op`` can end without an error yet without a solution (a node left at
``1e+32``), so an operating point is judged by the circuit's own KCL residual at
the voltages ngspice returned (:func:`judge_operating_point`), never taken on trust.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping

import numpy as np

from pc_analog.circuit.ir import Circuit, node_name
from pc_analog.errors import BackendError, InvalidInputError
from pc_analog.model.energy import energy
from pc_analog.solvers.base import Backend, SettleResult, Status
from pc_analog.solvers.dynamics import FreeIndex, energy_trace, residual_max
from pc_analog.solvers.equilibrium import reference_rest_point
from pc_analog.solvers.transient import SETTLE_BAND_DEFAULT, settling_time
from pc_analog.spice.runner import TIMEOUT_DEFAULT_S, _check_mode, run_netlists

__all__ = [
    "NgspiceBackend",
    "judge_operating_point",
    "AT_REST_V",
    "OP_KCL_RTOL",
    "OP_MAX_ABS_V",
]

#: A sample whose start is this close (volts, max norm) to the equilibrium starts at
#: rest: settling time 0.  It is the decks' ``vntol``, ngspice's voltage resolution,
#: below which the SPEC band ``delta * |x(0) - x*|`` cannot be resolved.
AT_REST_V = 1e-9

#: An operating point is converged only if the KCL residual at ngspice's node
#: voltages, ``max |I| / g0`` over free nodes (volts; ``max |dF/dx|`` for ideal
#: devices), is at most this times ``max(1 V, max |x|)``.  Converged decks (reltol
#: 1e-6, vntol 1 nV) measure 1e-15 to 3e-8 on the test circuits, behavioural and
#: crossbar; a wrong solution is off by the size of its error times the springs.
OP_KCL_RTOL = 1e-4

#: A node voltage beyond this many volts is no solution (ngspice leaves a node it
#: could not solve at 1e+32 and still exits 0).
OP_MAX_ABS_V = 1e6

#: The common time grid of a batch is the union of the samples' time points unless
#: the resampled trajectory would exceed this many float64 values; then sample 0's grid.
_UNION_MAX_VALUES = 50_000_000


def judge_operating_point(circuit: Circuit, x, grad_max) -> tuple[Status, str]:
    """Whether node voltages ``x`` are the circuit's operating point, and if not, why.

    Parameters
    ----------
    circuit : Circuit
    x : tuple of ndarray
        The state ngspice returned (clamped units at their clamp values).
    grad_max : ndarray
        Per-sample KCL residual ``max |I| / g0`` at ``x`` (volts)
        (:func:`pc_analog.solvers.dynamics.residual_max`).

    Returns
    -------
    (Status, str)
        ``SUCCESS``; ``NON_FINITE`` if a node is NaN/inf; ``KCL_RESIDUAL`` if a node
        exceeds :data:`OP_MAX_ABS_V` or the residual exceeds
        ``OP_KCL_RTOL * max(1 V, max |x|)``.  The string names the worst sample.
    """
    mags = np.stack([np.abs(v).max(axis=1) if v.shape[1] else np.zeros(v.shape[0]) for v in x])
    mag = mags.max(axis=0)  # per sample
    if not np.all(np.isfinite(mag)):
        b = int(np.flatnonzero(~np.isfinite(mag))[0])
        return Status.NON_FINITE, f"sample {b}: a node voltage is not finite"
    if np.any(mag > OP_MAX_ABS_V):
        b = int(np.argmax(mag))
        return Status.KCL_RESIDUAL, (
            f"sample {b}: a node at {mag[b]:.3g} V (beyond {OP_MAX_ABS_V:g} V: ngspice "
            "left it unsolved)"
        )
    tol = OP_KCL_RTOL * np.maximum(1.0, mag)
    gm = np.asarray(grad_max, dtype=float)
    bad = ~(gm <= tol)
    if np.any(bad):
        b = int(np.flatnonzero(bad)[np.argmax(gm[bad] / tol[bad])])
        return Status.KCL_RESIDUAL, (
            f"sample {b}: KCL residual max |I|/g0 = {gm[b]:.3g} V > {tol[b]:.3g} V "
            f"(OP_KCL_RTOL = {OP_KCL_RTOL:g} of max(1 V, max |x|))"
        )
    return Status.SUCCESS, ""


class NgspiceBackend(Backend):
    """Settle the compiled circuit in ngspice, one deck per sample.

    Parameters
    ----------
    level : {"behavioural", "crossbar"}
        Netlist level (:func:`pc_analog.spice.netlist.write_netlist`).
    analysis : {"tran", "op"}
        ``"tran"``: the transient from the feedforward start (trajectory,
        settling time); ``"op"``: only the DC operating point, i.e. the
        equilibrium, far faster.
    mode : {"auto", "shared", "subprocess"}
        How ngspice runs (:func:`pc_analog.spice.runner.run_netlists`).
    settle_band : float
        ``delta`` of the SPEC settling time.
    t_stop_s : float, optional
        Transient length; default the largest
        :func:`pc_analog.spice.netlist.default_t_stop` over the batch (so every sample
        runs over the same interval), evaluated at the equilibrium when the
        circuit is symmetric (``ln(1e9) / lambda_min`` time constants of the
        slowest mode there, clipped to ``[10, 1e4] tau``).
    max_step_s : float, optional
        ngspice's print and maximum time step; default ``t_stop / 1000``.
    timeout_s : float
        Wall-clock limit per sample.
    on_failure : {"warn", "raise", "return"}
        See :class:`~pc_analog.solvers.base.Backend`.

    Notes
    -----
    Status: an operating point is ``SUCCESS`` only if :func:`judge_operating_point`
    accepts it (``KCL_RESIDUAL`` or ``NON_FINITE`` otherwise); a transient is
    ``SUCCESS`` when every sample settled within the band, else ``NOT_SETTLED``.
    ngspice's own errors (singular matrix, time step too small, timeout) raise
    :class:`~pc_analog.errors.BackendError`.

    The samples' adaptive time points differ, so the batch's trajectory is
    resampled by linear interpolation onto the **union** of all samples' time
    points (every sample is exact at its own points).  Should that array exceed
    5e7 values, sample 0's grid is used instead (``stats["time_grid"]`` says
    which).  Settling times are measured on each sample's own points, before any
    resampling, by linear interpolation of the deviation between points; a sample
    that starts within ``AT_REST_V`` (1 nV) of the equilibrium has settling time
    0.  A deck with ``uic`` has no ``t = 0`` point; the initial
    condition is then prepended at ``t = 0``.  Clamped units are their constant
    clamp values.
    """

    name = "ngspice"
    supports_amplifiers = True

    def __init__(
        self,
        level: str = "behavioural",
        analysis: str = "tran",
        mode: str = "auto",
        settle_band: float = SETTLE_BAND_DEFAULT,
        t_stop_s: float | None = None,
        max_step_s: float | None = None,
        timeout_s: float = TIMEOUT_DEFAULT_S,
        on_failure: str = "warn",
    ):
        from pc_analog.spice.netlist import ANALYSES, LEVELS

        super().__init__(on_failure=on_failure)
        if level not in LEVELS:
            raise InvalidInputError(
                f"ngspice level: unknown {level!r} (known: {', '.join(LEVELS)})"
            )
        if analysis not in ANALYSES:
            raise InvalidInputError(
                f"ngspice analysis: unknown {analysis!r} (known: {', '.join(ANALYSES)})"
            )
        _check_mode(mode)
        if not 0 < settle_band < 1:
            raise InvalidInputError("ngspice backend: settle_band must be between 0 and 1")
        for nm, v in (("t_stop_s", t_stop_s), ("max_step_s", max_step_s)):
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise InvalidInputError(f"ngspice backend: {nm} must be a positive number")
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise InvalidInputError("ngspice backend: timeout_s must be a positive number")
        self.level, self.analysis, self.mode = level, analysis, mode
        self.settle_band, self.t_stop_s, self.max_step_s = settle_band, t_stop_s, max_step_s
        self.timeout_s = timeout_s

    # ------------------------------------------------------------------ settle
    def _settle(self, circuit: Circuit) -> SettleResult:
        wall0 = time.perf_counter()
        x_eq = reference_rest_point(circuit, gtol=1e-13)[0]  # None: asymmetric crossbars
        texts, t_stop = self._decks(circuit, x_eq)
        runs = self._run(circuit, texts)
        modes = sorted({r.mode for r in runs})
        notes = sorted({r.note for r in runs if r.note})
        stats = {
            "mode": modes[0] if len(modes) == 1 else modes,
            "level": self.level,
            "analysis": self.analysis,
            "ngspice_seconds": float(sum(r.seconds for r in runs)),
        }
        if notes:
            stats["note"] = "; ".join(notes)
        if self.analysis == "op":
            res = self._settle_op(circuit, runs, x_eq, modes, stats)
        else:
            res = self._settle_tran(circuit, runs, x_eq, t_stop, modes, stats)
        stats["wall_seconds"] = time.perf_counter() - wall0
        return res

    # ----------------------------------------------------------------- helpers
    def _decks(self, circuit: Circuit, x_eq) -> tuple[list[str], float | None]:
        from pc_analog.spice.netlist import default_t_stop, write_netlist

        t_stop = None
        if self.analysis == "tran":
            t_stop = self.t_stop_s
            if t_stop is None:
                # default_t_stop reads the slowest mode of the Hessian at the circuit's
                # x_init; at the start of a nonlinear network that Hessian can be
                # indefinite (then it returns its 1e4 tau cap, and the default max step
                # t_stop/1000 = 10 tau is far too coarse), so ask at the equilibrium.
                probe = circuit if x_eq is None else dataclasses.replace(circuit, x_init=x_eq)
                t_stop = max(default_t_stop(probe, sample=b) for b in range(circuit.batch))
        texts = [
            write_netlist(
                circuit,
                sample=b,
                level=self.level,
                analysis=self.analysis,
                t_stop_s=t_stop,
                t_step_s=self.max_step_s,
            )
            for b in range(circuit.batch)
        ]
        return texts, t_stop

    def _run(self, circuit: Circuit, texts: list[str]):
        """Run the decks; every free activity node must be in each run's output."""
        runs = run_netlists(texts, mode=self.mode, timeout_s=self.timeout_s)
        for r in runs:
            have = r.voltages if self.analysis == "tran" else (r.op or {})
            missing = [
                node_name("x", l, int(i))
                for l in range(circuit.n_layers + 1)
                for i in np.flatnonzero(~circuit.clamp.masks[l])
                if node_name("x", l, int(i)) not in have
            ]
            if missing:
                raise BackendError(f"ngspice output lacks the node(s) {', '.join(missing[:5])}")
        return runs

    @staticmethod
    def _sample_trace(circuit: Circuit, b: int, vecs: Mapping[str, np.ndarray], n_t: int):
        """Per layer ``(n_t, n_l)`` for sample ``b``: free units from ngspice, clamps constant."""
        out = []
        for l, n_l in enumerate(circuit.sizes):
            arr = np.broadcast_to(circuit.x_init[l][b], (n_t, n_l)).copy()
            for i in np.flatnonzero(~circuit.clamp.masks[l]):
                arr[:, i] = np.asarray(vecs[node_name("x", l, int(i))], dtype=float).reshape(-1)
            out.append(arr)
        return tuple(out)

    def _settle_op(self, circuit, runs, x_eq, modes, stats) -> SettleResult:
        """The operating points, judged by their KCL residual (:func:`judge_operating_point`)."""
        per = [self._sample_trace(circuit, b, r.op, 1) for b, r in enumerate(runs)]
        x = tuple(
            np.concatenate([per[b][l] for b in range(circuit.batch)])
            for l in range(circuit.n_layers + 1)
        )
        with np.errstate(over="ignore", invalid="ignore"):  # a node at 1e+32 is judged below
            gm = residual_max(circuit, FreeIndex(circuit), x)
            F = energy(circuit.network(), x)
        status, why = judge_operating_point(circuit, x, gm)
        what = f"ngspice operating point ({self.level}, {'/'.join(modes)})"
        if status.success:
            msg = f"{what}; max KCL residual {np.max(gm, initial=0.0):.3g} V"
        else:
            msg = f"{status.message}: {why}; {what}"
        stats["kcl_residual_V"] = [float(v) for v in gm]
        return SettleResult(
            self.name,
            x,
            F,
            status,
            msg,
            gm,
            tau_s=circuit.tau_s,
            x_eq=x if x_eq is None else x_eq,
            stats=stats,
        )

    def _settle_tran(self, circuit, runs, x_eq, t_stop, modes, stats) -> SettleResult:
        """The transients: settling times on each sample's points, then one common grid."""
        per_t, per_traj = self._per_sample(circuit, runs)
        x_final = tuple(
            np.stack([per_traj[b][l][-1] for b in range(circuit.batch)])
            for l in range(circuit.n_layers + 1)
        )
        known_rest = x_eq is not None
        if x_eq is None:
            x_eq = x_final
        st = self._settling_times(circuit, per_t, per_traj, x_eq)
        t, traj, grid = self._common_grid(circuit, per_t, per_traj)
        tau = circuit.tau_s
        what = f"ngspice tran ({self.level}, {'/'.join(modes)})"
        if not np.any(np.isnan(st)):
            status = Status.SUCCESS
            msg = (
                f"settled: {what}; max settling time {np.max(st):.4g} s = "
                f"{np.max(st) / tau:.4g} tau"
            )
        else:
            status = Status.NOT_SETTLED
            msg = f"not settled within {t[-1]:.3g} s: {what}"
        amps = circuit.amplifiers
        if amps is not None and amps.gbw_Hz is not None and known_rest:
            from pc_analog.solvers.stability import rest_point_verdict  # unstable: fails

            rep = rest_point_verdict(circuit, x_eq)
            if rep is not None and not rep.stable:
                status, msg, st = Status.UNSTABLE, f"{rep.message}; {msg}", np.full_like(st, np.nan)
        stats.update(
            {
                "t_stop_s": float(t_stop) if t_stop is not None else float(t[-1]),
                "t_end_s": float(t[-1]),
                "n_points": int(t.size),
                "ngspice_points": [int(r.time.size) for r in runs],
                "time_grid": grid,
            }
        )
        return SettleResult(
            self.name,
            x_final,
            energy(circuit.network(), x_final),
            status,
            msg,
            residual_max(circuit, FreeIndex(circuit), x_final),
            t=t,
            energy_trace=energy_trace(circuit, traj),
            settling_time_s=st,
            tau_s=tau,
            trajectory=traj,
            x_eq=x_eq,
            n_steps=int(max(r.time.size for r in runs)) - 1,
            stats=stats,
        )

    def _per_sample(self, circuit, runs):
        """Each sample's own time points and trajectory (``uic`` decks get ``t = 0``)."""
        per_t, per_traj = [], []
        for b, r in enumerate(runs):
            t_b = np.asarray(r.time, dtype=float)
            traj_b = self._sample_trace(circuit, b, r.voltages, t_b.size)
            # uic decks have no t = 0 point: prepend the initial condition
            if t_b[0] > 0:
                t_b = np.concatenate([[0.0], t_b])
                traj_b = tuple(
                    np.concatenate([circuit.x_init[l][b][None, :], v], axis=0)
                    for l, v in enumerate(traj_b)
                )
            per_t.append(t_b)
            per_traj.append(traj_b)
        return per_t, per_traj

    def _settling_times(self, circuit, per_t, per_traj, x_eq) -> np.ndarray:
        """SPEC settling time per sample on its own points (NaN: not settled)."""
        fi = FreeIndex(circuit)
        y_eq = fi.pack(x_eq).reshape(circuit.batch, fi.n_free)
        y0 = fi.pack(circuit.x_init).reshape(circuit.batch, fi.n_free)
        st = np.zeros(circuit.batch)
        for b in range(circuit.batch):
            if fi.n_free == 0 or np.abs(y0[b] - y_eq[b]).max() <= AT_REST_V:
                continue  # starts at rest (to ngspice's resolution): settling time 0
            parts = [per_traj[b][l][:, idx] for l, idx in fi.blocks]
            yb = np.concatenate(parts, axis=1)
            yb[0] = y0[b]  # the exact start (ngspice's .ic point can be 1 ulp off)
            st_b = settling_time(per_t[b], yb[:, None, :], y_eq[b : b + 1], band=self.settle_band)
            st[b] = st_b[0]
        return st

    @staticmethod
    def _common_grid(circuit, per_t, per_traj):
        """``(t, trajectory, grid description)`` of the batch on one time grid."""
        same = all(tb.shape == per_t[0].shape and np.array_equal(tb, per_t[0]) for tb in per_t)
        n_total = sum(circuit.sizes)
        if same:
            t, grid = per_t[0], "shared by all samples"
        else:
            union = np.unique(np.concatenate(per_t))
            if union.size * circuit.batch * n_total <= _UNION_MAX_VALUES:
                t, grid = union, "union of the samples' time points"
            else:
                t, grid = per_t[0], "sample 0's time points"
        traj = []
        for l, n_l in enumerate(circuit.sizes):
            arr = np.empty((t.size, circuit.batch, n_l))
            for b in range(circuit.batch):
                tb, vb = per_t[b], per_traj[b][l]
                if tb.shape == t.shape and np.array_equal(tb, t):
                    arr[:, b, :] = vb
                else:
                    for i in range(n_l):
                        arr[:, b, i] = np.interp(t, tb, vb[:, i])
            traj.append(arr)
        return t, tuple(traj), grid
