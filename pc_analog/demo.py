"""The main job on the embedded default data: PC against backprop on scikit-learn's digits.

Run with ``make demo`` or ``python -m pc_analog.demo [--epochs N] [--seed S]``.
It prints, for a small tanh network:

1. how the weight updates of every PC variant compare with backprop's on one
   batch (Z-IL and FPA-PC are exact; standard PC approaches BP as the output
   variance grows relative to the hidden ones);
2. ``pc-analog train``'s default run on digits (the defaults of
   :data:`pc_analog.learning.defaults.DATASET_DEFAULTS`): PC trained in the simulated
   circuit (each batch settled with input and label clamped, the Hebbian update read
   from the node voltages and programmed into the devices) beside its backprop twin,
   with test accuracies side by side;
3. the PC-trained network as a circuit, settled by every backend.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from pc_analog.io.data import load_digits, one_hot
from pc_analog.model.energy import io_state
from pc_analog.model.network import Network
from pc_analog.reference.variants import (
    backprop,
    cosine_similarity,
    fpa_inference,
    pc_gradients,
    zil_gradients,
)
from pc_analog.solvers.equilibrium import solve_equilibrium

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the demo and print its report; returns the exit status.

    Long because it is the demo's script, one printed section after another.

    Over 80 lines: a script, read top to bottom (arguments, then sections 1 and 2;
    section 3 is :func:`_circuit_report`).
    """
    ap = argparse.ArgumentParser(
        prog="python -m pc_analog.demo", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--epochs", type=int, help="training epochs (default: pc-analog train's default)"
    )
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--circuit-samples", type=int, default=2, help="test digits settled as circuits"
    )
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data = load_digits(seed=args.seed)
    y_train = one_hot(data.y_train, data.n_classes)
    sizes = [data.x_train.shape[1], args.hidden, args.hidden, data.n_classes]
    net0 = Network.random(sizes, "tanh", seed=args.seed)
    print(
        f"pc-analog demo: digits ({data.x_train.shape[0]} train / {data.x_test.shape[0]} test), "
        f"network {'-'.join(map(str, sizes))} tanh, seed {args.seed}"
    )

    # 1. Weight updates on one batch, against backprop.
    xb, yb = data.x_train[:64], y_train[:64]
    bp = backprop(net0, xb, yb)
    print(
        "\n1. weight updates on a batch of 64, compared with backprop (cosine similarity; "
        "max |difference|)"
    )
    rows = [
        ("Z-IL (step 1, layer l at step L-l)", zil_gradients(net0, xb, yb)),
        ("FPA-PC (step 1, T = L steps)", fpa_inference(net0, xb, yb).gradients),
        ("FPA-PC (step 1, T = 1 step)", fpa_inference(net0, xb, yb, n_steps=1).gradients),
    ]
    for r in (1.0, 0.1, 0.01, 0.001):
        rows.append(
            (
                f"standard PC, output/hidden variance ratio 1/{1 / r:g}",
                pc_gradients(net0, xb, yb, variance_ratio=r),
            )
        )
    for name, g in rows:
        diff = max(np.abs(a - b).max() for a, b in zip(g.dW, bp.dW))
        ratio = np.linalg.norm(g.flat()) / np.linalg.norm(bp.flat())
        print(
            f"   {name:<48s} cos {cosine_similarity(g, bp):.9f}   max|diff| {diff:.2e}"
            f"   |update|/|bp| {ratio:.3f}"
        )
    x_init, clamp = io_state(net0, xb, yb)
    eq = solve_equilibrium(net0, x_init, clamp)
    print(f"   equilibrium solver: {eq.message}; nfev {eq.nfev}, factorisations {eq.nfact}")

    # 2. pc-analog train's default run: PC in the circuit beside its backprop twin.
    trained = _training_report(args)
    _circuit_report(trained, data, n_samples=args.circuit_samples)
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    return 0


