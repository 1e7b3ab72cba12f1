"""The non-zero pattern of a hw.Sparse op as the partitioner reads a Dense's `w != 0` mask (row
slices, the columns of a block's rows, per-row counts), from its CSR arrays: a 100k x 100k
layer of fan-in 100 is never a dense boolean matrix here, and no count reads more than the
entries of the rows it asks about (a (n_in,) mask per ask made the 100k placement quadratic)."""

from __future__ import annotations

import numpy as np

from snncompile.partition.id_sets import sorted_distinct


class RowNonzeros:
    """Rows [start, stop) of a CSR pattern: indptr (n_out + 1), indices, keep (stored entries
    that are non-zero after Lava's preprocessing)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, keep: np.ndarray, n_in: int,
                 start: int = 0, stop: int | None = None):
        self.indptr, self.indices, self.keep, self.n_in = indptr, indices, keep, n_in
        self.start, self.stop = start, len(indptr) - 1 if stop is None else stop
        self.shape = (self.stop - self.start, n_in)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> RowNonzeros:
        a, b, _ = rows.indices(self.shape[0])
        return RowNonzeros(self.indptr, self.indices, self.keep, self.n_in, self.start + a,
                           self.start + max(a, b))

    def columns(self, p0: int = 0, p1: int | None = None) -> np.ndarray:
        """Sorted distinct columns rows p0:p1 read (default all rows)."""
        stop = self.shape[0] if p1 is None else p1
        lo, hi = self.indptr[self.start + p0], self.indptr[self.start + stop]
        return sorted_distinct(self.indices[lo:hi][self.keep[lo:hi]].astype(np.int64))

    def any(self, axis: int = 0) -> np.ndarray:
        """(n_in,) bool: the columns any of these rows reads (axis 0 only)."""
        assert axis == 0
        used = np.zeros(self.n_in, bool)
        used[self.columns()] = True
        return used

    def sum(self, axis: int = 1, dtype: type = np.int64) -> np.ndarray:
        """(rows,) the non-zero entries of each row (axis 1 only)."""
        assert axis == 1
        kept = np.concatenate([[0], np.cumsum(self.keep, dtype=dtype)])
        return kept[self.indptr[self.start + 1:self.stop + 1]] - \
            kept[self.indptr[self.start:self.stop]]


class CsrUnion:
    """row_union.RowUnion for a RowNonzeros: count(p0, p1) = distinct columns of rows p0:p1.

    Per p0, each column's first row at or after p0 is found once, scanning rows only as far as
    some ask reaches; a count is then one binary search. Cost: the entries of the rows
    scanned, never n_in (a fresh (n_in,) mask per ask made the 100k-neuron placement
    quadratic)."""

    def __init__(self, nz: RowNonzeros):
        self.nz = nz
        self.seen = np.zeros(nz.n_in, bool)  # columns found since p0 (cleared per p0)
        self.p0, self.scanned = -1, 0
        self.found: list[np.ndarray] = []  # first rows of found columns, ascending overall
        self.touched: list[np.ndarray] = []
        self.sorted = np.zeros(0, np.int64)

    def count(self, p0: int, p1: int) -> int:
        if p0 != self.p0:
            for cols in self.touched:
                self.seen[cols] = False
            self.p0, self.scanned = p0, p0
            self.found, self.touched, self.sorted = [], [], np.zeros(0, np.int64)
        p1 = min(p1, len(self.nz))
        if self.scanned < p1:
            ptr = self.nz.indptr[self.nz.start + self.scanned:self.nz.start + p1 + 1]
            cols = self.nz.indices[ptr[0]:ptr[-1]]
            at = np.flatnonzero(self.nz.keep[ptr[0]:ptr[-1]] & ~self.seen[cols])
            if len(at):  # each new column's first entry (entries are row-major): its row
                key = np.sort(cols[at].astype(np.int64) * len(at) + np.arange(len(at)))
                col, k = np.divmod(key, len(at))  # by column, then entry: a plain sort is
                first = np.concatenate(([True], col[1:] != col[:-1]))  # 7x a stable argsort
                self.seen[col[first]] = True
                self.touched.append(col[first])
                rows = np.searchsorted(ptr, ptr[0] + at[k[first]], side="right") - 1
                self.found.append(np.sort(self.scanned + rows))
                self.sorted = np.concatenate(self.found)
            self.scanned = p1
        return int(np.searchsorted(self.sorted, p1, side="left"))

    def counts(self, p0: int, ends: np.ndarray) -> np.ndarray:
        """count(p0, e) for every e of an ascending array `ends`."""
        self.count(p0, int(ends[-1]))
        return np.searchsorted(self.sorted, ends, side="left").astype(np.int64)
