"""Peak memory of one emulator run against the bytes it must hold: weights (Lava's 8-bit, one
byte each), state (u, v int64 per neuron and sample), input (int8 spikes) and output (the int8
spike train of every layer, which the layer-major path holds). Each row runs in a fresh process
and is the rise of the measured run's own peak RSS over the RSS just before it (after a warm-up
run on one sample, so torch's, numba's and the graph's own memory are not counted). The peak is
VmHWM, reset just before the run by writing "5" to /proc/self/clear_refs (Linux): ru_maxrss is
the whole process's peak, so the warm-up's first-call allocations (numba, torch lazy init) and
the float64 draw of the input counted against the run (batch 1 read -0.2 to 6.9 MiB by chance,
batch 256 140 MiB instead of 35). Before the reset, glibc's malloc_trim(0) returns the heap's
free pages (the warm-up's), so the run cannot hide its own allocations in pages a warm-up left
resident: every page it touches counts (the CNN at batch 1 read 0.56x without the trim, 2.7-3.2x
with it before the fixes noted in sim/fast.py and int_weights.py). Linux and glibc only: a
missing malloc_trim stops the benchmark with one sentence. Rows: the dense CUBA net of
vs_peers.py (T = 500) at batch 1, 64 and 256, the same net fed analog (real-valued, float32)
input quantized to 8-bit payloads at batch 64, and the NIR paper's CNN (T = 100) at batch 1 and
64; issue 19 asks for under 2x.

    python benchmarks/emulator_memory.py            # every row
    python benchmarks/emulator_memory.py --one dense,256,500   # one row, in this process
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CNN = HERE.parent / "tests/data/nir-paper/02_cnn/cnn_sinabs.nir"
ROWS = (("dense", 1, 500), ("dense", 64, 500), ("dense", 256, 500), ("analog", 64, 500),
        ("cnn", 1, 100), ("cnn", 64, 100))


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def trim_heap() -> None:
    """Return the heap's free pages to the system (glibc's malloc_trim(0)), so pages the warm-up
    freed cannot hide the run's own allocations; fails loudly where glibc's symbol is missing."""
    import ctypes

    libc = ctypes.CDLL(None)
    if not hasattr(libc, "malloc_trim"):
        raise SystemExit("emulator_memory.py: malloc_trim (glibc) is missing, so the strict "
                         "peak-memory measure cannot run here")
    libc.malloc_trim(0)


def reset_peak() -> None:
    """Start a new peak RSS (VmHWM) at the current RSS (Linux's clear_refs, value 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_mib() -> float:
    """The peak RSS since reset_peak: VmHWM of /proc/self/status (kB)."""
    with open("/proc/self/status") as f:
        (hwm,) = [line.split()[1] for line in f if line.startswith("VmHWM:")]
    return int(hwm) / 1024


def graph_of(net: str):
    if net in ("dense", "analog"):
        from vs_peers import dense_graph

        g = dense_graph()
        if net == "dense":
            return "dense CUBA 128-512-256-10", g
        from snncompile.ir import hw_ops as hw
        from snncompile.ir.check import check
        from snncompile.ir.graph import Graph

        nodes = {**g.nodes, "in": hw.AnalogInput(shape=g.nodes["in"].shape, scale=1 / 127)}
        return ("dense CUBA 128-512-256-10, analog input",
                check(Graph(level="hw", nodes=nodes, edges=g.edges)))
    from snncompile import api

    return "NIR-paper CNN (cnn_sinabs.nir)", api.lower(api.load(CNN), "emu")[0]


def one(net: str, batch: int, steps: int) -> str:
    """One row, measured in this process (call it in a fresh one)."""
    import warnings

    from snncompile.sim.emulator import run_emulator

    warnings.filterwarnings("ignore")
    label, g = graph_of(net)
    shape = g.shapes[g.inputs[0]]
    rng = np.random.default_rng(0)
    analog = net == "analog"

    def draw(n: int) -> np.ndarray:  # spikes, or real values in [-1, 1) for the analog input
        u = rng.random((n, steps, *shape))
        return (2 * u - 1).astype(np.float32) if analog else (u < 0.1).astype(np.int8)

    run_emulator(g, draw(1))  # warm-up
    x = draw(batch)
    trim_heap()
    reset_peak()
    before = rss_mib()
    result = run_emulator(g, x)
    peak = peak_mib()
    neurons = sum(int(np.prod(g.shapes[n])) for n in g.of_kind("neuron"))
    weights = sum(np.asarray(getattr(op, "weights", getattr(op, "weight", 0))).size
                  for op in g.nodes.values() if op.kind == "synapse")
    steps_hw = steps + result.latency
    need = (weights + 2 * 8 * neurons * batch + x.nbytes + neurons * batch * steps_hw) / 2**20
    rise = peak - before
    return f"| {label} | {batch} | {steps} | {need:.1f} | {rise:.1f} | {rise / need:.2f} |"


def main() -> None:
    print("| network | batch | T | weights + state + input + output MiB | peak RSS rise MiB "
          "| ratio |\n|---|---|---|---|---|---|", flush=True)
    for net, batch, steps in ROWS:
        proc = subprocess.run([sys.executable, __file__, "--one", f"{net},{batch},{steps}"],
                              capture_output=True, text=True, check=True)
        print(proc.stdout.strip(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", help="net,batch,steps: one row in this process")
    args = parser.parse_args()
    if args.one:
        net, batch, steps = args.one.split(",")
        print(one(net, int(batch), int(steps)))
    else:
        main()
