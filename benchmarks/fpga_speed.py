"""Emulator + cycle model vs Verilator on the same fpga design and inputs, in one run.

    python benchmarks/fpga_speed.py [--design digits|wide|both] [--repeat R]

For each design: write the RTL, build the Verilator simulation once (build time reported apart),
then run the same inputs through the emulator (bit-exact spikes) plus the cycle model (exact
cycle stamps), and through the Verilator binary of the generated RTL. Prints times (best of 5
emulator runs and of 3 Verilator runs, both single-threaded), the speed ratio (goal: emulator
>= 100x faster) and whether cycle counts, spikes and stamps are equal.

Designs: "digits" = the shipped 64-64-10 SNN on the 360-sample test split (tiled R times), about
20 input spikes per step; "wide" = a random 256-256-10 network, 32 samples x 20 steps at input
rate 0.5 (about 128 input spikes per step, the regime of fpga-rtl.md §2.3). The RTL spends
N + 1 cycles per input spike while the emulator's cost per step barely depends on activity, so
the ratio grows with fan-in activity. "cnn" = the NIR paper's CNN (Conv cores walk their
kernels), 8 random samples x 10 steps.
"""

from __future__ import annotations

import os

# One thread for BLAS, as the Verilator binary is one thread: a fair single-core comparison, and
# OpenBLAS's spinning worker threads only slow small products down on a shared machine.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def digits_design(repeat: int):
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from data import load_split

    from snncompile import api

    _, _, x, _ = load_split()
    graph, _ = api.lower(api.load(REPO / "examples" / "digits" / "digits.pt"), "fpga")
    return graph, np.tile(x, (repeat, 1, 1))


def wide_design(repeat: int):
    from snncompile.ir import hw_ops as hw
    from snncompile.ir.check import check
    from snncompile.ir.graph import Graph

    rng = np.random.default_rng(0)
    zeros = np.zeros(256, np.int64)
    nodes = {
        "in": hw.SpikeInput(shape=(256,)),
        "d0": hw.Dense(weights=rng.integers(-60, 64, size=(256, 256)), weight_exp=0),
        "l0": hw.LIF(shape=(256,), du=4095, dv=400, vth=40, bias_mant=zeros, bias_exp=zeros),
        "d1": hw.Dense(weights=rng.integers(-100, 128, size=(10, 256)), weight_exp=0),
        "l1": hw.LIF(shape=(10,), du=4095, dv=400, vth=40, bias_mant=zeros[:10],
                     bias_exp=zeros[:10]),
        "out": hw.SpikeOutput(shape=(10,)),
    }
    edges = (("in", "d0"), ("d0", "l0"), ("l0", "d1"), ("d1", "l1"), ("l1", "out"))
    graph = check(Graph(level="hw", nodes=nodes, edges=edges))
    x = (rng.random((32 * repeat, 20, 256)) < 0.5).astype(np.int8)
    return graph, x


def cnn_design(repeat: int):
    """The NIR paper's CNN (cnn_sinabs.nir: 3 Conv cores of up to 4096 neurons, 2 Dense cores) on
    8 random N-MNIST-shaped samples x 10 steps at 5 % input activity (no N-MNIST data is
    shipped)."""
    from snncompile import api

    path = REPO / "tests" / "data" / "nir-paper" / "02_cnn" / "cnn_sinabs.nir"
    graph, _ = api.lower(api.load(path), "fpga")
    shape = graph.shapes[graph.inputs[0]]
    x = (np.random.default_rng(0).random((8 * repeat, 10, *shape)) < 0.05).astype(np.int8)
    return graph, x


def bench(name: str, graph, x) -> dict:
    from snncompile.backends import fpga
    from snncompile.backends.fpga.plan import make_plan
    from snncompile.backends.fpga.sim import build, encode_input, parse_output
    from snncompile.sim.cycles import cycle_trace
    from snncompile.sim.emulator import simulate as emulate
    from snncompile.sim.timing import latency

    steps = x.shape[1] + latency(graph)
    with tempfile.TemporaryDirectory(prefix="snncompile-bench-") as tmp:
        folder, work = Path(tmp) / "build", Path(tmp) / "work"
        folder.mkdir()
        fpga.write(graph, folder)
        t0 = time.perf_counter()
        command = build(folder / "rtl", work, "verilator")
        t_build = time.perf_counter() - t0
        best_emu = float("inf")
        plan = make_plan(graph)  # compile time (partition + mapping), like Verilator's build
        for _ in range(5):
            t0 = time.perf_counter()
            trace = emulate(graph, x, steps)
            model = cycle_trace(plan, x, trace.spikes)
            best_emu = min(best_emu, time.perf_counter() - t0)
        stim, out = work / "input.hex", work / "spikes.txt"
        stim.write_text(encode_input(x, steps, plan.n_in))
        t_rtl = float("inf")
        for _ in range(3):  # the simulation binary alone (reads stimulus, writes spikes), best of 3
            t0 = time.perf_counter()
            subprocess.run([*command, f"+input={stim}", f"+output={out}"], cwd=folder / "rtl",
                           check=True, capture_output=True)
            t_rtl = min(t_rtl, time.perf_counter() - t0)
        rtl = parse_output(out.read_text(), len(x), steps)
    return {"design": name, "samples": len(x), "hw_steps": steps, "cycles": model.total,
            "cycles_equal": rtl.total == model.total, "spikes_and_stamps_equal": rtl.equals(model),
            "spikes": len(model.stamps), "verilator_build_s": round(t_build, 2),
            "verilator_run_s": round(t_rtl, 3), "emulator_s": round(best_emu, 4),
            "ratio": round(t_rtl / best_emu, 1), "verilator_mcycles_per_s": round(
                model.total / t_rtl / 1e6, 2)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", choices=("digits", "wide", "cnn", "both", "all"),
                        default="both", help="both = digits and wide; all = with cnn")
    parser.add_argument("--repeat", type=int, default=1, help="tile the inputs R times")
    args = parser.parse_args(argv)
    names = {"both": ("digits", "wide"), "all": ("digits", "wide", "cnn")}.get(
        args.design, (args.design,))
    makers = {"digits": digits_design, "wide": wide_design, "cnn": cnn_design}
    rows = [bench(n, *makers[n](args.repeat)) for n in names]
    print("| design | samples | cycles | spikes | Verilator build s | Verilator run s "
          "| emulator + cycle model s | ratio | cycles equal | spikes + stamps equal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['design']} | {r['samples']} | {r['cycles']:,} | {r['spikes']:,} | "
              f"{r['verilator_build_s']} | {r['verilator_run_s']} | {r['emulator_s']} | "
              f"{r['ratio']}x | {r['cycles_equal']} | {r['spikes_and_stamps_equal']} |")
    return rows


if __name__ == "__main__":
    main()
