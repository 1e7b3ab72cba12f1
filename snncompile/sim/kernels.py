"""The emulator's inner loops, compiled by numba: the LIF time loop (`lif_run`), the same loop
fused with a summed Dense (`dense_lif_run`), and the LIF row the other kernels inline (the step
loop of a whole recurrent graph is graph_kernel.py's). The int8 synapse products are in
int_weights.py.

The lane arithmetic they inline (wrap32, decay, wide_vectors, lane_add) is int_lanes.py's; their
numba cache is keyed on all kernel files together (numba_cache.py).

`lif_run` is the one implementation of Lava's fixed-point LIF update (spec §1.1/§1.2, the rule
emulator._LIF documents) that both emulator paths call: the stepwise path one step at a time, the
layer-major path (fast.py) over a whole spike train. Every value is an int32 scalar inside the
loop (int32 wrap arithmetic is Lava's; the 36-bit decay products are split, see
int_lanes.decay), so the loop over neurons runs in int32 vector lanes and no array temporaries
are made. Neuron parameters are per-neuron arrays (`per_neuron` broadcasts a scalar), so
heterogeneous populations run through the same kernel.
"""

from __future__ import annotations

import functools

import numpy as np

from snncompile.sim import int_lanes
from snncompile.sim.int_lanes import decay as _decay
from snncompile.sim.int_lanes import lane_add as _lane_add
from snncompile.sim.int_lanes import lane_sub as _lane_sub
from snncompile.sim.int_lanes import wide_vectors as _wide_vectors

U_MAX = 2**23
V_MAX = 2**23 - 1


