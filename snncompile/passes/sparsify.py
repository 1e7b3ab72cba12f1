"""Pass `sparsify`: a quantized Dense whose weights are mostly zero becomes a hw.Sparse (CSR).

Rule: a plain Dense (not a DelayDense, not the bias clock's) of at least MIN_ENTRIES matrix entries
whose non-zero weights are at most MAX_DENSITY of them, when the target's back
end holds Sparse. Why these numbers (measured, sim/sparse.py's docstring): the emulator's
event-driven sparse product beat the int8 dense product at density <= 1/32 (spike rate 0.02) on a
2048 x 2048 layer, and CSR's 8-bit weight + index per entry is below Loihi's dense 8 bits per entry
from density ~1/3 on, so 1/32 keeps both the run time and the memory no worse than dense. Layers
under MIN_ENTRIES (1M entries: at most a few MB in either form) stay Dense, so small pruned nets
keep every back end (fpga and the netx export hold no Sparse).

A Sparse that quantize made from a model's sparse weight (nn SparseLinear) meets the same rule
the other way: under MIN_ENTRIES entries, or on a back end without Sparse within the weight
budget, it becomes the Dense its twin model (the same weight dense) would have, so both compile
to the same hw graph; a large one stays Sparse and is never made dense.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.ir.op import Op
from snncompile.ir.sparse import dense_of, sparse_of
from snncompile.target import Target

MAX_DENSITY = 1 / 32
MIN_ENTRIES = 1 << 20


def smaller_as_sparse(op: Op) -> bool:
    """Whether a Dense op is stored sparse (the module's rule, back end aside)."""
    if type(op) is not hw.Dense:
        return False
    w = op.weights
    return bool(w.size >= MIN_ENTRIES and np.count_nonzero(w) <= MAX_DENSITY * w.size)


def _dense_fits(op: hw.Sparse, holds: bool) -> bool:
    """Whether a Sparse is stored dense: it is small, or the back end holds no Sparse and its
    dense matrix is within the weight budget (else the back end refuses it by name)."""
    from snncompile.limits import budget

    size = int(op.matrix_shape[0]) * int(op.matrix_shape[1])
    return size < MIN_ENTRIES or (not holds and size <= budget("weights"))


def _holds_sparse(target: Target) -> bool:
    from snncompile.backends import support

    try:
        return "Sparse" in support.supported(target.backend)
    except SnnCompileError:  # no support table: the emulator's rules, which hold Sparse
        return True


@dataclasses.dataclass(frozen=True)
class Sparsify:
    """Options of the pass (`enabled=False` keeps every Dense dense; a small Sparse still
    becomes Dense)."""

    enabled: bool = True
    name = "sparsify"

    def __call__(self, graph: Graph, target: Target) -> Graph:
        holds = _holds_sparse(target)
        clock = set(graph.meta.get("bias_clock", ()))
        nodes = {n: sparse_of(op) if n not in clock and type(op) is hw.Dense and holds
                 and self.enabled and smaller_as_sparse(op)
                 else dense_of(op) if isinstance(op, hw.Sparse) and _dense_fits(op, holds)
                 else op for n, op in graph.nodes.items()}
        if all(nodes[n] is op for n, op in graph.nodes.items()):
            return graph
        return Graph(graph.level, nodes, graph.edges, graph.dt, dict(graph.meta))
