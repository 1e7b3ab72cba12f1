"""The emulator's inner loops, compiled: the LIF time loop and the step loop of a whole
recurrent graph (numba, `graph_steps`, used by compiled_steps.py), and int8 synapse products.

`lif_run` is the one implementation of Lava's fixed-point LIF update (spec §1.1/§1.2, the rule
emulator._LIF documents) that both emulator paths call: the stepwise path one step at a time, the
layer-major path (fast.py) over a whole spike train. Every value is an int64 scalar inside the
loop, so Lava's int32 wraps are reproduced exactly and no array temporaries are made. Neuron
parameters are per-neuron arrays (`per_neuron` broadcasts a scalar), so heterogeneous
populations run through the same kernel.

`IntWeights` holds Lava's 8-bit effective weights as int8 (shifted down by their common trailing
zeros, offset into [-128, 127]) so that binary spikes x weights is one int8 x int8 -> int32
product (`torch._int_mm`): exact, since every partial sum of at most 2^23 binary rows times
|w| <= 255 stays below 2^31. The a_out channel's shifts and int32 wrap are done in int32 with
numpy's wrapping shifts, which equal the int64 arithmetic followed by a wrap mod 2^32.
"""

from __future__ import annotations

import functools

import numpy as np

U_MAX = 2**23
V_MAX = 2**23 - 1
MAX_ROWS_INT32 = 2**23  # fan-in bound for exact int32 sums of binary rows times |w| <= 255


