"""Per-synapse delays (hw DelayDense) on the fpga core: delay groups and a delay line per neuron.

The emulator's rule (hw_ops.DelayDense, synapses `_DelayDense`): a spike sent at step t through
synapse (i, j) reaches neuron i at step t + 1 + delays[i, j], and the weight_exp shift is
applied per (send step, delay) group, a_out[t] = sum_k shift(W_k @ s[t - 1 - k]).

The core keeps the Dense datapath and adds two things (core.v.j2, "delay" groups):

* each weight word carries the index m of its synapse's delay in `delay_set` (the distinct
  delays of the nonzero synapses into this core; a zero weight adds nothing to any group, so its
  delay is irrelevant), and the event pass adds the weight into accumulator m of the target, so
  at the end of step t accumulator m holds W_k @ s[t] for k = delay_set[m], summed exactly;
* the tick pass of step t + 1 shifts each accumulator (G_k = shift(acc_m, weight_exp), Dense's
  shift, so the floor is per group) and moves a delay line of D = max delay memories per neuron,
  line_k = what arrives k steps after this tick: a_in = line_1 + G_0, line_k <- line_{k+1} + G_k
  (k < D), line_D <- G_D, then the accumulators are cleared. This is the emulator's ring roll
  written as a shift, so a contribution of delay k is read at the tick of step t + 1 + k.

Every memory is read at the neuron address and written back one cycle later like u and v, so a
pass keeps its N + 1 cycles and the cycle model (sim/cycles.py, timing.toml) is unchanged. The
lines hold sums mod 2^32, the emulator's wrap of the int32 a_out channel, so they are 32 bits.
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops as hw

MAX_DELAY = 62  # Lava's DelayDense range (spec §2.3)


def delay_groups(name: str, op: hw.DelayDense, w: np.ndarray, neurons: np.ndarray,
                 wire: np.ndarray) -> tuple[tuple[int, ...], np.ndarray]:
    """(delay_set, ids): the distinct delays of the nonzero synapses of `w` (the block's rows
    `neurons`, columns in source wire order `wire`), and per synapse (n_src, N) the index of its
    delay in delay_set (0 for zero weights)."""
    delays = np.asarray(op.delays, dtype=np.int64)[neurons][:, wire]
    bad = delays[(delays < 0) | (delays > MAX_DELAY)]
    if bad.size:
        raise SnnCompileError(f"fpga back end: DelayDense {name!r} has delay {int(bad[0])}, "
                              f"outside the delay line's 0..{MAX_DELAY}")
    used = w != 0
    delay_set = tuple(int(k) for k in np.unique(delays[used]))
    if not delay_set:
        return (), None
    ids = np.searchsorted(np.asarray(delay_set), np.where(used, delays, delay_set[0]))
    return delay_set, np.ascontiguousarray(ids.T.astype(np.int64))
