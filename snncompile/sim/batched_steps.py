"""compiled_steps' step loop with the batch innermost: narrow recurrent graphs from batch 8.

graph_kernel.graph_steps steps one sample at a time, so each population and synapse is a vector of
its own few neurons (the braille RNN's 38 + 7 + 2): per sample-step the loop pays a dozen short
vector passes and their set-up, which left it slower than a plain torch loop at batch 256,
where torch steps every sample in one matrix product per step. Here a block of up to BLOCK
samples steps together, its state laid out (neuron, sample): each LIF update and each weight
times a source row runs over the block's samples as one contiguous int32 vector, and a source
row no sample of the block used (all zero) is skipped.

The integers are those of graph_kernel.graph_steps (which the tests compare this loop with, and
through it the Python stepwise loop): the same tables (compiled_steps._packed), Dense and Sparse
sums exact in int32 (int64 where compiled_steps says they could pass 2^31), shifted by the weight
exponent and wrapped to int32 per synapse, delayed d steps in a ring of registers, registers
summed with int32 wrap (equal to the int64 sum the neuron update wraps), strict mode's u wraps
and v saturations counted per step and population (sums over samples, so the events are the
same). LIF and ATRLIF populations, fed by Dense / DelayDense / Sparse synapses; graphs with a
Conv keep the per-sample loop.

`chosen` is the measured rule (kernel CPU time per sample-step, per-sample loop vs this one, at
load 4-6). This loop does every weight of a used row for every sample of the block, the
per-sample loop only the rows each sample's spikes pick but in short vectors with a set-up cost
each; so this one pays where populations are narrow (NARROW) and the block is long enough for
the graph's weights (DENSE / batch): braille RNN (widest 38, 2,360 weights): 0.60 vs 0.90 µs at
batch 4, 0.59 vs 0.48 at 8, 0.60 vs 0.23 at 64, 0.65 vs 0.23 at 256; random recurrent graphs
(inputs, hidden width, 10 outputs, input rate): 12-48 at 10 %: 0.60 vs 0.81 at 8, 0.60 vs 0.59
at 16, 0.60 vs 0.49 at 32; 100-48 at 5 %: 0.94 vs 1.48 at 8, 0.95 vs 0.96 at 32, 0.97 vs 0.78 at
64; 100-64: 1.25 vs 2.15 at 8, 1.29 vs 1.02 at 64, 1.46 vs 1.08 at 256; 100-128: slower at every
batch (1.87 vs 2.29 at 64). ATRLIF, strict mode (examples/delays_adaptation): no_delays.pt 0.56
vs 0.31 at 8, 0.55 vs 0.21 at 64; delays.pt (22 delay groups: 2,720 weights) 1.13 vs 1.02 at 8,
1.12 vs 0.74 at 64.
"""

from __future__ import annotations

import functools

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim import int_lanes
from snncompile.sim.int_lanes import decay as _decay
from snncompile.sim.int_lanes import wide_vectors as _wide_vectors
from snncompile.sim.int_lanes import wrap32 as _wrap32

SCATTER = 8  # a row used by at most 1/SCATTER of the block's samples adds theirs one by one
# (not tuned: the braille RNN's rows are busy, its time the same either way)
BLOCK = 128  # samples stepped together (braille RNN at batch 256, kernel CPU time, µs per
# sample-step: 32 0.26, 64 0.22, 128 0.20, 256 0.21)
FROM_BATCH = 8  # fewer samples: the per-sample loop
NARROW = 64  # the widest synapse output (neurons) this loop takes
DENSE = 320  # at most this many weights (all synapses) per sample of the batch


def chosen(g: Graph, batch: int, widest: int, weights: int) -> bool:
    """Whether this loop runs the graph (compiled_steps.applicable already holds): no Conv,
    FROM_BATCH samples or more, no synapse wider than NARROW, at most DENSE weights per sample."""
    if batch < FROM_BATCH or widest > NARROW or weights > DENSE * batch:
        return False
    return not any(type(op) is hw.Conv for op in g.nodes.values())


