"""Deep-SNN blocks of the torch front end: BatchNorm (folded), max pooling on spikes, SEW gates.

* BatchNorm1d/2d (eval mode; SpikingJelly's BatchNorm2d and tdBN are subclasses) is the
  per-channel affine y = scale * x + shift with scale = weight / sqrt(running_var + eps),
  shift = bias - running_mean * scale. It is read as an explicit per-channel synapse
  (`per_channel`) and `fold_norms` then folds it into the Linear/Affine/Conv before it when that
  synapse feeds nothing else (W' = scale * W, b' = scale * b + shift, exact in real arithmetic).
  Otherwise it stays a per-channel synapse that `lower` composes into the chain to the next
  neurons, i.e. into their input weights and bias (what the issue calls folding into the
  neurons that follow).
* Max pooling on binary spikes is an OR over the window: a SumPool2d (zero padding, which for
  spikes is the same as max pooling's -inf padding) into a `threshold_population` that fires
  where the count exceeds 1/2. On hardware that population adds one step of latency, aligned by
  `lower` like any layer. Inputs that are not a spiking layer's output are refused.
* SEW-ResNet's AND (a * b) and IAND (a * (1 - b)) of two spike tensors are threshold
  populations too: a + b > 1.5 and a - b > 0.5. ADD is a plain sum of edges into the consumer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from snncompile.ir import nn_ops
from snncompile.ir.conv_geometry import pair
from snncompile.ir.graph import Graph

FOLDABLE = (nn_ops.Linear, nn_ops.Affine, nn_ops.Conv1d, nn_ops.Conv2d)


def _np(value: Any) -> np.ndarray:
    return np.asarray(value.detach().cpu().double().numpy() if hasattr(value, "detach") else value,
                      dtype=np.float64)


def norm_affine(mean: Any, var: Any, eps: float, weight: Any = None, bias: Any = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) of an eval-mode batch norm: y = scale * x + shift per channel."""
    mean, var = _np(mean), _np(var)
    weight = np.ones_like(mean) if weight is None else _np(weight)
    bias = np.zeros_like(mean) if bias is None else _np(bias)
    scale = weight / np.sqrt(var + float(eps))
    return scale, bias - mean * scale


def per_channel(scale: np.ndarray, shift: np.ndarray, shape: tuple[int, ...]) -> nn_ops.NNOp:
    """The per-channel affine on a (C,), (C, L) or (C, H, W) input as an nn synapse op."""
    c = len(scale)
    if len(shape) == 1:
        return nn_ops.Affine(weight=np.diag(scale), bias=shift.copy())
    if len(shape) == 2:
        return nn_ops.Conv1d(weight=scale.reshape(c, 1, 1), bias=shift.copy(), groups=c)
    return nn_ops.Conv2d(weight=scale.reshape(c, 1, 1, 1), bias=shift.copy(), groups=c)


def batchnorm(b: Any, m: nn.modules.batchnorm._BatchNorm, path: str) -> None:
    """Read an eval-mode BatchNorm1d/2d as a per-channel synapse (folded later)."""
    if len(b.shape) not in (1, 2, 3) or b.shape[0] != m.num_features:
        raise b.fail(m, path, f"its input has shape {b.shape}; it normalizes the "
                              f"{m.num_features} channels of a (C,), (C, L) or (C, H, W) input")
    if m.running_mean is None or m.running_var is None:
        raise b.fail(m, path, "it keeps no running statistics (track_running_stats=False), so "
                              "its eval output depends on the batch")
    scale, shift = norm_affine(m.running_mean, m.running_var, m.eps,
                               m.weight if m.affine else None, m.bias if m.affine else None)
    b.add(path, per_channel(scale, shift, b.shape))
    b.norms.add(path)


