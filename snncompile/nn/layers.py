"""Trainable spiking layers whose forward pass is the hardware's arithmetic, one step per call."""

from __future__ import annotations

import math

import torch
from torch import nn

from snncompile.ir.nn_neurons import RESET_TIMINGS, RESETS
from snncompile.nn.surrogate import SURROGATES, spike


def _shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)


def _full(value: float | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    return t.expand(shape).clone()


class _Neuron(nn.Module):
    """Shared state handling and reset arithmetic (see snncompile.sim.reference for the equations).

    Spikes are s = v > threshold; the reset is detached from the gradient (the usual practice).
    "immediate": the spike resets v in the same step ("zero": v = 0, "subtract": v -= threshold);
    "next_step": snnTorch's reset_delay=True, the spike of step t-1 resets step t after the leak.
    """

    def __init__(self, shape, threshold, reset, reset_timing, surrogate, slope):
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, not {reset!r}")
        if reset_timing not in RESET_TIMINGS:
            raise ValueError(f"reset_timing must be one of {RESET_TIMINGS}, not {reset_timing!r}")
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, not {surrogate!r}")
        self.shape = _shape(shape)
        self.register_buffer("threshold", _full(threshold, self.shape))
        self.reset, self.reset_timing = str(reset), str(reset_timing)
        self.surrogate, self.slope = str(surrogate), None if slope is None else float(slope)
        self.reset_state()

    def _decay(self, name: str, value: float | torch.Tensor, learn: bool) -> None:
        """A decay factor, fixed (a buffer) or learned. A scalar learns ONE decay for the layer
        (PLIF, Fang et al. 2021): Loihi holds one decay per population, so it deploys as is; a
        per-neuron tensor learns per neuron (and the Loihi targets refuse it, naming the layer)."""
        scalar = torch.as_tensor(value).dim() == 0
        if learn:
            init = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
            setattr(self, name, nn.Parameter(init if scalar else _full(value, self.shape)))
        else:
            self.register_buffer(name, _full(value, self.shape))

    def reset_state(self) -> None:
        """Forget the state: the next call is time step 1."""
        self.v: torch.Tensor | None = None
        self.i: torch.Tensor | None = None
        self.s_prev: torch.Tensor | None = None

    def _integrate(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.v is None or self.v.shape != x.shape:
            self.v = torch.zeros_like(x)
            self.i = torch.zeros_like(x)
            self.s_prev = torch.zeros_like(x)
        thr, prev = self.threshold, self.s_prev
        leaked, drive = self._integrate(x, self.v)
        later = self.reset_timing == "next_step"
        if later and self.reset == "zero":
            whole = isinstance(self, CubaLIF)  # snnTorch Synaptic zeroes the new v, input included
            v = (leaked + drive) * (1 - prev) if whole else leaked * (1 - prev) + drive
        else:
            v = leaked + drive
            if later:
                v = v - thr * prev
        s = spike(v - thr, self.surrogate, self.slope)
        if not later:
            r = s.detach()
            v = v * (1 - r) if self.reset == "zero" else v - thr * r
        self.v, self.s_prev = v, s.detach()
        return s

    def extra_repr(self) -> str:
        return f"{self.shape}, reset={self.reset!r}, reset_timing={self.reset_timing!r}"


class IF(_Neuron):
    """Integrate-and-fire: v = v + x; s = v > threshold."""

    def __init__(self, shape: int | tuple[int, ...], threshold: float | torch.Tensor = 1.0,
                 reset: str = "zero", reset_timing: str = "immediate",
                 surrogate: str = "fast_sigmoid", slope: float | None = None):
        super().__init__(shape, threshold, reset, reset_timing, surrogate, slope)

    def _integrate(self, x, v):
        return v, x


class LIF(_Neuron):
    """Leaky integrate-and-fire: v = beta * v + x; s = v > threshold (NIR tau = dt / (1 - beta))."""

    def __init__(self, shape: int | tuple[int, ...], beta: float | torch.Tensor = 0.9,
                 threshold: float | torch.Tensor = 1.0, reset: str = "zero",
                 reset_timing: str = "immediate", learn_beta: bool = False,
                 surrogate: str = "fast_sigmoid", slope: float | None = None):
        super().__init__(shape, threshold, reset, reset_timing, surrogate, slope)
        self._decay("beta", beta, learn_beta)

    def _integrate(self, x, v):
        return self.beta.clamp(0, 1) * v, x


class CubaLIF(_Neuron):
    """Current-based LIF: i = alpha * i + x; v = beta * v + i (new current); s = v > threshold."""

    def __init__(self, shape: int | tuple[int, ...], alpha: float | torch.Tensor = 0.5,
                 beta: float | torch.Tensor = 0.9, threshold: float | torch.Tensor = 1.0,
                 reset: str = "zero", reset_timing: str = "immediate", learn_beta: bool = False,
                 surrogate: str = "fast_sigmoid", slope: float | None = None):
        super().__init__(shape, threshold, reset, reset_timing, surrogate, slope)
        self._decay("alpha", alpha, False)
        self._decay("beta", beta, learn_beta)

    def _integrate(self, x, v):
        self.i = self.alpha.clamp(0, 1) * self.i + x
        return self.beta.clamp(0, 1) * v, self.i


class RLIF(LIF):
    """LIF with all-to-all recurrence: its input is x + recurrent(s[t-1]) (a Linear, no bias)."""

    def __init__(self, n: int, beta: float | torch.Tensor = 0.9,
                 threshold: float | torch.Tensor = 1.0,
                 reset: str = "zero", reset_timing: str = "immediate", learn_beta: bool = False,
                 surrogate: str = "fast_sigmoid", slope: float | None = None):
        super().__init__(n, beta, threshold, reset, reset_timing, learn_beta, surrogate, slope)
        self.recurrent = nn.Linear(int(n), int(n), bias=False)
        nn.init.uniform_(self.recurrent.weight, -1 / math.sqrt(n), 1 / math.sqrt(n))

    def reset_state(self) -> None:
        super().reset_state()
        self.out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.out is not None and self.out.shape == x.shape:
            x = x + self.recurrent(self.out)
        self.out = super().forward(x)
        return self.out
