"""The class flips left on NeuroBench's keyword model on speech (--weight-split, --calibration:
calibrated floor centring and headroom, two folds each calibrated on the other, as in
benchmarks/floor_centring.py): per flipped clip, snnTorch's margin (top count minus second), and
per layer where the emulator first leaves snnTorch (fed the int8 input the chip receives).

A "primary" divergence is a spike that differs while the layer's own spikes and its input layer's
spikes agreed on every earlier step (and its input on this one): the layer's own arithmetic, not
an inherited difference. For each: snnTorch's membrane minus threshold there (how close the float
model was to the other outcome) and whether the clip's input was still silent (no event yet), where
no shift drops bits but the centring bias is still added. Then the v saturations strict mode
reports on the flipped clips. Run from the repo root:

    python benchmarks/gsc_flips.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from floor_centring import DATA, LAYERS, inputs, lowered
from layer_trace import run_stepwise
from neurobench_gsc import gsc_net, neurobench_class, on_input_grid

import snncompile.nn as snc
from snncompile.sim.emulator import run_emulator

INPUT_OF = dict(zip(LAYERS[1:], LAYERS[:-1]))  # each hidden layer's input layer


def snntorch_run(x: np.ndarray) -> tuple[dict, dict]:
    """snnTorch's spikes and membranes (before the delayed reset's next step) per layer."""
    net = gsc_net(DATA)
    snc.reset_state(net)
    return run_stepwise(net, x, lambda m, h: m.mem, names=LAYERS)


def primary(emu: dict, want: dict, name: str, clip: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(steps, neurons) of the layer's primary divergences on a clip, and its mismatches."""
    e, w = emu[name][clip], want[name][clip]
    differ = e != w
    own_ok = np.vstack([np.ones((1, e.shape[1]), bool),
                        np.cumprod(~differ, 0)[:-1].astype(bool)])
    inp_ok = np.ones(len(e), bool)
    if name in INPUT_OF:
        src = INPUT_OF[name]
        inp_ok = np.cumprod((emu[src][clip] == want[src][clip]).all(-1)).astype(bool)
    steps, neurons = np.nonzero(differ & own_ok & inp_ok[:, None])
    return steps, neurons, int(differ.sum())


def report_fold(fold: int) -> int:
    hw_graph, _ = lowered("speech", "calibrated", 0, fold)
    x, rng = inputs("speech", 0, fold)
    want, mem = snntorch_run(on_input_grid(x, rng))
    emu = run_emulator(hw_graph, x, record=True).spikes
    ours, theirs = neurobench_class(emu["8"]), neurobench_class(want["8"])
    flips = np.nonzero(ours != theirs)[0]
    print(f"fold {fold}: same class on {len(x) - len(flips)} of {len(x)}")
    counts = want["8"].sum(1)
    for clip in flips:
        top = np.sort(counts[clip])[::-1]
        first_event = int(np.argmax(np.abs(x[clip]).sum(-1) > 0))
        print(f" clip {clip} (fold index): snnTorch class {theirs[clip]}, margin "
              f"{int(top[0] - top[1])}; emulator class {ours[clip]}; input silent for the "
              f"first {first_event} steps")
        for name in LAYERS:
            steps, neurons, mismatched = primary(emu, want, name, clip)
            gaps = mem[name][clip][steps, neurons] - 1.0
            silent = int((steps < first_event).sum())
            worst = f", largest |mem - thr| {np.abs(gaps).max():.4f}" if len(gaps) else ""
            print(f"  layer {name}: {mismatched} spikes differ of {int(want[name][clip].sum())}; "
                  f"{len(steps)} primary (first at step "
                  f"{int(steps.min()) if len(steps) else '-'}, {silent} in the silence, "
                  f"{int((gaps < 0).sum())} where the emulator fired early{worst})")
    if len(flips):
        strict = run_emulator(hw_graph, x[flips], strict=True, record=True)
        steps, entries = Counter(), Counter()
        for e in strict.events:
            steps[(e.layer, e.kind)] += 1
            entries[(e.layer, e.kind)] += e.count
        for (layer, kind), n in sorted(steps.items()):
            print(f"  strict on the flipped clips: layer {layer} {kind} on {n} steps "
                  f"({entries[(layer, kind)]} neuron entries)")
    return len(x) - len(flips)


def main() -> None:
    same = sum(report_fold(fold) for fold in (0, 1))
    print(f"same class on {same} of 210")


if __name__ == "__main__":
    main()
