"""The adaptive-threshold (ATRLIF) datapath of an fpga core: hw_ops.ATRLIF in Verilog
(templates/adaptive.v.j2), its constants folded or read from the parameter memory.

An ATRLIF core reuses the LIF core's current and voltage path (delta_i, delta_v are the u and v
factors) and adds two state memories, theta and r, read and written back with u and v, so no
pass gets longer and the cycle model is unchanged. Both are held in 24 unsigned bits: in a
checked graph theta_0, theta_step >= 0 and the decays never grow a value, so theta >= theta_0 >= 0
and r >= 0; a spike needs theta <= v - r <= 2^23 - 1, after which theta + (theta_step << 6) <
2^24 and r + 2 theta <= v + theta < 2^24. Lava's int32 wraps therefore never act (the emulator
reproduces them; the RTL computes the compare v - r >= theta in 32 bits).
"""

from __future__ import annotations

from snncompile.backends.fpga.plan import Core
from snncompile.backends.fpga.products import product

STATE_BITS = 24  # theta and r (see above)
PRODUCT_BITS = 37  # a 24-bit state times a 13-bit factor (< 2^36: the top bit is spare)


def _decay(c: Core, field: str, fields: dict[str, str], wire: str, sig: str, decay: str):
    """(factor, product expression or "", unused bits) of one decay: a parameter-memory wire
    when the field differs between the core's neurons, else the folded constant."""
    factor: int | str = wire if field in fields else 4096 - int(getattr(c, field))
    if factor in (0, 4096):
        return factor, "", []
    return factor, product(sig, PRODUCT_BITS, factor, decay), [f"p{sig}[36]", f"p{sig}[11:0]"]


def adaptive_ctx(c: Core, fields: dict[str, str], decay: str) -> dict:
    """Template values of an ATRLIF core (`fields`: its parameter memory's packing)."""
    th_factor, th_expr, th_unused = _decay(c, "delta_theta", fields, "dth_f", "thx", decay)
    r_factor, r_expr, r_unused = _decay(c, "delta_r", fields, "dr_f", "rx", decay)
    unused = th_unused + r_unused
    if th_factor == 0:  # theta = theta_0 every step: the stored theta is never read
        unused.append("thq")
    if r_factor == 0:
        unused.append("rq")

    def mantissa(field: str, wire: str) -> str:
        return wire if field in fields else f"24'd{int(getattr(c, field)) << 6}"

    return {"adaptive": True, "th_factor": th_factor, "r_factor": r_factor,
            "pth_expr": th_expr, "pr_expr": r_expr,
            "th0": mantissa("theta_0", "th0_eff"), "tstep": mantissa("theta_step", "tstep_eff"),
            "adaptive_unused": unused}
