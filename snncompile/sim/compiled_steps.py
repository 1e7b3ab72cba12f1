"""The step-major emulation of emulator.simulate as one compiled loop: recurrent graphs at speed.

emulator.simulate steps time in the outer loop with a few Python calls per population and
synapse per step (about 2,000 calls for the braille RNN's 100 steps), which made recurrent
graphs slower than the float reference. Graphs of plain LIF populations fed only through Dense
synapses (one source each: the input or a population), which covers recurrence, bias clocks and
strict mode, instead run here as one numba loop per sample over every step, population and
synapse, in the order simulate uses: each step every population reads its synapses' registers
(filled the step before) through kernels._lif_row, then every synapse fills its register from
this step's spikes.

A synapse's product is a gather-sum: the weight rows (n_in, n_out) of the sources that spiked
(or sent a payload) are added, so its cost follows the number of spikes, not the matrix size.
The sums are exact integers (int32 where |w| * fan-in * payload < 2^31, else int64), shifted by
the weight exponent and wrapped to int32 per synapse as _Dense.product does; a population's
synapse registers are summed in int64 and wrapped by the LIF update, which equals the int32
wrapping sum. Strict mode's u wraps and v saturations are counted per step and population and
become the same Events, in the same order, as the stepwise loop's.

tests/test_compiled_steps.py compares this path with the Python stepwise loop (kept for every
other graph) on random recurrent graphs, strict events included.
"""

from __future__ import annotations

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim import kernels
from snncompile.sim.fixed import Event, SimTrace
from snncompile.sim.lava_params import effective_weights

INPUTS = (hw.SpikeInput, hw.AnalogInput)
INT32_SUMS = 2**31  # |w| * fan-in * payload below this: int32 weights and sums, else int64


def applicable(g: Graph) -> bool:
    """Plain LIF populations, each fed only by Dense synapses whose one source is a LIF or the
    (spike or analog) input."""
    if not isinstance(g.nodes[g.inputs[0]], INPUTS):
        return False
    for n, op in g.nodes.items():
        if op.kind == "neuron":
            if type(op) is not hw.LIF:
                return False
            if any(type(g.nodes[p]) is not hw.Dense for p in g.predecessors(n)):
                return False
        elif op.kind == "synapse":
            succ = g.successors(n)
            if type(op) is not hw.Dense or len(g.predecessors(n)) != 1 or len(succ) != 1:
                return False
            if type(g.nodes[succ[0]]) is not hw.LIF:
                return False
    return True


def simulate_steps(g: Graph, x: np.ndarray, steps: int, record: bool, strict: bool,
                   syn: dict, lif: dict) -> SimTrace:
    """emulator.simulate for an `applicable` graph. x: (batch, steps_in, *in_shape) bool, or
    int8 payloads of an AnalogInput; syn, lif: the emulator's prepared rule objects (the LIFs
    hold the initial state)."""
    (in_name,) = g.inputs
    batch, steps_in = x.shape[:2]
    shapes = g.shapes
    names = list(lif)
    sizes = [lif[p].u.shape[1] for p in names]
    pop_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    start = dict(zip(names, pop_off[:-1].tolist()))
    n_in = int(np.prod(shapes[in_name]))
    cat = (lambda key: np.ascontiguousarray(np.concatenate([getattr(lif[p], key) for p in names],
                                                           axis=-1)))
    u, v, s_prev = cat("u"), cat("v"), cat("s_prev")
    reset = np.array([lif[p].reset for p in names], np.int64)
    interval = np.array([lif[p].interval for p in names], np.int64)
    phase = np.array([lif[p].phase for p in names], np.int64)
    synapses = list(syn)
    weights, src, tgt, n_ins, n_outs, offs, exps, wide = [], [], [], [], [], [], [], False
    offset = 0
    for k in synapses:
        (p,) = g.predecessors(k)
        (q,) = g.successors(k)
        w = effective_weights(g.nodes[k])
        wide |= int(np.abs(w).max(initial=0)) * w.shape[1] * syn[k].payload_max >= INT32_SUMS
        weights.append(np.ascontiguousarray(w.T).reshape(-1))
        src.append(0 if p == in_name else n_in + start[p])
        tgt.append(start[q])
        n_ins.append(w.shape[1])
        n_outs.append(w.shape[0])
        offs.append(offset)
        exps.append(int(g.nodes[k].weight_exp))
        offset += w.size
    dtype = np.int64 if wide else np.int32
    flat = np.concatenate(weights).astype(dtype) if weights else np.zeros(0, dtype)
    n_all = int(pop_off[-1])
    spikes = np.empty((batch, steps, n_all), np.int8)
    u_rec = np.empty((batch, steps, n_all), np.int32) if record else kernels.NO_RECORD
    v_rec = np.empty((batch, steps, n_all), np.int32) if record else kernels.NO_RECORD
    counts = np.zeros((steps, len(names), 2), np.int64)
    values = (x != 0) if x.dtype == bool else x
    values = np.ascontiguousarray(values.reshape(batch, steps_in, n_in), np.int32)
    ints = (lambda a: np.asarray(a, np.int64))
    kernels.graph_steps(values, steps, u, v, s_prev, *(cat(k) for k in ("Du", "Dv", "vth", "bias")),
                pop_off, reset, interval, phase, ints(src), ints(tgt), ints(n_ins),
                ints(n_outs), ints(offs), ints(exps), flat, np.zeros(0, dtype), spikes, u_rec,
                v_rec, counts)
    out_spikes, out_u, out_v = {}, {}, {}
    for p, lo, hi in zip(names, pop_off[:-1], pop_off[1:]):
        shape = (batch, steps, *shapes[p])
        out_spikes[p] = np.ascontiguousarray(spikes[:, :, lo:hi]).reshape(shape)
        if record:
            out_u[p] = np.ascontiguousarray(u_rec[:, :, lo:hi]).reshape(shape)
            out_v[p] = np.ascontiguousarray(v_rec[:, :, lo:hi]).reshape(shape)
    for n in g.outputs:
        out_spikes[n] = out_spikes[g.predecessors(n)[0]]
    return SimTrace(steps, out_spikes, out_u, out_v, _events(names, counts) if strict else [])


def _events(names: list[str], counts: np.ndarray) -> list[Event]:
    """The stepwise loop's strict-mode events: per step, per population, u wraps then v
    saturations (hw steps from 1)."""
    events = []
    for t, p, kind in zip(*np.nonzero(counts)):
        events.append(Event(names[p], int(t) + 1, ("u_wrap", "v_saturation")[kind],
                            int(counts[t, p, kind])))
    return events
