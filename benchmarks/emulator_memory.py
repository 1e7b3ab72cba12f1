"""Peak memory of one emulator run against the bytes it must hold: weights (Lava's 8-bit, one
byte each), state (u, v int64 per neuron and sample), input (int8 spikes) and output (the int8
spike train of every layer, which run_emulator returns). Measured in a fresh process as the rise
of the peak RSS (ru_maxrss) over the RSS after a warm-up run on one sample, so torch's, numba's
and the graph's own memory are not counted.

    python benchmarks/emulator_memory.py [--batch 256] [--steps 500]
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main(batch: int, steps: int) -> None:
    from vs_peers import dense_graph

    from snncompile.sim.emulator import run_emulator

    g = dense_graph()
    rng = np.random.default_rng(0)
    run_emulator(g, (rng.random((1, steps, 128)) < 0.1).astype(np.int8))  # warm-up
    x = (rng.random((batch, steps, 128)) < 0.1).astype(np.int8)
    before = rss_mib()
    result = run_emulator(g, x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    neurons = sum(int(np.prod(g.shapes[n])) for n in g.of_kind("neuron"))
    weights = sum(np.asarray(op.weights).size for op in g.nodes.values() if op.kind == "synapse")
    steps_hw = steps + result.latency
    need = (weights + 2 * 8 * neurons * batch + x.nbytes + neurons * batch * steps_hw) / 2**20
    print(f"dense CUBA 128-512-256-10, batch {batch}, T {steps}: weights + state + input + "
          f"output = {need:.1f} MiB; peak RSS rise during the run {peak - before:.1f} MiB "
          f"({(peak - before) / need:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    main(args.batch, args.steps)
