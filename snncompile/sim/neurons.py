"""The emulator's LIF and ATRLIF populations: state (u, v, ...) over the batch and one hw step
at a time, the rules of Lava 0.10.0 fixed_pt; kept apart from the step loop (emulator.py) so the
partitioner can run one population's neurons on their own."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.sim.fixed import U_MAX, V_MAX, Event, decay, wrap
from snncompile.sim.identity_cache import IdentityCache
from snncompile.sim.kernels import NO_RECORD, RESETS, lif_run, per_neuron, single_factors
from snncompile.sim.lava_params import effective_bias


def initial_uv(op: Any, batch: int, init: tuple | None) -> tuple[np.ndarray, np.ndarray]:
    """A population's (u, v) at the start, (batch, n) int64: zero, or the given state."""
    n = int(np.prod(op.shape))
    u, v = np.zeros((batch, n), dtype=np.int64), np.zeros((batch, n), dtype=np.int64)
    if init is not None:
        u[:] = np.asarray(init[0], dtype=np.int64).reshape(-1)
        v[:] = np.asarray(init[1], dtype=np.int64).reshape(-1)
    return u, v


_CONSTANTS = IdentityCache(64)  # the last few ops' _LIF constants


def _lif_constants(op: hw.LIF, n: int) -> tuple[np.ndarray, ...]:
    """(effective bias, Du, Dv, vth << 6) as (n,) int64 arrays, read only, kept for the last
    few ops: a batch-1 run of the NIR-paper CNN spent a quarter of its time outside the kernel
    remaking them."""
    def make() -> tuple[np.ndarray, ...]:
        made = (effective_bias(op), per_neuron(4096 - (np.asarray(op.du, np.int64) + 1), n),
                per_neuron(4096 - np.asarray(op.dv, np.int64), n),
                per_neuron(np.asarray(op.vth, np.int64) << 6, n))
        for a in made:
            a.flags.writeable = False
        return made

    return _CONSTANTS.get(op, make)


class _LIF:
    """hw.LIF, one step at a time through the compiled kernel (kernels.lif_run, whose docstring
    and spec §1.1/§1.2 are the rule): u1 = wrap32(tz(u * Du) + wrap32(a << 6)) with Lava's single
    correction into (-2^23, 2^23]; v = clip(wrap32(tz(v * Dv) + u + bias), +-V_MAX); spike if
    v > vth << 6, then reset v (zero or subtract)."""

    def __init__(self, name: str, op: hw.LIF, batch: int, init: tuple | None = None):
        self.name, self.op = name, op
        self.u, self.v = initial_uv(op, batch, init)
        self.bias, self.Du, self.Dv, self.vth = _lif_constants(op, self.u.shape[1])
        self.factors = single_factors(self.Du, self.Dv)  # (du, dv) for the kernels
        self.s_prev = np.zeros(self.u.shape, np.int8)  # "subtract_next": the pending subtraction
        self.reset = RESETS[op.reset]
        self.interval = int(op.reset_interval)
        self.phase = int(op.reset_offset) % self.interval if self.interval else 0

    def run(self, a: np.ndarray, lag: int, t0: int, spikes: np.ndarray, u_rec: np.ndarray,
            v_rec: np.ndarray, counts: np.ndarray, rows: slice = slice(None),
            up: int = 6, events: np.ndarray | None = None) -> None:
        """kernels.lif_run on this population's state (the batch rows `rows`); events None
        leaves the u wraps and v saturations uncounted."""
        lif_run(a, lag, up, self.u[rows], self.v[rows], self.s_prev[rows], *self.factors,
                self.vth, self.bias, self.reset, self.interval, self.phase, t0, spikes, u_rec,
                v_rec, counts, events)

    def step(self, t: int, a_in: np.ndarray, events: list[Event] | None) -> np.ndarray:
        batch, n = self.u.shape
        s = np.empty((batch, 1, n), np.int8)
        counts = np.zeros((1, 2), np.int64)
        self.run(np.asarray(a_in).reshape(batch, 1, n), 0, t, s, NO_RECORD, NO_RECORD,
                 np.zeros(1, np.int64), events=counts)
        if events is not None:
            for kind, c in zip(("u_wrap", "v_saturation"), counts[0]):
                if c:
                    events.append(Event(self.name, t, kind, int(c)))
        return s.reshape(batch, n).view(bool)


class _ATRLIF:
    """hw.ATRLIF (its docstring is the rule), vectorized over the batch like _LIF; u is the current
    i. Strict rows: "u_wrap" (i) and "v_saturation". Lava's int32 casts of theta, r and v - r are
    reproduced but cannot wrap in a checked graph: theta_0, theta_step >= 0 keep theta, r >= 0, and
    a spike needs theta <= v - r < 2^23, so theta < 2^24 and r < 3 * 2^23 always."""

    EXTRA = ("theta", "r")

    def __init__(self, name: str, op: hw.ATRLIF, batch: int, init: tuple | None = None):
        self.name, self.op = name, op
        self.u, self.v = initial_uv(op, batch, init)
        n = self.u.shape[1]
        field = {k: np.broadcast_to(np.asarray(getattr(op, k), np.int64), op.shape).reshape(n)
                 for k in op.PER_NEURON}  # per neuron (a shared value broadcast)
        self.theta_0, self.theta_step = field["theta_0"] << 6, field["theta_step"] << 6
        self.theta = np.broadcast_to(self.theta_0, (batch, n)).copy()
        self.r = np.zeros((batch, n), dtype=np.int64)
        self.bias = effective_bias(op)
        self.Di, self.Dv = 4096 - (field["delta_i"] + 1), 4096 - field["delta_v"]
        self.Dth, self.Dr = 4096 - field["delta_theta"], 4096 - field["delta_r"]

    def step(self, t: int, a_in: np.ndarray, events: list[Event] | None) -> np.ndarray:
        i1 = wrap(decay(self.u, self.Di) + wrap(wrap(a_in, 32) << 6, 32), 32)
        i = i1 - (2 * U_MAX) * (i1 > U_MAX) + (2 * U_MAX) * (i1 <= -U_MAX)
        v1 = wrap(decay(self.v, self.Dv) + i + self.bias, 32)
        v = np.clip(v1, -V_MAX, V_MAX)
        theta = wrap(decay(wrap(self.theta - self.theta_0, 32), self.Dth) + self.theta_0, 32)
        r = wrap(decay(self.r, self.Dr), 32)
        s = wrap(v - r, 32) >= theta
        if events is not None:
            for kind, n in (("u_wrap", np.count_nonzero((i1 > U_MAX) | (i1 <= -U_MAX))),
                            ("v_saturation", np.count_nonzero((v1 > V_MAX) | (v1 < -V_MAX)))):
                if n:
                    events.append(Event(self.name, t, kind, int(n)))
        self.r = np.where(s, wrap(r + 2 * theta, 32), r)
        self.theta = np.where(s, wrap(theta + self.theta_step, 32), theta)
        self.u, self.v = i, v
        return s
