"""Module parameters as float64 numpy arrays: the one conversion the torch-module readers share."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_float64(value: Any) -> np.ndarray:
    """A tensor (any device, any dtype, detached; a sparse one made dense: the passes hold
    weights dense until pass sparsify stores a mostly-zero layer sparse again, so its dense
    size is checked against the weight budget first) or array-like as a float64 numpy array."""
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
        return torch.sparse_compressed_tensor(compressed, plain, value.values(), value.shape,
                                              layout=value.layout, check_invariants=True)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MalformedTensor(f"its sparse {tuple(value.shape)} weight is malformed: {first}"
                              ) from None
