"""Where the SEW-ResNet's spike trains drift on hardware: per-layer spike-train agreement (Dice,
shared silence ignored: verify's measure) between the float reference and the emulator, and the
quantization each layer got (vth, weight exponent, weight lsb and worst error in thresholds).

    PYTHONPATH=examples/sew_resnet python examples/sew_resnet/layer_agreement.py [--weight-split]

It also runs the model with its decay moved onto the hardware's 12-bit grid (beta = 1 - 819/4096,
what dv = 819 gives), which isolates the decay's share of the drift.
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "digits")]

from data import load_split

import snncompile.nn as snn
from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.spike_tally import SpikeTally

LAYERS = ("stem_sn", "block1.sn1", "block1.sn2", "block1.mul", "pool.or", "block2.sn1",
          "block2.sn2", "out")


def agreements(path: Path, x: np.ndarray, weight_split: bool) -> dict[str, float]:
    build = api.build(path, "emu", weight_split=weight_split, trust_pickle=True)
    ref = run_reference(build.nn_graph, x, record=True)
    emu = run_emulator(build.hw_graph, x, record=True).spikes
    return {n: SpikeTally.of(ref[n], emu[n]).train_agreement for n in LAYERS}


def main(weight_split: bool) -> None:
    torch.set_num_threads(1)
    _, _, x, _ = load_split()
    x = x.reshape(len(x), x.shape[1], 1, 8, 8).astype(np.float64)
    model_path = HERE / "sew_resnet.pt"
    build = api.build(model_path, "emu", weight_split=weight_split, trust_pickle=True)
    for layer in build.report.layers:  # errors in thresholds: per weight, and per step's sum
        syn = max(layer.synapses, key=lambda s: s.max_err_thr)
        floor = max(s.floor_err_thr for s in layer.synapses)
        print(f"{layer.layer:12s} vth {layer.vth:6d}  worst synapse {syn.name:14s} exp "
              f"{syn.weight_exp:2d}  lsb {syn.lsb_thr:.1e}  weight err {syn.max_err_thr:.1e}  "
              f"floor err {floor:.1e}")
    saved = torch.load(model_path, weights_only=False)
    on_grid = copy.deepcopy(saved)
    for m in on_grid["model"].modules():
        if isinstance(m, snn.LIF):
            with torch.no_grad():
                m.beta.fill_(1 - 819 / 4096)
    with tempfile.TemporaryDirectory() as tmp:
        grid_path = Path(tmp) / "on_grid.pt"
        torch.save(on_grid, grid_path)
        rows = {"as trained": agreements(model_path, x, weight_split),
                "beta on the 12-bit grid": agreements(grid_path, x, weight_split)}
    print(f"{'layer':12s} " + " ".join(f"{k:>24s}" for k in rows))
    for n in LAYERS:
        print(f"{n:12s} " + " ".join(f"{r[n]:24.3f}" for r in rows.values()))


if __name__ == "__main__":
    main("--weight-split" in sys.argv[1:])
