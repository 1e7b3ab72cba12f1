"""Accuracy of the two shipped nets on the test split: float (torch), reference, emulator, Lava.

    python examples/delays_adaptation/evaluate.py [--lava N]   # N test samples in Lava (all)

Each .pt is read by snncompile's torch front end (delays rounded as in eval mode), lowered for
target loihi2, run on the emulator (all 500 test samples) and, as a generated Lava program
(lava-nc 0.10.0, fixed_pt), on the first N test samples (all 500 by default, about a minute and
a half on a CPU; pass a smaller N to save time, the table says how many ran); there Lava's output
spikes must equal the emulator's exactly (the last column counts the samples where they do).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import snncompile.nn as snn
from snncompile import api
from snncompile.backends import loihi2
from snncompile.frontends.torch_file import read_module
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.verify import predictions

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from data import CLASSES, load_split

MODELS = ("delays.pt", "no_delays.pt")


def accuracies(path: Path, x: np.ndarray, y: np.ndarray, n_lava: int) -> dict[str, float | str]:
    """Accuracy in % per stage; "lava_equal" as "k/n" samples with spikes equal to the emulator."""
    module, _, _ = read_module(path)
    with torch.no_grad():
        float_out = snn.run(module.eval(), torch.as_tensor(x)).numpy()
    graph = api.load(path)
    ref = run_reference(graph, x.astype(np.float64))[graph.outputs[0]]
    hw_graph, _ = api.lower(graph, "loihi2")
    emu = run_emulator(hw_graph, x.astype(np.int8)).outputs[hw_graph.outputs[0]]
    row: dict[str, float | str] = {
        "float": _acc(float_out, y), "reference": _acc(ref, y), "emulator": _acc(emu, y)}
    if n_lava:
        with tempfile.TemporaryDirectory() as folder:
            loihi2.write(hw_graph, Path(folder))
            lava, _ = loihi2.run(Path(folder), {"files": {}}, x[:n_lava].astype(np.int8))
        same = [np.array_equal(lava[i], emu[i]) for i in range(n_lava)]
        row["loihi2"] = _acc(lava, y[:n_lava])
        row["emulator_subset"] = _acc(emu[:n_lava], y[:n_lava])
        row["lava_equal"] = f"{sum(same)}/{n_lava}"
    return row


def _acc(spikes: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predictions(spikes) == y) * 100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lava", type=int, default=500,
                        help="test samples to run in Lava (0: none)")
    args = parser.parse_args()
    _, _, x_test, y_test = load_split()
    print(f"test samples: {len(y_test)}; chance {100 / CLASSES:.0f} %; loihi2 (Lava) on the "
          f"first {args.lava}")
    head = f"{'model':14} {'float':>7} {'reference':>9} {'emulator':>8}"
    if args.lava:
        head += f" {'emu@subset':>10} {'loihi2@subset':>13} {'Lava == emu':>11}"
    print(head)
    for name in MODELS:
        r = accuracies(HERE / name, x_test, y_test, args.lava)
        line = f"{name:14} {r['float']:6.1f}% {r['reference']:8.1f}% {r['emulator']:7.1f}%"
        if args.lava:
            line += (f" {r['emulator_subset']:9.1f}% {r['loihi2']:12.1f}% "
                     f"{r['lava_equal']:>11}")
        print(line)


if __name__ == "__main__":
    main()
