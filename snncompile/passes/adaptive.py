"""Quantize's rule for AdaptiveLIF layers: the integer fields of Lava's ATRLIF (hw.ATRLIF).

The layer is quantized like a CubaLIF (weights and the current in thresholds, biases through the
bias clock since they enter the current) with theta_0 in the role of the threshold: theta_0 ->
the mantissa vth, so the scale S = 64 vth / theta_0 raw units per float unit is exact for theta_0,
and theta_step -> round(theta_step / theta_0 * vth). Each retention factor 1 - decay becomes an
integer d = delta * 4096: the current's multiplier is (4095 - d_i) / 4096 (Lava's ds_offset), the
others' (4096 - d) / 4096. Headroom needs nothing extra: theta and r are int32 in Lava (never
clipped), and v without reset is bounded by u / beta, which the CubaLIF bound already covers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.lowered_ops import SteppedLayer
from snncompile.passes.common import unsupported

MANT_MAX = 2**17 - 1  # theta_0 and theta_step mantissas (17 bits, as LIF's vth; ir/check.py)
NAME = "quantize"


def _one(name: str, op: Any, field: str, arr: np.ndarray) -> float:
    if not np.allclose(arr, arr[0], rtol=1e-6, atol=0):
        raise unsupported(NAME, name, op, f"{field} differs between its neurons, and Lava's "
                          "ATRLIF holds one value per population")
    return float(arr[0])


def extra_cost(name: str, op: Any, c: SteppedLayer, thr: float) -> int:
    """Error terms beyond a CubaLIF's, in units of 1 / (64 vth) thresholds per step: the toward-zero
    truncation of each decaying theta / r (one raw unit), and theta_step's rounding (half a
    mantissa = 32 raw units per spike)."""
    assert c.theta_decay is not None and c.ref_decay is not None and c.theta_step is not None
    th_decay = _one(name, op, "tau_theta", c.theta_decay)
    ref_decay = _one(name, op, "tau_ref", c.ref_decay)
    step = _one(name, op, "theta_step", c.theta_step)
    for field, value in (("tau_theta", th_decay), ("tau_ref", ref_decay)):
        if not 0 <= value <= 1:
            raise unsupported(NAME, name, op, f"its {field} gives a per-step decay {value:.4g} "
                              "outside [0, 1] (a time constant below dt)")
    if step < 0:
        raise unsupported(NAME, name, op, f"theta_step {step:g} is negative; Lava's ATRLIF only "
                          "raises the threshold")
    return int(th_decay > 0) + int(ref_decay > 0) + (32 if step > 0 else 0)


def _delta(x: float, offset: int, low: int) -> tuple[int, float]:
    """(d, |error| of the retention): retention 1 - x ~ (4096 - offset - d) / 4096."""
    d = int(np.clip(round(4096 * x) - offset, low, 4096 - offset))
    return d, abs((4096 - offset - d) / 4096 - (1 - x))


def atrlif(name: str, op: Any, c: SteppedLayer, shape: tuple[int, ...], thr: float, vth: int,
           alpha: float, beta: float) -> tuple[hw.ATRLIF, list[str], dict[str, Any]]:
    """(the hw op, warnings, report fields du, dv, du_err, dv_err) of an AdaptiveLIF layer."""
    assert c.theta_decay is not None and c.ref_decay is not None and c.theta_step is not None
    warnings = []
    d_i, i_err = _delta(alpha, 1, -1)
    d_v, v_err = _delta(beta, 0, 0)
    d_th, th_err = _delta(float(c.theta_decay[0]), 0, 0)
    d_r, r_err = _delta(float(c.ref_decay[0]), 0, 0)
    for what, err in (("current", i_err), ("voltage", v_err), ("threshold", th_err),
                      ("refractory", r_err)):
        if err > 1 / 8192:
            warnings.append(f"{what} decay is off by {err:.3g} per step (4096ths are the grid)")
    step = float(c.theta_step[0]) / thr * vth
    step_mant = round(step)
    if step_mant > MANT_MAX:
        raise unsupported(NAME, name, op, f"theta_step is {step / vth:.4g} times theta_0, which "
                          f"needs a mantissa of {step_mant} > {MANT_MAX} at threshold mantissa "
                          f"{vth}; Lava's ATRLIF cannot represent it")
    if step and abs(step_mant - step) / step > 1e-3:
        warnings.append(f"theta_step rounds to {step_mant}/{vth} of theta_0 "
                        f"({abs(step_mant - step) / step:.3g} relative error)")
    zeros = np.zeros(shape, np.int64)
    op_hw = hw.ATRLIF(shape, delta_i=d_i, delta_v=d_v, delta_theta=d_th, delta_r=d_r,
                      theta_0=vth, theta_step=step_mant, bias_mant=zeros, bias_exp=zeros)
    return op_hw, warnings, {"du": d_i, "dv": d_v, "du_err": i_err, "dv_err": v_err}
