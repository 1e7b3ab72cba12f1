"""Step a torch Sequential of framework neurons one time step at a time and record, for the named
children, their spikes and membranes: how the framework-vs-reference tests read the source side."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch


def run_stepwise(net: torch.nn.Sequential, x: np.ndarray,
                 membrane: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
                 names: Sequence[str] = ("1", "3")) -> tuple[dict, dict]:
    """x (batch, T, *shape) -> ({name: spikes (batch, T, ...)}, {name: membranes}); the caller
    resets the network's state first and says how to read a layer's membrane after its step."""
    spikes: dict[str, list] = {n: [] for n in names}
    mems: dict[str, list] = {n: [] for n in names}
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = torch.as_tensor(x[:, t])
            for name, m in net.named_children():
                h = m(h)
                h = h[0] if isinstance(h, tuple) else h  # an output=True layer: (spk, mem)
                if name in spikes:
                    spikes[name].append(h.numpy().copy())
                    mems[name].append(membrane(m, h).numpy().copy())
    return ({k: np.stack(v, 1) for k, v in spikes.items()},
            {k: np.stack(v, 1) for k, v in mems.items()})
