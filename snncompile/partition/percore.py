"""Run a placed graph core by core: the proof that partitioning keeps the emulator's output.

Each core holds LIF pieces (its blocks' neurons, with their biases) and synapse pieces (the rows
of every incoming synapse op that end on its neurons; the rows' weights as the emulator
preprocesses them). A core sees a source's spikes only through its axon table (placement.
axon_table), so a missing route changes the output. Arithmetic is the emulator's own classes, so
equality with `simulate` on the whole graph shows that the split, the tables and the per-core
sums lose nothing. Small graphs only: it materializes every block's indices.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.ir.sparse import rows_of
from snncompile.partition.artefact import Placement
from snncompile.sim.emulator import SYNAPSE_RULES
from snncompile.sim.fixed import wrap
from snncompile.sim.lava_params import effective_weights
from snncompile.sim.neurons import _LIF
from snncompile.sim.synapses import _Conv


def _mode(op: hw.Dense | hw.Sparse) -> str:
    w = np.asarray(op.weights)
    if op.sign_mode != "auto":
        return op.sign_mode
    return ("excitatory" if w.min(initial=0) >= 0 else
            "inhibitory" if w.max(initial=0) <= 0 else "mixed")


def run_per_core(placement: Placement, graph: Graph, x: np.ndarray, steps: int) -> dict:
    """Spikes (batch, steps, *shape) int8 of every LIF, computed core by core."""
    (inp,) = graph.inputs
    graded = isinstance(graph.nodes[inp], hw.GradedInput)
    x = wrap(np.asarray(x, np.int64), 32) if graded else (np.asarray(x) != 0)
    batch, steps_in = x.shape[:2]
    shapes = graph.shapes
    layers = {layer.name: layer for layer in placement.layers}
    pieces = []  # (layer, idx, lif piece, [(kind, source names, synapse piece, mask per source)])
    for core in range(len(placement.cores)):
        table = placement.axon_table(core)
        masks = {}
        for src, flat in table.items():
            m = np.zeros(int(np.prod(shapes[src])), bool)
            m[flat] = True
            masks[src] = m
        for layer, idx in placement.core_neurons(core).items():
            op = graph.nodes[layer]
            bm = np.broadcast_to(np.asarray(op.bias_mant), op.shape).reshape(-1)[idx]
            be = np.broadcast_to(np.asarray(op.bias_exp), op.shape).reshape(-1)[idx]
            lif = _LIF(layer, dataclasses.replace(op, shape=(len(idx),), bias_mant=bm,
                                                  bias_exp=be), batch)
            ins = []
            for inc in layers[layer].incoming:
                src_masks = [masks.get(s, np.zeros(int(np.prod(shapes[s])), bool))
                             for s in inc.sources]
                sop = inc.op
                if sop is None:
                    ins.append(("direct", inc.sources, None, src_masks))
                elif isinstance(sop, hw.Conv):
                    ins.append(("conv", inc.sources, _Conv(inc.name, sop, shapes[inc.sources[0]],
                                                           shapes[layer], batch), src_masks))
                elif isinstance(sop, hw.Sparse):
                    ins.append(("dense", inc.sources, SYNAPSE_RULES[hw.Sparse](
                        inc.name, rows_of(dataclasses.replace(
                            sop, weights=effective_weights(sop), sign_mode=_mode(sop)), idx),
                        shapes[inc.sources[0]], (len(idx),), batch), src_masks))
                else:
                    rows = dataclasses.replace(sop, weights=effective_weights(sop)[idx],
                                               sign_mode=_mode(sop))
                    if isinstance(sop, hw.DelayDense):
                        rows = dataclasses.replace(rows, delays=np.asarray(sop.delays)[idx])
                    syn = SYNAPSE_RULES[type(sop)](inc.name, rows, shapes[inc.sources[0]],
                                                   (len(idx),), batch)
                    ins.append(("dense", inc.sources, syn, src_masks))
            pieces.append((layer, idx, lif, ins))
    order = {n: k for k, n in enumerate(graph.nodes)}
    pieces.sort(key=lambda p: order[p[0]])
    spikes = {n: np.zeros((batch, steps, *shapes[n]), np.int8) for n in layers}
    current = {n: np.zeros((batch, int(np.prod(shapes[n]))), bool) for n in layers}
    zero_in = np.zeros((batch, *x.shape[2:]), x.dtype)
    for t in range(1, steps + 1):
        current[inp] = (x[:, t - 1] if t <= steps_in else zero_in).reshape(batch, -1)
        for layer, idx, lif, ins in pieces:
            a = np.zeros((batch, len(idx)), np.int64)
            for kind, srcs, syn, src_masks in ins:
                if kind == "direct":
                    for s, m in zip(srcs, src_masks):
                        a += np.where(m[idx], current[s][:, idx], 0).astype(np.int64)
                elif kind == "conv":
                    a += syn.register[:, idx]
                else:
                    a += syn.register
            s = lif.step(t, a, None)
            current[layer][:, idx] = s
        for layer, idx, lif, ins in pieces:
            for kind, srcs, syn, src_masks in ins:
                if kind == "direct":
                    continue
                got = [current[s] & m for s, m in zip(srcs, src_masks)]
                s_in = got[0] if len(got) == 1 else np.logical_or.reduce(got)
                syn.receive(s_in.astype(np.float64), t, None)
        for n in layers:
            spikes[n][:, t - 1] = current[n].reshape(batch, *shapes[n])
    return spikes
