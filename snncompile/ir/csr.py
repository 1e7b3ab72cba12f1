"""The validity rule of a CSR matrix's arrays (hw.Sparse checks its own with it)."""

from __future__ import annotations

import numpy as np


def csr_problem(shape: tuple[int, ...], indptr: np.ndarray, indices: np.ndarray,
                weights: np.ndarray) -> str | None:
    """Why (shape, indptr, indices, weights) is not a valid CSR matrix, or None."""
    if len(shape) != 2 or min(shape) < 0:
        return f"matrix_shape must be (n_out, n_in), not {shape}"
    n_out, n_in = shape
    if indptr.ndim != 1 or indptr.size != n_out + 1:
        return f"indptr must hold n_out + 1 = {n_out + 1} values, not {indptr.size}"
    if indices.ndim != 1 or indices.shape != weights.shape:
        return f"indices {indices.shape} and weights {weights.shape} must be equal 1-d arrays"
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
        return "indptr must rise from 0 to the number of stored weights"
    if indices.size and (indices.min() < 0 or indices.max() >= n_in):
        return f"indices must lie in 0..{n_in - 1}"
    rising = np.diff(indices) > 0
    row_starts = indptr[1:-1]
    starts = np.zeros(max(indices.size - 1, 0), bool)
    starts[row_starts[(row_starts > 0) & (row_starts < indices.size)] - 1] = True
    if not np.all(rising | starts):
        return "indices must rise strictly within each row (sorted, no duplicates)"
    return None
