"""The ``pc-analog`` command line (SPEC section 4).

Exit status: 0 success; 1 a solver did not converge (the result is still
printed, with ``"converged": false``); 2 bad input (one line on stderr, no
traceback, no file written); 3 a backend is unavailable or failed.
Set ``PC_ANALOG_DEBUG=1`` to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

from pc_analog.errors import (
    BackendError,
    BackendUnavailableError,
    ConvergenceWarning,
    InvalidInputError,
)

__all__ = ["main"]

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_BAD_INPUT, EXIT_BACKEND = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (usage goes to ``--help``) and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise InvalidInputError(message)


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not (v > 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a positive number: {s!r}")
    return v


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {s!r}")
    return v


def _nonnegative_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {s!r}")
    return v


def _layers_out(x, single: bool):
    return [xl[0].tolist() if single else xl.tolist() for xl in x]


def _scalar_or_list(v: np.ndarray, single: bool):
    return float(v[0]) if single else [float(e) for e in v]


def _load_io(args, net, need_target: bool):
    from pc_analog.io.formats import load_vectors

    x0, single = load_vectors(args.input, net.sizes[0], "input")
    y = None
    if args.target is not None:
        y, single_y = load_vectors(args.target, net.sizes[-1], "target")
        if y.shape[0] != x0.shape[0]:
            raise InvalidInputError(f"target: {y.shape[0]} samples but input has {x0.shape[0]}")
    elif need_target:
        raise InvalidInputError("--target: required for this command")
    return x0, y, single


def _hardware(args):
    from pc_analog.circuit.ir import Hardware

    return Hardware(c_F=args.c_F, g0_S=args.g0_S, g_unit_S=args.g_unit_S)


def _add_hardware_options(p) -> None:
    from pc_analog.circuit.ir import Hardware

    hw = Hardware()
    p.add_argument(
        "--c-F",
        dest="c_F",
        type=_positive_float,
        default=hw.c_F,
        help=f"node capacitance C in farad (default {hw.c_F:g})",
    )
    p.add_argument(
        "--g0-S",
        dest="g0_S",
        type=_positive_float,
        default=hw.g0_S,
        help=f"unit conductance g0 in siemens (default {hw.g0_S:g}); tau = C/g0",
    )
    p.add_argument(
        "--g-unit-S",
        dest="g_unit_S",
        type=_positive_float,
        default=hw.g_unit_S,
        help=f"crossbar conductance of a unit weight (default {hw.g_unit_S:g})",
    )


def _cmd_settle(args) -> int:
    from pc_analog.io.formats import load_network
    from pc_analog.settling.registry import settle

    net = load_network(args.network)
    x0, y, single = _load_io(args, net, need_target=False)
    options = {}
    if args.backend == "discrete":
        options = {"step_size": args.step_size, "max_steps": args.max_steps}
        if args.gtol is not None:
            options["gtol"] = args.gtol
    elif args.backend == "equilibrium" and args.gtol is not None:
        options = {"gtol": args.gtol}
    elif args.backend == "ode":
        options = {
            "method": args.method,
            "settle_band": args.settle_band,
            "inertial": args.inertial,
            "damping_ratio": args.damping_ratio,
        }
    elif args.backend == "ngspice":
        options = {
            "level": args.level,
            "mode": args.ngspice_mode,
            "settle_band": args.settle_band,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = settle(net, x0, y, backend=args.backend, hardware=_hardware(args), **options)
    out = {
        "backend": res.backend,
        "x": _layers_out(res.x, single),
        "energy": _scalar_or_list(res.energy, single),
        "converged": bool(res.success),
        "message": res.message,
        "grad_max": _scalar_or_list(res.grad_max, single),
        "stats": res.stats,
    }
    if res.settling_time_s is not None:
        out["settling_time_s"] = _scalar_or_list(res.settling_time_s, single)
    if res.tau_s is not None:
        out["tau_s"] = float(res.tau_s)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"backend {res.backend}: {res.message}")
        for l, xl in enumerate(res.x):
            print(f"x{l} = {np.array2string(xl[0] if single else xl, precision=6)}")
        print(f"energy = {out['energy']}")
    return EXIT_OK if res.success else EXIT_NOT_CONVERGED


def _cmd_grads(args) -> int:
    from pc_analog.io.formats import load_network
    from pc_analog.reference.variants import gradients

    net = load_network(args.network)
    x0, y, _ = _load_io(args, net, need_target=True)
    kw = {}
    if args.method in ("bp", "fpa", "zil"):
        kw["loss"] = args.loss
    elif args.loss != "mse":
        raise InvalidInputError("--loss: standard PC uses the Gaussian energy (mse) only")
    if args.method == "fpa":
        kw["step_size"] = args.step_size
        kw["n_steps"] = args.steps
    if args.method == "pc":
        kw["variance_ratio"] = args.variance_ratio
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            g = gradients(net, x0, y, args.method, **kw)
        except ConvergenceWarning as w:
            print(f"pc-analog: equilibrium not reached: {w}", file=sys.stderr)
            return EXIT_NOT_CONVERGED
    out = {"method": g.method, "dW": [w.tolist() for w in g.dW], "db": [b.tolist() for b in g.db]}
    if args.json:
        print(json.dumps(out))
    else:
        for l, (w, b) in enumerate(zip(g.dW, g.db), start=1):
            print(f"dW{l} (norm {np.linalg.norm(w):.6g}) =\n{np.array2string(w, precision=6)}")
            print(f"db{l} = {np.array2string(b, precision=6)}")
    return EXIT_OK


def _cmd_compile(args) -> int:
    """Write one sample's SPICE netlist; without ``--input`` the input is clamped to zeros."""
    from pathlib import Path

    from pc_analog.circuit.ir import compile_network
    from pc_analog.io.formats import atomic_write_text, load_network, load_vectors
    from pc_analog.spice.netlist import write_netlist

    net = load_network(args.network)
    if args.input is not None:
        x0, _ = load_vectors(args.input, net.sizes[0], "input")
    else:
        x0 = np.zeros((1, net.sizes[0]))
    y = None
    if args.target is not None:
        y, _ = load_vectors(args.target, net.sizes[-1], "target")
        if y.shape[0] != x0.shape[0]:
            raise InvalidInputError(f"target: {y.shape[0]} samples but input has {x0.shape[0]}")
    circuit = compile_network(net, x0, y, hardware=_hardware(args))
    text = write_netlist(
        circuit,
        sample=args.sample,
        level=args.level,
        analysis=args.analysis,
        t_stop_s=args.t_stop_s,
        t_step_s=args.t_step_s,
    )
    if args.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    out = Path(args.output)
    if out.is_dir():
        raise InvalidInputError(f"-o: is a directory: {out}")
    if not out.parent.is_dir():
        raise InvalidInputError(f"-o: no such directory: {out.parent}")
    try:
        atomic_write_text(out, text)
    except OSError as exc:
        raise InvalidInputError(f"-o: cannot write {out}: {exc.strerror or exc}") from None
    return EXIT_OK