def per_neuron(value, n: int) -> np.ndarray:
    """A scalar or per-neuron parameter as a contiguous int64 array of n values."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, np.int64).reshape(-1)
                                                if np.ndim(value) else np.int64(value), (n,)))


def _lif_row(a, u, v, s_prev, du, dv, vth, bias, reset, spikes, up=6, events=True):
    """One step of one sample's population, branch-free so the loop vectorizes: a (n,) input
    (entering u as wrap32(wrap32(a) << up): up 6, or 6 + the a_out shift the caller left in a),
    u, v (n,) state and s_prev (n,) the last step's spikes, updated in place; spikes (n,) int8
    out; reset 0 zero, 1 subtract, 2 subtract_next (the previous step's spike subtracted inside
    the v update, v kept on a spike). Returns (u wraps, v saturations, spikes): the spike count
    is one more int32 sum in the vector loop, so run_emulator need not pass over the train.
    events: a constant False (the fast path, which reports no strict events) leaves the wraps
    and saturations uncounted (0): four vector operations fewer per neuron, about 17 % of
    the loop. du, dv: the decay factors, per neuron ((n,) arrays) or one value each for the
    whole population (0-d arrays, single_factors), read once into a register: ns per
    neuron-step on 64 x 500 x 512, alternating in one process, two runs, per-neuron arrays ->
    0-d: reset zero 0.457/0.529 -> 0.448/0.505, subtract 0.505/0.462 -> 0.447/0.433,
    subtract_next 0.490/0.543 -> 0.479/0.493 (bit-equal).

    Every value is an int32 (u, v and the wraps are int32 in Lava; bias enters a wrapped sum, so
    its wrap32 is exact; 0 <= vth < 2^31), so with int32 arrays the loop runs in int32 vector
    lanes; resets are masks, the counts int32 sums, so nothing in it is 64-bit."""
    n_wrap = np.int32(0)
    n_sat = np.int32(0)
    n_spk = np.int32(0)
    later = np.int32(reset == 2)
    subtract = -np.int32(reset == 1)  # all ones for "subtract"
    zero = -np.int32(reset == 0)  # all ones for "zero"
    up = np.int32(up) & 31  # a count known below 32 keeps the shift in int32 lanes
    du_one = _one_factor(du)
    dv_one = _one_factor(dv)
    for j in range(u.shape[0]):
        x = np.int32(np.int32(a[j]) << up)
        u1 = np.int32(_decay(u[j], _factor(du, du_one, j)) + x)
        high = np.int32(u1 > U_MAX)  # Lava's single correction into (-2^23, 2^23]
        low = np.int32(u1 <= -U_MAX)
        uu = np.int32(u1 - (high << 24) + (low << 24))
        th = np.int32(vth[j])
        pending = -np.int32(s_prev[j] * later)  # all ones: subtract_next's spike to subtract
        dv_j = _factor(dv, dv_one, j)
        v1 = np.int32(np.int32(np.int32(_decay(v[j], dv_j) + uu) + np.int32(bias[j]))
                      - (th & pending))
        vv = min(max(v1, np.int32(-V_MAX)), np.int32(V_MAX))
        if events:
            n_wrap = np.int32(n_wrap + high + low)
            n_sat = np.int32(n_sat + np.int32(vv != v1))
        s = np.int32(vv > th)
        n_spk = np.int32(n_spk + s)
        spikes[j] = s
        s_prev[j] = s
        fired = -s  # all ones on a spike
        u[j] = uu
        v[j] = np.int32(vv - (th & fired & subtract)) & ~(fired & zero)
    return n_wrap, n_sat, n_spk


def _lif_step(a, u, v, s_prev, du, dv, vth, bias, reset, spikes, up, events):
    """_lif_row with the reset mode a constant in each branch: numba inlines all three, so LLVM
    folds the reset masks out of each loop (0.59 -> 0.54 ns per neuron-step, subtract reset)."""
    if reset == 0:
        return _lif_row(a, u, v, s_prev, du, dv, vth, bias, 0, spikes, up, events)
    if reset == 1:
        return _lif_row(a, u, v, s_prev, du, dv, vth, bias, 1, spikes, up, events)
    return _lif_row(a, u, v, s_prev, du, dv, vth, bias, 2, spikes, up, events)


def _lif_run(a, lag, up, u, v, s_prev, du, dv, vth, bias, reset, interval, phase, t0,
             spikes, u_rec, v_rec, counts, events):
    """Run LIF populations over time, sample by sample.

    a: (batch, steps_a, n) integer input; step t (0-based) reads a[:, t - lag] (zero before).
    up: 6 (the u update's a << 6), or 6 + k for an int32 register still to be shifted left by k
    (wrap32(wrap32(a << k) << 6) = wrap32(a << (6 + k)): the shift folded into this loop), k < 26.
    u, v: (batch, n) int64 state, s_prev (batch, n) int8 the last step's spikes, updated in
    place. du, dv (decay factors 4096 - ..): (n,) int64, or 0-d arrays (single_factors); vth
    (<< 6), bias (effective): (n,) int64. reset: 0
    zero, 1 subtract, 2 subtract_next (RESETS). interval, phase: the LIFReset schedule (interval
    0: none), tested on the hw step t0 + t. spikes: (batch, steps, n) int8 out. u_rec, v_rec:
    (batch, steps, n) int32 out, or empty to skip. counts: (steps,) int64 += each step's spikes.
    events: (steps, 2) int64 += the u wraps and v saturations of each step (strict mode's
    events), or None: numba then compiles the counting out of the loop.
    """
    _wide_vectors()
    batch, steps, n = spikes.shape
    record = u_rec.shape[0] > 0
    zero = np.zeros(n, a.dtype)
    du, dv, vth, bias = _int32_params(du, dv, vth, bias)
    for b in range(batch):
        ub = u[b].astype(np.int32)  # int32 copies, so _lif_row runs in int32 lanes
        vb = v[b].astype(np.int32)
        sb = s_prev[b]
        for t in range(steps):
            if interval > 0 and (t0 + t) % interval == phase:
                ub[:] = 0
                vb[:] = 0
                sb[:] = 0
            ta = t - lag
            n_wrap, n_sat, n_spk = _lif_step(a[b, ta] if ta >= 0 else zero, ub, vb, sb, du, dv,
                                             vth, bias, reset, spikes[b, t], up,
                                             events is not None)
            counts[t] += n_spk
            if events is not None:
                events[t, 0] += n_wrap
                events[t, 1] += n_sat
            if record:
                u_rec[b, t] = ub
                v_rec[b, t] = vb
        u[b] = ub
        v[b] = vb


def _spike_sum(row, words, w, total, acc, picked):
    """acc (n,) = the binary row (n_in,) int8 of 0/1 times w (n_in, n): the weight rows of its k
    active sources added, or, when fewer, total (the column sums) minus the sum of the n_in - k
    silent ones, so a row costs min(k, n_in - k) row additions instead of a dense product's
    n_in. Integer sums in any order, wrapping in acc's width (int16 or int32): exact whenever
    the caller bounds the true |sum| below that width's limit (the wraps of the partial sums
    and of total cancel).

    The additions are int_lanes.lane_add / lane_sub on acc's own type, w's int8 or int16
    sign-extended: inspect_asm of dense_lif_run shows `vpmovsxbw` + `vpaddw` / `vpsubw` on zmm
    (32 int16 lanes) for int16 acc, `vpmovsxbd` + `vpaddd` for int32, where numba's own `+`
    widened to int64 (`vpaddq`, 4 lanes a ymm). The rows come from L2 (vs_peers' 128 -> 512
    layer: 64 KiB as int8, 128 KiB as int16), so int8 rows pay. CPU µs per sample-step of that
    layer's scan and sums alone, batch 64, alternating in one process: at 10 % (13 rows) int8
    0.197, int16 0.259, torch._int_mm's product 0.201; at 90 % int8 rows added and taken from
    total once 0.199, each row subtracted from total 0.326 (_int_mm 0.238). The whole fused
    kernel (LIF included), old int64 lanes + int16 rows / int16 lanes + int16 rows / int16
    lanes + int8 rows: 10 % 0.636 / 0.562 / 0.484, 90 % 0.735 / 0.568 / 0.464; 512 -> 256
    at 79 % 1.75 / 1.52 / 1.17 (alternating in one process, medians of 9): the lanes (and at
    90 % the single subtraction) 12-23 %, the int8 rows a further 14-23 %.

    words: the row as (n_in / 8,) uint64 when n_in is a multiple of 8 (else empty): the count
    then reads eight sources at a time, and where the wanted sources are rare (at most one in
    32) the scan opens only the words holding one; else it reads every byte, branch-free (at
    10 % the words' branches cost more: 0.253 vs 0.197 µs above; at 99.5 % of 256 sources
    0.06 vs 0.13). picked: (n_in,) int64 scratch for the rows' indices."""
    n_in, n = w.shape
    ones = np.uint64(0x0101010101010101)
    k = 0
    if len(words):
        for q in range(len(words)):
            k += np.int64((words[q] * ones) >> np.uint64(56))  # its eight 0/1 bytes' sum
    else:
        for j in range(n_in):
            k += row[j]
    silent = 2 * k > n_in
    want = 0 if silent else 1
    m = 0
    if len(words) and 32 * min(k, n_in - k) <= n_in:
        skip = ones if silent else np.uint64(0)
        for q in range(len(words)):
            if words[q] != skip:
                for j in range(8 * q, 8 * q + 8):
                    picked[m] = j
                    m += row[j] == want
    else:
        for j in range(n_in):
            picked[m] = j
            m += row[j] == want
    acc[:] = 0
    r = 0
    while r + 4 <= m:  # four rows per pass over acc: one load and store of acc per four rows
        j0, j1, j2, j3 = picked[r], picked[r + 1], picked[r + 2], picked[r + 3]
        for i in range(n):
            acc[i] = _lane_add(_lane_add(_lane_add(_lane_add(acc[i], w[j0, i]), w[j1, i]),
                                         w[j2, i]), w[j3, i])
        r += 4
    for rest in range(r, m):
        j = picked[rest]
        for i in range(n):
            acc[i] = _lane_add(acc[i], w[j, i])
    if silent:  # one pass more: subtracting each row from total ran at half the speed
        for i in range(n):
            acc[i] = _lane_sub(total[i], acc[i])