def _lif_lanes(a, u, v, s_prev, du, dv, vth, bias, reset, spikes):
    """kernels._lif_row for a block: a, u, v, s_prev (n, bk) int32, the samples innermost;
    spikes (n, bk) int32 out (the block's source rows). Returns (u wraps, v saturations)."""
    n, bk = u.shape
    n_wrap = 0
    n_sat = 0
    later = np.int32(reset == 2)
    subtract = -np.int32(reset == 1)  # all ones for "subtract"
    zero = -np.int32(reset == 0)  # all ones for "zero"
    for j in range(n):
        d_u = np.int32(du[j])
        d_v = np.int32(dv[j])
        th = np.int32(vth[j])
        b_j = np.int32(bias[j])
        wraps = np.int32(0)
        sats = np.int32(0)
        for k in range(bk):
            x = np.int32(np.int32(a[j, k]) << 6)
            u1 = np.int32(_decay(u[j, k], d_u) + x)
            high = np.int32(u1 > 2**23)  # Lava's single correction into (-2^23, 2^23]
            low = np.int32(u1 <= -2**23)
            uu = np.int32(u1 - (high << 24) + (low << 24))
            pending = -np.int32(s_prev[j, k] * later)
            v1 = np.int32(np.int32(np.int32(_decay(v[j, k], d_v) + uu) + b_j) - (th & pending))
            vv = min(max(v1, np.int32(-(2**23 - 1))), np.int32(2**23 - 1))
            wraps = np.int32(wraps + high + low)
            sats = np.int32(sats + np.int32(vv != v1))
            s = np.int32(vv > th)
            spikes[j, k] = s
            s_prev[j, k] = s
            fired = -s
            u[j, k] = uu
            v[j, k] = np.int32(vv - (th & fired & subtract)) & ~(fired & zero)
        n_wrap += wraps
        n_sat += sats
    return n_wrap, n_sat


def _atrlif_lanes(a, i, v, theta, r, di, dv, dth, dr, th0, th_step, bias, spikes):
    """graph_kernel._atrlif_row for a block (hw.ATRLIF's docstring is the rule; th0 and th_step
    already << 6): a, i, v, theta, r (n, bk) int32, the samples innermost (theta and r hold
    wrapped int32 values, so int32 loses nothing); spikes (n, bk) int32 out. Returns (i wraps,
    v saturations)."""
    n, bk = i.shape
    n_wrap = 0
    n_sat = 0
    for j in range(n):
        d_i = di[j]
        d_v = dv[j]
        d_th = dth[j]
        d_r = dr[j]
        t0 = th0[j]
        step = th_step[j]
        b_j = bias[j]
        for k in range(bk):
            x = _wrap32(_wrap32(np.int64(a[j, k])) << 6)
            i1 = _wrap32(_decay(i[j, k], d_i) + x)
            high = i1 > 2**23
            low = i1 <= -2**23
            ii = i1 - 2 * 2**23 * high + 2 * 2**23 * low
            n_wrap += high + low
            v1 = _wrap32(_decay(v[j, k], d_v) + ii + b_j)
            vv = min(max(v1, -(2**23 - 1)), 2**23 - 1)
            n_sat += vv != v1
            th = _wrap32(_decay(_wrap32(np.int64(theta[j, k]) - t0), d_th) + t0)
            rr = _wrap32(_decay(r[j, k], d_r))
            s = _wrap32(vv - rr) >= th
            spikes[j, k] = s
            if s:
                rr = _wrap32(rr + 2 * th)
                th = _wrap32(th + step)
            i[j, k] = ii
            v[j, k] = vv
            theta[j, k] = th
            r[j, k] = rr
    return n_wrap, n_sat


