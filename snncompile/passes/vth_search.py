"""Quantize's choice of a layer's integer threshold vth (the least worst-case error per step among
candidates that fit the weights) and the fine twins that hold a code's rounding residual: the
arithmetic of the search, apart from the pass that assembles layers from it."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.passes.common import unsupported
from snncompile.passes.encode import (
    WeightCode,
    encode_bias,
    encode_weights,
    error_estimate,
    fit_exponent,
    limits,
    sign_mode_of,
)
from snncompile.target import Target


def search_vth(where, name, op, groups, exts, vb, decays, cap, target, mags) -> int:
    """The vth of least worst-case error per step; `mags[i]`: the largest input payload of
    group i (1 for spikes, an analog input's qmax), which multiplies its weight error;
    `exts[i]`: group i's weights' (min, max) (encode.extremes); `where`: the pass, for errors."""
    if cap < 1:
        raise unsupported(where, name, op, "the requested headroom leaves no threshold")
    cands = {cap} | {1 << j for j in range(cap.bit_length())}
    for (x, conv, exps, bits), ext in zip(groups, exts):
        lo, hi, _ = limits(sign_mode_of(x, ext), target, conv, bits)
        top, bottom = float(max(ext[1], 0)), float(min(ext[0], 0))
        ratio = min(hi / top if top > 0 else np.inf, lo / bottom if bottom < 0 else np.inf)
        if not np.isfinite(ratio):
            continue
        e_lo, e_hi = (0, 0) if conv else exps or (target.weight_exp_min, target.weight_exp_max)
        # a candidate > cap is dropped; f > 1: weights on a grid (QAT) sit 1e-7 short of it
        cands |= {int(min(ratio * 2.0**e * f, cap + 1)) for e in range(e_lo, e_hi + 1)
                  for f in (1.0, 1.0 + 1e-6)}
    scored = []
    for vth in sorted(v for v in cands if 1 <= v <= cap):
        err = 0.0
        for (x, conv, exps, bits), mag, ext in zip(groups, mags, exts):
            e = fit_exponent(x, vth, target, conv, exps, bits, ext)
            if e is None:
                break
            if exps is not None:  # a bias-clock column: always split, so its pair's error
                err = max(err, pair_error(x, vth, e, target, bits, ext))
                continue
            floor = 1.0 / vth if e < 0 else 0.0  # one floor per step, whatever the payload
            est = error_estimate(x, vth, e, target, conv, bits=bits, ext=ext)
            err = max(err, mag * (est - floor) + floor)
        else:
            err += encode_bias(vb, vth, target).max_err + decays / (64.0 * vth)
            scored.append((err, vth))
    if not scored:
        top = max(max(abs(lo), abs(hi)) for lo, hi in exts)
        most = max(limits("excitatory", target, conv, bits)[1]
                   * 2.0**(0 if conv else target.weight_exp_max) for _, conv, _, bits in groups)
        raise unsupported(where, name, op, f"its weights reach {top:.3g} thresholds per "
                          f"spike; this target holds at most {most:g} (at vth = 1)")
    best = min(err for err, _ in scored)
    return max(vth for err, vth in scored if err <= best * (1 + 1e-9) + 1e-15)


def pair_error(x: np.ndarray, vth: int, e: int, target: Target, bits: int, ext: Any) -> float:
    """A bias-clock column's worst error with the fine twin `plan` gives it (ranking by the
    coarse code alone pulled vth off a QAT model's weight grid for an error the twin fixes)."""
    code = encode_weights(x, vth, e, target, False, bits, ext)
    fine = fine_twin(x, code, vth, target, bits)
    return code.max_err + code.floor_err if fine is None else (
        fine.max_err + fine.floor_err + code.floor_err)


def fine_twins(groups: list, codes: list[WeightCode], vth: int, target: Target, has_clock: bool,
               mags: list[int], split_weights: bool) -> list[WeightCode | None]:
    """A fine twin per code, or None: always for the bias-clock column (a bias enters u at
    synaptic resolution every step; the twin costs one synapse per neuron), for every Dense
    when split_weights, never for a Conv (Lava's Conv has no exponent to refine with).
    `mags[i]`: group i's largest input payload (an analog input's qmax), which multiplies
    its weight error but not the floor."""
    last = len(codes) - 1
    return [fine_twin(x, code, vth, target, bits, mag)
            if (has_clock and i == last) or (split_weights and not conv) else None
            for i, ((x, conv, _, bits), code, mag) in enumerate(zip(groups, codes, mags))]


def fine_twin(x: np.ndarray, code: WeightCode, vth: int, target: Target,
              bits: int = 8, mag: int = 1) -> WeightCode | None:
    """The residual x - dequant(code) as a second Dense code, kept only if the pair's worst case
    is at least twice as good: a negative exponent adds Lava's floor of each step's sum (up to
    1/vth thresholds, always downward), which can cost more than a fine grid saves. The weight
    errors scale with the payload `mag` (an analog input's up to 127 per weight), the floor
    does not: on graded input the twin almost always pays."""
    residual = x - code.weights * 2.0**code.weight_exp / vth
    e = fit_exponent(residual, vth, target, bits=bits)
    if e is None or not np.any(np.abs(residual) * vth / 2.0**e >= 1 << (8 - bits)):
        return None
    fine = encode_weights(residual, vth, e, target, bits=bits)
    worst_before = mag * code.max_err + code.floor_err
    worst_after = mag * fine.max_err + fine.floor_err + code.floor_err
    return fine if worst_after <= worst_before / 2 else None
