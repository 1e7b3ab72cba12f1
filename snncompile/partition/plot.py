"""Picture of a placement: the chip mesh, each core shaded by its most used resource, the heaviest
core-to-core routes drawn as lines (width ~ spikes per step), chip borders in black."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snncompile.partition.artefact import Placement
from snncompile.partition.split import RESOURCES


def plot(placement: Placement, path: str | Path, max_routes: int = 400) -> Path:
    """Write a PNG (or any matplotlib format by suffix) of the mesh, utilization and traffic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p, mesh = placement, placement.mesh
    use = p.core_use().astype(float)
    caps = np.array([p.model.cap(r) for r in RESOURCES], float)
    util = (use / caps).max(1)
    binding = (use / caps).argmax(1)
    rows, cols = mesh.chip_rows * mesh.rows, mesh.chip_cols * mesh.cols
    grid = np.full((rows, cols), np.nan)
    r, c, _ = mesh.xy(p.slot_of)
    grid[r, c] = util
    scale = max(7.0, min(14.0, cols / 4))
    fig, ax = plt.subplots(figsize=(scale, scale * rows / cols + 1.2))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, origin="upper")
    fig.colorbar(im, ax=ax, fraction=0.03, label="core utilization (most used resource)")
    for k in range(1, mesh.chip_rows):
        ax.axhline(k * mesh.rows - 0.5, color="k", lw=2)
    for k in range(1, mesh.chip_cols):
        ax.axvline(k * mesh.cols - 0.5, color="k", lw=2)
    src, dst, _, traffic = p.core_routes
    keep = (src >= 0) & (src != dst)
    order = np.argsort(-traffic[keep])[:max_routes]
    s, d, t = src[keep][order], dst[keep][order], traffic[keep][order]
    if len(t):
        width = 0.3 + 2.5 * t / t.max()
        for a, b, w in zip(s, d, width):
            ax.plot([c[a], c[b]], [r[a], r[b]], color="tab:red", lw=w, alpha=0.35)
    if len(p.cores) <= 256:
        for i in range(len(p.cores)):
            ax.text(c[i], r[i], "NSFO"[binding[i]], ha="center", va="center", fontsize=6,
                    color="w")
    m = p.metrics
    ax.set_title(f"{p.model.target}: {m['cores']} cores on {m['chips']} chip(s), "
                 f"{m['neurons']:,} neurons, {m['synapses']:,} synapses\n"
                 f"traffic x hops {m['traffic_hops']:.3g} ({m['traffic_hops_vs_greedy']:.2f} x "
                 f"layer-order greedy); letters: binding limit N/S/F(in)/O(ut)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
