"""The ``ngspice`` backend and its runners, under one name.

Four modules, downstream of :mod:`pc_analog.spice.netlist` (which writes the decks):

:mod:`pc_analog.spice.sandbox` (:func:`check_netlist`)
    Refuses netlists that would make ngspice do more than simulate (``.control``
    blocks, ``*#`` lines, ``shell``, includes outside the netlist's folder).
:mod:`pc_analog.spice.shared`
    ngspice in this process through PySpice's ``NgSpiceShared`` (one instance,
    reused under a lock, started without any ``.spiceinit``).
:mod:`pc_analog.spice.runner` (:func:`run_netlist`, :func:`run_netlists`, :class:`SpiceRun`)
    Runs decks in process or as ``ngspice -b -n -r`` subprocesses, with the same
    vector names either way; ngspice's own failures raise
    :class:`~pc_analog.errors.BackendError`.
:mod:`pc_analog.spice.backend` (:class:`NgspiceBackend`)
    ``settle(circuit, backend="ngspice")``: one deck per sample, read back as a
    :class:`~pc_analog.solvers.base.SettleResult`; an operating point is judged by
    its KCL residual.

This module re-exports their public names (and the private ones older code and
tests reach for), so ``from pc_analog.spice.ngspice import ...`` keeps working.
Patch a private name in the module that uses it (e.g.
``pc_analog.spice.shared._shared_instance``), not here.
"""

from __future__ import annotations

import shutil  # noqa: F401  (``ngspice.shutil`` is the module the runners call)

from pc_analog.spice.backend import (
    AT_REST_V,
    OP_KCL_RTOL,
    OP_MAX_ABS_V,
    NgspiceBackend,
    judge_operating_point,
)
from pc_analog.spice.runner import (
    AUTO_MAX_BYTES,
    AUTO_MAX_LINES,
    INSTALL_HINT,
    MODES,
    TIMEOUT_DEFAULT_S,
    TSTOP_RTOL,
    SpiceRun,
    _assemble,
    _check_mode,
    _choose,
    _is_node,
    run_netlist,
    run_netlists,
)
from pc_analog.spice.sandbox import _has_card, _spice_number, _tran_stop, check_netlist
from pc_analog.spice.shared import (
    _normalise_name,
    _run_shared,
    _shared_instance,
    _SharedUnavailable,
    shared_available,
)

__all__ = [
    "SpiceRun",
    "check_netlist",
    "run_netlist",
    "run_netlists",
    "shared_available",
    "NgspiceBackend",
    "judge_operating_point",
    "MODES",
    "INSTALL_HINT",
    "AUTO_MAX_LINES",
    "AUTO_MAX_BYTES",
    "TSTOP_RTOL",
    "AT_REST_V",
    "TIMEOUT_DEFAULT_S",
    "OP_KCL_RTOL",
    "OP_MAX_ABS_V",
    "_assemble",
    "_check_mode",
    "_choose",
    "_has_card",
    "_is_node",
    "_normalise_name",
    "_run_shared",
    "_shared_instance",
    "_SharedUnavailable",
    "_spice_number",
    "_tran_stop",
]
