"""Lowering: chains fold exactly into one synapse, pipeline rules name the offending edge, and the
emulator follows the float reference (exactly where the numbers are representable)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snncompile.errors import UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.ir.graph import Graph
from snncompile.ir.lowered_ops import GroupedConv, GroupedDense
from snncompile.passes import Lower, Quantize, lower_to_hw
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.sim.timing import synaptic_depths
from snncompile.target import load_target

TARGET = load_target("emu")
RNG = np.random.default_rng(7)


def if_(shape, r=1.0, thr=1.0, **kw):
    n = shape if isinstance(shape, tuple) else (shape,)
    args = {"r": np.full(n, r), "v_threshold": np.full(n, thr), "v_reset": np.zeros(n)}
    args.update(kw)
    return nn.IF(**args)


def lif(n, tau=10e-3, r=10.0):
    return nn.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))


def cuba(n, tau_syn=5e-3, tau_mem=10e-3):
    return nn.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, 10.0),
                      v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                      w_in=np.full(n, tau_syn / 1e-3))


def chain(*named, shape=(4,), dt=1e-3, extra=(), extra_nodes=None) -> Graph:
    """in -> named ops in a row -> out, plus extra nodes and edges."""
    nodes, edges, prev = {"in": nn.Input(shape)}, [], "in"
    for name, op in named:
        nodes[name] = op
        edges.append((prev, name))
        prev = name
    nodes.update(extra_nodes or {})
    nodes["out"] = nn.Output(())
    edges.append((prev, "out"))
    g = Graph("nn", nodes, tuple(edges) + tuple(extra), dt=dt)
    nodes["out"] = nn.Output(tuple(g.shapes[prev]))
    return Graph("nn", nodes, tuple(edges) + tuple(extra), dt=dt)


@pytest.mark.parametrize("pool_cls, dilation, padding", [(nn.SumPool2d, 1, 1), (nn.AvgPool2d, 2, 0),
                                                        (nn.SumPool2d, 1, 0)])
def test_pool_conv_fusion_is_exact(pool_cls, dilation, padding):
    w = RNG.integers(-5, 6, (3, 2, 3, 2)).astype(float) * 4  # x4: AvgPool's 1/4 stays an integer
    conv = nn.Conv2d(w, np.zeros(3), stride=(1, 2), padding=(padding, padding),
                     dilation=(dilation, dilation))
    g = chain(("pool", pool_cls((2, 2), (2, 2))), ("conv", conv), ("if1", if_((3, 1, 1))),
              shape=(2, 12, 16))
    low = Lower()(g)
    (syn,) = [op for op in low.nodes.values() if op.kind == "synapse"]
    assert isinstance(syn, GroupedConv) and low.nodes["conv"] is syn and syn.dilation == (1, 1)
    x = torch.from_numpy(RNG.integers(0, 2, (5, 2, 12, 16)).astype(np.float64))
    pooled = F.avg_pool2d(x, 2, 2, divisor_override=1 if pool_cls is nn.SumPool2d else None)
    want = F.conv2d(pooled, torch.from_numpy(w), stride=(1, 2), padding=padding, dilation=dilation)
    got = F.conv2d(x, torch.tensor(syn.weight), stride=syn.stride, padding=syn.padding)
    assert torch.equal(got, want)
    hw_graph, _ = lower_to_hw(g, TARGET)
    assert isinstance(hw_graph.nodes["conv"], hw.Conv)
    assert hw_graph.nodes["if1"].shape == (3, *want.shape[2:])


def test_pool_conv_fusion_needs_divisible_input():
    conv = nn.Conv2d(np.ones((1, 1, 2, 2)), np.zeros(1))
    g = chain(("pool", nn.SumPool2d((2, 2), (2, 2))), ("conv", conv), ("if1", if_((1, 1, 1))),
              shape=(1, 7, 8))
    with pytest.raises(UnsupportedOp, match=r"node 'pool' \(SumPool2d\).*7x8 and kernel 2x2"):
        Lower()(g)


def test_chain_composition_is_exact():
    lin = nn.Linear(RNG.integers(-3, 4, (5, 18)).astype(float))
    scale = nn.Scale(np.array([1.0, -2.0, 0.5, 4.0, 1.0]))
    aff = nn.Affine(RNG.integers(-3, 4, (4, 5)).astype(float), np.array([0.5, -1.0, 0.0, 2.0]))
    g = chain(("flat", nn.Flatten()), ("lin", lin), ("scale", scale), ("aff", aff),
              ("if1", if_(4)), shape=(2, 3, 3))
    low = Lower()(g)
    (syn,) = [op for op in low.nodes.values() if op.kind == "synapse"]
    assert isinstance(syn, GroupedDense) and low.nodes["aff"] is syn
    assert syn.chain == ("flat", "lin", "scale", "aff")
    x = RNG.integers(0, 2, (20, 18)).astype(float)
    want = ((x @ lin.weight.T) * scale.scale) @ aff.weight.T
    np.testing.assert_array_equal(x @ syn.weight.T, want)
    np.testing.assert_array_equal(low.nodes["if1"].bias_now, aff.bias)
    # a conv that cannot stay a conv (scaled after) becomes the equivalent Dense
    conv = nn.Conv2d(RNG.integers(-2, 3, (2, 2, 3, 3)).astype(float), np.array([1.0, -1.0]))
    g = chain(("conv", conv), ("scale", nn.Scale(np.array(3.0))), ("if1", if_((2, 1, 1))),
              shape=(2, 5, 5))
    (syn,) = [op for op in Lower()(g).nodes.values() if op.kind == "synapse"]
    xs = RNG.integers(0, 2, (4, 2, 5, 5)).astype(float)
    kernel = torch.from_numpy(np.array(conv.weight))
    want = 3 * F.conv2d(torch.from_numpy(xs), kernel).numpy().reshape(4, -1)
    assert isinstance(syn, GroupedDense)
    np.testing.assert_array_equal(xs.reshape(4, -1) @ syn.weight.T, want)


def _two_if_layers_plus(src: str, name: str, dst: str, n_in: int) -> Graph:
    """fc1 -> lif1 -> fc2 -> lif2, plus a Linear `name` from src to dst (a skip or a back edge)."""
    return chain(("fc1", nn.Linear(np.ones((3, 4)))), ("lif1", if_(3)),
                 ("fc2", nn.Linear(np.ones((3, 3)))), ("lif2", if_(3)),
                 extra=((src, name), (name, dst)),
                 extra_nodes={name: nn.Linear(np.ones((3, n_in)))})


def test_a_skip_connection_is_delayed_to_meet_the_longer_path():
    """in -> fc3 -> lif2 skips lif1: its synapse becomes a DelayDense with one step of padding, so
    both inputs of lif2's nn step t arrive in the same hw step; exact weights make hw == float."""
    rng = np.random.default_rng(11)  # its own generator: the module RNG feeds later tests
    g = _two_if_layers_plus("in", "fc3", "lif2", 4)
    for name, shape in (("fc1", (3, 4)), ("fc2", (3, 3)), ("fc3", (3, 4))):
        g.nodes[name] = nn.Linear(rng.choice([-0.5, 0.25, 0.5], shape))
    hw_graph, _ = lower_to_hw(g, TARGET)
    skip = hw_graph.nodes["fc3"]
    assert isinstance(skip, hw.DelayDense) and np.all(skip.delays == 1)
    assert hw_graph.meta["pipeline_delay"] == {"fc3": 1}
    assert synaptic_depths(hw_graph)["lif2"] == 2
    x = (rng.random((16, 30, 4)) < 0.4).astype(np.int8)
    ref = run_reference(g, x.astype(np.float64), record=True)
    emu = run_emulator(hw_graph, x, record=True)
    for n in ("lif1", "lif2"):
        np.testing.assert_array_equal(ref[n], emu.spikes[n])
    assert ref["lif2"].any()


