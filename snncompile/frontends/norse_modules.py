"""Norse (norse.torch) neurons to nn ops, from Norse's own update rule.

Norse 1.1 LIFCell / LIF (lif_feed_forward_step) adds the input to the current first
(i = i + x), then v = v + dt tau_mem_inv ((v_leak - v) + i), decays the current
(i = i - dt tau_syn_inv i), fires where v > v_th and sets v to v_reset in the same step. That is
the IR's CubaLIF exactly: tau_syn = 1 / tau_syn_inv, w_in = tau_syn / dt (so the input adds
with weight 1), tau_mem = 1 / tau_mem_inv, r = 1, reset "zero", "immediate". LIFBoxCell
(lif_box_feed_forward_step) has no current: LIF with tau = 1 / tau_mem_inv, r = 1, reset
"zero" (reset_value) or "subtract" (reset_subtract). dt is Norse's own (default 1e-3) and must
equal the graph's, because the IR's dt is one number for the whole graph.

Norse starts v at v_leak and the IR at 0, so the potential is shifted by -v_leak (v_leak 0,
threshold v_th - v_leak, reset v_reset - v_leak): exact in real arithmetic. A subtract reset
with v_leak != 0 cannot be shifted that way and is refused. method and alpha shape only the
surrogate gradient and are ignored. LIBoxCell, LICell and other Norse modules are refused by name
(leaky integrators output their membrane, not spikes; the IR's neurons output spikes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from snncompile.ir import nn_ops

# Norse class -> the activation function it must hold for the mapping to be exact
_MAPPED = {"LIFCell": "lif_feed_forward_step", "LIF": "lif_feed_forward_step",
           "LIFBoxCell": "lif_box_feed_forward_step"}


def map_module(b: Any, m: nn.Module, path: str) -> None:
    """Append the IR op of Norse module `m` to builder `b`, or raise its refusal."""
    kind = type(m).__name__
    if kind not in _MAPPED or not type(m).__module__.startswith("norse.torch.module."):
        why = (" (a leaky integrator outputs its membrane, not spikes)"
               if kind in ("LIBoxCell", "LICell", "LI", "LIBox") else "")
        raise b.fail(m, path, f"snncompile maps Norse's LIFCell, LIF and LIFBoxCell only{why}")
    activation = getattr(getattr(m, "activation", None), "__name__", None)
    if activation != _MAPPED[kind]:
        raise b.fail(m, path, f"Norse {kind} runs {activation!r}, not {_MAPPED[kind]!r} "
                              "(adjoint or custom steps are not mapped)")
    if not np.isclose(float(m.dt), b.dt, rtol=1e-12, atol=0.0):
        raise b.fail(m, path, f"Norse {kind} has dt={float(m.dt)} but the graph's dt is {b.dt}; "
                              f"pass dt={float(m.dt)}")
    p = m.p
    v_leak = b.full(p.v_leak)
    v_threshold = b.full(p.v_th) - v_leak
    tau_mem = 1.0 / b.full(p.tau_mem_inv)
    subtract = getattr(getattr(p, "reset_method", None), "__name__", "reset_value")
    if subtract not in ("reset_value", "reset_subtract"):
        raise b.fail(m, path, f"Norse {kind} reset_method {subtract!r} has no IR form")
    if subtract == "reset_subtract" and np.any(v_leak != 0):
        raise b.fail(m, path, f"Norse {kind} with reset_subtract and v_leak != 0 subtracts v_th "
                              "from a potential the IR must shift by v_leak")
    common = {"v_threshold": v_threshold, "v_reset": b.full(p.v_reset) - v_leak,
              "reset": "subtract" if subtract == "reset_subtract" else "zero",
              "reset_timing": "immediate", "v_leak": np.zeros_like(v_leak),
              "r": np.ones_like(v_leak)}
    if kind == "LIFBoxCell":
        b.add(path, nn_ops.LIF(tau=tau_mem, **common))
        return
    tau_syn = 1.0 / b.full(p.tau_syn_inv)
    b.add(path, nn_ops.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, w_in=tau_syn / b.dt, **common))

