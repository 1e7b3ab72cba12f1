"""Activity counters of a hw graph: spikes, synaptic operations and neuron updates per neuron and
hw step, measured by the bit-exact emulator on real inputs or derived from assumed firing rates.

Energy and latency are linear in these counts, so every cost model (energy.py, latency.py) reads
only this. Counts are means over the samples (one sample = one inference).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.errors import InputError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.progress import staged
from snncompile.sim.timing import clock_nodes, latency


@dataclasses.dataclass
class LayerActivity:
    """One LIF population; arrays are (steps, neurons), means over the samples."""

    name: str
    shape: tuple[int, ...]
    spikes: np.ndarray  # spikes sent
    synops: np.ndarray  # synaptic operations received (one per incoming spike x non-zero weight)
    active: np.ndarray  # fraction of updates that leave u or v non-zero (Loihi's "active" update)
    clock: bool = False  # bias-clock population (hardware work, not part of the model's math)

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))


@dataclasses.dataclass
class Activity:
    """Counters of one inference: `steps` hw steps, per layer; `source` is "measured" (emulator
    on `samples` inputs) or "assumed" (firing rates)."""

    steps: int
    samples: int
    source: str
    layers: dict[str, LayerActivity]
    input_name: str
    input_events: np.ndarray  # (steps, n_in) non-zero input entries per step (spikes or graded)
    input_synops: float  # synaptic ops driven by the input (part of the first layers' synops)
    notes: list[str] = dataclasses.field(default_factory=list)

    def totals(self) -> dict[str, float]:
        """Per inference: spikes, synops, neuron updates (active / inactive), input events."""
        upd = sum(la.neurons * self.steps for la in self.layers.values())
        act = sum(float(la.active.sum()) for la in self.layers.values())
        return {"spikes": sum(float(la.spikes.sum()) for la in self.layers.values()),
                "synops": sum(float(la.synops.sum()) for la in self.layers.values()),
                "neuron_updates": float(upd), "active_updates": act,
                "inactive_updates": float(upd - act),
                "input_events": float(self.input_events.sum())}


def _masks(graph: Graph) -> dict[str, tuple[str, object]]:
    """synapse node -> (source node, op) for every Dense / Sparse / Conv."""
    out = {}
    for name, op in graph.nodes.items():
        if isinstance(op, (hw.Dense, hw.Sparse, hw.Conv)):
            out[name] = (graph.predecessors(name)[0], op)
    return out


def fan(op, s: np.ndarray, in_shape: tuple[int, ...], dense: bool = False) -> np.ndarray:
    """Synaptic ops each target neuron receives: s (rows, *in_shape) spike counts or rates, times
    the non-zero weights that connect them (NeuroBench's effective ACs, per neuron); `dense`
    counts every weight, zero or not (NeuroBench's Dense)."""
    rows = s.shape[0]
    if isinstance(op, hw.Sparse):  # its stored entries, never a dense matrix
        from snncompile.sim.sparse import csr_of

        flat = s.reshape(rows, -1).astype(np.float64)
        if dense:
            return np.repeat(flat.sum(axis=1, keepdims=True), op.matrix_shape[0], axis=1)
        mask = csr_of(op, (np.asarray(op.weights) != 0).astype(np.float64))
        return np.asarray((mask @ flat.T).T)
    if isinstance(op, hw.Dense):
        w = np.asarray(op.weights)
        mask = np.ones(w.shape) if dense else (w != 0).astype(np.float64)
        return s.reshape(rows, -1).astype(np.float64) @ mask.T
    import torch

    w = np.asarray(op.weight)
    taps = torch.as_tensor(np.ones(w.shape) if dense else (w != 0).astype(np.float64))
    inp = torch.as_tensor(s.reshape(rows, *in_shape).astype(np.float64))
    out = torch.nn.functional.conv2d(inp, taps, stride=op.stride, padding=op.padding,
                                     dilation=op.dilation, groups=op.groups)
    return out.reshape(rows, -1).numpy()


def _collect(graph: Graph, steps: int, samples: int, source: str, spikes: dict, active: dict,
             x_events: np.ndarray, notes: list[str]) -> Activity:
    """Shared tail: synops per target neuron from the sources' (steps, *shape) spike means."""
    (in_name,) = graph.inputs
    shapes = graph.shapes
    clock = clock_nodes(graph)
    synops = {n: np.zeros((steps, int(np.prod(shapes[n])))) for n in spikes}
    input_synops = 0.0
    for syn, (src, op) in _masks(graph).items():
        (dst,) = graph.successors(syn)
        s = x_events if src == in_name else spikes[src]
        got = fan(op, s.reshape(steps, *shapes[src]), tuple(shapes[src]))
        synops[dst] += got
        if src == in_name:
            input_synops += float(got.sum())
    layers = {n: LayerActivity(n, tuple(shapes[n]), spikes[n].reshape(steps, -1), synops[n],
                               active[n].reshape(steps, -1), n in clock) for n in spikes}
    return Activity(steps, samples, source, layers, in_name, x_events.reshape(steps, -1),
                    input_synops, notes)


@staged("measure activity")
def measure(graph: Graph, x: np.ndarray, pipelined: bool = False) -> Activity:
    """Run the emulator on x (batch, T, *input_shape); one sample is one inference of T + L hw
    steps (the pipeline drains), or of T steps with `pipelined` (inputs stream back to back and
    every layer resets each T steps, as Intel's PilotNet benchmark runs: reset_interval = T)."""
    from snncompile.sim.emulator import simulate

    (in_name,) = graph.inputs
    in_shape = tuple(graph.shapes[in_name])
    x = np.asarray(x)
    if x.ndim != 2 + len(in_shape) or tuple(x.shape[2:]) != in_shape:
        raise InputError(f"estimate: input has shape {x.shape} but the model takes (batch, time, "
                         f"{', '.join(map(str, in_shape))})")
    batch, t_in = x.shape[:2]
    steps = t_in if pipelined else t_in + latency(graph)
    trace = simulate(graph, x, steps, record=True)
    neurons = graph.of_kind("neuron")
    spikes = {n: trace.spikes[n].reshape(batch, steps, -1).mean(axis=0) for n in neurons}
    active = {n: ((trace.u[n] != 0) | (trace.v[n] != 0)).reshape(batch, steps, -1).mean(axis=0)
              for n in neurons}
    ev = np.zeros((steps, int(np.prod(in_shape))))
    ev[:t_in] = (x != 0).reshape(batch, t_in, -1).mean(axis=0)
    how = ("pipelined: T hw steps per inference, every layer reset each T steps" if pipelined
           else "T + L hw steps per inference (the pipeline drains before the next input)")
    notes = [f"measured: bit-exact emulator on {batch} input sample(s) of {t_in} steps; {how}"]
    return _collect(graph, steps, batch, "measured", spikes, active, ev, notes)


def assume(graph: Graph, steps: int, rate: float = 0.1, input_rate: float = 0.2) -> Activity:
    """No input: every LIF neuron spikes `rate` and every input entry is non-zero `input_rate` of
    the hw steps, and every update counts as active (an upper bound on neuron energy)."""
    if not (0 <= rate <= 1 and 0 <= input_rate <= 1):
        raise InputError(f"estimate: firing rates must lie in [0, 1], got {rate} and {input_rate}")
    (in_name,) = graph.inputs
    shapes = graph.shapes
    neurons = graph.of_kind("neuron")
    spikes = {n: np.full((steps, int(np.prod(shapes[n]))), rate) for n in neurons}
    active = {n: np.ones_like(spikes[n]) for n in neurons}
    ev = np.full((steps, int(np.prod(shapes[in_name]))), input_rate)
    notes = [(f"assumed: no input given; every neuron fires {rate:g} and every input entry is "
             f"active {input_rate:g} of {steps} hw steps; all neuron updates count as active")]
    return _collect(graph, steps, 1, "assumed", spikes, active, ev, notes)
