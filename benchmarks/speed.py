"""Speed of the spine, measured in one run so ratios are comparable: compile time per model, and
throughput of the emulator vs the float reference vs the trained torch model on the same input.
"stepwise" is the emulator forced to step time in the outer loop (strict mode, which also counts
every wrap), the path recurrent graphs always take; feed-forward graphs otherwise run layer by
layer (snncompile/sim/fast.py).

    python benchmarks/speed.py [--repeat 5]     # prints a Markdown table for the README
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
sys.path.insert(0, str(REPO / "examples" / "digits"))


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(label: str, path: Path, x: np.ndarray, repeat: int) -> dict[str, str]:
    """One row: compile time, and the same input through emulator, float reference (and torch)."""
    nn_graph = api.load(path)
    t_compile = best_of(repeat, lambda: api.lower(api.load(path)))
    hw_graph, _ = api.lower(nn_graph)
    t_emu = best_of(repeat, lambda: run_emulator(hw_graph, x))
    t_step = best_of(repeat, lambda: run_emulator(hw_graph, x, strict=True))
    t_ref = best_of(repeat, lambda: run_reference(nn_graph, x.astype(np.float64)))
    row = {
        "model": label, "neurons": f"{nn_graph.num_neurons():,}",
        "batch x steps": f"{x.shape[0]}x{x.shape[1]}", "compile s": f"{t_compile:.3f}",
        "emulator s": f"{t_emu:.3f}",
        "emulator sample-steps/s": f"{x.shape[0] * x.shape[1] / t_emu:,.0f}",
        "stepwise / emulator (time)": f"{t_step / t_emu:.2f}",
        "float reference / emulator (time)": f"{t_ref / t_emu:.2f}",
    }
    if path.suffix == ".pt":
        import snncompile.nn as snn

        model = torch.load(path, weights_only=False)["model"]  # our own shipped file
        xt = torch.as_tensor(x, dtype=torch.float32)
        with torch.no_grad():
            t_torch = best_of(repeat, lambda: snn.run(model, xt))
            row["torch / emulator (time)"] = f"{t_torch / t_emu:.2f}"
    return row


def main(repeat: int) -> None:
    from data import load_split

    _, _, x_digits, _ = load_split()
    rng = np.random.default_rng(0)
    rows = [
        measure("digits MLP 64-64-10 (.pt)", REPO / "examples/digits/digits.pt", x_digits, repeat),
        measure("NIR-paper CNN, N-MNIST shape (.nir)", DATA / "nir-paper/02_cnn/cnn_sinabs.nir",
                (rng.random((32, 30, 2, 34, 34)) < 0.1).astype(np.int8), repeat),
        measure("NIR-paper braille RNN (.nir)",
                DATA / "nir-paper/03_rnn/braille_noDelay_bias_zero.nir",
                (rng.random((256, 100, 12)) < 0.2).astype(np.int8), repeat),
    ]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(r.get(k, "-") for k in keys) + " |")
    print(f"\n(best of {repeat}; {torch.get_num_threads()} torch threads; "
          f"{sys.platform}, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    main(parser.parse_args().repeat)
