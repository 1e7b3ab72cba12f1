"""snncompile.nn.train_epoch, the spike-count training epoch the examples share: it learns a toy
task (two classes told apart by which input channels spike) and is reproducible from a generator."""

from __future__ import annotations

import torch

import snncompile.nn as snn


def _task() -> tuple[torch.Tensor, torch.Tensor]:
    """64 samples of 10 steps: class 0 spikes on channels 0-1, class 1 on 2-3 (rate 0.6)."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    x = (torch.rand(64, 10, 4, generator=g) < 0.6).float()
    x[:, :, 2:] *= y[:, None, None]
    x[:, :, :2] *= 1 - y[:, None, None]
    return x, y


def _model() -> torch.nn.Module:
    """Wired the wrong way round: untrained, each class's channels drive the other's neuron."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 2), snn.LIF(2, beta=0.9))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 0.0, 0.6, 0.6], [0.6, 0.6, 0.0, 0.0]]))
        model[0].bias.zero_()
    return model


def _loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(cross-entropy of the spike counts, accuracy) over the whole set."""
    with torch.no_grad():
        counts = snn.run(model, x).sum(dim=1)
    return (float(torch.nn.functional.cross_entropy(counts, y)),
            float((counts.argmax(1) == y).float().mean()))


def _trained(epochs: int) -> tuple[torch.nn.Module, list[float]]:
    model, (x, y) = _model(), _task()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    return model, [snn.train_epoch(model, optimizer, x, y, 16, gen) for _ in range(epochs)]


def test_train_epoch_learns_the_toy_task_and_is_reproducible():
    x, y = _task()
    before, wrong = _loss(_model(), x, y)
    model, losses = _trained(5)
    after, accuracy = _loss(model, x, y)
    assert wrong == 0.0 and accuracy == 1.0 and after < 0.5 * before, (before, after, accuracy)
    again, losses_again = _trained(5)
    assert losses_again == losses
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