def _dense_lif_run(src, words, w, total, left, acc, u, v, s_prev, du, dv, vth, bias, reset,
                   interval, phase, t0, spikes, u_rec, v_rec, counts, events):
    """One Dense from a binary spike train into a LIF population, the product fused with the LIF
    update one (sample, step) at a time so the register never leaves L1 (fast.py's dense path
    at low or high activity; _spike_sum says why).

    src (batch, steps, n_in) int8 0/1: the source's spikes; step t reads source step t - 1
    (nothing at step 0); words: src as (batch, steps, n_in / 8) uint64, or empty (_spike_sum).
    w (n_in, n_out) int16 or int32: the effective weights >> shift (their common trailing
    zeros); total (n_out,) their column sums in acc's dtype; left = shift + weight_exp, so the
    register is wrap32(sum << left) (or sum >> -left), as IntWeights.product gives it. acc
    (n_out,) scratch: int16 (twice the lanes of int32) when every sum fits it and
    0 <= left < 26, else int32. A left shift below 26 is the LIF's (its up = 6 + left), so the
    sums enter the LIF update as they are; other shifts take one pass over acc.
    The rest as _lif_run takes them (lag 1)."""
    _wide_vectors()
    batch, steps, n = spikes.shape
    record = u_rec.shape[0] > 0
    du, dv, vth, bias = _int32_params(du, dv, vth, bias)
    fold = 0 <= left < 26
    up = 6 + left if fold else 6
    picked = np.zeros(src.shape[2], np.int64)
    no_words = np.zeros(0, np.uint64)
    for b in range(batch):
        ub = u[b].astype(np.int32)
        vb = v[b].astype(np.int32)
        sb = s_prev[b]
        for t in range(steps):
            if interval > 0 and (t0 + t) % interval == phase:
                ub[:] = 0
                vb[:] = 0
                sb[:] = 0
            if t == 0:
                acc[:] = 0
            else:
                _spike_sum(src[b, t - 1], words[b, t - 1] if len(words) else no_words, w,
                           total, acc, picked)
                if not fold:  # acc is int32 here
                    if left >= 0:
                        for i in range(n):
                            acc[i] = np.int32(np.int64(acc[i]) << left)
                    else:
                        for i in range(n):
                            acc[i] = acc[i] >> -left
            n_wrap, n_sat, n_spk = _lif_step(acc, ub, vb, sb, du, dv, vth, bias, reset,
                                             spikes[b, t], up, events is not None)
            counts[t] += n_spk
            if events is not None:
                events[t, 0] += n_wrap
                events[t, 1] += n_sat
            if record:
                u_rec[b, t] = ub
                v_rec[b, t] = vb
        u[b] = ub
        v[b] = vb


