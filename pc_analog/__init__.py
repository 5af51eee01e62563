"""pc-analog: predictive-coding inference as physical relaxation in analog circuits.

The public surface, in data-flow order: the network and its energy, the
digital reference (backprop, discrete PC and its variants), the equilibrium
solver and the :func:`settle` entry point, the timing stage (hardware specs and
:func:`timing_report`), co-design sweeps (:func:`run_sweep`), file formats and data sets.
``import pc_analog`` needs only numpy, scipy and networkx; PySpice, matplotlib,
scikit-learn and dask are imported lazily where they are used.
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .circuit import Circuit, Hardware, compile_network
from .devices import PRESETS as DEVICE_PRESETS
from .devices import DeviceConfig, load_device_config
from .energy import (
    dense_hessian,
    energy,
    errors,
    feedforward,
    grad_params,
    grad_x,
    hessian_blocks,
    initial_state,
    io_state,
    predictions,
    weighted_errors,
)
from .equilibrium import EquilibriumResult, solve_equilibrium
from .errors import (
    BackendError,
    BackendUnavailableError,
    ConvergenceWarning,
    InvalidInputError,
    PCAnalogError,
)
from .formats import load_network, load_vectors, network_from_dict, network_to_dict, save_network
from .network import Clamp, Network
from .reference import (
    DiscreteResult,
    FPAResult,
    Gradients,
    backprop,
    cosine_similarity,
    discrete_inference,
    fpa_inference,
    gradients,
    hebbian_update,
    pc_gradients,
    zil_gradients,
)
from .settle import BACKENDS, Backend, SettleResult, get_backend, settle
from .specs import (
    ANALOG_PRESETS,
    DIGITAL_PRESETS,
    AnalogSpec,
    DigitalSpec,
    cpu_measured_spec,
    load_analog_spec,
    load_digital_spec,
)
from .sweep import SweepConfig, SweepResult, load_sweep_config, read_sweep_csv, run_sweep
from .timing import TimingReport, energy_per_inference, flop_counts, roofline, timing_report
from .train import TrainConfig, TrainReport, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "Circuit",
    "DEVICE_PRESETS",
    "DeviceConfig",
    "Hardware",
    "TrainConfig",
    "TrainReport",
    "compile_network",
    "load_device_config",
    "train",
    "Activation",
    "BACKENDS",
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "Clamp",
    "ConvergenceWarning",
    "DiscreteResult",
    "EquilibriumResult",
    "FPAResult",
    "Gradients",
    "InvalidInputError",
    "Network",
    "PCAnalogError",
    "SettleResult",
    "backprop",
    "cosine_similarity",
    "dense_hessian",
    "discrete_inference",
    "energy",
    "errors",
    "feedforward",
    "fpa_inference",
    "get_activation",
    "get_backend",
    "grad_params",
    "grad_x",
    "gradients",
    "hebbian_update",
    "hessian_blocks",
    "initial_state",
    "io_state",
    "load_network",
    "load_vectors",
    "network_from_dict",
    "network_to_dict",
    "pc_gradients",
    "predictions",
    "save_network",
    "settle",
    "solve_equilibrium",
    "weighted_errors",
    "zil_gradients",
    "ANALOG_PRESETS",
    "DIGITAL_PRESETS",
    "AnalogSpec",
    "DigitalSpec",
    "TimingReport",
    "cpu_measured_spec",
    "energy_per_inference",
    "flop_counts",
    "load_analog_spec",
    "load_digital_spec",
    "roofline",
    "timing_report",
    "SweepConfig",
    "SweepResult",
    "load_sweep_config",
    "read_sweep_csv",
    "run_sweep",
]
