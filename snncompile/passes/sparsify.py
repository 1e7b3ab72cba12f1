"""Pass `sparsify`: a quantized Dense whose weights are mostly zero becomes a hw.Sparse (CSR).

Rule: a plain Dense (not a DelayDense, not the bias clock's) of at least MIN_ENTRIES matrix entries
whose non-zero weights are at most MAX_DENSITY of them, when the target's back
end holds Sparse. Why these numbers (measured, sim/sparse.py's docstring): the emulator's
event-driven sparse product beat the int8 dense product at density <= 1/32 (spike rate 0.02) on a
2048 x 2048 layer, and CSR's 8-bit weight + index per entry is below Loihi's dense 8 bits per entry
from density ~1/3 on, so 1/32 keeps both the run time and the memory no worse than dense. Layers
under MIN_ENTRIES (1M entries: at most a few MB in either form) stay Dense, so small pruned nets
keep every back end (fpga and the netx export hold no Sparse).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.ir.op import Op
from snncompile.ir.sparse import sparse_of
from snncompile.target import Target

MAX_DENSITY = 1 / 32
MIN_ENTRIES = 1 << 20


def smaller_as_sparse(op: Op) -> bool:
    """Whether a Dense op is stored sparse (the module's rule, back end aside)."""
    if type(op) is not hw.Dense:
        return False
    w = op.weights
    return bool(w.size >= MIN_ENTRIES and np.count_nonzero(w) <= MAX_DENSITY * w.size)


def _holds_sparse(target: Target) -> bool:
    from snncompile.backends import support

    try:
        return "Sparse" in support.supported(target.backend)
    except SnnCompileError:  # no support table: the emulator's rules, which hold Sparse
        return True


@dataclasses.dataclass(frozen=True)
class Sparsify:
    """Options of the pass (`enabled=False` keeps every Dense dense)."""

    enabled: bool = True
    name = "sparsify"

    def __call__(self, graph: Graph, target: Target) -> Graph:
        if not self.enabled or not _holds_sparse(target):
            return graph
        clock = set(graph.meta.get("bias_clock", ()))
        nodes = {n: sparse_of(op) if n not in clock and isinstance(op, hw.Dense)
                 and smaller_as_sparse(op) else op for n, op in graph.nodes.items()}
        if all(nodes[n] is op for n, op in graph.nodes.items()):
            return graph
        return Graph(graph.level, nodes, graph.edges, graph.dt, dict(graph.meta))
