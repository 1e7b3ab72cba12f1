"""The emulator's synapse rules (Dense, DelayDense, Conv): each fills its register at step t with
the int32 sum Lava's synapse delivers at t + 1; kept apart from the step loop (emulator.py) so the
partitioner and the compiled paths can build the same registers."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.sim.fixed import EXACT, U_MAX, Event, wrap
from snncompile.sim.int_weights import IntWeights
from snncompile.sim.lava_params import effective_weights, resolved_sign_mode
from snncompile.sim.sigma_delta import graded_dense


class _Synapse:
    def __init__(self, name: str, op: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 batch: int):
        self.name, self.op, self.in_shape = name, op, in_shape
        self.register = np.zeros((batch, int(np.prod(out_shape))), dtype=np.int64)
        self.payload_max = 1  # largest |input|: 1 for spikes, qmax for an AnalogInput's payloads
        self.graded = False  # set by simulate: the source sends values (num_message_bits > 0)


class _Dense(_Synapse):
    """Binary spikes times Lava's 8-bit weights: an int8 x int8 -> int32 product
    (int_weights.IntWeights)
    where the weights allow it (always for Lava's), else a float64 product (exact below 2^53)."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.int_weights, self.wt = _prepared_weights(self.op)
        n_in = int(np.prod(self.in_shape))
        if self.int_weights.n_in != n_in:
            raise GraphCheckError(f"emulator: Dense {self.name!r} has {self.int_weights.n_in} "
                                  f"inputs, its source gives {n_in}")
        if self.int_weights.peak * n_in >= EXACT:
            raise GraphCheckError(f"emulator: Dense {self.name!r} sums could exceed 2^53")

    def product(self, rows: np.ndarray) -> np.ndarray:
        """rows (m, n_in) of 0/1 -> the wrapped a_out register (m, n_out) int32."""
        if self.int_weights.exact:
            return self.int_weights.product(np.asarray(rows).astype(np.int8, copy=False))
        return _float_product(rows, self.wt, self.op.weight_exp)

    def receive(self, s: np.ndarray, t: int, events: list[Event] | None) -> None:
        if self.graded:
            if not hasattr(self, "w_eff"):
                self.w_eff = effective_weights(self.op)
            self.register = graded_dense(self.w_eff, self.op.weight_exp, s.reshape(len(s), -1))
            return
        self.register = self.product(s.reshape(len(s), -1))


_PREPARED: dict[int, tuple[Any, IntWeights, np.ndarray | None]] = {}


def _prepared_weights(op: Any) -> tuple[IntWeights, np.ndarray | None]:
    """A Dense op's weights as the products need them (int8, or float64 (n_in, n_out) where int8
    cannot hold them), kept for the last few ops (by identity: ops are immutable) so repeated
    runs of one graph do not redo Lava's weight preprocessing."""
    hit = _PREPARED.get(id(op))
    if hit is not None and hit[0] is op:
        return hit[1], hit[2]
    w = effective_weights(op)
    int_weights = IntWeights(w, op.weight_exp)
    wt = None if int_weights.exact else np.ascontiguousarray(w.T, dtype=np.float64)
    while len(_PREPARED) >= 8:
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[id(op)] = (op, int_weights, wt)
    return int_weights, wt


def _float_product(rows: np.ndarray, wt: np.ndarray, e: int) -> np.ndarray:
    acc = np.rint(rows.astype(np.float64) @ wt).astype(np.int64)
    return wrap(acc << e if e > 0 else acc >> -e, 32).astype(np.int32)


class _DelayDense(_Synapse):
    """Delay ring: slot k holds what the neurons read k + 1 steps after the current one; one
    _Dense product per distinct delay (the weights whose delay is k, others 0)."""

    @functools.cached_property
    def groups(self) -> list[tuple[int, _Dense]]:
        """(delay, its weights as a _Dense), made on first use: the compiled step loop never
        needs them (22 delays made 22 int8 matrices per run of the delays example)."""
        delays = np.asarray(self.op.delays)
        w = np.asarray(self.op.weights)
        return [(int(k), _Dense(self.name, dataclasses.replace(
            self.op, weights=np.where(delays == k, w, 0), sign_mode=resolved_sign_mode(self.op)),
            self.in_shape, self.register.shape[1:], 1)) for k in np.unique(delays)]

    @functools.cached_property
    def ring(self) -> np.ndarray:
        return np.zeros((len(self.register), int(np.max(self.op.delays, initial=0)) + 1,
                         self.register.shape[1]), dtype=np.int64)

    def receive(self, s: np.ndarray, t: int, events: list[Event] | None) -> None:
        self.ring = np.roll(self.ring, -1, axis=1)
        self.ring[:, -1] = 0
        for k, dense in self.groups:
            self.ring[:, k] += dense.product(s.reshape(len(s), -1))
        self.register = wrap(self.ring[:, 0], 32)


class _Conv(_Synapse):
    def __init__(self, *args: Any):
        super().__init__(*args)
        import torch

        w = np.asarray(self.op.weight, dtype=np.int64)
        # Lava's Conv sums in float64 and casts to int32 (conv/utils.py L218): beyond 2^31 that
        # cast is undefined in numpy, so no emulator can promise Lava's answer there.
        bound = np.abs(w).max(initial=0) * int(np.prod(w.shape[1:]))
        if bound >= 2**31:
            raise GraphCheckError(
                f"emulator: Conv {self.name!r} sums can reach {bound} >= 2^31, where Lava's int32 "
                "cast is undefined; use smaller weights")
        self.torch, self.w = torch, torch.from_numpy(w.astype(np.float64))

    def receive(self, s: np.ndarray, t: int, events: list[Event] | None) -> None:
        op, F = self.op, self.torch.nn.functional
        x = self.torch.from_numpy(s.reshape(len(s), *self.in_shape).astype(np.float64))
        y = F.conv2d(x, self.w, stride=op.stride, padding=op.padding, dilation=op.dilation,
                     groups=op.groups)
        acc = np.rint(y.numpy()).astype(np.int64).reshape(len(s), -1)
        if self.graded and np.abs(acc).max(initial=0) >= 2**31:  # graded values: exact < 2^53
            raise GraphCheckError(f"emulator: Conv {self.name!r} sums graded spikes past 2^31, "
                                  "where Lava's int32 cast is undefined")
        if events is not None:
            n = int(np.count_nonzero((acc < -U_MAX) | (acc >= U_MAX)))
            if n:
                events.append(Event(self.name, t, "conv_wrap", n))
        self.register = wrap(acc, 24)
