"""Quantization-aware training (QAT): a trained `snncompile.nn` model's forward pass computed with
the weights and decays the compiler will give it, so fine-tuning can win back what quantization
costs before deployment.

    qat.prepare(model, input_shape, target="emu", weight_bits=2)   # in place; returns model
    for epoch in ...:  qat.train_mode(model); train as usual; qat.refresh(model)  # new scale
    qat.finalize(model); snncompile.nn.save(model, "tuned.pt", input_shape)

Why it mirrors the target exactly rather than approximately: the scale of every synapse is not
re-derived here. `prepare` and `refresh` compile the model's own float weights through the real
front end and passes (lower, discretize, quantize at `weight_bits`) and read back what the
quantize pass chose: each layer's integer threshold vth and each synapse's weight_exp. A weight w
of a synapse into neuron i is then rounded to the integer grid W * 2^e / vth thresholds
(threshold units: gain_i * w / threshold), clipped to the integers Lava keeps at that width
(`snncompile.passes.encode.limits`, sign mode from the current weights), in the forward pass, with
a straight-through gradient. The weight rounded is the one the compiler rounds: a BatchNorm
folded into the conv/Linear before it scales it per channel (read live from the norm's running
statistics and affine, so the norm must stay in eval mode: `train_mode`), and a chain composes it
(a conv expanded to a flat Dense, an average pool before a Linear divides it by the window):
`snncompile.nn.qat_map` finds where each weight element lands. Decays become their 12-bit codes
(dv, du as the quantize pass rounds them). The threshold needs nothing: the compiler picks its
scale so that the threshold is exact.
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
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.ir import nn_ops
from snncompile.ir.lowered_ops import GroupedConv
from snncompile.nn import layers, qat_map
from snncompile.nn.qat_grids import BiasGrid, DecayGrid, WeightGrid

_CONFIG = "_snncompile_qat"  # attribute on the prepared model: input_shape, dt, target, bits
_WEIGHTED = qat_map.WEIGHTED


def prepare(model: nn.Module, input_shape: Sequence[int], target: str = "emu",
            weight_bits: int = 8, dt: float = 1e-3, dyadic: bool = False) -> nn.Module:
    """Make `model`'s forward pass use the weights and decays compiling it for `target` at
    `weight_bits` would give (in place; returns `model`). Refuses layers it cannot mirror.
    `dyadic`: put each layer on the grid of a power-of-two vth (at most one bit coarser), where
    the float model breaks ties at the threshold as the hardware does (`_grid`)."""
    if is_prepared(model):
        raise SnnCompileError("qat.prepare: the model is already prepared; call qat.finalize first")
    config = {"input_shape": tuple(int(d) for d in input_shape), "dt": float(dt),
              "target": str(target), "weight_bits": weight_bits, "dyadic": bool(dyadic)}
    plan = _plan(model, config)
    for path, (unit, factor, grids, norm) in plan["weights"].items():
        norm_module = None if norm is None else model.get_submodule(norm)
        if norm_module is not None and norm_module.training:
            norm_module.eval()  # QAT folds the running statistics, as the compiler does
        parametrize.register_parametrization(model.get_submodule(path), "weight",
                                             WeightGrid(unit, factor, grids, norm_module))
    for path, (unit, mant_max, norm) in plan["biases"].items():
        held_by = model.get_submodule(norm or path)
        parametrize.register_parametrization(held_by, "bias", BiasGrid(
            unit, mant_max, held_by if norm else None,
            model.get_submodule(path) if norm else None))
    for path, attr, grid in plan["decays"]:
        parametrize.register_parametrization(model.get_submodule(path), attr, grid)
    setattr(model, _CONFIG, config)
    return model


def is_prepared(model: nn.Module) -> bool:
    return hasattr(model, _CONFIG)


def train_mode(model: nn.Module) -> nn.Module:
    """model.train(), except every BatchNorm stays in eval mode: its running statistics are
    what the compiler folds into the weights before it, so QAT trains with them fixed (its
    affine weight and bias still train). Returns `model`."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def refresh(model: nn.Module) -> None:
    """Recompute every synapse's scale from the current latent weights (the scale the compiler
    would now pick); call it between epochs, as training moves the weights."""
    plan = _plan(latent(model), _config(model))
    for path, (unit, *_) in plan["weights"].items():
        grid = model.get_submodule(path).parametrizations["weight"][0]
        grid.unit.copy_(unit.to(grid.unit.dtype))
    for path, (unit, _, norm) in plan["biases"].items():
        grid = model.get_submodule(norm or path).parametrizations["bias"][0]
        grid.unit.copy_(unit.to(grid.unit.dtype))


