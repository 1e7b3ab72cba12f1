"""The passes between the nn and hw graphs as named steps, run by one driver.

Each step takes the Stage so far and returns the next; the driver runs them in order, checks the
graph after every step (ir.check) with the step's name in the error, and can hand the stable text
form of the stage after any step to `dump` (`snncompile compile --dump-after PASS`).

`lower` and `discretize` still hand on their own products (the Lowered synapse groups, the
per-layer StepCoeffs) next to the unchanged nn graph; their text form is `stage_graph`, a graph
view of those products (one nn synapse op per lowered synapse group, the coefficients in meta).
`quantize` makes the hw graph.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from snncompile import progress
from snncompile.errors import GraphCheckError
from snncompile.ir import nn_ops as nn
from snncompile.ir import text
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.passes.discretize import Discretize, StepCoeffs
from snncompile.passes.lower import Lower, Lowered
from snncompile.passes.quantize import NeedsFlat, Quantize
from snncompile.passes.report import QuantReport
from snncompile.target import Target

FRONTEND = "frontend"  # the stage before any pass: the checked nn graph


@dataclasses.dataclass(frozen=True)
class Stage:
    """The graph (nn until quantize, then hw) and what the passes so far have made."""

    graph: Graph
    lowered: Lowered | None = None
    coeffs: dict[str, StepCoeffs] | None = None
    report: QuantReport | None = None


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Stage], Stage]


def steps(target: Target, lower: Lower | None = None, discretize: Discretize | None = None,
          quantize: Quantize | None = None) -> tuple[Step, ...]:
    """The passes from nn to hw in order, with their options."""
    lower, discretize = lower or Lower(), discretize or Discretize()
    quantize = quantize or Quantize()

    def do_lower(s: Stage) -> Stage:
        return dataclasses.replace(s, lowered=lower(s.graph))

    def do_discretize(s: Stage) -> Stage:
        assert s.lowered is not None
        return dataclasses.replace(s, coeffs=discretize(s.lowered))

    def do_quantize(s: Stage) -> Stage:
        assert s.lowered is not None and s.coeffs is not None
        hw_graph, report = quantize(s.lowered, s.coeffs, target)
        return dataclasses.replace(s, graph=hw_graph, report=report)

    return (Step(Lower.name, do_lower), Step(Discretize.name, do_discretize),
            Step(Quantize.name, do_quantize))


PASSES = (FRONTEND, Lower.name, Discretize.name, Quantize.name)  # --dump-after choices


def run_passes(graph: Graph, target: Target, lower: Lower | None = None,
               discretize: Discretize | None = None, quantize: Quantize | None = None,
               dump_after: str | None = None, dump: Callable[[str], Any] = print
               ) -> tuple[Graph, QuantReport]:
    """nn graph -> (hw graph, QuantReport): every step, the graph checked after each; with
    `dump_after`, dump(text of the stage after that step). A quantize that finds conv layers
    whose bias needs the bias clock (NeedsFlat) sends the run back to lower them flat."""
    if dump_after is not None and dump_after not in PASSES:
        raise GraphCheckError(f"--dump-after {dump_after!r}: no such pass (passes: "
                              f"{', '.join(PASSES)})")
    if graph.level != "nn":
        raise GraphCheckError(f"pass lower: expected an nn graph, got level {graph.level!r}")
    start = Stage(check(graph, "pass lower (input)"))
    lower = lower or Lower()
    while True:
        dumps: list[str] = [text.dumps(start.graph)] if dump_after == FRONTEND else []
        try:
            stage = start
            for step in steps(target, lower, discretize, quantize):
                with progress.stage(f"pass {step.name}"):
                    stage = step.run(stage)
                check(stage.graph, f"after pass {step.name}")
                if dump_after == step.name:
                    dumps.append(text.dumps(stage_graph(stage)))
            break
        except NeedsFlat as flat:  # conv layers whose bias needs the clock: re-lower flat
            if flat.layers <= lower.flat:
                raise AssertionError(f"layers {flat} are flat already") from None
            lower = dataclasses.replace(lower, flat=lower.flat | flat.layers)
    for dumped in dumps:
        dump(dumped)
    assert stage.report is not None
    return stage.graph, stage.report


def stage_graph(stage: Stage) -> Graph:
    """The graph a stage is dumped as: the hw graph once quantized, else the lowered view."""
    if stage.report is not None or stage.lowered is None:
        return stage.graph
    low = stage.lowered
    nodes: dict[str, Any] = {low.input: nn.Input(tuple(low.input_shape))}
    edges: list[tuple[str, str]] = []
    meta: dict[str, Any] = {**low.meta, "stage": "lowered"}
    for name, layer in low.layers.items():
        nodes[name] = layer.op
        meta[f"{name}.bias_now"], meta[f"{name}.bias_late"] = layer.bias_now, layer.bias_late
        meta[f"{name}.depth"] = layer.depth
    for s in low.synapses:
        if s.kind == "conv":
            op: Any = nn.Conv2d(s.weight, np.zeros(s.weight.shape[0]), s.stride, s.padding,
                                s.dilation, s.groups)
        elif s.delays is not None:
            op = nn.DelayLinear(s.weight, s.delays)
        else:
            op = nn.Linear(s.weight)
        nodes[s.name] = op
        edges += [(s.source, s.name), (s.name, s.target)]
    for out, shape, src in low.outputs:
        nodes[out] = nn.Output(tuple(shape))
        edges.append((src, out))
    for name, c in (stage.coeffs or {}).items():
        meta[f"{name}.step"] = dataclasses.asdict(c)
    return Graph("nn", nodes, tuple(edges), low.dt, {k: _plain(v) for k, v in meta.items()})


def _plain(value: Any) -> Any:
    """Meta as JSON: arrays as (nested) lists, dicts entry by entry, so text.loads reads it."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value