def test_a_delayed_skip_runs_on_lava_like_the_emulator(tmp_path):
    from snncompile.backends import loihi2

    rng = np.random.default_rng(12)
    g = _two_if_layers_plus("in", "fc3", "lif2", 4)
    for name, shape in (("fc1", (3, 4)), ("fc2", (3, 3)), ("fc3", (3, 4))):
        g.nodes[name] = nn.Linear(rng.normal(0, 0.6, shape))
    hw_graph, _ = lower_to_hw(g, TARGET)
    loihi2.write(hw_graph, tmp_path)
    x = (rng.random((4, 20, 4)) < 0.4).astype(np.int8)
    spikes, _ = loihi2.run(tmp_path, {"files": {}}, x)
    want = run_emulator(hw_graph, x).outputs["out"]
    np.testing.assert_array_equal(spikes, want)
    assert want.any()


def test_pipeline_errors_name_the_edge():
    with pytest.raises(UnsupportedOp, match=r"edge 'back' -> 'lif1'.*depth 2 \('lif2'\) to depth "
                                            r"1"):
        lower_to_hw(_two_if_layers_plus("lif2", "back", "lif1", 3), TARGET)
    bad_out = chain(("fc1", nn.Linear(np.ones((3, 4)))))
    with pytest.raises(UnsupportedOp, match=r"node 'out' \(Output\).*must come from a spiking"):
        lower_to_hw(bad_out, TARGET)


