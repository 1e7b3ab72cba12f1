"""Train the one-block Spikformer of spikformer_model.py on sklearn's digits with SpikingJelly
(multi-step, surrogate gradients), save it, and report SpikingJelly's float accuracy and the
emulator's on the test split.

    python examples/spikformer/train.py [OUT.pt]   # default examples/spikformer/spikformer.pt

The file holds a user's class: load it with --trust-pickle and this folder on the Python path.
SpikingJelly runs these modules on (T, batch, ...) tensors, which snncompile's per-step `verify`
cannot feed, so the trainer's side here is SpikingJelly's own forward.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "digits")]

from data import load_split
from spikformer_model import build
from spikingjelly.activation_based import functional

import snncompile.nn as snn
from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.verify import predictions

EPOCHS, BATCH, LR, SEED = 10, 32, 3e-3, 0
SHAPE = (8, 8)


def framework_spikes(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """SpikingJelly's multi-step forward on (n, T, 8, 8): (n, T, 10) spikes."""
    functional.reset_net(model)
    out = model(torch.as_tensor(x, dtype=torch.float32).transpose(0, 1))
    return out.transpose(0, 1).detach().numpy()


def train(out: Path = HERE / "spikformer.pt") -> None:
    torch.set_num_threads(1)  # small tensors: one thread is faster than two contending
    torch.manual_seed(SEED)
    x_train, y_train, x_test, y_test = load_split()
    x_train = x_train.reshape(len(x_train), -1, *SHAPE).astype(np.float32)
    x_test = x_test.reshape(len(x_test), -1, *SHAPE).astype(np.float32)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    yt = torch.as_tensor(y_train)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), BATCH):
            idx = order[start : start + BATCH]
            functional.reset_net(model)
            xb = torch.as_tensor(x_train[idx.numpy()]).transpose(0, 1)
            loss = torch.nn.functional.cross_entropy(model(xb).sum(0), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = np.mean(predictions(framework_spikes(model, x_test)) == y_test) * 100
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {acc:.2f}%", flush=True)
    functional.reset_net(model)
    snn.save(model, out, input_shape=SHAPE)
    with torch.no_grad():
        float_acc = np.mean(predictions(framework_spikes(model, x_test)) == y_test) * 100
    hw_graph = api.compile_model(out, trust_pickle=True).hw_graph
    (name,) = hw_graph.outputs
    emu = run_emulator(hw_graph, x_test.astype(np.float64)).outputs[name]
    print(f"saved {out}: SpikingJelly float accuracy {float_acc:.2f}%, emulator accuracy "
          f"{np.mean(predictions(emu) == y_test) * 100:.2f}%")


if __name__ == "__main__":
    train(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "spikformer.pt")
