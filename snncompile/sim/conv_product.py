"""The layer-major path's Conv product (fast.py): a Conv's a_out register for many input rows at
once, exact, as one float32 conv2d when that is provably exact, else the emulator's float64 conv
with the 24-bit wrap (`_Conv.receive`).

Why float32 is exact here: with integer inputs and weights every partial sum of a conv output is
an integer, and float32 holds every integer below 2^24 exactly, so whatever order the library
sums in, no partial sum is rounded as long as each stays below 2^24 in magnitude. A partial sum of
output channel o is at most (the sum of o's positive weights) x (the largest input payload) and
at least (the sum of its negative weights) x that payload; `exact_bound` is the larger magnitude
over all channels (with signed payloads, an AnalogInput's, the sum of |weights| instead). Under
2^23 the register also cannot reach the 24-bit wrap, so none is needed.
This needs a conv that sums products directly (oneDNN's direct or im2col + GEMM): NNPACK, which
may pick a Winograd transform (not exact), is switched off.

A kernel that is constant on f x f blocks aligned with its stride (a SumPool folded into the
next Conv by lowering: the NIR-paper CNN's 6 x 6 stride-2 kernel is a 2 x 2 sum pool, then a
3 x 3 conv) runs as that sum pool, then the small conv: f^2 times fewer products, the same
integers. Its partial sums stay within the same bound (a pooled value is at most f^2 payloads,
and the small kernel's weight sums are the big one's divided by f^2).

A binary Conv's sparse block (at most SCATTER_DENSITY of its inputs spike) whose sums stay under
2^23 is summed spike by spike instead (conv_scatter.conv_rows: compiled_steps' tap tables,
channel-last vector adds, one transposed copy per row): no float32 temporaries and no conv2d
call, whose fixed cost dominated the small blocks of a batch-1 run (fast.block_budget).

The plan (bound, float32 kernel, pool factors) is made once per synapse, not per block of rows.
tests/test_conv_product.py compares `product` with an int64 numpy convolution on random convs
(strides, padding, dilation, groups, graded inputs, weights large enough to wrap);
tests/test_conv_scatter.py the scatter with it and with the conv2d path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.sim import compiled_steps, conv_scatter
from snncompile.sim.identity_cache import IdentityCache

EXACT_FLOAT32 = 2**23  # |partial sums| below this: float32 exact and no 24-bit wrap
# a binary Conv's block whose spikes are at most this share of its inputs: summed spike by spike
# (_scatter), else conv2d. CPU µs per sample-step of the whole NIR-paper CNN (layers fire at 3-12
# %), conv2d / scatter alternating in one process, medians of 9, scatter always: batch 1 154 / 95
# (blocks of 8 rows: conv2d's per-call cost dominates), 8 61 / 48, 64 50 / 46, 256 56 / 46; this
# rule, two runs: batch 1 146 / 118, 148 / 120; 8 60 / 52, 98 / 57; 64 63 / 50. One conv 2x34x34
# -> 16, 5x5 stride 2, 800 rows, µs per row: 22 / 20 at 10 %, 28 / 27 at 20 %, 25 / 32 at 30 %,
# 25 / 48 at 50 %; 16x15x15 -> 16 3x3: 31 / 40 at 20 %, 12 / 55 at 30 %.
# But only in small blocks: measured again on the final code (this rule vs conv2d only, the
# same process alternating, medians of 5, load about 1), whole CNN: batch 1 (blocks of 6-9 rows)
# 55.6 vs 71.1; batch 4 (33-36 rows) 46.9 vs 44.8; batch 8 (33-71) 58.0 vs 46.5; batch 16 and 64
# (105) 51.1 vs 38.8 and 52.8 vs 41.9: conv2d's fixed cost per call is spread over more rows,
# the scatter's cost is not; so it ran only on blocks of at most 16 rows. Since the scatter
# gathers each plane's spikes branch-free (conv_scatter._conv_scatter_planes, a third less per
# row) it wins on blocks of any size: whole CNN, CPU µs per sample-step, at most 16 rows /
# any, alternating in one process, medians of 21 (9 at 256, 31 at 64): batch 2 71.9 / 49.9,
# 4 40.1 / 30.0, 8 39.9 / 31.7, 16 35.2 / 30.2, 64 34.3 / 30.3, 256 36.6 / 32.1 (batch 1's
# blocks have 6-9 rows: unchanged).
SCATTER_DENSITY = 0.15


def exact_bound(synapse: Any) -> int:
    """The largest |partial sum| of a Conv's register: per output channel, the sum of its
    positive (or of its negative) weights, times the largest input payload (`payload_max`)."""
    flat = np.asarray(synapse.op.weight, np.int64).reshape(len(synapse.op.weight), -1)
    if synapse.graded:  # signed payloads: a positive and a negative term can add up
        return int(np.abs(flat).sum(axis=1).max(initial=0)) * int(synapse.payload_max)
    peak = max(np.clip(flat, 0, None).sum(axis=1).max(initial=0),
               -np.clip(flat, None, 0).sum(axis=1).min(initial=0))
    return int(peak) * int(synapse.payload_max)


def _pool_factor(w: np.ndarray, axis: int, kernel: int, stride: int, pad: int, size: int,
                 dilation: int) -> int:
    """The largest f > 1 such that the kernel along `axis` is constant on aligned f-blocks and
    f divides the kernel, stride, padding and input size (so the pooled grid is the conv's
    own); 1 when there is none."""
    if dilation != 1:
        return 1
    for f in range(kernel, 1, -1):
        if kernel % f or stride % f or pad % f or size % f:
            continue
        if np.array_equal(np.repeat(np.take(w, range(0, kernel, f), axis=axis), f, axis=axis),
                          w):
            return f
    return 1


class _Plan:
    """One Conv's product constants: whether float32 is exact, the sum-pool factors (fy, fx)
    that come first, and the float32 kernel, stride and padding of the conv after them."""

    def __init__(self, synapse: Any):
        op = synapse.op
        self.exact = exact_bound(synapse) < EXACT_FLOAT32
        w = np.asarray(op.weight, np.int64)
        self.pool = tuple(_pool_factor(w, 2 + a, w.shape[2 + a], op.stride[a], op.padding[a],
                                       synapse.in_shape[1 + a], op.dilation[a]) for a in (0, 1))
        fy, fx = self.pool
        small = w[:, :, ::fy, ::fx]
        self.stride = (op.stride[0] // fy, op.stride[1] // fx)
        self.padding = (op.padding[0] // fy, op.padding[1] // fx)
        self.f32 = synapse.torch.from_numpy(small.astype(np.float32)) if self.exact else None


class _Scatter:
    """One binary Conv's event-driven tables (conv_scatter.conv_rows, from
    compiled_steps.conv_scatter_tables): geometry, int32 kernel (C / groups, kH, kW, O) flat, its
    taps by input position (ptr, then pairs from `pairs`) and the channel-last row's size."""

    def __init__(self, synapse: Any):
        out_shape = synapse.op.output_shape(synapse.in_shape)
        geom, taps, (ptr, pairs) = compiled_steps.conv_scatter_tables(
            synapse.op, tuple(synapse.in_shape), out_shape)
        self.geom = np.array(geom, np.int64)
        self.w = taps.astype(np.int32).reshape(-1)
        self.reach = np.concatenate([ptr, pairs])
        self.pairs = len(ptr)
        self.n_out = int(np.prod(out_shape))


