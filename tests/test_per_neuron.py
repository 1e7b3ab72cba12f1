"""Per-neuron parameters (issue 14): snnTorch `Leaky(beta=<tensor>)` / `Synaptic(alpha=, beta=)`
with a per-neuron `learn_threshold` threshold compile to every Loihi 2 fixed-point target.

Thresholds fold into each neuron's weights and biases (one integer vth serves all neurons
exactly); decays become per-neuron du, dv (hw.LIF arrays), which Lava's LIF cannot hold and the
shipped SnnLIF runs. Checked here: the emulator's spikes against snnTorch's own forward (the
trainer, an independent implementation), Lava against the emulator bit for bit, and the number
of (du, dv, vth) groups the quantization report gives.
"""

from __future__ import annotations

import numpy as np
import pytest
import snntorch
import torch
from layer_trace import run_stepwise
from test_lava_differential import compare

import snncompile.nn as snc
from snncompile import api
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.passes.quantize import param_groups
from snncompile.sim.emulator import run_emulator

N_IN, N_HID, N_OUT, T = 12, 24, 6, 30


def _net(kind: str, seed: int, **kw) -> torch.nn.Sequential:
    torch.manual_seed(seed)

    def neuron(n: int):
        beta = torch.rand(n) * 0.6 + 0.35
        thr = torch.rand(n) * 1.5 + 0.5  # learn_threshold: a trained per-neuron threshold
        if kind == "Leaky":
            return snntorch.Leaky(beta=beta, threshold=thr, learn_threshold=True,
                                  learn_beta=True, init_hidden=True, **kw)
        return snntorch.Synaptic(alpha=torch.rand(n) * 0.6 + 0.2, beta=beta, threshold=thr,
                                 learn_threshold=True, init_hidden=True, **kw)

    net = torch.nn.Sequential(torch.nn.Linear(N_IN, N_HID), neuron(N_HID),
                              torch.nn.Linear(N_HID, N_OUT), neuron(N_OUT))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3.0)
    return net


@pytest.mark.parametrize("kind", ["Leaky", "Synaptic"])
def test_per_neuron_snntorch_runs_on_emu_and_lava(kind):
    """Zero reset in the spiking step (reset_delay=False), which snnTorch and Loihi share, so the
    only deviation from snnTorch is quantization."""
    net = _net(kind, seed=1, reset_mechanism="zero", reset_delay=False)
    x = (np.random.default_rng(2).random((16, T, N_IN)) < 0.35).astype(np.float32)
    snc.reset_state(net)
    ref, _ = run_stepwise(net, x, lambda m, h: m.mem)
    hw_graph, report = api.lower(from_module(net, (N_IN,)), "loihi2")
    lifs = {n: op for n, op in hw_graph.nodes.items() if isinstance(op, hw.LIF)
            and n in ("1", "3")}
    assert all(op.heterogeneous and np.ndim(op.vth) == 0 for op in lifs.values())
    groups = {q.layer: q.param_groups for q in report.layers}
    assert groups == {n: param_groups(op) for n, op in lifs.items()}
    assert all(g > 1 for g in groups.values())  # random decays: (nearly) one group per neuron
    emu = run_emulator(hw_graph, x.astype(np.int8), record=True)
    for name in ("1", "3"):
        want, got = ref[name].sum(), emu.spikes[name].sum()
        assert want > 0.05 * ref[name].size, f"layer {name} nearly silent: vacuous"
        assert abs(int(got) - int(want)) <= 0.1 * want, (name, got, want)
        agree = (emu.spikes[name] == ref[name]).mean()
        assert agree > 0.9, (name, agree)
    pred_ref = ref["3"].sum(1).argmax(-1)
    pred_emu = emu.spikes["3"].sum(1).argmax(-1)
    assert (pred_ref == pred_emu).mean() >= 0.75
    compare(hw_graph, x[:2].astype(np.int8))  # Lava (shipped SnnLIF) == emulator, every step


def test_per_neuron_fpga_refuses_by_name(tmp_path):
    from snncompile.backends import get_backend, support

    hw_graph, _ = api.lower(from_module(_net("Leaky", seed=3), (N_IN,)), "fpga")
    with pytest.raises(support.UnsupportedFeature, match=r"^fpga cannot hold per-neuron du, dv "
                       r"or vth at node '1'"):
        get_backend("fpga").write(hw_graph, tmp_path)
