"""Integer interpreter of hw graphs, bit-exact with Lava 0.10.0 fixed_pt (spec §0-§3, checklist §7).

Each hw step t = 1, 2, ...: every neuron reads the sum of its synapses' registers (filled at t - 1,
so every synapse is one step of latency), updates and spikes; then every synapse reads the spikes of
step t of its source and fills its register for t + 1. All state is int64 numpy; only the wraps Lava
performs are reproduced: int32 channels and int32 LIF arithmetic, the single-correction u wrap, the
v clip and Conv's 24-bit wrap. Dense and Conv accumulate in float64 (BLAS / torch): binary spikes
times integer weights give integer partial sums of magnitude < 2^53, which float64 adds exactly in
any order, so the result equals Lava's integer sum (asserted per synapse in synapses.py). The rules
per op live in synapses.py and neurons.py (sigma-delta in sigma_delta.py, Sparse in sparse.py);
this module is the step loop and the nn-time view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError, InputError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.progress import staged
from snncompile.sim import sample_chunks
from snncompile.sim.fixed import Event, SimTrace
from snncompile.sim.inputs import check_analog_sums, check_input, graded_int32
from snncompile.sim.neurons import _ATRLIF, _LIF
from snncompile.sim.sigma_delta import NEURON_RULES as GRADED_RULES
from snncompile.sim.sigma_delta import is_graded
from snncompile.sim.sparse import SparseSynapse
from snncompile.sim.synapses import _Conv, _DelayDense, _Dense, _Synapse
from snncompile.sim.timing import clock_nodes, latency, synaptic_depths

SYNAPSE_RULES: dict[type, Callable[..., _Synapse]] = {
    hw.Dense: _Dense, hw.DelayDense: _DelayDense, hw.Sparse: SparseSynapse, hw.Conv: _Conv}
NEURON_RULES: dict[type, Callable[..., Any]] = {hw.LIF: _LIF, hw.ATRLIF: _ATRLIF, **GRADED_RULES}
IO_OPS = (hw.SpikeInput, hw.GradedInput, hw.AnalogInput, hw.SpikeOutput)
# the compiled paths simulate may take (tests switch one off to compare it with the Python loop)
PATHS = {"layers": True, "compiled_steps": True}


def simulate(
    hw_graph: Graph,
    spikes_hw: np.ndarray,
    steps: int,
    record: bool = False,
    strict: bool = False,
    initial_state: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> SimTrace:
    """Run `steps` hw steps; spikes_hw (batch, steps_in, *in_shape) is emitted at hw steps
    1..steps_in
    (any non-zero is a spike; a GradedInput sends the int32 values), zeros after. Returns spikes of
    every LIF and output; u, v if record."""
    g = hw_graph
    if len(g.inputs) != 1:
        raise GraphCheckError(f"emulator: the graph has inputs {g.inputs}; one input is supported")
    (in_name,) = g.inputs
    graded = isinstance(g.nodes[in_name], hw.GradedInput)
    analog = isinstance(g.nodes[in_name], hw.AnalogInput)  # int8 payloads into synapses
    if graded:
        x = graded_int32(spikes_hw)  # int32 holds every wrapped value: no int64 copy
    elif analog:
        x = np.asarray(spikes_hw).astype(np.int8, copy=False)  # check_input made the payloads
    else:
        x = np.asarray(spikes_hw)
        x = x if x.dtype == bool else x != 0
    batch, steps_in = x.shape[:2]
    shapes = g.shapes
    for name, op in g.nodes.items():
        if not any(type(op) in rules for rules in (SYNAPSE_RULES, NEURON_RULES, IO_OPS)):
            raise UnsupportedOp(op, "emulator", f"node {name!r}")
    preds = {n: g.predecessors(n) for n in g.nodes}
    syn = {n: SYNAPSE_RULES[type(op)](n, op, shapes[preds[n][0]], shapes[n], batch)
           for n, op in g.nodes.items() if op.kind == "synapse"}
    init = initial_state or {}
    lif = {n: NEURON_RULES[type(op)](n, op, batch, init.get(n))
           for n, op in g.nodes.items() if op.kind == "neuron"}
    for n, s in syn.items():
        s.graded = any(is_graded(g.nodes[p]) for p in preds[n])
        if s.graded and (len(preds[n]) > 1 or isinstance(s, _DelayDense)):
            raise UnsupportedOp(g.nodes[n], "emulator", f"graded spikes into synapse {n!r} "
                                "(one source through a Dense or Conv is modelled)")
        if len({shapes[p] for p in preds[n]}) != 1:
            raise GraphCheckError(f"emulator: synapse {n!r} sums sources of different shapes")
        if graded and in_name in preds[n]:
            raise UnsupportedOp(g.nodes[in_name], "emulator",
                                f"graded input {in_name!r} into synapse {n!r} (feed a LIF "
                                "directly)")
        if analog and in_name in preds[n]:
            check_analog_sums(n, g.nodes[n], g.nodes[in_name], shapes[in_name])
            s.payload_max = g.nodes[in_name].qmax  # fast.py: a conv's exact-float32 bound
    from snncompile.sim import compiled_steps, fast  # the same integers, compiled

    if fast.applicable(g, strict, initial_state) and PATHS["layers"]:
        return fast.simulate_layers(g, x, steps, record, syn, lif)
    if compiled_steps.applicable(g) and PATHS["compiled_steps"]:
        return compiled_steps.simulate_steps(g, x, steps, record, strict, syn, lif)
    events: list[Event] | None = [] if strict else None
    # sigma-delta neurons send int32 values (graded spikes), LIFs 0/1
    spikes = {n: np.zeros((batch, steps, *shapes[n]),
                          np.int32 if type(g.nodes[n]) in GRADED_RULES else np.int8) for n in lif}
    u = {n: np.zeros((batch, steps, *shapes[n]), np.int32) for n in lif} if record else {}
    v = {n: np.zeros((batch, steps, *shapes[n]), np.int32) for n in lif} if record else {}
    extra = {f"{k}:{n}": np.zeros((batch, steps, *shapes[n]), np.int32)
             for n, neuron in lif.items() for k in getattr(neuron, "EXTRA", ())} if record else {}
    current: dict[str, np.ndarray] = {}
    zero_in = np.zeros((batch, *x.shape[2:]), dtype=x.dtype)
    for t in range(1, steps + 1):
        current[in_name] = x[:, t - 1] if t <= steps_in else zero_in
        for n, neuron in lif.items():
            a = sum((syn[p].register if p in syn else current[p].reshape(batch, -1)
                     for p in preds[n]), np.zeros_like(neuron.u))
            s = neuron.step(t, a, events)
            current[n] = s
            spikes[n][:, t - 1] = s.reshape(batch, *shapes[n])
            if record:
                u[n][:, t - 1] = neuron.u.reshape(batch, *shapes[n])
                v[n][:, t - 1] = neuron.v.reshape(batch, *shapes[n])
                for k in getattr(neuron, "EXTRA", ()):
                    extra[f"{k}:{n}"][:, t - 1] = getattr(neuron, k).reshape(batch, *shapes[n])
        for n, synapse in syn.items():
            src = [current[p].reshape(batch, -1) for p in preds[n]]
            if synapse.graded:
                synapse.receive(src[0].astype(np.int64), t, events)
                continue
            s_in = src[0] if len(src) == 1 else sum(a.astype(np.int64) for a in src) != 0
            if s_in.dtype == np.int64:  # a sigma-delta population with binary messages
                s_in = s_in != 0
            synapse.receive(s_in.astype(np.int8), t, events)  # spikes, or analog int8 payloads
    for n in g.outputs:
        spikes[n] = spikes[preds[n][0]]
    return SimTrace(steps, spikes, u, v, events or [], extra)


@dataclasses.dataclass
class EmuResult:
    """Results in nn time: step t of a layer at depth k is hw step t + k (snncompile.sim.timing).

    outputs: output name -> (batch, T, *shape) int8 spikes; spikes / u / v: LIF name -> (batch, T,
    *nn shape) when record; spike_counts: LIF name -> spikes in the T steps (whole batch); events:
    strict-mode wraps and saturations (hw steps, see Event); latency: L, the hw steps added to T.
    """

    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]
    spike_counts: dict[str, int]
    events: list[Event]
    latency: int
    u: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    v: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@staged("emulator")
def run_emulator(hw_graph: Graph, x: np.ndarray, strict: bool = False,
                 record: bool = False) -> EmuResult:
    """Run binary input x (batch, T, *input_shape) for T + L hw steps; return nn-time results."""
    x = check_input(hw_graph, x)
    if x.dtype in (np.int8, np.uint8) and type(hw_graph.nodes[hw_graph.inputs[0]]) is hw.SpikeInput:
        x = x.view(bool)  # checked 0/1 bytes (not an analog or graded input's values): no copy
    return _run_checked(hw_graph, x, strict, record)


def _run_checked(hw_graph: Graph, x: np.ndarray, strict: bool, record: bool) -> EmuResult:
    """run_emulator after its input check (sample chunks are not checked again)."""
    depth = synaptic_depths(hw_graph)
    clock = clock_nodes(hw_graph)
    layers = [n for n in hw_graph.of_kind("neuron") if n not in clock]
    big_l = latency(hw_graph)
    steps = x.shape[1]
    for n in layers:
        op = hw_graph.nodes[n]
        interval = getattr(op, "reset_interval", 0)  # ATRLIF has no reset schedule
        periodic = hw_graph.meta.get("reset_interval")  # netx's reset_interval: every N steps
        if interval and not periodic and steps + big_l >= op.reset_offset + interval:
            raise InputError(f"a run of {steps} steps is too long for layer {n!r}, which resets "
                             f"every {op.reset_interval} steps")
    chunk = sample_chunks.samples_per_chunk(hw_graph, steps + big_l)
    if not record and not strict and len(x) > chunk:  # samples are independent: run in chunks
        return sample_chunks.merge([_run_checked(hw_graph, part, False, False)
                                    for part in np.split(x, range(chunk, len(x), chunk))])
    trace = simulate(hw_graph, x, steps + big_l, record=record, strict=strict)
    nn_shapes = {k: tuple(s) for k, s in hw_graph.meta.get("nn_shapes", {}).items()}

    def align(arr: np.ndarray, k: int, shape: tuple[int, ...]) -> np.ndarray:
        return arr[:, k : k + steps].reshape(len(x), steps, *shape)

    outputs = {}
    for n in hw_graph.outputs:
        src = hw_graph.predecessors(n)[0]
        outputs[n] = align(trace.spikes[src], depth[src], tuple(hw_graph.nodes[n].shape))
    counted = trace.step_spikes  # the kernel's per-step counts, where the path made them
    counts = {n: int(counted[n][depth[n]:depth[n] + steps].sum()) if n in counted else
              int(np.count_nonzero(trace.spikes[n][:, depth[n] : depth[n] + steps]))
              for n in layers}
    result = EmuResult(outputs, {}, counts, trace.events, big_l)
    if record:
        for n in layers:
            shape = nn_shapes.get(n, hw_graph.shapes[n])
            result.spikes[n] = align(trace.spikes[n], depth[n], shape)
            result.u[n] = align(trace.u[n], depth[n], shape)
            result.v[n] = align(trace.v[n], depth[n], shape)
    return result
