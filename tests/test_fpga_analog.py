"""The fpga's graded input port (analog input, issue 14): each input word carries a signed int8
payload and the first synapses add weight x payload. Icarus equals the emulator in u and v of
every neuron after every tick, every spike's cycle stamp and the total cycles; Verilator lints
clean; the snnTorch model's RTL run equals the emulator through `fpga.run` on real values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_fpga_conv import conv_graph
from test_fpga_cosim import REGIMES, assert_lint_clean, assert_same, cosim, random_graph

from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.rtl import render
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check


def analog(graph, scale: float = 1.0):
    """The graph with its input an AnalogInput (same shape)."""
    (name,) = graph.inputs
    nodes = dict(graph.nodes)
    nodes[name] = hw.AnalogInput(tuple(graph.shapes[name]), scale=scale)
    return check(dataclasses.replace(graph, nodes=nodes))


def payloads(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """int8 payloads over the whole range, about a third of them zero (no event)."""
    x = rng.integers(-127, 128, size=shape)
    return np.where(rng.random(shape) < 0.35, 0, x).astype(np.int8)


@pytest.mark.parametrize("seed", range(6))
def test_random_dense_graph_icarus_equals_model(seed, tmp_path):
    rng = np.random.default_rng(100 + seed)
    graph = analog(random_graph(rng, REGIMES[seed % 3], max_n=8))
    batch, steps = int(rng.integers(1, 3)), int(rng.integers(3, 7))
    x = payloads(rng, (batch, steps - 1, *graph.shapes["in"]))
    plan, want, got = cosim(graph, x, steps, tmp_path)
    assert plan.payload_bits == 8 and any(g.graded for c in plan.cores for g in c.groups)
    assert_same(want, got)


@pytest.mark.parametrize("seed", range(3))
def test_random_conv_graph_icarus_equals_model(seed, tmp_path):
    rng = np.random.default_rng(200 + seed)
    graph = analog(conv_graph(rng, "normal"))
    x = payloads(rng, (1, 4, *graph.shapes["in"]))
    plan, want, got = cosim(graph, x, 5, tmp_path)
    assert any(g.graded and g.kind == "conv" for c in plan.cores for g in c.groups)
    assert_same(want, got)


def test_two_bit_conv_input_stays_graded(tmp_path):
    """A Conv reading 2-bit payloads (qmax 1: events of -1 / +1) still multiplies by the payload:
    the plan once called a group graded only when qmax > 1, which added +w for a -1 event."""
    rng = np.random.default_rng(300)
    graph = analog(conv_graph(rng, "normal"))
    graph.nodes["in"] = dataclasses.replace(graph.nodes["in"], bits=2)
    x = rng.choice(np.array([-1, 0, 1], np.int8), size=(1, 4, *graph.shapes["in"]))
    plan, want, got = cosim(graph, x, 5, tmp_path)
    assert any(g.graded and g.kind == "conv" for c in plan.cores for g in c.groups)
    assert (x == -1).any()
    assert_same(want, got)


def test_graded_rtl_lints_clean(tmp_path):
    for graph in (analog(random_graph(np.random.default_rng(7), "normal")),
                  analog(conv_graph(np.random.default_rng(8), "normal"))):
        assert_lint_clean(tmp_path, render(make_plan(graph)))


def test_snntorch_analog_model_rtl_equals_emulator(tmp_path):
    """Real-valued features through the whole path: compile with --input-kind analog, run the
    generated RTL (Verilator) on the real values, equal to the emulator in every output entry."""
    from test_analog_input import features, snntorch_net

    from snncompile import api
    from snncompile.backends import fpga
    from snncompile.sim.emulator import run_emulator

    compiled = api.compile_model(snntorch_net(), "fpga", tmp_path / "b", input_shape=(20,),
                                 input_kind="analog", input_range=4.0)
    x = features(2, 15, seed=3)
    out, _ = fpga.run(tmp_path / "b", {}, x, simulator="verilator")
    emu = run_emulator(compiled.hw_graph, x, record=True)
    np.testing.assert_array_equal(out, emu.outputs[compiled.hw_graph.outputs[0]])
    assert emu.spikes["1"].sum() > 50
