"""The README's notebook example as a script (tests/test_notebook_example.py runs it): an snnTorch
model trained in memory is compiled, verified and estimated without ever being saved.

    python examples/notebook/notebook.py [--epochs N]   # writes build/ in the working folder

Training (a few seconds) stands in for the user's notebook; the ten lines after it are the
README's. The Leaky layers reset to zero; snnTorch's default Leaky (subtraction on the next
step) compiles the same way to every target (loihi2 builds ship their own Lava neuron for it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import snntorch as snn
import torch
from snntorch import utils

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "digits"))
from data import load_split


def train_snntorch(x, y, epochs: int = 8, seed: int = 0) -> torch.nn.Module:
    """A 64-64-10 snnTorch net trained on spike counts (surrogate gradients, BPTT)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 64), snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
        torch.nn.Linear(64, 10), snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"))
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    for _ in range(epochs):
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), 64):
            idx = order[start:start + 64]
            utils.reset(net)
            counts = torch.stack([net(xt[idx, t]) for t in range(xt.shape[1])], 1).sum(1)
            loss = torch.nn.functional.cross_entropy(counts, yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    x_train, y_train, x_test, y_test = load_split()
    net = train_snntorch(x_train, y_train, args.epochs)

    # --- the README's notebook example ---
    import snncompile

    compiled = snncompile.compile(net, target="loihi2", input_shape=(64,))
    report = compiled.verify(x_test, labels=y_test)  # snnTorch vs float vs emulator vs Lava
    for check in report.checks:
        print("PASS" if check.passed else "FAIL", check.name, round(check.value, 4), check.limit)
    energy = compiled.estimate(x_test)["energy"]
    print(f"{energy['energy_uj']['total']:.3f} uJ per inference")
    spikes = compiled.run(x_test[:8])  # the target's own artefact: the Lava program here
    compiled.save("build")  # what `snncompile MODEL --target loihi2 -o build` writes
    # ---
    print(f"accuracy: snnTorch/float {report.float_accuracy:.2f} %, loihi2 "
          f"{report.hw_accuracy:.2f} %; {int(spikes.sum())} output spikes on 8 samples")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
