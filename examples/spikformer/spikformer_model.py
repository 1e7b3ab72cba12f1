"""A one-block Spikformer for sklearn's 8x8 digits, from SpikingJelly's own layers (multi-step):
the 8 image rows are 8 channels of 8 tokens (the columns).

    embed:  Conv1d(8 -> C, k=1), BatchNorm1d, LIF              (C, 8) spikes
    block:  x + SpikingSelfAttention(x)   (Spikformer SSA, residual ADD of spikes)
    head:   flatten, Linear(8C -> 10), LIF readout               class = most spikes
"""

from __future__ import annotations

from spikingjelly.activation_based import layer, neuron
from torch import nn

C, TOKENS = 8, 8


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = layer.SpikingSelfAttention(C, num_heads=1)

    def forward(self, x):
        return x + self.attn(x)


def build() -> nn.Sequential:
    return nn.Sequential(
        layer.SeqToANNContainer(nn.Conv1d(8, C, 1), nn.BatchNorm1d(C)),
        neuron.LIFNode(tau=2.0, step_mode="m"),
        Block(),
        layer.SeqToANNContainer(nn.Flatten(), nn.Linear(C * TOKENS, 10)),
        neuron.LIFNode(tau=2.0, step_mode="m"))
