"""The passes between the nn and hw graphs as named steps, run by one driver.

Each step is Graph -> Graph: `lower` groups synapse chains (GroupedDense / GroupedConv nodes,
each neuron a Layer), `discretize` gives each Layer its per-step recurrence (SteppedLayer), and
`quantize` makes the hw graph (and, beside it, the QuantReport of what it chose), `sparsify`
stores its mostly-zero Dense ops as Sparse (passes/sparsify.py). The driver runs
them in order, checks the graph after every step (ir.check) with the step's name in the error,
and can hand the stable text form of the graph after any step to `dump` (`snncompile compile
--dump-after PASS`); the graphs between nn and hw read back with ir.text.loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from snncompile import progress
from snncompile.errors import GraphCheckError
from snncompile.ir import text
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.passes.discretize import Discretize
from snncompile.passes.lower import Lower
from snncompile.passes.quantize import NeedsFlat, Quantize
from snncompile.passes.report import QuantReport
from snncompile.passes.sparsify import Sparsify
from snncompile.target import Target

FRONTEND = "frontend"  # the stage before any pass: the checked nn graph


@dataclasses.dataclass(frozen=True)
class Stage:
    """The graph after a step (nn, lowered, discretized, then hw) and quantize's report."""

    graph: Graph
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

    def do_quantize(s: Stage) -> Stage:
        return Stage(*quantize(s.graph, target))

    sparsify = Sparsify()
    return (Step(Lower.name, lambda s: Stage(lower(s.graph))),
            Step(Discretize.name, lambda s: Stage(discretize(s.graph))),
            Step(Quantize.name, do_quantize),
            Step(Sparsify.name, lambda s: Stage(sparsify(s.graph, target), s.report)))


# --dump-after choices
PASSES = (FRONTEND, Lower.name, Discretize.name, Quantize.name, Sparsify.name)


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
                    dumps.append(text.dumps(stage.graph))
            break
        except NeedsFlat as flat:  # conv layers whose bias needs the clock: re-lower flat
            if flat.layers <= lower.flat:
                raise AssertionError(f"layers {flat} are flat already") from None
            lower = dataclasses.replace(lower, flat=lower.flat | flat.layers)
    for dumped in dumps:
        dump(dumped)
    assert stage.report is not None
    return stage.graph, stage.report
