"""The fixed-point primitives and trace types the emulator and its fast path share (sim/fast.py
imports these, not the emulator, so the two modules do not import each other)."""

from __future__ import annotations

import dataclasses

import numpy as np

U_MAX = 2**23  # u lives in (-2^23, 2^23]
V_MAX = 2**23 - 1  # v is clipped to [-V_MAX, V_MAX]
EXACT = 2**53


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to `bits` bits (numpy's int32/int16 cast)."""
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def tz(x: np.ndarray) -> np.ndarray:
    """x / 4096 rounded toward zero, as Lava's sign(x) * (|x| >> 12): adding 4095 to negatives
    before the floor shift rounds them up, i.e. toward zero (int64, three cheap ops)."""
    return (x + ((x >> 63) & 4095)) >> 12


def decay(x: np.ndarray, factor: int | np.ndarray) -> np.ndarray:
    """tz(x * factor), skipping the arithmetic where the factor makes it trivial (0 or 4096);
    a per-neuron factor (an array broadcasting against x) is always multiplied."""
    if isinstance(factor, np.ndarray):
        return tz(x * factor)
    if factor == 0:
        return np.zeros_like(x)
    if factor == 4096:
        return x
    return tz(x * factor)


@dataclasses.dataclass(frozen=True)
class Event:
    """Strict mode: `count` neuron entries (summed over the batch) of `layer` hit `kind` at hw
    `step`."""

    layer: str
    step: int
    kind: str  # "u_wrap" | "v_saturation" | "conv_wrap"
    count: int


@dataclasses.dataclass
class SimTrace:
    """Raw hw-time results: spikes (batch, steps, *shape) int8 per LIF and output; u, v if recorded
    (an ATRLIF's current i is its u); `extra` "theta:<name>", "r:<name>" for ATRLIF if recorded;
    `step_spikes` LIF name -> (steps,) spikes per hw step (whole batch) where the path counted
    them in its kernel (sim/fast.py), so run_emulator need not count the trains again."""

    steps: int
    spikes: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    events: list[Event]
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    step_spikes: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
