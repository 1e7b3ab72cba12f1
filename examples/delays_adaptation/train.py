"""Train the two shipped nets on the channel-order task (data.py) and save them as .pt files.

    python examples/delays_adaptation/train.py [delays.pt] [no_delays.pt]   # CPU, a few minutes

(a) delays.pt: DelayedLinear(6 -> 20, learned delays 0..32) -> AdaptiveLIF -> Linear(20 -> 4)
    -> AdaptiveLIF;
(b) no_delays.pt: Linear(6 -> 32) -> AdaptiveLIF -> Linear(32 -> 4) -> AdaptiveLIF, the same 320
    trainable numbers (a delay counts as one), the same neurons, seed and schedule.
Every neuron forgets fast (retention 0.2 per step for the current, 0.4 for the voltage, 0.5 for
the threshold and refractory terms), so the only memory longer than two steps is the delays:
that is what the task tests. Delays start uniform in [0, 32] and are trained with a triangular
spread annealed from 4 steps to 1 (linear interpolation) over the first half of the epochs, then
with the rounded delays forward and interpolation's gradient backward (spread 0, straight-through)
so the weights adapt to the integer delays that deploy; delays learn at a higher rate than the
weights. Eval mode (what is saved and deployed) uses the rounded delays.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

import snncompile.nn as snn
from snncompile.verify import predictions

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from data import CHANNELS, CLASSES, load_split

HIDDEN, HIDDEN_BASELINE, MAX_DELAY = 20, 32, 32
NEURON = {"alpha": 0.2, "beta": 0.4, "theta_0": 1.0, "theta_step": 0.5, "decay_theta": 0.5,
          "decay_r": 0.5}
EPOCHS, BATCH, LR, LR_DELAY, SEED = 40, 50, 5e-3, 0.3, 0
SPREAD_START = 4.0
DT = 1e-3


def build(delays: bool) -> torch.nn.Sequential:
    torch.manual_seed(SEED)
    if delays:
        first = snn.DelayedLinear(CHANNELS, HIDDEN, MAX_DELAY, spread=SPREAD_START)
        hidden = HIDDEN
    else:
        first, hidden = torch.nn.Linear(CHANNELS, HIDDEN_BASELINE, bias=False), HIDDEN_BASELINE
    with torch.no_grad():
        first.weight.uniform_(0.0, 1.0)
    return torch.nn.Sequential(first, snn.AdaptiveLIF(hidden, **NEURON),
                               torch.nn.Linear(hidden, CLASSES, bias=False),
                               snn.AdaptiveLIF(CLASSES, **NEURON))


def spread_at(epoch: int) -> float:
    """SPREAD_START down to 1 over the first half of the epochs, then 0 (straight-through)."""
    half = EPOCHS // 2
    return 0.0 if epoch >= half else SPREAD_START - (SPREAD_START - 1) * epoch / max(1, half - 1)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        spikes = snn.run(model, torch.as_tensor(x)).numpy()
    return float(np.mean(predictions(spikes) == y) * 100)


def train(delays: bool, out: Path) -> float:
    x_train, y_train, x_test, y_test = load_split()
    model = build(delays)
    first = model[0]
    groups = [{"params": [p for n, p in model.named_parameters() if n != "0.delay"], "lr": LR}]
    if delays:
        groups.append({"params": [first.delay], "lr": LR_DELAY})
    optimizer = torch.optim.Adam(groups)
    xt, yt = torch.as_tensor(x_train), torch.as_tensor(y_train)
    gen = torch.Generator().manual_seed(SEED)
    started = time.time()
    for epoch in range(EPOCHS):
        model.train()
        if delays:
            first.spread = spread_at(epoch)
        loss = snn.train_epoch(model, optimizer, xt, yt, BATCH, gen)
        if epoch % 5 == 4 or epoch == EPOCHS - 1:
            print(f"  epoch {epoch + 1}: loss {loss:.3f}, test (eval) "
                  f"{accuracy(model, x_test, y_test):.1f} %  [{time.time() - started:.0f} s]")
    model.eval()
    snn.save(model, out, (CHANNELS,), dt=DT)
    return accuracy(model, x_test, y_test)


def main() -> None:
    torch.set_num_threads(1)
    which = sys.argv[1:] or ["delays.pt", "no_delays.pt"]
    for delays, name in ((True, "delays.pt"), (False, "no_delays.pt")):
        if name not in which:
            continue
        print(f"{name}: {count_parameters(build(delays))} trainable numbers")
        acc = train(delays, HERE / name)
        print(f"{name}: float test accuracy {acc:.1f} % (chance {100 / CLASSES:.0f} %)")


if __name__ == "__main__":
    main()