def _cmd_simulate(args) -> int:
    """Run a netlist in ngspice after the safety check; print the nodes' final voltages."""
    import time
    from pathlib import Path

    from pc_analog.spice.ngspice import check_netlist, run_netlist

    path = Path(args.netlist)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInputError(f"{args.netlist}: cannot read: {exc.strerror or exc}") from None
    text = check_netlist(text, path.resolve().parent, allow_control=args.allow_control)
    t0 = time.perf_counter()
    run = run_netlist(text, mode=args.mode, timeout_s=args.timeout_s)
    seconds = time.perf_counter() - t0
    if run.time is not None:
        analysis, t_end = "tran", run.t_end_s
    elif run.op is not None:
        analysis, t_end = "op", None
    else:
        raise InvalidInputError(f"{args.netlist}: no .tran or .op analysis to report")
    nodes = run.final_voltages()
    if args.json:
        out = {
            "analysis": analysis,
            "t_end_s": t_end,
            "nodes": nodes,
            "mode": run.mode,
            "seconds": seconds,
        }
        if run.note:
            out["note"] = run.note
        print(json.dumps(out))
    else:
        when = f"at t = {t_end:.6g} s" if analysis == "tran" else "operating point"
        print(f"ngspice {analysis} ({run.mode}, {seconds:.3g} s): node voltages {when}")
        width = max((len(k) for k in nodes), default=0)
        for k, v in nodes.items():
            print(f"  {k:<{width}}  {v: .12g}")
    return EXIT_OK


