"""Build the hw Graph from quantized layers, including the bias clock that times synaptic biases.

Bias clock: one LIF population of K neurons where neuron j (1-based) spikes at every hw step >= j.
Neuron 1 has bias 1 > vth 0 so it fires from step 1; neuron j > 1 fires one step after neuron j-1
through a sub-diagonal Dense of weight 1 (u = 64 > 0). A layer at depth k whose nn time starts at
hw step k + 1 gets a bias that enters its u exactly from nn step 1 through a Dense column reading
clock neuron k, and from nn step 2 (a bias behind a recurrent edge) reading neuron k + 1. The clock
is fed by an all-zero Dense from the input only so that every node is reachable; timing skips the
nodes listed in meta["bias_clock"].
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.ir.lowered_ops import GroupedConv, GroupedDense, GroupedSparse, SteppedLayer
from snncompile.passes.analog import analog_input
from snncompile.passes.common import fresh

GROUPED = (GroupedDense, GroupedSparse, GroupedConv)  # the ones quantize encodes (test_registries)


class Incoming(NamedTuple):
    """A grouped synapse of the discretized graph as one layer sees it: node name, source, op."""

    name: str
    source: str
    op: GroupedDense | GroupedSparse | GroupedConv

    @property
    def form(self) -> str:
        """"conv" or "dense" (the quantization report's synapse kind; a sparse one is a dense
        matrix stored sparse)."""
        return "conv" if isinstance(self.op, GroupedConv) else "dense"


def layers_of(graph: Graph, where: str) -> dict[str, SteppedLayer]:
    """The graph's spiking layers in node order; any other neuron op is a pass-order error."""
    layers = {}
    for name, op in graph.nodes.items():
        if op.kind == "neuron":
            if not isinstance(op, SteppedLayer):
                raise GraphCheckError(f"pass {where}: node {name!r} is a {type(op).__name__}; "
                                      "lower and discretize must run first")
            layers[name] = op
    return layers


def incoming(graph: Graph, layer: str) -> list[Incoming]:
    """The grouped synapses into `layer`, in node order."""
    out = []
    for name in graph.predecessors(layer):
        op = graph.nodes[name]
        if isinstance(op, GROUPED):
            (source,) = graph.predecessors(name)
            out.append(Incoming(name, source, op))
    return out


def assemble(graph: Graph, plans: dict[str, Any], target_name: str) -> Graph:
    """The hw graph of the discretized `graph`: plans[layer] has .lif, .synapses [(Incoming, hw
    op)], .clock_codes (WeightCodes of the (n, 2) [from step 1, from step 2] bias columns: none,
    coarse, or coarse and fine)."""
    (inp,) = graph.inputs
    taken = set(graph.nodes)
    analog, shape = analog_input(graph.meta), tuple(graph.shapes[inp])
    nodes: dict[str, Any] = {inp: hw.SpikeInput(shape) if analog is None
                             else dataclasses.replace(analog, shape=shape)}
    edges: list[tuple[str, str]] = []
    for name, plan in plans.items():
        for syn, op in plan.synapses:
            if syn.name in nodes:
                raise GraphCheckError(f"pass quantize: synapse name {syn.name!r} is taken twice")
            nodes[syn.name] = op
            edges += [(syn.source, syn.name), (syn.name, name)]
        nodes[name] = plan.lif
    meta: dict[str, Any] = dict(graph.meta)
    meta["target"] = target_name
    padded = {syn.name: syn.op.pipeline_pad for plan in plans.values() for syn, _ in plan.synapses
              if isinstance(syn.op, GroupedDense) and syn.op.pipeline_pad}
    if padded:
        meta["pipeline_delay"] = padded
    clocked = {n: p for n, p in plans.items() if p.clock_codes}
    if clocked:
        meta["bias_clock"] = _bias_clock(graph, clocked, nodes, edges, taken)
    for out in graph.outputs:
        (src,) = graph.predecessors(out)
        nodes[out] = hw.SpikeOutput(tuple(graph.nodes[out].shape))  # type: ignore[attr-defined]
        edges.append((src, out))
    layers = layers_of(graph, "quantize")
    flat = {n: list(graph.shapes[n]) for n, layer in layers.items()
            if tuple(layer.hw_shape) != tuple(graph.shapes[n])}
    if flat:
        meta["nn_shapes"] = flat
    return Graph("hw", nodes, tuple(edges), graph.dt, meta)


def _bias_clock(graph: Graph, clocked: dict[str, Any], nodes: dict[str, Any],
                edges: list[tuple[str, str]], taken: set[str]) -> list[str]:
    def columns(name: str) -> int:
        k = graph.nodes[name].depth  # type: ignore[attr-defined]
        return k + 1 if any(np.any(c.weights[:, 1]) for c in clocked[name].clock_codes) else k

    size = max(columns(n) for n in clocked)
    clock = fresh("bias_clock", taken)
    feed, chain = fresh(f"{clock}.in", taken), fresh(f"{clock}.chain", taken)
    (inp,) = graph.inputs
    n_in = int(np.prod(graph.shapes[inp]))
    bias = np.zeros(size, dtype=np.int64)
    bias[0] = 1
    nodes[feed] = hw.Dense(np.zeros((size, n_in), dtype=np.int64), sign_mode="excitatory")
    nodes[clock] = hw.LIF((size,), du=4095, dv=0, vth=0, bias_mant=bias,
                          bias_exp=np.zeros(size, dtype=np.int64))
    edges += [(inp, feed), (feed, clock)]
    names = [clock, feed]
    if size > 1:
        nodes[chain] = hw.Dense(np.eye(size, k=-1, dtype=np.int64), sign_mode="excitatory")
        edges += [(clock, chain), (chain, clock)]
        names.append(chain)
    for name, plan in clocked.items():
        k = graph.nodes[name].depth  # type: ignore[attr-defined]
        for code, suffix in zip(plan.clock_codes, ("bias", "bias.fine")):
            w = np.zeros((code.weights.shape[0], size), dtype=np.int64)
            w[:, k - 1] = code.weights[:, 0]
            if k < size:
                w[:, k] = code.weights[:, 1]
            syn = fresh(f"{name}.{suffix}", taken)
            nodes[syn] = hw.Dense(w, weight_exp=code.weight_exp, sign_mode=code.sign_mode)
            edges += [(clock, syn), (syn, name)]
    return names
