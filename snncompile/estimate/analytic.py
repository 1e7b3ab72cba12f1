"""Fast resource estimate from the Plan alone (no synthesis), calibrated against yosys.

Memories: every memory the template declares, with the words and bits it needs; block RAMs per
memory from the family's aspect ratios (memories under `BRAM_MIN_BITS` go to logic, as yosys maps
them). Logic: a linear model in cores, synapse groups and decay multipliers whose coefficients
were fitted to yosys 0.23 synth_<family> runs (tests/test_fpga_estimate.py re-checks the fit).
"""

from __future__ import annotations

import math

import numpy as np

from snncompile.backends.fpga.adaptive import STATE_BITS
from snncompile.backends.fpga.plan import Plan
from snncompile.backends.fpga.rtl import PARAM_BITS
from snncompile.backends.fpga.widths import clog2, signed_bits
from snncompile.errors import SnnCompileError

# (depth, width) configurations of one block RAM
BRAM_SHAPES = {
    "ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
    "xilinx": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
    "ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
}
BRAM_MIN_BITS = {"ice40": 128, "xilinx": 4096, "ecp5": 4096}
# LUT / FF coefficients (per design, per core, per synapse group, per u multiplier, per v
# multiplier): least squares over 9 designs (digits + 8 random graphs), yosys 0.23. On Xilinx the
# multipliers go to DSP48 and small memories to LUTRAM. ECP5 reuses the Xilinx fit (uncalibrated).
LUT_COEF = {"ice40": (0, 103, 209, 391, 326), "xilinx": (98, 200, 0, 58, 0),
            "ecp5": (98, 200, 0, 58, 0)}
FF_COEF = {"ice40": (3, 25, 91, 125, 33), "xilinx": (73, 78, 0, 36, 0), "ecp5": (73, 78, 0, 36, 0)}
CALIBRATED = ("ice40", "xilinx")


# per ATRLIF core beyond its theta and r decay multipliers (counted as v's): the adders, the
# 32-bit compare and the muxes; yosys 0.23, a 16-neuron core against its LIF twin (docs/fpga.md)
ADAPTIVE_COEF = {"ice40": (20, 30), "xilinx": (131, 48), "ecp5": (131, 48)}


def _decays(c, field: str) -> bool:
    """An ATRLIF core's theta (delta_theta) or r (delta_r) is read back: its factor is not 0
    (a factor of 0 keeps theta at theta_0 and r at 0, and yosys drops the unread memory)."""
    return field in c.per_neuron or int(getattr(c, field)) != 4096


def _multiplies(c, field: str) -> bool:
    """The decay of `field` needs a multiplier (per neuron, or a factor other than 0, 4096)."""
    return field in c.per_neuron or int(getattr(c, field)) not in (0, 4096)


def memories(plan: Plan) -> list[tuple[str, int, int]]:
    """(name, words, bits per word) of every RAM/ROM the template declares and uses."""
    mems = []
    for c in plan.cores:
        for g in c.groups:  # weights (a Dense matrix or a Conv kernel + axon ROM), accumulators
            mems.extend((f"core{c.index}.{name}", words, bits)
                        for name, words, bits in g.memories(c.n))
        if "du" in c.per_neuron or 4096 - (int(c.du) + 1) != 0:
            mems.append((f"core{c.index}.umem", c.n, 32))
        mems.append((f"core{c.index}.vmem", c.n, 24))
        if c.later:  # reset "subtract_next": each neuron's last spike (fpga/rtl.py: smem)
            mems.append((f"core{c.index}.smem", c.n, 1))
        for field, mem in (("delta_theta", "thmem"), ("delta_r", "rmem")):
            if c.adaptive and _decays(c, field):  # ATRLIF's theta, r (fpga/adaptive.py)
                mems.append((f"core{c.index}.{mem}", c.n, STATE_BITS))
        if np.any(c.bias != c.bias[0]):  # the bias memory (fpga/rtl.py: bias_rom)
            lo, hi = int(c.bias.min()), int(c.bias.max())
            mems.append((f"core{c.index}.bmem", c.n, min(signed_bits(lo, hi), 32)))
        width = sum(PARAM_BITS[k] for k in c.per_neuron)
        if width:  # the per-neuron fields packed one word per neuron (fpga/rtl.py: _param_rom)
            mems.append((f"core{c.index}.pmem", c.n, width))
    for k in plan.source_cores:
        n = plan.cores[k].n
        mems.append((f"fifo{k}", 1 << clog2(n), clog2(n)))
    return mems


def blocks(words: int, bits: int, family: str) -> int:
    """Block RAMs for one memory: the cheapest aspect ratio."""
    return min(math.ceil(bits / w) * math.ceil(words / d) for d, w in BRAM_SHAPES[family])


def analytic_resources(plan: Plan, family: str = "ice40") -> dict:
    """{"family", "lut", "ff", "bram", "memory_bits", "calibrated"}: an instant estimate."""
    if family not in BRAM_SHAPES:
        raise SnnCompileError(f"unknown FPGA family {family!r} (choose {', '.join(BRAM_SHAPES)})")
    bram, bits = 0, 0
    for _, words, width in memories(plan):
        bits += words * width
        if words > 1 and words * width >= BRAM_MIN_BITS[family]:
            bram += blocks(words, width, family)
    n_groups = sum(len(c.groups) for c in plan.cores)
    mul_u = sum(1 for c in plan.cores
                if "du" in c.per_neuron or (4096 - (int(c.du) + 1)) not in (0, 4096))
    mul_v = sum(1 for c in plan.cores if "dv" in c.per_neuron or int(c.dv) != 0)
    mul_v += sum(_multiplies(c, k) for c in plan.cores if c.adaptive
                 for k in ("delta_theta", "delta_r"))
    feats = (1, len(plan.cores), n_groups, mul_u, mul_v)
    adaptive = sum(c.adaptive for c in plan.cores)
    lut = sum(a * b for a, b in zip(LUT_COEF[family], feats)) + ADAPTIVE_COEF[family][0] * adaptive
    ff = sum(a * b for a, b in zip(FF_COEF[family], feats)) + ADAPTIVE_COEF[family][1] * adaptive
    return {"family": family, "lut": int(lut), "ff": int(ff), "bram": int(bram),
            "memory_bits": int(bits), "calibrated": family in CALIBRATED}
