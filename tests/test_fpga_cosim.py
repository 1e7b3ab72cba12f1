"""Randomized co-simulation: generated Verilog in Icarus vs the emulator + cycle model.

For random Dense + LIF graphs (multi-core chains, recurrence, fan-out, bias-clock populations,
LIFReset, subtract reset, saturation- and wrap-heavy weights) every core's spikes, every spike's
cycle stamp, every step's end cycle and the total cycle count of the RTL equal the model's.
Icarus must be installed: a missing simulator fails here, it never skips.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snncompile.backends import fpga
from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.rtl import render, rtl_sources
from snncompile.backends.fpga.sim import simulate
from snncompile.errors import UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.partition import core_model
from snncompile.sim.cycles import cycle_trace
from snncompile.sim.emulator import simulate as emulate

REGIMES = ("normal", "stress", "lsb")


def random_graph(rng: np.random.Generator, regime: str = "normal", max_n: int = 12) -> Graph:
    """Input -> 1..3 LIF layers (optional recurrence, second group, bias clock) -> output.
    "stress" drives u wrap and v saturation; "lsb" keeps values tiny with thresholds near 0, so a
    one-LSB rounding difference flips spikes."""
    stress, lsb = regime == "stress", regime == "lsb"
    n_in = int(rng.integers(1, max_n + 1))
    nodes: dict = {"in": hw.SpikeInput(shape=(n_in,))}
    edges: list = []
    meta: dict = {}
    prev, n_prev = "in", n_in
    layers = int(rng.integers(1, 4))
    big = 255 if stress else 120

    def dense(name, src, dst, n_src, n_dst):
        low, high = (-6, 7) if lsb else (-256, 256)
        w = rng.integers(low, high, size=(n_dst, n_src))
        if rng.random() < 0.3:
            w = np.abs(w)  # excitatory
        e = int(rng.integers(4, 8)) if stress else int(rng.integers(-2, 2 if lsb else 4))
        nodes[name] = hw.Dense(weights=np.clip(w, -big - 1, big), weight_exp=e,
                               num_weight_bits=int(rng.integers(6, 9)))
        edges.extend([(src, name), (name, dst)])

    def lif(n, bias=True):
        top = 3 if lsb else 4096
        mant = rng.integers(-top, top, size=n) if bias and rng.random() < 0.5 else np.zeros(n)
        exp = rng.integers(0, 8, size=n) if rng.random() < 0.5 and not lsb else np.zeros(n)
        interval = int(rng.integers(1, 6)) if rng.random() < 0.25 else 0
        return hw.LIF(shape=(n,), du=int(rng.choice([-1, 0, 4095, rng.integers(0, 4096)])),
                      dv=int(rng.choice([0, 4095, rng.integers(0, 4096)])),
                      vth=int(rng.integers(0, 3 if lsb else 200 if stress else 1500)),
                      bias_mant=mant.astype(np.int64), bias_exp=exp.astype(np.int64),
                      reset=str(rng.choice(["zero", "subtract"])),
                      reset_interval=interval, reset_offset=int(rng.integers(0, 6)))

    for i in range(layers):
        n = int(rng.integers(1, max_n + 1))
        name = f"lif{i}"
        nodes[name] = lif(n)
        dense(f"d{i}", prev, name, n_prev, n)
        if rng.random() < 0.3:
            dense(f"r{i}", name, name, n, n)  # recurrence
        if rng.random() < 0.2:  # a second synapse group from the same source
            dense(f"t{i}", prev, name, n_prev, n)
        prev, n_prev = name, n
    if rng.random() < 0.4:  # bias clock: a free-running population feeding the last layer
        size = int(rng.integers(1, 4))
        nodes["clk"] = hw.LIF(shape=(size,), du=4095, dv=0, vth=0,
                              bias_mant=(np.arange(size) == 0).astype(np.int64),
                              bias_exp=np.zeros(size, np.int64))
        nodes["clk.in"] = hw.Dense(weights=np.zeros((size, n_in), np.int64),
                                   sign_mode="excitatory")
        edges.extend([("in", "clk.in"), ("clk.in", "clk")])
        meta["bias_clock"] = ["clk", "clk.in"]
        if size > 1:
            nodes["clk.chain"] = hw.Dense(weights=np.eye(size, k=-1, dtype=np.int64),
                                          sign_mode="excitatory")
            edges.extend([("clk", "clk.chain"), ("clk.chain", "clk")])
            meta["bias_clock"].append("clk.chain")
        dense("dclk", "clk", prev, size, n_prev)
    nodes["out"] = hw.SpikeOutput(shape=(n_prev,))
    edges.append((prev, "out"))
    return check(Graph(level="hw", nodes=nodes, edges=tuple(edges), meta=meta))


def expected(graph: Graph, x: np.ndarray, steps: int, cores=None):
    """The model: emulator spikes (and u, v after every tick) + the cycle model; with `cores`
    (a CoreModel) populations split into blocks, each core takes its block's neurons."""
    plan = make_plan(graph, cores)
    trace = emulate(graph, x, steps, record=True)
    want = cycle_trace(plan, x, trace.spikes)
    us = plan.core_spikes(trace.u, len(x), steps)
    vs = plan.core_spikes(trace.v, len(x), steps)
    rows = []
    for c, u, v in zip(plan.cores, us, vs):
        b, t, n = np.indices(u.shape).reshape(3, -1)
        rows.append(np.stack([b, t + 1, np.full_like(n, c.index), n, u.reshape(-1),
                              v.reshape(-1)], axis=1))
    want.state = _sorted(np.concatenate(rows))
    return plan, want


