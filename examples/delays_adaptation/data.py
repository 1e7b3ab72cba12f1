"""Generated temporal task where only the relative timing of spikes across channels tells classes
apart, so a network must remember or delay: "which order did the channels fire in".

Every sample has CHANNELS input channels. Each channel fires exactly once at start + offset, where
the offsets of class c are a fixed permutation of 0, GAP, 2 GAP, ... (drawn once, seed 0), and
start is uniform in [0, MAX_START]. So every class has the same spike count per channel and the
same set of times: rates and first/last spike times carry no class information; only which
channel fires how long after which does. Each spike is jittered by -1, 0 or +1 step (p = 1/4, 1/2,
1/4) and NOISE extra spikes per sample fall on random channels and steps. Chance is 1 / CLASSES.

Two pattern spikes are always at least GAP - 2 = 4 steps apart, so a network whose neurons forget
within about two steps (and has no delays) sees one channel at a time: every short window of the
input has the same distribution in every class, and such a network stays near chance. Delays up
to 30 steps let one neuron see a whole class pattern at once.
"""

from __future__ import annotations

import numpy as np

CHANNELS, CLASSES, GAP, MAX_START, STEPS, NOISE = 6, 4, 6, 8, 48, 2
SEED = 0


def patterns() -> np.ndarray:
    """(CLASSES, CHANNELS) offsets in steps: class c's channel i fires offsets[c, i] after start."""
    rng = np.random.default_rng(SEED)
    base = np.arange(CHANNELS) * GAP
    return np.stack([rng.permutation(base) for _ in range(CLASSES)])


def make(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n samples: spikes (n, STEPS, CHANNELS) float32 in {0, 1}, labels (n,) int64."""
    rng = np.random.default_rng(seed)
    offsets = patterns()
    labels = rng.integers(0, CLASSES, n)
    x = np.zeros((n, STEPS, CHANNELS), np.float32)
    start = rng.integers(0, MAX_START + 1, n)
    jitter = rng.choice([-1, 0, 0, 1], size=(n, CHANNELS))
    times = np.clip(start[:, None] + offsets[labels] + jitter, 0, STEPS - 1)
    rows = np.repeat(np.arange(n), CHANNELS)
    x[rows, times.ravel(), np.tile(np.arange(CHANNELS), n)] = 1.0
    for _ in range(NOISE):
        x[np.arange(n), rng.integers(0, STEPS, n), rng.integers(0, CHANNELS, n)] = 1.0
    return x, labels


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed train (2000) and test (500) sets."""
    x_train, y_train = make(2000, seed=1)
    x_test, y_test = make(500, seed=2)
    return x_train, y_train, x_test, y_test
