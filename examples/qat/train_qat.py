"""Fine-tune the shipped digits SNN with quantization-aware training at a low weight precision and
report float, post-training-quantized (PTQ) and QAT accuracy on the emulator.

    python examples/qat/train_qat.py [--bits 2] [--epochs 30] [--lr 1e-3] \
        [--out examples/qat/digits_w2_qat.pt]

PTQ: `snncompile compile --weight-bits N` of the original model. QAT: `snncompile.nn.qat.prepare`
makes the forward pass use the weights and decays the compiler picks at N bits (straight-through
gradients), a short fine-tune on the training split (Adam, cosine learning rate), `qat.refresh`
after every epoch so the scale follows the weights, then `qat.finalize` writes the quantized
weights back for `snn.save`.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

import snncompile.nn as snn
from snncompile import api
from snncompile.frontends.torch_file import read_module
from snncompile.nn import qat
from snncompile.sim.emulator import run_emulator
from snncompile.verify import predictions

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "digits"))
from data import load_split

SOURCE = HERE.parent / "digits" / "digits.pt"
BATCH, SEED = 64, 0


def float_accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        spikes = snn.run(model, torch.as_tensor(x, dtype=torch.float32)).numpy()
    return float(np.mean(predictions(spikes) == y) * 100)


def emulator_accuracy(path: Path, bits: int, x: np.ndarray, y: np.ndarray) -> float:
    """Compile the saved model at `bits` (as `snncompile compile --weight-bits`) and run it."""
    hw_graph = api.compile_model(path, "emu", weight_bits=bits).hw_graph
    (out,) = hw_graph.outputs
    return float(np.mean(predictions(run_emulator(hw_graph, x).outputs[out]) == y) * 100)


def fine_tune(model: torch.nn.Module, shape, dt: float, bits: int, epochs: int, lr: float,
              x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> None:
    torch.manual_seed(SEED)
    qat.prepare(model, shape, "emu", bits, dt)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    for epoch in range(epochs):
        loss = snn.train_epoch(model, optimizer, xt, yt, BATCH)
        schedule.step()
        qat.refresh(model)
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}: loss {loss:.3f}, fake-quantized test accuracy "
                  f"{float_accuracy(model, x_test, y_test):.2f}%", flush=True)
    qat.finalize(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)  # cosine-annealed to 0
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or HERE / f"digits_w{args.bits}_qat.pt"
    x_train, y_train, x_test, y_test = load_split()
    model, shape, dt = read_module(SOURCE)
    print(f"float model: {float_accuracy(model, x_test, y_test):.2f}% on the test split")
    for bits in range(2, 9):
        ptq = emulator_accuracy(SOURCE, bits, x_test, y_test)
        print(f"PTQ at {bits} bits: emulator {ptq:.2f}%")
    tuned = copy.deepcopy(model)
    start = time.time()
    fine_tune(tuned, shape, dt, args.bits, args.epochs, args.lr, x_train, y_train, x_test, y_test)
    snn.save(tuned, out, input_shape=shape, dt=dt)
    print(f"QAT fine-tune: {time.time() - start:.0f} s; saved {out}")
    print(f"QAT model at {args.bits} bits: float {float_accuracy(tuned, x_test, y_test):.2f}%, "
          f"emulator {emulator_accuracy(out, args.bits, x_test, y_test):.2f}% "
          f"(PTQ of the original: {emulator_accuracy(SOURCE, args.bits, x_test, y_test):.2f}%)")


if __name__ == "__main__":
    main()
