"""Quantization-aware training (QAT): a trained `snncompile.nn` model's forward pass computed with
the weights and decays the compiler will give it, so fine-tuning can win back what quantization
costs before deployment.

    qat.prepare(model, input_shape, target="emu", weight_bits=2)   # in place; returns model
    for epoch in ...:  train as usual;  qat.refresh(model)          # follow the compiler's scale
    qat.finalize(model); snncompile.nn.save(model, "tuned.pt", input_shape)

Why it mirrors the target exactly rather than approximately: the scale of every synapse is not
re-derived here. `prepare` and `refresh` compile the model's own float weights through the real
front end and passes (lower, discretize, quantize at `weight_bits`) and read back what the
quantize pass chose: each layer's integer threshold vth and each synapse's weight_exp. A weight w
of a synapse into neuron i is then rounded to the integer grid W * 2^e / vth thresholds
(threshold units: gain_i * w / threshold), clipped to the integers Lava keeps at that width
(`snncompile.passes.encode.limits`, sign mode from the current weights), in the forward pass, with
a straight-through gradient. Decays become their 12-bit codes (dv, du as the quantize pass rounds
them). The threshold needs nothing: the compiler picks its scale so that the threshold is exact.
Biases stay float (13-bit mantissa with an exponent: their rounding is far below a weight lsb),
and so does Lava's truncation of v and u each step.

The fake quantization is a torch parametrization of `weight` / `beta` / `alpha`, so the modules
keep their classes and the optimizer trains the latent float values. `finalize` refreshes the
scale, writes the quantized values back as plain floats and removes every parametrization: the
result is an ordinary model that `snncompile.nn.save` writes and the safe `.pt` loader reads, and
compiling it reproduces those weights exactly (the grid values are representable at the scale the
compiler picks again). The model is changed in place (copy.deepcopy it first to keep the
original).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.ir import nn_ops
from snncompile.nn import layers

_CONFIG = "_snncompile_qat"  # attribute on the prepared model: input_shape, dt, target, bits
_WEIGHTED = (nn_ops.Linear, nn_ops.Affine, nn_ops.Conv2d)


class WeightGrid(nn.Module):
    """Fake quantization of one synapse's weight: w -> clip(round(w / unit)) * unit per output row
    (unit = 2^e threshold / (vth gain): one integer step of the hw weight, in float weight units),
    on the grid of Lava's integers for the weight's current sign mode; straight-through gradient."""

    def __init__(self, unit: torch.Tensor, grids: dict[str, tuple[int, int, int]]):
        super().__init__()
        self.register_buffer("unit", unit)
        self.grids = dict(grids)

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        mode = ("excitatory" if bool(w.min() >= 0) else
                "inhibitory" if bool(w.max() <= 0) else "mixed")  # Lava's rule, spec §2.1
        lo, hi, step = self.grids[mode]
        unit = self.unit.to(w.dtype)
        return torch.clamp(step * torch.round(w / unit / step), lo, hi) * unit

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


def prepare(model: nn.Module, input_shape: Sequence[int], target: str = "emu",
            weight_bits: int = 8, dt: float = 1e-3) -> nn.Module:
    """Make `model`'s forward pass use the weights and decays compiling it for `target` at
    `weight_bits` would give (in place; returns `model`). Refuses layers it cannot mirror."""
    if is_prepared(model):
        raise SnnCompileError("qat.prepare: the model is already prepared; call qat.finalize first")
    config = {"input_shape": tuple(int(d) for d in input_shape), "dt": float(dt),
              "target": str(target), "weight_bits": weight_bits}
    plan = _plan(model, config)
    for path, (unit, grids) in plan["weights"].items():
        parametrize.register_parametrization(model.get_submodule(path), "weight",
                                             WeightGrid(unit, grids))
    for path, attr, grid in plan["decays"]:
        parametrize.register_parametrization(model.get_submodule(path), attr, grid)
    setattr(model, _CONFIG, config)
    return model


def is_prepared(model: nn.Module) -> bool:
    return hasattr(model, _CONFIG)


def refresh(model: nn.Module) -> None:
    """Recompute every synapse's scale from the current latent weights (the scale the compiler
    would now pick); call it between epochs, as training moves the weights."""
    plan = _plan(latent(model), _config(model))
    for path, (unit, _) in plan["weights"].items():
        grid = model.get_submodule(path).parametrizations["weight"][0]
        grid.unit.copy_(unit.to(grid.unit.dtype))


def finalize(model: nn.Module) -> nn.Module:
    """Refresh the scale, write the quantized weights and decays back as plain floats and remove
    the fake quantization (in place; returns `model`), ready for `snncompile.nn.save`."""
    refresh(model)
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module):
            continue
        for attr in list(module.parametrizations):
            entry = module.parametrizations[attr]
            with torch.no_grad():
                entry.original.copy_(entry[0].quantize(entry.original))
            parametrize.remove_parametrizations(module, attr, leave_parametrized=True)
    delattr(model, _CONFIG)
    return model


def latent(model: nn.Module) -> nn.Module:
    """A copy of a prepared model with its float (unquantized) weights and decays. Forgets the
    neuron state of `model` (a state built in a training step cannot be copied)."""
    from snncompile.nn import reset_state

    reset_state(model)
    twin = copy.deepcopy(model)
    for module in list(twin.modules()):
        if parametrize.is_parametrized(module):
            # a deep copy shares torch's generated Parametrized* class, and removing a
            # parametrization deletes its property from that class: give the copy its own
            cls = type(module)
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for attr in list(module.parametrizations):
                parametrize.remove_parametrizations(module, attr, leave_parametrized=False)
    if hasattr(twin, _CONFIG):
        delattr(twin, _CONFIG)
    return twin


def _config(model: nn.Module) -> dict:
    if not is_prepared(model):
        raise SnnCompileError("qat: the model is not prepared; call qat.prepare first")
    return getattr(model, _CONFIG)


def _plan(model: nn.Module, config: dict) -> dict:
    """Compile the model's float values as `snncompile compile` would and read back each
    synapse's unit and integer grids and each neuron's decay grids."""
    from snncompile.frontends.torch_modules import from_module
    from snncompile.ir.check import check
    from snncompile.passes import Discretize, Lower, Quantize
    from snncompile.passes.assemble import incoming, layers_of
    from snncompile.passes.encode import check_weight_bits
    from snncompile.target import load_target

    spec = load_target(config["target"])
    bits = check_weight_bits(config["weight_bits"], spec)
    graph = check(from_module(model, config["input_shape"], config["dt"]), "qat (front end)")
    stepped = Discretize()(Lower()(graph))
    _, report = Quantize(weight_bits=bits)(stepped, spec)
    layer_q = {q.layer: q for q in report.layers}
    weights = {}
    for target, c in layers_of(stepped, "qat").items():
        for s in incoming(stepped, target):
            path = _weighted_node(graph, s.name, s.op.chain)
            if path is None:
                continue  # a chain without trainable weights (pooling only)
            weights[path] = _unit(model.get_submodule(path), path, s, c,
                                  tuple(stepped.shapes[target]), layer_q[target], spec, bits)
    return {"weights": weights, "decays": _decays(model, graph, spec)}


def _unit(module: nn.Module, path: str, s, c, nn_shape, q, spec, bits: int):
    """(weight unit, integer grids) of the module behind grouped synapse `s` into layer `c`."""
    from snncompile.passes.encode import limits

    conv = s.form == "conv"
    if tuple(module.weight.shape) != s.op.weight.shape or not np.allclose(
            module.weight.detach().double().numpy(), s.op.weight, rtol=1e-6, atol=1e-12):
        raise UnsupportedOp(module, f"qat: module {path!r}",
                            f"synapse {s.name!r} folds other ops into its weights, and QAT "
                            "mirrors only a Linear or Conv2d (with Flatten) between two "
                            "neuron layers")
    (sq,) = [x for x in q.synapses if x.name == s.name]
    gain = c.gain.reshape(nn_shape)[:, 0, 0] if conv else c.gain
    if np.any(gain <= 0):
        raise UnsupportedOp(module, f"qat: module {path!r}", "its target's input gain is not "
                            "positive")
    unit = 2.0**sq.weight_exp * float(c.threshold[0]) / (q.vth * gain)
    unit = torch.as_tensor(unit.reshape(-1, *([1] * (module.weight.dim() - 1))))
    grids = {m: limits(m, spec, conv, bits) for m in ("excitatory", "inhibitory", "mixed")}
    return unit.to(module.weight.dtype), grids


def _weighted_node(graph, name: str, chain: tuple[str, ...]) -> str | None:
    names = [n for n in chain if isinstance(graph.nodes[n], _WEIGHTED)]
    if len(names) > 1:
        raise UnsupportedOp(graph.nodes[names[-1]], f"qat: synapse {name!r}",
                            f"it chains {len(names)} weighted ops ({', '.join(names)}), and QAT "
                            "mirrors one Linear or Conv2d between two neuron layers")
    return names[0] if names else None


def _decays(model: nn.Module, graph, spec) -> list[tuple[str, str, DecayGrid]]:
    unity = 1 << spec.decay_bits
    out = []
    for name, op in graph.nodes.items():
        if op.kind != "neuron":
            continue
        module = model.get_submodule(name)
        if not isinstance(module, layers._Neuron):
            raise UnsupportedOp(module, f"qat: module {name!r}", "QAT mirrors snncompile.nn "
                                "neurons (IF, LIF, CubaLIF, RLIF) only")
        if hasattr(module, "beta"):
            out.append((name, "beta", DecayGrid("voltage", unity, spec.dv_min, spec.dv_max)))
        if hasattr(module, "alpha"):
            out.append((name, "alpha", DecayGrid("current", unity, spec.du_min, spec.du_max)))
    return out
