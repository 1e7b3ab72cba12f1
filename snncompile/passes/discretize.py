"""Pass `discretize`: each nn neuron's per-step decays and input gain at the graph's dt.

Every supported neuron becomes the same two-state recurrence per step (forward Euler, as the nn
op docstrings say), with the current u measured in v units so that it adds straight to v:

    u' = (1 - alpha) u + gain * x                 x: the neuron's summed synaptic input
    v' = (1 - beta) v + u' + v_bias               spike v' > threshold
LIF:     alpha = 1 (no current state), beta = dt/tau, gain = beta r, v_bias = beta v_leak
IF:      alpha = 1, beta = 0, gain = r, v_bias = 0
CubaLIF: alpha = dt/tau_syn, beta = dt/tau_mem, gain = beta r alpha w_in, v_bias = beta v_leak
(CubaLIF: u = beta r i, with i' = (1 - alpha) i + alpha w_in x.) Arrays are per neuron, flat.
Graph -> Graph: each Layer `lower` made becomes a SteppedLayer holding them
(snncompile.ir.lowered_ops); per-neuron-type rules in RULES.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from snncompile.ir import lowered_ops as lo
from snncompile.ir import nn_ops as nn
from snncompile.ir.graph import Graph
from snncompile.passes.common import unsupported


def _resets(op: nn.LIF | nn.IF | nn.CubaLIF, f: Callable) -> dict[str, Any]:
    return {"threshold": f(op.v_threshold), "v_reset": f(op.v_reset), "reset": op.reset,
            "reset_timing": op.reset_timing}


def _lif(op: nn.LIF, dt: float, f: Callable) -> dict[str, Any]:
    beta = dt / f(op.tau)
    return {"alpha": np.ones_like(beta), "beta": beta, "gain": beta * f(op.r),
            "v_bias": beta * f(op.v_leak), **_resets(op, f)}


def _if(op: nn.IF, dt: float, f: Callable) -> dict[str, Any]:
    r = f(op.r)
    return {"alpha": np.ones_like(r), "beta": np.zeros_like(r), "gain": r,
            "v_bias": np.zeros_like(r), **_resets(op, f)}


def _cuba(op: nn.CubaLIF, dt: float, f: Callable) -> dict[str, Any]:
    alpha, beta = dt / f(op.tau_syn), dt / f(op.tau_mem)
    return {"alpha": alpha, "beta": beta, "gain": beta * f(op.r) * alpha * f(op.w_in),
            "v_bias": beta * f(op.v_leak), **_resets(op, f)}


def _adaptive(op: nn.AdaptiveLIF, dt: float, f: Callable) -> dict[str, Any]:
    """As CubaLIF (u = beta r i, no v_leak), plus the threshold's and refractory term's decays
    (tau = inf: 0) and the threshold step, in v units like the resting threshold theta_0 (the
    quantizer's unit of v); no reset of v (a spike raises theta instead)."""
    alpha, beta = dt / f(op.tau_syn), dt / f(op.tau_mem)
    return {"alpha": alpha, "beta": beta, "gain": beta * f(op.r) * alpha * f(op.w_in),
            "v_bias": np.zeros_like(alpha), "threshold": f(op.theta_0),
            "v_reset": np.zeros_like(alpha), "reset": "none", "reset_timing": "immediate",
            "theta_decay": dt / f(op.tau_theta), "ref_decay": dt / f(op.tau_ref),
            "theta_step": f(op.theta_step)}


RULES: dict[type, Callable[[Any, float, Callable], dict[str, Any]]] = {
    nn.LIF: _lif, nn.IF: _if, nn.CubaLIF: _cuba, nn.AdaptiveLIF: _adaptive,
}


@dataclasses.dataclass(frozen=True)
class Discretize:
    """No options: the integrator is forward Euler at graph.dt, as the nn ops define it."""

    name = "discretize"

    def __call__(self, graph: Graph) -> Graph:
        """The lowered graph with every Layer a SteppedLayer (its recurrence at graph.dt)."""
        nodes = dict(graph.nodes)
        for name, layer in graph.nodes.items():
            if not isinstance(layer, lo.Layer):
                continue
            op = layer.neuron
            if type(op) not in RULES:
                raise unsupported(self.name, name, op, "no discretization rule for this neuron")

            def f(arr: Any, shape: tuple[int, ...] = graph.shapes[name]) -> np.ndarray:
                return np.broadcast_to(np.asarray(arr, dtype=np.float64), shape).reshape(-1).copy()

            with np.errstate(divide="ignore", invalid="ignore"):
                c = RULES[type(op)](op, graph.dt, f)
            for key in FINITE:
                if key in c and not np.all(np.isfinite(c[key])):
                    raise unsupported(self.name, name, op, f"its {key} at dt={graph.dt} is not "
                                      "finite (a time constant is zero?)")
            nodes[name] = lo.SteppedLayer(**layer.params(), **c)
        return graph.replace(nodes=nodes)


# the coefficients that must be finite (the order fixes which one an error names)
FINITE = ("alpha", "beta", "gain", "v_bias", "theta_decay", "ref_decay", "theta_step")
