"""One fpga core per partitioner block: populations larger than neurons_per_core split over cores.

With a lowered neurons_per_core (`core_model("fpga", neurons=...)`, passed to `fpga.write`), Dense,
recurrent and Conv populations become several cores; every source block sends wire indices to
every core reading its population. In Icarus, u and v of every neuron after every tick, every
spike's cycle stamp and the total cycles equal the emulator (which knows nothing of the split) +
the cycle model. The Conv walker of channel / tile blocks is checked against torch's conv2d.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_fpga_conv import conv_graph, random_conv, torch_matrix
from test_fpga_cosim import assert_lint_clean, assert_same, cosim, random_graph

from snncompile.backends import fpga
from snncompile.backends.fpga.blocks import Block
from snncompile.backends.fpga.conv import conv_group
from snncompile.backends.fpga.plan import make_plan
from snncompile.errors import UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.partition import core_model
from snncompile.sim.emulator import run_emulator


def split_cores(plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in plan.cores:
        counts[c.name] = counts.get(c.name, 0) + 1
    return counts


def recurrent_chain(rng: np.random.Generator) -> Graph:
    """in (13) -> Dense -> A (11, recurrent, subtract reset) -> Dense -> B (9) -> out: with 4
    neurons per core A is 3 cores reading itself and B's cores read all three of A's blocks."""
    def lif(n, reset):
        return hw.LIF(shape=(n,), du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                      vth=int(rng.integers(20, 300)), bias_mant=rng.integers(-50, 200, size=n),
                      bias_exp=np.full(n, 2), reset=reset)
    nodes = {"in": hw.SpikeInput(shape=(13,)),
             "d0": hw.Dense(weights=rng.integers(-200, 256, size=(11, 13)), weight_exp=1),
             "A": lif(11, "subtract"),
             "r": hw.Dense(weights=rng.integers(-256, 200, size=(11, 11)), weight_exp=-1),
             "d1": hw.Dense(weights=rng.integers(-150, 256, size=(9, 11)), weight_exp=2),
             "B": lif(9, "zero"), "out": hw.SpikeOutput(shape=(9,))}
    edges = [("in", "d0"), ("d0", "A"), ("A", "r"), ("r", "A"), ("A", "d1"), ("d1", "B"),
             ("B", "out")]
    return check(Graph(level="hw", nodes=nodes, edges=tuple(edges)))


def test_default_target_keeps_one_core_per_population():
    graph = recurrent_chain(np.random.default_rng(0))
    plan = make_plan(graph)
    assert [c.name for c in plan.cores] == ["A", "B"]
    assert all(np.array_equal(c.neurons, np.arange(c.n)) for c in plan.cores)
    assert all(len(g.feeds) == 1 for c in plan.cores for g in c.groups)


def test_recurrent_split_population_icarus_equals_model(tmp_path):
    rng = np.random.default_rng(7)
    graph = recurrent_chain(rng)
    cores = core_model("fpga", neurons=4)
    x = (rng.random((2, 6, 13)) < 0.5).astype(np.int8)
    plan, want, got = cosim(graph, x, 9, tmp_path, cores=cores)
    assert split_cores(plan) == {"A": 3, "B": 3}
    assert max(c.n for c in plan.cores) == 4
    # B's cores and A's own (recurrent) groups each read all three blocks of A
    assert sorted(len(g.feeds) for c in plan.cores for g in c.groups) == [1, 1, 1, 3, 3, 3, 3, 3, 3]
    assert_same(want, got)
    assert len(want.stamps) > 20  # spikes really flow through the split cores
    # the build keeps the limits: run() rebuilds the same plan and equals the emulator
    out, _ = fpga.run(tmp_path / "build", {}, x[:, :5])
    emu = run_emulator(graph, x[:, :5]).outputs["out"]
    assert emu.any()
    np.testing.assert_array_equal(out, emu)
    placed = json.loads((tmp_path / "build" / "placement.json").read_text())
    assert sum(len(c["blocks"]) for c in placed["cores"]) == len(plan.cores)
    readme = (tmp_path / "build" / "README.md").read_text()
    assert "wire offsets 0, 4, 8" in readme


@pytest.mark.parametrize("seed", range(8))
def test_random_split_graphs_icarus_equal_model(seed, tmp_path):
    rng = np.random.default_rng(500 + seed)
    graph = random_graph(rng, ("normal", "stress", "lsb")[seed % 3], max_n=16)
    cores = core_model("fpga", neurons=int(rng.integers(3, 7)))
    batch, steps = int(rng.integers(1, 3)), int(rng.integers(3, 8))
    x = (rng.random((batch, steps - 1, *graph.shapes["in"])) < 0.4).astype(np.int8)
    plan, want, got = cosim(graph, x, steps, tmp_path, cores=cores)
    assert max(c.n for c in plan.cores) <= cores.neurons
    assert_same(want, got)


def test_random_split_graphs_do_split():
    """The seeds above really split populations and feed cores from several source blocks."""
    multi = split = 0
    for seed in range(8):
        rng = np.random.default_rng(500 + seed)
        graph = random_graph(rng, ("normal", "stress", "lsb")[seed % 3], max_n=16)
        plan = make_plan(graph, core_model("fpga", neurons=int(rng.integers(3, 7))))
        split += max(split_cores(plan).values()) > 1
        multi += any(len(g.feeds) > 1 for c in plan.cores for g in c.groups)
    assert split >= 6 and multi >= 4


@pytest.mark.parametrize("seed", range(6))
def test_conv_tiles_icarus_equal_model(seed, tmp_path):
    """Conv layers cut into rectangles of whole strip rows (and channel blocks when one position
    of all channels does not fit), recurrent 3 x 3 Convs and a Dense head reading every tile."""
    rng = np.random.default_rng(40 + seed)
    for _ in range(50):
        graph = conv_graph(rng, "wrap" if seed == 5 else "normal")
        conv = [n for n in graph.of_kind("neuron") if n.startswith("l")]
        if max(int(np.prod(graph.shapes[n])) for n in conv) >= 12:
            break
    sizes = [int(np.prod(graph.shapes[n])) for n in graph.of_kind("neuron")]
    cores = core_model("fpga", neurons=max(2, max(sizes) // 3))
    batch, steps = 1, int(rng.integers(3, 6))
    x = (rng.random((batch, steps - 1, *graph.shapes["in"])) < 0.4).astype(np.int8)
    plan, want, got = cosim(graph, x, steps, tmp_path, cores=cores)
    assert max(split_cores(plan).values()) >= 2
    assert any(g.kind == "conv" and c.n < int(np.prod(graph.shapes[c.name]))
               for c in plan.cores for g in c.groups)
    assert_same(want, got)


def test_conv_channel_blocks_with_groups_icarus_equal_model(tmp_path):
    """16 output channels, groups 2 and 4, 12 neurons per core: channel blocks of 8 channels x one
    position each; a grouped Conv into each; a second grouped Conv reads every block."""
    rng = np.random.default_rng(3)
    zero = np.zeros((16, 2, 2), np.int64)

    def lif():
        return hw.LIF(shape=(16, 2, 2), du=300, dv=200, vth=30, bias_mant=zero, bias_exp=zero)
    nodes = {"in": hw.SpikeInput(shape=(4, 3, 3)),
             "c0": hw.Conv(weight=rng.integers(-60, 90, size=(16, 2, 2, 2)), groups=2),
             "l0": lif(),
             "c1": hw.Conv(weight=rng.integers(-60, 90, size=(16, 4, 3, 3)), padding=(1, 1),
                           groups=4),
             "l1": lif(), "out": hw.SpikeOutput(shape=(16, 2, 2))}
    edges = [("in", "c0"), ("c0", "l0"), ("l0", "c1"), ("c1", "l1"), ("l1", "out")]
    graph = check(Graph(level="hw", nodes=nodes, edges=tuple(edges)))
    x = (rng.random((1, 4, 4, 3, 3)) < 0.5).astype(np.int8)
    plan, want, got = cosim(graph, x, 6, tmp_path, cores=core_model("fpga", neurons=12))
    assert split_cores(plan) == {"l0": 8, "l1": 8}
    assert {c.block.channels for c in plan.cores} == {(0, 8), (8, 16)}
    assert_same(want, got)
    assert len(want.stamps) > 30


@pytest.mark.parametrize("seed", range(20))
def test_block_walkers_equal_torch_conv(seed):
    """Every (channel block x rectangle) walker, put back into global targets, adds up to
    torch's conv2d rows: each synapse exactly once, in the block that holds its target."""
    rng = np.random.default_rng(2000 + seed)
    c = int(rng.choice([2, 4]))
    h, w = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    op, out = random_conv(rng, c, h, w, 9)
    co, oh, ow = out
    cog = co // op.groups
    step = cog if op.groups > 1 and rng.random() < 0.5 else int(rng.integers(1, co + 1))
    if op.groups > 1 and step % cog and cog % step:
        step = cog
    ry, rx = int(rng.integers(1, oh + 1)), int(rng.integers(1, ow + 1))
    wire = rng.permutation(c * h * w)  # a split source's wire order
    want = torch_matrix(op, (c, h, w))[wire]
    got = np.zeros_like(want)
    for c0 in range(0, co, step):
        c1 = min(co, c0 + step)
        for r0 in range(0, oh, ry):
            for x0 in range(0, ow, rx):
                tile = (r0, min(oh, r0 + ry), x0, min(ow, x0 + rx))
                try:
                    g = conv_group("c", op, 0, 0, (c, h, w), out, channels=(c0, c1), tile=tile,
                                   wire=wire)
                except UnsupportedOp as err:  # a last channel block that cuts a group unevenly
                    assert "unevenly" in str(err) and op.groups > 1
                    return
                th, tw = tile[1] - tile[0], tile[3] - tile[2]
                for a in range(c * h * w):
                    pairs = g.synapses(a)
                    assert len({t for t, _ in pairs}) == len(pairs)
                    for t, wt in pairs:
                        ch, rest = divmod(t, th * tw)
                        y, x = divmod(rest, tw)
                        got[a, ((c0 + ch) * oh + tile[0] + y) * ow + tile[2] + x] += wt
    np.testing.assert_array_equal(got, want)


