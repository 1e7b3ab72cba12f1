"""One time step of stateful SNNs written in plain torch the usual way (neuron states as extra
inputs and outputs), for tests/test_onnx_step.py: exported with torch.onnx.export and stepped in
onnxruntime as the independent reference. Shapes and the exact-weight scheme follow
tests/deep_models.py (IF neurons and quarter-grid weights: the quantized network is exact)."""

from __future__ import annotations

import deep_models
import numpy as np
import torch
from torch import nn

C, H = 3, 6


def lif(mem, current, beta: float, threshold: float, reset: str):
    """The usual LIF step: leak and integrate, fire above threshold, reset."""
    mem = beta * mem + current
    spk = (mem - threshold > 0).float()
    mem = mem - spk * threshold if reset == "subtract" else mem * (1 - spk)
    return spk, mem


class Dense(nn.Module):
    """Linear -> LIF (subtract) -> Linear -> LIF (zero)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(8, 4)

    def forward(self, x, mem1, mem2):
        spk1, mem1 = lif(mem1, self.fc1(x), 0.85, 0.6, "subtract")
        spk2, mem2 = lif(mem2, self.fc2(spk1), 0.9, 0.5, "zero")
        return spk2, mem1, mem2


class DenseWhere(Dense):
    """The same written with torch.where and `>` (reset to zero both times; the second an IF)."""

    def forward(self, x, mem1, mem2):
        mem1 = 0.85 * mem1 + self.fc1(x)
        spk1 = (mem1 > 0.6).float()
        mem1 = torch.where(spk1 > 0, 0.0, mem1)
        mem2 = mem2 + self.fc2(spk1)
        spk2 = (mem2 > 0.5).float()
        return spk2, mem1, torch.where(spk2 > 0, torch.zeros_like(mem2), mem2)


class Blocks(nn.Module):
    """A conv stem and a SEW block (ADD / AND / IAND) or an MS-ResNet block, max pooling of spikes
    and a Linear readout: deep_models' SEWNet, SEWNetAdd and MSNet as one step."""

    def __init__(self, kind: str, exact: bool):
        super().__init__()
        self.kind = kind
        self.beta, self.th = (1.0, 1.0) if exact else (0.8, 0.5)
        self.stem, self.bn0 = nn.Conv2d(1, C, 3, padding=1), nn.BatchNorm2d(C)
        self.conv1, self.bn1 = nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C)
        self.conv2, self.bn2 = nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C)
        self.mix = nn.Conv2d(C, C, 1)
        self.fc = nn.Linear(C * (H // 2) ** 2, 4)

    def step(self, mem, current, reset="subtract"):
        return lif(mem, current, self.beta, self.th, reset)

    def forward(self, x, *mems):
        m, c0 = list(mems), self.bn0(self.stem(x))
        if self.kind == "MS":  # membrane shortcut: c0 joins the block's last current
            s1, m[1] = self.step(m[1], c0)
            s2, m[2] = self.step(m[2], self.bn1(self.conv1(s1)), "zero")
            s3, m[3] = self.step(m[3], c0 + self.bn2(self.conv2(s2)))
            y, m[0] = self.step(m[0], self.mix(s3))
        else:
            s0, m[0] = self.step(m[0], c0)
            s1, m[1] = self.step(m[1], self.bn1(self.conv1(s0)), "zero")
            s2, m[2] = self.step(m[2], self.bn2(self.conv2(s1)))
            if self.kind == "ADD":  # a sum of spikes: a neuron before the max pool
                y, m[3] = self.step(m[3], self.mix(s0 + s2))
            else:  # SEW AND / IAND give spikes: pooled directly
                y = s0 * s2 if self.kind == "AND" else s0 * (1 - s2)
        y = nn.functional.max_pool2d(y, 2)
        out, m[-1] = self.step(m[-1], self.fc(torch.flatten(y, 1)))
        return (out, *m)


def states(kind: str) -> tuple[tuple[int, ...], ...]:
    """The per-sample shapes of a model's state inputs."""
    if kind == "Dense":
        return ((8,), (4,))
    return ((C, H, H),) * (3 if kind in ("AND", "IAND") else 4) + ((4,),)


def initialize(net: nn.Module, exact: bool, seed: int = 0) -> nn.Module:
    """deep_models.initialize in float32, the precision torch.onnx.export writes."""
    return deep_models.initialize(net, exact, seed, double=False)


def export(net: nn.Module, input_shape: tuple[int, ...], states, path) -> None:
    """torch.onnx.export of one step (the TorchScript exporter, as examples/ann_conversion),
    batch dimension dynamic; inputs x, s0, s1, ..., outputs spk, s0_out, ..."""
    names = [f"s{i}" for i in range(len(states))]
    args = (torch.zeros(1, *input_shape),) + tuple(torch.zeros(1, *s) for s in states)
    outs = ["spk"] + [f"{n}_out" for n in names]
    axes = {n: {0: "batch"} for n in ["x"] + names + outs}
    torch.onnx.export(net, args, str(path), dynamo=False, input_names=["x"] + names,
                      output_names=outs, dynamic_axes=axes, opset_version=17)


def run_onnxruntime(path, x: np.ndarray, states) -> np.ndarray:
    """The exported step run by onnxruntime over x (batch, time, *shape), states fed back from
    zeros: the spike output (batch, time, ...)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = len(x)
    mems = [np.zeros((batch, *s), np.float32) for s in states]
    out = []
    for t in range(x.shape[1]):
        feed = {"x": x[:, t].astype(np.float32)}
        feed.update({f"s{i}": m for i, m in enumerate(mems)})
        spk, *mems = session.run(None, feed)
        out.append(spk)
    return np.stack(out, axis=1)
