"""Float reference rule of nn AdaptiveLIF (Lava ATRLIF's float form); registered in reference.RULES.

Written so snncompile.nn.AdaptiveLIF's float32 update is reproduced op for op:

    i = a_syn * i + b_syn * x;   v = a_mem * v + b_mem * i
    theta = theta_0 + a_th * (theta - theta_0);   q = a_ref * q
    s = (v - q) >= theta;   q = q + 2 * theta * s;   theta = theta + theta_step * s

with a = 1 - dt / tau (0 < dt / tau, so tau = inf gives a = 1), b_syn = dt / tau_syn * w_in,
b_mem = dt / tau_mem * r. State "i", "v", "theta", "q" is what the next step starts from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STATE = ("i", "theta", "q")  # recorded by run_reference(state=True) besides "v"


def prepare_adaptive(op: Any, dt: float, dtype: Any) -> dict:
    def rate(tau: np.ndarray) -> np.ndarray:
        return dt / np.asarray(tau, dtype=np.float64)  # inf -> 0: no decay

    def arr(value: Any) -> np.ndarray:
        return np.asarray(value, dtype=np.float64).astype(dtype)

    ks, km = rate(op.tau_syn), rate(op.tau_mem)
    return {"a_syn": arr(1.0 - ks), "b_syn": arr(ks * op.w_in), "a_mem": arr(1.0 - km),
            "b_mem": arr(km * op.r), "a_th": arr(1.0 - rate(op.tau_theta)),
            "a_ref": arr(1.0 - rate(op.tau_ref)), "theta_0": arr(op.theta_0),
            "theta_step": arr(op.theta_step)}


def step_adaptive(c: dict, x: np.ndarray, state: dict) -> np.ndarray:
    if "v" not in state:
        shape = np.broadcast_shapes(x.shape, c["theta_0"].shape)
        state.update(i=np.zeros(shape, x.dtype), v=np.zeros(shape, x.dtype),
                     q=np.zeros(shape, x.dtype),
                     theta=np.broadcast_to(c["theta_0"], shape).astype(x.dtype))
    th0 = c["theta_0"]
    i = c["a_syn"] * state["i"] + c["b_syn"] * x
    v = c["a_mem"] * state["v"] + c["b_mem"] * i
    theta = th0 + c["a_th"] * (state["theta"] - th0)
    q = c["a_ref"] * state["q"]
    s = (v - q) >= theta
    state.update(i=i, v=v, q=q + 2 * theta * s, theta=theta + c["theta_step"] * s)
    return s.astype(x.dtype)