_SCATTER = IdentityCache(16)  # the last few Conv ops' tables (a run remakes its synapses)


def _scatter(synapse: Any, rows: np.ndarray) -> np.ndarray:
    """The register (m, n_out) int32 of a binary Conv whose sums stay below 2^23 (no wrap),
    summed spike by spike (conv_scatter.conv_rows): no float32 temporaries, no per-call setup
    of a library conv."""
    tables = _SCATTER.get(synapse.op, lambda: _Scatter(synapse), tuple(synapse.in_shape))
    out = np.empty((len(rows), tables.n_out), np.int32)
    conv_scatter.conv_rows(np.ascontiguousarray(rows), tables.geom, tables.w, tables.reach,
                           tables.pairs, np.empty(tables.n_out, np.int32), out)
    return out


# the last few Conv ops' plans: a run remakes its synapses, and remaking the plan (exact_bound,
# the pool factors, the float32 kernel) cost about 0.12 ms per Conv per run: the whole
# NIR-paper CNN at batch 1, T 100, CPU µs per sample-step, remade / cached alternating in one
# process, medians of 101: 52.4 / 47.0
_PLANS = IdentityCache(16)


def _plan(synapse: Any) -> _Plan:
    plan = getattr(synapse, "conv_plan", None)
    if plan is None:
        plan = synapse.conv_plan = _PLANS.get(
            synapse.op, lambda: _Plan(synapse),
            (tuple(synapse.in_shape), int(synapse.payload_max), bool(synapse.graded)))
    return plan


