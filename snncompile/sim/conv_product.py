"""The layer-major path's Conv product (fast.py): a Conv's a_out register for many input rows at
once, exact, as one float32 conv2d when that is provably exact, else the emulator's float64 conv
with the 24-bit wrap (`_Conv.receive`).

Why float32 is exact here: with integer inputs and weights every partial sum of a conv output is
an integer, and float32 holds every integer below 2^24 exactly, so whatever order the library
sums in, no partial sum is rounded as long as each stays below 2^24 in magnitude. A partial sum of
output channel o is at most (the sum of o's positive weights) x (the largest input payload) and
at least (the sum of its negative weights) x that payload; `exact_bound` is the larger magnitude
over all channels. Under 2^23 the register also cannot reach the 24-bit wrap, so none is needed.
This needs a conv that sums products directly (oneDNN's direct or im2col + GEMM): NNPACK, which
may pick a Winograd transform (not exact), is switched off.

The plan (bound, float32 kernel) is made once per synapse, not per block of rows.
tests/test_conv_product.py compares `product` with an int64 numpy convolution on random convs
(strides, padding, dilation, groups, graded inputs, weights large enough to wrap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

EXACT_FLOAT32 = 2**23  # |partial sums| below this: float32 exact and no 24-bit wrap


def exact_bound(synapse: Any) -> int:
    """The largest |partial sum| of a Conv's register: per output channel, the sum of its
    positive (or of its negative) weights, times the largest input payload (`payload_max`)."""
    flat = np.asarray(synapse.op.weight, np.int64).reshape(len(synapse.op.weight), -1)
    peak = max(np.clip(flat, 0, None).sum(axis=1).max(initial=0),
               -np.clip(flat, None, 0).sum(axis=1).min(initial=0))
    return int(peak) * int(synapse.payload_max)


class _Plan:
    """One Conv's product constants: whether float32 is exact, and its float32 kernel."""

    def __init__(self, synapse: Any):
        self.exact = exact_bound(synapse) < EXACT_FLOAT32
        self.f32 = synapse.w.float() if self.exact else None


def _plan(synapse: Any) -> _Plan:
    plan = getattr(synapse, "conv_plan", None)
    if plan is None:
        plan = synapse.conv_plan = _Plan(synapse)
    return plan


def product(synapse: Any, rows: np.ndarray) -> np.ndarray:
    """The wrapped register (m, n_out) int32 of an emulator `_Conv` for input rows (m, n_in)
    int8 (spikes, or an AnalogInput's payloads)."""
    plan = _plan(synapse)
    if not plan.exact:
        synapse.receive(rows, 0, None)  # row-wise, float64, with the 24-bit wrap
        return synapse.register.astype(np.int32)
    op, torch = synapse.op, synapse.torch
    x = torch.from_numpy(rows.reshape(len(rows), *synapse.in_shape).astype(np.float32))
    with torch.backends.nnpack.flags(enabled=False):
        y = torch.nn.functional.conv2d(x, plan.f32, stride=op.stride, padding=op.padding,
                                       dilation=op.dilation, groups=op.groups)
    return y.numpy().reshape(len(rows), -1).astype(np.int32)
