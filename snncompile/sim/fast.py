"""Layer-major emulation of feed-forward hw graphs: the integers of emulator.simulate, faster.

emulator.simulate steps time in the outer loop, so every synapse does one small product per step
and every LIF one kernel call per step. Without recurrent edges every population's whole spike
train is known before its consumers run, so this module walks the graph in schedule order
instead: each LIF's synapses handle all (sample x step) rows of a batch chunk in one product (an
int8 x int8 -> int32 product for Dense, kernels.IntWeights), and the compiled LIF kernel
(kernels.lif_run, the same one the stepwise path calls) reads that register with one step of
latency (step t reads the row of source step t - 1) while it loops over time.

Arrays are batch-major (batch, steps, n), the layout SimTrace returns, so spikes are written once,
as int8. Registers are int32 (the a_out channel's width) and exist for one block of (samples x
steps) at a time (BLOCK_BYTES, about a cache's size: the product writes it, the kernel reads it
while it is still in cache), so no temporary grows with the batch's spike train.

Used by emulator.simulate when `applicable` holds (no strict-mode events, no initial state, no
recurrence, plain LIF populations fed only through Dense / Conv / DelayDense / Sparse); else it
steps.
tests/test_fast_emulator.py compares both paths on random graphs; the fpga cosims compare this
path with the RTL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim import conv_product
from snncompile.sim.fixed import SimTrace
from snncompile.sim.kernels import NO_RECORD

BLOCK_BYTES = 2**20  # the largest per-block register or conv input, in bytes


def applicable(g: Graph, strict: bool, initial_state: Any) -> bool:
    if strict or initial_state or g.recurrent_edges:
        return False
    for n, op in g.nodes.items():
        if op.kind == "neuron":
            if type(op) is not hw.LIF:
                return False
            if any(type(g.nodes[p]) not in (hw.Dense, hw.Conv, hw.DelayDense, hw.Sparse)
                   for p in g.predecessors(n)):
                return False
    return True


def _rows(srcs: list[np.ndarray], lo: int, hi: int) -> np.ndarray:
    """Source steps lo..hi - 1 of the (OR of the) sources, as contiguous int8 rows."""
    parts = [src[:, lo:hi] for src in srcs]
    both = parts[0] if len(parts) == 1 else np.bitwise_or.reduce(parts)
    return np.ascontiguousarray(both).reshape(-1, both.shape[2])


def _product(synapse: Any, rows: np.ndarray) -> np.ndarray:
    """A row-wise synapse's wrapped register (m, n_out) int32 for spike rows (m, n_src) int8."""
    if type(synapse).__name__ == "_Conv":
        return conv_product.product(synapse, rows)
    return synapse.product(rows)


def _register(synapse: Any, srcs: list[np.ndarray], s0: int, s1: int) -> np.ndarray:
    """The synapse's a_out register (batch, s1 - s0, n_out) int32 after source steps s0..s1 - 1
    (0-based; steps before 0 send nothing) of its sources (batch, steps, n_src) int8: what its
    neurons read one step later. A DelayDense adds source step t - k for its delay-k weights."""
    batch = srcs[0].shape[0]
    n_out = synapse.register.shape[1]
    groups = synapse.groups if type(synapse).__name__ == "_DelayDense" else [(0, synapse)]
    if len(groups) == 1 and groups[0][0] == 0 and s0 >= 0:  # the common case: no padding
        return _product(synapse, _rows(srcs, s0, s1)).reshape(batch, s1 - s0, n_out)
    out = np.zeros((batch, s1 - s0, n_out), np.int32)
    for k, part in groups:
        lo, hi = max(s0 - k, 0), s1 - k
        if lo < hi:
            acc = _product(part, _rows(srcs, lo, hi)).reshape(batch, hi - lo, n_out)
            out[:, lo + k - s0:] += acc  # int32 wraps, as the ring's wrap32 does
    return out


def _blocks(batch: int, steps: int, widths: list[int]) -> tuple[int, int]:
    """(samples, steps) per block so that the widest per-block temporary stays near
    BLOCK_BYTES: small enough to stay in cache between the product and the LIF kernel."""
    rows = max(1, BLOCK_BYTES // (4 * max(widths, default=1)))
    span = min(steps, max(rows, 8))
    return max(1, min(batch, rows // span)), max(1, span)


def simulate_layers(g: Graph, x: np.ndarray, steps: int, record: bool, syn: dict, lif: dict):
    """emulator.simulate for an `applicable` graph: the same SimTrace, computed layer by layer.
    x: (batch, steps_in, *in_shape) bool, or int8 payloads of an AnalogInput; syn, lif: the
    emulator's prepared rule objects."""
    (in_name,) = g.inputs
    batch, steps_in = x.shape[:2]
    shapes = g.shapes
    train = np.zeros((batch, steps, int(np.prod(x.shape[2:]))), np.int8)
    n_in = min(steps_in, steps)
    train[:, :n_in] = x[:, :n_in].reshape(batch, n_in, train.shape[2])
    trains = {in_name: train}
    spikes, u, v = {}, {}, {}
    for name in g.schedule:
        if name not in lif:
            continue
        neuron, preds = lif[name], g.predecessors(name)
        n = int(np.prod(shapes[name]))
        s = np.empty((batch, steps, n), np.int8)
        u_rec = np.empty((batch, steps, n), np.int32) if record else NO_RECORD
        v_rec = np.empty((batch, steps, n), np.int32) if record else NO_RECORD
        counts = np.zeros((steps, 2), np.int64)
        widths = [n] + [trains[q].shape[2] for p in preds for q in g.predecessors(p)
                        if type(syn[p]).__name__ == "_Conv"]
        samples, span = _blocks(batch, steps, widths)
        for b0 in range(0, batch, samples):
            rows = slice(b0, min(b0 + samples, batch))
            for t0 in range(0, steps, span):
                t1 = min(t0 + span, steps)
                a = None
                for p in preds:
                    r = _register(syn[p], [trains[q][rows] for q in g.predecessors(p)],
                                  t0 - 1, t1 - 1)
                    if a is None:
                        a = r
                    else:
                        a += r  # int32 wraps, as the wrap32 the kernel applies first
                neuron.run(a, 0, t0 + 1, s[rows, t0:t1],
                           u_rec[rows, t0:t1] if record else NO_RECORD,
                           v_rec[rows, t0:t1] if record else NO_RECORD, counts[t0:t1], rows)
        trains[name] = s
        spikes[name] = s.reshape(batch, steps, *shapes[name])
        if record:
            u[name] = u_rec.reshape(batch, steps, *shapes[name])
            v[name] = v_rec.reshape(batch, steps, *shapes[name])
    for n in g.outputs:
        spikes[n] = spikes[g.predecessors(n)[0]]
    return SimTrace(steps, spikes, u, v, [], {})
