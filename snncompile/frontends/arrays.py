"""Module parameters as float64 numpy arrays: the one conversion the torch-module readers share."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_float64(value: Any) -> np.ndarray:
    """A tensor (any device, any dtype, detached) or array-like as a float64 numpy array."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().to(torch.float64).numpy()
    return np.asarray(value, dtype=np.float64)
