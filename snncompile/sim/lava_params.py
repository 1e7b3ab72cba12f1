"""Lava's one-time preprocessing of a process's integer parameters (spec §1.1, §2.1): the weights
and biases every back end and the partitioner see, computed once here."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.sim.fixed import wrap


def effective_weights(op: hw.Dense) -> np.ndarray:
    """Lava's one-time weight preprocessing (spec §2.1): sign mode, clip to 8 bits, truncate.
    One copy of the weights, worked on in place (a 16M-weight layer made five before)."""
    w = np.array(op.weights, dtype=np.int64)
    mode = resolved_sign_mode(op)
    mixed = mode == "mixed"
    if mode == "inhibitory":
        np.negative(w, out=w)
    np.clip(w, -256 * mixed, 255, out=w)
    k = 8 - op.num_weight_bits + mixed
    if k:
        w >>= k
        w <<= k
    if mode == "inhibitory":
        np.negative(w, out=w)
    return w


def resolved_sign_mode(op: Any) -> str:
    """The sign mode Lava resolves from all of a DelayDense's weights, so a group of them (with
    zeros elsewhere) keeps it."""
    if op.sign_mode != "auto":
        return op.sign_mode
    w = np.asarray(op.weights)
    if w.min(initial=0) >= 0:
        return "excitatory"
    return "inhibitory" if w.max(initial=0) <= 0 else "mixed"


def effective_bias(op: Any) -> np.ndarray:
    """bias_mant (16-bit) shifted by bias_exp (<< e or arithmetic >> -e), int32, flat (spec
    §1.1)."""
    mant = wrap(np.broadcast_to(np.asarray(op.bias_mant, np.int64), op.shape).reshape(-1), 16)
    exp = np.broadcast_to(np.asarray(op.bias_exp, np.int64), op.shape).reshape(-1)
    return wrap(np.where(exp >= 0, mant << np.maximum(exp, 0), mant >> np.maximum(-exp, 0)), 32)
