"""Size of a hw graph as people count it: neurons and synaptic connections per neuron layer."""

from __future__ import annotations

import numpy as np

from snncompile.ir import hw_ops
from snncompile.ir.graph import Graph


def _conv_connections(op: hw_ops.Conv, in_shape: tuple[int, ...]) -> int:
    """Non-zero kernel taps that land on real (not padding) inputs, over all output positions."""
    import torch

    taps = torch.as_tensor((op.weight != 0).astype(np.float64))
    ones = torch.ones((1, *in_shape), dtype=torch.float64)
    hits = torch.nn.functional.conv2d(ones, taps, stride=op.stride, padding=op.padding,
                                      dilation=op.dilation, groups=op.groups)
    return int(hits.sum().item())


def connections(graph: Graph) -> dict[str, int]:
    """Synaptic connections into each neuron layer (non-zero weights), bias-clock wiring
    excluded."""
    clock = set(graph.meta.get("bias_clock", ()))
    counts: dict[str, int] = {}
    for name in graph.of_kind("neuron"):
        if name in clock:
            continue
        total = 0
        for syn in graph.predecessors(name):
            op = graph.nodes[syn]
            if syn in clock:
                continue
            if isinstance(op, (hw_ops.Dense, hw_ops.Sparse)):  # a Sparse's stored weights
                total += int(np.count_nonzero(op.weights))
            elif isinstance(op, hw_ops.Conv):
                (src,) = graph.predecessors(syn)
                total += _conv_connections(op, graph.shapes[src])
        counts[name] = total
    return counts