def _parse_arch(text: str) -> tuple[int, ...]:
    """``"64-128-10"`` -> ``(64, 128, 10)``; at least two widths, each >= 1."""
    try:
        arch = tuple(int(a) for a in text.split("-"))
    except ValueError:
        raise InvalidInputError(f"--arch: expected widths joined by '-', got {text!r}") from None
    if len(arch) < 2 or min(arch) < 1:
        raise InvalidInputError(f"--arch: need at least two widths >= 1, got {text!r}")
    return arch


def _cmd_train(args) -> int:
    from pc_analog.learning.train import TrainConfig, train

    arch = _parse_arch(args.arch)
    if args.seed < 0:
        raise InvalidInputError("--seed: must be >= 0")
    cfg = TrainConfig(
        dataset=args.dataset,
        arch=arch,
        activation=args.activation,
        backend=args.backend,
        device=args.device,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        precision_output=args.precision_output,
        separate_feedback=args.separate_feedback,
        eval_mode=args.eval_mode,
        bp_baseline=not args.no_bp,
        seed=args.seed,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        standardize_inputs=args.standardize,
        update_mode=args.update_mode,
        hardware={"c_F": args.c_F, "g0_S": args.g0_S, "g_unit_S": args.g_unit_S},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = train(
            cfg, args.out, resume=args.resume, progress=not args.json, plots=not args.no_plots
        )
    summary = report.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"test accuracy {report.test_accuracy:.4f} (backprop twin "
            f"{report.bp_test_accuracy:.4f}) after {report.epochs} epochs on "
            f"{args.dataset}, device {summary['device']}, {report.seconds:.1f} s; "
            f"results in {args.out}"
        )
    return EXIT_OK


def _bench_inputs(net, batch: int, seed: int):
    """Inputs and one-hot targets from the digits test set when the widths fit (64 in,
    10 out), else seeded random inputs in [0, 1] and targets in [-1, 1]."""
    if net.sizes[0] == 64 and net.sizes[-1] == 10:
        from pc_analog.io.data import load_digits

        try:
            ds = load_digits(seed=seed)
        except BackendUnavailableError:
            pass
        else:
            n = min(batch, ds.x_test.shape[0])
            return ds.x_test[:n], ds.one_hot_test()[:n], "digits (test set)"
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0, 1, size=(batch, net.sizes[0]))
    y = rng.uniform(-1, 1, size=(batch, net.sizes[-1]))
    return x0, y, "random (seeded)"


def _cmd_bench_timing(args) -> int:
    from pc_analog.costs.specs import load_analog_spec, load_digital_spec
    from pc_analog.costs.timing import timing_report
    from pc_analog.model.network import Network

    if args.net is not None:
        from pc_analog.io.formats import load_network

        net = load_network(args.net)
    else:
        arch = _parse_arch(args.arch)
        net = Network.random(arch, args.activation, seed=args.seed)
    spec = load_analog_spec(args.hardware)
    digital = tuple(load_digital_spec(d) for d in (args.digital or ["gpu-a100"]))
    x0, y, source = _bench_inputs(net, args.batch, args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        report = timing_report(
            net,
            x0,
            y,
            analog=spec,
            digital=digital,
            inertial=args.inertial,
            damping_ratio=args.damping_ratio,
            band=args.settle_band,
            measure_cpu=not args.no_cpu,
            repeats=args.repeats,
            throughput_batch=args.throughput_batch,
            seed=args.seed,
            progress=not args.json and sys.stderr.isatty(),
        )
    if args.json:
        out = report.to_dict()
        out["config"]["inputs"] = source
        print(json.dumps(out, allow_nan=False))
    else:
        print(report.table())
        print(f"inputs: {source}")
    return EXIT_OK if report.analog["success"] else EXIT_NOT_CONVERGED


def _add_bench_timing(bsub) -> None:
    b = bsub.add_parser(
        "timing",
        help="analog settling time and energy vs digital backprop and PC for one network",
        description="Settle one network in the simulated analog circuit (ode backend) and put "
        "its settling time (next to the spectral prediction), energy per inference and device "
        "count beside backprop and discrete PC measured on this CPU and modelled on reference "
        "machines (roofline). Latency is batch 1; throughput a large batch. Hardware "
        "assumptions and their sources: docs/hardware.md.",
    )
    b.add_argument("--arch", default="64-128-10", help="layer widths (default 64-128-10)")
    b.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    b.add_argument("--net", metavar="NET.json", help="a network file instead of --arch")
    b.add_argument(
        "--hardware",
        metavar="SPEC",
        help="analog spec: preset (default, rram, pcm, low-power) or JSON file",
    )
    b.add_argument(
        "--digital",
        action="append",
        metavar="NAME|JSON",
        help="digital reference (repeatable): gpu-a100, cpu-measured or a JSON file "
        "(default gpu-a100)",
    )
    b.add_argument("--inertial", action="store_true", help="second-order (spring-mass) dynamics")
    b.add_argument("--damping-ratio", type=_positive_float, default=1.0)
    b.add_argument("--settle-band", type=_positive_float, default=1e-3)
    b.add_argument("--seed", type=_nonnegative_int, default=0)
    b.add_argument("--batch", type=_positive_int, default=4, help="samples settled (default 4)")
    b.add_argument(
        "--throughput-batch",
        type=_positive_int,
        default=256,
        help="batch of the throughput columns (default 256)",
    )
    b.add_argument("--repeats", type=_positive_int, default=7, help="CPU timing repeats")
    b.add_argument("--no-cpu", action="store_true", help="skip the CPU wall-clock measurements")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_cmd_bench_timing)


