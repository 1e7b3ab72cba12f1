"""The integer counts behind spike_metrics' figures, so that verify's figures over disjoint
sample shards merge exactly: add the counts of every shard, then divide once (issue 18).

Each figure equals its spike_metrics function on the whole arrays, bit for bit: both divide the
same two integers (below 2**53, exact in float64) with one correctly rounded division.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class SpikeTally:
    """Counts comparing a reference's spikes with another's on the same samples."""

    neurons: int
    ref_spikes: int
    other_spikes: int
    count_diff: int  # sum over samples and neurons of |count_other - count_ref|
    coincident: int  # (sample, step, neuron) entries where both spike
    equal_entries: int  # entries where both spike or both stay silent
    entries: int
    first_divergence: int | None  # earliest 1-based step where any sample differs

    @classmethod
    def of(cls, reference: np.ndarray, other: np.ndarray) -> SpikeTally:
        ref = reference.reshape(reference.shape[0], reference.shape[1], -1) != 0
        oth = other.reshape(other.shape[0], other.shape[1], -1) != 0
        counts_ref, counts_oth = ref.sum(axis=1), oth.sum(axis=1)
        differ = np.flatnonzero((ref != oth).any(axis=(0, 2)))
        return cls(
            neurons=int(np.prod(reference.shape[2:])),
            ref_spikes=int(counts_ref.sum()),
            other_spikes=int(counts_oth.sum()),
            count_diff=int(np.abs(counts_oth.astype(np.int64) - counts_ref).sum()),
            coincident=int(np.count_nonzero(ref & oth)),
            equal_entries=int(np.count_nonzero(ref == oth)),
            entries=int(ref.size),
            first_divergence=int(differ[0]) + 1 if differ.size else None,
        )

    def __add__(self, other: SpikeTally) -> SpikeTally:
        """The tally of both sample sets (same layer, disjoint samples)."""
        firsts = [f for f in (self.first_divergence, other.first_divergence) if f is not None]
        return SpikeTally(
            neurons=self.neurons,
            ref_spikes=self.ref_spikes + other.ref_spikes,
            other_spikes=self.other_spikes + other.other_spikes,
            count_diff=self.count_diff + other.count_diff,
            coincident=self.coincident + other.coincident,
            equal_entries=self.equal_entries + other.equal_entries,
            entries=self.entries + other.entries,
            first_divergence=min(firsts) if firsts else None,
        )

    @property
    def count_error(self) -> float:
        """spike_metrics.count_error."""
        return self.count_diff / max(self.ref_spikes, 1)

    @property
    def train_agreement(self) -> float:
        """spike_metrics.train_agreement."""
        total = self.ref_spikes + self.other_spikes
        return 2 * self.coincident / total if total else 1.0

    @property
    def entry_agreement(self) -> float:
        """spike_metrics.entry_agreement."""
        return self.equal_entries / self.entries if self.entries else 1.0
