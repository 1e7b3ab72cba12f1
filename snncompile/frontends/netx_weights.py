"""lava-dl netx 0.6.0's dense weight encoding (netx/utils.py `optimize_weight_bits`), our own
implementation: the netx reader applies it to every dense layer, the netx export simulates it."""

from __future__ import annotations

import numpy as np


def optimize_weight_bits(w: np.ndarray) -> tuple[np.ndarray, int, int] | str:
    """netx 0.6.0's weight encoding (netx/utils.py), reimplemented: (W', num_weight_bits,
    weight_exp),
    or a reason when netx would crash or shift by a negative count (numpy leaves that undefined).

    It clips mixed matrices to [-256, 254], scales W by 2^s with s = floor(log2(scale)) + signed
    (scale: how far the extreme weight is from 127/-128, 255 or -256), and counts trailing zero
    bits n
    to set num_weight_bits = 8 - s - (n - signed), weight_exp = -s.
    """
    w = np.asarray(w, dtype=np.int64)
    if w.size == 0 or not w.any():
        return "all weights are zero (netx's optimize_weight_bits divides by the largest weight)"
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)  # netx prints a warning and clips
        hi, lo = int(w.max()), int(w.min())
    signed = 0
    if hi < 0:
        scale = -256 / lo
    elif lo >= 0:
        scale = 255 / hi
    else:
        signed = 1
        with np.errstate(divide="ignore"):
            scale = min(np.float64(127) / hi, np.float64(-128) / lo)
    shift = int(np.floor(np.log2(scale))) + signed
    if shift < 0:
        return f"a weight of {hi if hi > -lo else lo} is past netx's 8-bit range"
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    return (w.astype(np.int32).astype(np.int64) << shift), 8 - shift - n, -shift