def agreement(g: Graph, x: np.ndarray, **kw) -> dict[str, float]:
    hw_graph, _ = lower_to_hw(g, TARGET, **kw)
    emu = run_emulator(hw_graph, x, record=True)
    ref = run_reference(g, x.astype(np.float64), record=True)
    layers = [n for n in g.nodes if g.nodes[n].kind == "neuron"]
    (out,) = g.outputs
    assert ref[out].shape == emu.outputs[out].shape
    return {n: float(np.mean(ref[n] == emu.spikes[n])) for n in layers} | {
        out: float(np.mean(ref[out] == emu.outputs[out]))}


@pytest.mark.parametrize("first, second, recurrent", [
    (lif(24), cuba(5), False), (if_(24, r=0.5), lif(5), True), (cuba(24), if_(5), True)])
def test_float_and_emulator_agree(first, second, recurrent):
    extra = (("lif1", "rec"), ("rec", "lif1")) if recurrent else ()
    rec = {"rec": nn.Affine(RNG.normal(0, 0.2, (24, 24)), RNG.normal(0, 0.05, 24))}
    g = chain(("fc1", nn.Affine(RNG.normal(0, 0.5, (24, 16)), RNG.normal(0, 0.05, 24))),
              ("lif1", first), ("fc2", nn.Linear(RNG.normal(0, 0.4, (5, 24)))), ("lif2", second),
              shape=(16,), extra=extra, extra_nodes=rec if recurrent else None)
    x = (RNG.random((32, 40, 16)) < 0.25).astype(np.int8)
    agree = agreement(g, x)
    assert min(agree.values()) >= 0.95, agree


def test_conv_network_agrees():
    g = chain(("conv1", nn.Conv2d(RNG.normal(0, 0.6, (4, 2, 3, 3)), RNG.normal(0, .05, 4),
                                  padding=(1, 1))), ("lif1", lif((4, 6, 6))),
              ("pool", nn.SumPool2d((2, 2), (2, 2))),
              ("conv2", nn.Conv2d(RNG.normal(0, 0.5, (3, 4, 3, 3)), np.zeros(3))),
              ("lif2", lif((3, 1, 1))), ("flat", nn.Flatten()),
              ("fc", nn.Linear(RNG.normal(0, 1, (4, 3)))),
              ("lif3", lif(4)), shape=(2, 6, 6))
    hw_graph, _ = lower_to_hw(g, TARGET)
    assert isinstance(hw_graph.nodes["conv1"], hw.Conv)
    assert isinstance(hw_graph.nodes["conv2"], hw.Conv)
    x = (RNG.random((16, 30, 2, 6, 6)) < 0.3).astype(np.int8)
    agree = agreement(g, x)
    assert min(agree.values()) >= 0.95, agree


def exact_net(bias2, third=False, rec_bias=None):
    """IF layers with weights and biases on a binary grid: quantization is exact, so hw == float."""
    w1 = RNG.choice([-0.5, -0.25, 0.25, 0.5], (5, 6))
    named = [("fc1", nn.Linear(w1)), ("if1", if_(5)),
             ("fc2", nn.Affine(np.zeros((3, 5)), np.array(bias2))), ("if2", if_(3))]
    if third:
        named += [("fc3", nn.Linear(np.full((2, 3), 0.5))), ("if3", if_(2))]
    if rec_bias is None:
        return chain(*named, shape=(6,))
    rec = {"rec": nn.Affine(RNG.choice([-0.25, 0.25], (5, 5)), np.full(5, rec_bias))}
    return chain(*named, shape=(6,), extra=(("if1", "rec"), ("rec", "if1")), extra_nodes=rec)


