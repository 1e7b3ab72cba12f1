"""A model file cannot write files (issue 20): a newline in a node name (.nir), a module name
(.pt) or a `/snncompile` graph name (.net) used to end a `//` comment in the generated Verilog
and inject `$fopen`/`$fdisplay`; every name that reaches a generated file is checked first."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch
from cli_inprocess import assert_refused, invoke

import snncompile.nn as snn
from snncompile import api
from snncompile.ir.graph import Graph
from snncompile.ir.hdf5 import write_graph
from snncompile.ir.values import unsafe_text

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"
INJECTED = 'x\n$fdisplay($fopen("pwned"), "owned");\n'


def _renamed(graph: Graph, old: str, new: str) -> Graph:
    nodes = {new if k == old else k: v for k, v in graph.nodes.items()}
    edges = tuple((new if a == old else a, new if b == old else b) for a, b in graph.edges)
    return graph.replace(nodes=nodes, edges=edges)


def _assert_no_build(result, tmp_path: Path) -> None:
    assert_refused(result, "U+000A")
    assert not (tmp_path / "b").exists() and not (tmp_path / "pwned").exists()


def test_newline_in_a_nir_node_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([2])),
        INJECTED: nir.Affine(weight=np.ones((2, 2)), bias=np.zeros(2)),
        "lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                       v_threshold=np.ones(2)),
        "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", INJECTED), (INJECTED, "lif"), ("lif", "output")], type_check=False)
    nir.write(tmp_path / "m.nir", graph)
    _assert_no_build(invoke(tmp_path / "m.nir", "-t", "fpga", "-o", "b"), tmp_path)


def test_newline_in_a_pt_module_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = torch.nn.Sequential(OrderedDict([(INJECTED, torch.nn.Linear(4, 3)),
                                             ("lif", snn.LIF(3, beta=0.9))]))
    torch.save(model, tmp_path / "m.pt")
    result = invoke(tmp_path / "m.pt", "--input-shape", "4", "-t", "fpga", "-o", "b")
    _assert_no_build(result, tmp_path)


def test_newline_in_a_net_snncompile_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hw = api.compile_model(DIGITS, "emu").hw_graph
    syn = next(n for n in hw.nodes if hw.nodes[n].kind == "synapse")
    with h5py.File(tmp_path / "m.net", "w") as f:
        write_graph(_renamed(hw, syn, INJECTED), f.create_group("snncompile"))
    _assert_no_build(invoke(tmp_path / "m.net", "-t", "fpga", "-o", "b"), tmp_path)


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "a\u2028b", "a\u202eb", "a\x00b", "x" * 300])
def test_unsafe_text_is_named(text):
    assert unsafe_text(text)


@pytest.mark.parametrize("text", ["lif1.w_rec", "layer0_syn", "Conv_0/weights:0", "ü µ"])
def test_ordinary_names_pass(text):
    assert unsafe_text(text) is None
