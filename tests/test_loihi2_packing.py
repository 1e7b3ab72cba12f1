"""Loihi 2 packing of axon-bound conv stacks: the default partition reaches the known 28-core split
of the 100k stack, bordered grids cut the 1M stack's inner layers into 40 tiles instead of 42,
and every core's neurons, input axons and output axons, recounted here with torch's
conv_transpose2d (which source neurons a core's neurons read), stay within Loihi 2's limits and
equal what the partitioner reports.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.compile_scale import generated
from snncompile.ir import hw_ops as hw
from snncompile.partition import partition
from snncompile.partition.layers import layers_of
from snncompile.partition.resources import core_model
from snncompile.partition.search import Splitter, mixed_start
from snncompile.partition.split import (
    border_bonus,
    bordered,
    even,
    grid_order,
    split_layer,
    tile_cost,
)


def _recount(graph, placement) -> np.ndarray:
    """(cores, 3) neurons, input axons, output axons per core, from the graph's weights alone:
    a source neuron is in core k's table when a neuron on k has a non-zero synapse from it
    (conv: conv_transpose2d of k's neuron mask by the kernel's non-zero pattern; Dense: non-zero
    columns of k's rows), counted once per (source neuron, core) however many ops read it."""
    layers = {x.name for x in placement.layers}
    shapes = graph.shapes
    cores = len(placement.cores)
    owner = {name: np.full(int(np.prod(shapes[name])), -1) for name in layers}
    masks = []
    for k in range(cores):
        held = placement.core_neurons(k)
        for name, idx in held.items():
            assert (owner[name][idx] == -1).all(), f"neuron of {name} on two cores"
            owner[name][idx] = k
        masks.append(held)
    for name, own in owner.items():
        assert (own >= 0).all(), f"neuron of {name} on no core"
    feeds = []  # (synapse op, source node, destination layer)
    for name, op in graph.nodes.items():
        if isinstance(op, (hw.Conv, hw.Dense)):
            (src,) = [a for a, b in graph.edges if b == name]
            (dst,) = [b for a, b in graph.edges if a == name]
            feeds.append((op, src, dst))
    out = np.zeros((cores, 3), np.int64)
    for k in range(cores):
        reads: dict[str, np.ndarray] = {}
        for op, src, dst in feeds:
            if dst not in masks[k]:
                continue
            here = np.zeros(int(np.prod(shapes[dst])), bool)
            here[masks[k][dst]] = True
            if isinstance(op, hw.Conv):
                nz = torch.from_numpy((np.asarray(op.weight) != 0).astype(np.float32))
                m = torch.from_numpy(here.reshape(shapes[dst]).astype(np.float32))[None]
                got = F.conv_transpose2d(m, nz, padding=op.padding)[0] > 0
                got = got.numpy().ravel()
            else:
                got = (np.asarray(op.weights)[here] != 0).any(0)
            reads[src] = reads.get(src, np.zeros_like(got)) | got
        out[k, 0] = sum(len(v) for v in masks[k].values())
        out[k, 1] = sum(int(v.sum()) for v in reads.values())
        for src, v in reads.items():
            if src in owner:  # one out-axon per (source neuron, destination core)
                out[:, 2] += np.bincount(owner[src][v], minlength=cores)
    return out


def test_100k_stack_takes_28_loihi2_cores_by_default_within_every_limit():
    graph = generated(100_000)
    p = partition(graph, "loihi2")
    assert p.metrics["cores"] <= 28  # 29 before the mixed start (docs/partition.md)
    model = core_model("loihi2")
    got = _recount(graph, p)
    assert got[:, 0].max() <= model.cap("neurons")
    assert got[:, 1].max() <= model.cap("fan_in")
    assert got[:, 2].max() <= model.cap("fan_out")
    use = p.core_use()
    assert (got[:, 0] == use[:, 0]).all()
    assert (got[:, 1] == use[:, 2]).all() and (got[:, 2] == use[:, 3]).all()
    assert use[:, 1].max() <= model.cap("synapse_bits")


def test_mixed_start_puts_the_axon_bound_layers_in_whole_core_grids_and_lif0_in_pieces():
    graph = generated(100_000)
    model = core_model("loihi2")
    layers = layers_of(graph, model)
    got = mixed_start(Splitter(layers, model), layers, model, (1.0, 3 / 4, 1 / 2),
                      ("strip", "grid"))
    assert got["lif0"] == (1 / 16, "strip")  # 4 input channels: neuron-bound, fills the gaps
    assert all(got[f"lif{i}"] == (1.0, "grid") for i in range(1, 8))


def test_bordered_cuts():
    for n in range(1, 60):
        for k in range(1, n + 1):
            for e in range(3):
                parts = bordered(n, k, e)
                assert sum(parts) == n and len(parts) == k and min(parts) >= 1
                if parts != even(n, k):  # outer parts e larger than near-equal inner ones
                    base = [parts[0] - e, *parts[1:-1], parts[-1] - e]
                    assert max(base) - min(base) <= 1
    order = grid_order(17, 23, 4, 5, 1, 2)
    assert sorted(order.perm.tolist()) == list(range(17 * 23))
    assert [t[2] for t in order.tiles[::5]] == bordered(17, 4, 1)
    assert [t[4] for t in order.tiles[:5]] == bordered(23, 5, 2)


def test_bordered_grid_cuts_the_1m_stack_into_40_tiles_that_fit():
    """102 x 102 maps, 12 channels, 3 x 3, padding 1: a near-equal grid needs 42 tiles of at
    most 4,096 input axons; outer bands and columns one row larger (their fields are clipped)
    need 40, and every tile reads at most 4,096 axons, recounted from its rectangle."""
    graph = generated(1_000_000)
    model = core_model("loihi2")
    layers = {x.name: x for x in layers_of(graph, model)}
    x = layers["lif3"]
    assert border_bonus(x) == (1, 1)
    blocks = split_layer(x, model, model.cap("neurons"), 1.0, "grid")
    assert len(blocks) == 40
    for _, r0, rows, c0, cols in x.order.tiles:  # 12 channels x the clipped input rectangle
        axons = 12 * (min(r0 + rows, 101) - max(r0 - 1, 0) + 1) * (
            min(c0 + cols, 101) - max(c0 - 1, 0) + 1)
        assert axons <= model.cap("fan_in")
        assert tile_cost(x, 0, 12, r0, r0 + rows - 1, c0, c0 + cols - 1).fan_in == axons
    assert max(b.fan_in for b in blocks) <= model.cap("fan_in")


def test_1m_stack_takes_at_most_301_loihi2_cores_within_every_limit():
    """305 cores before bordered grids and the mixed start (docs/partition.md)."""
    graph = generated(1_000_000)
    p = partition(graph, "loihi2")
    assert p.metrics["cores"] <= 301
    model = core_model("loihi2")
    got = _recount(graph, p)
    use = p.core_use()
    assert got[:, 1].max() <= model.cap("fan_in") and got[:, 2].max() <= model.cap("fan_out")
    assert (got[:, 0] == use[:, 0]).all()
    assert (got[:, 1] == use[:, 2]).all() and (got[:, 2] == use[:, 3]).all()
