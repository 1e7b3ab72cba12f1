"""snncompile.nn.AdaptiveLIF -> nn AdaptiveLIF: per-step retention factors to Euler time constants.

A factor f (alpha, beta, decay_theta, decay_r, clamped to [0, 1] as the layer does) becomes
tau = dt / (1 - f), so Euler's 1 - dt / tau gives f back; w_in = tau_syn / dt and r = tau_mem / dt
make the input gains 1 (i = alpha i + x, v = beta v + i, as the layer computes). decay_theta or
decay_r = 1 (no decay) is tau = inf; alpha or beta = 1 would need an infinite gain and is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.frontends.arrays import as_float64 as _np
from snncompile.ir import nn_ops


def _tau(b: Any, m: Any, path: str, value: Any, name: str, allow_one: bool) -> np.ndarray:
    f = np.clip(b.full(_np(value)), 0.0, 1.0)
    if np.any(f == 1.0) and not allow_one:
        raise b.fail(m, path, f"AdaptiveLIF {name} = 1 (no decay) needs an infinite input gain; "
                              f"use {name} < 1")
    with np.errstate(divide="ignore"):
        return np.where(f == 1.0, np.inf, b.dt / (1.0 - f))


def map_adaptive(b: Any, m: Any, path: str) -> None:
    """Append m (a snncompile.nn.AdaptiveLIF) to the builder `b` of torch_modules."""
    tau_syn = _tau(b, m, path, m.alpha, "alpha", False)
    tau_mem = _tau(b, m, path, m.beta, "beta", False)
    b.add(path, nn_ops.AdaptiveLIF(
        tau_syn=tau_syn, tau_mem=tau_mem,
        tau_theta=_tau(b, m, path, m.decay_theta, "decay_theta", True),
        tau_ref=_tau(b, m, path, m.decay_r, "decay_r", True),
        r=tau_mem / b.dt, w_in=tau_syn / b.dt,
        theta_0=b.full(_np(m.theta_0)), theta_step=b.full(_np(m.theta_step))))