def _sorted(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows[:, :4].T[::-1])]


def cosim(graph: Graph, x: np.ndarray, steps: int, tmp: Path, simulator: str = "icarus",
          cores=None, decay: str | None = None, state_dump: bool | None = None):
    """Write the RTL, run it, and return (plan, the model's trace, the RTL's trace); u and v are
    dumped after every tick under Icarus (or with state_dump=True)."""
    folder = tmp / "build"
    folder.mkdir(parents=True, exist_ok=True)
    fpga.write(graph, folder, cores=cores, decay=decay)
    plan, want = expected(graph, x, steps, cores)
    dump = simulator == "icarus" if state_dump is None else state_dump
    got = simulate(folder / "rtl", tmp / "work", x, steps, plan.n_in, simulator,
                   state_dump=dump, payload_bits=plan.payload_bits)
    return plan, want, got


def assert_same(want, got):
    if got.state is not None:  # u and v of every neuron after every tick, bit for bit
        np.testing.assert_array_equal(_sorted(got.state), want.state)
    assert got.total == want.total
    np.testing.assert_array_equal(got.clear, want.clear)
    np.testing.assert_array_equal(got.step_end, want.step_end)
    assert got.stamps.shape == want.stamps.shape
    np.testing.assert_array_equal(got.stamps, want.stamps)


def feature_case(seed: int, offset: int, change: Any, max_n: int,
                 steps: tuple[int, int] = (4, 12)) -> tuple[Graph, np.ndarray, int]:
    """The draw the fpga feature tests share: a random graph changed by change(graph, rng,
    regime), a batch of input spikes for it and its step count (seeded by offset + seed)."""
    rng = np.random.default_rng(offset + seed)
    regime = REGIMES[seed % 3]
    graph = change(random_graph(rng, regime, max_n), rng, regime)
    batch, n_steps = int(rng.integers(1, 4)), int(rng.integers(*steps))
    x = (rng.random((batch, n_steps - 1, graph.shapes["in"][0])) < rng.uniform(0.2, 0.9))
    return graph, x.astype(np.int8), n_steps


def cosim_by_seed(graph: Graph, x: np.ndarray, steps: int, tmp_path: Any, seed: int) -> Any:
    """cosim on the default cores and datapath, or for odd seeds on 5-neuron cores (each block
    its slice of the per-core memories) and the shift-add datapath; the RTL equals the emulator
    in spikes, cycles and every dumped u, v row. Returns (plan, want, got)."""
    odd = seed % 2 == 1
    plan, want, got = cosim(graph, x, steps, tmp_path,
                            cores=core_model("fpga", neurons=5) if odd else None,
                            decay="shift-add" if odd else None)
    assert_same(want, got)
    assert got.state is not None and len(got.state) == len(want.state) > 0
    return plan, want, got


def test_tools_installed():
    for tool in ("iverilog", "vvp", "verilator", "yosys"):
        assert shutil.which(tool), f"{tool} missing: apt-get install -y iverilog verilator yosys"


@pytest.mark.parametrize("seed", range(60))
def test_random_graph_icarus_equals_model(seed, tmp_path):
    """Seeds 48..59 use populations of up to 40 neurons (wider counters, deeper FIFOs)."""
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, REGIMES[seed % 3], 40 if seed >= 48 else 12)
    n_in = graph.shapes["in"][0]
    batch, steps = int(rng.integers(1, 4)), int(rng.integers(3, 12))
    x = (rng.random((batch, steps - 1, n_in)) < rng.uniform(0.1, 0.9)).astype(np.int8)
    plan, want, got = cosim(graph, x, steps, tmp_path)
    assert_same(want, got)
    assert want.total > batch * steps * plan.tick_len


