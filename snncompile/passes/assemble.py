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

from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.passes.common import fresh
from snncompile.passes.lower import Lowered


def assemble(lowered: Lowered, plans: dict[str, Any], target_name: str) -> Graph:
    """plans[layer] has .lif, .synapses [(Synapse, hw op)], .clock_codes (WeightCodes of the
    (n, 2) [from step 1, from step 2] bias columns: none, coarse, or coarse and fine)."""
    taken = {lowered.input} | set(lowered.layers) | {o[0] for o in lowered.outputs}
    taken |= {s.name for s in lowered.synapses}
    nodes: dict[str, Any] = {lowered.input: hw.SpikeInput(tuple(lowered.input_shape))}
    edges: list[tuple[str, str]] = []
    for name, plan in plans.items():
        for syn, op in plan.synapses:
            if syn.name in nodes:
                raise GraphCheckError(f"pass quantize: synapse name {syn.name!r} is taken twice")
            nodes[syn.name] = op
            edges += [(syn.source, syn.name), (syn.name, name)]
        nodes[name] = plan.lif
    meta: dict[str, Any] = dict(lowered.meta)
    meta["target"] = target_name
    padded = {syn.name: syn.pipeline_pad for plan in plans.values() for syn, _ in plan.synapses
              if syn.pipeline_pad}
    if padded:
        meta["pipeline_delay"] = padded
    clocked = {n: p for n, p in plans.items() if p.clock_codes}
    if clocked:
        meta["bias_clock"] = _bias_clock(lowered, clocked, nodes, edges, taken)
    for out, shape, src in lowered.outputs:
        nodes[out] = hw.SpikeOutput(tuple(shape))
        edges.append((src, out))
    flat = {n: list(layer.nn_shape) for n, layer in lowered.layers.items()
            if tuple(layer.hw_shape) != tuple(layer.nn_shape)}
    if flat:
        meta["nn_shapes"] = flat
    return Graph("hw", nodes, tuple(edges), lowered.dt, meta)


def _bias_clock(lowered: Lowered, clocked: dict[str, Any], nodes: dict[str, Any],
                edges: list[tuple[str, str]], taken: set[str]) -> list[str]:
    def columns(name: str) -> int:
        k = lowered.layers[name].depth
        return k + 1 if any(np.any(c.weights[:, 1]) for c in clocked[name].clock_codes) else k

    size = max(columns(n) for n in clocked)
    clock = fresh("bias_clock", taken)
    feed, chain = fresh(f"{clock}.in", taken), fresh(f"{clock}.chain", taken)
    n_in = int(np.prod(lowered.input_shape))
    bias = np.zeros(size, dtype=np.int64)
    bias[0] = 1
    nodes[feed] = hw.Dense(np.zeros((size, n_in), dtype=np.int64), sign_mode="excitatory")
    nodes[clock] = hw.LIF((size,), du=4095, dv=0, vth=0, bias_mant=bias,
                          bias_exp=np.zeros(size, dtype=np.int64))
    edges += [(lowered.input, feed), (feed, clock)]
    names = [clock, feed]
    if size > 1:
        nodes[chain] = hw.Dense(np.eye(size, k=-1, dtype=np.int64), sign_mode="excitatory")
        edges += [(clock, chain), (chain, clock)]
        names.append(chain)
    for name, plan in clocked.items():
        k = lowered.layers[name].depth
        for code, suffix in zip(plan.clock_codes, ("bias", "bias.fine")):
            w = np.zeros((code.weights.shape[0], size), dtype=np.int64)
            w[:, k - 1] = code.weights[:, 0]
            if k < size:
                w[:, k] = code.weights[:, 1]
            syn = fresh(f"{name}.{suffix}", taken)
            nodes[syn] = hw.Dense(w, weight_exp=code.weight_exp, sign_mode=code.sign_mode)
            edges += [(clock, syn), (syn, name)]
    return names
