"""Passes from an nn graph to a hw graph: lower (group synapses), discretize (per-step decays at dt),
quantize (integer formats of the target). Each pass is a frozen dataclass whose fields are its
options; `lower_to_hw` runs them with the graph checked before and after."""

from __future__ import annotations

import dataclasses

from snncompile.errors import GraphCheckError
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.passes.discretize import Discretize, StepCoeffs
from snncompile.passes.lower import Lower, Lowered
from snncompile.passes.quantize import NeedsFlat, Quantize
from snncompile.passes.report import LayerQuant, QuantReport, SynapseQuant
from snncompile.target import Target

__all__ = [
    "Discretize", "LayerQuant", "Lower", "Lowered", "QuantReport", "Quantize", "StepCoeffs",
    "SynapseQuant", "lower_to_hw",
]


def lower_to_hw(graph: Graph, target: Target, lower: Lower | None = None,
                discretize: Discretize | None = None,
                quantize: Quantize | None = None) -> tuple[Graph, QuantReport]:
    """nn graph -> (hw graph in the target's formats, what quantization did per layer); the pass
    arguments carry non-default options."""
    if graph.level != "nn":
        raise GraphCheckError(f"pass lower: expected an nn graph, got level {graph.level!r}")
    check(graph, "pass lower (input)")
    lower = lower or Lower()
    while True:
        lowered = lower(graph)
        coeffs = (discretize or Discretize())(lowered)
        try:
            hw_graph, report = (quantize or Quantize())(lowered, coeffs, target)
            break
        except NeedsFlat as flat:  # conv layers whose bias needs the clock: re-lower flat
            if flat.layers <= lower.flat:
                raise AssertionError(f"layers {flat} are flat already") from None
            lower = dataclasses.replace(lower, flat=lower.flat | flat.layers)
    check(hw_graph, "pass quantize (output)")
    return hw_graph, report
