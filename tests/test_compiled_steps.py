"""The compiled step-major path (snncompile/sim/compiled_steps.py) equals the Python stepwise
loop of emulator.simulate bit for bit: spikes, u and v (an ATRLIF's theta and r too) of every
population at every step and strict mode's events, on random recurrent Dense graphs
(saturation- and wrap-heavy regimes, LIFReset, bias clocks, per-neuron parameters, initial
state, analog payloads), the same graphs with ATRLIF populations and DelayDense / Sparse
synapses, and random Conv graphs (24-bit conv wraps). The Python loop is the one the Lava
differential tests (test_lava_differential.py) check step by step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_fpga_atrlif import adaptive
from test_fpga_cosim import random_graph

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.ir.sparse import sparse_of
from snncompile.sim import compiled_steps, emulator
from snncompile.sim.emulator import simulate


def python_loop(*args, **kwargs):
    """emulator.simulate with every compiled path off: the Python stepwise loop."""
    saved = dict(emulator.PATHS)
    emulator.PATHS.update(layers=False, compiled_steps=False)
    try:
        return simulate(*args, **kwargs)
    finally:
        emulator.PATHS.update(saved)


def assert_same(graph, x, steps, strict=True, initial_state=None):
    assert compiled_steps.applicable(graph)
    quick = simulate(graph, x, steps, record=True, strict=strict, initial_state=initial_state)
    slow = python_loop(graph, x, steps, record=True, strict=strict, initial_state=initial_state)
    for field in ("spikes", "u", "v", "extra"):
        a, b = getattr(quick, field), getattr(slow, field)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{field} {k}")
    assert quick.events == slow.events
    return quick


def recurrent(rng, regime):
    for _ in range(200):
        g = random_graph(rng, regime)
        if any(a != "clk.chain" for a, _ in g.recurrent_edges):
            return g
    raise AssertionError("no recurrent graph drawn")


@pytest.mark.parametrize("regime", ["normal", "stress", "lsb"])
def test_compiled_steps_equal_the_python_loop_on_recurrent_graphs(regime):
    spiking = 0
    for seed in range(10):
        rng = np.random.default_rng(500 + seed)
        graph = recurrent(rng, regime)
        x = (rng.random((3, 9, graph.shapes["in"][0])) < 0.6).astype(np.int8)
        trace = assert_same(graph, x, 14, strict=seed % 2 == 0)
        spiking += sum(int(s.sum()) for s in trace.spikes.values()) > 0
    assert spiking >= 5, f"only {spiking} of 10 graphs spiked: the test would prove little"


def strict_events_until_both(batch: int) -> None:
    """Recurrent graphs of the stress regime through assert_same until both kinds of strict
    event occurred: the counts, steps and order match."""
    kinds: set = set()
    for seed in range(40):
        rng = np.random.default_rng(900 + seed)
        graph = recurrent(rng, "stress")
        x = (rng.random((batch, 10, graph.shapes["in"][0])) < 0.8).astype(np.int8)
        kinds |= {e.kind for e in assert_same(graph, x, 13).events}
        if kinds >= {"u_wrap", "v_saturation"}:
            return
    raise AssertionError(f"only {kinds} drawn: the test would prove little")


def test_strict_mode_wraps_and_saturations_are_counted_alike():
    strict_events_until_both(batch=2)


@pytest.mark.parametrize("seed", range(4))
def test_per_neuron_parameters_initial_state_and_every_reset(seed):
    rng = np.random.default_rng(700 + seed)
    graph = recurrent(rng, "normal")
    nodes = dict(graph.nodes)
    for name, op in graph.nodes.items():
        if isinstance(op, hw.LIF) and name != "clk":
            nodes[name] = dataclasses.replace(
                op, du=rng.integers(0, 4096, op.shape), dv=rng.integers(0, 4096, op.shape),
                vth=rng.integers(1, 200, op.shape),
                reset=("zero", "subtract", "subtract_next")[int(rng.integers(3))])
    graph = check(Graph(level="hw", nodes=nodes, edges=graph.edges, meta=graph.meta))
    init = {n: (rng.integers(-2**22, 2**22, op.shape), rng.integers(-2**22, 2**22, op.shape))
            for n, op in graph.nodes.items() if isinstance(op, hw.LIF)}
    x = (rng.random((2, 8, graph.shapes["in"][0])) < 0.5).astype(np.int8)
    assert_same(graph, x, 11, initial_state=init)


@pytest.mark.parametrize("wide", [False, True])
def test_analog_payloads_and_int64_sums(wide, monkeypatch):
    """AnalogInput payloads multiply the weight rows; sums that could pass 2^31 (forced here:
    real ones need a fan-in of millions) take int64 weights and sums."""
    if wide:
        monkeypatch.setattr(compiled_steps, "INT32_SUMS", 0)
    rng = np.random.default_rng(3)
    zero = np.zeros(5, np.int64)
    nodes = {"in": hw.AnalogInput(shape=(6,), bits=8),
             "d": hw.Dense(weights=rng.integers(-255, 256, (5, 6)), weight_exp=-3),
             "l": hw.LIF(shape=(5,), du=300, dv=200, vth=900, bias_mant=zero, bias_exp=zero),
             "r": hw.Dense(weights=rng.integers(-255, 256, (5, 5)), weight_exp=5),
             "out": hw.SpikeOutput(shape=(5,))}
    edges = (("in", "d"), ("d", "l"), ("l", "r"), ("r", "l"), ("l", "out"))
    graph = check(Graph(level="hw", nodes=nodes, edges=edges))
    x = rng.integers(-127, 128, (2, 9, 6)).astype(np.int8)
    trace = assert_same(graph, x, 12)
    assert trace.spikes["l"].sum() > 0


def test_the_braille_rnn_takes_the_compiled_path(third_party):
    from snncompile import api

    path = third_party / "nir-paper" / "03_rnn" / "braille_noDelay_bias_zero.nir"
    graph, _ = api.lower(api.load(path), "emu")
    assert graph.recurrent_edges
    x = (np.random.default_rng(1).random((3, 20, *graph.shapes[graph.inputs[0]])) < 0.2
         ).astype(np.int8)
    trace = assert_same(graph, x, 23)
    assert sum(int(s.sum()) for s in trace.spikes.values()) > 20


def delays_and_sparse(graph: Graph, rng: np.random.Generator) -> Graph:
    """The graph with each data Dense (clock synapses kept) made a DelayDense (delays 0..7,
    several groups) or, less often, a Sparse of its non-zero weights (a third zeroed first)."""
    clock = set(graph.meta.get("bias_clock", ()))
    nodes = dict(graph.nodes)
    for name, op in graph.nodes.items():
        if type(op) is not hw.Dense or name in clock:
            continue
        pick = rng.random()
        if pick < 0.6:
            nodes[name] = hw.DelayDense(weights=op.weights, weight_exp=min(op.weight_exp, 1) - 2,
                                        num_weight_bits=op.num_weight_bits,
                                        delays=rng.integers(0, 8, op.weights.shape))
        elif pick < 0.85:
            w = np.where(rng.random(op.weights.shape) < 0.3, 0, op.weights)
            nodes[name] = sparse_of(dataclasses.replace(op, weights=w))
    return check(Graph(level="hw", nodes=nodes, edges=graph.edges, meta=graph.meta))


def atrlif_delay_sparse_until_covered(batch: int) -> int:
    """Random graphs (recurrent or not) whose layers are ATRLIF or LIF and whose synapses are
    DelayDense, Sparse or Dense, in all three regimes, each run through assert_same, until both
    strict event kinds occurred and every kind of population and synapse spiked; returns how
    many graphs ran."""
    kinds: set = set()
    ops: set = set()
    for seed in range(60):
        rng = np.random.default_rng(1300 + seed)
        regime = ("normal", "stress", "lsb")[seed % 3]
        graph = random_graph(rng, regime)
        graph = delays_and_sparse(adaptive(graph, rng, regime, seed % 2 == 1, 0.6), rng)
        x = (rng.random((batch, 10, graph.shapes["in"][0])) < 0.6).astype(np.int8)
        trace = assert_same(graph, x, 15)
        kinds |= {e.kind for e in trace.events}
        if sum(int(s.sum()) for s in trace.spikes.values()):
            ops |= {type(op).__name__ for op in graph.nodes.values()}
        if seed >= 11 and kinds >= {"u_wrap", "v_saturation"} and ops >= {
                "ATRLIF", "LIF", "DelayDense", "Sparse", "Dense"}:
            return seed + 1
    raise AssertionError(f"only events {kinds} and ops {ops}: the test would prove little")


def test_atrlif_delay_and_sparse_graphs_equal_the_python_loop():
    atrlif_delay_sparse_until_covered(batch=2)


def conv_graph(rng: np.random.Generator, stress: bool) -> Graph:
    """in (2, 6, 6) -> Conv -> LIF or ATRLIF (c, h, w) -> Conv (strided, padded, dilated or
    grouped) -> LIF -> Dense -> LIF with recurrence -> out; stress weights reach Conv's 24-bit
    wrap."""
    top = 2**20 if stress else 300
    c1 = int(rng.integers(1, 4)) * 2
    conv1 = hw.Conv(weight=rng.integers(-top // 2, top, (c1, 2, 3, 3)), padding=(1, 1))
    groups = int(rng.choice([1, 2]))
    conv2 = hw.Conv(weight=rng.integers(-top // 2, top, (4, c1 // groups, 3, 3)),
                    stride=tuple(rng.integers(1, 3, 2)), padding=tuple(rng.integers(0, 2, 2)),
                    dilation=tuple(rng.integers(1, 3, 2)), groups=groups)
    shape1 = (c1, 6, 6)
    shape2 = conv2.output_shape(shape1)
    n2 = int(np.prod(shape2))

    def lif(shape, vth):
        zero = np.zeros(shape, np.int64)
        return hw.LIF(shape=shape, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                      vth=vth, bias_mant=zero, bias_exp=zero)

    first = lif(shape1, 5000 if stress else 800)
    if rng.random() < 0.5:
        zero = np.zeros(shape1, np.int64)
        first = hw.ATRLIF(shape=shape1, delta_i=300, delta_v=500, delta_theta=200, delta_r=800,
                          theta_0=400 if not stress else 5000, theta_step=100,
                          bias_mant=zero, bias_exp=zero)
    nodes = {"in": hw.SpikeInput(shape=(2, 6, 6)), "c1": conv1, "l1": first, "c2": conv2,
             "l2": lif(shape2, 3000 if stress else 600),
             "r3": hw.Dense(weights=rng.integers(-200, 200, (3, 3)), weight_exp=2),
             "d3": hw.Dense(weights=rng.integers(-200, 255, (3, n2)), weight_exp=3),
             "l3": lif((3,), 500), "out": hw.SpikeOutput(shape=(3,))}
    edges = (("in", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l2", "d3"), ("d3", "l3"),
             ("l3", "r3"), ("r3", "l3"), ("l3", "out"))
    return check(Graph(level="hw", nodes=nodes, edges=edges))


def test_conv_graphs_equal_the_python_loop_conv_wraps_included():
    kinds: set = set()
    for seed in range(12):
        rng = np.random.default_rng(1700 + seed)
        graph = conv_graph(rng, stress=seed % 2 == 1)
        x = (rng.random((2, 8, 2, 6, 6)) < 0.5).astype(np.int8)
        trace = assert_same(graph, x, 12, strict=seed % 4 != 2)
        assert sum(int(s.sum()) for s in trace.spikes.values()) > 0
        kinds |= {e.kind for e in trace.events}
    assert kinds >= {"u_wrap", "v_saturation", "conv_wrap"}, kinds


def test_the_delays_example_takes_the_compiled_path():
    """examples/delays_adaptation/delays.pt: DelayDense (22 delays up to 32) into ATRLIF."""
    from pathlib import Path

    from snncompile import api

    path = Path(__file__).resolve().parents[1] / "examples/delays_adaptation/delays.pt"
    graph, _ = api.lower(api.load(path), "emu")
    assert {"DelayDense", "ATRLIF"} <= {type(op).__name__ for op in graph.nodes.values()}
    x = (np.random.default_rng(2).random((3, 48, *graph.shapes[graph.inputs[0]])) < 0.1
         ).astype(np.int8)
    trace = assert_same(graph, x, 52)
    assert sum(int(s.sum()) for s in trace.spikes.values()) > 50
