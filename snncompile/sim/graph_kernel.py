"""The step loop of a whole recurrent graph (`graph_steps`, used by compiled_steps.py) with the
ATRLIF row it inlines; the LIF row is kernels.py's, the Conv scatter conv_scatter.py's. Its numba
cache is keyed on all kernel files together (numba_cache.py).
"""

from __future__ import annotations

import functools

import numpy as np

from snncompile.sim import conv_scatter, int_lanes, kernels
from snncompile.sim.conv_scatter import _conv_scatter
from snncompile.sim.int_lanes import decay as _decay
from snncompile.sim.int_lanes import wide_vectors as _wide_vectors
from snncompile.sim.int_lanes import wrap32 as _wrap32
from snncompile.sim.kernels import U_MAX, V_MAX, _int32_params, _lif_row


def _atrlif_row(a, i, v, theta, r, di, dv, dth, dr, th0, th_step, bias, spikes):
    """One step of one sample's ATRLIF population (hw.ATRLIF's docstring is the rule; th0 and
    th_step already << 6): a (n,) input; i, v, theta, r (n,) state updated in place; spikes (n,)
    int8 out. Returns (i wraps, v saturations), strict mode's "u_wrap" and "v_saturation"."""
    n_wrap = 0
    n_sat = 0
    for j in range(i.shape[0]):
        x = _wrap32(_wrap32(np.int64(a[j])) << 6)
        i1 = _wrap32(_decay(i[j], di[j]) + x)
        high = i1 > U_MAX
        low = i1 <= -U_MAX
        ii = i1 - 2 * U_MAX * high + 2 * U_MAX * low
        n_wrap += high + low
        v1 = _wrap32(_decay(v[j], dv[j]) + ii + bias[j])
        vv = min(max(v1, -V_MAX), V_MAX)
        n_sat += vv != v1
        th = _wrap32(_decay(_wrap32(theta[j] - th0[j]), dth[j]) + th0[j])
        rr = _wrap32(_decay(r[j], dr[j]))
        s = _wrap32(vv - rr) >= th
        spikes[j] = s
        if s:
            rr = _wrap32(rr + 2 * th)
            th = _wrap32(th + th_step[j])
        i[j] = ii
        v[j] = vv
        theta[j] = th
        r[j] = rr
    return n_wrap, n_sat


