"""The sweep's HTML page: the Pareto plot (accuracy against energy and against cores, the front's
points marked and named), the table of every point, and where the page came from. It reuses the
deployment report's page, table and chart helpers (snncompile.report), so it is one
self-contained file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from snncompile.report.charts import _png, plt
from snncompile.report.html import img, page, para, table
from snncompile.report.provenance import provenance_rows
from snncompile.sweep import SweepResult

FRONT, OTHER = "#cc3311", "#7f8c99"


def pareto_chart(result: SweepResult) -> str:
    """Two panels sharing the accuracy axis: energy per inference and cores used. Every point
    that compiled is a dot named by its number; the front's points are red and larger."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, key, name in ((axes[0], "energy_uj", "energy per inference (µJ)"),
                          (axes[1], "cores", "cores used")):
        names: dict[tuple[float, float], list[str]] = {}  # points at one spot share a label
        for i, p in enumerate(result.points):
            if p.get("error") or p[key] is None:
                continue
            optimal = i in result.pareto
            ax.scatter(p[key], p["accuracy"], s=70 if optimal else 30, zorder=3 if optimal else 2,
                       color=FRONT if optimal else OTHER, edgecolors="black" if optimal else "none")
            names.setdefault((p[key], p["accuracy"]), []).append(f"#{i}")
        for spot, here in names.items():
            ax.annotate(" ".join(here), spot, textcoords="offset points", xytext=(5, 4),
                        fontsize=8)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    cores = sorted({p["cores"] for p in result.points if p.get("cores") is not None})
    if cores:  # whole cores only, with room either side (one value alone is still a scale)
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].set_xlim(cores[0] - 1, cores[-1] + 1)
    axes[0].set_ylabel("accuracy on the emulator (%)")
    axes[0].scatter([], [], color=FRONT, edgecolors="black", label="Pareto-optimal")
    axes[0].scatter([], [], color=OTHER, label="dominated")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{result.model} on {result.target}: accuracy vs energy vs cores")
    return _png(fig)


def write_html(result: SweepResult, out: str | Path, model: Any, x: np.ndarray,
               labels: np.ndarray, options: dict[str, Any], command: str | None = None) -> Path:
    """The page for `result` at `out`: KPI cards, the plot, the table, the provenance of
    model, inputs, labels and `options`."""
    compiled = [p for p in result.points if not p.get("error")]
    front = [result.points[i] for i in result.pareto]
    confirmed = [p for p in front if p.get("confirmed") is not None]
    equal = sum(p["confirmed"]["differing_entries"] == 0 for p in confirmed)
    kpis = [("points", str(len(result.points)), f"{len(compiled)} compiled"),
            ("Pareto-optimal", str(len(front)), "no other point is as good on all three"),
            ("best accuracy", f"{max(p['accuracy'] for p in compiled):.4g} %" if compiled
             else "-", "on the emulator"),
            ("confirmed on target", f"{equal}/{len(confirmed)}" if confirmed else "-",
             "front points whose artefact equals the emulator")]
    grid = ", ".join(f"{name}: {', '.join(values)}" for name, values in result.axes.items())
    sections = [
        ("Pareto plot", para("Each point is one full compile measured on the emulator. A point "
                             "is Pareto-optimal when no other has at least its accuracy, at "
                             "most its energy and at most its cores, and is better on one.")
         + img(pareto_chart(result), "Pareto plot")),
        ("Points", para(f"Grid: {grid}. artefact = emu: the target's own artefact (Lava program, "
                        "RTL simulation) run on the same inputs equals the emulator ('-': not "
                        "confirmed; only the front's points are). verify: its checks at their "
                        "default limits, emulator against the float reference.")
         + table(result.rows(), "points")
         + "".join(para(f"does not compile: {line}") for line in result.errors())),
        ("Provenance", table(provenance_rows(model, x, "given by the caller", labels,
                                             {"target": result.target, **options}, command),
                             "provenance")),
    ]
    banner = para(f"{result.samples} input sample(s) x {result.steps} steps on every point.")
    text = page(f"snncompile sweep: {result.model} on {result.target}",
                f"{len(result.points)} points over {grid}", banner, kpis, sections)
    out = Path(out)
    out.write_text(text, encoding="utf-8")
    return out
