"""The report's placement: a map of the used part of the core mesh with each core labelled by the
layers it holds, and a core table (what each core holds, how full it is, how long it is busy)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from snncompile.partition.split import RESOURCES
from snncompile.report.charts import _png, plt

MAX_LABELLED_CORES = 64  # beyond this, cores are coloured by layer without text
MAX_TABLE_CORES = 64  # beyond this, the table lists the busiest cores
PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb",
           "#ee8866", "#44bb99", "#99ddff", "#ffaabb", "#eedd88")


def core_layers(placement) -> list[dict[str, int]]:
    """Per core: layer -> neurons it holds, layers in the order they were placed."""
    out = []
    for members in placement.cores:
        held: dict[str, int] = {}
        for j in members:
            b = placement.blocks[j]
            held[b.layer] = held.get(b.layer, 0) + b.neurons
        out.append(held)
    return out


def short_names(layers: list[str]) -> dict[str, str]:
    """Layer names for small map labels: a prefix every name shares (`layer0`, `layer1`) is
    dropped, the legend keeps the full names."""
    prefix = os.path.commonprefix(layers).rstrip("0123456789") if len(layers) > 1 else ""
    return {n: n[len(prefix):] or n for n in layers}


def _label(held: dict[str, int], short: dict[str, str], width: int = 3) -> str:
    names = [short.get(n, n) for n in held]
    return ",".join(names[:width]) + (f",+{len(names) - width}" if len(names) > width else "")


def _legend_name(name: str) -> str:
    return name if name.lower().startswith("layer") else f"layer {name}"


def _slices(held: dict[str, int], width: float, floor: float = 0.12) -> list[tuple[str, float]]:
    """Widths of a core's layer slices: shares of its neurons, each at least `floor` of the
    cell so a 10-neuron layer beside 4096 others stays visible."""
    total = sum(held.values()) or 1
    share = {n: max(k / total, floor) for n, k in held.items()}
    norm = sum(share.values()) or 1
    return [(n, width * v / norm) for n, v in share.items()]


def placement_chart(placement, layers: list[str]) -> str:
    """The rows and columns of the mesh that hold cores; each core split into one slice per
    layer it holds (width ~ neurons, colour = layer) and labelled `core: layers`; chips
    outlined."""
    mesh = placement.mesh
    r, c, _ = mesh.xy(placement.slot_of)
    held = core_layers(placement)
    r0, r1 = int(r.min()), int(r.max()) + 1
    c0 = int(c.min())
    c1 = min(max(int(c.max()) + 1, c0 + 4), mesh.chip_cols * mesh.cols)
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(layers)}
    width = min(11.0, max(5.0, 0.9 * (c1 - c0) + 2))
    height = min(14.0, max(1.6, width * (r1 - r0) / (c1 - c0) + 0.9))
    fig, ax = plt.subplots(figsize=(width, height))
    ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, color="#f0f0f0", lw=0))
    labelled = len(placement.cores) <= MAX_LABELLED_CORES
    short = short_names(layers)
    for i, h in enumerate(held):
        x = c[i] - 0.45
        for name, width in _slices(h, 0.9):  # one slice per layer, width ~ its neurons
            ax.add_patch(plt.Rectangle((x, r[i] - 0.45), width, 0.9,
                                       color=colour.get(name, "#bbbbbb")))
            x += width
        if labelled:
            ax.text(c[i], r[i], f"core {i}\n{_label(h, short)}", ha="center", va="center",
                    fontsize=7 if len(held) <= 16 else 6, color="black", fontweight="bold",
                    bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 1.5})
    for k in range(1, mesh.chip_rows):
        ax.axhline(k * mesh.rows - 0.5, color="k", lw=2)
    for k in range(1, mesh.chip_cols):
        ax.axvline(k * mesh.cols - 0.5, color="k", lw=2)
    ax.set_xlim(c0 - 0.5, c1 - 0.5)
    ax.set_ylim(r1 - 0.5, r0 - 0.5)
    ax.set_aspect("equal")
    ax.set_xticks(range(c0, c1))
    ax.set_yticks(range(r0, r1))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("mesh column", fontsize=8)
    ax.set_ylabel("mesh row", fontsize=8)
    shown = [n for n in layers if any(n in h for h in held)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[n]) for n in shown]
    ax.legend(handles, [_legend_name(n) for n in shown], loc="upper left", fontsize=7,
              bbox_to_anchor=(1.01, 1), frameon=False)
    m = placement.metrics
    ax.set_title(f"{m['cores']} core(s) on {m['chips']} chip(s) of {placement.model.target}; "
                 f"label: core and the layers on it", fontsize=9)
    return _png(fig)


def core_rows(placement, est: dict[str, Any] | None) -> tuple[list[dict[str, Any]], str]:
    """The core table (busiest first when there are more than MAX_TABLE_CORES) and a note."""
    use = placement.core_use()
    caps = np.array([placement.model.cap(name) for name in RESOURCES], float)
    util = use / caps
    r, c, chip = placement.mesh.xy(placement.slot_of)
    busy = {row["core"]: row for row in (est or {}).get("cores") or ()}
    rows = []
    for i, held in enumerate(core_layers(placement)):
        timing = busy.get(i, {})
        rows.append({
            "core": i, "chip": int(chip[i]), "row, col": f"{int(r[i])}, {int(c[i])}",
            "layers (neurons)": ", ".join(f"{n} ({k})" for n, k in held.items()),
            "neurons": int(use[i, 0]), "synapse bits": int(use[i, 1]),
            "fan-in axons": int(use[i, 2]), "fan-out axons": int(use[i, 3]),
            "fullest": f"{RESOURCES[int(util[i].argmax())]} {100 * util[i].max():.0f} %",
            "µs busy / step": timing.get("us_per_step", "-"),
            "dynamic µJ": timing.get("dynamic_uj", "-"),
        })
    note = f"all {len(rows)} cores"
    if len(rows) > MAX_TABLE_CORES:
        rows = sorted(rows, key=lambda x: -float(x["µs busy / step"]
                                                 if x["µs busy / step"] != "-" else 0))
        rows = rows[:MAX_TABLE_CORES]
        note = (f"the {MAX_TABLE_CORES} busiest of {len(placement.cores)} cores "
                "(every core is in the build's placement.json)")
    return rows, note


def rtl_core_rows(hw_graph, target, placement=None) -> list[dict[str, Any]]:
    """fpga: one row per time-multiplexed RTL core (one partitioner block of a population), with
    what it reads and how many weight words it stores (backends/fpga/plan.py). Planned on the
    build's own Target and placement, so a board folder with smaller cores reports its cores."""
    from snncompile.backends.fpga.plan import make_plan

    plan = make_plan(hw_graph, None, target, placement)

    def sender(source: int) -> str:
        return "input" if source == 0 else f"core {plan.source_cores[source - 1]}"

    return [{
        "core": c.index, "layer": c.name, "neurons": c.n,
        "reads from": ", ".join(f"{sender(g.source)} ({g.kind})" for g in c.groups),
        "weight words": int(sum(g.rows.size for g in c.groups)),
        "bits / word": max((g.w_bits for g in c.groups), default=0),
        "parameter groups": c.param_groups,  # distinct parameter tuples: a memory if > 1
        "sends spikes": f"yes (source {c.source})" if c.source else "no",
    } for c in plan.cores]