def test_uneven_group_block_is_refused_by_name():
    op = hw.Conv(weight=np.ones((8, 1, 3, 3), np.int64), groups=2)
    with pytest.raises(UnsupportedOp, match=r"Conv 'cv'.*unevenly"):
        conv_group("cv", op, 0, 0, (2, 5, 5), (8, 3, 3), channels=(2, 5))


def test_non_rectangular_conv_block_is_refused_by_name():
    """Without conv_row_tiles the partitioner may end a block mid-row: refused, naming the Conv."""
    zero = np.zeros((1, 5, 5), np.int64)
    nodes = {"in": hw.SpikeInput(shape=(1, 5, 5)),
             "cv": hw.Conv(weight=np.ones((1, 1, 3, 3), np.int64), padding=(1, 1)),
             "l": hw.LIF(shape=(1, 5, 5), du=0, dv=0, vth=1, bias_mant=zero, bias_exp=zero),
             "out": hw.SpikeOutput(shape=(1, 5, 5))}
    graph = check(Graph(level="hw", nodes=nodes, edges=(("in", "cv"), ("cv", "l"),
                                                        ("l", "out"))))
    with pytest.raises(UnsupportedOp, match=r"Conv 'cv' feeds block .* not a rectangle"):
        make_plan(graph, core_model("fpga", neurons=7, row_tiles=False))
    plan = make_plan(graph, core_model("fpga", neurons=7))  # whole rows: 5 + 5 + 5 + 5 + 5
    assert [c.n for c in plan.cores] == [5, 5, 5, 5, 5]
    assert isinstance(plan.cores[0].block, Block)


