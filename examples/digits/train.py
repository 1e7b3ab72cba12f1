"""Train the shipped digits SNN with snncompile.nn (surrogate gradients), save it, and report
float vs emulator accuracy on the test split.

    python examples/digits/train.py [OUT.pt]   # default examples/digits/digits.pt (a few minutes)

The layers use the hardware's own semantics (reset to zero, immediate), so deployment changes
only the number formats; the emulator is expected within 1 point of the float model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

import snncompile.nn as snn
from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.verify import predictions

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from data import load_split

HIDDEN, BETA, EPOCHS, BATCH, LR, SEED = 64, 0.9, 40, 64, 2e-3, 0


def build() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(64, HIDDEN),
        snn.LIF(HIDDEN, beta=BETA),
        torch.nn.Linear(HIDDEN, 10),
        snn.LIF(10, beta=BETA),
    )


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        spikes = snn.run(model, torch.as_tensor(x, dtype=torch.float32)).numpy()
    return float(np.mean(predictions(spikes) == y) * 100)


def train(out: Path = HERE / "digits.pt") -> None:
    torch.manual_seed(SEED)
    x_train, y_train, x_test, y_test = load_split()
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    xt = torch.as_tensor(x_train, dtype=torch.float32)
    yt = torch.as_tensor(y_train)
    for epoch in range(EPOCHS):
        loss = snn.train_epoch(model, optimizer, xt, yt, BATCH)
        if epoch % 10 == 9:
            print(f"epoch {epoch + 1}: loss {loss:.3f}, "
                  f"test accuracy {accuracy(model, x_test, y_test):.2f}%")
    snn.save(model, out, input_shape=(64,))
    hw_graph = api.compile_model(out).hw_graph
    (name,) = hw_graph.outputs
    hw_out = run_emulator(hw_graph, x_test).outputs[name]
    hw_acc = float(np.mean(predictions(hw_out) == y_test) * 100)
    print(f"saved {out}: float accuracy {accuracy(model, x_test, y_test):.2f}%, "
          f"emulator accuracy {hw_acc:.2f}%")


if __name__ == "__main__":
    train(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "digits.pt")
