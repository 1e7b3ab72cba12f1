"""Any nn graph either lowers to a checked hw graph that the emulator runs, or is refused with a
one-sentence SnnCompileError; never another exception, never a graph that fails later."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from strategies import nn_graphs

from snncompile.errors import SnnCompileError
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.passes import lower_to_hw
from snncompile.sim.emulator import run_emulator
from snncompile.target import load_target

TARGET = load_target("emu")
OUTCOMES: dict[str, int] = {}


@settings(max_examples=150, deadline=None)
@given(nn_graphs())
def test_lowering_succeeds_or_says_why(graph: Graph) -> None:
    try:
        hw_graph, report = lower_to_hw(graph, TARGET)
    except SnnCompileError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        OUTCOMES[type(exc).__name__] = OUTCOMES.get(type(exc).__name__, 0) + 1
        return
    OUTCOMES["lowered"] = OUTCOMES.get("lowered", 0) + 1
    check(hw_graph, "test")
    assert len(report.layers) == len(graph.of_kind("neuron"))
    (inp,) = graph.inputs
    x = (np.random.default_rng(0).random((2, 5, *graph.shapes[inp])) < 0.3).astype(np.int8)
    result = run_emulator(hw_graph, x)
    (out,) = hw_graph.outputs
    assert result.outputs[out].shape == (2, 5, *graph.shapes[graph.outputs[0]])


def test_some_generated_graphs_lower():
    """Guard against the property passing vacuously (every graph refused)."""
    test_lowering_succeeds_or_says_why()
    assert OUTCOMES.get("lowered", 0) >= 10, OUTCOMES
