"""Learned synaptic delays end to end: torch DelayedLinear (eval) == the nn reference, the reference
rule == a hand-written loop, reference == emulator exactly on representable nets, NIR Delay
reading and writing, and the refusals (beyond the target's max_delay, two delays into one
synapse, a bias behind a delay, fractional NIR delays)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import snncompile.nn as snn
from snncompile import api
from snncompile.errors import ModelLoadError, UnsupportedOp
from snncompile.frontends.nir import from_nir, to_nir
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.passes import lower_to_hw
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.target import load_target

LOIHI2 = load_target("loihi2")


def if_(n: int) -> nn.IF:
    return nn.IF(r=np.ones(n), v_threshold=np.ones(n), v_reset=np.zeros(n))


def lif(n: int, tau: float = 4e-3) -> nn.LIF:
    return nn.LIF(tau=np.full(n, tau), r=np.full(n, tau / 1e-3), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n))


def line(*named, n_in: int, extra_edges=(), extra_nodes=None) -> Graph:
    nodes, edges, prev = {"in": nn.Input((n_in,))}, [], "in"
    for name, op in named:
        nodes[name] = op
        edges.append((prev, name))
        prev = name
    nodes.update(extra_nodes or {})
    nodes["out"] = nn.Output((named[-1][1].shape[0],))
    return Graph("nn", nodes, tuple(edges) + ((prev, "out"),) + tuple(extra_edges), dt=1e-3)


def spikes(rng, batch, steps, n, p=0.3) -> np.ndarray:
    return (rng.random((batch, steps, n)) < p).astype(np.float64)


# -- the reference rule ---------------------------------------------------------------------------
def test_reference_rule_equals_a_plain_loop():
    rng = np.random.default_rng(0)
    w, d, b = rng.normal(size=(4, 6)), rng.integers(0, 7, (4, 6)), rng.normal(size=4)
    g = line(("fc", nn.DelayLinear(w, d, b)), ("if", if_(4)), n_in=6)
    x = rng.normal(size=(3, 15, 6))
    got = run_reference(g, x, record=True)["fc"]
    want = np.zeros((3, 15, 4))
    for t in range(15):
        for i in range(4):
            want[:, t, i] = b[i] + sum(w[i, j] * x[:, t - d[i, j], j] for j in range(6)
                                       if t - d[i, j] >= 0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# -- torch layer ----------------------------------------------------------------------------------
def _torch_net(rng_seed: int, bias: bool, recurrent: bool) -> torch.nn.Sequential:
    torch.manual_seed(rng_seed)
    hidden = snn.RLIF(7, beta=0.7) if recurrent else snn.LIF(7, beta=0.7)
    m = torch.nn.Sequential(snn.DelayedLinear(5, 7, 9, bias=bias), hidden,
                            snn.DelayedLinear(7, 3, 4), snn.IF(3)).double()
    with torch.no_grad():
        for layer in (m[0], m[2]):
            layer.weight.mul_(3).add_(0.4)
            layer.delay.add_(torch.rand_like(layer.delay) * 0.98 - 0.49)  # off the integers
    return m.eval()


@pytest.mark.parametrize("seed, bias, recurrent", [(0, False, False), (1, True, False),
                                                   (2, False, True)])
def test_torch_eval_forward_equals_reference(seed, bias, recurrent):
    m = _torch_net(seed, bias, recurrent)
    x = torch.from_numpy(spikes(np.random.default_rng(seed), 4, 30, 5))
    with torch.no_grad():
        want = snn.run(m, x).numpy()
    g = from_module(m, (5,))
    assert isinstance(g.nodes["0"], nn.DelayLinear)
    np.testing.assert_array_equal(g.nodes["0"].delay, m[0].integer_delays().numpy())
    got = run_reference(g, x.numpy())["output"]
    assert want.sum() > 10
    np.testing.assert_array_equal(got, want)


def test_train_mode_interpolates_and_eval_rounds():
    layer = snn.DelayedLinear(1, 1, 5, init_delay=2.25).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
    x = torch.arange(1.0, 9.0, dtype=torch.float64)  # x[t] = t + 1, so x[t - d] is readable
    layer.train()
    layer.reset_state()
    out = [layer(x[t].reshape(1, 1)).item() for t in range(8)]
    assert out[7] == pytest.approx(0.75 * x[5].item() + 0.25 * x[4].item())
    layer.eval()
    layer.reset_state()
    out = [layer(x[t].reshape(1, 1)).item() for t in range(8)]
    assert out[7] == x[5].item() and out[1] == 0.0
    assert layer.integer_delays().item() == 2
    layer.train()
    delay = layer.delay
    layer.reset_state()
    sum(layer(x[t].reshape(1, 1)) for t in range(8)).sum().backward()
    assert delay.grad is not None and delay.grad.item() != 0.0
    layer.spread = 0.0  # straight-through: the deployed delay forward, a gradient backward
    layer.delay.grad = None
    layer.reset_state()
    out = [layer(x[t].reshape(1, 1)) for t in range(8)]
    assert out[7].item() == x[5].item()
    sum(out).sum().backward()
    assert layer.delay.grad.item() != 0.0


# -- reference vs emulator -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_emulator_equals_reference_exactly_on_representable_nets(seed):
    """IF layers, weights on a binary grid: quantization is exact, so every spike must match;
    delays up to 40 steps, one recurrent DelayLinear."""
    rng = np.random.default_rng(seed)
    w1 = rng.choice([-0.5, -0.25, 0.25, 0.5, 0.75], (6, 5))
    w2 = rng.choice([-0.25, 0.25, 0.5], (3, 6))
    rec = nn.DelayLinear(rng.choice([-0.25, 0.25], (6, 6)), rng.integers(0, 5, (6, 6)))
    g = line(("fc1", nn.DelayLinear(w1, rng.integers(0, 41, (6, 5)))), ("if1", if_(6)),
             ("fc2", nn.DelayLinear(w2, rng.integers(0, 8, (3, 6)))), ("if2", if_(3)), n_in=5,
             extra_edges=(("if1", "rec"), ("rec", "if1")), extra_nodes={"rec": rec})
    hw_graph, _ = lower_to_hw(g, LOIHI2)
    assert isinstance(hw_graph.nodes["fc1"], hw.DelayDense)
    np.testing.assert_array_equal(hw_graph.nodes["fc1"].delays, g.nodes["fc1"].delay)
    x = spikes(rng, 6, 70, 5, 0.35)
    ref = run_reference(g, x, record=True)
    emu = run_emulator(hw_graph, x.astype(np.int8), record=True)
    for layer in ("if1", "if2"):
        assert ref[layer].sum() > 20
        np.testing.assert_array_equal(emu.spikes[layer], ref[layer], err_msg=layer)


def test_emulator_follows_reference_on_leaky_delay_nets():
    """LIF layers and arbitrary float weights: quantization rounds, so agreement, not equality."""
    rng = np.random.default_rng(5)
    g = line(("fc1", nn.DelayLinear(rng.normal(0.4, 0.6, (20, 8)), rng.integers(0, 30, (20, 8)))),
             ("l1", lif(20)), ("fc2", nn.Linear(rng.normal(0.2, 0.5, (4, 20)))), ("l2", lif(4)),
             n_in=8)
    hw_graph, _ = lower_to_hw(g, LOIHI2)
    x = spikes(rng, 16, 60, 8)
    ref = run_reference(g, x, record=True)
    emu = run_emulator(hw_graph, x.astype(np.int8), record=True)
    for layer in ("l1", "l2"):
        assert ref[layer].sum() > 50
        assert np.mean(emu.spikes[layer] == ref[layer]) > 0.97, layer


def test_delay_of_zero_everywhere_is_a_plain_dense_in_time():
    rng = np.random.default_rng(1)
    w = rng.choice([-0.5, 0.25, 0.5], (4, 3))
    a = line(("fc", nn.DelayLinear(w, np.zeros((4, 3), int))), ("if", if_(4)), n_in=3)
    b = line(("fc", nn.Linear(w)), ("if", if_(4)), n_in=3)
    x = spikes(rng, 3, 20, 3, 0.5).astype(np.int8)
    ea = run_emulator(lower_to_hw(a, LOIHI2)[0], x).outputs["out"]
    np.testing.assert_array_equal(ea, run_emulator(lower_to_hw(b, LOIHI2)[0], x).outputs["out"])


# -- refusals -------------------------------------------------------------------------------------
def test_delay_beyond_the_target_is_refused_with_node_delay_and_limit():
    d = np.zeros((2, 3), int)
    d[1, 2] = 70
    g = line(("fc", nn.DelayLinear(np.full((2, 3), 0.5), d)), ("if", if_(2)), n_in=3)
    with pytest.raises(UnsupportedOp, match=r"node 'fc' \(DelayLinear\).*largest delay is 70 "
                                            r"steps.*'loihi2' holds at most 62"):
        lower_to_hw(g, LOIHI2)
    d[1, 2] = 62
    lower_to_hw(line(("fc", nn.DelayLinear(np.full((2, 3), 0.5), d)), ("if", if_(2)), n_in=3),
                LOIHI2)


def test_two_delays_into_one_synapse_are_refused():
    w = np.full((2, 3), 0.5)
    g = line(("fc", nn.DelayLinear(w, np.ones((2, 3), int))), ("if", if_(2)), n_in=3,
             extra_edges=(("in", "skip"), ("skip", "if")),
             extra_nodes={"skip": nn.Linear(np.full((2, 3), 0.25))})
    with pytest.raises(UnsupportedOp, match=r"node 'fc' \(DelayLinear\).*synapse \(0, 0\).*"
                                            r"delays \[0, 1\]"):
        lower_to_hw(g, LOIHI2)


def test_bias_behind_a_delay_is_refused():
    g = line(("pre", nn.Affine(np.eye(3), np.full(3, 0.1))),
             ("fc", nn.DelayLinear(np.full((2, 3), 0.5), np.ones((2, 3), int))), ("if", if_(2)),
             n_in=3)
    with pytest.raises(UnsupportedOp, match=r"node 'fc' \(DelayLinear\).*delayed bias"):
        lower_to_hw(g, LOIHI2)


def test_text_form_round_trips_delays():
    for bias in (None, np.array([0.5, -1.0])):
        g = line(("fc", nn.DelayLinear(np.full((2, 3), 0.5), np.arange(6).reshape(2, 3), bias)),
                 ("if", if_(2)), n_in=3)
        dumped = text.dumps(g)
        assert text.loads(dumped) == g and text.dumps(text.loads(dumped)) == dumped


def test_ir_refuses_bad_delays():
    with pytest.raises(ValueError, match="whole steps"):
        nn.DelayLinear(np.ones((1, 2)), np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="negative"):
        nn.DelayLinear(np.ones((1, 2)), np.array([[-1, 1]]))
    with pytest.raises(ValueError, match="shape"):
        nn.DelayLinear(np.ones((1, 2)), np.array([[1]]))


# -- NIR -------------------------------------------------------------------------------------
def _nir_graph(delay_s: np.ndarray, affine: bool = True) -> nir.NIRGraph:
    rng = np.random.default_rng(3)
    w = rng.choice([-0.5, 0.25, 0.5, 0.75], (4, 3))
    syn = nir.Affine(weight=w, bias=np.full(4, 0.125)) if affine else nir.Linear(weight=w)
    nodes = {"in": nir.Input(input_type=np.array([3])), "d": nir.Delay(delay=delay_s),
             "fc": syn,
             "lif": nir.LIF(tau=np.full(4, 5e-3), r=np.full(4, 5.0), v_leak=np.zeros(4),
                            v_threshold=np.ones(4)),
             "out": nir.Output(output_type=np.array([4]))}
    edges = [("in", "d"), ("d", "fc"), ("fc", "lif"), ("lif", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_nir_delay_folds_into_the_next_affine_with_per_column_delays():
    g = from_nir(_nir_graph(np.array([0.0, 3e-3, 7e-3])), dt=1e-3)
    assert list(g.nodes) == ["in", "fc", "lif", "out"] and ("in", "fc") in g.edges
    op = g.nodes["fc"]
    assert isinstance(op, nn.DelayLinear)
    np.testing.assert_array_equal(op.delay, np.tile([0, 3, 7], (4, 1)))
    # NIR's y(t) = x(t - delay) before the Affine, by hand:
    x = spikes(np.random.default_rng(0), 2, 20, 3, 0.5)
    shifted = np.zeros_like(x)
    for j, k in enumerate([0, 3, 7]):
        shifted[:, k:, j] = x[:, :20 - k, j]
    plain = from_nir(_nir_graph(np.zeros(3)), dt=1e-3)
    plain = plain.replace(nodes={**plain.nodes, "fc": nn.Affine(op.weight, op.bias)})
    np.testing.assert_array_equal(run_reference(g, x)["out"], run_reference(plain, shifted)["out"])


def test_nir_delay_round_trip_and_its_refusals(tmp_path):
    g = from_nir(_nir_graph(np.array([0.0, 3e-3, 7e-3]), affine=False), dt=1e-3)
    assert from_nir(to_nir(g)) == g
    nir.write(tmp_path / "d.nir", to_nir(g))
    back = from_nir(nir.read(tmp_path / "d.nir"))
    assert dict(back.nodes) == dict(g.nodes) and set(back.edges) == set(g.edges)
    per_synapse = g.replace(nodes={**g.nodes, "fc": g.nodes["fc"].replace(
        delay=np.arange(12).reshape(4, 3))})
    with pytest.raises(UnsupportedOp, match=r"node 'fc' \(DelayLinear\).*input 0.*no NIR form"):
        to_nir(per_synapse)
    with pytest.raises(ModelLoadError, match=r"node 'd' \(Delay\).*2.5 steps"):
        from_nir(_nir_graph(np.array([0.0, 2.5e-3, 1e-3])), dt=1e-3)
    bad = _nir_graph(np.zeros(3))
    bad.nodes["d"] = nir.Delay(delay=np.zeros(4))
    bad.edges[:] = [("in", "fc"), ("fc", "d"), ("d", "lif"), ("lif", "out")]
    with pytest.raises(ModelLoadError, match=r"node 'd' \(Delay\) feeds 'lif' \(LIF\)"):
        from_nir(bad, dt=1e-3)


def test_a_trained_layer_beyond_the_limit_is_refused_from_its_pt_file(tmp_path):
    m = torch.nn.Sequential(snn.DelayedLinear(3, 2, 80, init_delay=70.0), snn.LIF(2))
    snn.save(m, tmp_path / "long.pt", (3,))
    with pytest.raises(UnsupportedOp, match=r"node '0' \(DelayLinear\).*largest delay is 70 "
                                            r"steps.*at most 62"):
        api.compile_model(tmp_path / "long.pt", target="loihi2")
