"""Learned delays on Lava: a DelayedLinear `.pt` compiled for loihi2 runs in Lava (DelayDense,
fixed_pt) exactly like the emulator, and a recurrent DelayLinear does too. Two Lava runs only."""

from __future__ import annotations

import numpy as np
import torch
from test_delays import if_, line

import snncompile.nn as snn
from snncompile import api
from snncompile.backends import loihi2
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.passes import lower_to_hw
from snncompile.sim.emulator import run_emulator
from snncompile.target import load_target


def test_learned_delay_pt_on_lava_equals_the_emulator(tmp_path):
    torch.manual_seed(4)
    m = torch.nn.Sequential(snn.DelayedLinear(6, 10, 40), snn.LIF(10, beta=0.6),
                            torch.nn.Linear(10, 3, bias=False), snn.LIF(3, beta=0.9))
    with torch.no_grad():
        m[0].weight.mul_(3).add_(0.6)
        m[2].weight.mul_(2).add_(0.5)
        m[0].delay.add_(torch.rand_like(m[0].delay) - 0.5)
    m.train()  # a training-mode step leaves no trace in the saved file
    snn.run(m, torch.rand(2, 3, 6))
    path = tmp_path / "delays.pt"
    snn.save(m.eval(), path, (6,))
    assert int(m[0].integer_delays().max()) > 30
    x = (np.random.default_rng(0).random((4, 40, 6)) < 0.3).astype(np.int8)
    report = api.verify(path, x, target="loihi2")
    assert report.source_agreement == 1.0  # torch eval forward == reference
    assert report.backend_mismatches == 0, report.checks  # Lava == emulator, entry for entry
    assert min(layer.agreement for layer in report.layers) > 0.97
    hw_graph, _ = api.lower(api.load(path), "loihi2")
    assert isinstance(hw_graph.nodes["0"], hw.DelayDense)
    assert run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]].sum() > 10


def test_recurrent_delays_on_lava_equal_the_emulator(tmp_path):
    rng = np.random.default_rng(2)
    rec = nn.DelayLinear(rng.choice([-0.25, 0.5], (5, 5)), rng.integers(0, 6, (5, 5)))
    g = line(("fc1", nn.DelayLinear(rng.choice([0.25, 0.5, 0.75], (5, 4)),
                                    rng.integers(0, 20, (5, 4)))), ("if1", if_(5)), n_in=4,
             extra_edges=(("if1", "rec"), ("rec", "if1")), extra_nodes={"rec": rec})
    hw_graph, _ = lower_to_hw(g, load_target("loihi2"))
    assert isinstance(hw_graph.nodes["rec"], hw.DelayDense)
    loihi2.write(hw_graph, tmp_path)
    x = (rng.random((3, 30, 4)) < 0.3).astype(np.int8)
    spikes, _ = loihi2.run(tmp_path, {"files": {}}, x)
    want = run_emulator(hw_graph, x).outputs["out"]
    assert want.sum() > 10
    np.testing.assert_array_equal(spikes, want)
