"""Floor centring on NeuroBench's keyword model (--weight-split): per layer, the bias the
centring adds vs the loss Lava's shift really causes on the data, and the emulator's agreement
with snnTorch (fed the int8 input the chip receives: exact for events) under four rules: half a
unit per flooring synapse (the data-free default), off, bits ((1 - 2^-k) / 2 per synapse whose
shift drops k bits, a data-free alternative) and calibrated on inputs of another seed
(passes/centring.py; with calibration each layer's headroom comes from the data too:
passes/headroom.py). Run from the repo root:

    python benchmarks/floor_centring.py [--samples 32] [--seeds 0 1 7] [--kinds events mfcc]
    python benchmarks/floor_centring.py --kinds speech --seeds 0 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import neurobench_gsc as gsc
from neurobench_gsc import LAYERS, gsc_net  # LAYERS: gsc_flips.py imports it from here

from snncompile import api
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.passes import centring
from snncompile.passes.analog import with_input_kind
from snncompile.passes.encode import floors_sums
from snncompile.sim.emulator import run_emulator

DATA = ROOT / "tests" / "data"
CALIBRATION_SEED = 100  # calibration input is never the measured input


def inputs(kind: str, samples: int, seed: int) -> tuple[np.ndarray, float]:
    """(x, analog range): mfcc_like features or their signed events for a seed; for "speech",
    S2S events of the espeak-ng keywords, seed = fold (0: even clips, 1: odd clips; the
    calibration of a fold is the other fold, so never the measured clips)."""
    if kind == "speech":
        from gsc_speech import load_speech, s2s_events

        return s2s_events(load_speech()[0][seed % 2::2]), 1.0
    features = gsc.mfcc_like(samples, gsc.STEPS, seed=seed)
    if kind == "events":
        return gsc.signed_events(features), 1.0
    return features, 4.2  # a fixed range (above every seed's largest |x|): one scale for all


def snntorch_spikes(x: np.ndarray) -> dict[str, np.ndarray]:
    return gsc.snntorch_layers(DATA, x)[0]


def dropped_bits(code) -> int:
    """Bits of every fan-in sum a shift by -weight_exp really drops: the weights' common trailing
    zero bits (a mixed-sign Dense's weights are even) are zero in every sum too."""
    if code.weight_exp >= 0 or code.weights.size == 0:
        return 0
    low = int(np.bitwise_or.reduce(code.weights, axis=None))  # -x has the zeros of x
    zeros = (low & -low).bit_length() - 1 if low else -code.weight_exp
    return max(0, -code.weight_exp - zeros)


def _bits(codes, fines) -> float:
    """The alternative data-free rule measured here: (1 - 2^-k) / 2 per synapse whose shift drops
    k bits (uniform low bits on every step; one bit drops 0 or 1/2, mean 1/4)."""
    return sum((1.0 - 2.0**-dropped_bits(c)) / 2 for code, fine in zip(codes, fines)
               for c in (code, fine) if c is not None and floors_sums(c))


RULES = {"half": None, "off": lambda codes, fines: 0.0, "bits": _bits, "calibrated": None}


def calibration_input(kind: str, samples: int, seed: int) -> np.ndarray:
    return inputs(kind, samples, 1 - seed if kind == "speech" else CALIBRATION_SEED)[0]


def lowered(kind: str, rule: str, samples: int, seed: int):
    graph = with_input_kind(from_module(gsc_net(DATA), (20,)), "analog", inputs(kind, 1, 0)[1],
                            "gsc")
    calibration = calibration_input(kind, samples, seed) if rule == "calibrated" else None
    saved = centring.data_free
    centring.data_free = RULES[rule] or saved  # type: ignore[assignment]
    try:
        return api.lower(graph, "loihi2", weight_split=True, calibration=calibration)[0], graph
    finally:
        centring.data_free = saved


def bias_units(lif) -> np.ndarray:
    """A hw LIF's bias per neuron in a_in units (64 raw v units)."""
    return np.asarray(lif.bias_mant * 2.0**np.asarray(lif.bias_exp), np.float64) / 64.0


def layer_table(hw_graph, off_graph, graph, x: np.ndarray) -> list[str]:
    """Per layer: the bias the centring added (vs no centring; a_in units, mean per neuron) and
    the loss Lava's shifts cause on x under the float model's activity."""
    activity = centring.activity_of(graph, x)
    lines = []
    for name in LAYERS:
        added = bias_units(hw_graph.nodes[name]) - bias_units(off_graph.nodes[name])
        loss, flooring, rate = 0.0, 0, 0.0
        for src in hw_graph.predecessors(name):
            op = hw_graph.nodes[src]
            (source,) = hw_graph.predecessors(src)
            if isinstance(op, hw.Dense) and op.weight_exp < 0 and source in activity:
                loss = loss + centring.measured_loss(op.weights, op.weight_exp, activity[source])
                flooring += 1
                rate = float((activity[source] != 0).mean())
        lines.append(f"  layer {name}: {flooring} flooring synapses, input activity {rate:.3f}, "
                     f"bias added {np.mean(added):.3f}, measured loss {np.mean(loss):.3f} a_in "
                     "units per step (mean per neuron)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 7])
    ap.add_argument("--kinds", nargs="+", default=["events", "mfcc", "speech"],
                    help="speech: the espeak-ng keywords, seeds 0 and 1 are the two folds")
    args = ap.parse_args()
    for kind in args.kinds:
        built = {}
        for seed in args.seeds:
            if kind == "speech" or not built:  # a speech fold calibrates on the other fold
                built = {rule: lowered(kind, rule, args.samples, seed) for rule in RULES}
            x, rng = inputs(kind, args.samples, seed)
            want = snntorch_spikes(gsc.on_input_grid(x, rng))["8"]  # fed what the chip receives
            theirs, ref = gsc.neurobench_class(want), want.sum()
            for rule, (hw_graph, graph) in built.items():
                emu = run_emulator(hw_graph, x, record=True).spikes["8"]
                agree = int((gsc.neurobench_class(emu) == theirs).sum())
                print(f"{kind} seed {seed} {rule:>10}: classes {agree}/{len(x)}, output spikes "
                      f"{int(emu.sum())} vs snnTorch {int(ref)} ({(emu.sum() - ref) / ref:+.1%})")
            if seed == args.seeds[0]:
                for rule, (hw_graph, graph) in built.items():
                    print(f" {rule}:")
                    print("\n".join(layer_table(hw_graph, built["off"][0], graph, x)))


if __name__ == "__main__":
    main()
