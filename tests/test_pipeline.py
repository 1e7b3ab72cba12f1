"""The pass driver: named steps, the graph checked after each with the pass's name in the error,
and `snncompile compile --dump-after PASS` printing the stage in the stable text form."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile import api
from snncompile.cli import cli
from snncompile.errors import GraphCheckError
from snncompile.ir import text
from snncompile.passes import Quantize, lower_to_hw
from snncompile.passes.pipeline import PASSES
from snncompile.target import load_target

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits.pt"


def dump_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, ["compile", str(DIGITS), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_dump_after_quantize_is_the_hw_graph():
    assert dump_cli("--dump-after", "quantize") == text.dumps(api.lower(api.load(DIGITS))[0])


def test_dump_after_frontend_is_the_nn_graph():
    assert dump_cli("--dump-after", "frontend") == text.dumps(api.load(DIGITS))


@pytest.mark.parametrize("name", ["lower", "discretize"])
def test_dump_after_an_inner_pass_reads_back(name):
    """The graph between the passes: one grouped synapse per layer pair, each layer after its
    inputs (as in the hw graph), the per-step recurrence after discretize; the text parses and
    prints back to the same bytes."""
    dumped = dump_cli("--dump-after", name)
    graph = text.loads(dumped)
    assert text.dumps(graph) == dumped
    layer = "SteppedLayer" if name == "discretize" else "Layer"
    assert [type(op).__name__ for op in graph.nodes.values()] == [
        "Input", "GroupedDense", layer, "GroupedDense", layer, "Output"]
    hw_graph = api.lower(api.load(DIGITS))[0]
    assert list(graph.nodes) == list(hw_graph.nodes) and graph.edges == hw_graph.edges
    assert graph.nodes["0"].weight.shape == hw_graph.nodes["0"].weights.shape
    nn_graph = api.load(DIGITS)
    assert graph.nodes["1"].neuron == nn_graph.nodes["1"]
    if name == "discretize":  # LIF: beta = dt / tau, the gain beta r (passes/discretize.py)
        lif = nn_graph.nodes["1"]
        np.testing.assert_allclose(graph.nodes["1"].beta, nn_graph.dt / lif.tau.reshape(-1))
        np.testing.assert_allclose(graph.nodes["1"].gain, graph.nodes["1"].beta * lif.r.ravel())


def test_every_pass_is_graph_to_graph():
    """The passes hand on nothing but graphs: lower and discretize return Graphs the checker
    accepts; quantize reads the discretized graph alone."""
    from snncompile.ir.check import check
    from snncompile.passes import Discretize, Lower

    target = load_target("emu")
    lowered = check(Lower()(api.load(DIGITS)), "test")
    stepped = check(Discretize()(lowered), "test")
    hw_graph, _ = Quantize()(stepped, target)
    assert text.dumps(hw_graph) == text.dumps(api.lower(api.load(DIGITS))[0])
    with pytest.raises(GraphCheckError, match=r"pass quantize: node '1' is a Layer; lower and "
                                              r"discretize must run first"):
        Quantize()(lowered, target)


def test_unknown_pass_is_refused():
    result = CliRunner().invoke(cli, ["compile", str(DIGITS), "--dump-after", "nope"])
    assert result.exit_code != 0 and "'nope' is not one of" in result.output
    assert PASSES == ("frontend", "lower", "discretize", "quantize", "sparsify")


def test_a_broken_pass_is_named(monkeypatch):
    """A quantize that returns a Dense of the wrong shape fails in the driver's check, which
    names the pass."""
    original = Quantize.__call__

    def broken(self, graph, target):
        graph, report = original(self, graph, target)
        dense = graph.nodes["0"]
        nodes = {**graph.nodes, "0": dataclasses.replace(dense, weights=np.zeros((3, 3), int))}
        return dataclasses.replace(graph, nodes=nodes), report

    monkeypatch.setattr(Quantize, "__call__", broken)
    with pytest.raises(GraphCheckError, match=r"after pass quantize"):
        lower_to_hw(api.load(DIGITS), load_target("emu"))
