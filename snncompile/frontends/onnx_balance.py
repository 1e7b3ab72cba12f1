"""Data-based threshold balancing for ANN-to-SNN conversion, the ANN semantics of a converted graph,
and the input spike code.

A rate-coded IF neuron with reset by subtraction, threshold th and constant input z fires at rate
min(max(z, 0), th) / th per step (the residue is kept, so nothing is lost but the final remainder).
So a ReLU layer with activations a maps to IF neurons with th = a high percentile of a (values
above it saturate at rate 1, a rare clip that buys resolution for the rest), and a spike of a
layer stands for the value th: every weight that reads spikes is multiplied by its source's th.
Biases are untouched: they add to the same potential, in the ANN's units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import ModelLoadError
from snncompile.ir import nn_ops as nn
from snncompile.ir.graph import Graph
from snncompile.sim.reference import RULES

WEIGHTED = (nn.Conv2d, nn.Affine, nn.Linear, nn.Scale)
PASSING = (nn.SumPool2d, nn.AvgPool2d, nn.Flatten)  # linear, bias-free: spikes pass unscaled


def spiking_source(nodes: dict, edges: Any, name: str) -> str | None:
    """The neuron or input whose spikes reach `name` through bias-free linear ops only, else
    None."""
    op = nodes[name]
    if isinstance(op, (nn.IF, nn.Input)):
        return name
    if not isinstance(op, PASSING):
        return None
    found = {spiking_source(nodes, edges, a) for a, b in edges if b == name}
    if len(found) == 1:
        return found.pop()
    if found == {None} or not found:
        return None
    raise ModelLoadError(f"node {name!r} mixes spikes of different layers before any weight")


def rate_encode(x: np.ndarray, steps: int) -> np.ndarray:
    """(n, *shape) values in [0, 1] -> (n, steps, *shape) 0/1 spikes, value v spiking floor(t v)
    times by step t (evenly spaced, deterministic; clipped to [0, 1]): no Poisson noise to
    average."""
    rate = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    t = np.arange(1, steps + 1).reshape((1, steps) + (1,) * (rate.ndim - 1))
    counts = np.floor(t * rate[:, None] + 1e-9)
    previous = np.floor((t - 1) * rate[:, None] + 1e-9)
    return (counts > previous).astype(np.int8)


def run_ann(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every node's value as the ANN computes it: synapse ops as in the reference, each IF as a
    ReLU scaled to its rate (relu(z) / threshold, unclipped), the readout IF as the identity."""
    readout = graph.meta.get("onnx_readout", "")
    values: dict[str, np.ndarray] = {}
    for name in graph.schedule:
        op = graph.nodes[name]
        if isinstance(op, nn.Input):
            values[name] = np.asarray(x, dtype=np.float64)
            continue
        z = sum(values[p] for p in graph.predecessors(name))
        if isinstance(op, nn.IF):
            z = z if name == readout else np.maximum(z, 0.0)
            values[name] = z / np.asarray(op.v_threshold)
        elif isinstance(op, nn.Output):
            values[name] = z
        else:
            rule = RULES[type(op)]
            values[name] = rule.step(rule.prepare(op, 1.0, np.float64), z, {}).reshape(
                (len(z),) + graph.shapes[name])
    return values


def ann_output(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The ANN's outputs (e.g. logits) of a converted graph, in the ANN's own units."""
    (out,) = graph.outputs
    (src,) = graph.predecessors(out)
    return run_ann(graph, x)[out] * np.asarray(graph.nodes[src].v_threshold)


def _calibration(calibration: Any, graph: Graph, where: str) -> np.ndarray:
    if calibration is None:
        raise ModelLoadError(f"{where}: converting an ANN needs calibration data "
                             "(calibration=array or --calibration X.npy, ANN inputs in [0, 1]) "
                             "to set the thresholds")
    if isinstance(calibration, (str, Path)):
        from snncompile.npy import load_array

        calibration = load_array(calibration, "calibration")
    x = np.asarray(calibration, dtype=np.float64)
    (inp,) = graph.inputs
    shape = graph.shapes[inp]
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise ModelLoadError(f"{where}: calibration data has shape {x.shape}; expected (n, "
                             f"{', '.join(map(str, shape))}) ANN inputs")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ModelLoadError(f"{where}: calibration data spans [{x.min():.3g}, {x.max():.3g}]; the "
                             "spike input encodes values in [0, 1], so scale inputs (and the ANN) "
                             "to that range")
    return x


def thresholds(graph: Graph, x: np.ndarray, percentile: float) -> dict[str, float]:
    """Per IF layer: the percentile of its positive ANN activations (1.0 if it never activates)."""
    values = run_ann(graph, x)
    out = {}
    for name in graph.of_kind("neuron"):
        act = values[name] * np.asarray(graph.nodes[name].v_threshold)
        positive = act[act > 0]
        out[name] = float(np.percentile(positive, percentile)) if positive.size else 1.0
    return out


def balance(graph: Graph, calibration: Any, percentile: float = 99.9, where: str = "") -> Graph:
    """Set each IF threshold to its layer's activation percentile on `calibration`, and scale the
    weights that read spikes by their source's threshold (the input counts as threshold 1)."""
    where = where or str(graph.meta.get("source", "ONNX model"))
    if not 0 < percentile <= 100:
        raise ModelLoadError(f"{where}: percentile {percentile} is not in (0, 100]")
    x = _calibration(calibration, graph, where)
    lam = thresholds(graph, x, percentile)
    nodes = dict(graph.nodes)
    for name, op in graph.nodes.items():
        if name in lam:
            nodes[name] = op.replace(v_threshold=np.full(np.shape(op.v_threshold), lam[name]))
        elif isinstance(op, WEIGHTED):
            sources = {spiking_source(graph.nodes, graph.edges, p)
                       for p in graph.predecessors(name)}
            sources.discard(None)
            if len(sources) > 1:
                raise ModelLoadError(f"{where}: node {name!r} sums spikes of layers "
                                     f"{sorted(sources)} before its weights")
            factor = lam.get(sources.pop(), 1.0) if sources else 1.0
            field = "scale" if isinstance(op, nn.Scale) else "weight"
            nodes[name] = op.replace(**{field: np.asarray(getattr(op, field)) * factor})
    meta = {**graph.meta, "onnx_percentile": float(percentile), "onnx_calibration_samples": len(x)}
    return Graph("nn", nodes, graph.edges, graph.dt, meta)
