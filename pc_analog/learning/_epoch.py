"""One training epoch of mini-batches (:func:`_train_epoch`), the loop of
:func:`pc_analog.learning.train.train`, and the random streams it draws from.

Each batch: the devices' circuit IR with the batch clamped, settled on the run's backend,
read as the ADCs read it, the Hebbian update programmed into the devices, and the
backprop twin's step on the same batch.  Every random draw comes from a generator seeded
by ``(seed, purpose, epoch, step)`` (the purposes below), so a resumed run repeats what
the uninterrupted run would have done.  ``cfg`` below is the run's
:class:`~pc_analog.learning.train.TrainConfig` (not imported: ``train`` imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pc_analog.hardware.noisy_read import settle_and_read
from pc_analog.reference.variants import backprop

# Seeds for the independent random streams: (seed, purpose, epoch, step).
_FAB, _SHUFFLE, _STEP, _EVAL = 0, 1, 2, 3
# The circuit's noise at the training and the evaluation reads: streams of their own, so a
# noiseless run draws exactly what it drew before.
_NOISE, _NOISE_EVAL = 4, 5


def _in_hardware(cfg, circuit):
    """``circuit`` as the analog spec builds it (its non-idealities), or as it is."""
    return circuit if cfg.analog is None else cfg.analog.apply(circuit)


def _settle_and_read(cfg, circ, noise_rng):
    """``(result, read, unstable)``: settle ``circ`` on the run's backend and read it as the
    ADCs do (``result.x`` without an analog spec), noisy when the circuit has noise sources
    (:func:`pc_analog.hardware.noisy_read.settle_and_read`)."""
    a = cfg.analog
    return settle_and_read(
        circ, cfg.backend, noise_rng, lambda r: tuple(r.x if a is None else a.read_out(r))
    )


@dataclass(frozen=True)
class _EpochStats:
    """What one epoch of mini-batches leaves besides the new weights."""

    energies: list
    settle_times: list
    pulses: int
    unsettled: int = 0  # samples whose settle stopped short of rest (status not SUCCESS)


def _frozen(a: np.ndarray) -> np.ndarray:
    """A freshly computed array made read-only in place: the twin's
    :class:`~pc_analog.model.network.Network` then keeps it without a copy."""
    a.setflags(write=False)
    return a


def _bp_step(bp_net, x, y, lr: float):
    """The backprop twin after its step on the batch ``(x, y)``:
    ``W <- W + lr/B dW`` with :func:`~pc_analog.reference.variants.backprop`'s ``dW``."""
    g = backprop(bp_net, x, y)
    k = lr / x.shape[0]
    return bp_net.replace(
        weights=tuple(_frozen(W + k * d) for W, d in zip(bp_net.weights, g.dW)),
        biases=tuple(_frozen(b + k * d) for b, d in zip(bp_net.biases, g.db)),
    )


def _train_epoch(cfg, epoch: int, hw, bp_net, x_tr, y_tr, bar):
    """One epoch of mini-batches: settle, Hebbian step, and the backprop twin's step.

    Each batch's circuit is the devices' structural IR with the batch as stimulus
    (:meth:`HardwareNetwork.circuit`); only the Hebbian step, which changes the
    conductances, makes the next batch's structure new.  Returns
    ``(hw, bp_net, _EpochStats)``.
    """
    lr = cfg.lr_at(epoch)
    n = x_tr.shape[0]
    order = np.random.default_rng([cfg.seed, _SHUFFLE, epoch]).permutation(n)
    energies, settle_times, pulses, unsettled = [], [], 0, 0
    for step in range((n + cfg.batch_size - 1) // cfg.batch_size):
        idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        rng = np.random.default_rng([cfg.seed, _STEP, epoch, step])
        first, last = (y_tr, x_tr) if cfg.direction == "generative" else (x_tr, y_tr)
        # The devices as this batch's read sees them, with the analog spec's
        # non-idealities (amplifiers, converters, ...) applied to the same IR.
        circ = _in_hardware(cfg, hw.circuit(first[idx], last[idx], rng=rng))
        # A batch that stops short of rest still trains (PC learns from the state it
        # reached); the count goes into the epoch's metrics instead of a warning.  With
        # noise sources the read is noisy (_settle_and_read).
        noise_rng = np.random.default_rng([cfg.seed, _NOISE, epoch, step])
        res, x_read, unstable = _settle_and_read(cfg, circ, noise_rng)
        if not res.success:
            unsettled += idx.size
        unsettled += unstable
        # The update is computed from what the ADCs read, not from the true voltages.
        hw, _, p = hw.hebbian_step(circ, x_read, lr / idx.size, rng)
        pulses += p
        energies.append(float(np.mean(res.energy)))
        if res.settling_time_s is not None:
            settle_times.append(float(np.nanmean(res.settling_time_s)))
        if bp_net is not None:
            bp_net = _bp_step(bp_net, x_tr[idx], y_tr[idx], lr)
        bar.update()
    return hw, bp_net, _EpochStats(energies, settle_times, pulses, unsettled)