def _cmd_bench_sweep(args) -> int:
    import io
    from pathlib import Path

    from pc_analog.experiments.sweep import crossover_table, load_sweep_config, run_sweep
    from pc_analog.io.formats import atomic_write_bytes

    cfg = load_sweep_config(args.config)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out: not a directory: {out}")
    if args.scheduler is not None and args.workers is not None:
        raise InvalidInputError("--workers: only for local processes (not with --scheduler)")
    res = run_sweep(cfg, args.scheduler, max_workers=args.workers, progress=not args.json)
    out.mkdir(parents=True, exist_ok=True)
    res.to_csv(out / "sweep.csv")
    written = [str(out / "sweep.csv")]
    if not args.no_plots:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from pc_analog.viz.plots import sweep_figures

        for name, fig in sweep_figures(res).items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            atomic_write_bytes(out / f"{name}.png", buf.getvalue())
            written.append(str(out / f"{name}.png"))
    varying = [k for k, v in cfg.grid if len(v) > 1]
    table = crossover_table(res.rows, varying=varying) if "timing" in cfg.quantities else []
    failed = sum(
        1 for r in res.rows if r.get("success") is False or r.get("analog.success") is False
    )
    if args.json:
        print(
            json.dumps(
                {
                    "points": len(res.rows),
                    "executor": res.executor,
                    "seconds": res.seconds,
                    "files": written,
                    "not_settled": failed,
                    "crossovers": table,
                }
            )
        )
    else:
        print(
            f"sweep: {len(res.rows)} points on {res.executor} in {res.seconds:.1f} s; "
            f"wrote {', '.join(written)}"
        )
        for t in table:
            where = (
                "no crossing in range"
                if t["crossover"] is None
                else f"crosses 1 at n_weights = {t['crossover']:.4g}"
            )
            group = ", ".join(
                f"{k}={v}" for k, v in t.items() if k not in ("ratio", "min", "max", "crossover")
            )
            print(
                f"  analog/digital {t['ratio']:<17s} {group + ': ' if group else ''}"
                f"{t['min']:.3g} .. {t['max']:.3g}, {where}"
            )
        if failed:
            print(f"  {failed} point(s) did not settle (success = false in the CSV)")
    return EXIT_OK if not failed else EXIT_NOT_CONVERGED


def _add_bench_sweep(bsub) -> None:
    b = bsub.add_parser(
        "sweep",
        help="a co-design grid (depth, width, C, g0, dynamics, devices, ...) to a tidy CSV",
        description="Run every point of a sweep config (JSON or TOML, format "
        "pc-analog.sweep/1; see docs/sweeps.md) through local processes or a Dask cluster, "
        "and write DIR/sweep.csv (one row per point) and the figures the grid supports "
        "(settling time vs depth/width with fitted exponents, device error, analog/digital "
        "crossover).",
    )
    b.add_argument("config", metavar="CONFIG", help="sweep config (.json or .toml)")
    b.add_argument(
        "--out", default="sweep-out", metavar="DIR", help="output folder (default sweep-out)"
    )
    b.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler (dask://HOST:PORT or tcp://HOST:PORT); default local processes",
    )
    b.add_argument(
        "--workers", type=_positive_int, help="local worker processes (default: CPU count)"
    )
    b.add_argument("--no-plots", action="store_true", help="write only the CSV")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_cmd_bench_sweep)


