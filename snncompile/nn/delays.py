"""A Linear layer with a learnable delay per synapse, trainable in float and deployed as integers.

Integer delays have no gradient, so training uses a relaxation: synapse (i, j) reads a triangular
mix of the inputs around its float delay d_ij (half-width `spread` steps; at spread = 1 this is
linear interpolation between x[t - floor(d)] and x[t - floor(d) - 1]). A wider spread early in
training lets a delay feel inputs further away, as the Gaussian kernels of DCLS do (Hammouamri
et al. 2024) with the spread annealed to 1; spread 0 then trains with the rounded delays forward
(straight-through), so the weights adapt to the integers that deploy. In eval mode the layer uses
exactly the rounded integer delays `integer_delays()`, which is what snncompile compiles (nn
`DelayLinear`, Loihi `DelayDense`), so a trained module's eval forward equals the deployed
network's float model.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class DelayedLinear(nn.Module):
    """y_i[t] = sum_j weight[i, j] x_j[t - delay[i, j]] (+ bias_i), one step per call.

    `max_delay` bounds every delay (in steps; Loihi 2 holds 0..62). Delays start uniform in
    [0, max_delay] unless `init_delay` (a number or an (out, in) tensor) is given.
    `learn_delays=False` keeps them fixed. Rounding is torch.round (half to even) of the delay
    clamped to [0, max_delay]. `spread` (steps, set it during training to anneal): > 0 is the
    relaxation's half-width (1 = linear interpolation; below 1 acts as 1); 0 trains with the
    deployed integer delays forward and linear interpolation's gradient backward
    (straight-through), so the last epochs can adapt the weights to exactly what will be deployed.
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int,
                 learn_delays: bool = True, bias: bool = False,
                 init_delay: float | torch.Tensor | None = None, spread: float = 1.0):
        super().__init__()
        if int(max_delay) < 0:
            raise ValueError(f"max_delay must be >= 0, not {max_delay}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.max_delay, self.spread = int(max_delay), float(spread)
        bound = 1 / math.sqrt(self.in_features)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features)
                                   .uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(self.out_features)) if bias else None
        shape = (self.out_features, self.in_features)
        if init_delay is None:
            delay = torch.rand(shape) * self.max_delay
        else:
            delay = torch.as_tensor(init_delay, dtype=torch.get_default_dtype()).expand(shape)
        delay = delay.detach().clone().to(torch.get_default_dtype())
        if learn_delays:
            self.delay = nn.Parameter(delay)
        else:
            self.register_buffer("delay", delay)
        self.reset_state()

    def integer_delays(self) -> torch.Tensor:
        """The deployed delays: round(clamp(delay, 0, max_delay)), int64 (out, in)."""
        return torch.round(self.delay.detach().clamp(0, self.max_delay)).to(torch.int64)

    def kernel(self) -> torch.Tensor:
        """(out, in, max_delay + 1): the weight of input x[t - k] in each synapse (training with
        spread <= 0: the rounded delays forward, linear interpolation's gradient backward)."""
        taps = torch.arange(self.max_delay + 1, dtype=self.weight.dtype, device=self.weight.device)
        hard = (taps == self.integer_delays().unsqueeze(-1).to(taps.dtype)).to(taps.dtype)
        if not self.training:
            return self.weight.unsqueeze(-1) * hard
        d = self.delay.clamp(0, self.max_delay).unsqueeze(-1)
        tri = torch.relu(1 - (taps - d).abs() / max(self.spread, 1.0))
        mix = tri / tri.sum(-1, keepdim=True)
        if self.spread <= 0:  # straight-through: rounded forward, interpolation's gradient
            mix = hard + (mix - mix.detach())
        return self.weight.unsqueeze(-1) * mix

    def reset_state(self) -> None:
        """Forget the past inputs: the next call is time step 1."""
        self.history: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        h = self.history
        if h is None or h.shape[0] != x.shape[0]:
            h = x.new_zeros(x.shape[0], self.max_delay + 1, self.in_features)
        h = torch.cat([x.unsqueeze(1), h[:, :-1]], dim=1)  # h[:, k] = x[t - k]
        self.history = h
        y = torch.einsum("bki,oik->bo", h, self.kernel())
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"max_delay={self.max_delay}, bias={self.bias is not None}")
