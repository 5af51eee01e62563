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

``import pc_analog`` needs only numpy, scipy and networkx; PySpice, matplotlib,
scikit-learn and dask are imported lazily where they are used.  ``pc_analog.errors``
is the exception module; the energy's prediction errors are :func:`prediction_errors`.
"""
# ruff: noqa: I001  (the import order is the data flow, not the alphabet)

from pc_analog._version import __version__
from pc_analog.errors import (
    BackendError,
    BackendUnavailableError,
    ConvergenceError,
    ConvergenceWarning,
    InvalidInputError,
    PCAnalogError,
)

# 1. model
from pc_analog.model.activations import ACTIVATIONS, Activation, get_activation
from pc_analog.model.network import Clamp, Network
from pc_analog.model.energy import (
    dense_hessian,
    energy,
    feedforward,
    grad_params,
    grad_x,
    hessian_blocks,
    initial_state,
    io_state,
    predictions,
    weighted_errors,
)
from pc_analog.model.energy import errors as prediction_errors

# 2. io
from pc_analog.io.formats import (
    load_network,
    load_vectors,
    network_from_dict,
    network_to_dict,
    save_network,
)

# 3. circuit
from pc_analog.circuit.ir import Circuit, Hardware, compile_network

# 4. solvers
from pc_analog.solvers.base import Backend, SettleResult, Status
from pc_analog.solvers.discrete import DiscreteResult, discrete_inference
from pc_analog.solvers.equilibrium import EquilibriumResult, solve_equilibrium

# 6. reference
from pc_analog.reference.variants import (
    FPAResult,
    Gradients,
    backprop,
    cosine_similarity,
    fpa_inference,
    gradients,
    hebbian_update,
    pc_gradients,
    zil_gradients,
)

# 7. settling
from pc_analog.settling.registry import BACKENDS, get_backend, settle

# 8. hardware
from pc_analog.hardware.devices import PRESETS as DEVICE_PRESETS
from pc_analog.hardware.devices import DeviceConfig, load_device_config

# 9. learning
from pc_analog.learning.train import TrainConfig, TrainReport, train

# 10. costs
from pc_analog.costs.specs import (
    ANALOG_PRESETS,
    DIGITAL_PRESETS,
    AnalogSpec,
    DigitalSpec,
    cpu_measured_spec,
    load_analog_spec,
    load_digital_spec,
)
from pc_analog.costs.timing import (
    TimingReport,
    energy_per_inference,
    flop_counts,
    roofline,
    timing_report,
)

# 11. experiments
from pc_analog.experiments.sweep import (
    SweepConfig,
    SweepResult,
    load_sweep_config,
    read_sweep_csv,
    run_sweep,
)

__all__ = [
    "__version__",
    # errors
    "PCAnalogError",
    "InvalidInputError",
    "BackendError",
    "BackendUnavailableError",
    "ConvergenceError",
    "ConvergenceWarning",
    # model
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "Network",
    "Clamp",
    "energy",
    "prediction_errors",
    "predictions",
    "weighted_errors",
    "grad_x",
    "grad_params",
    "hessian_blocks",
    "dense_hessian",
    "feedforward",
    "initial_state",
    "io_state",
    # io
    "load_network",
    "save_network",
    "network_from_dict",
    "network_to_dict",
    "load_vectors",
    # circuit
    "Hardware",
    "Circuit",
    "compile_network",
    # solvers
    "Backend",
    "SettleResult",
    "Status",
    "EquilibriumResult",
    "solve_equilibrium",
    "DiscreteResult",
    "discrete_inference",
    # reference
    "Gradients",
    "FPAResult",
    "backprop",
    "fpa_inference",
    "zil_gradients",
    "pc_gradients",
    "hebbian_update",
    "gradients",
    "cosine_similarity",
    # settling
    "BACKENDS",
    "get_backend",
    "settle",
    # hardware
    "DEVICE_PRESETS",
    "DeviceConfig",
    "load_device_config",
    # learning
    "TrainConfig",
    "TrainReport",
    "train",
    # costs
    "ANALOG_PRESETS",
    "DIGITAL_PRESETS",
    "AnalogSpec",
    "DigitalSpec",
    "cpu_measured_spec",
    "load_analog_spec",
    "load_digital_spec",
    "TimingReport",
    "energy_per_inference",
    "flop_counts",
    "roofline",
    "timing_report",
    # experiments
    "SweepConfig",
    "SweepResult",
    "load_sweep_config",
    "read_sweep_csv",
    "run_sweep",
]
