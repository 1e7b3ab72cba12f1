"""ATRLIF (adaptive threshold) populations on the fpga (issue 14): Icarus and Verilator equal the
emulator in i (u), v, theta and r after every tick, every spike's cycle stamp and the cycles, on
random graphs of test_fpga_cosim whose data layers become ATRLIF populations, with shared and
per-neuron constants (the parameter memory), split populations and both decay datapaths.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_fpga_cosim import assert_lint_clean, assert_same, cosim, cosim_by_seed, feature_case

from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.rtl import PARAM_FIELDS, render
from snncompile.estimate.analytic import analytic_resources, memories
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import simulate as emulate

ATRLIF_FIELDS = ("delta_i", "delta_v", "delta_theta", "delta_r", "theta_0", "theta_step")


def _draw(rng: np.random.Generator, field: str, regime: str, n: int, per_neuron: bool):
    """One constant (corners drawn often), or one per neuron with corners among them."""
    top = {"lsb": 4, "stress": 131072, "normal": 1500}[regime]
    corners, low, high = {
        "delta_i": ([-1, 0, 4095], -1, 4096), "delta_v": ([0, 4095, 4096], 0, 4097),
        "delta_theta": ([0, 4096], 0, 4097), "delta_r": ([0, 4096], 0, 4097),
        "theta_0": ([0, top - 1], 0, top), "theta_step": ([0, top - 1], 0, top)}[field]
    if not per_neuron:
        return int(rng.choice(corners)) if rng.random() < 0.4 else int(rng.integers(low, high))
    return np.where(rng.random(n) < 0.3, rng.choice(corners, n), rng.integers(low, high, n))


def adaptive(graph: Graph, rng: np.random.Generator, regime: str, per_neuron: bool,
             share: float = 0.7) -> Graph:
    """The graph with its data LIF layers (each with probability `share`, at least one) made
    ATRLIF populations of the same size and bias; with `per_neuron`, most fields differ between
    the neurons."""
    clock = set(graph.meta.get("bias_clock", ()))
    layers = [n for n, op in graph.nodes.items() if isinstance(op, hw.LIF) and n not in clock]
    chosen = [n for n in layers if rng.random() < share] or [layers[-1]]
    nodes = dict(graph.nodes)
    for name in chosen:
        op = graph.nodes[name]
        n = int(np.prod(op.shape))
        fields = {k: _draw(rng, k, regime, n, per_neuron and rng.random() < 0.75)
                  for k in ATRLIF_FIELDS}
        fields = {k: v.reshape(op.shape) if isinstance(v, np.ndarray) else v
                  for k, v in fields.items()}
        nodes[name] = hw.ATRLIF(shape=op.shape, bias_mant=op.bias_mant, bias_exp=op.bias_exp,
                                **fields)
    return check(Graph(level="hw", nodes=nodes, edges=graph.edges, meta=graph.meta))


def _case(seed: int) -> tuple[Graph, np.ndarray, int]:
    per_neuron = seed % 4 >= 2
    return feature_case(seed, 2000, lambda g, rng, regime: adaptive(g, rng, regime, per_neuron),
                        12)


def adaptive_rows(plan, graph: Graph, x: np.ndarray, steps: int) -> np.ndarray:
    """The emulator's theta and r after every tick, as the testbench's "A" rows (sample, step,
    core, neuron, theta, r), sorted."""
    trace = emulate(graph, x, steps, record=True)
    rows = []
    for c in plan.cores:
        if not c.adaptive:
            continue
        th, r = (np.asarray(trace.extra[f"{k}:{c.name}"]).reshape(len(x), steps, -1)[
            :, :, c.neurons] for k in ("theta", "r"))
        b, t, n = np.indices(th.shape).reshape(3, -1)
        rows.append(np.stack([b, t + 1, np.full_like(n, c.index), n, th.reshape(-1),
                              r.reshape(-1)], axis=1))
    return _sorted(np.concatenate(rows))


def _sorted(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows[:, :4].T[::-1])]


def assert_adaptive_same(plan, graph, x, steps, got) -> np.ndarray:
    want = adaptive_rows(plan, graph, x, steps)
    assert got.adaptive is not None
    np.testing.assert_array_equal(_sorted(got.adaptive), want)
    return want


@pytest.mark.parametrize("seed", range(12))
def test_atrlif_icarus_equals_emulator(seed, tmp_path):
    """i, v, theta, r, spikes and cycles; seeds 2, 3 (mod 4) hold constants per neuron; odd
    seeds split populations over 5-neuron cores and use the shift-add datapath."""
    graph, x, steps = _case(seed)
    plan, _, got = cosim_by_seed(graph, x, steps, tmp_path, seed)
    assert any(c.adaptive for c in plan.cores)
    assert any(c.per_neuron for c in plan.cores if c.adaptive) == (seed % 4 >= 2)
    assert_adaptive_same(plan, graph, x, steps, got)


@pytest.mark.parametrize("seed", range(2))
def test_atrlif_behind_conv_and_analog_input_icarus_equals_emulator(seed, tmp_path):
    """ATRLIF populations fed by kernel-walking Convs and a Dense head, the input an analog
    (graded) port: the neuron is independent of how its current arrives."""
    from test_fpga_analog import analog, payloads
    from test_fpga_conv import conv_graph

    rng = np.random.default_rng(300 + seed)
    graph = analog(adaptive(conv_graph(rng, "normal"), rng, "normal", bool(seed), share=1.0))
    x = payloads(rng, (1, 4, *graph.shapes["in"]))
    plan, want, got = cosim(graph, x, 6, tmp_path)
    assert_same(want, got)
    assert any(c.adaptive and any(g.kind == "conv" for g in c.groups) for c in plan.cores)
    assert_adaptive_same(plan, graph, x, 6, got)


def _corner_graph() -> Graph:
    """v saturates at 2^23 - 1 against theta_0 = theta_step = 2^17 - 1 with no decay of theta
    and r: theta and r reach 2^24 - 128 (the top of their 24-bit memories); a second population
    with theta_0 = 0 fires at rest (the non-strict compare) and per-neuron decays of 0 and 4096."""
    z2, z3 = np.zeros(2, np.int64), np.zeros(3, np.int64)
    nodes = {
        "in": hw.SpikeInput(shape=(1,)),
        "d": hw.Dense(weights=np.array([[255], [255]]), weight_exp=7),
        "a": hw.ATRLIF((2,), delta_i=-1, delta_v=0, delta_theta=0, delta_r=np.array([0, 4096]),
                       theta_0=2**17 - 1, theta_step=2**17 - 1, bias_mant=z2, bias_exp=z2),
        "e": hw.Dense(weights=np.zeros((3, 2), np.int64)),
        "b": hw.ATRLIF((3,), delta_i=4095, delta_v=np.array([0, 2048, 4096]),
                       delta_theta=np.array([4096, 0, 100]), delta_r=np.array([0, 4096, 7]),
                       theta_0=0, theta_step=np.array([0, 5, 2**17 - 1]), bias_mant=z3,
                       bias_exp=z3),
        "out": hw.SpikeOutput(shape=(3,))}
    edges = (("in", "d"), ("d", "a"), ("a", "e"), ("e", "b"), ("b", "out"))
    return check(Graph(level="hw", nodes=nodes, edges=edges))


def test_atrlif_state_corners(tmp_path):
    """The widest theta and r and the rest-firing neuron, in Icarus, equal the emulator."""
    graph = _corner_graph()
    x = np.ones((1, 8, 1), np.int8)
    plan, want, got = cosim(graph, x, 10, tmp_path)
    assert_same(want, got)
    rows = assert_adaptive_same(plan, graph, x, 10, got)
    assert rows[:, 4].max() >= 2**24 - 128 and rows[:, 5].max() >= 2**24 - 128
    assert rows[:, 4].max() < 2**24 and rows[:, 5].max() < 2**24
    b = plan.cores[[c.name for c in plan.cores].index("b")].index
    assert len(want.stamps[want.stamps[:, 1] == b]) > 0  # fires with no input at all


def test_atrlif_verilator_equals_emulator(tmp_path):
    """One per-neuron graph in Verilator (about 10 s), with the u, v, theta, r dump."""
    for seed in range(2, 60, 4):
        graph, x, steps = _case(seed)
        plan = make_plan(graph)
        if sum(c.adaptive for c in plan.cores) >= 2:
            break
    plan, want, got = cosim(graph, x, steps, tmp_path, "verilator", state_dump=True)
    assert_same(want, got)
    assert_adaptive_same(plan, graph, x, steps, got)
    assert len(want.stamps) > 0


@pytest.mark.parametrize("decay", ["multiply", "shift-add"])
def test_atrlif_rtl_lint_wall_clean(decay, tmp_path):
    """Shared and per-neuron packings and the corner factors (0, 4096) lint clean; shift-add
    keeps no multiply operator."""
    graphs = [_corner_graph(), *(_case(seed)[0] for seed in (0, 2, 3, 6))]
    for i, graph in enumerate(graphs):
        files = render(make_plan(graph), decay=decay)
        folder = tmp_path / str(i)
        folder.mkdir()
        assert_lint_clean(folder, files)
        if decay == "shift-add":
            code = [line.split("//")[0] for name in files if name.startswith("snn_core")
                    for line in files[name].splitlines()]
            assert not any(" * " in line for line in code)


def test_atrlif_parameter_memory_and_estimate():
    """A per-neuron ATRLIF core packs its differing fields (factors 4096 - delta, mantissas) one
    word per neuron; the estimate counts that memory and the theta and r memories."""
    graph = _corner_graph()
    plan = make_plan(graph)
    files = render(plan)
    mems = {name: (words, bits) for name, words, bits in memories(plan)}
    core = next(c for c in plan.cores if c.name == "b")
    assert core.per_neuron == ("dv", "delta_theta", "delta_r", "theta_step")
    words = [int(w, 16) for w in files[f"core{core.index}_param.hex"].splitlines()[1:]]
    op, lo = graph.nodes["b"], 0
    for field in core.per_neuron:
        bits, stored = PARAM_FIELDS[field]
        value = np.asarray(getattr(op, "delta_v" if field == "dv" else field))
        np.testing.assert_array_equal([(w >> lo) & ((1 << bits) - 1) for w in words],
                                      stored(value))
        lo += bits
    assert mems[f"core{core.index}.pmem"] == (3, lo)
    for c in plan.cores:
        for mem in ("thmem", "rmem"):
            assert mems[f"core{c.index}.{mem}"] == (c.n, 24)
    assert core.param_groups == 3
    lif = dataclasses.replace(plan, cores=tuple(dataclasses.replace(
        c, adaptive=False, delta_theta=0, delta_r=0, theta_0=0, theta_step=0)
        for c in plan.cores))
    extra = sum(w * b for n, w, b in memories(plan) if n.endswith((".thmem", ".rmem", ".pmem")))
    assert extra > 0
    assert (analytic_resources(plan)["memory_bits"] - analytic_resources(lif)["memory_bits"]
            == extra - sum(w * b for n, w, b in memories(lif) if n.endswith(".pmem")))
    for family in ("ice40", "xilinx"):
        assert analytic_resources(plan, family)["lut"] > analytic_resources(lif, family)["lut"]


def test_delays_adaptation_example_on_fpga_equals_emulator(tmp_path):
    """The trained example (examples/delays_adaptation/delays.pt: DelayDense with 22 learned
    delays -> ATRLIF(20) -> Dense -> ATRLIF(4)) compiled by the api to an fpga build and run
    in Icarus: the same output spikes as the emulator on 2 samples of its task."""
    import importlib.util
    from pathlib import Path

    from snncompile import api
    from snncompile.backends import fpga
    from snncompile.sim.emulator import run_emulator

    example = Path(__file__).resolve().parents[1] / "examples" / "delays_adaptation"
    spec = importlib.util.spec_from_file_location("delays_adaptation_data", example / "data.py")
    data = importlib.util.module_from_spec(spec)  # by path: other examples have a data.py too
    spec.loader.exec_module(data)
    x = data.make(2, seed=7)[0].astype(np.int8)
    compiled = api.compile_model(example / "delays.pt", "fpga", tmp_path / "b")
    kinds = {type(op).__name__ for op in compiled.hw_graph.nodes.values()}
    assert {"ATRLIF", "DelayDense"} <= kinds
    out, _ = fpga.run(tmp_path / "b", {}, x, simulator="icarus")
    want = run_emulator(compiled.hw_graph, x).outputs[compiled.hw_graph.outputs[0]]
    np.testing.assert_array_equal(out, want)
    assert want.sum() > 10
