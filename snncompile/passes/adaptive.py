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


def extra_cost(name: str, op: Any, c: SteppedLayer, thr: np.ndarray) -> int:
    """Error terms beyond a CubaLIF's, in units of 1 / (64 vth) thresholds per step: the toward-zero
    truncation of each decaying theta / r (one raw unit), and theta_step's rounding (half a
    mantissa = 32 raw units per spike). Every constant may differ between neurons."""
    assert c.theta_decay is not None and c.ref_decay is not None and c.theta_step is not None
    n = len(thr)
    th_decay, ref_decay, step = (np.broadcast_to(np.asarray(a, np.float64), (n,))
                                 for a in (c.theta_decay, c.ref_decay, c.theta_step))
    for field, value in (("tau_theta", th_decay), ("tau_ref", ref_decay)):
        bad = (value < 0) | (value > 1)
        if bad.any():
            raise unsupported(NAME, name, op, f"its {field} gives a per-step decay "
                              f"{value[np.argmax(bad)]:.4g} outside [0, 1] (a time constant "
                              "below dt)")
    if np.any(step < 0):
        raise unsupported(NAME, name, op, f"theta_step {step.min():g} is negative; Lava's ATRLIF "
                          "only raises the threshold")
    return int(np.any(th_decay > 0)) + int(np.any(ref_decay > 0)) + (32 if np.any(step > 0) else 0)


def _delta(x: np.ndarray, offset: int, low: int) -> tuple[np.ndarray, float]:
    """(d per neuron, largest |error| of the retention): retention 1 - x ~ (4096 - offset - d)
    / 4096."""
    d = np.clip(np.round(4096 * x) - offset, low, 4096 - offset).astype(np.int64)
    return d, float(np.max(np.abs((4096 - offset - d) / 4096 - (1 - x)), initial=0.0))


def atrlif(name: str, op: Any, c: SteppedLayer, shape: tuple[int, ...], thr: np.ndarray, vth: int,
           alpha: np.ndarray, beta: np.ndarray) -> tuple[hw.ATRLIF, list[str], dict[str, Any]]:
    """(the hw op, warnings, report fields du, dv, du_err, dv_err) of an AdaptiveLIF layer. The
    layer is in units of each neuron's own theta_0 (neuron_coeffs folds it into the weights), so
    theta_0 is the one mantissa vth and theta_step_i -> round(theta_step_i / theta_0_i * vth);
    the decays are quantized per neuron (hw.ATRLIF stores a shared value as one integer)."""
    assert c.theta_decay is not None and c.ref_decay is not None and c.theta_step is not None
    n = len(thr)
    warnings = []
    d_i, i_err = _delta(alpha, 1, -1)
    d_v, v_err = _delta(beta, 0, 0)
    d_th, th_err = _delta(np.broadcast_to(np.asarray(c.theta_decay, np.float64), (n,)), 0, 0)
    d_r, r_err = _delta(np.broadcast_to(np.asarray(c.ref_decay, np.float64), (n,)), 0, 0)
    for what, err in (("current", i_err), ("voltage", v_err), ("threshold", th_err),
                      ("refractory", r_err)):
        if err > 1 / 8192:
            warnings.append(f"{what} decay is off by {err:.3g} per step (4096ths are the grid)")
    step = np.broadcast_to(np.asarray(c.theta_step, np.float64), (n,)) / thr * vth
    step_mant = np.round(step).astype(np.int64)
    if step_mant.max(initial=0) > MANT_MAX:
        i = int(np.argmax(step_mant))
        raise unsupported(NAME, name, op, f"theta_step is {step[i] / vth:.4g} times theta_0, which "
                          f"needs a mantissa of {step_mant[i]} > {MANT_MAX} at threshold mantissa "
                          f"{vth}; Lava's ATRLIF cannot represent it")
    rel = np.abs(step_mant - step) / np.where(step > 0, step, 1)
    if np.any(rel > 1e-3):
        i = int(np.argmax(rel))
        warnings.append(f"theta_step rounds to {step_mant[i]}/{vth} of theta_0 "
                        f"({rel[i]:.3g} relative error)")
    zeros = np.zeros(shape, np.int64)
    op_hw = hw.ATRLIF(shape, delta_i=d_i.reshape(shape), delta_v=d_v.reshape(shape),
                      delta_theta=d_th.reshape(shape), delta_r=d_r.reshape(shape),
                      theta_0=vth, theta_step=step_mant.reshape(shape), bias_mant=zeros,
                      bias_exp=zeros)
    return op_hw, warnings, {"du": d_i, "dv": d_v, "du_err": i_err, "dv_err": v_err}
