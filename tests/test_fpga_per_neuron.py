"""Per-neuron du, dv, vth on the fpga (issue 14): each core keeps the fields that differ between
its neurons in a parameter memory (one packed word per neuron, $readmemh), read beside u and v.

The co-simulation graphs of test_fpga_cosim get per-neuron decays and thresholds (every corner:
du = -1 and 4095, dv = 0 and 4095, vth = 0), and Icarus and Verilator must equal the emulator in
u, v after every tick, spikes, cycle stamps and totals, on both decay datapaths.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_fpga_cosim import assert_lint_clean, assert_same, cosim, cosim_by_seed, feature_case

from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.rtl import render
from snncompile.estimate.analytic import analytic_resources, memories
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph


def per_neuron(graph: Graph, rng: np.random.Generator, regime: str) -> Graph:
    """The graph with each data LIF's du, dv and vth drawn per neuron (the bias clock keeps its
    constants); corners are drawn often, so the memories hold 0, 4096 and the widest values."""
    clock = set(graph.meta.get("bias_clock", ()))
    top = 3 if regime == "lsb" else 200 if regime == "stress" else 1500
    nodes = dict(graph.nodes)
    for name, op in graph.nodes.items():
        if not isinstance(op, hw.LIF) or name in clock:
            continue
        n = op.shape
        du = np.where(rng.random(n) < 0.3, rng.choice([-1, 0, 4095], n), rng.integers(-1, 4096, n))
        dv = np.where(rng.random(n) < 0.3, rng.choice([0, 4095], n), rng.integers(0, 4096, n))
        vth = np.where(rng.random(n) < 0.2, 0, rng.integers(0, top, n))
        keep = rng.random(3) < 0.25  # some layers share a field, so mixed packings are drawn too
        nodes[name] = dataclasses.replace(op, du=op.du if keep[0] else du,
                                          dv=op.dv if keep[1] else dv,
                                          vth=op.vth if keep[2] else vth)
    return check(Graph(level="hw", nodes=nodes, edges=graph.edges, meta=graph.meta))


def _case(seed: int) -> tuple[Graph, np.ndarray, int]:
    return feature_case(seed, 1000, per_neuron, 16)


def _heterogeneous(graph: Graph) -> bool:
    return any(getattr(op, "heterogeneous", False) for op in graph.nodes.values())


@pytest.mark.parametrize("seed", range(16))
def test_per_neuron_icarus_equals_emulator(seed, tmp_path):
    """u, v, spikes and cycles; odd seeds split populations over 5-neuron cores (a block's slice
    of the parameters) and use the shift-add datapath (masked shifted copies, no multiplier)."""
    graph, x, steps = _case(seed)
    assert _heterogeneous(graph)
    plan, _, _ = cosim_by_seed(graph, x, steps, tmp_path, seed)
    assert any(c.per_neuron for c in plan.cores)


def test_per_neuron_verilator_equals_emulator(tmp_path):
    """One build in Verilator (about 10 s), with the u, v dump: the same rows as the emulator."""
    for seed in range(100, 140):
        graph, x, steps = _case(seed)
        plan = make_plan(graph)
        fields = {f for c in plan.cores for f in c.per_neuron}
        if fields == {"du", "dv", "vth"} and len(plan.cores) >= 2:
            break
    _, want, got = cosim(graph, x, steps, tmp_path, "verilator", state_dump=True)
    assert_same(want, got)
    assert got.state is not None and len(got.state) == len(want.state) > 0
    assert len(want.stamps) > 0


def test_parameter_memory_is_written_and_counted():
    """A core with per-neuron fields gets one packed word per neuron (lowest field first); the
    resource estimate counts that memory and the bias memory; param_groups counts the tuples."""
    graph, _, _ = _case(3)
    plan = make_plan(graph)
    files = render(plan)
    mems = {name: (words, bits) for name, words, bits in memories(plan)}
    for c in plan.cores:
        hex_name = f"core{c.index}_param.hex"
        if not c.per_neuron:
            assert hex_name not in files and f"core{c.index}.pmem" not in mems
            continue
        words = [int(w, 16) for w in files[hex_name].splitlines()[1:]]
        bits = {"du": 13, "dv": 13, "vth": 17}
        expect = {"du": 4096 - (np.asarray(c.du) + 1), "dv": 4096 - np.asarray(c.dv),
                  "vth": np.asarray(c.vth)}
        lo = 0
        for field in c.per_neuron:
            got = [(w >> lo) & ((1 << bits[field]) - 1) for w in words]
            np.testing.assert_array_equal(got, expect[field])
            lo += bits[field]
        assert mems[f"core{c.index}.pmem"] == (c.n, lo)
        assert f"pmem [0:{c.n - 1}]" in files[f"snn_core{c.index}.v"]
        assert 1 < c.param_groups <= c.n
    # the shared twin keeps umem (min du < 4095) and loses the parameter and bias memories
    extra = [(n, w * b) for n, w, b in memories(plan) if n.endswith((".pmem", ".bmem"))]
    assert any(n.endswith(".pmem") for n, _ in extra)
    assert analytic_resources(plan)["memory_bits"] == sum(w * b for _, w, b in memories(plan))
    shared = dataclasses.replace(plan, cores=tuple(dataclasses.replace(
        c, du=int(np.min(c.du)), dv=int(np.max(c.dv)), vth=int(np.max(c.vth)),
        bias=np.zeros_like(c.bias)) for c in plan.cores))
    assert (analytic_resources(plan)["memory_bits"] - analytic_resources(shared)["memory_bits"]
            == sum(bits for _, bits in extra))


@pytest.mark.parametrize("decay", ["multiply", "shift-add"])
def test_per_neuron_rtl_lint_wall_clean(decay, tmp_path):
    """Every field packing lints clean; the shift-add datapath keeps no multiply operator."""
    for seed in (0, 4, 8):
        graph, _, _ = _case(seed)
        files = render(make_plan(graph), decay=decay)
        assert_lint_clean(tmp_path, files)
        if decay == "shift-add":
            code = [line.split("//")[0] for name in files if name.startswith("snn_core")
                    for line in files[name].splitlines()]
            assert not any(" * " in line for line in code)


def test_snntorch_per_neuron_beta_rtl_equals_emulator(tmp_path):
    """The whole CLI path (api.compile_model to a build folder, fpga.run in Icarus)."""
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
