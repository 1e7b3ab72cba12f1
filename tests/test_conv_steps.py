"""The compiled step loop's Conv paths (sim/compiled_steps.py, conv_scatter._conv_scatter) equal the
Python stepwise loop bit for bit on random conv graphs whose channel groups are whole 8-lane
vectors (the vector-add path: 8, 16 or 24 output channels per group) or not (the scalar path),
with int32 and int64 (wide) sums, binary spikes and analog payloads, channel-last populations
read by a Conv, a Dense or a recurrent Conv, and 24-bit conv wraps in strict mode. The Python
loop is the one the Lava differential tests check step by step; tests/test_compiled_steps.py
covers the other synapse kinds."""

from __future__ import annotations

import numpy as np
import pytest
from test_compiled_steps import assert_same

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim import compiled_steps


def lif(rng: np.random.Generator, shape: tuple, vth: int) -> hw.LIF:
    zero = np.zeros(shape, np.int64)
    return hw.LIF(shape=shape, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                  vth=vth, bias_mant=zero, bias_exp=zero)


def vector_graph(rng: np.random.Generator, analog: bool, stress: bool,
                 recurrent: bool) -> Graph:
    """in (2, 7, 7) -> Conv (8 or 16 channels) -> LIF -> Conv (grouped, strided, padded or
    dilated; 8, 16 or 24 channels per group, or 4: scalar) -> LIF -> Dense -> LIF -> out, with a
    recurrent 3x3 Conv on the first layer when `recurrent`; stress weights reach the 24-bit
    wrap."""
    top = 2**19 if stress else 200
    c1 = int(rng.choice([8, 16]))
    groups = int(rng.choice([1, 2]))
    per_group = int(rng.choice([4, 8, 16, 24]))
    conv1 = hw.Conv(weight=rng.integers(-top // 2, top, (c1, 2, 3, 3)), padding=(1, 1))
    conv2 = hw.Conv(weight=rng.integers(-top // 2, top, (per_group * groups, c1 // groups, 3, 3)),
                    stride=tuple(rng.integers(1, 3, 2)), padding=tuple(rng.integers(0, 2, 2)),
                    dilation=tuple(rng.integers(1, 3, 2)), groups=groups)
    shape1 = (c1, 7, 7)
    shape2 = conv2.output_shape(shape1)
    n2 = int(np.prod(shape2))
    source = hw.AnalogInput(shape=(2, 7, 7), bits=8) if analog else hw.SpikeInput(shape=(2, 7, 7))
    nodes = {"in": source, "c1": conv1, "l1": lif(rng, shape1, 6000 if stress else 700),
             "c2": conv2, "l2": lif(rng, shape2, 3000 if stress else 500),
             "d3": hw.Dense(weights=rng.integers(-200, 255, (5, n2)), weight_exp=2),
             "l3": lif(rng, (5,), 400), "out": hw.SpikeOutput(shape=(5,))}
    edges = [("in", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l2", "d3"), ("d3", "l3"),
             ("l3", "out")]
    if recurrent:
        nodes["r1"] = hw.Conv(weight=rng.integers(-top, top // 2, (c1, c1, 3, 3)),
                              padding=(1, 1))
        edges += [("l1", "r1"), ("r1", "l1")]
    return check(Graph(level="hw", nodes=nodes, edges=tuple(edges)))


def inputs(rng: np.random.Generator, graph: Graph, batch: int, steps: int) -> np.ndarray:
    shape = (batch, steps, *graph.shapes["in"])
    if isinstance(graph.nodes["in"], hw.AnalogInput):
        return (rng.integers(-127, 128, shape) * (rng.random(shape) < 0.4)).astype(np.int8)
    return (rng.random(shape) < 0.4).astype(np.int8)


@pytest.mark.parametrize("wide", [False, True])
def test_vector_and_scalar_conv_paths_equal_the_python_loop(wide, monkeypatch):
    if wide:  # int64 weights and sums (real ones need enormous fan-ins)
        monkeypatch.setattr(compiled_steps, "INT32_SUMS", 0)
    kinds: set = set()
    for seed in range(8):
        rng = np.random.default_rng(2100 + seed + 50 * wide)
        graph = vector_graph(rng, analog=seed % 4 == 1, stress=seed % 2 == 1,
                             recurrent=seed % 3 == 0)
        assert set(compiled_steps.channel_last(graph)) == {"l1", "l2"}
        trace = assert_same(graph, inputs(rng, graph, 2, 7), 11, strict=seed != 2)
        assert sum(int(s.sum()) for s in trace.spikes.values()) > 0
        kinds |= {e.kind for e in trace.events}
    assert "conv_wrap" in kinds, kinds


def test_a_population_read_by_a_sparse_synapse_stays_in_graph_order():
    """channel_last leaves a population in the graph's order when a Sparse reads it (its CSR
    rows are not permuted); the loop still equals the Python loop."""
    from snncompile.ir.sparse import sparse_of

    rng = np.random.default_rng(7)
    graph = vector_graph(rng, analog=False, stress=False, recurrent=False)
    nodes = dict(graph.nodes)
    dense = graph.nodes["d3"]
    nodes["d3"] = sparse_of(hw.Dense(weights=np.where(rng.random(dense.weights.shape) < 0.5, 0,
                                                      dense.weights), weight_exp=2))
    graph = check(Graph(level="hw", nodes=nodes, edges=graph.edges))
    assert set(compiled_steps.channel_last(graph)) == {"l1"}
    assert_same(graph, inputs(rng, graph, 2, 6), 10)