def _build_parser() -> argparse.ArgumentParser:
    from pc_analog.reference.variants import LOSSES, METHODS
    from pc_analog.settling.registry import BACKENDS


    p = _Parser(prog="pc-analog", description="Predictive coding as analog-circuit relaxation.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    s = sub.add_parser("settle", help="settle a network from the feedforward start")
    s.add_argument("network", metavar="NET.json", help="network file (.json or .npz)")
    s.add_argument("--input", required=True, metavar="X.json", help="input vector(s), clamped")
    s.add_argument("--target", metavar="Y.json", help="target vector(s), clamped at the output")
    s.add_argument("--backend", default="equilibrium", choices=sorted(BACKENDS))
    s.add_argument("--gtol", type=_positive_float, help="tolerance on max |dF/dx|")
    s.add_argument("--step-size", type=_positive_float, default=0.1, help="discrete: step in tau")
    s.add_argument("--max-steps", type=_positive_int, default=100_000, help="discrete: step limit")
    s.add_argument(
        "--settle-band",
        type=_positive_float,
        default=1e-3,
        help="time-domain backends: delta of the settling time (default 1e-3)",
    )
    s.add_argument("--method", default="auto", help="ode: solve_ivp method (default auto)")
    s.add_argument(
        "--inertial",
        action="store_true",
        help="ode: second-order spring-network dynamics (mass and damping)",
    )
    s.add_argument(
        "--damping-ratio",
        type=_positive_float,
        default=1.0,
        help="ode --inertial: damping ratio of the slowest mode (default 1)",
    )
    s.add_argument(
        "--level",
        default="behavioural",
        choices=("behavioural", "crossbar"),
        help="ngspice: netlist level (default behavioural)",
    )
    s.add_argument(
        "--ngspice-mode",
        default="auto",
        choices=("auto", "shared", "subprocess"),
        help="ngspice: in-process shared library or ngspice subprocesses (default auto)",
    )
    _add_hardware_options(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=_cmd_settle)

    g = sub.add_parser("grads", help="weight updates by backprop or a PC variant")
    g.add_argument("network", metavar="NET.json")
    g.add_argument("--input", required=True, metavar="X.json")
    g.add_argument("--target", required=True, metavar="Y.json")
    g.add_argument("--method", required=True, choices=METHODS)
    g.add_argument("--loss", default="mse", choices=LOSSES, help="output loss (bp, fpa, zil)")
    g.add_argument("--step-size", type=_positive_float, default=1.0, help="fpa: inference step")
    g.add_argument("--steps", type=_positive_int, help="fpa: inference steps (default L)")
    g.add_argument(
        "--variance-ratio",
        type=_positive_float,
        default=1.0,
        help="pc: output precision scale r; the update is divided by r (r -> 0 gives BP)",
    )
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_cmd_grads)

    c = sub.add_parser(
        "compile",
        help="write a SPICE netlist of one sample (clamps as voltage sources)",
        description="Write an ngspice netlist (SPEC section 3). Without --input the input "
        "layer is clamped to zeros; with --target the output layer is clamped too.",
    )
    c.add_argument("network", metavar="NET.json")
    c.add_argument("--input", metavar="X.json", help="input vector(s), clamped (default: zeros)")
    c.add_argument("--target", metavar="Y.json", help="target vector(s), clamped at the output")
    c.add_argument(
        "-o", "--output", required=True, metavar="OUT.cir", help="netlist file, - for stdout"
    )
    c.add_argument("--level", default="behavioural", choices=("behavioural", "crossbar"))
    c.add_argument("--analysis", default="tran", choices=("tran", "op"))
    c.add_argument("--sample", type=_nonnegative_int, default=0, help="sample of a batch (0-based)")
    c.add_argument("--t-stop-s", type=_positive_float, help="transient length (default: settles)")
    c.add_argument(
        "--t-step-s", type=_positive_float, help="maximum time step (default t_stop/1000)"
    )
    _add_hardware_options(c)
    c.set_defaults(func=_cmd_compile)

    m = sub.add_parser(
        "simulate",
        help="run a SPICE netlist in ngspice and print its node voltages",
        description="Run a netlist (e.g. from 'pc-analog compile') in ngspice and print every "
        "node's final voltage (transient) or operating-point voltage. Netlists with .control "
        "blocks, '*#' command lines, shell commands or .include/.lib files outside their folder "
        "are refused (exit 2).",
    )
    m.add_argument("netlist", metavar="OUT.cir")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument("--mode", default="auto", choices=("auto", "shared", "subprocess"))
    m.add_argument(
        "--allow-control",
        action="store_true",
        help="let .control blocks through (trusted netlists only; shell is refused anyway)",
    )
    m.add_argument(
        "--timeout-s", type=_positive_float, default=600.0, help="wall-clock limit (default 600)"
    )
    m.set_defaults(func=_cmd_simulate)

    t = sub.add_parser(
        "train",
        help="Hebbian training in the simulated circuit, beside a backprop twin",
        description="Train a PC network in the simulated hardware: each mini-batch settles "
        "the circuit with input and label clamped, and the Hebbian update read from the node "
        "voltages programs the devices. A digital-backprop twin (same architecture, initial "
        "weights, batches and learning rate) trains in the same run. Checkpoints after every "
        "epoch; --resume continues a killed run exactly.",
    )
    t.add_argument("--dataset", default="digits", help="digits | fashion-mnist | idx:PATH")
    t.add_argument("--arch", default="64-128-10", help="layer widths, e.g. 64-128-10")
    t.add_argument("--activation", default="tanh")
    t.add_argument("--backend", default="equilibrium", help="equilibrium | ode | ngspice")
    t.add_argument("--device", default="ideal", help="device preset or JSON file")
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--batch-size", type=_positive_int, default=32)
    t.add_argument("--lr", type=_positive_float, default=0.1)
    t.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine", "step"))
    t.add_argument(
        "--precision-output",
        type=_positive_float,
        default=1.0,
        help="pi_L; hidden layers have pi = 1",
    )
    t.add_argument(
        "--separate-feedback",
        action="store_true",
        help="feedback crossbars as separate physical copies",
    )
    t.add_argument(
        "--eval", dest="eval_mode", default="feedforward", choices=("feedforward", "settle")
    )
    t.add_argument(
        "--standardize",
        action="store_true",
        help="shift and scale the inputs to zero mean, unit spread (one offset, one gain)",
    )
    t.add_argument(
        "--update-mode",
        default="stochastic",
        metavar="MODE",
        help="stochastic (each batch's update rounded stochastically to whole pulses) | "
        "accumulate (mixed precision: per-pair digital accumulators, only whole pulses "
        "programmed; needs a pulsed device)",
    )
    t.add_argument("--no-bp", action="store_true", help="skip the backprop twin")
    t.add_argument("--limit-train", type=_positive_int)
    t.add_argument("--limit-test", type=_positive_int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, metavar="DIR", help="output folder")
    t.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    t.add_argument("--no-plots", action="store_true")
    t.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    _add_hardware_options(t)
    t.set_defaults(func=_cmd_train)

    # ``bench``: a group of subcommands; add new ones next to ``timing``.
    bench = sub.add_parser(
        "bench", help="timing and energy against digital backprop (bench timing, ...)"
    )
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH", parser_class=_Parser)
    bsub.required = True
    _add_bench_timing(bsub)
    _add_bench_sweep(bsub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = _build_parser().parse_args(argv)
        return args.func(args)
    except InvalidInputError as exc:
        print(f"pc-analog: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (BackendUnavailableError, BackendError) as exc:
        print(f"pc-analog: backend: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    except KeyboardInterrupt:
        print("pc-analog: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # pragma: no cover - a bug; say so in one line
        if os.environ.get("PC_ANALOG_DEBUG"):
            raise
        print(
            f"pc-analog: internal error: {type(exc).__name__}: {exc} "
            "(set PC_ANALOG_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