def _block_steps(x, binary_input, steps, u, v, s_prev, par, pops, syns, w, acc_proto, spikes,
                 recs, counts, adaptive, sparse, block, scatter):
    """graph_kernel._graph_steps over blocks of `block` samples (its docstring has the arguments;
    LIF and ATRLIF populations, Dense and Sparse rows only, no `conv`; spikes flat, each
    population's (batch, steps, n) train whole in the order of pops); binary_input: x
    holds 0/1 spikes (a weight is then masked, not multiplied); a row used by at most
    bk / scatter of the block's samples adds their weights one sample at a time."""
    _wide_vectors()
    batch, steps_in, n_in = x.shape
    n = u.shape[1]
    n_pop = pops.shape[0]
    du = par[0].astype(np.int32)
    dv = par[1].astype(np.int32)
    vth = np.minimum(par[2], 2**31 - 1).astype(np.int32)
    bias = par[3].astype(np.int32)
    u_rec, v_rec = recs
    record = u_rec.shape[0] > 0
    ring_len = syns[:, 7].max() + 1 if syns.shape[0] else 1
    m_max = syns[:, 4].max() if syns.shape[0] else 0
    for b0 in range(0, batch, block):
        bk = min(block, batch - b0)
        src = np.zeros((n_in + n, bk), np.int32)
        reg = np.zeros((n, bk), np.int32)
        nxt = np.zeros((n, bk), np.int32)
        ring = np.zeros((ring_len, n, bk), np.int32)
        acc = np.zeros((m_max, bk), acc_proto.dtype)
        picked = np.zeros(bk, np.int64)
        ub = np.empty((n, bk), np.int32)
        vb = np.empty((n, bk), np.int32)
        sb = np.empty((n, bk), np.int32)
        thb = np.zeros((n if adaptive is not None else 0, bk), np.int32)
        rb = np.zeros((n if adaptive is not None else 0, bk), np.int32)
        for k in range(bk):
            for j in range(n):
                ub[j, k] = u[b0 + k, j]
                vb[j, k] = v[b0 + k, j]
                sb[j, k] = s_prev[b0 + k, j]
            if adaptive is not None:
                for j in range(n):
                    thb[j, k] = adaptive[0][b0 + k, j]
                    rb[j, k] = adaptive[1][b0 + k, j]
        for t in range(steps):
            for p in range(n_pop):
                lo = pops[p, 0]
                hi = pops[p, 1]
                done = False
                if adaptive is not None:  # noqa: SIM102 (alone, so numba prunes it)
                    if pops[p, 2] == 1:
                        n_wrap, n_sat = _atrlif_lanes(
                            reg[lo:hi], ub[lo:hi], vb[lo:hi], thb[lo:hi], rb[lo:hi], du[lo:hi],
                            dv[lo:hi], adaptive[2][lo:hi], adaptive[3][lo:hi],
                            adaptive[4][lo:hi], adaptive[5][lo:hi], bias[lo:hi],
                            src[n_in + lo:n_in + hi])
                        counts[t, p, 0] += n_wrap
                        counts[t, p, 1] += n_sat
                        done = True
                if done:
                    continue
                if pops[p, 4] > 0 and (t + 1) % pops[p, 4] == pops[p, 5]:
                    ub[lo:hi] = 0
                    vb[lo:hi] = 0
                    sb[lo:hi] = 0
                n_wrap, n_sat = _lif_lanes(reg[lo:hi], ub[lo:hi], vb[lo:hi], sb[lo:hi],
                                           du[lo:hi], dv[lo:hi], vth[lo:hi], bias[lo:hi],
                                           pops[p, 3], src[n_in + lo:n_in + hi])
                counts[t, p, 0] += n_wrap
                counts[t, p, 1] += n_sat
            for p in range(n_pop):  # population p's train (batch, steps, hi - lo) at lo * B * T
                lo = pops[p, 0]
                width = pops[p, 1] - lo
                for k in range(bk):
                    out = (lo * batch + (b0 + k) * width) * steps + t * width
                    for j in range(width):
                        spikes[out + j] = src[n_in + lo + j, k]
            if record:
                for k in range(bk):
                    for j in range(n):
                        u_rec[b0 + k, t, j] = ub[j, k]
                        v_rec[b0 + k, t, j] = vb[j, k]
                if adaptive is not None:
                    for k in range(bk):
                        for j in range(n):
                            adaptive[6][b0 + k, t, j] = thb[j, k]
                            adaptive[7][b0 + k, t, j] = rb[j, k]
            if t < steps_in:
                for k in range(bk):
                    for j in range(n_in):
                        src[j, k] = x[b0 + k, t, j]
            else:
                src[:n_in] = 0
            nxt[:] = 0
            for q in range(syns.shape[0]):
                row = syns[q]
                kind, s0, t0, k_in, m = row[0], row[1], row[2], row[3], row[4]
                base, e, delay = row[5], row[6], row[7]
                a = acc
                a[:m] = 0
                active = False
                binary = binary_input or s0 >= n_in  # spikes: 0/1, payloads: int8 values
                for j in range(k_in):
                    values = src[s0 + j]
                    used = np.int32(0)
                    for k in range(bk):
                        used += np.int32(values[k] != 0)
                    if used == 0:  # no sample of the block sent anything on this row
                        continue
                    active = True
                    if kind == 0 and used * scatter <= bk:  # a few samples: theirs alone
                        c = 0
                        for k in range(bk):
                            picked[c] = k
                            c += values[k] != 0
                        for i in range(m):
                            weight = w[base + j * m + i]
                            for c in range(used):
                                k = picked[c]
                                a[i, k] += weight * values[k]
                    elif kind == 0 and binary:
                        for i in range(m):
                            weight = w[base + j * m + i]
                            if weight != 0:
                                for k in range(bk):
                                    a[i, k] += weight & -values[k]
                    elif kind == 0:
                        for i in range(m):
                            weight = w[base + j * m + i]
                            if weight != 0:
                                for k in range(bk):
                                    a[i, k] += weight * values[k]
                    elif sparse is not None:
                        ptr, ind = row[8], row[9]
                        for c in range(sparse[ptr + j], sparse[ptr + j + 1]):
                            weight = w[base + c]
                            i = sparse[ind + c]
                            for k in range(bk):
                                a[i, k] += weight * values[k]
                if not active:
                    continue
                target = nxt if delay == 0 else ring[(t + delay) % ring_len]
                for i in range(m):
                    if e >= 0:
                        for k in range(bk):
                            y = _wrap32(np.int64(a[i, k]) << e)
                            target[t0 + i, k] = np.int32(target[t0 + i, k] + y)
                    else:
                        for k in range(bk):
                            y = _wrap32(np.int64(a[i, k]) >> -e)
                            target[t0 + i, k] = np.int32(target[t0 + i, k] + y)
            if ring_len > 1:
                slot = ring[t % ring_len]
                for j in range(n):
                    for k in range(bk):
                        nxt[j, k] = np.int32(nxt[j, k] + slot[j, k])
                        slot[j, k] = 0
            reg, nxt = nxt, reg
        for k in range(bk):
            for j in range(n):
                u[b0 + k, j] = ub[j, k]
                v[b0 + k, j] = vb[j, k]
                s_prev[b0 + k, j] = sb[j, k]
            if adaptive is not None:
                for j in range(n):
                    adaptive[0][b0 + k, j] = thb[j, k]
                    adaptive[1][b0 + k, j] = rb[j, k]


@functools.cache
def _compiled():
    """_block_steps compiled by numba on first use (cached on disk by numba)."""
    global _wrap32, _decay, _lif_lanes, _atrlif_lanes, _wide_vectors
    import numba

    from snncompile.sim import numba_cache

    numba_cache.install()  # one cache key for all kernel files
    _wrap32, _decay, _wide_vectors = int_lanes.compiled()

    _lif_lanes = numba.njit(cache=True, nogil=True, inline="always")(_lif_lanes)
    _atrlif_lanes = numba.njit(cache=True, nogil=True, inline="always")(_atrlif_lanes)
    return numba.njit(cache=True, nogil=True)(_block_steps)


def block_steps(*args) -> None:
    """_block_steps compiled (graph_kernel._graph_steps' arguments, then sparse and the block)."""
    _compiled()(*args)
