"""The fpga's cores come from the partitioner: one time-multiplexed core per block.

`partition(graph, model)` cuts every LIF population into blocks under the target's [limits]
(neurons_per_core, axons_per_core; conv_row_tiles makes a conv-fed block a rectangle of whole
strip rows). Each block becomes one RTL core holding its neurons in ascending flat (C-order)
index, so a conv block of channels c0:c1 and rows r0:r1 x columns x0:x1 is addressed
(c - c0) * rows * cols + (y - r0) * cols + (x - x0), which the kernel walker steps through with
constants. A split population sends each spike as its "wire index": the block's offset (its
neurons counted in block order) plus the neuron's place in the block, so every reader addresses
one row per source neuron as before, whichever core sent it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from snncompile.ir.graph import Graph
from snncompile.partition import Placement, partition
from snncompile.partition.order import geometry
from snncompile.partition.resources import CoreModel, core_model
from snncompile.target import Target


@dataclasses.dataclass(frozen=True)
class Block:
    """One partitioner block = one fpga core: `neurons` are flat indices into the population,
    ascending; `offset` is the wire index of its first neuron."""

    layer: str
    index: int  # block number in the placement
    placement_core: int  # the partitioner's core that packs it (placement.json)
    channels: tuple[int, int]
    positions: tuple[int, int]  # [p0, p1) in the layer's strip order
    neurons: np.ndarray
    offset: int

    @property
    def n(self) -> int:
        return len(self.neurons)


def fpga_model(model: CoreModel | None = None, target: str | Path | Target = "fpga"
               ) -> CoreModel:
    """The target's CoreModel, or the given one (tests lower neurons_per_core with
    `core_model("fpga", neurons=8)`)."""
    return model if model is not None else core_model(target)


def partition_cores(graph: Graph, model: CoreModel | None = None,
                    target: str | Path | Target = "fpga") -> Placement:
    """Whole-core blocks, layer-order placement: deterministic, so the RTL is byte-stable."""
    return partition(graph, fpga_model(model, target), method="greedy", fractions=(1.0,))


def place(graph: Graph, model: CoreModel | None = None, target: str | Path | Target = "fpga",
          placement: Placement | None = None) -> tuple[Placement, list[Block]]:
    """Partition `graph` (partition_cores, unless `placement` is given) and list its blocks in
    layer order with their neurons and wire offsets."""
    p = placement if placement is not None else partition_cores(graph, model, target)
    layers = {x.name: x for x in p.layers}
    out, offset = [], {}
    for j, b in enumerate(p.blocks):
        perm = layers[b.layer].order.perm
        idx = np.sort((np.arange(b.c0, b.c1)[:, None] * len(perm)
                       + perm[b.p0:b.p1][None, :]).ravel()).astype(np.int64)
        off = offset.get(b.layer, 0)
        offset[b.layer] = off + len(idx)
        out.append(Block(b.layer, j, int(p.core_of[j]), (b.c0, b.c1), (b.p0, b.p1), idx, off))
    return p, out


def wire_order(blocks: list[Block], layer: str) -> np.ndarray:
    """Flat neuron index of every wire index of a population (its blocks' neurons in order)."""
    return np.concatenate([b.neurons for b in blocks if b.layer == layer])


def rectangle(block: Block, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """(r0, r1, x0, x1) if the block holds every position of rows r0:r1 x columns x0:x1 of its
    channels, else None (a tile the kernel walker cannot address with constant steps)."""
    _, h, w = geometry(tuple(shape))
    pos = np.unique(block.neurons % (h * w))
    y, x = np.divmod(pos, w)
    r0, r1, x0, x1 = int(y.min()), int(y.max()) + 1, int(x.min()), int(x.max()) + 1
    if len(pos) != (r1 - r0) * (x1 - x0):
        return None
    c0, c1 = block.channels
    if block.n != (c1 - c0) * len(pos):
        return None
    return r0, r1, x0, x1
