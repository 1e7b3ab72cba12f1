"""Matplotlib charts of the deployment report, each returned as a base64 PNG (self-contained
HTML)."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

MAX_RASTER_NEURONS = 200  # rows per raster: more turn into a grey smear at report size
BOTH, FLOAT_ONLY, HW_ONLY = "#222222", "#0077bb", "#cc3311"


def num(v: float) -> str:
    """A figure for a chart label: plain digits up to millions, 3 significant digits below."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def shown_neurons(f: np.ndarray, h: np.ndarray, cap: int = MAX_RASTER_NEURONS) -> np.ndarray:
    """Which neurons (columns of (T, N) spikes) a raster shows: all if they fit, else every
    neuron that differs and evenly spaced others, in index order (more differing neurons than
    the cap: evenly spaced among them)."""
    n = f.shape[1]
    if n <= cap:
        return np.arange(n)
    differ = np.flatnonzero((f != h).any(axis=0))
    if len(differ) > cap:  # evenly over the differing ones, not just the lowest indices
        return differ[np.linspace(0, len(differ) - 1, cap).round().astype(int)]
    rest = np.setdiff1d(np.arange(n), differ)
    fill = rest[np.linspace(0, len(rest) - 1, cap - len(differ)).round().astype(int)] \
        if cap > len(differ) and len(rest) else rest[:0]
    return np.union1d(differ, fill)


def raster_chart(float_spikes: dict[str, np.ndarray], hw_spikes: dict[str, np.ndarray],
                 layers: list[str], sample: int) -> str:
    """One raster per layer for one sample: spikes in both runs black, spikes only the float
    reference fired blue (o), spikes only the hardware fired red (x)."""
    cols = 2 if len(layers) > 1 else 1
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.3 * rows + 0.5), squeeze=False)
    for ax in axes.ravel()[len(layers):]:
        ax.axis("off")
    for ax, name in zip(axes.ravel(), layers):
        h = np.asarray(hw_spikes[name][sample]).reshape(hw_spikes[name].shape[1], -1) != 0
        f = np.asarray(float_spikes[name][sample]).reshape(h.shape) != 0
        keep = shown_neurons(f, h)
        f, h = f[:, keep], h[:, keep]
        for mask, colour, marker, label in ((f & h, BOTH, "|", "both"),
                                            (f & ~h, FLOAT_ONLY, "o", "float only"),
                                            (h & ~f, HW_ONLY, "x", "hardware only")):
            t, row = np.nonzero(mask)
            ax.scatter(t, row, s=9 if marker == "|" else 14, marker=marker, label=label,
                       color=colour, facecolors="none" if marker == "o" else None,
                       linewidths=0.8)
        ax.set_xlim(-0.5, h.shape[0] - 0.5)
        ax.set_ylim(-0.5, len(keep) - 0.5)
        ticks = np.unique(np.linspace(0, len(keep) - 1, min(5, len(keep))).round().astype(int))
        ax.set_yticks(ticks, [str(keep[i]) for i in ticks], fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        n_total = hw_spikes[name].reshape(*hw_spikes[name].shape[:2], -1).shape[2]
        differ = int((f != h).sum())
        shown = f"{len(keep)} of {n_total} neurons" if len(keep) < n_total else \
            f"{n_total} neurons"
        ax.set_title(f"layer {name}: {shown}, {differ} spike(s) differ", fontsize=9,
                     color=HW_ONLY if differ else BOTH)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("neuron", fontsize=8)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.3 * rows + 0.5)))
    return _png(fig)


def energy_chart(est: dict[str, Any], layers: list[str]) -> str:
    """Energy per inference by component on a log scale (static would hide the dynamic parts on a
    linear one), each bar labelled with its share; and dynamic energy by layer."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    parts = est["breakdown_uj"]
    total = est["energy_uj"]["total"] or 1.0
    names = list(parts)
    values = [max(parts[n], 1e-12) for n in names]
    colours = ["#999999" if n == "static" else "#4477aa" for n in names]
    a.barh(names, values, color=colours)
    a.set_xscale("log")
    a.set_xlim(min(values) / 3, max(values) * 40)
    for y, n in enumerate(names):
        a.text(values[y] * 1.15, y, f"{num(parts[n])} µJ ({num(100 * parts[n] / total)} %)",
               va="center", fontsize=8)
    a.invert_yaxis()
    a.set_xlabel("µJ per inference (log scale)")
    a.set_title(f"{est['target']}: energy by component, total {total:.4g} µJ", fontsize=10)
    per_layer = {r["layer"]: r["dynamic_uj"] for r in est["layers"]}
    names = [n for n in layers if n in per_layer] or list(per_layer)
    b.bar(names, [per_layer[n] for n in names], color="#ee6677")
    b.set_ylabel("µJ per inference")
    b.set_xlabel("layer (network order)")
    b.set_title("dynamic energy by layer", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def latency_chart(est: dict[str, Any]) -> str:
    """Latency per inference by component, and busy time per core (the step waits for the
    slowest)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [3, 2]})
    parts = est["latency"]["breakdown_us"]
    total = est["latency"]["us_per_inference"] or 1.0
    a.barh(list(parts), list(parts.values()), color="#228833")
    a.set_xlim(0, max(parts.values(), default=1) * 1.45)
    for y, (n, v) in enumerate(parts.items()):
        a.text(v, y, f" {num(v)} µs ({num(100 * v / total)} %)", va="center", fontsize=8)
    a.invert_yaxis()
    a.set_xlabel("µs per inference")
    a.set_title(f"latency by component, total {total:.4g} µs", fontsize=10)
    cores = est["cores"]
    if cores:
        b.bar([str(c["core"]) for c in cores], [c["us_per_step"] for c in cores],
              color="#ccbb44", width=0.8 if len(cores) > 3 else 0.4)
        if len(cores) > 24:
            b.set_xticks([])
        b.set_xlabel("core")
        b.set_ylabel("µs busy per step")
        b.set_title("mean busy time per core", fontsize=10)
    else:
        b.axis("off")
        b.text(0.5, 0.5, "no cores: one datapath per population (cycle model)", ha="center")
    fig.tight_layout()
    return _png(fig)
