"""The int32 lane arithmetic every emulator kernel inlines: Lava's int32 wrap (`wrap32`), the
split 36-bit decay product (`decay`), the 512-bit vector request (`wide_vectors`) and sums in
a narrow accumulator's own lanes (`lane_add`, `lane_sub`), for kernels.py, batched_steps.py
and narrow_lif.py. Their numba cache is keyed on the contents of all
kernel files together (numba_cache.py), so a change here recompiles every kernel that inlines it.
"""

from __future__ import annotations

import functools

import numpy as np


def wrap32(x):
    return ((x + 2147483648) & 4294967295) - 2147483648


def decay(x, factor):
    """tz(x * factor / 4096) for an int32 x and a factor 0..4096, in int32 arithmetic (twice the
    vector lanes of int64): with x = h * 4096 + l (h = x >> 12, 0 <= l < 4096), x * factor / 4096
    = h * factor + l * factor / 4096, where h * factor is in [-2^31, 2^31) and l * factor < 2^24;
    rounding toward zero is the floor of (x * factor + 4095) / 4096 for x < 0, so the low part
    is (l * factor + 4095) >> 12 there and (l * factor) >> 12 else (h * factor * 4096 is a
    multiple of 4096). Two vector operations fewer than a separate rounding correction.

    The factor's mask (& 8191, exact for 0..4096) tells LLVM the factor fits 16 bits, so the low
    product (l < 4096) is a vpmaddwd (one uop) instead of a vpmulld (two). A factor hoisted out
    of the loop pays nothing for the mask: batched_steps._lif_lanes, alternating in one process,
    ns per neuron-step 1.09 -> 0.90 (256 neurons x 64 samples), 1.03 -> 0.86 (x 128), reset
    zero; a per-neuron factor (kernels._lif_row) pays one vpandd for the uop saved: 0.47-0.84
    before and after within noise. The high product stays a vpmulld: h = x >> 12 has 20
    significant bits for an int32 x, and a u state is not bounded below int32 (Lava's single
    correction leaves u1 = decay + (a << 6) anywhere in int32)."""
    x = np.int32(x)
    d = np.int32(np.int32(factor) & 8191)
    toward_zero = (x >> 31) & 4095  # 4095 for a negative x, else 0
    return np.int32(np.int32((x >> 12) * d) + (np.int32(np.int32((x & 4095) * d) + toward_zero)
                                                >> 12))


def wide_vectors():
    """Python: nothing. Compiled (`compiled`), it asks LLVM for 512-bit vectors in the function
    that calls it. LLVM's tuning for recent Intel cores prefers 256-bit vectors; for the LIF
    loop 512-bit lanes pay: 0.80 vs 1.27 ns per neuron-step (_lif_run on 1 x 500 x 512, bit-equal;
    braille RNN in batched_steps, µs per sample-step: 0.200 vs 0.215 at batch 256, 0.209 vs 0.221
    at 64). An LLVM function attribute, so only these kernels change, not numba's process-wide
    target (NUMBA_CPU_FEATURES); a core without AVX-512 ignores it."""


@functools.cache
def compiled():
    """(wrap32, decay, wide_vectors) for numba kernels to inline: the first two jitted, the last
    a numba intrinsic (importing numba costs a second or two, paid on first use only)."""
    import numba
    from numba.extending import intrinsic

    from snncompile.sim import numba_cache

    numba_cache.install()

    @intrinsic
    def wide_vectors_intrinsic(typingctx):
        def codegen(context, builder, signature, args):
            # llvmlite's attribute set lists only valueless attributes; a "key"="value" string
            # is valid LLVM IR in the same place, so it is added past that check.
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
            return context.get_dummy_value()

        return numba.types.none(), codegen

    inline = numba.njit(cache=True, nogil=True, inline="always")
    return inline(wrap32), inline(decay), wide_vectors_intrinsic


def lane_add(acc, x):
    """acc + x in acc's own integer type, wrapping (x, as wide or narrower, sign-extended)."""
    return acc + x


def lane_sub(acc, x):
    """acc - x in acc's own integer type, wrapping (as lane_add)."""
    return acc - x


@functools.cache
def compiled_lane_ops():
    """(lane_add, lane_sub) as numba intrinsics for kernels to inline. numba types int16 + int16
    (and int32 + int16) as int64 and LLVM keeps the widening, so a summed row of int16 weights
    ran in 4 int64 lanes per 256-bit vector (`vpaddq` ymm); these emit the add or sub on acc's
    own type, so kernels._spike_sum runs in 32 int16 lanes (`vpaddw` / `vpsubw` zmm, with
    wide_vectors) or 16 int32 lanes (`vpmovsxwd` then `vpaddd`), as its inspect_asm shows."""
    from numba.core import types
    from numba.extending import intrinsic

    def lane_op(name: str):
        def typer(typingctx, acc, x):
            if not (isinstance(acc, types.Integer) and isinstance(x, types.Integer)
                    and x.bitwidth <= acc.bitwidth):
                return None

            def codegen(context, builder, signature, args):
                value = args[1]
                if x.bitwidth < acc.bitwidth:
                    wide = context.get_value_type(acc)
                    value = (builder.sext if x.signed else builder.zext)(value, wide)
                return getattr(builder, name)(args[0], value)

            return acc(acc, x), codegen

        typer.__name__ = f"lane_{name}"
        return intrinsic(typer)

    return lane_op("add"), lane_op("sub")
