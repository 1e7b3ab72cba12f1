"""The spike-by-spike Conv: each non-zero input adds the kernel taps it reaches into a
channel-last int32 buffer (`_conv_scatter`, inlined by graph_kernel's step loop; `conv_rows`, the
layer-major product conv_product calls for sparse binary blocks). Its tap tables are
compiled_steps.conv_scatter_tables'. Its numba cache is keyed on all kernel files together
(numba_cache.py).
"""

from __future__ import annotations

import functools

import numpy as np

_U = np.uint64  # an index numba need not wrap around (_add_taps)

def _conv_scatter(src, s0, geom, w, w0, reach, ptr, pairs, buf):
    """buf (OH * OW * O,) channel-last += the conv2d of the source values src[s0:s0 + C*H*W],
    one non-zero input at a time: its value times the kernel taps that reach each output.
    geom = (C, H, W, O, OH, OW, kH, kW, stride h, w, padding h, w, dilation h, w, groups,
    source channel-last, output channel-last): the source is (C, H, W), or (H, W, C) when
    channel-last (compiled_steps.channel_last). The kernel as (C / groups, kH, kW, O) row-major
    at w[w0:] (output channels innermost: each tap adds a contiguous run of channels into buf,
    which vectorizes). The taps an input position p = y * W + x reaches, from the geometry
    alone, are reach[ptr + p] .. reach[ptr + p + 1] - 1, pairs (output offset (oy * OW + ox) *
    O, kernel offset (ky * kW + kx) * O) at reach[pairs + 2q:] (compiled_steps._reach): no
    division or bounds test per tap. Returns whether any input was non-zero."""
    c_in, plane, c_out, kh, kw, groups = geom[0], geom[1] * geom[2], geom[3], geom[6], \
        geom[7], geom[14]
    cg = c_in // groups
    og = c_out // groups
    last = geom[15] == 1
    outer, inner = (plane, c_in) if last else (c_in, plane)  # the source in memory order
    active = False
    for i in range(outer):
        for k in range(inner):
            value = src[s0 + i * inner + k]
            if value == 0:
                continue
            active = True
            c, p = (k, i) if last else (i, k)
            g = c // cg if groups > 1 else 0
            _add_taps(buf, w, w0 + (c - g * cg) * kh * kw * c_out + g * og, g * og, og, reach,
                      ptr, pairs, p, value)
    return active


def _add_taps(buf, w, wc, ob0, og, reach, ptr, pairs, p, value):
    """_conv_scatter's additions for one non-zero input at position p of value `value`: the
    og channels of each tap it reaches (kernel channel run at w[wc + tap offset:], output run at
    buf[ob0 + output offset:]).

    The table reads index with unsigned integers (_U, all indices here are non-negative):
    numba then drops its negative-index wraparound (a shift, an and and an add per read, and
    the spills of their registers), and 16 and 8 channels are spelt out as two and one vector
    adds instead of a loop. µs per row, batch-1 blocks of the NIR-paper CNN's convs through
    _conv_scatter_planes, alternating in one process, medians of 11, before / unsigned /
    unsigned and spelt out: 2x34x34 -> 16 7.4 / 6.4 / 6.0, 16x16x16 -> 16 6.8 / 5.3 / 4.5,
    16x16x16 -> 8 7.3 / 4.6 / 4.1. 16 channels as one 16-lane add (a zmm load, vpaddd and
    store) instead of two 8-lane ones, two runs: 2x34x34 -> 16 5.63 / 5.12, 5.58 / 5.07;
    16x16x16 -> 16 3.82 / 3.62, 3.74 / 3.53 (8 channels unchanged: 3.42 / 3.58, 3.35 / 3.60,
    the same code there)."""
    for q in range(reach[_U(ptr + p)], reach[_U(ptr + p + 1)]):
        ob = reach[_U(pairs + 2 * q)] + ob0
        wb = wc + reach[_U(pairs + 2 * q + 1)]
        if value == 1 and og == 16:
            _add16(buf, ob, w, wb)
        elif value == 1 and og == 8:
            _add8(buf, ob, w, wb)
        elif value == 1 and og % 8 == 0:  # whole vectors (a short loop runs scalar)
            for r in range(0, og, 8):
                _add8(buf, ob + r, w, wb + r)
        else:
            out = buf[ob:ob + og]
            taps = w[wb:wb + og]
            for o in range(og):
                out[o] += value * taps[o]


