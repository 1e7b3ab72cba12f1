"""snnTorch's delayed subtraction (hw reset "subtract_next") on the fpga RTL (issue 14): each
core keeps its neurons' last spikes in a 1-bit memory beside u and v and subtracts vth in the
next v update, after leak, input and bias, before the clip, as the emulator's kernel does.

The co-simulation graphs of test_fpga_cosim get subtract_next populations (with LIFReset, which
clears the pending spike, and with per-neuron vth), and Icarus and Verilator must equal the
emulator in u, v after every tick, spikes, cycle stamps and totals.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_fpga_cosim import assert_lint_clean, assert_same, cosim, cosim_by_seed, feature_case

from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.rtl import render
from snncompile.estimate.analytic import memories
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph


def subtract_next(graph: Graph, rng: np.random.Generator, regime: str) -> Graph:
    """The graph with most data LIFs reset "subtract_next", some of them with per-neuron vth
    (the bias clock keeps its reset)."""
    clock = set(graph.meta.get("bias_clock", ()))
    top = 3 if regime == "lsb" else 200 if regime == "stress" else 1500
    nodes = dict(graph.nodes)
    for name, op in graph.nodes.items():
        if not isinstance(op, hw.LIF) or name in clock or rng.random() < 0.2:
            continue
        vth = rng.integers(0, top, op.shape) if rng.random() < 0.4 else op.vth
        nodes[name] = dataclasses.replace(op, reset="subtract_next", vth=vth)
    return check(Graph(level="hw", nodes=nodes, edges=graph.edges, meta=graph.meta))


def _case(seed: int) -> tuple[Graph, np.ndarray, int]:
    return feature_case(seed, 3000, subtract_next, 14, (5, 14))


def _later(graph: Graph) -> list[str]:
    return [k for k, op in graph.nodes.items() if getattr(op, "reset", "") == "subtract_next"]


@pytest.mark.parametrize("seed", range(12))
def test_subtract_next_icarus_equals_emulator(seed, tmp_path):
    """u, v, spikes and cycles; odd seeds split populations over 5-neuron cores (each block its
    slice of the spike memory) and use the shift-add datapath."""
    for bump in range(0, 400, 40):  # the first draw with a subtract_next population
        graph, x, steps = _case(seed + bump)
        if _later(graph):
            break
    plan, _, _ = cosim_by_seed(graph, x, steps, tmp_path, seed)
    assert any(c.later for c in plan.cores)


def test_subtract_next_differs_from_subtract_and_spikes_are_held(tmp_path):
    """The delayed subtraction changes the potentials (the test can fail), and a neuron above
    threshold keeps its v in the spiking step: the RTL dump shows v > vth after a spike."""
    for seed in range(200, 260):
        graph, x, steps = _case(seed)
        if not _later(graph):
            continue
        plan, want, got = cosim(graph, x, steps, tmp_path / str(seed))
        assert_same(want, got)
        late = {c.index: c for c in plan.cores if c.later}
        kept = [r for r in got.state if r[2] in late and r[5] > int(
            np.asarray(late[r[2]].vth).reshape(-1)[r[3]] if isinstance(late[r[2]].vth, np.ndarray)
            else late[r[2]].vth) << 6]
        if not kept:
            continue
        now = Graph(level="hw", nodes={k: dataclasses.replace(op, reset="subtract")
                                       if k in _later(graph) else op
                                       for k, op in graph.nodes.items()},
                    edges=graph.edges, meta=graph.meta)
        _, other = cosim(now, x, steps, tmp_path / f"{seed}s")[:2]
        assert not np.array_equal(other.state, want.state)
        return
    raise AssertionError("no draw kept v above threshold after a spike")


def test_subtract_next_verilator_equals_emulator(tmp_path):
    """One build in Verilator, with the u, v dump: the same rows as the emulator."""
    for seed in range(100, 160):
        graph, x, steps = _case(seed)
        plan = make_plan(graph)
        if sum(c.later for c in plan.cores) >= 2:
            break
    _, want, got = cosim(graph, x, steps, tmp_path, "verilator", state_dump=True)
    assert_same(want, got)
    assert got.state is not None and len(got.state) == len(want.state) > 0


@pytest.mark.parametrize("decay", ["multiply", "shift-add"])
def test_subtract_next_rtl_lint_wall_clean_and_counted(decay, tmp_path):
    """The spike memory lints clean (with and without LIFReset, per-neuron vth); the resource
    estimate counts one bit per neuron for it, and only on subtract_next cores."""
    for seed in (0, 3, 7):
        graph, _, _ = _case(seed)
        plan = make_plan(graph)
        files = render(plan, decay=decay)
        assert_lint_clean(tmp_path, files)
        mems = {name: (words, bits) for name, words, bits in memories(plan)}
        for c in plan.cores:
            has = f"smem [0:{c.n - 1}]" in files[f"snn_core{c.index}.v"]
            assert has == c.later
            assert mems.get(f"core{c.index}.smem") == ((c.n, 1) if c.later else None)


def test_snntorch_default_leaky_on_fpga_equals_snntorch_and_emulator(tmp_path, monkeypatch):
    """snnTorch `Leaky()` as a user writes it (reset_delay=True, subtract) with beta 1/2 and
    quarter-grid weights: compiled --target fpga it lowers to subtract_next without a warning,
    the emulator equals snnTorch's own forward in every layer, and the RTL (Icarus, through the
    build folder) equals the emulator."""
    import snntorch
    import torch
    from layer_trace import run_stepwise

    import snncompile.nn as snc
    from snncompile import api
    from snncompile.backends import fpga
    from snncompile.sim.emulator import run_emulator

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 12, bias=False),
                              snntorch.Leaky(beta=0.5, init_hidden=True),
                              torch.nn.Linear(12, 5, bias=False),
                              snntorch.Leaky(beta=0.5, init_hidden=True, output=True))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_((torch.randn(m.weight.shape) * 1.5 * 4).round() / 4)
    net.eval()
    x = (np.random.default_rng(5).random((3, 16, 8)) < 0.5).astype(np.float32)
    snc.reset_state(net)
    ref, _ = run_stepwise(net, x, lambda m, h: m.mem)
    compiled = api.compile_model(net, "fpga", tmp_path / "b", input_shape=(8,))
    lifs = [n for n, op in compiled.hw_graph.nodes.items() if isinstance(op, hw.LIF)]
    assert {compiled.hw_graph.nodes[n].reset for n in lifs} == {"subtract_next"}
    assert not compiled.report.warnings
    emu = run_emulator(compiled.hw_graph, x.astype(np.int8), record=True)
    for name in ("1", "3"):
        assert ref[name].sum() > 0.1 * ref[name].size, f"layer {name} nearly silent: vacuous"
        np.testing.assert_array_equal(emu.spikes[name], ref[name])
    out, _ = fpga.run(tmp_path / "b", {}, x, simulator="icarus")
    np.testing.assert_array_equal(out, emu.outputs[compiled.hw_graph.outputs[0]])
    np.testing.assert_array_equal(out, ref["3"])
    # the fallback (subtraction in the spiking step) would not: the test can fail
    monkeypatch.setattr(fpga, "SUPPORTED", fpga.SUPPORTED - {"reset-subtract-next"})
    now = api.compile_model(net, "fpga", tmp_path / "c", input_shape=(8,))
    assert now.report.warnings
    other = run_emulator(now.hw_graph, x.astype(np.int8), record=True)
    assert not np.array_equal(other.spikes["1"], ref["1"])
