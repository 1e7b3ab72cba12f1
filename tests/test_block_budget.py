"""The layer-major path's blocks (sim/fast.py) at batch 1: a block's temporaries stay within the
bytes the run's spike trains take (issue 19's peak-memory bar), and runs cut into many small
blocks still equal the step-major path bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from test_fast_emulator import assert_equal, both, feed_forward
from test_fpga_conv import conv_graph

from snncompile.sim import fast
from snncompile.sim.emulator import run_emulator
from snncompile.sim.timing import latency


def _recorded_blocks(monkeypatch) -> list:
    """Every (widths, samples, span) simulate_layers chooses while the test runs."""
    calls: list = []
    chosen = fast._blocks

    def record(batch, steps, widths, budget):
        samples, span = chosen(batch, steps, widths, budget)
        calls.append((list(widths), samples, span))
        return samples, span

    monkeypatch.setattr(fast, "_blocks", record)
    return calls


@pytest.mark.parametrize("steps", [100, 300])
def test_block_temporaries_at_batch_1_stay_within_the_runs_spike_trains(third_party, steps,
                                                                         monkeypatch):
    from snncompile import api

    graph, _ = api.lower(api.load(third_party / "nir-paper" / "02_cnn" / "cnn_sinabs.nir"), "emu")
    calls = _recorded_blocks(monkeypatch)
    x = (np.random.default_rng(0).random((1, steps, *graph.shapes[graph.inputs[0]])) < 0.1
         ).astype(np.int8)
    run_emulator(graph, x)
    hw_steps = steps + latency(graph)
    # the int8 trains of the input and of every population, counted from the graph
    held = hw_steps * sum(int(np.prod(graph.shapes[n]))
                          for n in [*graph.inputs, *graph.of_kind("neuron")])
    assert sum(len(w) > 1 for w, _, _ in calls) == 3  # the 3 Conv-fed LIFs run in blocks
    assert fast.BLOCK_TEMPORARIES["conv"] >= 4
    for widths, samples, span in calls:
        # a Conv block's widest array (its int32 register, summed spike by spike) at most a
        # quarter of the trains; a Dense block's int32 register at most all of them (the
        # conv2d parts' own rule: test_conv2d_parts_of_a_dense_block_stay_within_their_budget)
        arrays = fast.BLOCK_TEMPORARIES["conv"] if len(widths) > 1 else 1
        widest = samples * span * 4 * max(widths)
        assert widest * arrays <= max(held, arrays * fast.MIN_BLOCK_BYTES), (widths, span)
    # the rule binds here: the first Conv's blocks are cut below the cache-sized cap
    widths, samples, span = calls[0]
    assert samples * span * 4 * max(widths) < fast.CONV_BLOCK_BYTES // 2


@pytest.mark.parametrize("seed", range(8))
def test_runs_in_many_small_blocks_equal_step_major(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(fast, "MIN_BLOCK_BYTES", 1)  # 8 steps (the least span) per block
    monkeypatch.setattr(fast, "BLOCK_TEMPORARIES", {"dense": 2**30, "conv": 2**30, "conv2d": 2**30})
    calls = _recorded_blocks(monkeypatch)
    if seed % 2:
        graph = conv_graph(rng)
        while not fast.applicable(graph, False, None):  # a recurrent Conv: drawn again
            graph = conv_graph(rng)
    else:
        graph = feed_forward(rng, ("normal", "stress")[seed % 4 // 2])
    assert fast.applicable(graph, False, None)
    x = (rng.random((3, 17, *graph.shapes["in"])) < 0.4).astype(np.int8)
    assert_equal(*both(graph, x, 21))
    assert calls and all(samples == 1 and span == 8 for _, samples, span in calls)


def test_conv2d_parts_of_a_dense_block_stay_within_their_budget(third_party, monkeypatch):
    """At batch 1 a block whose activity sends it to conv2d (here: every input spiking) runs it
    on parts of the "conv2d" budget (its float32 input, output and scratch), not on the whole
    block the spike-by-spike budget allows; the spikes still equal the step-major path's."""
    from snncompile import api
    from snncompile.sim import conv_product

    graph, _ = api.lower(api.load(third_party / "nir-paper" / "02_cnn" / "cnn_sinabs.nir"), "emu")
    steps = 100
    x = np.ones((1, steps, *graph.shapes[graph.inputs[0]]), np.int8)
    calls = _recorded_blocks(monkeypatch)
    parts: list = []
    real = conv_product.product

    def spy(synapse, rows, conv2d_rows=None):
        if conv2d_rows is None:  # a part conv_product cut
            parts.append((len(rows), rows.shape[1], synapse.register.shape[1]))
        return real(synapse, rows, conv2d_rows)

    monkeypatch.setattr(conv_product, "product", spy)
    run_emulator(graph, x)
    hw_steps = steps + latency(graph)
    held = hw_steps * sum(int(np.prod(graph.shapes[n]))
                          for n in [*graph.inputs, *graph.of_kind("neuron")])
    assert parts  # the first Conv's dense blocks were cut
    conv_blocks = [samples * span for widths, samples, span in calls if len(widths) > 1]
    assert max(conv_blocks) > max(m for m, _, _ in parts)
    for m, n_in, n_out in parts:
        widest = m * 4 * max(n_in, n_out)
        assert widest * fast.BLOCK_TEMPORARIES["conv2d"] <= max(held, 8 * 4 * max(n_in, n_out))
    monkeypatch.undo()
    assert_equal(*both(graph, x, hw_steps))
