"""Per-synapse delays (hw DelayDense) on the fpga target, bit- and cycle-exact.

Random DelayDense graphs (delays 0..62, several delay groups per core, weight_exp < 0 so each
group's floor matters, recurrent DelayDense, populations split over cores) run in Icarus equal to
the emulator (whose `_DelayDense` is the Lava-checked rule, tests/test_lava_differential.py) and
the cycle model: u and v of every neuron after every tick, every spike's cycle stamp, every
step's end and the total cycles. A residual skip net lowered from an nn graph runs on the fpga
equal to the emulator and to the float reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_fpga_cosim import assert_lint_clean, assert_same, cosim

from snncompile.backends import fpga
from snncompile.backends.fpga.plan import make_plan
from snncompile.backends.fpga.rtl import render
from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.partition import core_model
from snncompile.passes import lower_to_hw
from snncompile.sim.emulator import run_emulator
from snncompile.sim.emulator import simulate as emulate
from snncompile.sim.reference import run_reference
from snncompile.sim.timing import latency
from snncompile.target import load_target


def _lif(rng: np.random.Generator, n: int) -> hw.LIF:
    return hw.LIF(shape=(n,), du=int(rng.choice([4095, rng.integers(0, 4096)])),
                  dv=int(rng.choice([0, rng.integers(0, 4096)])), vth=int(rng.integers(0, 60)),
                  bias_mant=rng.integers(-20, 20, size=n) * (rng.random() < 0.5),
                  bias_exp=np.zeros(n, np.int64), reset=str(rng.choice(["zero", "subtract"])))


def _delay_dense(rng: np.random.Generator, n_dst: int, n_src: int, top: int) -> hw.DelayDense:
    """Weights near the LSB grid and weight_exp < 0 (mostly), so a per-group floor differs from
    a floor of the summed groups; 1..5 distinct delays drawn from 0..top."""
    levels = rng.choice(np.arange(top + 1), size=min(int(rng.integers(1, 6)), top + 1),
                        replace=False)
    if rng.random() < 0.5:
        levels[0] = top  # the longest line is used often
    return hw.DelayDense(weights=rng.integers(-90, 120, size=(n_dst, n_src)),
                         weight_exp=int(rng.choice([-3, -2, -1, -1, 0, 1])),
                         delays=rng.choice(levels, size=(n_dst, n_src)).astype(np.int64))


def delay_graph(rng: np.random.Generator, top: int) -> Graph:
    """in -> 1..2 LIF layers, each fed by a DelayDense (sometimes plus a plain Dense from the same
    source), sometimes a recurrent DelayDense -> out."""
    n_in = int(rng.integers(2, 9))
    nodes: dict = {"in": hw.SpikeInput(shape=(n_in,))}
    edges: list = []
    prev, n_prev = "in", n_in
    for i in range(int(rng.integers(1, 3))):
        n = int(rng.integers(2, 9))
        name = f"lif{i}"
        nodes[name] = _lif(rng, n)
        nodes[f"d{i}"] = _delay_dense(rng, n, n_prev, top)
        edges += [(prev, f"d{i}"), (f"d{i}", name)]
        if rng.random() < 0.4:
            nodes[f"r{i}"] = _delay_dense(rng, n, n, top)  # recurrence through delay lines
            edges += [(name, f"r{i}"), (f"r{i}", name)]
        if rng.random() < 0.3:
            nodes[f"p{i}"] = hw.Dense(weights=rng.integers(-60, 60, size=(n, n_prev)),
                                      weight_exp=-1)
            edges += [(prev, f"p{i}"), (f"p{i}", name)]
        prev, n_prev = name, n
    nodes["out"] = hw.SpikeOutput(shape=(n_prev,))
    edges.append((prev, "out"))
    return check(Graph(level="hw", nodes=nodes, edges=tuple(edges)))


def _input(rng, batch, steps, n_in, rate=0.5):
    return (rng.random((batch, steps, n_in)) < rate).astype(np.int8)


@pytest.mark.parametrize("seed", range(10))
def test_random_delay_graph_icarus_equals_model(seed, tmp_path):
    """Seeds 0..5: delays up to 5; 6..9: up to 62, run past the longest line."""
    rng = np.random.default_rng(100 + seed)
    top = 5 if seed < 6 else 62
    graph = delay_graph(rng, top)
    steps = int(rng.integers(6, 12)) if top == 5 else 68
    x = _input(rng, int(rng.integers(1, 3)), min(steps - 1, 8), graph.shapes["in"][0])
    cores = core_model("fpga", neurons=3) if seed % 3 == 2 else None
    plan, want, got = cosim(graph, x, steps, tmp_path, cores=cores)
    assert_same(want, got)
    groups = [g for c in plan.cores for g in c.groups if g.kind == "delay"]
    assert groups and max(g.max_delay for g in groups) <= top
    assert len(want.state) == len(x) * steps * sum(c.n for c in plan.cores)


def test_late_spikes_and_group_floors_are_exercised(tmp_path):
    """The random graphs above really test what they claim: a spike arrives 62 steps after its
    send (the output spikes long after the input ends), cores hold several delay groups, and a
    per-group floor differs from the floor of the summed groups."""
    z = np.zeros(2, np.int64)
    w = np.array([[3, 3, 0], [0, 0, 5]])
    delays = np.array([[0, 4, 0], [0, 0, 62]])
    nodes = {"in": hw.SpikeInput(shape=(3,)),
             "d": hw.DelayDense(weights=w, weight_exp=-1, delays=delays),
             "l": hw.LIF(shape=(2,), du=4095, dv=0, vth=0, bias_mant=z, bias_exp=z),
             "out": hw.SpikeOutput(shape=(2,))}
    graph = check(Graph(level="hw", nodes=nodes,
                        edges=(("in", "d"), ("d", "l"), ("l", "out"))))
    x = np.zeros((1, 5, 3), np.int8)
    x[0, 0] = 1
    x[0, 4, 0] = 1  # arrives at step 6 through delay 0, with step 1's spike through delay 4
    plan, want, got = cosim(graph, x, 66, tmp_path)
    assert_same(want, got)
    # du = 4095: u = a_in << 6. Step 2: 3 >> 1 = 1; step 6: (3 >> 1) + (3 >> 1) = 2, not
    # (3 + 3) >> 1 = 3 (one floor per delay group); neuron 1: 5 >> 1 = 2 at step 64 only
    u = emulate(graph, x, 66, record=True).u["l"][0]
    assert (u[:, 0] != 0).nonzero()[0].tolist() == [1, 5]
    assert u[1, 0] == 1 << 6 and u[5, 0] == 2 << 6
    assert (u[:, 1] != 0).nonzero()[0].tolist() == [63] and u[63, 1] == 2 << 6
    assert plan.cores[0].groups[0].delay_set == (0, 4, 62)
    assert want.stamps[-1, 4] == 64  # neuron 1 spikes at hw step 64, the line's far end


def test_delay_rtl_lints_clean_and_is_stable(tmp_path):
    for seed in (1, 7, 8):
        graph = delay_graph(np.random.default_rng(100 + seed), 62 if seed > 5 else 5)
        files = render(make_plan(graph))
        assert files == render(make_plan(graph))
        assert any("DelayDense" in body for name, body in files.items() if name.endswith(".v"))
        assert_lint_clean(tmp_path, files)


def _skip_net(rng: np.random.Generator) -> Graph:
    """fc1 -> lif1 -> fc2 -> lif2 plus fc3 from the input to lif2 (a skip over lif1)."""
    n = 3

    def if_():
        return nn.IF(r=np.ones(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    nodes = {"in": nn.Input((4,)), "fc1": nn.Linear(rng.choice([-0.5, 0.25, 0.5], (n, 4))),
             "lif1": if_(), "fc2": nn.Linear(rng.choice([-0.5, 0.25, 0.5], (n, n))),
             "lif2": if_(), "fc3": nn.Linear(rng.choice([-0.5, 0.25, 0.5], (n, 4))),
             "out": nn.Output((n,))}
    edges = (("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "out"),
             ("in", "fc3"), ("fc3", "lif2"))
    return Graph("nn", nodes, edges, dt=1e-3)


def test_residual_skip_net_runs_on_the_fpga_like_the_emulator(tmp_path):
    """The lowering pads the skip with a DelayDense (delay 1); the fpga build of that hw graph
    equals the emulator + cycle model in Icarus, and its nn-time outputs (fpga.run) equal the
    emulator's and the float reference's (exact weights)."""
    rng = np.random.default_rng(11)
    g = _skip_net(rng)
    hw_graph, _ = lower_to_hw(g, load_target("emu"))
    assert isinstance(hw_graph.nodes["fc3"], hw.DelayDense)
    x = _input(rng, 3, 12, 4, 0.4)
    _, want, got = cosim(hw_graph, x, x.shape[1] + latency(hw_graph), tmp_path)
    assert_same(want, got)
    spikes, _ = fpga.run(tmp_path / "build", {}, x)  # the build cosim wrote
    emu = run_emulator(hw_graph, x).outputs["out"]
    np.testing.assert_array_equal(spikes, emu)
    np.testing.assert_array_equal(emu, run_reference(g, x.astype(np.float64))["out"])
    assert emu.any() and emu.sum() < emu.size


def test_split_recurrent_delay_population(tmp_path):
    """A recurrent DelayDense population of 7 or more over 3-neuron cores: each core holds its
    neurons' rows, accumulators and delay lines, and every block of the source feeds each."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        graph = delay_graph(rng, 9)
        if any(n.startswith("r") for n in graph.nodes) and max(
                graph.nodes[n].shape[0] for n in graph.of_kind("neuron")) >= 7:
            break
    x = _input(rng, 2, 8, graph.shapes["in"][0])
    plan, want, got = cosim(graph, x, 14, tmp_path, cores=core_model("fpga", neurons=3))
    assert_same(want, got)
    assert len(plan.cores) >= len(graph.of_kind("neuron")) + 2
    assert len(want.stamps) > 0


def test_delay_outside_the_line_is_refused_by_name():
    """An unchecked graph with a delay of 63 (check() refuses it first in the normal flow)."""
    z = np.zeros(1, np.int64)
    graph = Graph(level="hw", nodes={
        "in": hw.SpikeInput(shape=(2,)),
        "d": hw.DelayDense(weights=np.ones((1, 2), np.int64), delays=np.array([[0, 63]])),
        "l": hw.LIF(shape=(1,), du=0, dv=0, vth=1, bias_mant=z, bias_exp=z),
        "out": hw.SpikeOutput(shape=(1,))}, edges=(("in", "d"), ("d", "l"), ("l", "out")))
    with pytest.raises(SnnCompileError, match=r"DelayDense 'd' has delay 63, outside"):
        make_plan(graph)
