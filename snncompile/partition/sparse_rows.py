"""The non-zero pattern of a hw.Sparse op as the partitioner reads a Dense's `w != 0` mask (row
slices, the union of a block's columns, per-row counts), from its CSR arrays: a 100k x 100k
layer of fan-in 100 is never a dense boolean matrix here."""

from __future__ import annotations

import numpy as np


class RowNonzeros:
    """Rows [start, stop) of a CSR pattern: indptr (n_out + 1), indices, keep (stored entries
    that are non-zero after Lava's preprocessing)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, keep: np.ndarray, n_in: int,
                 start: int = 0, stop: int | None = None):
        self.indptr, self.indices, self.keep, self.n_in = indptr, indices, keep, n_in
        self.start, self.stop = start, len(indptr) - 1 if stop is None else stop
        self.shape = (self.stop - self.start, n_in)

    def __getitem__(self, rows: slice) -> RowNonzeros:
        a, b, _ = rows.indices(self.shape[0])
        return RowNonzeros(self.indptr, self.indices, self.keep, self.n_in, self.start + a,
                           self.start + max(a, b))

    def any(self, axis: int = 0) -> np.ndarray:
        """(n_in,) bool: the columns any of these rows reads (axis 0 only)."""
        assert axis == 0
        lo, hi = self.indptr[self.start], self.indptr[self.stop]
        used = np.zeros(self.n_in, bool)
        used[self.indices[lo:hi][self.keep[lo:hi]]] = True
        return used

    def sum(self, axis: int = 1, dtype: type = np.int64) -> np.ndarray:
        """(rows,) the non-zero entries of each row (axis 1 only)."""
        assert axis == 1
        kept = np.concatenate([[0], np.cumsum(self.keep, dtype=dtype)])
        return kept[self.indptr[self.start + 1:self.stop + 1]] - \
            kept[self.indptr[self.start:self.stop]]
