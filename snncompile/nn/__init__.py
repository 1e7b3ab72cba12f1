"""Spiking layers to train in PyTorch with the hardware's semantics, plus run/save helpers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from snncompile.nn.adaptive import AdaptiveLIF
from snncompile.nn.delays import DelayedLinear
from snncompile.nn.layers import IF, LIF, RLIF, CubaLIF
from snncompile.nn.surrogate import spike

FORMAT = "snncompile-torch/1"

__all__ = ["FORMAT", "IF", "LIF", "RLIF", "AdaptiveLIF", "CubaLIF", "DelayedLinear", "reset_state",
           "run", "save", "spike", "train_epoch"]


def reset_state(model: torch.nn.Module) -> None:
    """Zero the state of every spiking layer in `model` (snncompile.nn and snnTorch layers)."""
    for m in model.modules():
        if hasattr(m, "reset_state"):
            m.reset_state()
        elif hasattr(m, "reset_mem"):
            m.reset_mem()  # snnTorch layers keep their state in the module too


def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run `model` one step at a time over x (batch, time, *shape) from a zero state.

    Returns (batch, time, *out). A layer that returns a tuple (snnTorch with output=True) gives
    its first element, the spikes.
    """
    reset_state(model)
    outs = []
    for t in range(x.shape[1]):
        y = model(x[:, t])
        outs.append(y[0] if isinstance(y, tuple) else y)
    return torch.stack(outs, dim=1)


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, batch: int, generator: torch.Generator | None = None) -> float:
    """One epoch of the rate-coded classifier training the examples share: shuffled minibatches
    (torch.randperm with `generator`), cross-entropy of each class's spike count over the steps
    (`run` summed over time) against y. Returns the last minibatch's loss."""
    order = torch.randperm(len(x), generator=generator)
    loss = torch.zeros(())
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        loss = torch.nn.functional.cross_entropy(run(model, x[idx]).sum(dim=1), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.item())


def save(model: torch.nn.Module, path: str | Path, input_shape: Sequence[int],
         dt: float = 1e-3) -> None:
    """Write `model` (an nn.Sequential) as a .pt file snncompile loads without running its code."""
    reset_state(model)
    torch.save({"format": FORMAT, "input_shape": [int(d) for d in input_shape], "dt": float(dt),
                "model": model}, Path(path))
