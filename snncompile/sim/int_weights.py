"""Lava's 8-bit effective weights as int8 for exact int8 x int8 -> int32 synapse products.

`IntWeights` holds the weights as int8 (shifted down by their common trailing zeros, offset into
[-128, 127]) so that binary spikes x weights is one int8 x int8 -> int32 product
(`torch._int_mm`): exact, since every partial sum of at most 2^23 binary rows times |w| <= 255
stays below 2^31. The a_out channel's shifts and int32 wrap are done in int32 with numpy's
wrapping shifts, which equal the int64 arithmetic followed by a wrap mod 2^32. `spike_rows`
gives the same weights in the form kernels.dense_lif_run sums row by row. No numba here: the
products run in torch, and a change here renews no kernel's cache (kernels.py says why that
matters).
"""

from __future__ import annotations

import functools

import numpy as np

MAX_ROWS_INT32 = 2**23  # fan-in bound for exact int32 sums of binary rows times |w| <= 255
# fewer outputs: the product runs on weights padded with zero columns to this many. torch 2.x
# _int_mm, 16,096 rows x 256 inputs, CPU µs per row: 10 outputs 0.046, 16 0.030, 32 0.036.
PADDED_OUT = 16


def _int8_transposed(w: np.ndarray, shift: int, offset: int):
    """((w >> shift) - offset).T as an int8 torch tensor (n_in, n_out) with row-major strides
    (torch._int_mm reads a size-1 dimension's stride too: a (1, n) view with stride 1 gave wrong
    sums), a block of rows of w at a time (no int64 temporary of the whole matrix); the values
    fit int8 (checked by the caller), so the cast is exact."""
    import torch

    q = torch.empty((w.shape[1], w.shape[0]), dtype=torch.int8)
    out = q.numpy()
    rows = max(1, (1 << 18) // max(1, w.shape[1]))
    for a in range(0, len(w), rows):
        part = w[a:a + rows] >> shift
        part -= offset
        out[:, a:a + rows] = part.T
    return q


class IntWeights:
    """Effective weights w (n_out, n_in) as int8 q with w = (q + offset) << shift, and the
    a_out shift e of the synapse; `product` gives wrap32(((spikes @ w.T) << e or >> -e))."""

    def __init__(self, w: np.ndarray, weight_exp: int):
        w = np.asarray(w, np.int64)
        self.n_out, self.n_in = w.shape
        self.e = int(weight_exp)
        self.peak = int(np.abs(w).max(initial=0))
        self.q = None
        if self.n_in >= MAX_ROWS_INT32:
            return
        lo, hi = int(w.min(initial=0)), int(w.max(initial=0))
        low_bits = int(np.bitwise_or.reduce(w, axis=None)) if w.size else 0  # common trailing 0s
        for shift in range(9):
            if low_bits & ((1 << shift) - 1):
                break
            low, high = lo >> shift, hi >> shift
            if high - low <= 255:
                offset = 0 if high <= 127 and low >= -128 else low + 128
                self.shift, self.offset = shift, offset
                self.q = _int8_transposed(w, shift, offset)
                return

    @property
    def exact(self) -> bool:
        return self.q is not None

    @functools.cached_property
    def spike_rows(self) -> tuple[np.ndarray, np.ndarray, int] | None:
        """For kernels.dense_lif_run: (w >> shift).T (n_in, n_out) as int8 or int16 (the
        narrowest that holds it: the rows are read from L2; int32 if it needs),
        its column sums and the register's shift; None where an int32 sum could overflow or the
        int8 form is missing. The sums are int16 (the kernel then sums in int16 lanes, wrapped:
        only the final sum must fit) when every sum fits int16 and the shift is one the LIF
        kernel applies (0 <= left < 26), else int32. A binary row's sum of column j lies between
        the sum of its negative and of its positive weights (`reach`, the bound used): the dense
        net's 512 -> 256 weights (-60..79) reach 13,151, under 2^15, where fan-in times the
        largest |w| (40,448) did not."""
        if self.q is None:
            return None
        rows = self.q.numpy().astype(np.int32) + self.offset
        positive = np.maximum(rows, 0).sum(axis=0, dtype=np.int64)
        negative = np.minimum(rows, 0).sum(axis=0, dtype=np.int64)
        reach = max(int(positive.max(initial=0)), -int(negative.min(initial=0)))
        if reach >= 2**31:
            return None
        left = self.shift + self.e
        low, high = int(rows.min(initial=0)), int(rows.max(initial=0))
        for narrower in (np.int8, np.int16):  # the kernel sign-extends them to the sums' width
            if np.iinfo(narrower).min <= low and high <= np.iinfo(narrower).max:
                rows = rows.astype(narrower)
                break
        narrow = reach < 2**15 and 0 <= left < 26
        total = rows.sum(axis=0, dtype=np.int32)
        return rows, total.astype(np.int16) if narrow else total, left

    @functools.cached_property
    def _padded_q(self):
        """q with zero columns up to PADDED_OUT outputs (their sums are cut off), padded in
        numpy: torch's pad (0.57 MiB) or torch.zeros and a slice copy (0.41 MiB) touched fresh
        heap pages at this point of a run (the NIR CNN's 10-neuron layer at batch 1 after
        malloc_trim, benchmarks/emulator_memory.py), numpy 0.02 MiB; why, not found."""
        import torch

        padded = np.zeros((self.n_in, PADDED_OUT), np.int8)
        padded[:, :self.n_out] = self.q.numpy()
        return torch.from_numpy(padded)

    def product(self, rows: np.ndarray, shift: bool = True,
                out: np.ndarray | None = None) -> np.ndarray:
        """rows (m, n_in) int8 of 0/1 -> (m, n_out) int32, the wrapped a_out register (shift
        False: before its left shift, which fast.py leaves to the LIF kernel's `up`). out: a
        C-contiguous (m, n_out) int32 array to write it into (and return), e.g. one buffer
        reused block after block, still in cache for the product and the kernel that reads it."""
        import torch

        rows = np.ascontiguousarray(rows, np.int8)
        if len(rows) == 0 or self.n_in == 0 or self.n_out == 0:
            return np.zeros((len(rows), self.n_out), np.int32)
        if out is not None and self.n_out >= PADDED_OUT:
            acc = out
            torch._int_mm(torch.from_numpy(rows), self.q, out=torch.from_numpy(out))
        elif self.n_out < PADDED_OUT:
            acc = torch._int_mm(torch.from_numpy(rows), self._padded_q).numpy()
            acc = np.ascontiguousarray(acc[:, :self.n_out])
        else:
            acc = torch._int_mm(torch.from_numpy(rows), self.q).numpy()
        if self.offset:
            acc += np.int32(self.offset) * rows.sum(axis=1, dtype=np.int32)[:, None]
        left = self.shift + self.e if shift else 0
        if left > 0:
            np.left_shift(acc, left, out=acc)
        elif left < 0:
            np.right_shift(acc, -left, out=acc)
        return acc