def _int32_params(du, dv, vth, bias):
    """A population's (n,) parameters as int32 arrays: decays (0..4096, or 0-d: single_factors)
    as they are, bias wrapped (it only enters wrapped sums), vth capped at 2^31 - 1 (|v| < 2^23
    never reaches the cap)."""
    return (du.astype(np.int32), dv.astype(np.int32),
            np.minimum(vth, 2**31 - 1).astype(np.int32), bias.astype(np.int32))


def single_factors(du: np.ndarray, dv: np.ndarray) -> tuple:
    """(du, dv) as the kernels take them: 0-d arrays when every neuron has du[0] and dv[0], else
    the (n,) arrays. A 0-d array is a type of its own to numba, so the kernels compile a variant
    that reads each factor once per row, into a register: int_lanes.decay's mask then leaves
    the loop and both low products are vpmaddwd (two of about 36 vector uops fewer per 16
    neurons). (Passed as Python ints instead, the factors left LLVM's loop vectorizer judging
    the row not worth vectorizing.)"""
    if len(du) and (du == du[0]).all() and (dv == dv[0]).all():
        return np.array(du[0]), np.array(dv[0])
    return du, dv


def _one_factor(d):
    """The population's one decay factor (d 0-d), read before the loop; 0 for per-neuron d."""
    return d[()] if np.ndim(d) == 0 else 0


def _factor(d, one, j):
    """Neuron j's decay factor: d[j] of per-neuron factors, else `one` (_one_factor's)."""
    return one if np.ndim(d) == 0 else d[j]


def _single_factor_overloads() -> None:
    """numba versions of _one_factor and _factor, chosen by d's number of dimensions when a
    kernel is compiled, so neither leaves a test in the loop."""
    from numba.extending import overload

    @overload(_one_factor, inline="always")
    def _one_factor_typed(d):
        if d.ndim == 0:
            return lambda d: d[()]
        return lambda d: 0

    @overload(_factor, inline="always")
    def _factor_typed(d, one, j):
        if d.ndim == 0:
            return lambda d, one, j: one
        return lambda d, one, j: d[j]


@functools.cache
def _compiled():
    """The kernels compiled by numba, on first use (importing numba costs a second or two, which
    a compile that never runs the emulator should not pay); cached on disk by numba."""
    global _wrap32, _decay, _lif_row, _int32_params, _spike_sum, _wide_vectors, _lif_step
    global _lane_add, _lane_sub
    import numba

    from snncompile.sim import numba_cache

    numba_cache.install()  # one cache key for all kernel files
    _single_factor_overloads()
    _wrap32, _decay, _wide_vectors = int_lanes.compiled()
    _lane_add, _lane_sub = int_lanes.compiled_lane_ops()

    _int32_params = numba.njit(cache=True, nogil=True, inline="always")(_int32_params)
    _lif_row = numba.njit(cache=True, nogil=True, inline="always")(_lif_row)
    _lif_step = numba.njit(cache=True, nogil=True, inline="always")(_lif_step)
    _spike_sum = numba.njit(cache=True, nogil=True, inline="always")(_spike_sum)
    return (numba.njit(cache=True, nogil=True)(_lif_run),
            numba.njit(cache=True, nogil=True)(_dense_lif_run))


def lif_run(*args) -> None:
    """_lif_run compiled (its docstring has the arguments)."""
    _compiled()[0](*args)


def dense_lif_run(*args) -> None:
    """_dense_lif_run compiled (its docstring has the arguments)."""
    _compiled()[1](*args)


NO_RECORD = np.zeros((0, 0, 0), np.int32)
RESETS = {"zero": 0, "subtract": 1, "subtract_next": 2}  # hw.LIF.reset -> the kernel's code