def test_biased_layer_alignment_is_exact():
    x = (RNG.random((8, 25, 6)) < 0.4).astype(np.int8)
    g = exact_net([0.375, 0.125, 0.5])  # bias only: spikes at nn steps 3, 9, 3 (then every 3/9/3)
    hw_graph, report = lower_to_hw(g, TARGET)
    assert hw_graph.nodes["if2"].reset_offset == 3 and report.layers[1].bias_route == "neuron"
    assert agreement(g, x) == {"if1": 1.0, "if2": 1.0, "out": 1.0}
    spikes = run_emulator(hw_graph, x, record=True).spikes["if2"][0]
    assert np.flatnonzero(spikes[:, 0]).tolist()[:3] == [2, 5, 8]  # 0-based nn steps
    # a bias strong enough to fire before the layer's first input would leak those spikes into
    # if3: it is moved to the bias clock and stays exact
    g = exact_net([0.75, -0.25, 1.5], third=True)
    hw_graph, report = lower_to_hw(g, TARGET)
    assert report.layers[1].bias_route == "clock" and "bias_clock" in hw_graph.meta["bias_clock"]
    assert agreement(g, x) == {"if1": 1.0, "if2": 1.0, "if3": 1.0, "out": 1.0}
    depth = synaptic_depths(hw_graph)
    assert depth["bias_clock"] == 0 and depth["if2.bias"] == depth["if2"] == 2
    # a bias behind a recurrent edge starts at nn step 2 (the edge carries zeros at step 1)
    g = exact_net([0.375, 0.125, 0.5], rec_bias=0.25)
    hw_graph, report = lower_to_hw(g, TARGET)
    assert report.layers[0].bias_route == "clock"
    assert agreement(g, x) == {"if1": 1.0, "if2": 1.0, "out": 1.0}


def test_cuba_current_bias_goes_through_the_clock():
    g = chain(("fc1", nn.Affine(np.zeros((3, 4)), np.array([0.3, 0.6, -0.2]))), ("c1", cuba(3)),
              ("fc2", nn.Affine(np.zeros((2, 3)), np.array([0.7, 0.45]))), ("c2", cuba(2, 2e-3)))
    hw_graph, report = lower_to_hw(g, TARGET)
    assert [q.bias_route for q in report.layers] == ["clock", "clock"]
    x = np.zeros((1, 60, 4), np.int8)
    emu = run_emulator(hw_graph, x, record=True)
    ref = run_reference(g, x.astype(float), record=True)
    for n in ("c1", "c2"):
        assert ref[n].sum() > 3 and np.array_equal(ref[n], emu.spikes[n]), n


def test_strict_mode_reports_saturation_with_layer_and_step():
    g = chain(("fc1", nn.Linear(-np.ones((2, 4)))), ("if1", if_(2)))
    hw_graph, _ = lower_to_hw(g, TARGET, quantize=Quantize(headroom=2.0))
    x = np.ones((1, 12, 4), np.int8)
    x[:, :, 1:] = 0
    events = run_emulator(hw_graph, x, strict=True).events
    vth = hw_graph.nodes["if1"].vth
    first = (2**23 - 1) // (vth * 64) + 1  # nn step where -step thresholds passes -(2^23 - 1)
    assert events and events[0].layer == "if1" and events[0].kind == "v_saturation"
    assert events[0].step == first + 1 and events[0].count == 2  # depth 1, both neurons
    assert run_emulator(hw_graph, x).events == []


def test_braille_nir_bias_into_cuba_current(third_party):
    from snncompile import api

    g = api.load(third_party / "nir-paper" / "03_rnn" / "braille_noDelay_bias_zero.nir")
    _, report = lower_to_hw(g, TARGET)
    assert {q.layer: q.bias_route for q in report.layers} == {"lif1.lif": "clock", "lif2": "clock"}
    x = (RNG.random((16, 50, 12)) < 0.1).astype(np.int8)
    agree = agreement(g, x)
    assert agree["lif1.lif"] >= 0.95, agree  # lif2 is limited by 8-bit weights (up to 13 thr)
