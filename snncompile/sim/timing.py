"""Pipeline timing of hw graphs: each synapse adds one step, so a layer's nn time is hw time
minus its depth.

A neuron's synaptic depth k is the latency of a shortest path from the input: one step per synapse,
plus the pipeline delay the lowering gave a synapse on a skip path (`graph.meta["pipeline_delay"]`,
its DelayDense's padding), so every path into a layer has the same latency. A netx `concat` skip
is not delayed (frontends/netx_concat.py): its entry there is its lead, counted so that the layer
keeps the nn time of its longest path. Input step t is emitted
at hw step t and reaches a neuron at depth k at hw step t + k, so the neuron's nn step t is hw step
t + k (spec §0.1). Nodes listed in `graph.meta["bias_clock"]` (the free-running bias
neurons and their synapses, see snncompile.passes.assemble) carry no data and are skipped; they
get depth 0 and the synapses leaving them take their target's depth.
"""

from __future__ import annotations

import heapq

from snncompile.errors import GraphCheckError
from snncompile.ir.graph import Graph


def clock_nodes(graph: Graph) -> frozenset[str]:
    return frozenset(graph.meta.get("bias_clock", ()))


def synaptic_depths(graph: Graph) -> dict[str, int]:
    """Depth of every node: 0 for inputs, 1 + its pipeline delay for each synapse passed
    (shortest paths, Dijkstra)."""
    clock = clock_nodes(graph)
    pad = graph.meta.get("pipeline_delay", {})
    depth: dict[str, int] = {name: 0 for name in graph.inputs}
    queue = [(0, name) for name in graph.inputs]
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    while queue:
        d0, node = heapq.heappop(queue)
        if d0 > depth[node]:
            continue
        for nxt in succ[node]:
            if nxt in clock:
                continue
            step = 1 + int(pad.get(nxt, 0)) if graph.nodes[nxt].kind == "synapse" else 0
            d = d0 + step
            if nxt not in depth or d < depth[nxt]:
                depth[nxt] = d
                heapq.heappush(queue, (d, nxt))
    for name in graph.nodes:
        if name in depth:
            continue
        if name in clock:
            depth[name] = 0
            continue
        targets = [depth.get(b) for b in succ[name]]
        if graph.nodes[name].kind == "synapse" and targets and all(t is not None for t in targets):
            depth[name] = min(t for t in targets if t is not None)
            continue
        raise GraphCheckError(f"timing: node {name!r} is not reachable from the input")
    return depth


def latency(graph: Graph) -> int:
    """L: the largest depth of a data-carrying neuron; a run of T nn steps takes T + L hw steps."""
    depth = synaptic_depths(graph)
    clock = clock_nodes(graph)
    return max((depth[n] for n in graph.of_kind("neuron") if n not in clock), default=0)


def event_rows(graph: Graph, events: list) -> list[dict]:
    """Strict-mode events as rows {layer, kind, hw_step, nn_step, neurons}: nn_step is the float
    model's step the event belongs to (hw step minus the layer's depth; a synapse's wrap lands in
    its target one step later)."""
    depth = synaptic_depths(graph)
    rows = []
    for e in events:
        node, delay = (e.layer, 0) if e.layer in depth else (graph.successors(e.layer)[0], 1)
        rows.append({"layer": e.layer, "kind": e.kind, "hw_step": e.step,
                     "nn_step": e.step + delay - depth[node], "neurons": e.count})
    return rows
