"""Conv1d from torch and from NIR: the reference and the lowered hw synapse equal torch's conv1d.

Independent side: torch's own nn.Conv1d forward (and snncompile.nn neurons run by torch). Our
side: the nn Conv1d op read by from_module / from_nir, the float reference, the lowered Dense
(an identity pushed through the chain), and the emulator after quantization.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import snncompile.nn as snc
from snncompile.errors import UnsupportedOp
from snncompile.frontends.nir import from_nir, to_nir
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import nn_ops
from snncompile.passes import lower_to_hw
from snncompile.passes.lower import Lower
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.target import load_target

C_IN, L, T = 4, 11, 12
CONVS = [  # nn.Conv1d keyword arguments beyond (C_IN, out, kernel)
    {"out_channels": 6, "kernel_size": 3},
    {"out_channels": 6, "kernel_size": 3, "padding": 1, "stride": 2},
    {"out_channels": 4, "kernel_size": 3, "padding": "same", "dilation": 2},
    {"out_channels": 6, "kernel_size": 2, "groups": 2, "bias": False},
    {"out_channels": 4, "kernel_size": 5, "padding": "valid", "stride": 3},
]


def _net(kw: dict, seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    conv = torch.nn.Conv1d(C_IN, **kw).double()
    out_len = conv(torch.zeros(1, C_IN, L, dtype=torch.float64)).shape[1:]
    with torch.no_grad():
        conv.weight.mul_(3.0)
    return torch.nn.Sequential(
        conv, snc.LIF(tuple(out_len), beta=0.8, threshold=1.0),
        torch.nn.Flatten(), torch.nn.Linear(int(np.prod(out_len)), 5).double(),
        snc.LIF(5, beta=0.9, threshold=0.5)).double()


def _spikes(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((4, T, C_IN, L)) < 0.4).astype(np.float64)


@pytest.mark.parametrize("kw", CONVS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_conv1d_reference_equals_torch(kw):
    net = _net(kw, seed=1)
    x = _spikes(2)
    graph = from_module(net, (C_IN, L))
    assert isinstance(graph.nodes["0"], nn_ops.Conv1d)
    with torch.no_grad():
        expected = snc.run(net, torch.as_tensor(x)).numpy()
    ref = run_reference(graph, x, record=True)
    np.testing.assert_array_equal(ref["output"], expected)
    assert 0.02 < ref["1"].mean() < 0.9 and expected.sum() > 0
    # the conv alone, on real-valued input: the reference's op equals torch's conv1d
    xs = np.random.default_rng(3).normal(size=(3, C_IN, L))
    conv_graph = from_module(torch.nn.Sequential(net[0]), (C_IN, L))
    ours = run_reference(conv_graph, xs[:, None])["output"][:, 0]
    with torch.no_grad():
        np.testing.assert_allclose(ours, net[0](torch.as_tensor(xs)).numpy(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("kw", CONVS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_lowered_synapse_is_torch_conv1d(kw):
    """The Dense that lowering builds for the conv is torch's conv1d as a matrix, exactly."""
    net = _net(kw, seed=4)
    lowered = Lower()(from_module(net, (C_IN, L)))
    (syn,) = [lowered.nodes[s] for s in lowered.predecessors("1")]
    xs = np.random.default_rng(5).normal(size=(3, C_IN, L))
    with torch.no_grad():
        conv = net[0]
        expected = torch.nn.functional.conv1d(torch.as_tensor(xs), conv.weight, None, conv.stride,
                                              conv.padding, conv.dilation, conv.groups).numpy()
    got = xs.reshape(3, -1) @ syn.weight.T
    np.testing.assert_allclose(got, expected.reshape(3, -1), rtol=1e-12, atol=1e-12)
    bias = np.zeros(kw["out_channels"]) if conv.bias is None else conv.bias.detach().numpy()
    np.testing.assert_allclose(lowered.nodes["1"].bias_now,
                               np.repeat(bias, expected.shape[-1]), rtol=1e-12)


def test_conv1d_net_runs_on_the_emulator():
    net = _net(CONVS[1], seed=6)
    graph = from_module(net, (C_IN, L))
    hw_graph, _ = lower_to_hw(graph, load_target("emu"))
    x = _spikes(7)
    out = run_emulator(hw_graph, x, record=True)
    ref = run_reference(graph, x, record=True)
    assert out.outputs["output"].shape == ref["output"].shape == (4, T, 5)
    assert out.spikes["1"].shape == ref["1"].shape
    assert ref["1"].sum() > 0 and np.mean(out.spikes["1"] != ref["1"]) < 0.02


def _nir_conv(kw: dict, conv: torch.nn.Conv1d) -> nir.Conv1d:
    bias = np.zeros(conv.out_channels) if conv.bias is None else conv.bias.detach().numpy()
    pad = conv.padding if isinstance(conv.padding, str) else conv.padding[0]
    return nir.Conv1d(input_shape=L, weight=conv.weight.detach().numpy(), stride=conv.stride[0],
                      padding=pad, dilation=conv.dilation[0], groups=conv.groups, bias=bias)


@pytest.mark.parametrize("kw", CONVS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_nir_conv1d_equals_torch(kw):
    torch.manual_seed(8)
    conv = torch.nn.Conv1d(C_IN, **kw).double()
    g = nir.NIRGraph(nodes={"in": nir.Input(np.array([C_IN, L])), "c": _nir_conv(kw, conv),
                            "out": nir.Output(np.array([0]))},
                     edges=[("in", "c"), ("c", "out")], type_check=False)
    graph = from_nir(g)
    xs = np.random.default_rng(9).normal(size=(2, 1, C_IN, L))
    with torch.no_grad():
        expected = conv(torch.as_tensor(xs[:, 0])).numpy()
    np.testing.assert_allclose(run_reference(graph, xs)["out"][:, 0], expected, rtol=1e-12,
                               atol=1e-12)
    back = from_nir(to_nir(graph))  # our writer and reader round-trip the op
    assert back.nodes["c"] == graph.nodes["c"]


def test_conv1d_refusals_name_the_module():
    with pytest.raises(UnsupportedOp, match=r"module '0'.*needs a \(C, L\) input"):
        from_module(torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3)), (2, 3, 8))
    with pytest.raises(UnsupportedOp, match=r"module '0'.*padding_mode 'circular'"):
        from_module(torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3, padding=1,
                                                        padding_mode="circular")), (2, 8))
    with pytest.raises(UnsupportedOp, match=r"module '0'.*'same' with an even kernel"):
        from_module(torch.nn.Sequential(torch.nn.Conv1d(2, 2, 2, padding="same")), (2, 8))


def test_conv1d_pt_file_verifies(tmp_path):
    """A saved Conv1d net reads under the .pt allowlist; verify's source run (torch) equals the
    reference on every output spike and the emulator stays within quantization."""
    from snncompile import api

    net = _net(CONVS[2], seed=10)
    snc.save(net, tmp_path / "c.pt", (C_IN, L))
    report = api.verify(tmp_path / "c.pt", _spikes(11), target="emu")
    assert report.source_agreement == 1.0 and report.passed, report.to_dict()
