"""Axons counted per core as the chip does (partition/axons.py) and the cores that frees
(partition/share.py): exact counts equal a brute-force recount from materialized connectivity,
every limit holds, and the core-by-core run still equals the emulator after consolidation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_partition import check_placement, graphs, models

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition import DoesNotFit, Placement, partition
from snncompile.partition.axons import CoreAxons
from snncompile.partition.packing import pack
from snncompile.partition.percore import run_per_core
from snncompile.partition.place import greedy, mesh_for
from snncompile.partition.resources import CoreModel
from snncompile.partition.route import core_routes
from snncompile.partition.share import consolidate
from snncompile.sim.emulator import simulate


def brute_force_use(p) -> np.ndarray:
    """(cores, 2) fan-in and fan-out recounted from the materialized axon tables: fan-in = the
    table's size; fan-out of a core = over its neurons, the distinct cores whose table holds
    the neuron."""
    tables = [p.axon_table(c) for c in range(len(p.cores))]
    out = np.zeros((len(p.cores), 2), np.int64)
    for c, table in enumerate(tables):
        out[c, 0] = sum(len(v) for v in table.values())
    for c in range(len(p.cores)):
        for layer, idx in p.core_neurons(c).items():
            readers = [set(t.get(layer, np.zeros(0, np.int64)).tolist()) for t in tables]
            out[c, 1] += sum(sum(int(n) in r for r in readers) for n in idx)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), models(), st.sampled_from([(1.0, 1 / 2), (1 / 2, 1 / 4)]),
       st.sampled_from([True, "search"]), st.integers(0, 2**31))
def test_exact_counts_equal_brute_force_after_consolidation(graph, model, fractions, share, seed):
    """Random conv -> LIF -> dense -> LIF graphs (tiny limits, many blocks per layer), packed
    with shared axons (and re-split by share="search"): every core's fan-in and fan-out equal
    the recount, every limit holds on them, every neuron sits on one core, every synapse is
    routed, and the per-core run equals `simulate`."""
    try:
        p = partition(graph, model, method="greedy", fractions=fractions, share=share)
    except DoesNotFit:
        return
    check_placement(p, graph, model)
    use = p.core_use()
    assert np.array_equal(use[:, 2:], brute_force_use(p))
    assert (use <= [model.neurons, model.synapse_bits, model.fan_in, model.fan_out]).all()
    assert p.metrics["cores"] <= p.metrics["cores_packed"]
    sums = np.zeros((len(p.cores), 2), np.int64)  # per-block sums bound the exact counts
    for c, members in enumerate(p.cores):
        sums[c] = [sum(p.blocks[j].fan_in for j in members),
                   sum(p.blocks[j].fan_out for j in members)]
    assert (use[:, 2:] <= sums).all()
    x = (np.random.default_rng(seed).random((2, 6, *graph.shapes["in"])) < 0.4).astype(np.int8)
    ref = simulate(graph, x, 8).spikes
    got = run_per_core(p, graph, x, 8)
    for name in got:
        assert np.array_equal(got[name], ref[name]), name


def _row_chain(layers: int) -> Graph:
    """in (1 x 1 x 8) -> conv 1x3 (padding 1) -> a [-> conv 1x3 -> b]: every output position
    reads its input position and both neighbours."""
    nodes = {"in": hw.SpikeInput(shape=(1, 1, 8))}
    edges, prev = [], "in"
    z = np.zeros((1, 1, 8), np.int64)
    for name in "ab"[:layers]:
        nodes[f"w{name}"] = hw.Conv(weight=np.array([[[[3, 5, 2]]]]), padding=(0, 1))
        nodes[name] = hw.LIF((1, 1, 8), 4095, 0, 4, z + 1, z)
        edges += [(prev, f"w{name}"), (f"w{name}", name)]
        prev = name
    return Graph("hw", nodes, edges)


def test_two_adjacent_tiles_share_their_halo_on_one_core():
    """Half-core blocks a[0:4] (reads in0..in4) and a[4:8] (reads in3..in7), split under a
    fan-in limit of 10, then packed for a core with 8 input axons: summed they need 10, so sum
    packing keeps two cores; on one core they read in0..in7 once, 8 axons, and consolidation
    puts them together. The placement built from it runs like the emulator."""
    loose = CoreModel(target="tiny", neurons=8, synapse_bits=None, fan_in=10, fan_out=None,
                      cores_per_chip=4, mesh_rows=2, mesh_cols=2, max_chips=1)
    tight = dataclasses.replace(loose, fan_in=8)
    g = _row_chain(1)
    p = partition(g, loose, fractions=(0.5,), share=False)
    assert [(b.p0, b.p1, b.fan_in) for b in p.blocks] == [(0, 4, 5), (4, 8, 5)]
    assert pack(p.blocks, tight) == [[0], [1]]
    cores, axons = consolidate(p.layers, p.blocks, p.routes, [[0], [1]], tight)
    assert cores == [[0, 1]] and axons.fan_in == [8] and axons.into == [{-1: 8}]
    core_of = np.zeros(2, np.int64)
    croutes = core_routes(p.routes, core_of, p.routes.axons.astype(float), axons.pairs())
    mesh = mesh_for(1, tight)
    q = Placement(tight, p.layers, p.blocks, cores, p.routes, core_of, mesh, greedy(1), croutes,
                  {})
    bits = p.blocks[0].synapse_bits + p.blocks[1].synapse_bits  # memory stays per block
    assert q.core_use().tolist() == [[8, bits, 8, 0]]
    assert q.axon_table(0)["in"].tolist() == list(range(8))
    x = (np.random.default_rng(3).random((2, 6, 1, 1, 8)) < 0.5).astype(np.int8)
    assert np.array_equal(run_per_core(q, g, x, 8)["a"], simulate(g, x, 8).spikes["a"])


def test_hand_counted_tables_of_two_layer_chain():
    """Blocks a0 = a[0:4], a1 = a[4:8], b0, b1 likewise. Cores {a0, a1}, {b0, b1}: each reads 8
    neurons once (in, then a); every a neuron goes to one core: fan-out 8 (per destination block
    a3 and a4 would count twice: 10). Cores {a0, b0}, {a1, b1}: each reads 5 inputs and 5 a
    neurons; a0's neurons all go to core 0 and a3 also to core 1: fan-out 5, likewise a1."""
    model = CoreModel(target="tiny", neurons=8, synapse_bits=None, fan_in=None, fan_out=None,
                      cores_per_chip=4, mesh_rows=2, mesh_cols=2, max_chips=1)
    p = partition(_row_chain(2), model, fractions=(0.5,), share=False)
    assert [(b.layer, b.p0, b.p1) for b in p.blocks] == [("a", 0, 4), ("a", 4, 8), ("b", 0, 4),
                                                          ("b", 4, 8)]
    assert sum(b.fan_out for b in p.blocks) == 10
    by_layer = CoreAxons(p.layers, p.blocks, p.routes, [[0, 1], [2, 3]])
    assert (by_layer.fan_in, by_layer.fan_out) == ([8, 8], [8, 0])
    assert by_layer.into == [{-1: 8}, {0: 4, 1: 4}]
    mixed = CoreAxons(p.layers, p.blocks, p.routes, [[0, 2], [1, 3]])
    assert (mixed.fan_in, mixed.fan_out) == ([10, 10], [5, 5])
    assert mixed.into == [{-1: 5, 0: 4, 1: 1}, {-1: 5, 0: 1, 1: 4}]
