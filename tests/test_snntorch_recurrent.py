"""snnTorch RLeaky and RSynaptic read directly give snnTorch's own spikes; Alpha is refused.

Same method and precision as tests/test_snntorch_nir.py: snnTorch's own forward, stepped one
layer at a time, against the float32 reference of from_module's graph; spikes exactly equal,
membranes within 1e-5 + 2e-6 |v| (the recurrent sum is added in another order than snnTorch's).
Then the same graphs are compiled to the emulator, to prove lowering takes the recurrence.
"""

from __future__ import annotations

import numpy as np
import pytest
import snntorch
import torch
from layer_trace import run_stepwise

import snncompile.nn as snc
from snncompile.errors import UnsupportedOp
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import nn_ops
from snncompile.sim.reference import run_reference

N_IN, N_HID, N_OUT, T = 10, 24, 6, 40


def _layer(kind: str, n: int, all_to_all: bool, **kw) -> torch.nn.Module:
    beta = torch.rand(n) * 0.4 + 0.5
    rec = {"linear_features": n} if all_to_all else {"V": torch.rand(n) * 0.6 - 0.2}
    common = {"beta": beta, "threshold": torch.ones(n), "init_hidden": True,
              "all_to_all": all_to_all, **rec, **kw}
    if kind == "RLeaky":
        return snntorch.RLeaky(**common)
    return snntorch.RSynaptic(alpha=torch.rand(n) * 0.5 + 0.2, **common)


def _net(kind: str, all_to_all: bool, seed: int, **kw) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(N_IN, N_HID), _layer(kind, N_HID, all_to_all, **kw),
                              torch.nn.Linear(N_HID, N_OUT), _layer(kind, N_OUT, all_to_all, **kw))
    with torch.no_grad():
        net[0].weight.mul_(2.0 if kind == "RLeaky" else 1.2)
        net[2].weight.mul_(3.0 if kind == "RLeaky" else 1.5)
        for i in (1, 3):
            if all_to_all:
                net[i].recurrent.weight.mul_(2.0)
                net[i].recurrent.bias.mul_(0.5)
    return net


CASES = [  # (kind, all_to_all, snnTorch options, the IR neuron it must become)
    ("RLeaky", True, {}, nn_ops.LIF),  # subtract, reset_delay=True (snnTorch's defaults)
    ("RLeaky", True, {"reset_mechanism": "zero"}, nn_ops.CubaLIF),
    ("RLeaky", True, {"reset_mechanism": "zero", "reset_delay": False}, nn_ops.LIF),
    ("RLeaky", False, {}, nn_ops.LIF),
    ("RLeaky", False, {"reset_mechanism": "zero"}, nn_ops.CubaLIF),
    ("RLeaky", False, {"learn_recurrent": False, "learn_beta": True, "learn_threshold": True},
     nn_ops.LIF),  # learn_* only change what trains: V a buffer, beta/threshold parameters
    ("RSynaptic", True, {}, nn_ops.CubaLIF),
    ("RSynaptic", True, {"reset_mechanism": "zero"}, nn_ops.CubaLIF),
    ("RSynaptic", False, {"reset_mechanism": "zero"}, nn_ops.CubaLIF),
]


@pytest.mark.parametrize("kind, all_to_all, options, neuron", CASES)
def test_from_module_matches_snntorch(kind, all_to_all, options, neuron):
    net = _net(kind, all_to_all, seed=3, **options)
    x = (np.random.default_rng(4).random((6, T, N_IN)) < 0.3).astype(np.float32)
    snc.reset_state(net)
    spikes, mems = run_stepwise(net, x, lambda m, h: m.mem)
    graph = from_module(net, (N_IN,))
    assert type(graph.nodes["1"]) is neuron and type(graph.nodes["3"]) is neuron
    assert ("1.recurrent", "1") in graph.recurrent_edges
    ref = run_reference(graph, x, record=True, state=True, dtype=np.float32)
    for name, expected in spikes.items():
        assert 0.02 < expected.mean() < 0.8, f"layer {name} fires at {expected.mean()}: vacuous"
        np.testing.assert_allclose(ref[f"{name}:v"], mems[name], rtol=2e-6, atol=1e-5)
        np.testing.assert_array_equal(ref[name], expected)


def test_recurrent_bias_counts_from_step_one():
    """snnTorch adds recurrent.bias at step 1 (spk = 0); without the forward Affine the first
    step would differ: a layer driven by the bias alone fires at step 1 exactly as snnTorch."""
    torch.manual_seed(0)
    layer = snntorch.RLeaky(beta=0.5, linear_features=3, init_hidden=True)
    with torch.no_grad():
        layer.recurrent.weight.zero_()
        layer.recurrent.bias.copy_(torch.tensor([1.5, 0.2, -1.0]))
    net = torch.nn.Sequential(torch.nn.Identity(), layer)
    x = np.zeros((1, 4, 3), np.float32)
    snc.reset_state(net)
    expected = np.stack([net(torch.as_tensor(x[:, t])).detach().numpy() for t in range(4)], 1)
    assert expected[0, 0, 0] == 1
    ref = run_reference(from_module(net, (3,)), x, dtype=np.float32)
    np.testing.assert_array_equal(ref["output"], expected)


