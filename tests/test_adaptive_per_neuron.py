"""Per-neuron adaptation constants (issue 14): snncompile.nn.AdaptiveLIF with a decay, threshold
or threshold step per neuron (as co-learned adaptation + delay training gives) quantizes to a
hw ATRLIF whose deltas and theta_step are per-neuron arrays; the emulator runs them, the loihi2
program runs them in the shipped SnnATRLIF (Lava's ATRLIF holds one of each), and Lava equals the
emulator in spikes, i, v, theta and r at every step; the fpga RTL runs them from its parameter
memory; netx export refuses by name.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from test_lava_differential import run_and_compare

import snncompile.nn as snn
from snncompile import api
from snncompile.backends import get_backend
from snncompile.backends.netx_writer import write_layers
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference


def _net(seed: int) -> torch.nn.Sequential:
    """Two AdaptiveLIF layers whose every constant differs between neurons."""
    torch.manual_seed(seed)

    def layer(n: int) -> snn.AdaptiveLIF:
        return snn.AdaptiveLIF(n, alpha=torch.rand(n) * 0.8, beta=torch.rand(n) * 0.5 + 0.45,
                               theta_0=torch.rand(n) * 1.5 + 0.4,
                               theta_step=torch.rand(n) * 0.8,
                               decay_theta=torch.rand(n) * 0.4 + 0.55,
                               decay_r=torch.rand(n) * 0.9)

    net = torch.nn.Sequential(torch.nn.Linear(10, 16), layer(16), torch.nn.Linear(16, 5),
                              layer(5))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
    return net


def _x(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < 0.5).astype(np.float32)


def test_layer_accepts_per_neuron_and_refuses_a_wrong_shape():
    m = snn.AdaptiveLIF(3, theta_0=torch.tensor([0.5, 1.0, 2.0]), decay_r=[0.1, 0.2, 0.3])
    out = m(torch.full((1, 3), 1.0))  # v = 1: fires where 1 >= theta_0
    assert out.tolist() == [[1.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match=r"theta_0 has shape \(2,\), which does not broadcast"):
        snn.AdaptiveLIF(3, theta_0=torch.ones(2))


def test_per_neuron_adaptive_quantizes_and_tracks_the_float_model():
    """The torch layer equals the float reference exactly (spikes); the emulator agrees with it
    as closely as for shared constants (test_adaptive: first layers >= 0.98)."""
    net = _net(1)
    x = _x(2, (8, 30, 10))
    graph = check(from_module(net, (10,)))
    ref = run_reference(graph, x, record=True)
    snn.reset_state(net)
    with torch.no_grad():
        want = torch.stack([net(torch.as_tensor(x[:, t])) for t in range(x.shape[1])], 1)
    np.testing.assert_array_equal(want.numpy(), ref["3"])
    hw_graph, report = api.lower(graph, "loihi2")
    ops = {n: hw_graph.nodes[n] for n in ("1", "3")}
    assert all(isinstance(op, hw.ATRLIF) and op.heterogeneous for op in ops.values())
    assert all(isinstance(op.theta_step, np.ndarray) and isinstance(op.delta_r, np.ndarray)
               for op in ops.values())
    assert {q.layer: q.param_groups for q in report.layers} == {"1": 16, "3": 5}
    emu = run_emulator(hw_graph, x.astype(np.int8), record=True)
    assert 0.05 < ref["1"].mean() < 0.95 and ref["3"].any()
    agree = [float((emu.spikes[n] == ref[n]).mean()) for n in ("1", "3")]
    assert agree[0] >= 0.98 and agree[1] >= 0.9, agree


def _random_atrlif(rng: np.random.Generator, n: int) -> hw.ATRLIF:
    """Every constant per neuron, corners included (delta_i = -1, deltas 0 and 4096)."""
    def deltas(low: int) -> np.ndarray:
        return np.where(rng.random(n) < 0.3, rng.choice([low, 0, 4096], n),
                        rng.integers(low, 4097, n)).clip(low, 4095 if low < 0 else 4096)

    return hw.ATRLIF((n,), delta_i=deltas(-1), delta_v=deltas(0), delta_theta=deltas(0),
                     delta_r=deltas(0), theta_0=rng.integers(0, 300, n),
                     theta_step=rng.integers(0, 200, n),
                     bias_mant=rng.integers(-200, 200, n), bias_exp=rng.integers(0, 4, n))


def test_lava_shipped_snn_atrlif_equals_emulator():
    """Two random per-neuron graphs (a recurrent second layer) and the compiled torch model:
    Lava (shipped SnnATRLIF) == emulator in s, i, v, theta, r at every step."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        nodes = {"in": hw.SpikeInput((4,)),
                 "d0": hw.Dense(rng.integers(-200, 256, (6, 4)),
                                weight_exp=int(rng.integers(0, 3))),
                 "a0": _random_atrlif(rng, 6),
                 "d1": hw.Dense(rng.integers(-100, 200, (5, 6)), weight_exp=1),
                 "a1": _random_atrlif(rng, 5),
                 "rec": hw.Dense(rng.integers(-80, 80, (5, 5))),
                 "out": hw.SpikeOutput((5,))}
        edges = (("in", "d0"), ("d0", "a0"), ("a0", "d1"), ("d1", "a1"), ("a1", "rec"),
                 ("rec", "a1"), ("a1", "out"))
        g = check(Graph("hw", nodes, edges), "per-neuron ATRLIF graph")
        x = (rng.random((2, 10, 4)) < 0.6).astype(np.int8)  # batch 2: theta restarts per sample
        emu = run_and_compare(g, x)
        assert emu.spikes["a0"].any() and emu.spikes["a1"].any()
        theta = emu.extra["theta:a0"]
        assert (theta > np.asarray(nodes["a0"].theta_0) << 6).any()  # thresholds adapted
    hw_graph, _ = api.lower(from_module(_net(3), (10,)), "loihi2")
    run_and_compare(hw_graph, _x(4, (1, 12, 10)).astype(np.int8))


def test_fpga_runs_per_neuron_adaptation_and_netx_refuses_by_name(tmp_path):
    """The fpga keeps the per-neuron constants in its parameter memory: Icarus equals the
    emulator's output spikes; netx export still refuses ATRLIF by name."""
    hw_graph, _ = api.lower(from_module(_net(5), (10,)), "fpga")
    assert hw_graph.nodes["1"].heterogeneous
    fpga = get_backend("fpga")
    fpga.write(hw_graph, tmp_path)
    x = _x(6, (2, 12, 10)).astype(np.int8)
    out, _ = fpga.run(tmp_path, {}, x, simulator="icarus")
    want = run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]]
    np.testing.assert_array_equal(out, want)
    assert want.any()
    with h5py.File("unused.net", "w", driver="core", backing_store=False) as f:
        reasons = write_layers(hw_graph, f)
        assert "layer" not in f
    assert reasons[0].startswith("netx export cannot hold ATRLIF at node '1': netx has no "
                                 "adaptive threshold")
