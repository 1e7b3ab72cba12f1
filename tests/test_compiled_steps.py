"""The compiled step-major path (snncompile/sim/compiled_steps.py) equals the Python stepwise
loop of emulator.simulate bit for bit: spikes, u and v of every population at every step and
strict mode's events, on random recurrent Dense graphs (saturation- and wrap-heavy regimes,
LIFReset, bias clocks, per-neuron parameters, initial state, analog payloads). The Python loop
is the one the Lava differential tests (test_lava_differential.py) check step by step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_fpga_cosim import random_graph

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
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
    for field in ("spikes", "u", "v"):
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


def test_strict_mode_wraps_and_saturations_are_counted_alike():
    """The stress regime until both kinds of event occur: the counts, steps and order match."""
    kinds: set = set()
    for seed in range(40):
        rng = np.random.default_rng(900 + seed)
        graph = recurrent(rng, "stress")
        x = (rng.random((2, 10, graph.shapes["in"][0])) < 0.8).astype(np.int8)
        kinds |= {e.kind for e in assert_same(graph, x, 13).events}
        if kinds >= {"u_wrap", "v_saturation"}:
            return
    raise AssertionError(f"only {kinds} drawn: the test would prove little")


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