def finalize(model: nn.Module) -> nn.Module:
    """Refresh the scale, write the quantized weights and decays back as plain floats and remove
    the fake quantization (in place; returns `model`), ready for `snncompile.nn.save`. A folded
    BatchNorm with an affine is baked in: its conv holds the folded grid weights and the norm
    becomes bias-only (mean 0, var 1, eps 0, weight 1, bias the folded grid bias), so the saved
    model computes with exactly the values the compiler uses."""
    refresh(model)
    baked = _bake_norms(model)
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module) or module in baked:
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
    """Compile the model's float values as `snncompile compile` would (BatchNorms folded, conv
    layers lowered flat where their bias needs the bias clock) and read back, per weighted
    module, the unit and factor of each weight element, the integer grids and the folded norm,
    and each neuron's decay grids."""
    from snncompile.frontends.torch_blocks import fold_norms, norm_pairs
    from snncompile.frontends.torch_modules import from_module
    from snncompile.ir.check import check
    from snncompile.passes.assemble import incoming, layers_of
    from snncompile.passes.encode import check_weight_bits, limits
    from snncompile.target import load_target

    spec = load_target(config["target"])
    bits = check_weight_bits(config["weight_bits"], spec)
    unfolded = from_module(model, config["input_shape"], config["dt"], fold=False)
    sparse = [n for n, op in unfolded.nodes.items() if isinstance(op, nn_ops.SparseLinear)]
    if sparse:
        raise SnnCompileError(f"qat.prepare: module {sparse[0]!r} holds a sparse weight; QAT "
                              "puts dense weights on the grid only (compile it without QAT)")
    modules = dict(model.named_modules())
    norms = {n for n in unfolded.nodes
             if isinstance(modules.get(n), nn.modules.batchnorm._BatchNorm)}
    pairs = norm_pairs(unfolded, norms)
    graph = check(fold_norms(unfolded, norms), "qat (front end)")
    stepped, report, lower = _quantized(graph, spec, bits)
    layer_q = {q.layer: q for q in report.layers}
    owner, real, row_units, biases = {}, {}, {}, {}
    for target, c in layers_of(stepped, "qat").items():
        shape = tuple(stepped.shapes[target])
        mine = [(s, _weighted_node(graph, s.name, s.op.chain)) for s in incoming(stepped, target)]
        mine = [(s, path) for s, path in mine if path is not None]  # pooling-only chains: none
        q = layer_q[target]
        rows = [_row_scale(modules[path], path, s, c, shape) for s, path in mine]
        vth, exps = _grid(q, [s for s, _ in mine], rows, spec, bits, config.get("dyadic", False))
        for (s, path), row in zip(mine, rows):
            owner[s.name], real[s.name] = path, s.op.weight
            row_units[s.name] = 2.0**exps[s.name] / (vth * row)
            norm = next((n for p, n in pairs.items() if p == path), None)
            unit = _bias_unit(modules[path], s, graph, 1.0 / (64 * vth * row), norm is not None)
            if unit is not None and q.bias_route in ("neuron", "clock"):
                biases[path] = (unit, spec.bias_mant_max if q.bias_route == "neuron" else None,
                                norm)
    paths = sorted(set(owner.values()))
    once, twice = (_composed(qat_map.tagged(graph, paths, k), lower, owner) for k in (1, 2))
    places = qat_map.placements(once, twice, real,
                                {p: graph.nodes[p].weight for p in paths}, owner)
    grids = {m: limits(m, spec, False, bits) for m in ("excitatory", "inhibitory", "mixed")}
    conv_grids = {m: limits(m, spec, True, bits) for m in grids}
    weights = {}
    for path in paths:
        module = modules[path]
        mine = [n for n in owner if owner[n] == path]
        unit, factor = qat_map.element_units(
            path, module.weight.numel(), [(places[n], row_units[n]) for n in mine])
        conv = {isinstance(stepped.nodes[n], GroupedConv) for n in mine}
        if len(conv) > 1:
            raise UnsupportedOp(module, f"qat: module {path!r}", "it feeds both a Conv and a "
                                "Dense synapse, whose integer grids differ")
        as_weight = [torch.as_tensor(a.reshape(module.weight.shape), dtype=module.weight.dtype)
                     for a in (unit, factor)]
        weights[path] = (*as_weight, conv_grids if conv.pop() else grids,
                         next((n for p, n in pairs.items() if p == path), None))
    return {"weights": weights, "biases": biases, "decays": _decays(model, graph, spec)}


def _quantized(graph, spec, bits: int):
    """(stepped graph, QuantReport, Lower) as lower_to_hw makes them: conv layers whose bias needs
    the bias clock lowered flat (passes.pipeline.run_passes)."""
    from snncompile.passes import Discretize, Lower, Quantize
    from snncompile.passes.quantize import NeedsFlat

    lower = Lower()
    while True:
        stepped = Discretize()(lower(graph))
        try:
            _, report = Quantize(weight_bits=bits)(stepped, spec)
            return stepped, report, lower
        except NeedsFlat as flat:
            lower = dataclasses.replace(lower, flat=lower.flat | flat.layers)


def _composed(graph, lower, owner: dict[str, str]) -> dict[str, np.ndarray]:
    """The grouped synapses' weights of `graph` lowered as `lower` does, by synapse name."""
    from snncompile.passes import Discretize
    from snncompile.passes.assemble import incoming, layers_of

    stepped = Discretize()(lower(graph))
    return {s.name: s.op.weight for t in layers_of(stepped, "qat") for s in incoming(stepped, t)
            if s.name in owner}