def _graph_steps(x, steps, u, v, s_prev, par, pops, syns, w, acc_proto, spikes, recs, counts,
                 adaptive, sparse, conv):
    """compiled_steps' loop: every sample b over `steps` hw steps.

    x (batch, steps_in, n_in) int8 source values; u, v (batch, N) int64 and s_prev (batch, N)
    int8 the populations' state (concatenated; u is an ATRLIF's i), updated in place; par (du
    or delta_i's factor, dv, vth, bias) (N,) int64; pops (P, 6): lo, hi, kind (0 LIF, 1
    ATRLIF), reset, interval, phase. Sources: the input at 0..n_in, neuron j at n_in + j.
    syns (S, 10): kind (0 Dense: rows (n_in x n_out) at w[w_off:]; 1 Sparse: CSR over its
    inputs, indptr at sparse[ptr:], indices at sparse[ind:], values at w[w_off:]; 2 Conv:
    conv[0][k] its geometry, its taps by input position at conv[2][ptr:], conv[2][ind:]
    (_conv_scatter)), source, target neuron, n_in, n_out, w_off, weight_exp, delay, ptr, ind.
    A synapse whose source did not spike this step is skipped. Dense and Sparse sums are
    shifted and wrapped to int32, Conv's wrapped to 24 bits (counted in conv[1] (steps, S)); a
    delay-d synapse's sum enters the register d steps later (a ring of registers). spikes
    (batch, steps, N) int8 out; recs (u, v) (batch, steps, N) int32 or empty; counts (steps, P,
    3) += u wraps, v saturations and (LIF only) spikes. adaptive: None, or the ATRLIF state
    and constants (theta, r (batch, N) int64; theta and r decay factors, theta_0, theta_step
    (N,); theta and r records). adaptive, sparse and conv are None when no
    population or synapse needs them: numba then compiles their branches out, which keeps the
    LIF and Dense loops as fast as a loop without them."""
    _wide_vectors()
    batch, steps_in, n_in = x.shape
    n = u.shape[1]
    n_pop = pops.shape[0]
    du, dv, vth, bias = _int32_params(par[0], par[1], par[2], par[3])
    u_rec, v_rec = recs
    record = u_rec.shape[0] > 0
    ring_len = syns[:, 7].max() + 1 if syns.shape[0] else 1
    acc = np.zeros(syns[:, 4].max() if syns.shape[0] else 0, acc_proto.dtype)
    scratch = np.zeros(len(acc) if conv is not None else 0, acc_proto.dtype)
    # each synapse's source (the population, or n_pop: the input) and its spikes this step, so
    # a synapse from a source silent this step is skipped (it adds nothing)
    source = np.full(syns.shape[0], n_pop, np.int64)
    for k in range(syns.shape[0]):
        for p in range(n_pop):
            if syns[k, 1] == n_in + pops[p, 0]:
                source[k] = p
    fired = np.zeros(n_pop + 1, np.int64)
    for b in range(batch):
        src = np.zeros(n_in + n, np.int32)
        reg = np.zeros(n, np.int64)
        nxt = np.zeros(n, np.int64)
        ring = np.zeros((ring_len, n), np.int64)
        ub = u[b].astype(np.int32)  # int32 copies, so _lif_row runs in int32 lanes
        vb = v[b].astype(np.int32)
        sb = s_prev[b]
        for t in range(steps):
            for p in range(n_pop):
                lo = pops[p, 0]
                hi = pops[p, 1]
                done = False
                if adaptive is not None:  # noqa: SIM102 (alone, so numba prunes it)
                    if pops[p, 2] == 1:
                        n_wrap, n_sat = _atrlif_row(
                            reg[lo:hi], ub[lo:hi], vb[lo:hi], adaptive[0][b, lo:hi],
                            adaptive[1][b, lo:hi], du[lo:hi], dv[lo:hi], adaptive[2][lo:hi],
                            adaptive[3][lo:hi], adaptive[4][lo:hi], adaptive[5][lo:hi],
                            bias[lo:hi], spikes[b, t, lo:hi])
                        counts[t, p, 0] += n_wrap
                        counts[t, p, 1] += n_sat
                        fired[p] = 1  # (not counted: assumed active)
                        done = True
                if not done:
                    if pops[p, 4] > 0 and (t + 1) % pops[p, 4] == pops[p, 5]:
                        ub[lo:hi] = 0
                        vb[lo:hi] = 0
                        sb[lo:hi] = 0
                    n_wrap, n_sat, n_spk = _lif_row(
                        reg[lo:hi], ub[lo:hi], vb[lo:hi], sb[lo:hi], du[lo:hi], dv[lo:hi],
                        vth[lo:hi], bias[lo:hi], pops[p, 3], spikes[b, t, lo:hi])
                    counts[t, p, 0] += n_wrap
                    counts[t, p, 1] += n_sat
                    counts[t, p, 2] += n_spk
                    fired[p] = n_spk
            for j in range(n):
                src[n_in + j] = spikes[b, t, j]
            if record:
                for j in range(n):
                    u_rec[b, t, j] = ub[j]
                    v_rec[b, t, j] = vb[j]
                if adaptive is not None:
                    for j in range(n):
                        adaptive[6][b, t, j] = adaptive[0][b, j]
                        adaptive[7][b, t, j] = adaptive[1][b, j]
            fired[n_pop] = 0
            if t < steps_in:
                for j in range(n_in):
                    src[j] = x[b, t, j]
                    fired[n_pop] += x[b, t, j] != 0
            else:
                src[:n_in] = 0
            nxt[:] = 0
            for k in range(syns.shape[0]):
                if fired[source[k]] == 0:
                    continue
                row = syns[k]
                kind, s0, t0, k_in, m = row[0], row[1], row[2], row[3], row[4]
                base, e, delay = row[5], row[6], row[7]
                a = acc[:m]
                a[:] = 0
                active = False  # a synapse whose sources were all silent adds nothing
                done = False
                if conv is not None:  # noqa: SIM102
                    if kind == 2:  # scattered channel-last, wrapped into a's order
                        last = conv[0][k, 16] == 1  # the target is channel-last too
                        buf = a if last else scratch[:m]
                        buf[:] = 0
                        active = _conv_scatter(src, s0, conv[0][k], w, base, conv[2], row[8],
                                               row[9], buf)
                        if active:
                            c_out = conv[0][k, 3]
                            plane = m // c_out
                            n_wrap = 0
                            if last:
                                for i in range(m):
                                    y = np.int64(a[i])
                                    n_wrap += (y < -U_MAX) | (y >= U_MAX)
                                    a[i] = ((y + U_MAX) & (2 * U_MAX - 1)) - U_MAX
                            else:
                                for pos in range(plane):
                                    for o in range(c_out):
                                        y = np.int64(buf[pos * c_out + o])
                                        n_wrap += (y < -U_MAX) | (y >= U_MAX)
                                        a[o * plane + pos] = (((y + U_MAX) & (2 * U_MAX - 1))
                                                              - U_MAX)
                            conv[1][t, k] += n_wrap
                        done = True
                if sparse is not None:  # noqa: SIM102
                    if kind == 1:
                        ptr, ind = row[8], row[9]
                        for j in range(k_in):
                            value = src[s0 + j]
                            if value != 0:
                                active = True
                                for q in range(sparse[ptr + j], sparse[ptr + j + 1]):
                                    a[sparse[ind + q]] += value * w[base + q]
                for j in range(0 if kind else k_in):
                    value = src[s0 + j]
                    if value == 0:
                        continue
                    active = True
                    w_row = w[base + j * m:base + (j + 1) * m]
                    if value == 1:
                        for i in range(m):
                            a[i] += w_row[i]
                    else:
                        for i in range(m):
                            a[i] += value * w_row[i]
                if not active:
                    continue
                if not done:  # the shift and int32 wrap, in place (the result fits a)
                    if e >= 0:
                        for i in range(m):
                            a[i] = _wrap32(np.int64(a[i]) << e)
                    else:
                        for i in range(m):
                            a[i] = _wrap32(np.int64(a[i]) >> -e)
                if delay == 0:
                    for i in range(m):
                        nxt[t0 + i] += a[i]
                else:
                    later = (t + delay) % ring_len
                    for i in range(m):
                        ring[later, t0 + i] += a[i]
            if ring_len > 1:
                slot = ring[t % ring_len]
                for j in range(n):
                    nxt[j] += slot[j]
                    slot[j] = 0
            reg, nxt = nxt, reg
        u[b] = ub
        v[b] = vb


@functools.cache
def _compiled():
    """_graph_steps compiled by numba on first use (cached on disk by numba)."""
    global _wrap32, _decay, _wide_vectors, _int32_params, _lif_row, _atrlif_row, _conv_scatter
    import numba

    from snncompile.sim import numba_cache

    numba_cache.install()  # one cache key for all kernel files
    _wrap32, _decay, _wide_vectors = int_lanes.compiled()
    kernels._compiled()  # kernels' rows jitted (compiled only where called)
    _int32_params, _lif_row = kernels._int32_params, kernels._lif_row
    _atrlif_row = numba.njit(cache=True, nogil=True, inline="always")(_atrlif_row)
    _conv_scatter = conv_scatter.compiled()
    return numba.njit(cache=True, nogil=True)(_graph_steps)


def graph_steps(*args) -> None:
    """_graph_steps compiled (its docstring has the arguments)."""
    _compiled()(*args)
