"""The partitioner's Dense-layer fast paths equal the direct counts they replaced.

row_union.RowUnion counts a block's distinct source neurons from per-column first rows;
split._grow_rows grows a Dense-fed block by vectors over its end; route.block_fan_out sums
routes without building them. Each is checked against the direct computation (a fresh
`any` over the block's rows, split._grow's bisection, block_routes(...).fan_out) on random
weights with empty rows and columns, sparse and dense, under tiny random core limits.
"""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition import split
from snncompile.partition.layers import layers_of
from snncompile.partition.resources import CoreModel
from snncompile.partition.route import block_fan_out, block_routes
from snncompile.partition.row_union import RowUnion


def random_mask(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    nz = rng.random((rows, cols)) < rng.choice([0.02, 0.2, 0.9, 1.0])
    nz[rng.random(rows) < 0.2] = False  # empty rows
    nz[:, rng.random(cols) < 0.2] = False  # and columns
    return nz


@pytest.mark.parametrize("seed", range(3))
def test_row_union_counts_equal_direct_counts(seed):
    rng = np.random.default_rng(seed)
    for _ in range(30):
        nz = random_mask(rng, int(rng.integers(1, 60)), int(rng.integers(1, 80)))
        union = RowUnion(nz)
        for _ in range(40):  # one start, many ends in any order (a bisection), then a new start
            p0 = int(rng.integers(0, len(nz)))
            for p1 in rng.integers(p0, len(nz) + 1, 6):
                want = int(nz[p0:p1].any(0).sum())
                assert union.count(p0, int(p1)) == want
            ends = np.sort(rng.integers(p0, len(nz) + 1, 5))
            assert union.counts(p0, ends).tolist() == [int(nz[p0:e].any(0).sum()) for e in ends]


def dense_graph(rng: np.random.Generator, recurrent: bool) -> Graph:
    n_in, n1, n2 = (int(v) for v in rng.integers(5, 60, 3))
    z1, z2 = np.zeros(n1, np.int64), np.zeros(n2, np.int64)
    w1 = rng.integers(-40, 40, (n1, n_in)) * random_mask(rng, n1, n_in)
    w2 = rng.integers(-40, 40, (n2, n1)) * random_mask(rng, n2, n1)
    nodes = {"in": hw.SpikeInput(shape=(n_in,)), "d1": hw.Dense(weights=w1),
             "l1": hw.LIF((n1,), 4095, 0, 9, z1, z1), "d2": hw.Dense(weights=w2),
             "l2": hw.LIF((n2,), 4095, 0, 9, z2, z2), "out": hw.SpikeOutput(shape=(n2,))}
    edges = [("in", "d1"), ("d1", "l1"), ("l1", "d2"), ("d2", "l2"), ("l2", "out")]
    if recurrent:
        nodes["r"] = hw.Dense(weights=rng.integers(-9, 9, (n2, n2)) * random_mask(rng, n2, n2))
        edges += [("l2", "r"), ("r", "l2")]
    return Graph("hw", nodes, edges)


def tiny_model(rng: np.random.Generator) -> CoreModel:
    return CoreModel(target="tiny", neurons=int(rng.integers(2, 30)),
                     synapse_bits=int(rng.integers(500, 20000)),
                     fan_in=int(rng.integers(20, 120)), fan_out=int(rng.integers(20, 400)),
                     cores_per_chip=4, mesh_rows=2, mesh_cols=2, max_chips=64)


@pytest.mark.parametrize("seed", range(3))
def test_vector_growth_equals_bisection_with_direct_counts(seed, monkeypatch):
    """split_layer on Dense-fed layers: _grow_rows gives the blocks _grow's bisection gives
    when every fan-in is a fresh `any` over the block's rows (or both refuse the layer)."""
    rng = np.random.default_rng(seed)
    compared = refused = 0
    for _ in range(25):
        graph, model = dense_graph(rng, bool(rng.integers(0, 2))), tiny_model(rng)
        frac = float(rng.choice([1.0, 0.75, 0.5, 0.25, 1 / 16]))
        max_neurons = int(rng.choice([model.neurons, 3]))
        for layer in layers_of(graph, model):
            got = want = None
            try:
                got = split.split_layer(layer, model, max_neurons, frac)
            except split.DoesNotFit as exc:
                got = str(exc)
            with monkeypatch.context() as m:
                m.setattr(split, "_grow_rows", split._grow)
                m.setattr(RowUnion, "count", lambda self, p0, p1: int(
                    np.count_nonzero(self.nz[p0:p1].any(0))))
                try:
                    want = split.split_layer(layer, model, max_neurons, frac)
                except split.DoesNotFit as exc:
                    want = str(exc)
            assert got == want
            compared += isinstance(got, list) and len(got) > 1
            refused += isinstance(got, str)
    assert compared > 10 and refused  # layers split into several blocks, and some refused


@pytest.mark.parametrize("seed", range(3))
def test_fan_out_sums_equal_summed_routes(seed):
    rng = np.random.default_rng(seed)
    for _ in range(15):
        graph, model = dense_graph(rng, bool(rng.integers(0, 2))), tiny_model(rng)
        layers = layers_of(graph, model)
        try:
            blocks = [b for x in layers for b in split.split_layer(x, model, model.neurons, 0.5)]
        except split.DoesNotFit:
            continue
        n = len(blocks)
        assert block_fan_out(layers, blocks).tolist() == \
            block_routes(layers, blocks).fan_out(n).tolist()
        first = range(int(rng.integers(0, n + 1)))
        assert block_fan_out(layers, blocks, first).tolist() == \
            block_routes(layers, blocks, first).fan_out(n).tolist()


def test_one_position_splits_are_reused_only_where_they_hold():
    """Splitter reuses a Dense-fed layer's one-position blocks for smaller fractions: they equal
    a fresh split at every fraction, and layers that grow larger blocks are split afresh."""
    from snncompile.partition.search import Splitter

    rng = np.random.default_rng(3)
    reused = 0
    for _ in range(20):
        graph, model = dense_graph(rng, bool(rng.integers(0, 2))), tiny_model(rng)
        splitter = Splitter(layers_of(graph, model), model)
        for frac in (1.0, 0.75, 0.5, 1 / 3, 1 / 16):
            for x in splitter.layers:
                try:
                    got = splitter._layer_blocks(x, frac, "strip", model.neurons)
                except split.DoesNotFit:
                    continue
                fresh = {y.name: y for y in layers_of(graph, model)}[x.name]
                assert got == split.split_layer(fresh, model, model.neurons, frac)
                reused += any(v is splitter.cache[(x.name, frac, "strip", model.neurons)]
                              for k, v in splitter.cache.items() if k[1] > frac and k[0] == x.name)
    assert reused
