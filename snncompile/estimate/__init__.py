"""FPGA resource estimates for a build: yosys family flows (exact for yosys) and an instant
analytical model calibrated against them."""

from __future__ import annotations

from pathlib import Path

from snncompile.estimate.analytic import analytic_resources
from snncompile.estimate.yosys import FAMILIES, yosys_resources

__all__ = ["FAMILIES", "analytic_resources", "estimate_build", "yosys_resources"]


def estimate_build(folder: str | Path, family: str = "ice40", synthesize: bool = True) -> dict:
    """Resources of an fpga build folder: {"family", "analytic": {...}, "yosys": {...} or None}."""
    from snncompile.backends.fpga import IMAGE, RTL
    from snncompile.backends.fpga_plan import make_plan
    from snncompile.backends.fpga_rtl import rtl_sources
    from snncompile.ir.image import load_image

    folder = Path(folder)
    plan = make_plan(load_image(folder / IMAGE))
    rtl = folder / RTL
    sources = rtl_sources({p.name: "" for p in rtl.glob("*.v")})
    report = {"family": family, "analytic": analytic_resources(plan, family), "yosys": None}
    if synthesize:
        report["yosys"] = yosys_resources(rtl, sources, family)
    return report
