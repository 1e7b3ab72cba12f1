"""The batch-inner step loop (snncompile/sim/batched_steps.py) equals the Python stepwise loop of
emulator.simulate bit for bit (spikes, u and v of every population at every step, strict mode's
events), on the random graph families of test_compiled_steps.py: recurrent Dense graphs in three
regimes with bias clocks, per-neuron parameters, every reset, initial state, analog payloads,
int64 sums, DelayDense and Sparse synapses, ATRLIF populations, the braille RNN and the delays
example; with blocks of a few samples (a partial last block) and both ways a row adds (all
lanes, or the few samples that used it); and Lava against it on the braille RNN."""

from __future__ import annotations

import numpy as np
import pytest
from test_compiled_steps import (
    assert_same,
    atrlif_delay_sparse_until_covered,
    conv_graph,
    delays_and_sparse,
    recurrent,
    strict_events_until_both,
)
from test_fpga_cosim import random_graph

from snncompile.sim import batched_steps, compiled_steps


@pytest.fixture
def batched(monkeypatch):
    """Every batch through the block loop, in blocks of 3 samples; returns the call counter."""
    calls = []
    run = batched_steps.block_steps
    monkeypatch.setattr(batched_steps, "FROM_BATCH", 1)
    monkeypatch.setattr(batched_steps, "NARROW", 10**6)
    monkeypatch.setattr(batched_steps, "DENSE", 10**9)
    monkeypatch.setattr(batched_steps, "BLOCK", 3)
    monkeypatch.setattr(batched_steps, "block_steps", lambda *a: (calls.append(1), run(*a)))
    return calls


@pytest.mark.parametrize("scatter", [1, 10**6])  # every row by its samples / every row by lanes
@pytest.mark.parametrize("regime", ["normal", "stress", "lsb"])
def test_block_loop_equals_the_python_loop_on_recurrent_graphs(batched, monkeypatch, regime,
                                                               scatter):
    monkeypatch.setattr(batched_steps, "SCATTER", scatter)
    spiking = 0
    for seed in range(8):
        rng = np.random.default_rng(500 + seed)
        graph = recurrent(rng, regime)
        x = (rng.random((7, 9, graph.shapes["in"][0])) < 0.4).astype(np.int8)
        trace = assert_same(graph, x, 14, strict=seed % 2 == 0)
        spiking += sum(int(s.sum()) for s in trace.spikes.values()) > 0
    assert len(batched) == 8
    assert spiking >= 4, f"only {spiking} of 8 graphs spiked: the test would prove little"


def test_strict_events_are_counted_alike_across_blocks(batched):
    strict_events_until_both(batch=5)


@pytest.mark.parametrize("seed", range(3))
def test_per_neuron_parameters_initial_state_and_every_reset(batched, seed):
    from test_compiled_steps import test_per_neuron_parameters_initial_state_and_every_reset as t

    t(seed)  # batch 2: one partial block
    assert batched


@pytest.mark.parametrize("wide", [False, True])
def test_analog_payloads_and_int64_sums(batched, monkeypatch, wide):
    from test_compiled_steps import test_analog_payloads_and_int64_sums as t

    monkeypatch.setattr(batched_steps, "SCATTER", 2)
    t(wide, monkeypatch)
    assert batched


def test_delay_and_sparse_graphs(batched, monkeypatch):
    """LIF graphs whose synapses are DelayDense, Sparse or Dense, until each kind ran."""
    ops: set = set()
    for seed in range(30):
        rng = np.random.default_rng(1300 + seed)
        monkeypatch.setattr(batched_steps, "SCATTER", (1, 4, 10**6)[seed % 3])
        regime = ("normal", "stress", "lsb")[seed % 3]
        graph = delays_and_sparse(random_graph(rng, regime), rng)
        x = (rng.random((5, 10, graph.shapes["in"][0])) < 0.6).astype(np.int8)
        trace = assert_same(graph, x, 15, strict=seed % 2 == 0)
        if sum(int(s.sum()) for s in trace.spikes.values()):
            ops |= {type(op).__name__ for op in graph.nodes.values()}
        if seed >= 8 and ops >= {"DelayDense", "Sparse", "Dense"}:
            assert len(batched) >= (seed + 1) // 2  # the rest took fast.py (feed-forward)
            return
    raise AssertionError(f"only ops {ops} spiked: the test would prove little")


