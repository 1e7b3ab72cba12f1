"""Resource counts from yosys family flows (synth_ice40 / synth_xilinx / synth_ecp5, `stat -json`).

The generic `synth` maps memories to flip-flops and is useless as an FPGA estimate, so only the
family flows are offered. Cells are grouped into LUT / FF / BRAM / DSP / CARRY / LUTRAM / other.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from snncompile import children
from snncompile.errors import SnnCompileError
from snncompile.progress import stage

FAMILIES = ("ice40", "xilinx", "ecp5")

# cell-type prefix -> class, per family (first match wins)
CLASSES: dict[str, tuple[tuple[str, str], ...]] = {
    "ice40": (("SB_LUT4", "lut"), ("SB_CARRY", "carry"), ("SB_DFF", "ff"),
              ("SB_RAM40_4K", "bram"), ("SB_MAC16", "dsp")),
    "xilinx": (("LUT", "lut"), ("CARRY", "carry"), ("FD", "ff"), ("RAMB36", "bram36"),
               ("RAMB18", "bram"), ("RAM", "lutram"), ("DSP48", "dsp"), ("MUXF", "mux")),
    "ecp5": (("LUT4", "lut"), ("CCU2C", "carry"), ("TRELLIS_FF", "ff"), ("DP16KD", "bram"),
             ("PDPW16KD", "bram"), ("MULT18X18D", "dsp"), ("TRELLIS_DPR16X4", "lutram")),
}


def classify(cells: dict[str, int], family: str) -> dict[str, int]:
    """{lut, ff, bram, dsp, carry, lutram, other}; Xilinx RAMB36 counts as two 18 kbit BRAMs."""
    out = {k: 0 for k in ("lut", "ff", "bram", "dsp", "carry", "lutram", "other")}
    for cell, n in cells.items():
        kind = next((k for p, k in CLASSES[family] if cell.startswith(p)), "other")
        if kind == "bram36":
            out["bram"] += 2 * n
        elif kind == "mux":
            out["other"] += n
        else:
            out[kind] += n
    return out


def yosys_resources(rtl_dir: Path, sources: list[str], family: str = "ice40",
                    top: str = "snn_top") -> dict:
    """Synthesize `sources` (in rtl_dir, where the $readmemh files are) with synth_<family>;
    returns {"family", "cells": raw counts, **classified counts}."""
    if family not in FAMILIES:
        raise SnnCompileError(f"unknown FPGA family {family!r} (choose {', '.join(FAMILIES)})")
    exe = shutil.which("yosys")
    if exe is None:
        raise SnnCompileError(
            "yosys is not installed (apt-get install -y --no-install-recommends yosys)")
    with tempfile.TemporaryDirectory(prefix="snncompile-yosys-") as tmp:
        stat = Path(tmp) / "stat.json"
        script = (f"read_verilog {' '.join(sources)}; synth_{family} -top {top}; "
                  f"tee -q -o {stat} stat -json")
        with stage(f"yosys synth_{family}"):
            proc = children.run([exe, "-q", "-p", script], cwd=str(rtl_dir))
        if proc.returncode != 0 or not stat.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
            raise SnnCompileError(f"yosys synth_{family} failed: {' | '.join(tail)}")
        data = json.loads(stat.read_text())
    design = data.get("design") or next(iter(data["modules"].values()))
    cells = {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}
    return {"family": family, "cells": cells, **classify(cells, family)}
