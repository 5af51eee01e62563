"""Noise and precision: the energy-precision frontier of analog PC inference (issue 12).

A seeded 64-32-10 tanh classifier is trained on scikit-learn's digits with the library's
``train`` (ideal devices, equilibrium backend).  Each design point (node capacitance ``C``,
unit conductance ``g0``, amplifier noise density ``e_n``; thermal noise of the springs at
300 K always on) is measured on the held-out digits, inference with the input clamped and
the output free, every free unit starting from 0 V (a reset circuit, not the feedforward
pass, so the settling is real):

- settling time and energy per inference with the amplifiers counted: the ``ode`` backend
  (noiseless) on ``N_ENERGY`` test samples, :func:`pc_analog.costs.energy.energy_per_inference`
  (springs, crossbar cells, ``N_amp * 10 uW * t_settle``), mean over the samples;
- the output's noise and effective bits (Lyapunov, :mod:`pc_analog.solvers.lyapunov`) before
  and after an 8-bit ADC over +-2 V, mean over ``N_LYAP`` samples;
- accuracy under noise: the ``sde`` scheme (exponential, seeded) from reset to the read time
  ``1.5 x`` the slowest noiseless settling time, the output read through the ADC, argmax;
  ``REPEATS`` independent noise draws of every test sample;
- the lowest-energy design whose mean noisy accuracy is within 0.5 point of the noiseless
  (rest point through the same ADC) accuracy.

The A100 line: the forward pass of the same network on the co-design section's A100
roofline, ``2 n_weights`` FLOPs at 20.5 pJ/FLOP (``docs/hardware.md``).

In-circuit training with noisy Hebbian updates (:func:`train_sweep`): for each capacitance
the same classifier (64-32-10, lr 1 with the digits defaults otherwise, 10 epochs on every
training digit, several seeds) is trained *in the noisy circuit* (``train`` with an analog
spec whose ``thermal_noise`` / ``amp_noise_V_rtHz`` are on and an 8-bit ADC: every batch's
Hebbian update reads the settled state plus a seeded stationary noise draw through the
ADC, :mod:`pc_analog.hardware.noisy_read`) and tested the same way (equilibrium settle with
the output free, several independent noisy reads per digit, the ADC, argmax).  Each seed
is compared with the noiseless run of the same seed (same spec, noise off); the
lowest-energy design whose mean is within 0.5 point of the noiseless mean is reported,
with whether the seeds' spread resolves that call (2 standard errors of the paired
difference).  A run whose weights leave the representable range counts as diverged.

Run:  .venv/bin/python benchmarks/noise.py [--quick] [--no-write] [--training-only]
(``--training-only`` re-runs the training sweep and keeps the stored inference sweep.)
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_line, write_results  # noqa: E402

from pc_analog.circuit.converters import quantise  # noqa: E402
from pc_analog.circuit.ir import Hardware, compile_network  # noqa: E402
from pc_analog.circuit.noise import NoiseSources, with_noise  # noqa: E402
from pc_analog.costs.energy import energy_per_inference  # noqa: E402
from pc_analog.costs.specs import DIGITAL_PRESETS, AnalogSpec  # noqa: E402
from pc_analog.errors import InvalidInputError  # noqa: E402
from pc_analog.io.formats import atomic_write_bytes  # noqa: E402
from pc_analog.learning.train import TrainConfig, train  # noqa: E402
from pc_analog.solvers.dynamics import FreeIndex  # noqa: E402
from pc_analog.solvers.lyapunov import lyapunov_noise, noise_report  # noqa: E402
from pc_analog.solvers.ode import OdeBackend  # noqa: E402
from pc_analog.solvers.sde import integrate_sde  # noqa: E402

SECTION = "Noise and precision"
FIGURES = Path(__file__).resolve().parent / "figures"
ADC_BITS, ADC_RANGE_V = 8, 2.0
TOLERANCE_POINTS = 0.5
#: A design is feasible when its tau is at least this many amplifier time constants.
AMP_MARGIN = 10.0


def _config(quick: bool) -> dict:
    if quick:
        return dict(c_F=[1e-18, 1e-15, 1e-12], designs=[(1e-6, 0.0), (1e-6, 1e-6)], n_eval=120,
                    repeats=2, n_energy=8, n_lyap=10, epochs=3, lr=0.1)  # fmt: skip
    return dict(
        c_F=[1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11],
        designs=[(1e-6, 0.0), (1e-6, 1e-6), (1e-5, 1e-6)], n_eval=180,
        repeats=3, n_energy=8, n_lyap=16, epochs=10, lr=1.0,
    )  # fmt: skip


def _train_config(quick: bool) -> dict:
    """The training sweep's budget: full size trains a classifier (noiseless >= 90 %) on
    the whole digits training set, 3 seeds, several noisy test reads per digit."""
    if quick:
        return dict(c_F=[1e-17, 1e-12], designs=[(1e-6, 0.0)], epochs=2, limit_train=320,
                    lr=0.1, seeds=[0, 1], reads=2)  # fmt: skip
    return dict(c_F=[1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11],
                designs=[(1e-6, 0.0)], epochs=10, limit_train=None, lr=1.0, seeds=list(range(8)),
                reads=8)  # fmt: skip


def _noisy_test(rep, spec, hw, reads: int, seed: int) -> float:
    """Test accuracy (%) of a trained run in its circuit: equilibrium settle with the output
    free, ``reads`` independent stationary noise draws per digit (``noisy_read``), the ADC,
    argmax; mean over digits and draws (without noise sources: the one noiseless read)."""
    from pc_analog.hardware.noisy_read import noisy_read
    from pc_analog.learning.defaults import prepare_data
    from pc_analog.settling.registry import settle

    data = prepare_data("digits", input_scaling=rep.config.input_scaling,
                        limit_train=rep.config.limit_train)  # the run's scaling  # fmt: skip
    # compile_network clamps x_test as given: the scaled inputs the run trained on
    circ = spec.apply(compile_network(rep.network, data.x_test, hardware=hw))
    res = settle(circ, backend="equilibrium", on_failure="return")
    nr = noisy_read(circ, res.x, np.random.default_rng([seed, 7]), draws=reads)
    out = quantise(nr.x[-1], ADC_BITS, ADC_RANGE_V)
    out = out if out.ndim == 3 else out[None]
    return float((np.argmax(out, axis=-1) == data.lab_test[None, :]).mean() * 100)


def _train_in_circuit(tc, c_F, g0_S, e_n, noisy: bool, seed: int) -> dict:
    """Train the benchmark's classifier in the (noisy) circuit; test with noisy reads."""
    spec = AnalogSpec(c_F=c_F, g0_S=g0_S, thermal_noise=noisy,
                      amp_noise_V_rtHz=e_n if noisy else 0.0, adc_bits=ADC_BITS,
                      adc_range_V=ADC_RANGE_V)  # fmt: skip
    hw = {"c_F": c_F, "g0_S": g0_S}
    cfg = TrainConfig(arch=(64, 32, 10), epochs=tc["epochs"], bp_baseline=False, seed=seed,
                      augment_shift=0.0,  # as recorded (before the digits defaults had shifts)
                      lr=tc["lr"], analog=spec, hardware=hw, eval_mode="feedforward",
                      limit_train=tc["limit_train"])  # fmt: skip
    t0 = time.perf_counter()
    row = {"c_F": c_F, "g0_S": g0_S, "e_n_V_rtHz": e_n, "noisy": noisy, "seed": seed}
    try:
        with tempfile.TemporaryDirectory() as d:
            rep = train(cfg, d, progress=False, plots=False)
    except InvalidInputError as e:  # the weights left the representable range: diverged
        return {**row, "diverged": str(e), "test_accuracy": None,
                "seconds": time.perf_counter() - t0}  # fmt: skip
    acc = _noisy_test(rep, spec, Hardware(**hw), tc["reads"], seed)
    return {
        **row, "test_accuracy": acc, "feedforward_test_accuracy": rep.test_accuracy * 100,
        "unsettled_samples": int(sum(h["unsettled_samples"] for h in rep.history)),
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def train_sweep(quick: bool) -> dict:
    """In-circuit training accuracy with noisy Hebbian updates (module docstring)."""
    tc = _train_config(quick)
    t0 = time.perf_counter()
    base = [_train_in_circuit(tc, 1e-12, 1e-6, 0.0, False, s) for s in tc["seeds"]]
    runs = []
    for g0, en in tc["designs"]:
        for c in tc["c_F"]:
            runs += [_train_in_circuit(tc, c, g0, en, True, s) for s in tc["seeds"]]
            accs = [r.get("diverged") and "diverged" or round(r["test_accuracy"], 2)
                    for r in runs[-len(tc["seeds"]) :]]  # fmt: skip
            print(f"trained C {c:.0e}: {accs}", file=sys.stderr, flush=True)
    return {"noiseless_runs": base, "runs": runs, "config": tc,
            "seconds": time.perf_counter() - t0}  # fmt: skip


def _classifier(epochs: int, lr: float):
    """The trained 64-32-10 network, its test accuracy, and its input scaling (the sweep
    clamps the test digits scaled as the run trained on them)."""
    cfg = TrainConfig(arch=(64, 32, 10), epochs=epochs, bp_baseline=False, seed=0, lr=lr,
                      augment_shift=0.0)  # as recorded (no shifts)  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        rep = train(cfg, d, progress=False, plots=False)
    return rep.network, rep.test_accuracy, rep.config.input_scaling


def _reset(circ):
    """Free units start at 0 V (a reset circuit)."""
    x0 = tuple(np.where(m[None, :], x, 0.0) for x, m in zip(circ.x_init, circ.clamp.masks))
    return dataclasses.replace(circ, x_init=x0)


def _point(net, X, labels, x_rest, cfg, c_F, g0_S, e_n, seed):
    """One design: settling, energy, Lyapunov noise and bits, noisy accuracy."""
    hw = Hardware(c_F=c_F, g0_S=g0_S)
    spec = AnalogSpec(c_F=c_F, g0_S=g0_S)
    noise = NoiseSources(thermal=True, amp_noise_V_rtHz=e_n)
    ne = cfg["n_energy"]
    circ_e = _reset(compile_network(net, X[:ne], hardware=hw))
    res = OdeBackend(t_eval_points=400, on_failure="return").settle(circ_e)
    en = energy_per_inference(res, circ_e, spec)
    t_settle = float(np.max(res.settling_time_s))
    nl = cfg["n_lyap"]
    circ_l = with_noise(compile_network(net, X[:nl], hardware=hw), noise)
    xl = tuple(v[:nl] for v in x_rest)
    S, *_ = lyapunov_noise(circ_l, xl)
    rep = noise_report(circ_l, S, xl, method="lyapunov", adc_bits=ADC_BITS, range_V=ADC_RANGE_V)
    circ = with_noise(_reset(compile_network(net, X, hardware=hw)), noise)
    fi = FreeIndex(circ)
    run = integrate_sde(circ, t_end_s=1.5 * t_settle, seed=seed, replicas=cfg["repeats"],
                        record_every=None, x_rest=x_rest)  # fmt: skip
    out = run.final[:, :, fi.offsets[-2] : fi.offsets[-1]]  # (repeats, batch, 10)
    pred = np.argmax(quantise(out, ADC_BITS, ADC_RANGE_V), axis=2)
    acc = (pred == labels[None, :]).mean(axis=1) * 100
    return {
        "c_F": c_F,
        "g0_S": g0_S,
        "e_n_V_rtHz": e_n,
        "tau_s": hw.tau_s,
        "settling_time_s": t_settle,
        "energy_J": float(np.mean(en.total_J)),
        "amplifier_energy_J": float(np.mean(en.amplifiers_J)),
        "output_std_V": float(np.sqrt(np.mean(rep.std[-1] ** 2))),
        "bits_readout": float(np.mean(rep.readout_bits)),
        "bits_readout_adc": float(np.mean(rep.readout_bits_adc)),
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
        "sde_steps": int(run.n_steps),
    }


def _train_figure(training: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    rows, base = training["rows"], training["noiseless"]["mean"]
    for g0, en in sorted({(r["g0_S"], r["e_n_V_rtHz"]) for r in rows}):
        sub = sorted((r for r in rows if r["g0_S"] == g0 and r["e_n_V_rtHz"] == en),
                     key=lambda r: r["energy_J"])  # fmt: skip
        ax.errorbar(
            [r["energy_J"] for r in sub], [r["mean"] for r in sub],
            yerr=[r["sd"] for r in sub], fmt="o-", capsize=3,
            label=f"trained in the noisy circuit: g0 {g0:.0e} S, e_n {en:.0e} V/rtHz",
        )  # fmt: skip
    ax.set_xscale("log")
    div = [r for r in rows if r["diverged"]]
    if div:
        y0 = ax.get_ylim()[0]
        ax.plot([r["energy_J"] for r in div], [y0] * len(div), "rx", ms=9, clip_on=False,
                label="seeds diverged (count beside)")  # fmt: skip
        for r in div:
            ax.annotate(f"{r['diverged']}/{r['n_seeds']}", (r["energy_J"], y0), color="r",
                        xytext=(4, 4), textcoords="offset points", fontsize=8)  # fmt: skip
    ax.axhline(base, color="k", lw=0.8, ls=":", label="trained and tested noiseless")
    ax.axhline(base - TOLERANCE_POINTS, color="k", lw=0.8, ls="--", label="-0.5 point")
    ax.set(xlabel="energy per inference of the design (J)",
           ylabel="test accuracy (%), mean +- sd over seeds",
           title="in-circuit training with noisy Hebbian updates")  # fmt: skip
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _summarise_training(tr: dict, energy: dict) -> None:
    """Per design: mean and sd over seeds, the paired (same seed) difference to the
    noiseless run and its standard error, and the 0.5-point call: ``within`` or
    ``outside`` when the mean difference is 2 standard errors clear of -0.5 point,
    ``unresolved`` otherwise; a seed whose training diverged makes the design ``outside``
    (mean, sd and difference over the seeds that trained)."""
    base = {r["seed"]: r["test_accuracy"] for r in tr["noiseless_runs"]}
    b = np.array(list(base.values()), dtype=float)
    tr["noiseless"] = {"mean": float(b.mean()), "sd": float(b.std(ddof=1)) if b.size > 1 else 0.0}
    rows = []
    for key in dict.fromkeys((r["c_F"], r["g0_S"], r["e_n_V_rtHz"]) for r in tr["runs"]):
        runs = [r for r in tr["runs"] if (r["c_F"], r["g0_S"], r["e_n_V_rtHz"]) == key]
        ok = [r for r in runs if "diverged" not in r]
        a = np.array([r["test_accuracy"] for r in ok], dtype=float)
        d = np.array([r["test_accuracy"] - base[r["seed"]] for r in ok], dtype=float)
        n, nan = a.size, float("nan")
        se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else nan
        diff = float(d.mean()) if n else nan
        if len(ok) < len(runs):
            call = "outside"
        elif n > 1 and diff - 2 * se >= -TOLERANCE_POINTS:
            call = "within"
        elif n > 1 and diff + 2 * se < -TOLERANCE_POINTS:
            call = "outside"
        else:
            call = "unresolved"
        rows.append({
            "c_F": key[0], "g0_S": key[1], "e_n_V_rtHz": key[2], "n_seeds": len(runs),
            "energy_J": energy.get(key, nan), "mean": float(a.mean()) if n else nan,
            "sd": float(a.std(ddof=1)) if n > 1 else 0.0, "diff": diff, "diff_se": se,
            "call": call, "diverged": len(runs) - len(ok),
            "unsettled_samples": int(sum(r.get("unsettled_samples", 0) for r in runs)),
        })  # fmt: skip
    tr["rows"] = rows


def _figure(rows, noiseless, a100_J, amp_J=None) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    keys = sorted({(r["g0_S"], r["e_n_V_rtHz"]) for r in rows})
    for g0, en in keys:
        sub = sorted((r for r in rows if r["g0_S"] == g0 and r["e_n_V_rtHz"] == en),
                     key=lambda r: r["c_F"])  # fmt: skip
        lab = f"g0 {g0:.0e} S, e_n {en:.0e} V/rtHz"
        c = [r["c_F"] for r in sub]
        axes[0].semilogx(c, [r["bits_readout"] for r in sub], "o-", label=lab)
        axes[1].semilogx(c, [r["accuracy_mean"] for r in sub], "o-", label=lab)
        axes[2].loglog([r["energy_J"] for r in sub], [max(noiseless - r["accuracy_mean"], 0.05)
                                                       for r in sub], "o-", label=lab)  # fmt: skip
    axes[0].axhline(ADC_BITS, color="k", lw=0.8, ls=":", label=f"{ADC_BITS}-bit ADC")
    axes[0].set(xlabel="node capacitance C (F)", ylabel="effective bits of the read-out",
                title="precision (Lyapunov)")  # fmt: skip
    axes[1].axhline(noiseless, color="k", lw=0.8, ls=":", label="noiseless + ADC")
    axes[1].set(xlabel="node capacitance C (F)", ylabel="test accuracy under noise (%)",
                title="noisy settle + ADC read-out")  # fmt: skip
    axes[2].axvline(a100_J, color="r", lw=1, ls="--", label="A100 forward pass")
    if amp_J is not None:
        axes[2].axvline(amp_J, color="g", lw=1, ls="-.", label="100 MHz amplifiers: tau bound")
    axes[2].axhline(TOLERANCE_POINTS, color="k", lw=0.8, ls=":", label="0.5 point")
    axes[2].set(xlabel="energy per inference (J)", ylabel="accuracy loss (points, floor 0.05)",
                title="energy-precision frontier")  # fmt: skip
    for ax in axes:
        ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def run(quick: bool) -> tuple[str, dict]:
    """Train, sweep; ``(machine line, raw measurements)``."""
    cfg = _config(quick)
    t0 = time.perf_counter()
    from pc_analog.learning.defaults import prepare_data

    net, train_acc, scaling = _classifier(cfg["epochs"], cfg["lr"])
    t_train = time.perf_counter() - t0
    # compile_network clamps X as given: the test digits scaled as the classifier trained
    # on them (before 2026-11-30 13:00 UTC the sweep clamped load_digits()' [0, 1] pixels,
    # which the globally standardised classifier never saw)
    data = prepare_data("digits", input_scaling=scaling)
    X, labels = data.x_test[: cfg["n_eval"]], data.lab_test[: cfg["n_eval"]]
    base = compile_network(net, X)
    x_rest = base.x_init  # input clamped, output free: the feedforward pass is the rest point
    noiseless = float((np.argmax(quantise(x_rest[-1], ADC_BITS, ADC_RANGE_V), 1) == labels).mean())
    noiseless *= 100
    rows = []
    k = 0
    for g0, en in cfg["designs"]:
        for c in cfg["c_F"]:
            rows.append(_point(net, X, labels, x_rest, cfg, c, g0, en, seed=k))
            k += 1
    t_sweep = time.perf_counter() - t0 - t_train
    n_w = sum(w.size for w in net.weights)
    a100_J = 2 * n_w * DIGITAL_PRESETS["gpu-a100"].energy_per_flop_J
    raw = {"rows": rows, "noiseless_accuracy": noiseless, "train_accuracy": train_acc,
           "a100_forward_J": a100_J, "config": cfg, "load_average": os.getloadavg()[0],
           "seconds": {"train": t_train, "sweep": t_sweep}}  # fmt: skip
    return machine_line(), raw


def format_section(machine: str, raw: dict, quick: bool) -> str:
    """The section's markdown (and, unless ``quick``, its figure) from the measured ``raw``.

    Long because it is the section's text: the setup, the verdict and the table.
    """
    rows, noiseless, a100_J = raw["rows"], raw["noiseless_accuracy"], raw["a100_forward_J"]
    cfg, train_acc = raw["config"], raw["train_accuracy"]
    amp_tau = AnalogSpec().amp_tau_s
    for r in rows:  # the behavioural circuit assumes amplifiers much faster than the nodes
        r["amplifier_feasible"] = r["tau_s"] >= AMP_MARGIN * amp_tau
    ok = [r for r in rows if r["accuracy_mean"] >= noiseless - TOLERANCE_POINTS]
    best_any = min(ok, key=lambda r: r["energy_J"]) if ok else None
    feasible = [r for r in ok if r["amplifier_feasible"]]
    best = min(feasible, key=lambda r: r["energy_J"]) if feasible else None
    raw["best"], raw["best_ignoring_amplifier_bandwidth"] = best, best_any
    table = [
        "| C | g0 | e_n (V/rtHz) | tau | t_settle | energy / inference | output noise (rms) "
        "| bits (analog) | bits (after ADC) | accuracy under noise (%) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "" if r["amplifier_feasible"] else " *"
        table.append(
            f"| {r['c_F']:.3g} F | {r['g0_S']:.0e} S | {r['e_n_V_rtHz']:.0e} "
            f"| {r['tau_s']:.3g} s{mark} | {r['settling_time_s']:.3g} s | {r['energy_J']:.3g} J "
            f"| {r['output_std_V'] * 1e3:.3g} mV | {r['bits_readout']:.1f} "
            f"| {r['bits_readout_adc']:.2f} | {r['accuracy_mean']:.2f} +- {r['accuracy_std']:.2f} |"
        )

    def describe(r):
        return (
            f"C = {r['c_F']:.3g} F, g0 = {r['g0_S']:.0e} S, e_n = {r['e_n_V_rtHz']:.0e} V/rtHz: "
            f"{r['energy_J']:.3g} J per inference (settling {r['settling_time_s']:.3g} s, "
            f"{r['bits_readout']:.1f} effective bits before the ADC, accuracy "
            f"{r['accuracy_mean']:.2f} %), {r['energy_J'] / a100_J:.3g} x the A100 forward "
            f"pass ({a100_J:.3g} J)"
        )

    verdict = [
        f"**Lowest-energy design within {TOLERANCE_POINTS} point of the noiseless accuracy "
        f"({noiseless:.2f} %) that the default spec's 100 MHz amplifiers can follow "
        f"(tau >= {AMP_MARGIN:g} x 1/(2 pi 100 MHz) = {AMP_MARGIN * amp_tau:.3g} s):** "
        + (describe(best) if best else "none")
        + ".",
        "",
        "Ignoring the amplifier bandwidth (rows marked * have tau below that bound: the "
        "behavioural circuit's ideal stages would have to be faster than the spec's 100 MHz, "
        "10 uW amplifiers), "
        "the noise alone would allow "
        + (describe(best_any) if best_any else "no design")
        + ".  At 1 V of signal swing the "
        "thermal noise kT/C binds only between 1 and 10 aF; amplifier noise of 1 uV/rtHz "
        "(variance e_n^2 g/(4C) at a node) binds about ten times higher in C, and ten times "
        "higher again with g0 = 10 uS; "
        "with realistic amplifiers the bandwidth, not the noise, sets the energy floor.",
    ]
    text = "\n".join(
        [
            machine,
            (
                f"Load average {raw['load_average']:.1f} at the end; "
                if "load_average" in raw
                else ""
            )
            + "Training "
            f"{raw['seconds']['train']:.0f} s, sweep {raw['seconds']['sweep']:.0f} s "
            f"({len(rows)} designs).  Produced by `benchmarks/noise.py` "
            "(`pc_analog.solvers.lyapunov`, `pc_analog.solvers.sde`, `pc_analog.costs.energy`);"
            " physics and sources in `docs/noise.md`.",
            "",
            f"A seeded 64-32-10 tanh classifier trained {cfg['epochs']} epochs (lr "
            f"{cfg.get('lr', 0.1):g}) on the digits with `train`, its test digits clamped with "
            f"its input scaling (test accuracy {train_acc * 100:.2f} % over the 360 test digits); "
            f"{cfg['n_eval']} test digits, input clamped, output free, every free unit reset to "
            f"0 V. Thermal noise of the springs (300 K) always on, plus amplifier noise e_n. "
            f"Read-out: an {ADC_BITS}-bit ADC over +-{ADC_RANGE_V:g} V. Energy: springs, cells "
            "and N_amp x 10 uW over the noiseless settling time (ode, band 1e-3), mean over "
            f"{cfg['n_energy']} digits. Noise and bits: Lyapunov at the rest point, RMS over "
            f"the 10 outputs, mean over {cfg['n_lyap']} digits; bits = log2(2R / (sigma "
            "sqrt 12)). Accuracy under noise: `sde` (exponential scheme) from reset to 1.5 x "
            f"the slowest settling time, {cfg['repeats']} noise draws per digit (mean +- sd "
            f"over draws). Noiseless accuracy with the same ADC: {noiseless:.2f} %. "
            "Capacitances below ~0.1 fF are not physical node capacitances (wiring alone "
            "exceeds them): they extend the sweep to where kT/C reaches the signal. In-circuit "
            "training with noisy Hebbian updates: the next section.",
            "",
            *verdict,
            "",
            *table,
            "",
            "![noise and precision](benchmarks/figures/noise_frontier.png)",
            *(_training_text(raw) if "training" in raw else []),
        ]
    )
    if not quick:
        FIGURES.mkdir(exist_ok=True)
        amp_J = min((r["energy_J"] for r in rows if r["amplifier_feasible"]), default=None)
        fig = _figure(rows, noiseless, a100_J, amp_J)
        atomic_write_bytes(FIGURES / "noise_frontier.png", fig)
        if "training" in raw:
            atomic_write_bytes(FIGURES / "noise_training.png", _train_figure(raw["training"]))
    return text


def _training_text(raw: dict) -> list:
    """The training part's lines (module docstring), energies from the inference rows."""
    tr = raw["training"]
    energy = {(r["c_F"], r["g0_S"], r["e_n_V_rtHz"]): r["energy_J"] for r in raw["rows"]}
    _summarise_training(tr, energy)
    base = tr["noiseless"]
    ok = [r for r in tr["rows"]
          if not r["diverged"] and r["mean"] >= base["mean"] - TOLERANCE_POINTS]  # fmt: skip
    best = min(ok, key=lambda r: r["energy_J"]) if ok else None
    tr["best"] = best
    feas = {
        (r["c_F"], r["g0_S"], r["e_n_V_rtHz"]) for r in raw["rows"] if r.get("amplifier_feasible")
    }
    ok_amp = [r for r in ok if (r["c_F"], r["g0_S"], r["e_n_V_rtHz"]) in feas]
    best_amp = min(ok_amp, key=lambda r: r["energy_J"]) if ok_amp else None
    tr["best_amplifier_feasible"] = best_amp
    tc = tr["config"]
    seeds = tc["seeds"]
    cheaper = [r for r in tr["rows"] if best and r["energy_J"] < best["energy_J"]]
    if best is None:
        resolved = ""
    elif best["call"] == "within" and all(r["call"] == "outside" for r in cheaper):
        resolved = " Resolved: it is within by 2 standard errors of the paired difference"
        resolved += ", every cheaper design outside by 2." if cheaper else "."
    else:
        resolved = (
            " Not resolved by the spread: this design is "
            f"{best['call']} and the cheaper designs are "
            f"{', '.join(r['call'] for r in cheaper) or 'none'} at 2 standard errors."
        )
    lines = [
        "",
        "### In-circuit training with noisy Hebbian updates",
        "",
        f"The 64-32-10 classifier (lr {tc['lr']:g}, cosine schedule, batch 16, the digits "
        f"defaults otherwise; {tc['epochs']} epochs on "
        + (f"the first {tc['limit_train']}" if tc.get("limit_train") else "all the")
        + f" training digits; seeds {', '.join(map(str, seeds))}) trained *in the noisy "
        "circuit*: an analog spec with the design's C and g0, thermal noise on (plus e_n), an "
        f"{ADC_BITS}-bit ADC over +-{ADC_RANGE_V:g} V; every batch settles (equilibrium "
        "backend) and its Hebbian update reads the settled state plus a seeded draw from the "
        "stationary covariance of the linearised circuit, through the ADC "
        '(`pc_analog.hardware.noisy_read`, docs/noise.md "Training in the noisy circuit"). '
        "Tested on the 360 test digits the same way: equilibrium settle with the output "
        f"free, {tc['reads']} independent noisy reads per digit, ADC, argmax (accuracy: mean "
        "over digits and reads). Reference: the same spec with the noise off, trained from "
        f"the same seeds: {base['mean']:.2f} +- {base['sd']:.2f} %. Energy per inference of "
        "the design: the inference sweep's rows. The call compares the paired (same-seed) "
        "difference to the reference with -0.5 point: within / outside when its mean is 2 "
        "standard errors clear, unresolved otherwise. "
        f"Training sweep {tr['seconds']:.0f} s (nice 10, not a timing).",
        "",
        f"**Lowest-energy design whose mean in-circuit-trained accuracy is within "
        f"{TOLERANCE_POINTS} point of the noiseless-trained {base['mean']:.2f} %:** "
        + (
            f"C = {best['c_F']:.3g} F, g0 = {best['g0_S']:.0e} S, e_n = "
            f"{best['e_n_V_rtHz']:.0e} V/rtHz, {best['mean']:.2f} +- {best['sd']:.2f} %, "
            f"{best['energy_J']:.3g} J per inference."
            if best
            else "none."
        )
        + resolved
        + (
            f" Among the designs the default spec's 100 MHz amplifiers can follow (the "
            f"inference rows without *): C = {best_amp['c_F']:.3g} F, "
            f"{best_amp['mean']:.2f} +- {best_amp['sd']:.2f} % ({best_amp['call']}), "
            f"{best_amp['energy_J']:.3g} J per inference."
            if best_amp and best_amp is not best
            else ""
        ),
        "",
        "| C | g0 | e_n (V/rtHz) | energy / inference | accuracy trained + tested noisy (%, "
        "mean +- sd over seeds) | paired difference to noiseless (points, +- se) | call "
        "| samples without a stationary state |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in tr["rows"]:
        k, n = r["diverged"], r["n_seeds"]
        if k == n:
            acc, dif = f"diverged ({k} of {n} seeds)", "-"
        else:
            div = f" ({k} of {n} seeds diverged; the others)" if k else ""
            acc = f"{r['mean']:.2f} +- {r['sd']:.2f}{div}"
            dif = f"{r['diff']:+.2f} +- {r['diff_se']:.2f}"
        lines.append(
            f"| {r['c_F']:.3g} F | {r['g0_S']:.0e} S | {r['e_n_V_rtHz']:.0e} "
            f"| {r['energy_J']:.3g} J | {acc} | {dif} | {r['call']} | {r['unsettled_samples']} |"
        )
    lines += ["", "![training in the noisy circuit](benchmarks/figures/noise_training.png)"]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 capacitances, no write (CI size)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument(
        "--training-only",
        action="store_true",
        help="re-run the training sweep only; keep the stored inference sweep",
    )
    ap.add_argument(
        "--inference-only",
        action="store_true",
        help="re-run the inference sweep only; keep the stored training sweep",
    )
    ap.add_argument(
        "--redraw",
        action="store_true",
        help="re-format the section and figure from results/noise.json (no sweep)",
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.redraw:
        from _report import load_results, machine_text

        stored = load_results("noise")
        machine, raw = machine_text(stored), stored["raw"]
    elif args.inference_only:
        from _report import load_results

        stored = load_results("noise")
        machine, raw = run(args.quick)
        raw["training"] = stored["raw"]["training"]
    elif args.training_only:
        from _report import load_results

        stored = load_results("noise")
        machine, raw = machine_line(), stored["raw"]
        raw["training"] = train_sweep(args.quick)
    else:
        machine, raw = run(args.quick)
        raw["training"] = train_sweep(args.quick)
    text = format_section(machine, raw, args.quick)
    print(text)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if not args.quick and not args.no_write:
        path = write_results("noise", SECTION, text, script="benchmarks/noise.py", raw=raw)
        print(f"wrote {path} and re-rendered BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
