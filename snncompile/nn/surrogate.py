"""Surrogate gradients: the forward pass is the hard spike x > 0, the backward a smooth bump."""

from __future__ import annotations

import math

import torch


class _Heaviside(torch.autograd.Function):
    """Heaviside forward; the backward multiplies by the subclass's smooth `derivative`."""

    @staticmethod
    def derivative(x: torch.Tensor, slope: float) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @classmethod
    def backward(cls, ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * cls.derivative(x, ctx.slope), None


class FastSigmoid(_Heaviside):
    """d/dx = 1 / (slope * |x| + 1)^2 (Zenke & Ganguli's SuperSpike)."""

    @staticmethod
    def derivative(x: torch.Tensor, slope: float) -> torch.Tensor:
        return 1.0 / (slope * x.abs() + 1.0) ** 2


class ATan(_Heaviside):
    """d/dx = (a/2) / (1 + (pi/2 * a * x)^2) (snnTorch's default)."""

    @staticmethod
    def derivative(x: torch.Tensor, slope: float) -> torch.Tensor:
        return (slope / 2) / (1 + (math.pi / 2 * slope * x) ** 2)


SURROGATES: dict[str, type[torch.autograd.Function]] = {"fast_sigmoid": FastSigmoid, "atan": ATan}
DEFAULT_SLOPE = {"fast_sigmoid": 25.0, "atan": 2.0}


def spike(x: torch.Tensor, surrogate: str = "fast_sigmoid",
          slope: float | None = None) -> torch.Tensor:
    """1.0 where x > 0 else 0.0, differentiable through the named surrogate."""
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, not {surrogate!r}")
    return SURROGATES[surrogate].apply(x, DEFAULT_SLOPE[surrogate] if slope is None else slope)
