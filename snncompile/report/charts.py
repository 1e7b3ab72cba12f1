"""Matplotlib charts of the deployment report, each returned as a base64 PNG (self-contained HTML)."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def energy_chart(est: dict[str, Any]) -> str:
    """Energy per inference by component, and dynamic energy by layer."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    parts = est["breakdown_uj"]
    a.barh(list(parts), list(parts.values()), color="#4477aa")
    a.set_xlabel("uJ per inference")
    a.set_title(f"{est['target']}: energy by component")
    rows = est["layers"]
    b.bar([r["layer"] for r in rows], [r["dynamic_uj"] for r in rows], color="#ee6677")
    b.set_ylabel("uJ per inference")
    b.set_title("dynamic energy by layer")
    b.tick_params(axis="x", rotation=45)
    return _png(fig)


def latency_chart(est: dict[str, Any]) -> str:
    """Latency per inference by component, and mean busy time per core (the step waits for the
    slowest)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    parts = est["latency"]["breakdown_us"]
    a.barh(list(parts), list(parts.values()), color="#228833")
    a.set_xlabel("us per inference")
    a.set_title("latency by component")
    cores = est["cores"]
    if cores:
        b.bar([c["core"] for c in cores], [c["us_per_step"] for c in cores], color="#ccbb44")
        b.set_xlabel("core")
        b.set_ylabel("us busy per step")
        b.set_title("per-core busy time")
    else:
        b.axis("off")
        b.text(0.5, 0.5, "one core per population (cycle model)", ha="center")
    return _png(fig)


def raster_chart(float_spikes: dict[str, np.ndarray], hw_spikes: dict[str, np.ndarray],
                 sample: int = 0) -> str:
    """Spike rasters of one sample, float reference (left) vs hardware emulator (right)."""
    names = list(hw_spikes)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 1.8 * len(names) + 0.6), squeeze=False)
    for i, name in enumerate(names):
        for j, (label, src) in enumerate((("float", float_spikes), ("hardware", hw_spikes))):
            ax = axes[i, j]
            if name in src:
                s = np.asarray(src[name][sample]).reshape(src[name].shape[1], -1)
                t, n = np.nonzero(s)
                ax.scatter(t, n, s=4, marker="|", color="k")
                ax.set_xlim(-0.5, s.shape[0] - 0.5)
                ax.set_ylim(-0.5, s.shape[1] - 0.5)
            ax.set_title(f"{label}: layer {name}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def file_png(path) -> str:
    return base64.b64encode(open(path, "rb").read()).decode("ascii")
