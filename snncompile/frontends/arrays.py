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
            value = value.to_dense()
        value = value.to(torch.float64).numpy()
    return np.asarray(value, dtype=np.float64)