def test_stress_cases_hit_wrap_and_saturation(tmp_path):
    """The stress graphs really exercise u wrap and v saturation (else the test above is weak)."""
    kinds = set()
    for seed in range(1, 36, 3):
        rng = np.random.default_rng(seed)
        graph = random_graph(rng, "stress")
        rng.integers(1, 4), rng.integers(3, 12)
        x = (rng.random((2, 8, graph.shapes["in"][0])) < 0.7).astype(np.int8)
        kinds |= {e.kind for e in emulate(graph, x, 10, strict=True).events}
    assert {"u_wrap", "v_saturation"} <= kinds


def test_u_wrap_boundaries_exact(tmp_path):
    """a_in << 6 = -2^23 (u wraps up to +2^23), = +2^23 (stays), = 2^23 + 2^16 (wraps down),
    with no current decay so u keeps wrapping; thresholds at 0 make the sign of v visible."""
    zero = np.zeros(3, np.int64)
    nodes = {
        "in": hw.SpikeInput(shape=(1,)),
        "a": hw.Dense(weights=np.array([[-256], [0], [0]]), weight_exp=9, sign_mode="mixed"),
        "b": hw.Dense(weights=np.array([[0], [128], [129]]), weight_exp=10),
        "l": hw.LIF(shape=(3,), du=-1, dv=0, vth=0, bias_mant=zero, bias_exp=zero),
        "out": hw.SpikeOutput(shape=(3,))}
    edges = (("in", "a"), ("in", "b"), ("a", "l"), ("b", "l"), ("l", "out"))
    graph = check(Graph(level="hw", nodes=nodes, edges=edges))
    x = np.array([[[1], [0], [1], [1], [0], [1]]], np.int8)
    events = emulate(graph, x, 8, strict=True).events
    assert any(e.kind == "u_wrap" for e in events)
    _, want, got = cosim(graph, x, 8, tmp_path)
    assert_same(want, got)
    assert len(want.stamps) > 0


def test_multicore_spikes_are_routed(tmp_path):
    """A 3-layer chain with recurrence where every layer spikes: spikes cross cores."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        graph = random_graph(rng)
        if len(graph.of_kind("neuron")) >= 3:
            break
    x = np.ones((2, 6, graph.shapes["in"][0]), np.int8)
    plan, want, got = cosim(graph, x, 9, tmp_path)
    assert_same(want, got)
    assert len(plan.source_cores) >= 2


def test_rtl_is_byte_identical_and_bannered(tmp_path):
    graph = random_graph(np.random.default_rng(3))
    a, b = render(make_plan(graph)), render(make_plan(graph))
    assert a == b
    for name in rtl_sources(a) + ["snn_tb.v", "Makefile"]:
        assert "generated by snncompile" in a[name].splitlines()[0]


def assert_lint_clean(folder: Path, files: dict[str, str] | None = None,
                      sources: list[str] | None = None) -> None:
    """`verilator --lint-only -Wall` on the RTL in `folder` (first writing `files` there, whose
    Verilog sources are then the ones linted) reports nothing."""
    if files is not None:
        for name, body in files.items():
            (folder / name).write_text(body)
        sources = rtl_sources(files)
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "snn_top",
                           *sources], cwd=folder, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


def test_verilator_lint_wall_clean(tmp_path):
    for seed in (0, 5, 11):
        graph = random_graph(np.random.default_rng(seed), REGIMES[seed % 3])
        assert_lint_clean(tmp_path, render(make_plan(graph)))


def test_refuses_graded_input_by_name_and_maps_atrlif():
    """(Conv is mapped since the kernel walker: tests/test_fpga_conv.py; DelayDense since the
    delay lines: tests/test_fpga_delays.py; ATRLIF since its theta / r datapath:
    tests/test_fpga_atrlif.py.)"""
    graded = Graph(level="hw", nodes={
        "in": hw.GradedInput(shape=(2,)),
        "l": hw.LIF(shape=(2,), du=0, dv=0, vth=1, bias_mant=np.zeros(2, np.int64),
                    bias_exp=np.zeros(2, np.int64)),
        "out": hw.SpikeOutput(shape=(2,))},
        edges=(("in", "l"), ("l", "out")))
    with pytest.raises(UnsupportedOp, match="'in'"):
        make_plan(graded)
    adaptive = Graph(level="hw", nodes={
        "in": hw.SpikeInput(shape=(2,)),
        "d": hw.DelayDense(weights=np.ones((1, 2), np.int64), delays=np.ones((1, 2), np.int64)),
        "a": hw.ATRLIF((1,), 4095, 0, 0, 0, 10, 0, np.zeros(1, np.int64), np.zeros(1, np.int64)),
        "out": hw.SpikeOutput(shape=(1,))},
        edges=(("in", "d"), ("d", "a"), ("a", "out")))
    (core,) = make_plan(adaptive).cores
    assert core.adaptive and core.theta_0 == 10 and core.groups[0].kind == "delay"
