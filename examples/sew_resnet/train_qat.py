"""Fine-tune the trained SEW-ResNet (sew_resnet.pt) with quantization-aware training at the
default 8-bit weights, so it deploys with the compiler's default options: the fake quantization
sees each conv's weights with its BatchNorm folded in (running statistics fixed, as the compiler
folds them; `qat.train_mode`), the average pool composed into the Linear after it, the biases on
the grid their route holds and the decays on their 12-bit codes.

    python examples/sew_resnet/train_qat.py [--epochs N] [--lr LR] [OUT.pt]
                  # default: 2 epochs at lr 1e-4 -> examples/sew_resnet/sew_resnet_qat.pt

`prepare(..., dyadic=True)` puts every layer on the grid of a power-of-two vth, where the float
model's sums are exact and it breaks ties at the threshold as the integers do. On this model the
grid alone (0 epochs) already keeps the float accuracy; the settings tried are in the README.

Loading the file runs the example's own classes: --trust-pickle, PYTHONPATH=examples/sew_resnet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "digits")]

from data import load_split
from train import SHAPE, accuracy, emulator_accuracy, images

import snncompile.nn as snn
from snncompile.frontends.torch_file import read_module
from snncompile.nn import qat

BATCH, SEED = 32, 0


def fine_tune(out: Path = HERE / "sew_resnet_qat.pt", epochs: int = 2, lr: float = 1e-4) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    x_train, y_train, x_test, y_test = load_split()
    x_train, x_test = images(x_train), images(x_test)
    model = read_module(HERE / "sew_resnet.pt", trust_pickle=True)[0].eval()
    print(f"float accuracy before: {accuracy(model, x_test, y_test):.2f}%", flush=True)
    start = time.time()
    qat.prepare(model, SHAPE, dyadic=True)
    print(f"prepared (8-bit grid): {accuracy(model, x_test, y_test):.2f}%", flush=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.as_tensor(x_train, dtype=torch.float32), torch.as_tensor(y_train)
    for epoch in range(epochs):
        qat.train_mode(model)
        loss = snn.train_epoch(model, optimizer, xt, yt, BATCH)
        qat.refresh(model)
        print(f"epoch {epoch + 1}: loss {loss:.3f}, test accuracy (prepared) "
              f"{accuracy(model, x_test, y_test):.2f}%", flush=True)
    qat.finalize(model)
    model.eval()
    snn.save(model, out, input_shape=SHAPE)
    print(f"saved {out} after {time.time() - start:.0f} s: float accuracy "
          f"{accuracy(model, x_test, y_test):.2f}%, emulator accuracy "
          f"{emulator_accuracy(out, x_test, y_test):.2f}%")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", type=Path, default=HERE / "sew_resnet_qat.pt")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    args = parser.parse_args()
    fine_tune(args.out, args.epochs, args.lr)
