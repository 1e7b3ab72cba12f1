"""The partitioner on hw.Sparse layers: counts from the CSR arrays equal the dense mask's, a
Sparse layer is placed exactly as its Dense twin, and the cost of placing one grows with its
synapses, not with blocks x source neurons.

Why: a 100k-neuron layer of fan-in 100 passed 2.6 GB in placement (every block and core held a
(source neurons,) mask or prefix table; every fan-in ask built a fresh mask). The growth tests
place nets small enough for a few seconds where that cost would already show: twice the
neurons, or a hundred times the source neurons.
"""

from __future__ import annotations

import json
import time
import tracemalloc

import numpy as np
import pytest
from test_shared_axons import brute_force_use
from test_sparse import _densified
from test_sparse_lava import random_sparse_graph

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition import DoesNotFit, partition
from snncompile.partition.id_sets import count_inside, sorted_distinct
from snncompile.partition.resources import CoreModel
from snncompile.partition.sparse_rows import CsrUnion, RowNonzeros
from snncompile.sim.lava_params import effective_weights


def random_csr(rng: np.random.Generator, rows: int, cols: int):
    """(RowNonzeros, the same pattern as a dense bool mask): empty rows, and stored entries
    that are zero after preprocessing (keep False)."""
    per = rng.integers(0, min(cols, 12) + 1, rows) * (rng.random(rows) > 0.2)
    indices = np.concatenate([np.sort(rng.choice(cols, k, replace=False)) for k in per] or [[]])
    keep = rng.random(len(indices)) < 0.85
    indptr = np.concatenate([[0], np.cumsum(per)])
    mask = np.zeros((rows, cols), bool)
    for r in range(rows):
        mask[r, indices[indptr[r]:indptr[r + 1]][keep[indptr[r]:indptr[r + 1]]]] = True
    return RowNonzeros(indptr, indices.astype(np.int32), keep, cols), mask


