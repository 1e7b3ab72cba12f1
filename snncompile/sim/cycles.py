"""Cycle model of the fpga template: exact cycle stamps from spike counts, never stepping cycles.

Every pass has a data-independent length (targets/fpga/timing.toml), so the cycles of a time step
are a closed form of how many input spikes and core spikes it carries; the emulator's spikes
therefore give every spike's cycle stamp and the total, vectorized over the batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np


@dataclasses.dataclass
class CycleTrace:
    """stamps: (M, 5) int64 rows (cycle, core, neuron, sample, step) sorted by (cycle, core,
    neuron); clear: (batch,) cycle each inference's clear word is accepted; step_end: (batch,
    steps) cycle of each step's last cycle; total: cycles of the whole run."""

    stamps: np.ndarray
    clear: np.ndarray
    step_end: np.ndarray
    total: int
    state: np.ndarray | None = None  # debug dump: (M, 6) rows (sample, step, core, neuron, u, v)
    adaptive: np.ndarray | None = None  # ATRLIF cores' dump: rows (..., neuron, theta, r)

    def equals(self, other: CycleTrace) -> bool:
        return (self.total == other.total and np.array_equal(self.clear, other.clear)
                and np.array_equal(self.step_end, other.step_end)
                and np.array_equal(self.stamps, other.stamps))

    def spikes(self, core: int, n: int, batch: int, steps: int) -> np.ndarray:
        """(batch, steps, n) int8 spikes of one core."""
        out = np.zeros((batch, steps, n), np.int8)
        rows = self.stamps[self.stamps[:, 1] == core]
        out[rows[:, 3], rows[:, 4] - 1, rows[:, 2]] = 1
        return out


def sort_stamps(stamps: np.ndarray) -> np.ndarray:
    stamps = np.asarray(stamps, dtype=np.int64).reshape(-1, 5)
    return stamps[np.lexsort((stamps[:, 2], stamps[:, 1], stamps[:, 0]))]


def step_cycles(plan, in_counts: np.ndarray, src_counts: list[np.ndarray]) -> np.ndarray:
    """(batch, steps) cycles of each step from input-spike counts and each source core's spike
    counts (the formula in timing.toml)."""
    tm = plan.timing
    c = (tm["wait"] + plan.tick_len + (in_counts + 1) * tm["word"]
         + in_counts * plan.event_len[0] + tm["step_end"])
    for j, counts in enumerate(src_counts):
        c = c + counts * (tm["pop"] + plan.event_len[j + 1]) + tm["source"]
    return np.asarray(c, dtype=np.int64)


def cycle_trace(plan, x: np.ndarray, core_spikes) -> CycleTrace:
    """The cycles the RTL takes for input spikes x (batch, T, n_in) whose cores spike
    core_spikes[k] (batch, steps, N_k) in hw steps 1..steps >= T: the testbench's file, predicted.
    core_spikes may also be {population: (batch, steps, *shape)} (the emulator's trace.spikes):
    each core then takes its block's neurons (plan.core_spikes)."""
    tm = plan.timing
    x = np.asarray(x).reshape(len(x), x.shape[1], -1) != 0
    if isinstance(core_spikes, Mapping):
        first = np.asarray(core_spikes[plan.cores[0].name])
        core_spikes = plan.core_spikes(core_spikes, len(x), first.shape[1])
    batch, steps = len(x), np.asarray(core_spikes[0]).shape[1]
    x = np.concatenate([x, np.zeros((batch, steps - x.shape[1], x.shape[2]), bool)], axis=1)
    src = [np.asarray(core_spikes[k]).reshape(batch, steps, -1).sum(axis=2)
           for k in plan.source_cores]
    c = step_cycles(plan, x.sum(axis=2), src)
    head = tm["wait"] + plan.clear_len
    sample_len = head + c.sum(axis=1)
    clear = np.concatenate([[0], np.cumsum(sample_len)[:-1]]).astype(np.int64)
    start = clear[:, None] + head + np.concatenate(
        [np.zeros((batch, 1), np.int64), np.cumsum(c, axis=1)[:, :-1]], axis=1)
    # Spikes on a (batch, step, neuron, core) grid: C-order nonzero lists them by (cycle, core,
    # neuron) already, since a step's stamps (start + const + neuron) end before the next step
    # starts, so no sort is needed.
    sizes = [int(np.prod(np.shape(spk)[2:])) for spk in core_spikes]
    grid = np.zeros((batch, steps, max(sizes, default=0), len(sizes)), bool)
    for k, spk in enumerate(core_spikes):
        grid[:, :, :sizes[k], k] = np.asarray(spk).reshape(batch, steps, -1) != 0
    flat = np.flatnonzero(grid)  # one flat index per spike: ((b * steps + t) * N + n) * K + k
    stamps = np.empty((len(flat), 5), np.int64)
    bt, rest = np.divmod(flat, grid.shape[2] * grid.shape[3])
    stamps[:, 2], stamps[:, 1] = np.divmod(rest, grid.shape[3])
    stamps[:, 3], stamps[:, 4] = np.divmod(bt, steps)
    stamps[:, 0] = start.reshape(-1)[bt] + (tm["wait"] + tm["spike_latency"]) + stamps[:, 2]
    stamps[:, 4] += 1
    return CycleTrace(stamps, clear, start + c - 1, sample_len.sum().item())


def latency_report(plan, trace: CycleTrace, clock_mhz: float) -> dict:
    """Cycles and microseconds per time step and per inference at `clock_mhz`."""
    per_inf = np.diff(np.append(trace.clear, trace.total))
    starts = np.concatenate([trace.clear[:, None] + plan.timing["wait"] + plan.clear_len,
                             trace.step_end[:, :-1] + 1], axis=1)
    per_step = trace.step_end - starts + 1
    us = 1.0 / clock_mhz
    return {"clock_mhz": clock_mhz, "total_cycles": trace.total,
            "inferences": len(per_inf),
            "cycles_per_inference": {"mean": float(per_inf.mean()), "max": int(per_inf.max())},
            "cycles_per_step": {"mean": float(per_step.mean()), "max": int(per_step.max())},
            "us_per_inference": {"mean": float(per_inf.mean() * us),
                                 "max": float(per_inf.max() * us)},
            "pass_cycles": {"tick": plan.tick_len, "clear": plan.clear_len,
                            "event": list(plan.event_len)}}
