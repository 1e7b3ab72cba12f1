"""Passes from an nn graph to a hw graph: lower (group synapses), discretize (per-step decays at
dt), quantize (integer formats of the target). Each pass is a frozen dataclass whose fields are
its options and whose call maps a Graph to the next Graph (the ops between nn and hw are in
snncompile.ir.lowered_ops); `lower_to_hw` runs them through the driver (pipeline.py), which
checks the graph after every pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snncompile.ir.graph import Graph
from snncompile.passes.discretize import Discretize
from snncompile.passes.lower import Lower
from snncompile.passes.quantize import Quantize
from snncompile.passes.report import LayerQuant, QuantReport, SynapseQuant
from snncompile.target import Target

__all__ = [
    "Discretize", "LayerQuant", "Lower", "QuantReport", "Quantize", "SynapseQuant", "lower_to_hw",
]


def lower_to_hw(graph: Graph, target: Target, lower: Lower | None = None,
                discretize: Discretize | None = None, quantize: Quantize | None = None,
                dump_after: str | None = None, dump: Callable[[str], Any] = print
                ) -> tuple[Graph, QuantReport]:
    """nn graph -> (hw graph in the target's formats, what quantization did per layer); the pass
    arguments carry non-default options. The driver (passes/pipeline.py) checks the graph after
    every pass; `dump_after` names a pass whose stage goes to `dump` as text."""
    from snncompile.passes.pipeline import run_passes

    return run_passes(graph, target, lower, discretize, quantize, dump_after, dump)
