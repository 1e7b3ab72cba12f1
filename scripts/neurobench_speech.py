"""Measure NeuroBench's keyword-spotting SNN on the espeak-ng keywords (tests/data/gsc-espeak):
snnTorch's float forward (accuracy, the lead of its top class) and the compiled model in the
emulator against it, with and without --weight-split: spike counts per layer, each sample's
output count error, NeuroBench's predicted class, and every sample whose class differs with
snnTorch's margin (its top count minus its second) there. docs/neurobench.md quotes it.

Usage: python scripts/neurobench_speech.py [--target loihi2] [--every 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from gsc_speech import GSC_WORDS, load_speech, s2s_events
from layer_trace import run_stepwise
from neurobench_gsc import gsc_net, neurobench_class

import snncompile.nn as snc
from snncompile import api
from snncompile.frontends.torch_modules import from_module
from snncompile.passes.analog import with_input_kind
from snncompile.sim.emulator import run_emulator

LAYERS = ("2", "4", "6", "8")
DATA = REPO / "tests" / "data"


def compare(x, want, label, voice, target: str, weight_split: bool) -> None:
    graph = with_input_kind(from_module(gsc_net(DATA), (20,)), "analog", 1.0, "gsc")
    hw_graph, _ = api.lower(graph, target, weight_split=weight_split)
    emu = run_emulator(hw_graph, x, record=True)
    print(f"--- emulator ({target}, weight_split={weight_split}) vs snnTorch")
    for name in LAYERS:
        ours, theirs = emu.spikes[name].sum(), want[name].sum()
        print(f"  layer {name}: {ours:,} vs {theirs:,.0f} ({(ours - theirs) / theirs:+.2%})")
    counts, ref_counts = emu.spikes["8"].sum(1), want["8"].sum(1)
    err = np.abs(counts.sum(1) - ref_counts.sum(1)) / ref_counts.sum(1)
    print(f"  output count error per sample: median {np.median(err):.3f}, max {err.max():.3f}, "
          f"over 10 %: {(err > 0.1).sum()} of {len(err)}")
    ours, theirs = neurobench_class(emu.spikes["8"]), neurobench_class(want["8"])
    top = np.sort(ref_counts, 1)[:, ::-1]
    print(f"  class equal on {(ours == theirs).sum()} of {len(x)}; accuracy "
          f"{(ours == label).mean():.3f} (snnTorch {(theirs == label).mean():.3f})")
    for i in np.nonzero(ours != theirs)[0]:
        print(f"    clip {i} '{GSC_WORDS[label[i]]}' [{voice[i]}]: snnTorch "
              f"{GSC_WORDS[theirs[i]]} {top[i, 0]:.0f} (margin {top[i, 0] - top[i, 1]:.0f}), "
              f"emulator {GSC_WORDS[ours[i]]} {counts[i, ours[i]]} "
              f"({counts[i, theirs[i]]} for {GSC_WORDS[theirs[i]]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="loihi2")
    parser.add_argument("--every", type=int, default=1, help="take every n-th clip")
    args = parser.parse_args()
    audio, label, voice = load_speech()
    audio, label, voice = audio[::args.every], label[::args.every], voice[::args.every]
    x = s2s_events(audio)
    net = gsc_net(DATA)
    snc.reset_state(net)
    want, _ = run_stepwise(net, x, lambda m, h: m.mem, names=LAYERS)
    theirs = neurobench_class(want["8"])
    top = np.sort(want["8"].sum(1), 1)[:, ::-1]
    margin = top[:, 0] - top[:, 1]
    print(f"{len(x)} clips, S2S events {(x != 0).mean():.3f} of entries")
    print(f"snnTorch float: accuracy {(theirs == label).mean():.3f}; top-class lead median "
          f"{np.median(margin):.0f} spikes (top count median {np.median(top[:, 0]):.0f}), "
          f"ties at the top {(margin == 0).sum()}, lead <= 1 on {(margin <= 1).sum()}")
    for weight_split in (True, False):
        compare(x, want, label, voice, args.target, weight_split)


if __name__ == "__main__":
    main()
