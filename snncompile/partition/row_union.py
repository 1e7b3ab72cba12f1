"""Distinct source neurons of a Dense block (rows p0:p1 of the non-zero mask), counted fast for
the split's bisection, which asks one p0 with many p1 (split._grow: about 20 asks per block).

Why: counting `nz[p0:p1].any(0)` afresh reads (p1 - p0) x n_in cells per ask; a 4096 x 4096
layer cut into one-neuron blocks asked 8,192 rows per block (the first ask is the whole core's
room), 40 s of the 33M-weight loihi2 compile. Here, per p0, each column's first non-zero row at
or after p0 is found once, scanning rows in doubling chunks and only the columns not found yet
(a dense matrix is done after a row or two); a count is then one binary search. The scan is
extended only as far as some ask reaches, so it never reads more than the direct count would.
"""

from __future__ import annotations

import numpy as np


class RowUnion:
    """count(p0, p1) = number of columns of `nz` with a True in rows p0:p1 (exact); `nz` a
    boolean array (a Sparse op's rows: partition.sparse_rows.CsrUnion)."""

    def __init__(self, nz: np.ndarray):
        self.nz = nz
        self.p0 = -1
        self.scanned = 0  # rows p0:scanned are scanned
        self.step = 1
        self.left = np.zeros(0, np.int64)  # columns with no True in rows p0:scanned
        self.found: list[np.ndarray] = []  # first rows of found columns, ascending overall
        self.sorted = np.zeros(0, np.int64)

    def count(self, p0: int, p1: int) -> int:
        grew = False
        if p0 != self.p0:  # row p0 read as a view: most columns of a dense matrix end here
            self.p0, self.step = p0, 1
            if p0 < len(self.nz):
                self.left = np.flatnonzero(~self.nz[p0])
                self.found = [np.full(self.nz.shape[1] - len(self.left), p0, np.int64)]
                self.scanned, grew = p0 + 1, True
            else:
                self.left, self.found, self.scanned = np.zeros(0, np.int64), [], p0
                self.sorted = np.zeros(0, np.int64)
        while self.scanned < p1 and len(self.left):
            stop = min(p1, self.scanned + self.step)
            chunk = self.nz[self.scanned:stop][:, self.left]
            hit = chunk.any(0)
            if hit.any():
                self.found.append(np.sort(self.scanned + chunk[:, hit].argmax(0)))
                self.left = self.left[~hit]
                grew = True
            self.scanned, self.step = stop, self.step * 2
        if grew:
            self.sorted = np.concatenate(self.found)
        return int(np.searchsorted(self.sorted, p1, side="left"))

    def counts(self, p0: int, ends: np.ndarray) -> np.ndarray:
        """count(p0, e) for every e of an ascending array `ends`."""
        self.count(p0, int(ends[-1]))
        return np.searchsorted(self.sorted, ends, side="left").astype(np.int64)


def row_costs(inc, c0: int, c1: int, p0: int, ends: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(synapses, fan-in, synapse bits) of a Dense, Sparse or direct way into a block of positions
    p0:e, for every e of `ends` (ascending): layers.Incoming's synapses, fan_in and bits, as
    vectors (split._grow_rows grows a Dense-fed block with them)."""
    rows = (c1 - c0) * (ends - p0)
    if inc.op is None:
        zero = np.zeros(len(ends), np.int64)
        return zero, rows * len(inc.sources), zero
    syn = inc.row_cum[ends] - inc.row_cum[p0]
    fan = inc.row_union.counts(p0, ends) * len(inc.sources)
    m, per = inc.model, inc.wbits + inc.dbits
    bits = np.minimum(syn * (per + m.index_bits), fan * rows * per) + fan * m.axon_header_bits
    return syn, fan, bits