@pytest.mark.parametrize("seed", range(3))
def test_csr_counts_and_columns_equal_the_dense_mask(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        nz, mask = random_csr(rng, int(rng.integers(1, 60)), int(rng.integers(1, 90)))
        union = CsrUnion(nz)
        assert nz.sum(1).tolist() == mask.sum(1).tolist()
        assert np.array_equal(nz.any(0), mask.any(0))
        for _ in range(30):  # one start, ends in any order (a bisection), then a new start
            p0 = int(rng.integers(0, len(mask)))
            for p1 in rng.integers(p0, len(mask) + 1, 6):
                assert union.count(p0, int(p1)) == int(mask[p0:p1].any(0).sum())
                assert np.array_equal(nz.columns(p0, int(p1)), np.flatnonzero(mask[p0:p1].any(0)))
            ends = np.sort(rng.integers(p0, len(mask) + 1, 5))
            assert union.counts(p0, ends).tolist() == [int(mask[p0:e].any(0).sum()) for e in ends]


def test_ids_inside_boxes_equal_a_brute_count():
    rng = np.random.default_rng(7)
    for _ in range(50):
        c, hw_size = int(rng.integers(1, 5)), int(rng.integers(1, 40))
        ids = np.flatnonzero(rng.random(c * hw_size) < rng.random())
        c0 = rng.integers(0, c + 1, 8)
        c1 = np.minimum(c, c0 + rng.integers(0, 3, 8))
        p0 = rng.integers(0, hw_size + 1, 8)
        p1 = np.minimum(hw_size, p0 + rng.integers(0, hw_size + 1, 8))
        chan, pos = np.divmod(ids, hw_size)
        want = [int(((chan >= a) & (chan < b) & (pos >= s) & (pos < e)).sum())
                for a, b, s, e in zip(c0, c1, p0, p1)]
        assert count_inside(ids, hw_size, c0, c1, p0, p1).tolist() == want
        assert count_inside(ids, hw_size, int(c0[0]), int(c1[0]), p0, p1).tolist() == [
            int(((chan >= c0[0]) & (chan < c1[0]) & (pos >= s) & (pos < e)).sum())
            for s, e in zip(p0, p1)]
        assert sorted_distinct(np.concatenate([ids, ids[::2]])).tolist() == ids.tolist()


def _tiny(rng: np.random.Generator) -> CoreModel:
    return CoreModel(target="tiny", neurons=int(rng.integers(3, 12)),
                     synapse_bits=int(rng.integers(2000, 20000)), fan_in=int(rng.integers(30, 90)),
                     fan_out=int(rng.integers(60, 400)), cores_per_chip=4, mesh_rows=2,
                     mesh_cols=2, max_chips=256)


def assert_every_synapse_routed(p, graph: Graph) -> None:
    """Every non-zero weight (i, j) of the materialized matrices: source neuron j is in the axon
    table of the core holding neuron i, and every neuron sits on exactly one core."""
    home = {n: np.full(int(np.prod(graph.shapes[n])), -1) for n in graph.of_kind("neuron")}
    for core in range(len(p.cores)):
        for layer, idx in p.core_neurons(core).items():
            assert (home[layer][idx] == -1).all()
            home[layer][idx] = core
    assert all((h >= 0).all() for h in home.values())
    tables = [p.axon_table(c) for c in range(len(p.cores))]
    for syn in graph.of_kind("synapse"):
        (src,), (dst,) = graph.predecessors(syn), graph.successors(syn)
        for i, j in zip(*np.nonzero(effective_weights(graph.nodes[syn]))):
            assert j in set(tables[home[dst][i]].get(src, []).tolist()), (syn, i, j)


@pytest.mark.parametrize("seed", range(4))
def test_a_sparse_layer_is_placed_as_its_dense_twin(seed):
    """Same blocks, cores, tables, routes, traffic and slots (placement.json equal), with
    per-neuron rates and with share="search" too; the placement routes every synapse of the
    materialized weights and its exact axon counts equal a brute-force recount."""
    rng = np.random.default_rng(seed)
    g = random_sparse_graph(seed)
    dense = _densified(g)
    rates = {n: rng.random(g.shapes[n]) * (rng.random(g.shapes[n]) > 0.2)
             for n in ["in", *g.of_kind("neuron")]}
    placed = 0
    for options in ({}, {"rates": rates}, {"share": "search"}):
        model = _tiny(rng)
        try:
            want = partition(dense, model, **options)
        except DoesNotFit as exc:
            with pytest.raises(DoesNotFit, match="limit"):
                partition(g, model, **options)
            assert "limit" in str(exc)
            continue
        got = partition(g, model, **options)
        assert json.dumps(got.to_json()) == json.dumps(want.to_json())
        assert_every_synapse_routed(want, dense)
        assert np.array_equal(got.core_use()[:, 2:], brute_force_use(got))
        placed += len(got.cores) > 2
    assert placed  # some layer was cut over several cores


def sparse_net(n_out: int, n_in: int, fan_in: int, seed: int = 0) -> Graph:
    """input (n_in) -> Sparse (fan_in distinct random sources per neuron) -> LIF (n_out)."""
    rng = np.random.default_rng(seed)
    step = n_in // fan_in - 1  # distinct sources: a random start, then fan_in - 1 even steps
    cols = np.sort((rng.integers(0, n_in, (n_out, 1)) + np.arange(fan_in) * step) % n_in, 1)
    zeros = np.zeros(n_out, np.int64)
    nodes = {"in": hw.SpikeInput((n_in,)),
             "syn": hw.Sparse((n_out, n_in), np.arange(0, n_out * fan_in + 1, fan_in),
                              cols.reshape(-1), rng.integers(1, 90, n_out * fan_in)),
             "lif": hw.LIF((n_out,), 3000, 400, 200, zeros, zeros),
             "out": hw.SpikeOutput((n_out,))}
    return Graph("hw", nodes, (("in", "syn"), ("syn", "lif"), ("lif", "out")))


SMALL_CORES = CoreModel(target="small cores", neurons=1024, synapse_bits=1 << 22, fan_in=256,
                        fan_out=1 << 20, cores_per_chip=128, mesh_rows=8, mesh_cols=16,
                        max_chips=4096)


def _placed(graph: Graph) -> tuple[int, float, float]:
    """(cores, CPU seconds, tracemalloc peak MiB) of one placement."""
    tracemalloc.start()
    t = time.process_time()
    try:
        cores = partition(graph, SMALL_CORES).metrics["cores"]
        return cores, time.process_time() - t, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_placement_cost_follows_synapses_not_source_neurons():
    """300 neurons of fan-in 16 read from 5,000 or from 500,000 source neurons: the same 19
    cores (each reading 256 sources), and the wide source costs O(source neurons) once (its
    order and used-neuron masks: < 32 MiB more), not per block or core (before: 324 MiB and
    5x the time of the narrow one), and about the same time."""
    narrow, wide = _placed(sparse_net(300, 5_000, 16)), _placed(sparse_net(300, 500_000, 16))
    assert narrow[0] == wide[0] > 15
    assert wide[2] < narrow[2] + 32, (narrow, wide)
    assert wide[1] < 2 * narrow[1] + 0.5, (narrow, wide)


def test_placement_memory_grows_linearly_with_neurons():
    """The benchmark's net (n sources, n neurons of fan-in 8) at n and 2n on small cores: about
    twice the cores and twice the peak memory (before: 1.1 -> 4.3 MiB, blocks x sources)."""
    small, big = _placed(sparse_net(1_000, 1_000, 8)), _placed(sparse_net(2_000, 2_000, 8))
    assert big[0] >= 2 * small[0] > 20
    assert big[2] < 2.6 * small[2], (small, big)
    assert big[2] < 3, (small, big)  # MiB: 0.84 here, about 55 bytes per synapse
