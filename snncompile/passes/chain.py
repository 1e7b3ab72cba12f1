"""Float64 batch rules of the nn synapse ops, so `lower` can push an identity through a chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from snncompile.ir import nn_ops as nn
from snncompile.ir.nn_ops import _pair


def _torch():
    import torch

    return torch


def _conv(op: nn.Conv2d, x: np.ndarray, bias: bool) -> np.ndarray:
    t = _torch()
    y = t.nn.functional.conv2d(
        t.from_numpy(np.ascontiguousarray(x)), t.from_numpy(np.array(op.weight)),
        t.from_numpy(np.array(op.bias)) if bias else None,
        stride=op.stride, padding=op.padding, dilation=op.dilation, groups=op.groups)
    return y.numpy()


def _pool(op: nn.SumPool2d, x: np.ndarray, bias: bool) -> np.ndarray:
    t = _torch()
    k = _pair(op.kernel_size)
    y = t.nn.functional.avg_pool2d(t.from_numpy(np.ascontiguousarray(x)), k, _pair(op.stride),
                                   _pair(op.padding), divisor_override=1).numpy()
    return y / (k[0] * k[1]) if isinstance(op, nn.AvgPool2d) else y


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


# y = op(x) per sample; x is (batch, *in_shape) float64; `bias` False gives the linear part.
APPLY: dict[type, Callable[[Any, np.ndarray, bool], np.ndarray]] = {
    nn.Affine: lambda op, x, b: _flat(x) @ op.weight.T + (op.bias if b else 0.0),
    nn.Linear: lambda op, x, b: _flat(x) @ op.weight.T,
    nn.Scale: lambda op, x, b: x * op.scale,
    nn.Conv2d: _conv,
    nn.SumPool2d: _pool,
    nn.AvgPool2d: _pool,
    nn.Flatten: lambda op, x, b: x.reshape(len(x), *op.output_shape(x.shape[1:])),
}
