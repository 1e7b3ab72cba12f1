"""The stepwise path (strict mode, which counts every wrap) against the float reference, CPU
time per sample-step at batch 1, 8 and 64 (issue 19: "the stepwise path no slower than the float
reference"), on graphs of each kind the compiled step loop covers: learned delays + ATRLIF
(DelayDense), ATRLIF alone, the NIR paper's CNN (Conv, a short T) and the braille RNN
(recurrent Dense). One thread each (torch), median of --repeat runs after a warm-up.

    python benchmarks/stepwise_speed.py [--repeat 3]    # prints a Markdown table
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference

REPO = Path(__file__).resolve().parents[1]
CASES = (  # label, model, T, input spike rate
    ("delays + ATRLIF (delays.pt)", "examples/delays_adaptation/delays.pt", 48, 0.05),
    ("ATRLIF (no_delays.pt)", "examples/delays_adaptation/no_delays.pt", 48, 0.05),
    ("NIR-paper CNN (Conv)", "tests/data/nir-paper/02_cnn/cnn_sinabs.nir", 10, 0.1),
    ("braille RNN (recurrent)", "tests/data/nir-paper/03_rnn/braille_noDelay_bias_zero.nir",
     100, 0.2),
)


def cpu_seconds(repeat: int, fn, *args, **kwargs) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn(*args, **kwargs)
        times.append(time.process_time() - start)
    return statistics.median(times)


def main(repeat: int) -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    print("| graph | batch | stepwise (strict) µs | float reference µs | stepwise / reference |")
    print("|---|---|---|---|---|")
    for label, path, steps, rate in CASES:
        nn_graph = api.load(REPO / path)
        hw_graph, _ = api.lower(nn_graph, "emu")
        shape = hw_graph.shapes[hw_graph.inputs[0]]
        for batch in (1, 8, 64):
            x = (np.random.default_rng(0).random((batch, steps, *shape)) < rate).astype(np.int8)
            run_emulator(hw_graph, x, strict=True)  # warm-up (numba's cache, each loop)
            t_step = cpu_seconds(repeat, run_emulator, hw_graph, x, strict=True)
            t_ref = cpu_seconds(repeat, run_reference, nn_graph, x.astype(np.float64))
            per = 1e6 / (batch * steps)
            print(f"| {label} | {batch} | {t_step * per:.1f} | {t_ref * per:.1f} | "
                  f"{t_step / t_ref:.2f} |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    main(parser.parse_args().repeat)
