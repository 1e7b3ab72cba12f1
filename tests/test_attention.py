"""Spiking self-attention: SpikingJelly's `layer.SpikingSelfAttention` (Spikformer's SSA,
(v k^T) q * scale on spikes, no softmax) read as 3-way AND gates and sums (issue 15).

Independent sides: SpikingJelly's own multi-step forward (the reference must give its spikes
exactly, float32), and on hardware the Icarus RTL simulation and the Lava program, which must
equal the emulator exactly. The gate layer itself is exact on the emulator (every AND equal).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snncompile import api
from snncompile.build import make_build
from snncompile.frontends.attention import _gate_tables
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import text
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.target import load_target

C, L, IN = 4, 6, 2


def excite(net: nn.Module, weighted: tuple[type, ...], gain: float,
           bn_bias: tuple[float, float]) -> None:
    """Stronger weights and BatchNorm statistics that make a small random block spike."""
    for m in net.modules():
        if isinstance(m, weighted):
            m.weight.mul_(gain)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.bias.uniform_(*bn_bias)


def _block(heads: int = 1, scale: float = 0.3) -> nn.Sequential:
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.SeqToANNContainer(nn.Conv1d(IN, C, 1), nn.BatchNorm1d(C)),
        neuron.LIFNode(tau=2.0, step_mode="m"),
        layer.SpikingSelfAttention(C, num_heads=heads),
        layer.SeqToANNContainer(nn.Flatten(), nn.Linear(C * L, 3)),
        neuron.LIFNode(tau=2.0, step_mode="m"))
    with torch.no_grad():
        excite(net, (nn.Conv1d, nn.Linear), 4.0, (1.0, 2.0))
        net[2].scale = scale  # SpikingJelly's 0.125 needs many more tokens to fire
        net[2].proj_conv_bn[1].bias.uniform_(0.0, 0.6)
        net[3][1].bias.fill_(1.0)
    return net.eval()


def _x(batch: int = 6, steps: int = 10) -> np.ndarray:
    return (np.random.default_rng(1).random((batch, steps, IN, L)) < 0.5).astype(np.float32)


def _spikingjelly(net: nn.Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    from spikingjelly.activation_based import functional

    functional.reset_net(net)
    h, out = torch.as_tensor(x).transpose(0, 1), {}
    with torch.no_grad():
        for i, m in enumerate(net):
            h = m(h)
            out[str(i)] = h.transpose(0, 1).numpy()
    return out


def test_gate_tables_compute_v_kT_q():
    rng = np.random.default_rng(0)
    qkv = (rng.random((3 * C, L)) < 0.5).astype(float)
    select, total = _gate_tables(C, 2, L, 0.125)
    gates = (select @ qkv.ravel() > 2.5).astype(float)
    q, k, v = (t.reshape(2, C // 2, L) for t in np.split(qkv, 3))
    want = np.concatenate([v[h] @ k[h].T @ q[h] for h in range(2)]) * 0.125
    np.testing.assert_array_equal((total @ gates).reshape(C, L), want)


@pytest.mark.parametrize("heads", [1, 2])
def test_reference_equals_spikingjelly_and_gates_are_exact_on_emulator(heads):
    net = _block(heads, 0.3 if heads == 1 else 0.6)
    x = _x()
    want = _spikingjelly(net, x)
    graph = from_module(net, (IN, L))
    ref = run_reference(graph, x, dtype=np.float32, record=True)
    assert want["2"].mean() > 0.02 and want["4"].sum() > 5
    np.testing.assert_array_equal(ref["2.proj_lif"], want["2"])
    np.testing.assert_array_equal(ref["output"], want["4"])
    hw_graph, _ = api.lower(graph, "emu")
    emu = run_emulator(hw_graph, x.astype(np.float64), record=True)
    np.testing.assert_array_equal(emu.spikes["2.qkv_lif"], ref["2.qkv_lif"])
    np.testing.assert_array_equal(emu.spikes["2.and3"], ref["2.and3"])
    for layer in ("2.attn_lif", "2.proj_lif", "4"):
        assert (emu.spikes[layer] == ref[layer]).mean() > 0.9, layer  # 8-bit weights


@pytest.mark.parametrize("block", ["ssa", "sdsa"])
@pytest.mark.parametrize("target", ["fpga", "loihi2"])
def test_attention_on_target_equals_emulator(target, block, tmp_path):
    """The generated Lava program / Verilog run the attention blocks (SSA and SDSA) exactly as
    the emulator."""
    if block == "ssa":
        graph = from_module(_block(), (IN, L))
        x = _x(3, 6).astype(np.float64)
    else:
        graph = from_module(_sdsa_block(), (1, 4, 4))
        x = (np.random.default_rng(2).random((3, 6, 1, 4, 4)) < 0.5).astype(np.float64)
    hw_graph, report = api.lower(graph, target)
    source = tmp_path / "ssa.txt"  # the build's "model": the nn graph's text form
    source.write_text(text.dumps(graph))
    api.write_build(make_build(graph, hw_graph, report, load_target(target), source),
                    tmp_path / "b")
    out, _ = api.run_build(tmp_path / "b", x)
    emu = run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]]
    assert emu.sum() > 0
    np.testing.assert_array_equal(out, emu)


def _sdsa_block() -> nn.Sequential:
    """Conv stem, SpikeDrivenSelfAttention (its `+ x`: a sum of synaptic outputs), LIF, readout."""
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.SeqToANNContainer(nn.Conv2d(1, C, 3, padding=1)),
        layer.SpikeDrivenSelfAttention(C, num_heads=2),
        neuron.LIFNode(tau=2.0, step_mode="m"),
        layer.SeqToANNContainer(nn.Flatten(), nn.Linear(C * 16, 3)),
        neuron.LIFNode(tau=2.0, step_mode="m"))
    with torch.no_grad():
        excite(net, (nn.Conv2d, nn.Linear), 3.0, (0.5, 1.5))
        net[3][1].bias.fill_(1.0)
    return net.eval()


def test_spike_driven_self_attention():
    """SDSA: k AND v summed over tokens into attn_lif, q AND kv, proj conv, + x. Reference ==
    SpikingJelly's multi-step forward, in float64 (in float32, BatchNorm folded in float64 moves
    potentials by an ulp, and this seed has one at its threshold); the gates are exact on the
    emulator."""
    net = _sdsa_block().double()
    x = (np.random.default_rng(2).random((5, 10, 1, 4, 4)) < 0.5).astype(np.float64)
    want = _spikingjelly(net, x)
    graph = from_module(net, (1, 4, 4))
    ref = run_reference(graph, x, record=True)
    assert ref["1.attn_lif"].mean() > 0.05 and ref["1.q_and_kv"].mean() > 0.02
    assert want["4"].sum() > 5
    np.testing.assert_array_equal(ref["2"], want["2"])
    np.testing.assert_array_equal(ref["output"], want["4"])
    hw_graph, _ = api.lower(graph, "emu")
    emu = run_emulator(hw_graph, x, record=True)
    s = {n: emu.spikes[f"1.{n}"].astype(bool) for n in ("q_lif", "k_lif", "v_lif", "attn_lif",
                                                          "k_and_v", "q_and_kv")}
    np.testing.assert_array_equal(s["k_and_v"], s["k_lif"] & s["v_lif"])  # the gates compute
    np.testing.assert_array_equal(s["q_and_kv"], s["q_lif"] & s["attn_lif"][..., None, None])
    assert s["q_and_kv"].mean() > 0.02
    for layer in ("1.attn_lif", "2", "4"):
        assert (emu.spikes[layer] == ref[layer]).mean() > 0.9, layer  # 8-bit weights
