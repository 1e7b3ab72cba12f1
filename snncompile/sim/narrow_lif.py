"""The LIF time loop for populations narrower than one vector, with the samples as the lanes.

kernels.lif_run loops sample by sample over a population's neurons, so a population narrower
than one 512-bit vector (16 int32 lanes), such as a 10-class output layer, runs its update in
scalar code once per sample-step. fast.py gives such a population's whole register to this loop
instead, laid out (step, neuron, sample): each neuron's update runs over the batch's samples as
one int32 vector. Dense CUBA 128-512-256-10 at batch 64 (benchmarks/vs_peers.py's net), the
10-neuron layer, CPU µs per sample-step: per-sample fused kernel (kernels.dense_lif_run) 0.11-0.13;
here the int8 product 0.048, this loop 0.011, its transposes 0.005.

The integers are kernels._lif_row's (compared with the Python step loop in
tests/test_narrow_lif.py): the row with the samples innermost, so a change of Lava's LIF rule
there must be made here too. No strict-mode events and no u / v records: fast.py
takes this loop only where it records neither.
"""

from __future__ import annotations

import functools

import numpy as np

from snncompile.sim import int_lanes
from snncompile.sim.int_lanes import decay as _decay
from snncompile.sim.int_lanes import wide_vectors as _wide_vectors

LANES = 16  # int32 lanes of a 512-bit vector: narrower populations run here
# fewer samples: the per-sample loop. The dense net's 10-neuron layer (product and LIF), CPU µs
# per sample-step, per-sample / here, two alternating pairs: batch 1 0.141-0.147 / 0.222, 4
# 0.123-0.128 / 0.110-0.115, 8 0.128-0.144 / 0.087-0.090, 16 0.124-0.125 / 0.066-0.070.
FROM_BATCH = 8
U_MAX = 2**23  # kernels.U_MAX
V_MAX = 2**23 - 1  # kernels.V_MAX


def chosen(n: int, batch: int, record: bool) -> bool:
    """Whether a LIF population of n neurons runs here: narrower than one vector, FROM_BATCH
    samples or more, nothing recorded."""
    return n < LANES and batch >= FROM_BATCH and not record


def _narrow_run(a, u, v, s_prev, du, dv, vth, bias, reset, interval, phase, t0, spikes, counts):
    """a (steps, n, batch) int32: the wrapped register that step t + 1 reads (lag 1: step 0
    reads nothing); u, v, s_prev (n, batch) int32 state, updated in place; du, dv, vth, bias
    (n,) int32 (kernels._int32_params); reset 0 zero, 1 subtract, 2 subtract_next; interval,
    phase: the LIFReset schedule on hw step t0 + t (interval 0: none); spikes (steps, n, batch)
    int8 out; counts (steps,) int64 += each step's spikes."""
    _wide_vectors()
    steps, n, batch = spikes.shape
    later = np.int32(reset == 2)
    subtract = -np.int32(reset == 1)  # all ones for "subtract"
    zero = -np.int32(reset == 0)  # all ones for "zero"
    for t in range(steps):
        if interval > 0 and (t0 + t) % interval == phase:
            u[:] = 0
            v[:] = 0
            s_prev[:] = 0
        n_spk = np.int32(0)
        for j in range(n):
            d_u = np.int32(du[j])
            d_v = np.int32(dv[j])
            th = np.int32(vth[j])
            b_j = np.int32(bias[j])
            for k in range(batch):
                x = np.int32(np.int32(a[t - 1, j, k]) << 6) if t > 0 else np.int32(0)
                u1 = np.int32(_decay(u[j, k], d_u) + x)
                high = np.int32(u1 > U_MAX)  # Lava's single correction into (-2^23, 2^23]
                low = np.int32(u1 <= -U_MAX)
                uu = np.int32(u1 - (high << 24) + (low << 24))
                pending = -np.int32(s_prev[j, k] * later)
                v1 = np.int32(np.int32(np.int32(_decay(v[j, k], d_v) + uu) + b_j)
                              - (th & pending))
                vv = min(max(v1, np.int32(-V_MAX)), np.int32(V_MAX))
                s = np.int32(vv > th)
                n_spk = np.int32(n_spk + s)
                spikes[t, j, k] = s
                s_prev[j, k] = s
                fired = -s  # all ones on a spike
                u[j, k] = uu
                v[j, k] = np.int32(vv - (th & fired & subtract)) & ~(fired & zero)
        counts[t] += n_spk


@functools.cache
def _compiled():
    """_narrow_run compiled by numba on first use (cached on disk by numba)."""
    global _decay, _wide_vectors
    import numba

    from snncompile.sim import numba_cache

    numba_cache.install()  # one cache key for all kernel files
    _, _decay, _wide_vectors = int_lanes.compiled()
    return numba.njit(cache=True, nogil=True)(_narrow_run)


def run(neuron, a: np.ndarray, t0: int, spikes: np.ndarray, counts: np.ndarray) -> None:
    """neurons._LIF `neuron` over its whole register a (batch, steps, n) int32 (step t reads
    a[:, t - 1]), from hw step t0: spikes (batch, steps, n) int8 out, counts (steps,) += the
    spikes of each step; the neuron's u, v and pending spikes are updated as kernels.lif_run
    updates them."""
    batch, steps, n = spikes.shape
    lanes = np.ascontiguousarray(a.transpose(1, 2, 0))  # (steps, n, batch)
    u = np.ascontiguousarray(neuron.u.T, np.int32)
    v = np.ascontiguousarray(neuron.v.T, np.int32)
    s_prev = np.ascontiguousarray(neuron.s_prev.T, np.int32)
    du, dv = neuron.Du.astype(np.int32), neuron.Dv.astype(np.int32)
    vth, bias = np.minimum(neuron.vth, 2**31 - 1).astype(np.int32), neuron.bias.astype(np.int32)
    out = np.empty((steps, n, batch), np.int8)
    _compiled()(lanes, u, v, s_prev, du, dv, vth, bias, neuron.reset, neuron.interval,
                neuron.phase, t0, out, counts)
    spikes[:] = out.transpose(2, 0, 1)
    neuron.u[:] = u.T
    neuron.v[:] = v.T
    neuron.s_prev[:] = s_prev.T
