"""Calibrated headroom: each layer's u/v range (in thresholds) from the float model's own u and v
on calibration input, instead of the worst-case bound clipped to [min_headroom, max_headroom].

Without data quantize keeps the worst case (every source spiking at once) clipped to 128
thresholds, which a dense layer on real input still passes (NeuroBench's keyword model on speech:
v at -1600..+1700 thresholds in the float model, saturating in all four layers, output counts 4 %
low), while a larger fixed range costs every layer precision. With calibration input the float
reference's |u| and pre-reset |v| per layer (`measured_ranges`) set the range: their QUANTILE
over samples, steps and neurons plus min_headroom (the data-free floor, as a margin). A quantile,
not the peak: on speech the rare tail (v's last 0.1 %) costs less clipped than the precision a
range for it would take; the added floor keeps layers whose quantile is small (digits' first
layer: 9 thresholds) out of saturation on held-out input (benchmarks/floor_centring.py,
docs/semantics.md, "Floor centring").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from snncompile.ir import nn_ops

QUANTILE = 0.999  # of |u| and |v| over samples, steps and neurons (measured: 0.99 to 1)
KINDS = (nn_ops.IF, nn_ops.LIF, nn_ops.CubaLIF)  # others (adaptive) keep the data-free rule


def room(need: float, measured: float | None, min_headroom: float, max_headroom: float,
         most: float) -> float:
    """The u/v range in thresholds a layer keeps: its measured quantile plus min_headroom (the
    margin for input beyond the calibration set), at most `most` (the range at vth = 1), when
    measured; else the worst-case `need` within [min_headroom, max_headroom]. The measured range
    may pass `need`: a subtract-reset neuron driven above threshold every step piles v up beyond
    that bound."""
    if measured is None:
        return float(np.clip(need, min_headroom, max_headroom))
    wanted = measured + min_headroom
    return float(wanted) if wanted < most else float(most)  # also a float model that diverged


def measured_ranges(nn_graph: Any, recorded: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per IF/LIF/CubaLIF neuron node, the peak over samples, steps and neurons of |u| and of
    |v| before its reset, in thresholds, from a `run_reference(..., record=True, state=True)`
    run: u is the step's drive (r x, b x, or b i for CubaLIF: what the chip's u carries), v the
    leaked potential plus that drive (on next-step timing, the recorded potential itself)."""
    from snncompile.sim.reference import RULES

    back = nn_graph.recurrent_edges
    out: dict[str, float] = {}
    for name in nn_graph.of_kind("neuron"):
        op = nn_graph.nodes[name]
        if type(op) not in KINDS or f"{name}:v" not in recorded:
            continue
        c = RULES[type(op)].prepare(op, float(nn_graph.dt), np.float64)
        v = np.asarray(recorded[f"{name}:v"], np.float64)
        if v.shape[1] == 0:
            continue
        x = np.zeros_like(v)
        for p in nn_graph.predecessors(name):
            value = np.asarray(recorded[p], np.float64).reshape(v.shape)
            if (p, name) in back:  # the previous step's output
                value = np.concatenate([np.zeros_like(value[:, :1]), value[:, :-1]], axis=1)
            x = x + value
        if isinstance(op, nn_ops.IF):
            leak, drive = 0.0, c["r"] * x
        else:
            leak = c["c"]
            drive = c["b"] * (recorded[f"{name}:i"] if isinstance(op, nn_ops.CubaLIF) else x)
        before = np.concatenate([np.zeros_like(v[:, :1]), v[:, :-1]], axis=1)
        a = 1.0 if isinstance(op, nn_ops.IF) else c["a"]
        v_peak = v if op.reset_timing == "next_step" else a * before + leak + drive
        thr = np.abs(c["thr"])
        out[name] = float(max(np.quantile(np.abs(drive) / thr, QUANTILE),
                              np.quantile(np.abs(v_peak) / thr, QUANTILE)))
    return out
