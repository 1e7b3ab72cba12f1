"""Convert the shipped ANN (digits_cnn.onnx) to an SNN, deploy it to the emulator, and print the
accuracy of the ANN (onnxruntime), the converted SNN in float (reference interpreter) and on the
emulator (Loihi 2 fixed point) versus the number of time steps T, as a markdown table.

    python examples/ann_conversion/convert.py [--percentile 99.9] [--steps 8,16,32,64] [--out DIR]

Calibration data: the training split (thresholds are set from its ANN activations); accuracy is
on the 360-sample test split. The input is rate-coded by `rate_encode` (deterministic).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime

from snncompile import api
from snncompile.frontends.onnx_balance import rate_encode
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.verify import predictions

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from train import load_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(HERE / "digits_cnn.onnx"))
    parser.add_argument("--percentile", type=float, default=99.9)
    parser.add_argument("--steps", default="8,16,32,64")
    parser.add_argument("--out", default=None, help="also write the emu build folder here")
    args = parser.parse_args()
    x_train, _, x_test, y_test = load_images()
    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x_test})[0]
    ann = logits.argmax(1)
    result = api.compile_model(args.model, "emu", args.out, calibration=x_train,
                               percentile=args.percentile)
    graph, hw = result.nn_graph, result.hw_graph
    thr = {n: float(np.ravel(graph.nodes[n].v_threshold)[0]) for n in graph.of_kind("neuron")}
    print(f"{Path(args.model).name}: {graph.num_neurons()} neurons; thresholds (percentile "
          f"{args.percentile:g}): " + ", ".join(f"{n} {v:.3g}" for n, v in thr.items()))
    print(f"\nANN (onnxruntime) test accuracy: {np.mean(ann == y_test) * 100:.2f}%\n")
    print("| T | SNN float | SNN emulator | float vs ANN predictions agree | emu vs float "
          "predictions agree | emulator s |")
    print("|---|---|---|---|---|---|")
    for steps in (int(s) for s in args.steps.split(",")):
        x = rate_encode(x_test, steps)
        ref = predictions(run_reference(graph, x)[graph.outputs[0]])
        start = time.perf_counter()
        emu = predictions(run_emulator(hw, x).outputs[hw.outputs[0]])
        took = time.perf_counter() - start
        cells = [np.mean(ref == y_test), np.mean(emu == y_test), np.mean(ref == ann),
                 np.mean(emu == ref)]
        print(f"| {steps} | " + " | ".join(f"{c * 100:.2f}%" for c in cells) + f" | {took:.2f} |")


if __name__ == "__main__":
    main()
