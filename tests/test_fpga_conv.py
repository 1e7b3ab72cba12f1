"""Conv on the fpga: the kernel walker against torch, and random conv graphs in Icarus.

The walker's (target, weight) list of every input axon is compared with the columns of torch's
conv2d applied to one-hot inputs (an independent implementation of the convolution), for random
shapes, strides, paddings and groups. Random Conv -> LIF graphs (with a Dense head, recurrent
Convs, 24-bit wrap-heavy kernels) then run in Icarus: u and v of every neuron after every tick,
every spike's cycle stamp and the total cycles equal the emulator + cycle model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_fpga_cosim import assert_lint_clean, assert_same, cosim

from snncompile.backends.fpga.conv import conv_group
from snncompile.backends.fpga.plan import make_plan, pass_len
from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import simulate as emulate


def random_conv(rng: np.random.Generator, c: int, h: int, w: int, big: int, lo: int | None = None):
    """A Conv op whose output is at least 1 x 1, and its output shape; weights in [lo, big]."""
    while True:
        groups = int(rng.choice([1, 1, 2])) if c % 2 == 0 else 1
        co = groups * int(rng.integers(1, 4))
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        sy, sx = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        py, px = int(rng.integers(0, kh)), int(rng.integers(0, kw))
        if h + 2 * py >= kh and w + 2 * px >= kw:
            break
    weight = rng.integers(-big if lo is None else lo, big + 1, size=(co, c // groups, kh, kw))
    op = hw.Conv(weight=weight, stride=(sy, sx), padding=(py, px), groups=groups)
    return op, op.output_shape((c, h, w))


def torch_matrix(op: hw.Conv, in_shape) -> np.ndarray:
    """(n_in, n_out) integer matrix of the convolution, from torch conv2d of one-hot inputs."""
    n_in = int(np.prod(in_shape))
    eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
    y = torch.nn.functional.conv2d(eye, torch.from_numpy(np.asarray(op.weight, np.float64)),
                                   stride=op.stride, padding=op.padding, groups=op.groups)
    return np.rint(y.reshape(n_in, -1).numpy()).astype(np.int64)


@pytest.mark.parametrize("seed", range(40))
def test_walker_equals_torch_conv(seed):
    rng = np.random.default_rng(1000 + seed)
    c = int(rng.integers(1, 5))
    h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    op, out = random_conv(rng, c, h, w, 9)
    g = conv_group("c", op, 0, 0, (c, h, w), out)
    want = torch_matrix(op, (c, h, w))
    n_real = np.count_nonzero(torch_matrix(hw.Conv(weight=np.ones_like(op.weight), stride=op.stride,
                                                   padding=op.padding, groups=op.groups),
                                           (c, h, w)))
    n_walked = 0
    for a in range(c * h * w):
        pairs = g.synapses(a)
        targets = [t for t, _ in pairs]
        assert len(set(targets)) == len(targets)  # no read-modify-write hazard in a pass
        got = np.zeros(want.shape[1], np.int64)
        for t, wt in pairs:
            got[t] += wt
        np.testing.assert_array_equal(got, want[a])
        n_walked += len(pairs)
    assert n_walked == n_real  # exactly the real synapses are written, no padding taps
    assert g.walk_len >= max(len(g.synapses(a)) for a in range(c * h * w))


def conv_graph(rng: np.random.Generator, regime: str = "normal") -> Graph:
    """input (C, H, W) -> Conv -> LIF [-> Conv -> LIF] [-> Dense -> LIF] -> output; "wrap" uses
    kernels large enough that the 24-bit conv sum wraps."""
    wrap = regime == "wrap"
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(2, 8)), int(rng.integers(2, 8))
    nodes: dict = {"in": hw.SpikeInput(shape=(c, h, w))}
    edges: list = []
    prev, shape = "in", (c, h, w)

    def lif(shape, i):
        n = int(np.prod(shape))
        zero = np.zeros(n, np.int64)
        mant = rng.integers(-300, 300, size=n) if rng.random() < 0.4 else zero
        return hw.LIF(shape=tuple(shape), du=int(rng.choice([-1, 4095, rng.integers(0, 4096)])),
                      dv=int(rng.choice([0, rng.integers(0, 4096)])),
                      vth=int(rng.integers(0, 60 if not wrap else 40000)),
                      bias_mant=mant.reshape(shape), bias_exp=zero.reshape(shape),
                      reset=str(rng.choice(["zero", "subtract"])))

    for i in range(int(rng.integers(1, 3))):
        big = 2**22 if wrap else int(rng.integers(5, 120))
        op, out = random_conv(rng, shape[0], shape[1], shape[2], big, -big // 4 if wrap else None)
        nodes[f"c{i}"], nodes[f"l{i}"] = op, lif(out, i)
        edges += [(prev, f"c{i}"), (f"c{i}", f"l{i}")]
        if rng.random() < 0.3:  # a recurrent 3 x 3 "same" Conv group next to the first one
            k = out[0]
            nodes[f"r{i}"] = hw.Conv(weight=rng.integers(-40, 41, size=(k, k, 3, 3)),
                                     padding=(1, 1))
            edges += [(f"l{i}", f"r{i}"), (f"r{i}", f"l{i}")]
        prev, shape = f"l{i}", out
    if rng.random() < 0.5:
        n, m = int(np.prod(shape)), int(rng.integers(1, 6))
        nodes["d"] = hw.Dense(weights=rng.integers(-100, 120, size=(m, n)), weight_exp=1)
        nodes["ld"] = lif((m,), 9)
        edges += [(prev, "d"), ("d", "ld")]
        prev, shape = "ld", (m,)
    nodes["out"] = hw.SpikeOutput(shape=tuple(shape))
    edges.append((prev, "out"))
    return check(Graph(level="hw", nodes=nodes, edges=tuple(edges)))


@pytest.mark.parametrize("seed", range(24))
def test_random_conv_graph_icarus_equals_model(seed, tmp_path):
    rng = np.random.default_rng(seed)
    graph = conv_graph(rng, "wrap" if seed % 4 == 3 else "normal")
    in_shape = graph.shapes["in"]
    batch, steps = int(rng.integers(1, 3)), int(rng.integers(3, 8))
    x = (rng.random((batch, steps - 1, *in_shape)) < rng.uniform(0.1, 0.6)).astype(np.int8)
    plan, want, got = cosim(graph, x, steps, tmp_path)
    assert_same(want, got)
    conv_cores = [c for c in plan.cores if any(g.kind == "conv" for g in c.groups)]
    assert conv_cores
    # the input event pass is the kernel walk, not a sweep of all neurons
    first = next(g for g in conv_cores[0].groups if g.source == 0)
    assert plan.event_len[0] == pass_len(conv_cores[0], first) + plan.timing["pass_overhead"]


def test_wrap_graphs_really_wrap():
    """The "wrap" regime drives the 24-bit conv sum past its range (else the cosim is weak)."""
    kinds = set()
    for seed in range(3, 24, 4):
        rng = np.random.default_rng(seed)
        graph = conv_graph(rng, "wrap")
        x = np.ones((1, 4, *graph.shapes["in"]), np.int8)
        kinds |= {e.kind for e in emulate(graph, x, 6, strict=True).events}
    assert "conv_wrap" in kinds


def test_conv_refusals_name_the_node():
    zero = np.zeros((1, 2, 2), np.int64)
    lif = hw.LIF(shape=(1, 2, 2), du=0, dv=0, vth=1, bias_mant=zero, bias_exp=zero)
    dil = Graph(level="hw", nodes={
        "in": hw.SpikeInput(shape=(1, 4, 4)),
        "c": hw.Conv(weight=np.ones((1, 1, 2, 2), np.int64), dilation=(2, 2)),
        "l": lif, "out": hw.SpikeOutput(shape=(1, 2, 2))},
        edges=(("in", "c"), ("c", "l"), ("l", "out")))
    with pytest.raises(UnsupportedOp, match="'c'.*dilation"):
        make_plan(dil)
    both = Graph(level="hw", nodes={
        "in": hw.SpikeInput(shape=(1, 3, 3)),
        "c": hw.Conv(weight=np.ones((1, 1, 2, 2), np.int64)),
        "d": hw.Conv(weight=-np.ones((1, 1, 2, 2), np.int64)),
        "l": lif, "out": hw.SpikeOutput(shape=(1, 2, 2))},
        edges=(("in", "c"), ("in", "d"), ("c", "l"), ("d", "l"), ("l", "out")))
    with pytest.raises(SnnCompileError, match="'c'"):
        make_plan(both)


def test_conv_rtl_lint_wall_clean_and_stable(tmp_path):
    from snncompile.backends.fpga.rtl import render

    for seed in (1, 3, 6):
        graph = conv_graph(np.random.default_rng(seed), "normal")
        files = render(make_plan(graph))
        assert files == render(make_plan(graph))  # byte-identical from run to run
        assert_lint_clean(tmp_path, files)


def test_nir_paper_cnn_compiles_lints_and_simulates(third_party, tmp_path):
    """The NIR paper's CNN (conv + sum pooling fused into conv, flatten, dense) through the CLI's
    path to fpga: lint-clean, and one random N-MNIST-shaped sample, 4 steps (+5 pipeline steps),
    in Icarus equals the emulator: every neuron's u and v after every tick, every spike's cycle
    stamp, the total cycles."""
    from snncompile import api

    graph, _ = api.lower(api.load(third_party / "nir-paper" / "02_cnn" / "cnn_sinabs.nir"), "fpga")
    plan = make_plan(graph)
    assert [g.kind for c in plan.cores for g in c.groups] == ["conv"] * 3 + ["dense"] * 2
    # one input event walks 16 channels x 3 x 3 taps, not 4096 neurons
    assert plan.event_len[:3] == (145, 145, 73)
    x = (np.random.default_rng(1).random((1, 4, *graph.shapes[graph.inputs[0]])) < 0.08
         ).astype(np.int8)
    steps = x.shape[1] + 5
    plan, want, got = cosim(graph, x, steps, tmp_path)
    assert_same(want, got)
    assert len(want.stamps) > 100 and want.spikes(plan.output_core, 10, 1, steps).any()
    rtl = tmp_path / "build" / "rtl"
    assert_lint_clean(rtl, sources=["snn_top.v", "snn_fifo.v",
                                    *(f"snn_core{i}.v" for i in range(5))])


def test_a_wrong_conv_wrap_is_caught(monkeypatch, tmp_path):
    """Mutation check: an RTL whose conv accumulator wraps at 25 bits instead of 24 differs from
    the emulator on a graph whose conv sums wrap (so the cosim above can see the wrap)."""
    import snncompile.backends.fpga.conv as fc

    for seed in range(3, 40, 4):
        graph = conv_graph(np.random.default_rng(seed), "wrap")
        x = np.ones((1, 3, *graph.shapes["in"]), np.int8)
        if any(e.kind == "conv_wrap" for e in emulate(graph, x, 5, strict=True).events):
            break
    _, want, got = cosim(graph, x, 5, tmp_path / "right")
    assert_same(want, got)
    monkeypatch.setattr(fc, "CONV_BITS", 25)
    _, want, got = cosim(graph, x, 5, tmp_path / "wrong")
    rtl = got.state[np.lexsort(got.state[:, :4].T[::-1])]
    assert rtl.shape == want.state.shape and not np.array_equal(rtl, want.state)