def per_neuron(value, n: int) -> np.ndarray:
    """A scalar or per-neuron parameter as a contiguous int64 array of n values."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, np.int64).reshape(-1)
                                                if np.ndim(value) else np.int64(value), (n,)))


def _wrap32(x):
    return ((x + 2147483648) & 4294967295) - 2147483648


def _decay(x, factor):
    """tz(x * factor): x * factor / 4096 rounded toward zero (factor 0..4096, |x| < 2^31). Both
    are int32 values, which the casts tell the compiler: a 32 x 32 -> 64-bit multiply, several
    times cheaper in vector lanes than a 64 x 64-bit one."""
    y = np.int64(np.int32(x)) * np.int64(np.int32(factor))
    return (y + ((y >> 63) & 4095)) >> 12


def _lif_row(a, u, v, s_prev, du, dv, vth, bias, reset, spikes):
    """One step of one sample's population, branch-free so the loop vectorizes: a (n,) input,
    u, v (n,) state and s_prev (n,) the last step's spikes, updated in place; spikes (n,) int8
    out; reset 0 zero, 1 subtract, 2 subtract_next (the previous step's spike subtracted inside
    the v update, v kept on a spike). Returns (u wraps, v saturations)."""
    n_wrap = 0
    n_sat = 0
    later = reset == 2
    for j in range(u.shape[0]):
        x = _wrap32(_wrap32(np.int64(a[j])) << 6)
        u1 = _wrap32(_decay(u[j], du[j]) + x)
        high = u1 > U_MAX  # Lava's single correction into (-2^23, 2^23]
        low = u1 <= -U_MAX
        uu = u1 - 2 * U_MAX * high + 2 * U_MAX * low
        n_wrap += high + low
        v1 = _wrap32(_decay(v[j], dv[j]) + uu + bias[j] - vth[j] * (s_prev[j] * later))
        vv = min(max(v1, -V_MAX), V_MAX)
        n_sat += vv != v1
        s = vv > vth[j]
        spikes[j] = s
        s_prev[j] = s
        if reset == 1:
            vv = vv - vth[j] * s
        elif reset == 0:
            vv = vv * (1 - s)
        u[j] = uu
        v[j] = vv
    return n_wrap, n_sat


def _lif_run(a, lag, u, v, s_prev, du, dv, vth, bias, reset, interval, phase, t0,
             spikes, u_rec, v_rec, counts):
    """Run LIF populations over time, sample by sample.

    a: (batch, steps_a, n) integer input; step t (0-based) reads a[:, t - lag] (zero before).
    u, v: (batch, n) int64 state, s_prev (batch, n) int8 the last step's spikes, updated in
    place. du, dv (decay factors 4096 - ..), vth (<< 6), bias (effective): (n,) int64. reset: 0
    zero, 1 subtract, 2 subtract_next (RESETS). interval, phase: the LIFReset schedule (interval
    0: none), tested on the hw step t0 + t. spikes: (batch, steps, n) int8 out. u_rec, v_rec:
    (batch, steps, n) int32 out, or empty to skip. counts: (steps, 2) int64 += the u wraps and v
    saturations of each step (strict mode's events).
    """
    batch, steps, n = spikes.shape
    record = u_rec.shape[0] > 0
    zero = np.zeros(n, a.dtype)
    for b in range(batch):
        ub = u[b]
        vb = v[b]
        sb = s_prev[b]
        for t in range(steps):
            if interval > 0 and (t0 + t) % interval == phase:
                ub[:] = 0
                vb[:] = 0
                sb[:] = 0
            ta = t - lag
            n_wrap, n_sat = _lif_row(a[b, ta] if ta >= 0 else zero, ub, vb, sb, du, dv, vth,
                                     bias, reset, spikes[b, t])
            counts[t, 0] += n_wrap
            counts[t, 1] += n_sat
            if record:
                u_rec[b, t] = ub
                v_rec[b, t] = vb


def _graph_steps(x, steps, u, v, s_prev, du, dv, vth, bias, pop_off, reset, interval, phase,
           syn_src, syn_tgt, syn_n_in, syn_n_out, syn_w, syn_e, w, acc_proto,
           spikes, u_rec, v_rec, counts):
    """compiled_steps' loop (kept here, beside the _lif_row it calls, so numba's on-disk cache
    is renewed when either changes): every sample b over `steps` hw steps.

    x (batch, steps_in, n_in) int32 source values; u, v (batch, N) int64 and s_prev (batch, N)
    int8 the populations' state (concatenated, population p at pop_off[p]:pop_off[p + 1]),
    updated in place; du, dv, vth, bias (N,) int64; reset, interval, phase (P,) as lif_run takes
    them. Sources: the input at 0..n_in, population p at n_in + pop_off[p]. Synapse k adds the
    rows of w[syn_w[k]:] (n_in x n_out, row-major) of its source syn_src[k]'s non-zero values,
    shifted by syn_e[k], into the register of neurons syn_tgt[k] onward. spikes (batch, steps,
    N) int8 out; u_rec, v_rec the same int32 or empty; counts (steps, P, 2) += u wraps and v
    saturations."""
    batch, steps_in, n_in = x.shape
    n = u.shape[1]
    n_pop = len(reset)
    record = u_rec.shape[0] > 0
    acc = np.zeros(syn_n_out.max() if len(syn_n_out) else 0, acc_proto.dtype)
    for b in range(batch):
        src = np.zeros(n_in + n, np.int32)
        reg = np.zeros(n, np.int64)
        nxt = np.zeros(n, np.int64)
        ub = u[b]
        vb = v[b]
        sb = s_prev[b]
        for t in range(steps):
            for p in range(n_pop):
                lo = pop_off[p]
                hi = pop_off[p + 1]
                if interval[p] > 0 and (t + 1) % interval[p] == phase[p]:
                    ub[lo:hi] = 0
                    vb[lo:hi] = 0
                    sb[lo:hi] = 0
                n_wrap, n_sat = _lif_row(
                    reg[lo:hi], ub[lo:hi], vb[lo:hi], sb[lo:hi], du[lo:hi], dv[lo:hi],
                    vth[lo:hi], bias[lo:hi], reset[p], spikes[b, t, lo:hi])
                counts[t, p, 0] += n_wrap
                counts[t, p, 1] += n_sat
            for j in range(n):
                src[n_in + j] = spikes[b, t, j]
            if record:
                for j in range(n):
                    u_rec[b, t, j] = ub[j]
                    v_rec[b, t, j] = vb[j]
            if t < steps_in:
                for j in range(n_in):
                    src[j] = x[b, t, j]
            else:
                src[:n_in] = 0
            nxt[:] = 0
            for k in range(len(syn_src)):
                m = syn_n_out[k]
                a = acc[:m]
                a[:] = 0
                base = syn_w[k]
                s0 = syn_src[k]
                for j in range(syn_n_in[k]):
                    value = src[s0 + j]
                    if value == 0:
                        continue
                    row = w[base + j * m:base + (j + 1) * m]
                    if value == 1:
                        for i in range(m):
                            a[i] += row[i]
                    else:
                        for i in range(m):
                            a[i] += value * row[i]
                e = syn_e[k]
                t0 = syn_tgt[k]
                for i in range(m):
                    y = np.int64(a[i])
                    y = y << e if e > 0 else y >> -e
                    nxt[t0 + i] += _wrap32(y)
            reg, nxt = nxt, reg


@functools.cache
def _compiled():
    """The kernels compiled by numba, on first use (importing numba costs a second or two, which
    a compile that never runs the emulator should not pay); cached on disk by numba."""
    global _wrap32, _decay, _lif_row
    import numba

    _wrap32 = numba.njit(cache=True, nogil=True, inline="always")(_wrap32)
    _decay = numba.njit(cache=True, nogil=True, inline="always")(_decay)
    _lif_row = numba.njit(cache=True, nogil=True, inline="always")(_lif_row)
    return (numba.njit(cache=True, nogil=True)(_lif_run),
            numba.njit(cache=True, nogil=True)(_graph_steps))


def lif_run(*args) -> None:
    """_lif_run compiled (its docstring has the arguments)."""
    _compiled()[0](*args)


def graph_steps(*args) -> None:
    """_graph_steps compiled (its docstring has the arguments)."""
    _compiled()[1](*args)


NO_RECORD = np.zeros((0, 0, 0), np.int32)
RESETS = {"zero": 0, "subtract": 1, "subtract_next": 2}  # hw.LIF.reset -> the kernel's code


def _int8_transposed(w: np.ndarray, shift: int, offset: int):
    """((w >> shift) - offset).T as an int8 torch tensor (n_in, n_out) with row-major strides
    (torch._int_mm reads a size-1 dimension's stride too: a (1, n) view with stride 1 gave wrong
    sums), a block of rows of w at a time (no int64 temporary of the whole matrix); the values
    fit int8 (checked by the caller), so the cast is exact."""
    import torch

    q = torch.empty((w.shape[1], w.shape[0]), dtype=torch.int8)
    out = q.numpy()
    rows = max(1, (1 << 18) // max(1, w.shape[1]))
    for a in range(0, len(w), rows):
        part = w[a:a + rows] >> shift
        part -= offset
        out[:, a:a + rows] = part.T
    return q


class IntWeights:
    """Effective weights w (n_out, n_in) as int8 q with w = (q + offset) << shift, and the
    a_out shift e of the synapse; `product` gives wrap32(((spikes @ w.T) << e or >> -e))."""

    def __init__(self, w: np.ndarray, weight_exp: int):
        w = np.asarray(w, np.int64)
        self.n_out, self.n_in = w.shape
        self.e = int(weight_exp)
        self.peak = int(np.abs(w).max(initial=0))
        self.q = None
        if self.n_in >= MAX_ROWS_INT32:
            return
        lo, hi = int(w.min(initial=0)), int(w.max(initial=0))
        low_bits = int(np.bitwise_or.reduce(w, axis=None)) if w.size else 0  # common trailing 0s
        for shift in range(9):
            if low_bits & ((1 << shift) - 1):
                break
            low, high = lo >> shift, hi >> shift
            if high - low <= 255:
                offset = 0 if high <= 127 and low >= -128 else low + 128
                self.shift, self.offset = shift, offset
                self.q = _int8_transposed(w, shift, offset)
                return

    @property
    def exact(self) -> bool:
        return self.q is not None

    def product(self, rows: np.ndarray) -> np.ndarray:
        """rows (m, n_in) int8 of 0/1 -> (m, n_out) int32, the wrapped a_out register."""
        import torch

        rows = np.ascontiguousarray(rows, np.int8)
        if len(rows) == 0 or self.n_in == 0 or self.n_out == 0:
            return np.zeros((len(rows), self.n_out), np.int32)
        acc = torch._int_mm(torch.from_numpy(rows), self.q).numpy()
        if self.offset:
            acc += np.int32(self.offset) * rows.sum(axis=1, dtype=np.int32)[:, None]
        left = self.shift + self.e
        if left > 0:
            np.left_shift(acc, left, out=acc)
        elif left < 0:
            np.right_shift(acc, -left, out=acc)
        return acc
