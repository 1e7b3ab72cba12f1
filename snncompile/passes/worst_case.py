"""The worst-case u / v range of a layer (all sources spiking at once), in thresholds: quantize
keeps this much headroom, clipped (passes/headroom.py), so the search knows how large vth may be."""

from __future__ import annotations

import numpy as np

from snncompile.ir.lowered_ops import GroupedConv, GroupedSparse


def _per_neuron(x: np.ndarray, conv: bool, n: int, sign: float) -> np.ndarray:
    """Per target neuron, the sum of clip(sign * x, 0) over its row (a conv's per channel,
    repeated), a block of rows at a time: each row is summed as the whole array's sum would, and
    no temporary of the matrix's size is made."""
    rows = max(1, (1 << 18) // max(1, x[:1].size))
    axes = (1, 2, 3) if conv else 1
    sums = np.concatenate([np.clip(x[a:a + rows] if sign > 0 else -x[a:a + rows], 0, None)
                           .sum(axis=axes) for a in range(0, len(x), rows)] or [np.zeros(0)])
    return np.repeat(sums, n // len(x)) if conv else sums


def headroom_need(xs, syns, clock_x, vb, alpha, beta) -> float:
    """Worst-case |u|, |v| in thresholds over the layer's neurons (alpha, beta per neuron)."""
    n = len(vb)
    pos, neg = np.zeros(n), np.zeros(n)
    for x, s in zip(xs + [clock_x], syns + [None]):
        if x is None:
            continue
        if s is not None and isinstance(s.op, GroupedSparse):  # stored values by row
            rows = s.op.rows()
            pos += np.bincount(rows, np.clip(x, 0, None), minlength=n)
            neg += np.bincount(rows, np.clip(-x, 0, None), minlength=n)
            continue
        conv = s is not None and isinstance(s.op, GroupedConv)
        pos += _per_neuron(x, conv, n, 1.0)
        neg += _per_neuron(x, conv, n, -1.0)
    u = np.maximum(pos, neg) / alpha
    v_pos = 1 + u + np.clip(vb, 0, None)
    leaky = beta > 0
    v_neg = np.where(leaky, (u + np.clip(-vb, 0, None)) / np.where(leaky, beta, 1.0), 0.0)
    return float(max(u.max(initial=0), v_pos.max(initial=0), v_neg.max(initial=0)))
