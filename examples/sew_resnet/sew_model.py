"""A small SEW-ResNet for sklearn's 8x8 digits, written as people write spiking ResNets: plain
nn.Modules with a forward, conv-BatchNorm-neuron stages and spike-level shortcuts.

    stem:   conv 3x3 (1 -> C), BN, LIF                               (C, 8, 8) spikes
    block1: SEW block, IAND shortcut  (x * (1 - out): spikes again)  (C, 8, 8)
    pool:   MaxPool2d(2) on spikes (an OR)                           (C, 4, 4)
    block2: SEW block, ADD shortcut   (out + x: 0, 1 or 2)           (C, 4, 4)
    head:   AvgPool2d(2), flatten, Linear(4C -> 10), LIF readout     class = most spikes
"""

from __future__ import annotations

import torch
from torch import nn

import snncompile.nn as snn

C, BETA = 8, 0.8


class SEWBlock(nn.Module):
    def __init__(self, size: int, cnf: str):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
        self.sn1 = snn.LIF((C, size, size), beta=BETA)
        self.conv2, self.bn2 = nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)
        self.sn2 = snn.LIF((C, size, size), beta=BETA)
        self.cnf = cnf

    def forward(self, x):
        out = self.sn1(self.bn1(self.conv1(x)))
        out = self.sn2(self.bn2(self.conv2(out)))
        if self.cnf == "ADD":
            return out + x
        return x * (1.0 - out)  # IAND


class SEWResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, C, 3, padding=1, bias=False)
        self.stem_bn, self.stem_sn = nn.BatchNorm2d(C), snn.LIF((C, 8, 8), beta=BETA)
        self.block1 = SEWBlock(8, "IAND")
        self.pool = nn.MaxPool2d(2)
        self.block2 = SEWBlock(4, "ADD")
        self.head_pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * C, 10)
        self.out = snn.LIF(10, beta=BETA)

    def forward(self, x):
        x = self.stem_sn(self.stem_bn(self.stem(x)))
        x = self.pool(self.block1(x))
        x = self.head_pool(self.block2(x))
        return self.out(self.fc(torch.flatten(x, 1)))
