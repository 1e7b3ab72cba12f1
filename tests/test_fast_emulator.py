"""The emulator's layer-major path (snncompile/sim/fast.py) equals its step-major path bit for
bit: spikes, u and v of every population at every step, on random feed-forward Dense / Conv /
DelayDense graphs (saturation- and wrap-heavy regimes, LIFReset, subtract reset, leaky and
non-leaky currents). The step-major path is the one checked against Lava (test_lava_*), and the
fpga cosims compare the layer-major path with the RTL."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from test_compiled_steps import python_loop
from test_fpga_conv import conv_graph
from test_fpga_cosim import random_graph

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim import fast, kernels
from snncompile.sim.emulator import simulate


def both(graph: Graph, x: np.ndarray, steps: int):
    quick = simulate(graph, x, steps, record=True)
    slow = python_loop(graph, x, steps, record=True, strict=True)
    return quick, slow


def assert_equal(quick, slow):
    for field in ("spikes", "u", "v"):
        a, b = getattr(quick, field), getattr(slow, field)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{field} {k}")
    # the LIF kernels' per-step spike counts (run_emulator's spike_counts) against the step
    # loop's trains, counted here
    assert quick.step_spikes.keys() == slow.u.keys()
    for k, counted in quick.step_spikes.items():
        train = slow.spikes[k]
        np.testing.assert_array_equal(
            counted, np.count_nonzero(train.reshape(*train.shape[:2], -1), axis=(0, 2)),
            err_msg=f"step_spikes {k}")


def feed_forward(rng, regime):
    for _ in range(100):
        g = random_graph(rng, regime)
        if not g.recurrent_edges:
            return g
    raise AssertionError("no feed-forward graph drawn")


@pytest.mark.parametrize("seed", range(30))
def test_layer_major_equals_step_major_dense(seed):
    rng = np.random.default_rng(seed)
    graph = feed_forward(rng, ("normal", "stress", "lsb")[seed % 3])
    assert fast.applicable(graph, False, None)
    x = (rng.random((3, 9, graph.shapes["in"][0])) < 0.6).astype(np.int8)
    assert_equal(*both(graph, x, 12))


@pytest.mark.parametrize("seed", range(12))
def test_summed_spike_rows_equal_step_major(seed, monkeypatch):
    """kernels.dense_lif_run (a Dense from a binary train summed row by row, fused with the LIF
    update) forced on every eligible layer, at input densities on both sides of one half (it
    adds the active rows or subtracts the silent ones), in the wrap-heavy regimes too."""
    rng = np.random.default_rng(100 + seed)
    fused: list = []
    monkeypatch.setattr(fast, "SPIKE_SUM_SHARE", 1.0)
    monkeypatch.setattr(fast, "SPIKE_SUM_SCAN", 0)
    monkeypatch.setattr(fast, "dense_lif_run", lambda *a: fused.append(a[0]) or
                        kernels.dense_lif_run(*a))
    for _ in range(20):  # until a graph has a layer the path takes (not every draw has one)
        graph = feed_forward(rng, ("normal", "stress", "lsb")[seed % 3])
        density = (0.1, 0.5, 0.9)[seed % 3]
        x = (rng.random((3, 9, graph.shapes["in"][0])) < density).astype(np.int8)
        assert_equal(*both(graph, x, 12))
        if fused:
            break
    assert fused, "no layer took the summed-rows path"


def dense_chain(rng: np.random.Generator, widths: tuple[int, ...], reset: str) -> Graph:
    """Dense LIF layers of these widths with mixed-sign 8-bit weights, random decays."""
    nodes: dict = {"in": hw.SpikeInput(shape=(widths[0],))}
    edges, prev = [], "in"
    for k, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        zero = np.zeros(n_out, np.int64)
        nodes[f"w{k}"] = hw.Dense(weights=rng.integers(-128, 128, (n_out, n_in)) * 2)
        nodes[f"lif{k}"] = hw.LIF(shape=(n_out,), du=int(rng.integers(0, 4097)),
                                  dv=int(rng.integers(0, 4097)), vth=int(rng.integers(1, 3000)),
                                  bias_mant=zero, bias_exp=zero, reset=reset)
        edges += [(prev, f"w{k}"), (f"w{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["out"] = hw.SpikeOutput(shape=(widths[-1],))
    edges.append((prev, "out"))
    return check(Graph(level="hw", nodes=nodes, edges=tuple(edges)))


@pytest.mark.parametrize("seed", range(4))
def test_reused_register_over_several_blocks_equals_step_major(seed, monkeypatch):
    """Blocks of a few samples and steps (BLOCK_BYTES cut down), so each Dense's int8 products
    go block after block into the one reused register (IntWeights.product's out) that the LIF
    kernel then reads; the spy checks that every layer took that path."""
    from snncompile.sim.int_weights import IntWeights

    rng = np.random.default_rng(200 + seed)
    widths: list = []
    product = IntWeights.product
    monkeypatch.setattr(IntWeights, "product", lambda self, rows, shift=True, out=None:
                        (out is not None and widths.append(self.n_out))
                        or product(self, rows, shift, out))
    monkeypatch.setattr(fast, "BLOCK_BYTES", 4 * 40 * 24)  # 24 rows of 40 neurons
    monkeypatch.setattr(fast, "SPIKE_SUM_SHARE", -1.0)  # never the fused summed rows
    graph = dense_chain(rng, (48, 40, 24), ("zero", "subtract", "subtract_next")[seed % 3])
    x = (rng.random((5, 30, 48)) < (0.1, 0.4, 0.8, 0.95)[seed]).astype(np.int8)
    assert_equal(*both(graph, x, 33))
    assert set(widths) == {40, 24}, "a layer did not write the reused register"


def test_summed_spike_rows_in_int16_and_int32():
    """The summed-rows kernel adds in int16 lanes when every sum fits and the register's left
    shift is folded into the LIF update (the first Dense: fan-in 24 times |w >> 2| <= 64, shift
    2 + weight_exp 1), else in int32 (the second: weight_exp -1, a right shift); both equal the
    step loop, at densities that add the active rows and that subtract the silent ones."""
    rng = np.random.default_rng(7)
    zero = np.zeros(40, np.int64)
    nodes = {"in": hw.SpikeInput(shape=(24,)),
             "narrow": hw.Dense(weights=rng.integers(-64, 64, (40, 24)) * 4, weight_exp=1),
             "a": hw.LIF(shape=(40,), du=200, dv=100, vth=30, bias_mant=zero, bias_exp=zero),
             "wide": hw.Dense(weights=rng.integers(-128, 128, (40, 40)), weight_exp=-1),
             "b": hw.LIF(shape=(40,), du=0, dv=4095, vth=3000, bias_mant=zero, bias_exp=zero,
                         reset="subtract"),
             "out": hw.SpikeOutput(shape=(40,))}
    edges = (("in", "narrow"), ("narrow", "a"), ("a", "wide"), ("wide", "b"), ("b", "out"))
    graph = check(Graph(level="hw", nodes=nodes, edges=edges))
    widths = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "SPIKE_SUM_SHARE", 1.0)
        patch.setattr(fast, "SPIKE_SUM_SCAN", 0)
        patch.setattr(fast, "dense_lif_run", lambda *a: widths.append(a[5].dtype) or
                      kernels.dense_lif_run(*a))
        for density in (0.2, 0.8):
            x = (rng.random((3, 11, 24)) < density).astype(np.int8)
            assert_equal(*both(graph, x, 14))
    assert set(widths) == {np.dtype(np.int16), np.dtype(np.int32)}


@pytest.mark.parametrize("seed", range(12))
def test_layer_major_equals_step_major_conv(seed):
    rng = np.random.default_rng(seed)
    graph = conv_graph(rng, "wrap" if seed % 2 else "normal")
    x = (rng.random((2, 6, *graph.shapes["in"])) < 0.4).astype(np.int8)
    if fast.applicable(graph, False, None):
        assert_equal(*both(graph, x, 8))
    else:
        assert graph.recurrent_edges


def test_delay_dense_and_fallbacks():
    rng = np.random.default_rng(4)
    zero = np.zeros(3, np.int64)
    nodes = {"in": hw.SpikeInput(shape=(4,)),
             "d": hw.DelayDense(weights=rng.integers(-90, 90, (3, 4)),
                                delays=rng.integers(0, 4, (3, 4))),
             "l": hw.LIF(shape=(3,), du=100, dv=300, vth=5, bias_mant=zero, bias_exp=zero),
             "out": hw.SpikeOutput(shape=(3,))}
    graph = check(Graph(level="hw", nodes=nodes, edges=(("in", "d"), ("d", "l"), ("l", "out"))))
    x = (rng.random((2, 10, 4)) < 0.5).astype(np.int8)
    assert fast.applicable(graph, False, None)
    assert not fast.applicable(graph, True, None)
    assert not fast.applicable(graph, False, {"l": (zero, zero)})
    assert_equal(*both(graph, x, 14))


def test_layer_major_equals_step_major_on_the_nir_paper_cnn(third_party):
    from snncompile import api

    graph, _ = api.lower(api.load(third_party / "nir-paper" / "02_cnn" / "cnn_sinabs.nir"), "emu")
    assert fast.applicable(graph, False, None)
    x = (np.random.default_rng(2).random((2, 6, *graph.shapes[graph.inputs[0]])) < 0.15
         ).astype(np.int8)
    quick, slow = both(graph, x, 11)
    assert_equal(quick, slow)
    assert sum(int(s.sum()) for s in quick.spikes.values()) > 100


def per_neuron_lifs(graph: Graph, rng: np.random.Generator) -> Graph:
    """The graph with each LIF's du, dv and vth drawn per neuron and its reset mode drawn."""
    nodes = dict(graph.nodes)
    for name, op in graph.nodes.items():
        if isinstance(op, hw.LIF):
            nodes[name] = dataclasses.replace(
                op, du=rng.integers(0, 4096, op.shape), dv=rng.integers(0, 4096, op.shape),
                vth=rng.integers(1, 200, op.shape),
                reset=("zero", "subtract", "subtract_next")[int(rng.integers(3))])
    return check(Graph(level="hw", nodes=nodes, edges=graph.edges))


@pytest.mark.parametrize("seed", range(6))
def test_layer_major_equals_step_major_with_per_neuron_parameters(seed):
    """Per-neuron du, dv, vth (hw.LIF arrays) and every reset (zero, subtract, subtract_next)
    run through the same kernel on both paths."""
    rng = np.random.default_rng(100 + seed)
    graph = feed_forward(rng, ("normal", "stress", "lsb")[seed % 3])
    while all(np.prod(op.shape) < 2 for op in graph.nodes.values() if isinstance(op, hw.LIF)):
        graph = feed_forward(rng, ("normal", "stress", "lsb")[seed % 3])
    graph = per_neuron_lifs(graph, rng)
    assert any(op.heterogeneous for op in graph.nodes.values() if isinstance(op, hw.LIF))
    assert fast.applicable(graph, False, None)
    x = (rng.random((3, 9, graph.shapes["in"][0])) < 0.6).astype(np.int8)
    assert_equal(*both(graph, x, 12))


def test_spike_counts_and_input_check_of_run_emulator(monkeypatch):
    """run_emulator's spike_counts (the kernels' per-step sums over the nn-time window) equal
    the recorded spikes counted by numpy, for a batch split into sample chunks; the one-pass
    binary check still refuses int8 -1 (uint8 255) and an int16 2."""
    from snncompile.errors import InputError
    from snncompile.sim import sample_chunks
    from snncompile.sim.emulator import run_emulator

    rng = np.random.default_rng(7)
    graph = feed_forward(rng, "normal")
    x = (rng.random((5, 11, graph.shapes["in"][0])) < 0.5).astype(np.int8)
    whole = run_emulator(graph, x, record=True)
    counted = {k: int(np.count_nonzero(s)) for k, s in whole.spikes.items()}
    assert whole.spike_counts == counted and sum(counted.values()) > 0
    monkeypatch.setattr(sample_chunks, "CHUNK_BYTES", 1)  # one sample per chunk
    chunked = run_emulator(graph, x)
    assert chunked.spike_counts == counted
    np.testing.assert_array_equal(chunked.outputs["out"], whole.outputs["out"])
    for bad in (np.int8(-1), np.int16(2)):
        y = x.astype(bad.dtype)
        y[0, 0, 0] = bad
        with pytest.raises(InputError, match="binary spikes"):
            run_emulator(graph, y)