def _row_scale(module: nn.Module, path: str, s, c, nn_shape) -> np.ndarray:
    """gain / threshold per row of grouped synapse `s` into layer `c` (per neuron for a Dense,
    per channel for a Conv): composed float weight -> threshold units."""
    n = int(np.prod(nn_shape))
    gain, thr = (np.broadcast_to(np.asarray(a, np.float64).reshape(-1), (n,))
                 for a in (c.gain, c.threshold))
    if s.form == "conv":  # uniform within a channel (the quantize pass refuses otherwise)
        gain, thr = gain.reshape(nn_shape[0], -1)[:, 0], thr.reshape(nn_shape[0], -1)[:, 0]
    if np.any(gain <= 0):
        raise UnsupportedOp(module, f"qat: module {path!r}", "its target's input gain is not "
                            "positive")
    return gain / thr


def _grid(q, synapses: list, rows: list, spec, bits: int, dyadic: bool
          ) -> tuple[int, dict[str, int]]:
    """(vth, {synapse: weight_exp}) of one layer: the compiler's, or with `dyadic` the largest
    power of two not above its vth with the exponents the compiler fits there (a vth the quantize
    pass always tries). Dyadic grids make every weight, bias and sum exact in floats, so a float
    forward breaks a tie at the threshold (v == threshold, frequent once weights sit on a grid)
    as the integers do: no spike."""
    from snncompile.passes.encode import fit_exponent

    exps = {x.name: x.weight_exp for x in q.synapses}
    if not dyadic or q.vth & (q.vth - 1) == 0 or not synapses:
        return q.vth, exps
    vth = 1 << (q.vth.bit_length() - 1)
    fitted = {s.name: fit_exponent(row.reshape(-1, *([1] * (s.op.weight.ndim - 1))) * s.op.weight,
                                   vth, spec, s.form == "conv", bits=bits)
              for s, row in zip(synapses, rows)}
    if any(e is None or e < 0 for e in fitted.values()):
        return q.vth, exps
    return vth, {**exps, **fitted}  # type: ignore[dict-item]


def _bias_unit(module: nn.Module, s, graph, row_unit: np.ndarray,
               folded: bool) -> torch.Tensor | None:
    """One raw v unit per output channel of `module`'s bias (None: no bias, or ops after the
    module in the chain would reshape it, so it stays float)."""
    if not isinstance(graph.nodes[s.op.chain[-1]], _WEIGHTED):
        return None
    if not folded and getattr(module, "bias", None) is None:
        return None
    channels = module.weight.shape[0]
    if len(row_unit) % channels:
        return None
    per = row_unit.reshape(channels, -1)
    if not np.allclose(per, per[:, :1], rtol=1e-9, atol=0):
        return None
    return torch.as_tensor(per[:, 0], dtype=module.weight.dtype)


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
    modules = dict(model.named_modules())
    for name, op in graph.nodes.items():
        if op.kind != "neuron" or (name not in modules and _made_by_front_end(name, graph)):
            continue  # a threshold population the front end made (max pool, SEW gate): exact
        module = modules.get(name)
        if not isinstance(module, layers._Neuron):
            raise UnsupportedOp(module, f"qat: module {name!r}", "QAT mirrors snncompile.nn "
                                "neurons (IF, LIF, CubaLIF, RLIF) only")
        if hasattr(module, "beta"):
            out.append((name, "beta", DecayGrid("voltage", unity, spec.dv_min, spec.dv_max)))
        if hasattr(module, "alpha"):
            out.append((name, "alpha", DecayGrid("current", unity, spec.du_min, spec.du_max)))
    return out


def _made_by_front_end(name: str, graph) -> bool:
    """A neuron node with no module of its own: the torch front end's threshold populations
    (`<pool>.or`, `<gate>.mul`-style names), memoryless LIFs (tau = dt, exact on hardware)."""
    op = graph.nodes[name]
    return isinstance(op, nn_ops.LIF) and bool(np.all(np.asarray(op.tau) == graph.dt))


def _bake_norms(model: nn.Module) -> set[nn.Module]:
    """Write each folded affine BatchNorm into its weight's module (see finalize); returns the
    modules done (their parametrizations removed)."""
    done: set[nn.Module] = set()
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module, "weight"):
            continue
        grid = module.parametrizations["weight"][0]
        norm = grid._norm[0] if grid._norm else None
        if norm is None or not norm.affine or not parametrize.is_parametrized(norm, "bias"):
            continue
        with torch.no_grad():
            weight = grid.folded(module.parametrizations["weight"].original)
            bias = norm.parametrizations["bias"][0].folded(norm.parametrizations["bias"].original)
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        parametrize.remove_parametrizations(norm, "bias", leave_parametrized=False)
        with torch.no_grad():
            module.weight.copy_(weight)
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0)
            norm.weight.fill_(1.0)
            norm.bias.copy_(bias)
        norm.eps = 0.0
        done |= {module, norm}
    return done