def _conv_scatter_planes(src, words, s0, geom, w, reach, pairs, buf, picked, picked_words):
    """_conv_scatter for a channel-major source (geom[15] == 0) and a kernel at w[0:], each
    input plane's non-zero positions first gathered branch-free into picked (H*W,) int64 (as
    kernels._spike_sum does): at the 3-10 % activity of the NIR-paper CNN a branch per input
    mispredicts at nearly every spike. µs per row, batch-1 blocks of that CNN's convs,
    alternating in one process, medians of 11, a branch per input / gathered: 2x34x34 -> 16
    9.2 / 6.9, 16x16x16 -> 16 7.4 / 6.3, 16x16x16 -> 8 8.5 / 6.4.
    words: src as uint64 (src's length and s0 multiples of 8) or empty: where H*W is a multiple
    of 8 too, the non-zero words are gathered first (into picked_words (H*W / 8,)), then only
    their bytes: 16x16x16 -> 16 4.6 / 3.9, 16x16x16 -> 8 4.0 / 3.5 (bytes / words, after
    _add_taps' unsigned indices; the 34x34 plane keeps bytes). Returns whether any input was
    non-zero."""
    c_in, plane, c_out, kh, kw, groups = geom[0], geom[1] * geom[2], geom[3], geom[6], \
        geom[7], geom[14]
    cg = c_in // groups
    og = c_out // groups
    by_words = len(words) > 0 and plane % 8 == 0
    active = False
    for c in range(c_in):
        base = s0 + c * plane
        m = 0
        if by_words:
            k = 0
            for q in range(plane // 8):
                picked_words[_U(k)] = q
                k += words[_U(base // 8 + q)] != 0
            for j in range(k):
                first = picked_words[_U(j)] * 8
                for p in range(first, first + 8):
                    picked[_U(m)] = p
                    m += src[_U(base + p)] != 0
        else:
            for p in range(plane):
                picked[_U(m)] = p
                m += src[_U(base + p)] != 0
        active |= m > 0
        g = c // cg if groups > 1 else 0
        wc = (c - g * cg) * kh * kw * c_out + g * og
        for j in range(m):
            p = picked[_U(j)]
            _add_taps(buf, w, wc, g * og, og, reach, 0, pairs, p, src[_U(base + p)])
    return active


def _conv_rows(rows, geom, w, reach, pairs, buf, out):
    """out (m, O * OH * OW) int32 channel-major = the conv2d of each source row of rows (m,
    C*H*W) int8 (channel-major, geom[15] == 0): _conv_scatter_planes into the channel-last buf
    (OH*OW*O,) int32, then one transposed copy; a silent row is zeros. reach: ptr then pairs at
    `pairs`."""
    n_in = rows.shape[1]
    flat = rows.reshape(-1)
    words = (flat if n_in % 8 == 0 else flat[:0]).view(np.uint64)
    c_out, plane = geom[3], geom[4] * geom[5]
    picked = np.empty(geom[1] * geom[2], np.int64)
    picked_words = np.empty(geom[1] * geom[2] // 8, np.int64)
    buf[:] = 0
    for i in range(rows.shape[0]):
        row = out[i]
        if not _conv_scatter_planes(flat, words, i * n_in, geom, w, reach, pairs, buf, picked,
                                    picked_words):
            row[:] = 0
            continue
        # contiguous writes, buf (in L1) read strided, then cleared in one contiguous pass:
        # clearing each read element (strided stores) cost as much as the copy. µs per row,
        # batch-1 blocks of the NIR-paper CNN's convs, alternating in one process, medians of
        # 11, cleared per element / after: 2x34x34 -> 16 11.6 / 9.2, 16x16x16 -> 16 10.4 / 7.5,
        # 16x16x16 -> 8 8.8 / 8.6 (no transposition at all, not exact: 9.2, 7.7, 8.6)
        for c in range(c_out):
            for q in range(plane):
                row[c * plane + q] = buf[q * c_out + c]
        buf[:] = 0


def _add8(buf, ob, w, wb):
    """buf[ob:ob + 8] += w[wb:wb + 8] (one vector add, compiled by _vector_add(8); numba's loop
    for a run this short would take its scalar remainder path)."""
    buf[ob:ob + 8] += w[wb:wb + 8]


def _add16(buf, ob, w, wb):
    """buf[ob:ob + 16] += w[wb:wb + 16] (one vector add, compiled by _vector_add(16))."""
    buf[ob:ob + 16] += w[wb:wb + 16]


def _vector_add(n_lanes):
    """_add8 / _add16 as a numba intrinsic: one load, add and store of an n_lanes integer
    vector of the arrays' own type (int32, or int64 for wide sums); the caller keeps both runs
    in bounds."""
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def add_lanes(typingctx, buf, ob, w, wb):
        if buf.dtype != w.dtype:
            return None

        def codegen(context, builder, signature, args):
            out = context.make_array(signature.args[0])(context, builder, args[0])
            taps = context.make_array(signature.args[2])(context, builder, args[2])
            lanes = ir.VectorType(context.get_value_type(signature.args[0].dtype), n_lanes)
            po = builder.bitcast(builder.gep(out.data, [args[1]]), lanes.as_pointer())
            pt = builder.bitcast(builder.gep(taps.data, [args[3]]), lanes.as_pointer())
            total = builder.add(builder.load(po, align=1), builder.load(pt, align=1))
            builder.store(total, po, align=1)
            return context.get_dummy_value()

        return types.void(buf, ob, w, wb), codegen

    return add_lanes


@functools.cache
def compiled():
    """The jitted _conv_scatter (for graph_kernel's step loop to inline), after the helpers it
    inlines; compiled by numba on first call (cached on disk by numba)."""
    global _add8, _add16, _add_taps, _conv_scatter, _conv_scatter_planes
    import numba

    from snncompile.sim import numba_cache

    numba_cache.install()  # one cache key for all kernel files
    _add8, _add16 = _vector_add(8), _vector_add(16)
    _add_taps = numba.njit(cache=True, nogil=True, inline="always")(_add_taps)
    _conv_scatter = numba.njit(cache=True, nogil=True)(_conv_scatter)
    _conv_scatter_planes = numba.njit(cache=True, nogil=True)(_conv_scatter_planes)
    return _conv_scatter


@functools.cache
def _compiled_rows():
    """_conv_rows compiled by numba on first use (with compiled()'s helpers)."""
    global _conv_rows
    import numba

    compiled()
    _conv_rows = numba.njit(cache=True, nogil=True)(_conv_rows)
    return _conv_rows


def conv_rows(*args) -> None:
    """_conv_rows compiled (its docstring has the arguments)."""
    _compiled_rows()(*args)
