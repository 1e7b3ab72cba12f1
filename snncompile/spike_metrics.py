"""Spike comparisons that measure spikes, not mostly-zero tensors.

An output layer is silent in most (sample, step, neuron) entries, so the fraction of equal entries
stays near 1 even when the hardware drops a large share of its spikes: a deployment that lost 40 %
of its output spikes matched 99.3 % of the entries. verify gates on the two figures below instead
and keeps the entry-wise one only as information.
"""

from __future__ import annotations

import numpy as np


def _binary(spikes: np.ndarray) -> np.ndarray:
    return spikes.reshape(spikes.shape[0], spikes.shape[1], -1) != 0


def count_error(reference: np.ndarray, other: np.ndarray) -> float:
    """Per-neuron spike-count error relative to the reference's spikes: the sum over samples and
    neurons of |count_other - count_ref|, over the reference's total spike count (at least 1).
    0 when every neuron fires as often as in the reference; 0.4 when 40 % of spikes are lost."""
    ref, oth = _binary(reference).sum(axis=1), _binary(other).sum(axis=1)
    return float(np.abs(oth.astype(np.int64) - ref).sum() / max(int(ref.sum()), 1))


def train_agreement(reference: np.ndarray, other: np.ndarray) -> float:
    """Spike-train agreement ignoring shared silence (Dice): twice the spikes both trains hold at
    the same sample, step and neuron, over the spikes of both. 1 when equal (also when both are
    silent), 0 when no spike coincides; a train that lost 40 % of its spikes scores at most 0.75."""
    ref, oth = _binary(reference), _binary(other)
    total = int(ref.sum()) + int(oth.sum())
    return float(2 * np.count_nonzero(ref & oth) / total) if total else 1.0


def entry_agreement(reference: np.ndarray, other: np.ndarray) -> float:
    """Fraction of (sample, step, neuron) entries where both spike or both stay silent
    (information only: silence dominates it)."""
    return float(np.mean(_binary(reference) == _binary(other))) if reference.size else 1.0


def first_divergence(reference: np.ndarray, other: np.ndarray) -> int | None:
    """Where to start looking: the earliest step (1-based) at which any sample's spikes differ."""
    differ = (_binary(reference) != _binary(other)).any(axis=(0, 2))
    steps = np.flatnonzero(differ)
    return int(steps[0]) + 1 if steps.size else None
