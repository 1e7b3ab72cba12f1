"""Small deep-SNN models written the way their users write them (plain nn.Module with forward),
shared by tests/test_deep_blocks.py. Importable by name so --trust-pickle can load them.

`exact=True` draws weights on a coarse grid (quarters), BatchNorm statistics that fold to exact
binary fractions and IF neurons (no decay to round), so the quantized hardware network computes the
float model's arithmetic exactly: then the emulator must equal the reference spike for spike,
which pins the lowering of every block (timing included), not only its float meaning.
"""

from __future__ import annotations

import torch
from torch import nn

import snncompile.nn as snc

C, H = 3, 6  # channels, height = width of the feature maps


def neuron(shape, exact: bool) -> nn.Module:
    return snc.IF(shape, threshold=1.0) if exact else snc.LIF(shape, beta=0.8, threshold=0.5)


class SEWBlock(nn.Module):
    """SEW-ResNet basic block: two conv-BN-neuron stages and a spike-level shortcut."""

    def __init__(self, cnf: str, exact: bool):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C)
        self.sn1 = neuron((C, H, H), exact)
        self.conv2, self.bn2 = nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C)
        self.sn2 = neuron((C, H, H), exact)
        self.cnf = cnf

    def forward(self, x):
        out = self.sn1(self.bn1(self.conv1(x)))
        out = self.sn2(self.bn2(self.conv2(out)))
        if self.cnf == "ADD":
            return out + x
        if self.cnf == "AND":
            return x * out
        return x * (1.0 - out)  # IAND


class SEWNet(nn.Module):
    def __init__(self, cnf: str, exact: bool = False, pool: str = "max"):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, C, 3, padding=1), nn.BatchNorm2d(C),
                                  neuron((C, H, H), exact))
        self.block = SEWBlock(cnf, exact)
        self.pool = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
        self.fc = nn.Linear(C * (H // 2) ** 2, 4)
        self.out = neuron(4, exact)

    def forward(self, x):
        x = self.pool(self.block(self.stem(x)))  # AND / IAND give spikes: max pooling is exact
        return self.out(self.fc(x.view(x.size(0), -1)))


class SEWNetAdd(SEWNet):
    """ADD block followed by a neuron layer before the max pool (pooling needs spikes)."""

    def __init__(self, exact: bool = False):
        super().__init__("ADD", exact)
        self.mix = nn.Conv2d(C, C, 1)
        self.block_out = neuron((C, H, H), exact)

    def forward(self, x):
        x = self.block(self.stem(x))
        x = self.pool(self.block_out(self.mix(x)))
        return self.out(self.fc(torch.flatten(x, 1)))


class MSBlock(nn.Module):
    """MS-ResNet block: neuron-conv-BN twice on the membrane path, shortcut added before the next
    neuron (a sum of real-valued synaptic currents)."""

    def __init__(self, exact: bool):
        super().__init__()
        self.sn1 = neuron((C, H, H), exact)
        self.conv1, self.bn1 = nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C)
        self.sn2 = neuron((C, H, H), exact)
        self.conv2, self.bn2 = nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C)

    def forward(self, x):
        out = self.bn1(self.conv1(self.sn1(x)))
        out = self.bn2(self.conv2(self.sn2(out)))
        return x + out


class MSNet(nn.Module):
    def __init__(self, exact: bool = False):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(1, C, 3, padding=1), nn.BatchNorm2d(C)
        self.block = MSBlock(exact)
        self.sn = neuron((C, H, H), exact)
        self.fc = nn.Linear(C * H * H, 4)
        self.out = neuron(4, exact)

    def forward(self, x):
        x = self.sn(self.block(self.bn(self.conv(x))))
        return self.out(self.fc(torch.flatten(x, 1)))


def initialize(net: nn.Module, exact: bool, seed: int = 0, double: bool = True) -> nn.Module:
    """Random weights and BatchNorm statistics ("trained"), eval mode, float64 unless not double
    (an ONNX export runs float32); exact: quarter-grid weights, no biases, BatchNorm folding to
    binary fractions."""
    g = torch.Generator().manual_seed(seed)
    net = net.double() if double else net
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = torch.randn(m.weight.shape, generator=g) * (1.2 if exact else 0.8)
                m.weight.copy_((w * 4).round() / 4 if exact else w)
                m.bias.copy_(torch.zeros_like(m.bias) if exact else -0.05 * torch.rand(
                    m.bias.shape, generator=g))
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                if exact:  # scale = weight, shift = bias - mean * weight: binary fractions
                    m.eps, m.running_var[:] = 0.0, 1.0
                    m.running_mean.copy_(torch.randint(0, 2, (n,), generator=g) / 4)
                    m.weight.copy_(torch.tensor([1.0, 2.0, 0.5, 1.5][:n]).repeat(n)[:n])
                    m.bias.copy_(-torch.randint(0, 2, (n,), generator=g) / 4)
                else:
                    m.running_mean.uniform_(0.0, 0.3, generator=g)
                    m.running_var.uniform_(0.5, 2.0, generator=g)
                    m.weight.uniform_(0.6, 1.6, generator=g)
                    m.bias.uniform_(-0.3, 0.0, generator=g)
    return net.eval()
