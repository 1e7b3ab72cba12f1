"""SpikingJelly (activation_based) neurons to nn ops, from SpikingJelly's own update rule.

SpikingJelly 2.0 charges H = V + (X - (V - V_reset)) / tau (decay_input=True) or
H = V - (V - V_reset) / tau + X (False), fires where H >= v_threshold, then resets immediately:
to v_reset, or (v_reset None) by subtracting v_threshold. Each maps exactly onto the IR:

* LIFNode: LIF with tau_ir = tau * dt (so dt / tau_ir = 1 / tau), r = 1 (decay_input=True: the
  input is decayed too) or r = tau (False), v_leak = V_reset (0 for soft reset);
* ParametricLIFNode: 1 / tau = sigmoid(w) with w one learned scalar, so one tau per layer (PLIF,
  Fang et al. 2021), then as LIFNode; IFNode: IF with r = 1.
* SpikingJelly starts v at v_reset, the IR at 0: with a hard reset the potential is shifted by
  -v_reset (threshold v_threshold - v_reset, reset and leak to 0), exact in real arithmetic.
* Spike rule: SpikingJelly fires at H == v_threshold, the IR only above it; the threshold is
  lowered to the next float32 below it, which makes '>' equal to '>=' in float32 (the precision
  SpikingJelly runs in). With soft reset the IR then subtracts that lowered threshold, one float32
  ulp less than SpikingJelly does per spike.

step_mode ('s' or 'm') does not change the per-step arithmetic, so both map. detach_reset,
surrogate_function and store_v_seq act on gradients or monitoring only and are ignored. Other
SpikingJelly neurons (and subclasses, which may override the charge) are refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from snncompile.ir import nn_ops

# module names whose SpikingJelly classes map; compared by exact class, not isinstance
_NEURONS = ("LIFNode", "ParametricLIFNode", "IFNode")
_SKIPPED = ("Dropout", "Dropout2d")  # identity at inference (eval)


def _class(kind: str) -> type:
    from spikingjelly.activation_based import layer, neuron

    return getattr(layer if kind in _SKIPPED else neuron, kind)


def _below32(value: np.ndarray) -> np.ndarray:
    """The largest float32 below `value`: for float32 v, v > it exactly when v >= value."""
    return np.nextafter(value.astype(np.float32), np.float32(-np.inf)).astype(np.float64)


def _scalar(b: Any, m: nn.Module, path: str, name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double()
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1 or not np.isfinite(arr).all():
        raise b.fail(m, path, f"SpikingJelly {type(m).__name__} {name}={value!r} is not one "
                              "finite number")
    return float(arr.reshape(()))


def map_module(b: Any, m: nn.Module, path: str) -> None:
    """Append the IR op of SpikingJelly module `m` to builder `b`, or raise its refusal."""
    kind = type(m).__name__
    if kind in _SKIPPED and type(m) is _class(kind):
        return
    if kind not in _NEURONS or type(m) is not _class(kind):
        raise b.fail(m, path, "snncompile maps SpikingJelly's LIFNode, ParametricLIFNode and "
                              "IFNode (and its layer.Linear/Conv2d/Flatten/AvgPool2d/Dropout) only")
    thr = _scalar(b, m, path, "v_threshold", m.v_threshold)
    soft = m.v_reset is None
    v_reset = 0.0 if soft else _scalar(b, m, path, "v_reset", m.v_reset)
    # hard reset: shift the potential by -v_reset so it starts at 0 like the IR's (exact)
    v_threshold = b.full(_below32(np.float64(thr - v_reset)))
    zeros = np.zeros_like(v_threshold)
    common = {"v_threshold": v_threshold, "v_reset": zeros,
              "reset": "subtract" if soft else "zero", "reset_timing": "immediate"}
    if kind == "IFNode":
        b.add(path, nn_ops.IF(r=np.ones_like(zeros), **common))
        return
    if kind == "LIFNode":
        inv_tau = 1.0 / _scalar(b, m, path, "tau", m.tau)
    else:  # PLIF: 1/tau = sigmoid(w), one learned value per layer, in SpikingJelly's float32
        inv_tau = _scalar(b, m, path, "w", torch.as_tensor(m.w).detach().float().sigmoid())
    if not 0.0 < inv_tau < 1.0:
        raise b.fail(m, path, f"SpikingJelly {kind} 1/tau = {inv_tau} is outside (0, 1)")
    tau = zeros + b.dt / inv_tau
    r = np.ones_like(zeros) if m.decay_input else tau / b.dt
    b.add(path, nn_ops.LIF(tau=tau, r=r, v_leak=zeros, **common))