def product(synapse: Any, rows: np.ndarray, conv2d_rows: int | None = None) -> np.ndarray:
    """The wrapped register (m, n_out) int32 of an emulator `_Conv` for input rows (m, n_in)
    int8 (spikes, or an AnalogInput's payloads). Rows not summed spike by spike go to conv2d
    (or the wrapping float64 conv) in parts of at most conv2d_rows (None: all at once), so
    their temporaries stay within fast.block_budget's "conv2d" bytes."""
    plan = _plan(synapse)
    if (plan.exact and not synapse.graded
            and np.count_nonzero(rows) <= SCATTER_DENSITY * rows.size):
        return _scatter(synapse, rows)
    if conv2d_rows is not None and len(rows) > conv2d_rows:
        out = np.empty((len(rows), synapse.register.shape[1]), np.int32)
        for i in range(0, len(rows), conv2d_rows):
            out[i:i + conv2d_rows] = product(synapse, rows[i:i + conv2d_rows])
        return out
    if not plan.exact:
        synapse.receive(rows, 0, None)  # row-wise, float64, with the 24-bit wrap
        return synapse.register.astype(np.int32)
    op, torch = synapse.op, synapse.torch
    if plan.pool != (1, 1):
        x = _sum_pool(torch, rows, synapse.in_shape, plan.pool, synapse.payload_max)
    else:
        x = torch.from_numpy(rows.reshape(len(rows), *synapse.in_shape).astype(np.float32))
    with torch.backends.nnpack.flags(enabled=False):
        y = torch.nn.functional.conv2d(x, plan.f32, stride=plan.stride, padding=plan.padding,
                                       dilation=op.dilation, groups=op.groups)
    return _as_int32(y.numpy().reshape(-1)).reshape(len(rows), -1)


def _as_int32(flat: np.ndarray) -> np.ndarray:
    """Contiguous 1-D float32 integers as int32 in the same bytes (no int32 copy the size of
    the conv's output): numpy casts a 1-D array onto itself element by element, each read
    before it is written (a 2-D overlap would be copied first)."""
    out = flat.view(np.int32)
    np.copyto(out, flat, casting="unsafe")
    return out


def _sum_pool(torch: Any, rows: np.ndarray, in_shape: tuple, pool: tuple, payload_max: int):
    """Sums of aligned fy x fx blocks of rows (m, C*H*W) int8, as float32 (m, C, H/fy, W/fx):
    the rows of a block added first (in int8 while the sum fits: a quarter of the conversion),
    then the columns by strided adds (torch's avg_pool2d with divisor_override=1 is the same
    sum, measured 5-10x slower)."""
    (c, h, w), (fy, fx) = in_shape, pool
    r = torch.from_numpy(rows).view(len(rows) * c * (h // fy), fy, w)
    if fy * fx * payload_max > 127:
        r = r.float()
    a = r[:, 0]
    for i in range(1, fy):
        a = a + r[:, i]
    a = a.float()
    b = a[:, 0::fx]
    for j in range(1, fx):
        b = b + a[:, j::fx]
    return b.reshape(len(rows), c, h // fy, w // fx)