def test_recurrent_net_compiles_to_the_emulator():
    from snncompile.passes import lower_to_hw
    from snncompile.sim.emulator import run_emulator
    from snncompile.target import load_target

    torch.manual_seed(5)  # one beta and threshold per layer: Lava holds one per population
    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, N_HID), snntorch.RLeaky(
            beta=0.8, linear_features=N_HID, reset_mechanism="zero", reset_delay=False,
            init_hidden=True),
        torch.nn.Linear(N_HID, N_OUT), snntorch.RLeaky(
            beta=0.8, all_to_all=False, V=0.3, reset_mechanism="zero", reset_delay=False,
            init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(4.0)
    graph = from_module(net, (N_IN,))
    hw_graph, _ = lower_to_hw(graph, load_target("emu"))
    x = (np.random.default_rng(4).random((2, T, N_IN)) < 0.3).astype(np.float32)
    out = run_emulator(hw_graph, x).outputs["output"]
    ref = run_reference(graph, x.astype(np.float64))["output"]
    assert out.shape == ref.shape and out.sum() > 0
    assert np.mean(out != ref) < 0.05  # quantization only


def test_alpha_is_refused_by_name():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2),
                              snntorch.Alpha(alpha=0.9, beta=0.8, init_hidden=True))
    with pytest.raises(UnsupportedOp, match=r"module '1'.*snnTorch Alpha: its membrane"):
        from_module(net, (3,))


def test_rsynaptic_immediate_reset_is_refused():
    """snnTorch 1.0.0 resets the arguments, not the state, in RSynaptic(reset_delay=False)."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), snntorch.RSynaptic(
        alpha=0.5, beta=0.5, linear_features=2, reset_delay=False, init_hidden=True))
    with pytest.raises(TypeError):  # the bug itself, so this refusal is revisited when fixed
        net(torch.ones(1, 3))
    with pytest.raises(UnsupportedOp, match=r"module '1'.*reset_delay=False"):
        from_module(net, (3,))


def test_conv_recurrence_is_refused_by_name():
    layer = snntorch.RLeaky(beta=0.5, conv2d_channels=2, kernel_size=3, init_hidden=True)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), layer)
    with pytest.raises(UnsupportedOp, match=r"module '1'.*all_to_all recurrence through Conv2d"):
        from_module(net, (1, 5, 5))


@pytest.mark.parametrize("all_to_all", [True, False])
def test_pt_file_loads_safely_and_verifies(all_to_all, tmp_path):
    """A whole RLeaky/RSynaptic net saved with torch.save reads under weights_only (allowlist),
    and verify's source run (snnTorch itself) agrees with the reference on every output spike."""
    from snncompile import api

    net = _net("RSynaptic", all_to_all, seed=3, surrogate_disable=True)  # snnTorch's default
    torch.save(net, tmp_path / "r.pt")  # surrogate is a closure torch.save cannot pickle
    x = (np.random.default_rng(4).random((2, 10, N_IN)) < 0.3).astype(np.float64)
    graph = api.load(tmp_path / "r.pt", input_shape=(N_IN,))
    assert ("3.recurrent", "3") in graph.recurrent_edges
    source = api.run_source(tmp_path / "r.pt", x, input_shape=(N_IN,))
    ref = run_reference(graph, x.astype(np.float32), dtype=np.float32)["output"]
    np.testing.assert_array_equal(ref, source)
    assert source.sum() > 0


@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph:DeprecationWarning")
def test_export_to_nir_loses_the_recurrent_bias_at_step_one():
    """snnTorch's NIR export of RLeaky puts recurrent.bias in an Affine on the back edge, which
    (in NIR as in the IR) carries zeros at step 1: exact without that bias, off with it, while
    from_module is exact either way (the known divergence in docs/semantics.md)."""
    from snntorch.export_nir import export_to_nir

    from snncompile.frontends.nir import from_nir

    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(N_IN, 12), snntorch.RLeaky(
        beta=torch.rand(12) * 0.4 + 0.5, threshold=torch.ones(12), linear_features=12,
        init_hidden=True))
    x = (np.random.default_rng(0).random((3, 20, N_IN)) < 0.4).astype(np.float32)
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    for bias in (0.9, 0.0):  # 0.9: layer 1 fires at step 1 from the bias alone
        with torch.no_grad():
            net[1].recurrent.bias.fill_(bias)
        snc.reset_state(net)
        spikes, _ = run_stepwise(net, x, lambda m, h: m.mem, names=("1",))
        nir_graph = from_nir(export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0]),
                             reset="subtract", reset_timing="next_step")
        via_nir = run_reference(nir_graph, x, dtype=np.float32)["output"]
        direct = run_reference(from_module(net, (N_IN,)), x, dtype=np.float32)["output"]
        np.testing.assert_array_equal(direct, spikes["1"])
        assert np.array_equal(via_nir, spikes["1"]) == (bias == 0.0)
        assert spikes["1"].mean() > 0.05
