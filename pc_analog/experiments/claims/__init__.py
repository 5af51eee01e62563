"""The seeds' quantitative claims, each as a measurement.

The functions here reproduce what the source texts of the project claim, so that a
benchmark, a notebook and the tests call the same code.  One module per claim family;
every public name is re-exported here (``from pc_analog.experiments.claims import X``):

:mod:`~pc_analog.experiments.claims.inference` -- how long inference takes
    :func:`error_arrival` (seed 001, Theorem 1: the error reaches layer ``l`` at step
    ``L - l``), :func:`digital_pc_vs_bp_time` (seed 001, Result 3: digital PC is never
    faster than backprop), :func:`depth_scaling` (physical settling time against depth,
    RC ``~ L^2``, critically damped springs ``~ L``).
:mod:`~pc_analog.experiments.claims.updates` -- PC's updates against backprop's
    :func:`fpa_alignment` (seed 001, Figs. 3-5: cosine to backprop and accuracy while
    training), :func:`update_agreement` (Z-IL and FPA-PC with step 1 equal backprop),
    :func:`variance_ratio_sweep` (Whittington & Bogacz: PC tends to backprop as the
    output variance grows).
:mod:`~pc_analog.experiments.claims.landscape` -- the shape of the energy
    :func:`toy_landscape` and :func:`saddle_escape` (seed 002, Innocenti et al. 2023: PC
    escapes the saddle of ``f(x) = w2 w1 x`` faster than gradient descent),
    :func:`fisher_information` (seed 003, Millidge: the Fisher information of an
    activity is its precision).

Every function returns a frozen ``...Result``; randomness only through ``seed``.
"""

from pc_analog.experiments.claims.inference import (
    DepthScalingResult,
    ErrorArrivalResult,
    PCTimingResult,
    depth_scaling,
    digital_pc_vs_bp_time,
    error_arrival,
)
from pc_analog.experiments.claims.landscape import (
    FisherResult,
    SaddleEscapeResult,
    fisher_information,
    saddle_escape,
    toy_landscape,
)
from pc_analog.experiments.claims.updates import (
    FPAAlignmentResult,
    UpdateAgreementResult,
    VarianceRatioResult,
    fpa_alignment,
    update_agreement,
    variance_ratio_sweep,
)

__all__ = [
    "ErrorArrivalResult",
    "error_arrival",
    "FPAAlignmentResult",
    "fpa_alignment",
    "VarianceRatioResult",
    "variance_ratio_sweep",
    "UpdateAgreementResult",
    "update_agreement",
    "PCTimingResult",
    "digital_pc_vs_bp_time",
    "SaddleEscapeResult",
    "toy_landscape",
    "saddle_escape",
    "FisherResult",
    "fisher_information",
    "DepthScalingResult",
    "depth_scaling",
]
