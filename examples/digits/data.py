"""The digits task: sklearn's 8x8 handwritten digits (real data, shipped with scikit-learn, offline)
turned into spike trains by a deterministic rate code, and one fixed train/test split."""

from __future__ import annotations

import numpy as np

STEPS = 16  # a pixel of intensity p (0..16) spikes exactly p times in 16 steps


def encode(images: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """(n, 64) intensities 0..16 -> (n, steps, 64) spikes (0/1), evenly spaced, no randomness."""
    rate = images.astype(np.float64) / 16.0
    t = np.arange(1, steps + 1)[None, :, None]
    counts = np.floor(t * rate[:, None, :] + 1e-9)
    previous = np.floor((t - 1) * rate[:, None, :] + 1e-9)
    return (counts > previous).astype(np.int8)


def load_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spike-encoded (x_train, y_train, x_test, y_test); 20 % test split, stratified, fixed seed."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("the digits are scikit-learn's bundled 8x8 digits; install it with "
                         "`pip install scikit-learn` (the [lava] extra brings it)") from None

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    return encode(x_train), y_train.astype(np.int64), encode(x_test), y_test.astype(np.int64)
