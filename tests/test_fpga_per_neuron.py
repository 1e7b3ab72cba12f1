"""Per-neuron du, dv, vth on the fpga (issue 14): a core whose neurons differ reads them from a
parameter ROM beside u and v (general multipliers for the decays). Icarus equals the emulator in
u and v of every neuron after every tick, spike stamps and total cycles; Verilator lints clean;
an snnTorch `Leaky(beta=tensor)` model's RTL equals the emulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_fpga_cosim import REGIMES, assert_lint_clean, assert_same, cosim, random_graph

from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.rtl import render
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check


def per_neuron(graph, rng: np.random.Generator):
    """Every data LIF of the graph with its own du, dv, vth per neuron."""
    clock = set(graph.meta.get("bias_clock", ()))
    nodes = dict(graph.nodes)
    for name, op in graph.nodes.items():
        if isinstance(op, hw.LIF) and name not in clock:
            n = int(np.prod(op.shape))
            nodes[name] = dataclasses.replace(
                op, du=rng.choice([-1, 0, 4095, *rng.integers(0, 4096, 3)], size=n),
                dv=rng.choice([0, 4095, *rng.integers(0, 4096, 3)], size=n),
                vth=rng.integers(0, 1500, size=n))
    return check(dataclasses.replace(graph, nodes=nodes))


@pytest.mark.parametrize("seed", range(6))
def test_random_graph_icarus_equals_model(seed, tmp_path):
    rng = np.random.default_rng(300 + seed)
    graph = per_neuron(random_graph(rng, REGIMES[seed % 3], max_n=8), rng)
    batch, steps = int(rng.integers(1, 3)), int(rng.integers(3, 7))
    x = (rng.random((batch, steps - 1, *graph.shapes["in"])) < 0.5).astype(np.int8)
    plan, want, got = cosim(graph, x, steps, tmp_path)
    assert any(c.per_neuron for c in plan.cores)
    assert_same(want, got)


def test_per_neuron_rtl_lints_clean(tmp_path):
    rng = np.random.default_rng(9)
    graph = per_neuron(random_graph(rng, "normal"), rng)
    assert_lint_clean(tmp_path, render(make_plan(graph)))


def test_snntorch_per_neuron_beta_rtl_equals_emulator(tmp_path):
    import snntorch
    import torch

    from snncompile import api
    from snncompile.backends import fpga
    from snncompile.sim.emulator import run_emulator

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(12, 16),
        snntorch.Leaky(beta=torch.linspace(0.5, 0.95, 16), init_hidden=True,
                       reset_mechanism="zero"),
        torch.nn.Linear(16, 4),
        snntorch.Leaky(beta=torch.linspace(0.6, 0.9, 4), init_hidden=True, output=True,
                       reset_mechanism="zero")).eval()
    x = (np.random.default_rng(1).random((2, 20, 12)) < 0.4).astype(np.float32)
    compiled = api.compile_model(net, "fpga", tmp_path / "b", input_shape=(12,))
    assert compiled.hw_graph.nodes["1"].heterogeneous
    out, _ = fpga.run(tmp_path / "b", {}, x, simulator="icarus")
    emu = run_emulator(compiled.hw_graph, x, record=True)
    np.testing.assert_array_equal(out, emu.outputs[compiled.hw_graph.outputs[0]])
    assert emu.spikes["1"].sum() > 20
