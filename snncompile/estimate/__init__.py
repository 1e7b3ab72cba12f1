"""FPGA resource estimates for a build: yosys family flows (exact for yosys) and an instant
analytical model calibrated against them."""

from __future__ import annotations

from pathlib import Path

from snncompile.estimate.analytic import analytic_resources
from snncompile.estimate.yosys import FAMILIES, yosys_resources

__all__ = ["FAMILIES", "analytic_resources", "estimate_build", "yosys_resources"]


def estimate_build(folder: str | Path, family: str = "ice40", synthesize: bool = True) -> dict:
    """Resources of an fpga build folder: {"family", "analytic": {...}, "yosys": {...} or None}."""
    from snncompile.backends.fpga import RTL, build_plan
    from snncompile.backends.fpga.rtl import rtl_sources

    folder = Path(folder)
    _, plan = build_plan(folder)  # the plan of the build, with the core limits it was written with
    rtl = folder / RTL
    sources = rtl_sources({p.name: "" for p in rtl.glob("*.v")})
    report = {"family": family, "analytic": analytic_resources(plan, family), "yosys": None}
    if synthesize:
        report["yosys"] = yosys_resources(rtl, sources, family)
    return report
