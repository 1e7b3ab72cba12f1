"""The fake quantizers QAT (`snncompile.nn.qat`) puts on weights, biases and decays: torch
parametrizations that round in the forward pass to what the compiled model holds, with a
straight-through gradient."""

from __future__ import annotations

import torch
from torch import nn

from snncompile.errors import SnnCompileError


class WeightGrid(nn.Module):
    """Fake quantization of one module's weight: each element w, in the units of the synapse
    entries it becomes (v = factor * norm_scale * w: the chain's constant factor and a folded
    BatchNorm's live per-channel scale), goes to clip(round(v / unit)) * unit on the grid of
    Lava's integers for the weights' current sign mode, and back; straight-through gradient.
    `unit`: one integer step of the hw weight (2^e threshold / (vth gain)) per element."""

    def __init__(self, unit: torch.Tensor, factor: torch.Tensor,
                 grids: dict[str, tuple[int, int, int]], norm: nn.Module | None = None):
        super().__init__()
        self.register_buffer("unit", unit)
        self.register_buffer("factor", factor)
        self.grids = dict(grids)
        self._norm = [norm] if norm is not None else []  # a list: not a registered submodule

    def scale(self, w: torch.Tensor) -> torch.Tensor:
        """Per element: the factor times the folded norm's scale (its running statistics)."""
        factor = self.factor.to(w.dtype)
        if not self._norm:
            return factor
        bn = self._norm[0]
        if bn.training:
            raise SnnCompileError("qat: a BatchNorm folded into a prepared weight is in training "
                                  "mode; the compiler folds its running statistics, so train "
                                  "with qat.train_mode(model) (norms stay in eval mode)")
        s = torch.rsqrt(bn.running_var.to(w.dtype) + bn.eps)
        if bn.affine:
            s = s * bn.weight.to(w.dtype)
        return factor * s.reshape(-1, *([1] * (w.dim() - 1)))

    def _grid_value(self, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The composed value v = w * scale on the grid (integer times unit)."""
        v = w * scale
        mode = ("excitatory" if bool(v.min() >= 0) else
                "inhibitory" if bool(v.max() <= 0) else "mixed")  # Lava's rule, spec §2.1
        lo, hi, step = self.grids[mode]
        unit = self.unit.to(w.dtype)
        return torch.clamp(step * torch.round(v / unit / step), lo, hi) * unit

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        scale = self.scale(w)
        return self._grid_value(w, scale) / scale

    def folded(self, w: torch.Tensor) -> torch.Tensor:
        """The quantized weight with the norm's scale folded in (grid value / factor)."""
        return self._grid_value(w, self.scale(w)) / self.factor.to(w.dtype)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w + (self.quantize(w) - w).detach()


class DecayGrid(nn.Module):
    """Fake quantization of a per-step decay factor to the 12-bit code the quantize pass picks:
    beta -> 1 - dv / 4096 with dv = clip(round(4096 (1 - beta))) (voltage), alpha ->
    (4095 - du) / 4096 with du = clip(round(4096 (1 - alpha)) - 1) (current); straight-through."""

    def __init__(self, state: str, unity: int, lo: int, hi: int):
        super().__init__()
        self.state, self.unity, self.lo, self.hi = state, int(unity), int(lo), int(hi)

    def quantize(self, d: torch.Tensor) -> torch.Tensor:
        lost = torch.round(self.unity * (1 - d.clamp(0, 1)))
        if self.state == "voltage":
            return 1 - torch.clamp(lost, self.lo, self.hi) / self.unity
        return (self.unity - 1 - torch.clamp(lost - 1, self.lo, self.hi)) / self.unity

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return d + (self.quantize(d) - d).detach()


class BiasGrid(nn.Module):
    """Fake quantization of a bias to what its route holds exactly (`raw`: one raw v unit,
    1/(64 vth) thresholds, in bias units per output channel): the neuron's bias_mant * 2^bias_exp
    (a `mant_max`-bit mantissa, the smallest exponent that fits), or, through the bias clock,
    whole hw input units (64 raw units, which its coarse + fine columns deliver exactly). With a
    folded BatchNorm (`norm`, the bias its `bias`), the folded bias bias + (conv bias -
    running_mean) * scale is what lands on the grid."""

    def __init__(self, raw: torch.Tensor, mant_max: int | None, norm: nn.Module | None = None,
                 folded_into: nn.Module | None = None):
        super().__init__()
        self.register_buffer("unit", raw)
        self.mant_max = mant_max  # None: the bias clock's whole input units
        self._refs = [norm, folded_into]  # a list: not registered submodules

    def _offset(self, b: torch.Tensor) -> torch.Tensor:
        norm, owner = self._refs
        if norm is None:
            return torch.zeros_like(b)
        s = torch.rsqrt(norm.running_var.to(b.dtype) + norm.eps)
        if norm.affine:
            s = s * norm.weight.detach().to(b.dtype)
        conv_bias = 0.0 if owner is None or owner.bias is None else owner.bias.detach()
        return (conv_bias - norm.running_mean.to(b.dtype)) * s

    def folded(self, b: torch.Tensor) -> torch.Tensor:
        """The folded bias (the norm's offset included) on its grid."""
        raw = (b + self._offset(b)) / self.unit.to(b.dtype)
        if self.mant_max is None:
            step = torch.full_like(raw, 64.0)
        else:  # encode_bias: the smallest exponent whose mantissa holds the value
            need = torch.log2(raw.abs().clamp(min=1.0) / self.mant_max)
            step = torch.exp2(torch.ceil(need).clamp(min=0))
        return torch.round(raw / step) * step * self.unit.to(b.dtype)

    def quantize(self, b: torch.Tensor) -> torch.Tensor:
        return self.folded(b) - self._offset(b)

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return b + (self.quantize(b) - b).detach()
