"""NeuroBench's trained keyword-spotting SNN (tests/data/neurobench, from the neurobench 0.1.0
wheel): the architecture of the wheel's `neurobench/examples/gsc.py`, with its state_dict."""

from __future__ import annotations

from pathlib import Path

import snntorch
import torch
from snntorch import surrogate
from torch import nn

STEPS = 200  # NeuroBench's S2S processor: 200 steps of 20 MFCC-like features per sample
PUBLISHED_DENSE = 29_030_400  # NeuroBench's dense synaptic operations per sample


def gsc_net(third_party: Path) -> nn.Sequential:
    beta, grad = 0.9, surrogate.fast_sigmoid()

    def leaky(**kw):
        return snntorch.Leaky(beta=beta, spike_grad=grad, init_hidden=True, **kw)

    net = nn.Sequential(nn.Flatten(), nn.Linear(20, 256), leaky(), nn.Linear(256, 256), leaky(),
                        nn.Linear(256, 256), leaky(), nn.Linear(256, 35), leaky(output=True))
    state = torch.load(third_party / "neurobench" / "s2s_gsc_snntorch", map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state)
    return net.eval()
