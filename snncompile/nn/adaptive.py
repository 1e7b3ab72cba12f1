"""Adaptive-threshold LIF (Lava's ATRLIF in float form), trainable, one step per call.

Loihi 2's ATRLIF neuron has no voltage reset: a spike raises an adaptive threshold theta (which
relaxes back to theta_0) and a refractory term r (which decays to 0) instead. Training with the
same recurrence lets a model deploy on Lava's `ATRLIF` with quantization as the only difference.
"""

from __future__ import annotations

import torch
from torch import nn

from snncompile.nn.layers import _shape
from snncompile.nn.surrogate import SURROGATES, spike


def _param(name: str, value: float | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """One number for the layer, or one per neuron (a tensor broadcasting to `shape`): co-learned
    adaptation trains each neuron's own decays and threshold; the loihi2 program runs them in
    the shipped SnnATRLIF (Lava's ATRLIF holds one of each)."""
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if t.numel() == 1:
        return t.reshape(())
    try:
        return torch.broadcast_to(t, shape).clone()
    except RuntimeError:
        raise ValueError(f"AdaptiveLIF {name} has shape {tuple(t.shape)}, which does not "
                         f"broadcast to the layer's {shape}") from None


class AdaptiveLIF(nn.Module):
    """Adaptive threshold and refractoriness LIF (Lava ATRLIF), per step t:

        i     = alpha * i + x
        v     = beta * v + i                                   (no reset of v)
        theta = theta_0 + decay_theta * (theta - theta_0)
        r     = decay_r * r
        s     = (v - r) >= theta                               (non-strict, as Lava's ATRLIF)
        r     = r + 2 * theta * s;   theta = theta + theta_step * s

    State starts at i = v = r = 0, theta = theta_0. `alpha`, `beta`, `decay_theta`, `decay_r`
    are per-step retention factors in [0, 1] (Lava's delta = 1 - factor), one per layer or
    one per neuron (a tensor of the layer's shape), as are theta_0 and theta_step;
    `learn_beta=True` learns beta (PLIF style). The spike's gradient is the surrogate's, taken
    at (v - r) - theta; the updates of r and theta are detached (as a reset usually is).
    """

    def __init__(self, shape: int | tuple[int, ...], alpha: float = 0.5, beta: float = 0.9,
                 theta_0: float = 1.0, theta_step: float = 0.2, decay_theta: float = 0.9,
                 decay_r: float = 0.5, learn_beta: bool = False,
                 surrogate: str = "fast_sigmoid", slope: float | None = None):
        super().__init__()
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, not {surrogate!r}")
        self.shape = _shape(shape)
        for name, value in (("alpha", alpha), ("theta_0", theta_0), ("theta_step", theta_step),
                            ("decay_theta", decay_theta), ("decay_r", decay_r)):
            self.register_buffer(name, _param(name, value, self.shape))
        if learn_beta:
            self.beta = nn.Parameter(_param("beta", beta, self.shape))
        else:
            self.register_buffer("beta", _param("beta", beta, self.shape))
        self.surrogate, self.slope = str(surrogate), None if slope is None else float(slope)
        self.reset_state()

    def reset_state(self) -> None:
        """Forget the state: the next call is time step 1."""
        self.i: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.theta: torch.Tensor | None = None
        self.r: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.v is None or self.v.shape != x.shape:
            self.i, self.v, self.r = (torch.zeros_like(x) for _ in range(3))
            self.theta = torch.zeros_like(x) + self.theta_0
        th0 = self.theta_0
        self.i = self.alpha.clamp(0, 1) * self.i + x
        self.v = self.beta.clamp(0, 1) * self.v + self.i
        theta = th0 + self.decay_theta.clamp(0, 1) * (self.theta - th0)
        r = self.decay_r.clamp(0, 1) * self.r
        # (v - r) >= theta is "not (theta - (v - r) > 0)": exact '>=' forward, and the surrogate's
        # derivative is even, so the gradient is the usual one at (v - r) - theta.
        s = 1.0 - spike(theta - (self.v - r), self.surrogate, self.slope)
        d = s.detach()
        self.r = r + 2 * theta * d
        self.theta = theta + self.theta_step * d
        return s

    def extra_repr(self) -> str:
        def show(t: torch.Tensor) -> str:
            return f"{float(t)}" if t.numel() == 1 else f"per neuron {tuple(t.shape)}"

        return f"{self.shape}, theta_0={show(self.theta_0)}, theta_step={show(self.theta_step)}"
