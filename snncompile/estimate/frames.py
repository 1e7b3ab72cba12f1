"""Generated camera frames for PilotNet-style graded-input networks, when no recorded data exists.

A dashcam frame is mostly smooth (sky, road, verges) with a few strong edges (horizon, lane
marks); random noise would make every input neuron equally busy and overstate activity. Values
go through lava-dl's PilotNetDataset transform: 2 * w * p - w + b for pixels p in [0, 1], with
the input layer's own weight w and bias b (read from the netx file; PilotNet: 40 and 36).
"""

from __future__ import annotations

import numpy as np


def road_frames(n: int, shape: tuple[int, int, int] = (3, 66, 200), weight: float = 40.0,
                bias: float = 36.0, seed: int = 0) -> np.ndarray:
    """(n, C, H, W) int32 graded frames: a bright sky above a horizon, a darker road widening
    towards the bottom, two lane marks, low-frequency shading and mild pixel noise."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    rows = np.arange(h)[:, None] / max(h - 1, 1)
    cols = np.arange(w)[None, :] / max(w - 1, 1)
    out = np.empty((n, c, h, w), np.int32)
    for i in range(n):
        horizon = rng.uniform(0.3, 0.45)
        sky = 0.75 + 0.1 * rng.standard_normal() - 0.2 * rows
        half = np.clip((rows - horizon) / (1 - horizon), 0, 1) * 0.5 + 0.02
        centre = 0.5 + rng.uniform(-0.1, 0.1) * (rows - horizon)
        on_road = np.abs(cols - centre) < half
        ground = np.where(on_road, rng.uniform(0.3, 0.45), rng.uniform(0.45, 0.6))
        lanes = on_road & (np.abs(np.abs(cols - centre) - 0.6 * half) < 0.01 + 0.01 * rows)
        img = np.where(rows < horizon, sky, np.where(lanes, 0.9, ground))
        coarse = rng.standard_normal((4, 8))
        shade = np.kron(coarse, np.ones((h // 4 + 1, w // 8 + 1)))[:h, :w] * 0.05
        for ch in range(c):
            tint = 1 + 0.05 * (ch - 1)
            p = np.clip(img * tint + shade + 0.02 * rng.standard_normal((h, w)), 0, 1)
            out[i, ch] = (2 * weight * p - weight + bias).astype(np.int32)
    return out
