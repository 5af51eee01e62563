"""``pc-analog noise``: the stationary noise of one sample at its rest point (SPEC section 4).

The analog spec (``--hardware``) sets the noise sources (``thermal_noise``,
``temperature_K``, ``amp_noise_V_rtHz``) and the read-out (``adc_bits``, ``adc_range_V``).
``--level crossbar`` adds the thermal noise of every crossbar cell and wire segment
(amplifier noise stays behavioural-level only: the spec refuses it there).  The device
preset the spec names (``device``) brings its per-read relative noise ``read_noise`` as a
white conductance noise during settling, ``read_noise sqrt(2 tau)`` per sqrt(Hz)
(:func:`with_device_read_noise`; ``"noise"`` in the JSON reports it).
Methods: ``lyapunov`` (linear-noise theory, :mod:`pc_analog.solvers.lyapunov`), ``sde``
(``--samples`` independent draws from the stochastic backend, :mod:`pc_analog.solvers.sde`)
and ``ngspice`` (a transient with ``trnoise`` sources, :mod:`pc_analog.spice.noise`).
``--json`` prints ``{"method", "std", "effective_bits", ...}``: ``std[l][i]`` the standard
deviation of unit ``i`` of layer ``l`` in volts (0 for clamped units); ``effective_bits``
holds ``"layers"`` (per layer over ``+-adc_range_V``; ``null`` where noiseless),
``"readout"`` (the top layer before the ADC) and ``"readout_adc"`` (after it; ``null``
without an ADC).  Exit 3 when the circuit has no stationary state (unstable).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from pc_analog.cli._common import (
    EXIT_BACKEND,
    EXIT_OK,
    add_spec_option,
    compile_with_spec,
    int_at_least,
    json_line,
    load_io,
    nonnegative_int,
)
from pc_analog.errors import InvalidInputError

__all__ = ["add_parser", "run", "METHODS"]

METHODS = ("lyapunov", "sde", "ngspice")


def _bits(v: np.ndarray):
    x = float(v[0])
    return x if np.isfinite(x) else None


def report(circuit, method: str, *, samples: int, seed: int, spec):
    """The :class:`~pc_analog.solvers.lyapunov.NoiseReport` of ``circuit`` by ``method``."""
    kw = {"adc_bits": spec.adc_bits, "range_V": spec.adc_range_V}
    if method == "lyapunov":
        from pc_analog.solvers.lyapunov import lyapunov_noise, noise_report, rest_point

        x, ok = rest_point(circuit)
        S, _, _, status, msg = lyapunov_noise(circuit, x)
        return noise_report(circuit, S, x, method="lyapunov", status=status, message=msg,
                            stats={"rest_point_converged": bool(ok)}, **kw)  # fmt: skip
    if method == "sde":
        from pc_analog.solvers.sde import sde_noise

        return sde_noise(circuit, samples=samples, seed=seed, **kw)
    from pc_analog.spice.noise import ngspice_noise

    return ngspice_noise(circuit, samples=samples, seed=seed, **kw)


def with_device_read_noise(circuit, device: str):
    """``circuit`` with the read noise of the spec's device preset as a settling noise
    source: ``read_noise_rtHz = read_noise sqrt(2 tau)``, a read taken to last one
    ``tau = C/g0`` (:func:`pc_analog.circuit.noise.read_noise_density`; docs/noise.md).
    Unchanged for a device without read noise."""

    from pc_analog.circuit.noise import NoiseSources, read_noise_density, with_noise
    from pc_analog.hardware.devices import PRESETS

    sigma = PRESETS[device].read_noise
    if sigma == 0:
        return circuit
    if circuit.crossbar is not None:
        raise InvalidInputError(
            f"analog.device: {device!r} read noise is modelled at the behavioural level (and a "
            "crossbar level without wires, amplifiers or thermal noise) only"
        )
    base = circuit.noise or NoiseSources()
    rtHz = read_noise_density(sigma, circuit.tau_s)
    return with_noise(circuit, dataclasses.replace(base, read_noise_rtHz=rtHz))


def run(args) -> int:
    """Print the noise of one sample; 0 on success, 3 when the circuit is unstable."""
    from pc_analog.costs.specs import load_analog_spec
    from pc_analog.io.formats import load_network

    if args.spec is None:
        raise InvalidInputError("--hardware: required (the spec sets the noise sources)")
    net = load_network(args.network)
    x0, y, single = load_io(args, net, need_target=False)
    if not single and x0.shape[0] != 1:
        raise InvalidInputError(f"--input: noise takes one sample, got {x0.shape[0]}")
    spec = load_analog_spec(args.spec)
    circuit = with_device_read_noise(compile_with_spec(args, net, x0, y), spec.device)
    rep = report(circuit, args.method, samples=args.samples, seed=args.seed, spec=spec)
    out = {
        "method": rep.method,
        "std": [s[0].tolist() for s in rep.std],
        "effective_bits": {
            "layers": [_bits(b) for b in rep.effective_bits],
            "readout": _bits(rep.readout_bits),
            "readout_adc": None if rep.readout_bits_adc is None else _bits(rep.readout_bits_adc),
            "range_V": rep.range_V,
            "adc_bits": spec.adc_bits,
        },
        "hebbian_std_max": None
        if rep.hebbian_std is None
        else [float(h[0].max()) if h.size else 0.0 for h in rep.hebbian_std],
        "noise": {
            "thermal_noise": spec.thermal_noise,
            "temperature_K": spec.temperature_K,
            "amp_noise_V_rtHz": spec.amp_noise_V_rtHz,
            "read_noise_rtHz": 0.0 if circuit.noise is None else circuit.noise.read_noise_rtHz,
        },
        "converged": rep.success,
        "status": rep.status.name,
        "message": rep.message,
        "stats": rep.stats,
    }
    if args.json:
        print(json_line(out))
    else:
        print(f"noise ({rep.method}): {rep.message}")
        for l, s in enumerate(rep.std):
            bits = out["effective_bits"]["layers"][l]
            b = "noiseless" if bits is None else f"{bits:.2f} effective bits"
            rms = np.sqrt(np.mean(s[0] ** 2))
            print(f"layer {l}: std max {s[0].max():.4g} V, rms {rms:.4g} V; {b}")
        eb = out["effective_bits"]

        def fmt(b):
            return "noiseless" if b is None else f"{b:.2f} bits"

        after = "no ADC" if spec.adc_bits is None else f"{fmt(eb['readout_adc'])} after"
        print(f"read-out: {fmt(eb['readout'])} before the ADC, {after}")
    if rep.success:
        return EXIT_OK
    print(f"pc-analog: noise: {rep.message}", file=sys.stderr)
    return EXIT_BACKEND


def add_parser(sub) -> None:
    """Register ``noise`` on the subcommand set ``sub``."""
    s = sub.add_parser("noise", help="stationary noise of one sample at its rest point")
    s.add_argument("network", metavar="NET.json", help="network file (.json or .npz)")
    s.add_argument("--input", required=True, metavar="X.json", help="input vector, clamped")
    s.add_argument("--target", metavar="Y.json", help="target vector, clamped at the output")
    s.add_argument("--method", default="lyapunov", choices=METHODS,
                   help="linear-noise theory, the sde backend, or an ngspice transient with "
                   "trnoise sources (default lyapunov)")  # fmt: skip
    s.add_argument(
        "--samples",
        type=int_at_least(2),
        default=1000,
        help="sde, ngspice: stationary samples per unit (>= 2, default 1000)",
    )
    s.add_argument("--seed", type=nonnegative_int, default=0, help="seeds the noise (default 0)")
    s.add_argument("--level", default="behavioural", choices=("behavioural", "crossbar"),
                   help="circuit level (behavioural: springs and amplifiers; crossbar: "
                   "springs, every crossbar cell and wire segment)")  # fmt: skip
    add_spec_option(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    from pc_analog.circuit.ir import Hardware  # no --c-F options: the spec sets them

    s.set_defaults(func=run, **dataclasses.asdict(Hardware()))
