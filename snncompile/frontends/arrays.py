"""Module parameters as float64 numpy arrays: the one conversion the torch-module readers share."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_sparse(value: Any) -> bool:
    """A torch tensor of a sparse layout (COO, CSR, CSC, BSR, BSC)."""
    import torch

    return isinstance(value, torch.Tensor) and value.layout != torch.strided


def csr_of(value: Any) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """A 2-d sparse tensor as (shape, indptr, indices, values): float64 CSR, duplicates summed,
    columns rising in each row, explicit zeros dropped; never made dense. Its stored entries
    are checked against the weight budget first, and its invariants by torch (checked_sparse)."""
    import scipy.sparse as sp
    import torch

    from snncompile.limits import require

    value = value.detach().cpu()
    if value.ndim != 2:
        raise ValueError(f"a sparse weight must be 2-d, not {tuple(value.shape)}")
    stored = value._nnz() if value.layout == torch.sparse_coo else value.values().numel()
    require("weights", stored, f"a sparse {tuple(value.shape)} weight")
    # each side is a population: CSR keeps a pointer per row (2^31 rows: 16 GiB)
    require("neurons", max(value.shape), f"a sparse {tuple(value.shape)} weight's side")
    value = checked_sparse(value)
    shape = (int(value.shape[0]), int(value.shape[1]))
    if value.layout in (torch.sparse_bsr, torch.sparse_bsc):
        value = value.to_sparse_coo()

    def data(v: Any) -> np.ndarray:
        return v.to(torch.float64).numpy()

    if value.layout == torch.sparse_coo:  # scipy sums duplicates (torch's coalesce is slower)
        rows, cols = value._indices().numpy()
        m = sp.coo_array((data(value._values()), (rows, cols)), shape=shape).tocsr()
    elif value.layout == torch.sparse_csr:
        m = sp.csr_array((data(value.values()), value.col_indices().numpy(),
                          value.crow_indices().numpy()), shape=shape)
    else:
        m = sp.csc_array((data(value.values()), value.row_indices().numpy(),
                          value.ccol_indices().numpy()), shape=shape).tocsr()
    m.sum_duplicates()  # also sorts each row's columns
    m.eliminate_zeros()
    return shape, m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data


def as_float64(value: Any) -> np.ndarray:
    """A tensor (any device, any dtype, detached; a sparse one made dense, its dense size
    checked against the weight budget first: a Linear's sparse weight is read by csr_of
    instead) or array-like as a float64 numpy array."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.layout != torch.strided:
            from snncompile.limits import require

            require("weights", value.numel(), f"a sparse {tuple(value.shape)} weight")
            value = checked_sparse(value).to_dense()
        value = value.to(torch.float64).numpy()
    return np.asarray(value, dtype=np.float64)


class MalformedTensor(ValueError):
    """A tensor of the file that is not what its own header says (not a shape misfit)."""


def checked_sparse(value: Any) -> Any:
    """The sparse tensor rebuilt with torch's invariant checks (indices in range, compressed
    pointers rising): a file's tensor is made without them, and to_dense of a malformed CSR
    segfaulted (fuzz seed 32). MalformedTensor names what is wrong."""
    import torch

    try:
        if value.layout == torch.sparse_coo:
            return torch.sparse_coo_tensor(value._indices(), value._values(), value.shape,
                                           check_invariants=True)
        rows = value.layout in (torch.sparse_csr, torch.sparse_bsr)
        compressed = value.crow_indices() if rows else value.ccol_indices()
        plain = value.col_indices() if rows else value.row_indices()
        fault = pointer_fault(compressed.numpy(), plain.numpy(), len(value.values()))
        if fault:
            raise ValueError(fault)
        return torch.sparse_compressed_tensor(compressed, plain, value.values(), value.shape,
                                              layout=value.layout, check_invariants=True)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MalformedTensor(f"its sparse {tuple(value.shape)} weight is malformed: {first}"
                              ) from None


def pointer_fault(compressed: np.ndarray, plain: np.ndarray, stored: int) -> str | None:
    """What is wrong with a compressed sparse tensor's pointers, checked before torch's own
    invariant check, which segfaulted on falling pointers over no stored entries (fuzz case
    27001315: CSC pointers 0, ..., 5, 0, ... with nothing stored); None if they hold."""
    if compressed.ndim != 1 or plain.ndim != 1 or compressed.size == 0:
        return "its compressed indices are not a 1-d list"
    if compressed[0] != 0 or np.any(np.diff(compressed) < 0):
        return "its compressed indices do not rise from 0"
    if compressed[-1] != plain.size or plain.size != stored:
        return (f"its compressed indices end at {compressed[-1]} but it stores {plain.size} "
                f"indices and {stored} values")
    return None
