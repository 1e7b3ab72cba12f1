"""`nn`-level neuron ops (IF, LIF, CubaLIF, AdaptiveLIF): float, NIR names and meanings; the
reset and spike conventions they share are in nn_ops' module docstring (docs/ir.md). Kept apart
from the synapse and shape ops; nn_ops re-exports them and lists them in its OPS."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from snncompile.ir.op import NNOp

F = np.float64
RESETS = ("zero", "subtract")
RESET_TIMINGS = ("immediate", "next_step")


@dataclasses.dataclass(frozen=True, eq=False)
class _Spiking(NNOp):
    kind: ClassVar[str] = "neuron"

    def __post_init__(self):
        super().__post_init__()
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, not {self.reset!r}")
        if self.reset_timing not in RESET_TIMINGS:
            raise ValueError(f"reset_timing must be one of {RESET_TIMINGS}, not "
                             f"{self.reset_timing!r}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(*(getattr(self, k).shape for k in self.array_fields)))


@dataclasses.dataclass(frozen=True, eq=False)
class IF(_Spiking):
    """Integrate-and-fire, forward Euler with the NIR 'per step' convention frameworks use:

        v[t] = v[t-1] + r * x[t];   s[t] = v[t] > v_threshold;   then reset (see module doc).
    """

    r: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    reset: str = "zero"
    reset_timing: str = "immediate"
    array_fields: ClassVar[dict] = {"r": F, "v_threshold": F, "v_reset": F}


@dataclasses.dataclass(frozen=True, eq=False)
class LIF(_Spiking):
    """Leaky integrate-and-fire, NIR `tau dv/dt = (v_leak - v) + r x`, forward Euler at step dt:

        v[t] = v[t-1] + (dt / tau) * (v_leak - v[t-1] + r * x[t]);   s[t] = v[t] > v_threshold.
    (snnTorch Leaky exports tau = dt/(1-beta), r = tau/dt, so this is exactly v = beta v + x.)
    """

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    reset: str = "zero"
    reset_timing: str = "immediate"
    array_fields: ClassVar[dict] = {
        "tau": F, "r": F, "v_leak": F, "v_threshold": F, "v_reset": F,
    }


@dataclasses.dataclass(frozen=True, eq=False)
class CubaLIF(_Spiking):
    """Current-based LIF, forward Euler; the current is updated first and feeds v in the same step:

        i[t] = i[t-1] + (dt / tau_syn) * (w_in * x[t] - i[t-1])
        v[t] = v[t-1] + (dt / tau_mem) * (v_leak - v[t-1] + r * i[t]);   s[t] = v[t] > v_threshold.
    (snnTorch Synaptic: syn = alpha syn + x, mem = beta mem + syn, exported as tau_syn =
    dt/(1-alpha),
    w_in = tau_syn/dt, tau_mem = dt/(1-beta), r = tau_mem/dt; Loihi's u/v order is the same.)
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    w_in: np.ndarray
    reset: str = "zero"
    reset_timing: str = "immediate"
    array_fields: ClassVar[dict] = {
        "tau_syn": F, "tau_mem": F, "r": F, "v_leak": F, "v_threshold": F, "v_reset": F, "w_in": F,
    }


@dataclasses.dataclass(frozen=True, eq=False)
class AdaptiveLIF(NNOp):
    """Adaptive threshold and refractoriness LIF (Lava's ATRLIF, float form), forward Euler at dt;
    no reset of v: a spike raises the threshold theta and the refractory term q instead.

        i[t] = i + (dt / tau_syn) * (w_in * x[t] - i)
        v[t] = v + (dt / tau_mem) * (r * i[t] - v)
        theta[t] = theta + (dt / tau_theta) * (theta_0 - theta);   q[t] = q - (dt / tau_ref) * q
        s[t] = (v[t] - q[t]) >= theta[t]                            (non-strict, as ATRLIF)
        q[t] += 2 * theta[t] * s[t];   theta[t] += theta_step * s[t]
    State starts at i = v = q = 0, theta = theta_0. tau_theta, tau_ref may be inf (no decay).
    snncompile.nn.AdaptiveLIF(alpha, beta, decay_theta, decay_r) is tau = dt / (1 - factor),
    w_in = tau_syn / dt, r = tau_mem / dt. NIR has no such node: the NIR reader never makes one.
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    tau_theta: np.ndarray
    tau_ref: np.ndarray
    r: np.ndarray
    w_in: np.ndarray
    theta_0: np.ndarray
    theta_step: np.ndarray
    kind: ClassVar[str] = "neuron"
    array_fields: ClassVar[dict] = {
        "tau_syn": F, "tau_mem": F, "tau_theta": F, "tau_ref": F, "r": F, "w_in": F,
        "theta_0": F, "theta_step": F,
    }

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(*(getattr(self, k).shape for k in self.array_fields)))
