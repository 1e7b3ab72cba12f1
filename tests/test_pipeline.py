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
    """The lowered view: one synapse node per lowered synapse group, coefficients after
    discretize; the text parses and prints back to the same bytes."""
    dumped = dump_cli("--dump-after", name)
    graph = text.loads(dumped)
    assert text.dumps(graph) == dumped
    assert [type(op).__name__ for op in graph.nodes.values()] == [
        "Input", "LIF", "LIF", "Linear", "Linear", "Output"]
    assert ("1.step" in graph.meta) == (name == "discretize")
    hw_graph = api.lower(api.load(DIGITS))[0]
    assert graph.nodes["0"].weight.shape == hw_graph.nodes["0"].weights.shape


def test_unknown_pass_is_refused():
    result = CliRunner().invoke(cli, ["compile", str(DIGITS), "--dump-after", "nope"])
    assert result.exit_code != 0 and "'nope' is not one of" in result.output
    assert PASSES == ("frontend", "lower", "discretize", "quantize")


def test_a_broken_pass_is_named(monkeypatch):
    """A quantize that returns a Dense of the wrong shape fails in the driver's check, which
    names the pass."""
    original = Quantize.__call__

    def broken(self, lowered, coeffs, target):
        graph, report = original(self, lowered, coeffs, target)
        dense = graph.nodes["0"]
        nodes = {**graph.nodes, "0": dataclasses.replace(dense, weights=np.zeros((3, 3), int))}
        return dataclasses.replace(graph, nodes=nodes), report

    monkeypatch.setattr(Quantize, "__call__", broken)
    with pytest.raises(GraphCheckError, match=r"after pass quantize"):
        lower_to_hw(api.load(DIGITS), load_target("emu"))