def _training_report(args) -> Network:
    """2. ``pc-analog train --dataset digits`` with its defaults (``--epochs`` may shorten
    it): PC in the circuit and the backprop twin, test accuracy every few epochs; returns
    the PC-trained network (with its input transform)."""
    import tempfile
    from pathlib import Path

    from pc_analog.learning.train import TrainConfig, train

    cfg = TrainConfig(dataset="digits", seed=args.seed, epochs=args.epochs)
    print(
        f"\n2. pc-analog train --dataset digits, its defaults: {'-'.join(map(str, cfg.arch))} "
        f"{cfg.activation}, {cfg.epochs} epoch(s),\n   batch {cfg.batch_size}, lr {cfg.lr:g} "
        f"{cfg.lr_schedule}, output precision {cfg.precision_output:g}, input scaling "
        f"{cfg.input_scaling}, one-pixel shifts p = {cfg.augment_shift:g}.\n"
        f"   PC trained in the simulated circuit ({cfg.backend} backend, "
        f"{cfg.device} devices): each batch settled with\n   input and label clamped, the "
        "Hebbian update read from the node voltages; beside it the backprop\n   twin (same "
        "initial weights, batches and learning rates)"
    )
    with tempfile.TemporaryDirectory() as d:
        rep = train(cfg, Path(d) / "run", progress=False, plots=False)
    print(f"   {'epoch':>5s} {'PC in the circuit':>18s} {'backprop twin':>14s}   (test accuracy)")
    every = max(5, 5 * round(cfg.epochs / 40))  # about eight rows, in steps of 5
    shown = sorted({1, *range(every, cfg.epochs + 1, every), cfg.epochs})
    for row in rep.history:
        if row["epoch"] in shown:
            print(
                f"   {row['epoch']:5d} {row['test_accuracy']:18.1%} {row['bp_test_accuracy']:14.1%}"
            )
    print(f"   ({rep.seconds:.1f} s for both)")
    return rep.network


def _circuit_report(net: Network, data, *, n_samples: int) -> None:
    """3. The trained network as a circuit, settled by every backend, with their agreement.

    ``net`` carries its input transform: the raw test digits are mapped through it."""
    import shutil

    from pc_analog.circuit.ir import compile_network
    from pc_analog.errors import BackendError, BackendUnavailableError
    from pc_analog.settling.registry import settle
    from pc_analog.spice.netlist import write_netlist

    x0 = net.transform_input(data.raw(data.x_test[:n_samples]))
    y = one_hot(data.y_test[:n_samples], data.n_classes)
    circuit = compile_network(net, x0, y)
    hw = circuit.hardware
    lines = write_netlist(circuit).count("\n")
    print(
        f"\n3. the PC-trained network as a circuit: {n_samples} test digits, label clamped; "
        f"C = {hw.c_F:g} F, g0 = {hw.g0_S:g} S, tau = {circuit.tau_s:g} s; "
        f"netlist {lines} lines per sample"
    )
    backends = [("equilibrium", {}), ("ode", {}), ("ode", {"inertial": True})]
    if shutil.which("ngspice"):
        backends += [("ngspice", {"analysis": "op"}), ("ngspice", {})]
    else:
        print("   (ngspice not installed: apt-get install ngspice libngspice0-dev)")
    ref = None
    print(f"   {'backend':<28s} {'settling time':>14s} {'max|x - x_eq|/max|x|':>22s} {'wall':>8s}")
    for name, opts in backends:
        t = time.perf_counter()
        try:
            r = settle(circuit, backend=name, on_failure="return", **opts)
        except BackendUnavailableError as exc:
            print(f"   {name:<28s} unavailable: {exc}")
            continue
        except BackendError as exc:  # e.g. a transient over its time limit on a busy machine
            print(f"   {name:<28s} failed: {exc}")
            continue
        secs = time.perf_counter() - t
        if ref is None:
            ref = r.x
        rel = max(np.abs(a - b).max() for a, b in zip(r.x, ref)) / max(np.abs(b).max() for b in ref)
        label = name + (" (inertial, zeta=1)" if opts.get("inertial") else " (.op)" if opts else "")
        label += "" if r.success else f" NOT CONVERGED ({r.status.name})"
        st = (
            f"{np.max(r.settling_time_s) / r.tau_s:9.3f} tau"
            if r.settling_time_s is not None
            else f"{'-':>13s}"
        )
        print(f"   {label:<28s} {st:>14s} {rel:22.1e} {secs:7.2f}s")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
