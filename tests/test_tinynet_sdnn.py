"""lava-dl 0.6.0's SDN block tests (tests/lava/lib/dl/netx/test_blocks.py, TestSDNBlocks) on the
emulator: each block rebuilt as a hw graph gives lava-dl's recorded ground truth
(gts/tinynet_sdnn) exactly. Arrays there are Lava's (W, H, C, time); ours are (C, H, W).
"""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import simulate

SDN = {"vth": 20, "spike_exp": 6, "state_exp": 6}  # lava-dl's sdn_params in these tests


@pytest.fixture(scope="module")
def gts(lava_dl_wheel):
    folder = lava_dl_wheel / "gts" / "tinynet_sdnn"
    return {p.stem: np.load(p) for p in folder.glob("*.npy")}


def chain(inp: hw.HWOp, neuron: hw.HWOp, syn: hw.HWOp | None = None) -> Graph:
    nodes = {"in": inp, **({"s": syn} if syn is not None else {}), "n": neuron,
             "out": hw.SpikeOutput(tuple(neuron.shape))}
    edges = (("in", "s"), ("s", "n")) if syn is not None else (("in", "n"),)
    return check(Graph("hw", nodes, (*edges, ("n", "out")), 1.0, {}), "tinynet")


def ours(a: np.ndarray) -> np.ndarray:
    """Lava (W, H, C, T) -> a batch of one (1, T, C, H, W)."""
    return a.transpose(3, 2, 1, 0)[None]


def test_input_block_delta(gts):
    """test_input: a sine-modulated frame into the input block's Delta, 15 steps."""
    steps = 15
    data = np.repeat(gts["input_bias"][..., None], steps, axis=3)
    data = (data * np.sin(2 * np.pi * np.arange(steps) / steps)).astype(int)
    graph = chain(hw.GradedInput((3, 16, 16)), hw.Delta((3, 16, 16), 16, **SDN))
    got = simulate(graph, ours(data), steps).spikes["n"][0]
    np.testing.assert_array_equal(got, ours(gts["input"])[0])
    assert np.count_nonzero(got) > 1000


def test_conv_block_sigma_delta(gts):
    """test_conv: binary input (input_message_bits False), a stride-2 Conv into SigmaDelta with
    a per-channel bias; lava-dl runs one step, so only the bias's first message is non-zero."""
    kernel = gts["layer1_kernel"]  # Lava (C_out, kW, kH, C_in), true convolution
    weight = kernel.transpose(0, 3, 2, 1)[:, :, ::-1, ::-1]
    bias = np.broadcast_to(gts["layer1_bias"].reshape(-1, 1, 1), (24, 6, 6))
    graph = chain(hw.SpikeInput((3, 16, 16)), hw.SigmaDelta((24, 6, 6), 16, bias=bias, **SDN),
                  hw.Conv(weight, stride=(2, 2)))
    x = ours(gts["input"])
    got = simulate(graph, x[:, :1], 1).spikes["n"][0]
    want = ours(gts["layer1"])[0]
    np.testing.assert_array_equal(got, want[:1])
    assert not want[1:].any() and got.any()


def test_dense_block_sigma(gts):
    """test_dense: the conv layer's graded output read as binary spikes (input_message_bits
    False) through 8-bit weights into a Sigma, 16 steps."""
    data = gts["layer1"].reshape(-1, 16)  # (W*H*C, T): netx's flattened order
    graph = chain(hw.SpikeInput((864,)), hw.Sigma((100,)), hw.Dense(gts["layer2_weight"]))
    got = simulate(graph, (data.T[None] != 0).astype(np.int8), 16).spikes["n"][0]
    np.testing.assert_array_equal(got, gts["layer2"].T)
    assert np.count_nonzero(got) > 100
