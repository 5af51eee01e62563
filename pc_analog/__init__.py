"""pc-analog: predictive-coding inference as physical relaxation in analog circuits.

The public surface, re-exported in data-flow order (each stage imports only the
stages above it; ``tests/test_architecture.py`` enforces it):

1. ``model``: activations, the network and its energy ``F``;
2. ``io``: network files, vectors and data sets;
3. ``circuit``: the circuit IR (:func:`compile_network`);
4. ``solvers``: the backend protocol, the rest-point solver, discrete PC, the ODE;
5. ``spice``: netlists and ngspice;
6. ``reference``: backprop and the digital PC variants;
7. ``settling``: :func:`settle` and the backend registry;
8. ``hardware``: device models and the Hebbian stage;
9. ``learning``: :func:`train`;
10. ``costs``: hardware specs, energy and :func:`timing_report`;
11. ``experiments``: studies, seed claims and :func:`run_sweep`;
12. ``viz`` and ``cli``.

``import pc_analog`` imports nothing but its version and the exception classes: every
other public name is resolved on first use by a module ``__getattr__`` (PEP 562) from
``_LAZY``, so the command line starts without loading scipy for a subcommand that does
not need it.  PySpice, matplotlib, scikit-learn and dask are imported lazily where they
are used.  ``pc_analog.errors``
is the exception module; the energy's prediction errors are :func:`prediction_errors`.
"""
# ruff: noqa: I001  (the order is the data flow, not the alphabet)

import importlib

from pc_analog._version import __version__
from pc_analog.errors import (
    BackendError,
    BackendUnavailableError,
    ConvergenceError,
    ConvergenceWarning,
    InvalidInputError,
    PCAnalogError,
)

#: public name -> (module, attribute), in data-flow order.
_LAZY = {
    "ACTIVATIONS": ("pc_analog.model.activations", "ACTIVATIONS"),
    "Activation": ("pc_analog.model.activations", "Activation"),
    "get_activation": ("pc_analog.model.activations", "get_activation"),
    "Clamp": ("pc_analog.model.network", "Clamp"),
    "Network": ("pc_analog.model.network", "Network"),
    "dense_hessian": ("pc_analog.model.energy", "dense_hessian"),
    "energy": ("pc_analog.model.energy", "energy"),
    "feedforward": ("pc_analog.model.energy", "feedforward"),
    "grad_params": ("pc_analog.model.energy", "grad_params"),
    "grad_x": ("pc_analog.model.energy", "grad_x"),
    "hessian_blocks": ("pc_analog.model.energy", "hessian_blocks"),
    "initial_state": ("pc_analog.model.energy", "initial_state"),
    "io_state": ("pc_analog.model.energy", "io_state"),
    "predictions": ("pc_analog.model.energy", "predictions"),
    "weighted_errors": ("pc_analog.model.energy", "weighted_errors"),
    "prediction_errors": ("pc_analog.model.energy", "errors"),
    "load_network": ("pc_analog.io.formats", "load_network"),
    "load_vectors": ("pc_analog.io.formats", "load_vectors"),
    "network_from_dict": ("pc_analog.io.formats", "network_from_dict"),
    "network_to_dict": ("pc_analog.io.formats", "network_to_dict"),
    "save_network": ("pc_analog.io.formats", "save_network"),
    "Circuit": ("pc_analog.circuit.ir", "Circuit"),
    "Hardware": ("pc_analog.circuit.ir", "Hardware"),
    "compile_network": ("pc_analog.circuit.ir", "compile_network"),
    "Backend": ("pc_analog.solvers.base", "Backend"),
    "SettleResult": ("pc_analog.solvers.base", "SettleResult"),
    "Status": ("pc_analog.solvers.base", "Status"),
    "DiscreteResult": ("pc_analog.solvers.discrete", "DiscreteResult"),
    "discrete_inference": ("pc_analog.solvers.discrete", "discrete_inference"),
    "EquilibriumResult": ("pc_analog.solvers.equilibrium", "EquilibriumResult"),
    "solve_equilibrium": ("pc_analog.solvers.equilibrium", "solve_equilibrium"),
    "FPAResult": ("pc_analog.reference.variants", "FPAResult"),
    "Gradients": ("pc_analog.reference.variants", "Gradients"),
    "backprop": ("pc_analog.reference.variants", "backprop"),
    "cosine_similarity": ("pc_analog.reference.variants", "cosine_similarity"),
    "fpa_inference": ("pc_analog.reference.variants", "fpa_inference"),
    "gradients": ("pc_analog.reference.variants", "gradients"),
    "hebbian_update": ("pc_analog.reference.variants", "hebbian_update"),
    "pc_gradients": ("pc_analog.reference.variants", "pc_gradients"),
    "zil_gradients": ("pc_analog.reference.variants", "zil_gradients"),
    "BACKENDS": ("pc_analog.settling.registry", "BACKENDS"),
    "get_backend": ("pc_analog.settling.registry", "get_backend"),
    "settle": ("pc_analog.settling.registry", "settle"),
    "DEVICE_PRESETS": ("pc_analog.hardware.devices", "PRESETS"),
    "DeviceConfig": ("pc_analog.hardware.devices", "DeviceConfig"),
    "load_device_config": ("pc_analog.hardware.devices", "load_device_config"),
    "TrainConfig": ("pc_analog.learning.train", "TrainConfig"),
    "TrainReport": ("pc_analog.learning.train", "TrainReport"),
    "train": ("pc_analog.learning.train", "train"),
    "ANALOG_PRESETS": ("pc_analog.costs.specs", "ANALOG_PRESETS"),
    "DIGITAL_PRESETS": ("pc_analog.costs.specs", "DIGITAL_PRESETS"),
    "AnalogSpec": ("pc_analog.costs.specs", "AnalogSpec"),
    "DigitalSpec": ("pc_analog.costs.specs", "DigitalSpec"),
    "cpu_measured_spec": ("pc_analog.costs.specs", "cpu_measured_spec"),
    "load_analog_spec": ("pc_analog.costs.specs", "load_analog_spec"),
    "load_digital_spec": ("pc_analog.costs.specs", "load_digital_spec"),
    "TimingReport": ("pc_analog.costs.timing", "TimingReport"),
    "energy_per_inference": ("pc_analog.costs.timing", "energy_per_inference"),
    "flop_counts": ("pc_analog.costs.timing", "flop_counts"),
    "roofline": ("pc_analog.costs.timing", "roofline"),
    "timing_report": ("pc_analog.costs.timing", "timing_report"),
    "SweepConfig": ("pc_analog.experiments.sweep", "SweepConfig"),
    "SweepResult": ("pc_analog.experiments.sweep", "SweepResult"),
    "load_sweep_config": ("pc_analog.experiments.sweep", "load_sweep_config"),
    "read_sweep_csv": ("pc_analog.experiments.sweep", "read_sweep_csv"),
    "run_sweep": ("pc_analog.experiments.sweep", "run_sweep"),
}


__all__ = [
    "__version__",
    "PCAnalogError",
    "InvalidInputError",
    "BackendError",
    "BackendUnavailableError",
    "ConvergenceError",
    "ConvergenceWarning",
    *_LAZY,
]


def __getattr__(name: str):
    """Import a public name on first use (PEP 562) and cache it in the module."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
