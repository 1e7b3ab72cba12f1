"""Conversions between hw.Dense and hw.Sparse (CSR), and a dense matrix's CSR arrays made a
block of rows at a time, so no int64 copy of a large dense matrix is made on the way."""

from __future__ import annotations

import numpy as np

from snncompile.ir import hw_ops as hw

ROW_BLOCK_VALUES = 1 << 22  # entries of the dense matrix looked at per block


def csr_arrays(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, values) int64 of the non-zero entries of the 2-d array w, row-major."""
    n_out, n_in = w.shape
    counts = np.zeros(n_out + 1, np.int64)
    indices, values = [], []
    rows = max(1, ROW_BLOCK_VALUES // max(1, n_in))
    for a in range(0, n_out, rows):
        block = np.asarray(w[a:a + rows])
        r, c = np.nonzero(block)
        counts[a + 1:a + 1 + len(block)] = np.bincount(r, minlength=len(block))
        indices.append(c.astype(np.int64))
        values.append(block[r, c].astype(np.int64))
    indptr = np.cumsum(counts)
    empty = np.zeros(0, np.int64)
    return (indptr, np.concatenate(indices) if indices else empty,
            np.concatenate(values) if values else empty)


def sparse_of(op: hw.Dense) -> hw.Sparse:
    """The Sparse op equal to a (non-delay) Dense op: its non-zero weights, its sign mode
    resolved from all of them (the same mode Lava resolves for either process)."""
    indptr, indices, values = csr_arrays(op.weights)
    mode = op.sign_mode
    if mode == "auto":  # sim.lava_params.resolved_sign_mode's rule (implicit zeros count)
        lo, hi = values.min(initial=0), values.max(initial=0)
        mode = "excitatory" if lo >= 0 else "inhibitory" if hi <= 0 else "mixed"
    n_out, n_in = op.weights.shape
    return hw.Sparse((int(n_out), int(n_in)), indptr, indices, values,
                     weight_exp=op.weight_exp, num_weight_bits=op.num_weight_bits,
                     sign_mode=mode)


def nonzero_sparse(shape: tuple[int, int], indptr: np.ndarray, indices: np.ndarray,
                   weights: np.ndarray, **fields) -> hw.Sparse:
    """The hw.Sparse of CSR arrays with the entries whose weight is 0 dropped (quantized weights
    that round to 0: what sparse_of keeps of the same matrix made dense)."""
    keep = np.asarray(weights) != 0
    if keep.all():
        return hw.Sparse(shape, indptr, indices, weights, **fields)
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    kept = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=shape[0]))])
    return hw.Sparse(shape, kept, np.asarray(indices)[keep], np.asarray(weights)[keep], **fields)


def dense_weights(op: hw.Sparse) -> np.ndarray:
    """The op's (n_out, n_in) int64 matrix, dense (small ops only: tests, netx export)."""
    w = np.zeros(tuple(int(d) for d in op.matrix_shape), np.int64)
    rows = np.repeat(np.arange(w.shape[0]), np.diff(op.indptr))
    w[rows, op.indices] = op.weights
    return w


def dense_of(op: hw.Sparse) -> hw.Dense:
    """The Dense op equal to a Sparse op (small ops only)."""
    return hw.Dense(dense_weights(op), weight_exp=op.weight_exp,
                    num_weight_bits=op.num_weight_bits, sign_mode=op.sign_mode)


def rows_of(op: hw.Sparse, rows: np.ndarray) -> hw.Sparse:
    """The Sparse op of the given rows of op's matrix, in that order (a core's neurons)."""
    rows = np.asarray(rows, np.int64)
    starts, stops = op.indptr[rows], op.indptr[rows + 1]
    take = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(starts, stops)]
                          or [np.zeros(0, np.int64)])
    indptr = np.concatenate([[0], np.cumsum(stops - starts)])
    return hw.Sparse((len(rows), int(op.matrix_shape[1])), indptr, op.indices[take],
                     op.weights[take], weight_exp=op.weight_exp,
                     num_weight_bits=op.num_weight_bits, sign_mode=op.sign_mode)
