"""How far snnTorch's OWN classes move on NeuroBench's keyword model (the 210 espeak-ng clips'
S2S events) under changes far smaller than any fixed-point chip makes: float64 instead of
float32, one clip at a time instead of a batch, every parameter moved at random by +-eps, and
the one change Loihi 2's LIF forces on every build: beta = 0.9 held as a 12-bit decay
(dv = 410 of 4096, so beta = 0.899902; dv = 409 gives 0.900146). Each row counts the clips whose
class (NeuroBench's rule, a tie to the first index) equals snnTorch's float32 class, and the spike
entries of the output layer that differ. Why it matters: issue 14 asks for the emulator's class to
equal snnTorch's on every sample; a row below 210 is a change the chip cannot avoid that already
moves the float model itself. Run from the repo root (about 2 minutes):

    python benchmarks/gsc_sensitivity.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gsc_speech import load_speech, s2s_events
from neurobench_gsc import gsc_net, in_float64, neurobench_class, snntorch_output, with_beta

DATA = ROOT / "tests" / "data"
LOIHI_BETAS = (1 - 410 / 4096, 1 - 409 / 4096)  # beta 0.9 on a 12-bit decay: nearest, next


def with_noise(eps: float, seed: int) -> torch.nn.Sequential:
    net, gen = gsc_net(DATA), torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(eps * (2 * torch.rand(p.shape, generator=gen) - 1))
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="noise draws per eps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    x = s2s_events(load_speech()[0])
    want = snntorch_output(gsc_net(DATA), x)
    classes = neurobench_class(want)

    def row(spikes: np.ndarray) -> str:
        same = int((neurobench_class(spikes) == classes).sum())
        return f"{same} / {len(x)} ({int((spikes != want).sum()):,} entries differ)"

    print(f"| change to snnTorch's float32 forward | same class on the {len(x)} clips |")
    print("|---|---|")
    print(f"| float64 | {row(snntorch_output(in_float64(gsc_net(DATA)), x, torch.float64))} |")
    one = np.concatenate([snntorch_output(gsc_net(DATA), x[i:i + 1]) for i in range(len(x))])
    print(f"| one clip at a time | {row(one)} |")
    for beta in LOIHI_BETAS:
        rounded = snntorch_output(with_beta(gsc_net(DATA), beta), x)
        print(f"| beta {beta:.6f} (12-bit decay) | {row(rounded)} |")
    for eps in (1e-7, 1e-6, 1e-5, 1e-4):
        rows = [row(snntorch_output(with_noise(eps, s), x)) for s in range(args.seeds)]
        print(f"| every parameter +-{eps:g} (seeds 0-{args.seeds - 1}) | {'; '.join(rows)} |")


if __name__ == "__main__":
    main()
