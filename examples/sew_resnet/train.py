"""Train the SEW-ResNet of sew_model.py on sklearn's digits (surrogate gradients, BatchNorm in
training mode), save it, and report float vs emulator accuracy on the test split.

    python examples/sew_resnet/train.py [OUT.pt]   # default examples/sew_resnet/sew_resnet.pt

The model is a user's nn.Module class, so loading the file runs code: pass --trust-pickle
(trust_pickle=True) with this folder on the Python path (`PYTHONPATH=examples/sew_resnet`).
The compiler folds every BatchNorm into its conv, lowers the IAND shortcut and the max pool to
threshold populations and aligns the ADD shortcut's shorter path with delays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "digits")]

from data import load_split
from sew_model import SEWResNet

import snncompile.nn as snn
from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.verify import predictions

EPOCHS, BATCH, LR, SEED = 12, 32, 3e-3, 0
SHAPE = (1, 8, 8)


def images(x: np.ndarray) -> np.ndarray:
    """(n, T, 64) spikes -> (n, T, 1, 8, 8)."""
    return x.reshape(x.shape[0], x.shape[1], *SHAPE)


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        spikes = snn.run(model.eval(), torch.as_tensor(x, dtype=torch.float32)).numpy()
    return float(np.mean(predictions(spikes) == y) * 100)


def emulator_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    hw_graph = api.compile_model(path, trust_pickle=True).hw_graph
    (name,) = hw_graph.outputs
    return float(np.mean(predictions(run_emulator(hw_graph, x).outputs[name]) == y) * 100)


def train(out: Path = HERE / "sew_resnet.pt") -> None:
    torch.set_num_threads(1)  # small tensors: one thread is ~10x faster than two contending
    torch.manual_seed(SEED)
    x_train, y_train, x_test, y_test = load_split()
    x_train, x_test = images(x_train), images(x_test)
    model = SEWResNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    xt, yt = torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(y_train)
    for epoch in range(EPOCHS):
        model.train()
        loss = snn.train_epoch(model, optimizer, xt, yt, BATCH)
        print(f"epoch {epoch + 1}: loss {loss:.3f}, "
              f"test accuracy {accuracy(model, x_test, y_test):.2f}%", flush=True)
    model.eval()
    snn.save(model, out, input_shape=SHAPE)
    print(f"saved {out}: float accuracy {accuracy(model, x_test, y_test):.2f}%, "
          f"emulator accuracy {emulator_accuracy(out, x_test, y_test):.2f}%")


if __name__ == "__main__":
    train(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "sew_resnet.pt")