def test_estimate_cycles_follow_the_blocks():
    """The estimate's fpga time (estimate/latency.fpga_time on measured activity) counts each
    block core's own spikes: one sample, so it equals the cycle model's steps exactly."""
    from snncompile.estimate.activity import measure
    from snncompile.estimate.latency import fpga_time
    from snncompile.sim.cycles import cycle_trace
    from snncompile.sim.emulator import simulate
    from snncompile.sim.timing import latency

    rng = np.random.default_rng(11)
    graph = recurrent_chain(rng)
    plan = make_plan(graph, core_model("fpga", neurons=4))
    x = (rng.random((1, 6, 13)) < 0.5).astype(np.int8)
    steps = 6 + latency(graph)
    trace = cycle_trace(plan, x, simulate(graph, x, steps).spikes)
    starts = np.concatenate([[trace.clear[0] + 1 + plan.clear_len], trace.step_end[0, :-1] + 1])
    got = fpga_time(measure(graph, x), plan)["cycles_per_step"]
    np.testing.assert_array_equal(got, trace.step_end[0] - starts + 1)


@pytest.mark.parametrize("which", ["dense", "conv"])
def test_split_rtl_lint_wall_clean_and_stable(which, tmp_path):
    """Wire-index muxes, offset adders and per-block output lanes stay `-Wall` clean."""

    from snncompile.backends.fpga.rtl import render

    rng = np.random.default_rng(5)
    graph = recurrent_chain(rng) if which == "dense" else conv_graph(rng)
    sizes = [int(np.prod(graph.shapes[n])) for n in graph.of_kind("neuron")]
    cores = core_model("fpga", neurons=4 if which == "dense" else max(2, max(sizes) // 3))
    files = render(make_plan(graph, cores))
    assert files == render(make_plan(graph, cores))  # byte-identical from run to run
    assert len(make_plan(graph, cores).cores) > len(sizes)
    assert_lint_clean(tmp_path, files)
