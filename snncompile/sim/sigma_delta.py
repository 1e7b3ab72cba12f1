"""Emulator rules of the graded (sigma-delta) neurons hw.Sigma, hw.Delta, hw.SigmaDelta.

Written from the ops' docstrings, which follow Lava 0.10.0's fixed_pt sdn models
(lava/proc/sdn/models.py): every state is a numpy int32 there, so each sum, product and shift
wraps to 32 bits; here the state is int64 and `wrap(.., 32)` reproduces each of those casts.
tests/test_lava_sigma_delta.py runs them against Lava step by step. Recorded state: u = sigma,
v = act (the activation the delta encoder last saw), plus "residue" and "error".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.sim.fixed import Event, wrap


def _abs32(x: np.ndarray) -> np.ndarray:
    """np.abs of an int32: -2^31 stays -2^31."""
    return wrap(np.abs(x), 32)


class _Sigma:
    """hw.Sigma: sigma = wrap32(sigma + a_in), sent every step."""

    EXTRA: tuple[str, ...] = ()

    def __init__(self, name: str, op: Any, batch: int, init: tuple | None = None):
        self.name, self.op = name, op
        n = int(np.prod(op.shape))
        self.u = np.zeros((batch, n), np.int64)  # sigma
        self.v = np.zeros((batch, n), np.int64)  # act (Delta, SigmaDelta)
        if init is not None:
            self.u[:] = np.asarray(init[0], np.int64).reshape(-1)
            self.v[:] = np.asarray(init[1], np.int64).reshape(-1)

    def step(self, t: int, a_in: np.ndarray, events: list[Event] | None) -> np.ndarray:
        self.u = wrap(self.u + wrap(a_in, 32), 32)
        return self.u.copy()


class _Delta(_Sigma):
    """hw.Delta: the delta encoder of its (shifted) input."""

    EXTRA = ("residue", "error")

    def __init__(self, name: str, op: Any, batch: int, init: tuple | None = None):
        super().__init__(name, op, batch, init)
        self.shift = int(op.spike_exp) + int(op.state_exp)
        self.vth = wrap(np.int64(int(op.vth) << self.shift), 32)
        self.residue = np.zeros_like(self.u)
        self.error = np.zeros_like(self.u)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Lava's delta_dynamics on x, then act = x and the >> state_exp of the message."""
        delta = wrap(wrap(x - self.v, 32) + self.residue, 32)
        if self.op.cum_error:
            self.error = wrap(self.error + delta, 32)
            s = np.where(_abs32(self.error) >= self.vth, delta, 0)
            self.error = np.where(s != 0, 0, self.error)
        else:
            s = np.where(_abs32(delta) >= self.vth, delta, 0)
        self.residue = wrap(delta - s, 32)
        self.v = x
        return s >> int(self.op.state_exp)

    def step(self, t: int, a_in: np.ndarray, events: list[Event] | None) -> np.ndarray:
        return self.encode(wrap(wrap(a_in, 32) << self.shift, 32))


class _SigmaDelta(_Delta):
    """hw.SigmaDelta: sigma, the activation (relu or unit) of sigma + bias, then Delta's rule."""

    def __init__(self, name: str, op: Any, batch: int, init: tuple | None = None):
        super().__init__(name, op, batch, init)
        bias = np.broadcast_to(np.asarray(op.bias, np.int64), op.shape).reshape(-1)
        self.bias = wrap(wrap(bias, 32) << self.shift, 32)
        self.sigma = self.u

    def step(self, t: int, a_in: np.ndarray, events: list[Event] | None) -> np.ndarray:
        self.u = wrap(self.u + wrap(a_in, 32), 32)
        act = wrap(self.u + self.bias, 32)
        if self.op.act_mode == "relu":
            act = np.maximum(act, 0)
        return self.encode(act)


NEURON_RULES: dict[type, Any] = {hw.Sigma: _Sigma, hw.Delta: _Delta, hw.SigmaDelta: _SigmaDelta}


def is_graded(op: Any) -> bool:
    """True if op's spikes carry values (a sigma-delta neuron with num_message_bits > 0)."""
    return type(op) in NEURON_RULES and int(op.num_message_bits) > 0


def graded_dense(weights: np.ndarray, weight_exp: int, values: np.ndarray) -> np.ndarray:
    """Lava's Dense on graded input: weights.dot(s_in) in int32 (wraps), then the weight_exp
    shift, int32. values (m, n_in) int64, weights (n_out, n_in) Lava's effective int weights."""
    acc = wrap(values.astype(np.int64) @ weights.T.astype(np.int64), 32)
    return wrap(acc << weight_exp if weight_exp > 0 else acc >> -weight_exp, 32)
