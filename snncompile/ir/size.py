"""How big a graph is, from its declared shapes alone (no array is built): synapses per node and
stored weights per node, so the budgets in snncompile.limits can refuse a network before the
passes, the partitioner or a simulator allocate per-synapse arrays for it."""

from __future__ import annotations

import math

import numpy as np

from snncompile.ir.graph import Graph
from snncompile.limits import require


def _weight(op: object) -> np.ndarray | None:
    for field in ("weight", "weights"):
        value = getattr(op, field, None)
        if isinstance(value, np.ndarray):
            return value
    return None


def synapses(graph: Graph) -> dict[str, int]:
    """Connections of every synapse node: a dense weight's entries (a sparse one's stored
    entries); a conv's outputs times its kernel (C_in / groups x kernel); a pooling window's
    outputs times its area."""
    shapes = graph.shapes
    counts: dict[str, int] = {}
    for name in graph.of_kind("synapse"):
        op = graph.nodes[name]
        w = _weight(op)
        out = math.prod(shapes[name])
        if hasattr(op, "indptr"):  # hw.Sparse: its stored entries, not its dense shape
            counts[name] = int(op.indptr[-1])
        elif w is not None and w.ndim == 2:
            counts[name] = int(w.size)
        elif w is not None:
            counts[name] = out * math.prod(int(d) for d in w.shape[1:])
        elif hasattr(op, "kernel_size"):
            counts[name] = out * math.prod(int(d) for d in op.kernel_size)
        else:
            counts[name] = out
    return counts


def check_size(graph: Graph, where: str) -> None:
    """Refuse a graph over the synapse budget (all nodes) or the weight budget (one node)."""
    counts = synapses(graph)
    for name in counts:
        w = _weight(graph.nodes[name])
        if w is not None:
            require("weights", w.size, f"{where}: node {name!r} (weight shape {w.shape})")
    require("synapses", sum(counts.values()),
            f"{where}: {len(counts)} synapse nodes hold in all")


def check_work(graph: Graph, batch: int, steps: int, where: str) -> None:
    """Refuse a run of `batch` samples x `steps` steps over the work budget (synaptic events),
    before any simulator allocates its state or starts."""
    events = batch * steps * sum(synapses(graph).values())
    require("work", events, f"{where}: {batch:,} samples x {steps:,} steps")