def fold_norms(graph: Graph, norms: set[str]) -> Graph:
    """Fold each per-channel norm node in `norms` into the synapse before it where that synapse
    is a Linear/Affine/Conv that feeds only the norm; the result keeps the synapse's name."""
    nodes, edges = dict(graph.nodes), list(graph.edges)
    for name in [n for n in graph.nodes if n in norms]:
        prev = _foldable_into(nodes, edges, name)
        if prev is None:
            continue
        norm, op = nodes[name], nodes[prev]
        scale = np.diag(norm.weight) if isinstance(norm, nn_ops.Affine) else norm.weight.ravel()
        shape = (-1,) + (1,) * (op.weight.ndim - 1)
        bias = getattr(op, "bias", None)
        bias = np.zeros(op.weight.shape[0]) if bias is None else bias
        fields = {"weight": op.weight * scale.reshape(shape), "bias": bias * scale + norm.bias}
        folded = (nn_ops.Affine(**fields) if isinstance(op, nn_ops.Linear)
                  else op.replace(**fields))
        # the folded synapse keeps its name and takes over the norm's outputs
        nodes = {n: (folded if n == prev else o) for n, o in nodes.items() if n != name}
        edges = [(prev if a == name else a, b) for a, b in edges if b != name]
    return graph.replace(nodes=nodes, edges=tuple(edges))


def _foldable_into(nodes: dict, edges: list, name: str) -> str | None:
    """The Linear/Affine/Conv that norm `name` folds into: its one predecessor, if that feeds
    only the norm; else None."""
    preds = [a for a, b in edges if b == name]
    if len(preds) != 1 or type(nodes[preds[0]]) not in FOLDABLE or preds[0] == name:
        return None
    return preds[0] if [b for a, b in edges if a == preds[0]] == [name] else None


def norm_pairs(graph: Graph, norms: set[str]) -> dict[str, str]:
    """{synapse: norm} for the norms `fold_norms` folds (read on the unfolded graph)."""
    pairs = {}
    for name in [n for n in graph.nodes if n in norms]:
        prev = _foldable_into(dict(graph.nodes), list(graph.edges), name)
        if prev is not None:
            pairs[prev] = name
    return pairs


def threshold_population(b: Any, name: str, threshold: float) -> None:
    """A memoryless threshold neuron per element: v = x each step (LIF with tau = dt),
    s = v > threshold, reset to zero. Exact for the integer-valued inputs it is used on."""
    ones = np.ones(b.shape)
    b.add(name, nn_ops.LIF(tau=ones * b.dt, r=ones, v_leak=0 * ones, v_threshold=threshold * ones,
                           v_reset=0 * ones, reset="zero", reset_timing="immediate"))


def is_spiking(b: Any, source: Any) -> bool:
    """Whether the builder's value `source` (a node name) is a spiking layer's binary output."""
    return isinstance(source, str) and b.nodes[source].kind == "neuron"


def maxpool(b: Any, m: nn.MaxPool2d, path: str) -> None:
    """MaxPool2d on binary spikes: an OR over each window (module docstring)."""
    if not is_spiking(b, b.last):
        raise b.fail(m, path, "its input is not a spiking layer's output; max pooling is "
                              "compiled only on binary spikes, where it is an OR over the window")
    if m.ceil_mode or m.return_indices or pair(m.dilation) != (1, 1) or len(b.shape) != 3:
        raise b.fail(m, path, "ceil_mode, return_indices, dilation and non-(C, H, W) inputs have "
                              "no IR form")
    stride = m.kernel_size if m.stride is None else m.stride
    b.add(path, nn_ops.SumPool2d(kernel_size=pair(m.kernel_size),
                                 stride=pair(stride), padding=pair(m.padding)))
    threshold_population(b, f"{path}.or", 0.5)


def gate(b: Any, name: str, a: str, other: str, inverted: bool, where: str) -> str:
    """SEW AND (a * other) or IAND (a * (1 - other)) of two spike tensors as a threshold
    population; returns its node name."""
    from snncompile.errors import UnsupportedOp

    for value in (a, other):
        if not is_spiking(b, value):
            raise UnsupportedOp(name, f"{b.source}: {where}",
                                f"{'IAND' if inverted else 'AND'} multiplies {value!r}, which is "
                                "not a spiking layer's output; only binary spikes are gated")
    shape = b.shapes[a]
    if b.shapes[other] != shape:
        raise UnsupportedOp(name, f"{b.source}: {where}",
                            f"it multiplies shapes {shape} and {b.shapes[other]}")
    for value, sign in ((a, 1.0), (other, -1.0 if inverted else 1.0)):
        b.last, b.shape = value, shape
        b.add(f"{name}.{value}", nn_ops.Scale(scale=np.full(shape, sign)))
    b.last = (f"{name}.{a}", f"{name}.{other}")
    threshold_population(b, name, 0.5 if inverted else 1.5)
    return name