def test_the_braille_rnn_in_blocks(batched, third_party, monkeypatch):
    from snncompile import api

    monkeypatch.setattr(batched_steps, "SCATTER", 4)
    path = third_party / "nir-paper" / "03_rnn" / "braille_noDelay_bias_zero.nir"
    graph, _ = api.lower(api.load(path), "emu")
    x = (np.random.default_rng(1).random((8, 20, *graph.shapes[graph.inputs[0]])) < 0.2
         ).astype(np.int8)
    trace = assert_same(graph, x, 23)
    assert sum(int(s.sum()) for s in trace.spikes.values()) > 40
    assert batched


def test_the_rule_keeps_the_per_sample_loop_where_it_is_faster(third_party):
    from snncompile import api

    path = third_party / "nir-paper" / "03_rnn" / "braille_noDelay_bias_zero.nir"
    rnn, _ = api.lower(api.load(path), "emu")
    assert compiled_steps.applicable(rnn)
    widest = max(rnn.shapes[n][0] for n in rnn.of_kind("synapse"))
    weights = sum(rnn.shapes[n][0] * int(np.prod(rnn.shapes[rnn.predecessors(n)[0]]))
                  for n in rnn.of_kind("synapse"))
    assert widest <= batched_steps.NARROW and weights <= batched_steps.DENSE * 8
    assert batched_steps.chosen(rnn, 8, widest, weights)
    assert batched_steps.chosen(rnn, 256, widest, weights)
    assert not batched_steps.chosen(rnn, batched_steps.FROM_BATCH - 1, widest, weights)
    assert not batched_steps.chosen(rnn, 64, batched_steps.NARROW + 1, weights)
    assert not batched_steps.chosen(rnn, 8, widest, batched_steps.DENSE * 8 + 1)
    conv = conv_graph(np.random.default_rng(0), stress=False)
    assert compiled_steps.applicable(conv)
    assert not batched_steps.chosen(conv, 256, 10, 100)


def test_atrlif_delay_and_sparse_graphs(batched):
    """test_compiled_steps' ATRLIF / DelayDense / Sparse graph family through the block loop
    (theta and r recorded and compared too), every graph of it."""
    assert len(batched) == 0
    assert atrlif_delay_sparse_until_covered(batch=5) == len(batched)


def test_the_delays_example_in_blocks(batched):
    """examples/delays_adaptation/delays.pt (DelayDense, 22 delays up to 32, into ATRLIF)."""
    from pathlib import Path

    from snncompile import api

    path = Path(__file__).resolve().parents[1] / "examples/delays_adaptation/delays.pt"
    graph, _ = api.lower(api.load(path), "emu")
    x = (np.random.default_rng(2).random((7, 48, *graph.shapes[graph.inputs[0]])) < 0.1
         ).astype(np.int8)
    trace = assert_same(graph, x, 52)
    assert sum(int(s.sum()) for s in trace.spikes.values()) > 100 and batched


def test_lava_equals_the_block_loop_on_the_braille_rnn(third_party, monkeypatch):
    """Lava 0.10.0 fixed_pt, an independent implementation, against the block loop as the rule
    chooses it (batch FROM_BATCH, blocks of 3): u, v and spikes of every population, every step."""
    from test_lava_differential import run_and_compare

    from snncompile import api

    calls = []
    run = batched_steps.block_steps
    monkeypatch.setattr(batched_steps, "BLOCK", 3)
    monkeypatch.setattr(batched_steps, "block_steps", lambda *a: (calls.append(1), run(*a)))
    path = third_party / "nir-paper" / "03_rnn" / "braille_noDelay_bias_zero.nir"
    graph, _ = api.lower(api.load(path), "emu")
    x = (np.random.default_rng(4).random((batched_steps.FROM_BATCH, 12,
                                          *graph.shapes[graph.inputs[0]])) < 0.3).astype(np.int8)
    emu = run_and_compare(graph, x)
    assert calls and sum(int(s.sum()) for s in emu.spikes.values()) > 40
