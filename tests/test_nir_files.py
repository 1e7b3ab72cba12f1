"""Every NIR file of the NIR paper loads to a checked nn graph and runs in the reference."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import nir
import numpy as np
import pytest

from snncompile.errors import ModelLoadError
from snncompile.frontends import load_model
from snncompile.ir.check import check
from snncompile.sim.reference import run_reference

EXPECTED = {  # file -> (op type counts, input shape, output shape, recurrent edges)
    "01_lif/lif_norse.nir": (
        {"Input": 1, "Affine": 1, "LIF": 1, "Output": 1}, (1,), (1,), set()),
    "02_cnn/cnn_sinabs.nir": (
        {"Input": 1, "Conv2d": 3, "IF": 5, "SumPool2d": 2, "Flatten": 1, "Affine": 2, "Output": 1},
        (2, 34, 34), (10,), set()),
    "03_rnn/braille_noDelay_bias_zero.nir": (
        {"Input": 1, "Affine": 3, "CubaLIF": 2, "Output": 1}, (12,), (7,),
        {("lif1.w_rec", "lif1.lif")}),
    "03_rnn/braille_noDelay_noBias_subtract.nir": (
        {"Input": 1, "Linear": 3, "CubaLIF": 2, "Output": 1}, (12,), (7,),
        {("lif1.w_rec", "lif1.lif")}),
}


def test_every_file_is_listed(third_party) -> None:
    found = {str(p.relative_to(third_party / "nir-paper")) for p in
             (third_party / "nir-paper").rglob("*.nir")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_loads_and_runs(third_party, name: str) -> None:
    counts, in_shape, out_shape, recurrent = EXPECTED[name]
    graph = check(load_model(third_party / "nir-paper" / name))
    assert graph.level == "nn" and graph.dt == 1e-4
    assert graph.meta == {"source": Path(name).name, "frontend": "nir"}
    assert Counter(type(op).__name__ for op in graph.nodes.values()) == counts
    (inp,), (out,) = graph.inputs, graph.outputs
    assert graph.shapes[inp] == in_shape and graph.shapes[out] == out_shape
    assert set(graph.recurrent_edges) == recurrent
    for n in graph.of_kind("neuron"):
        op = graph.nodes[n]
        assert (op.reset, op.reset_timing) == ("zero", "immediate")
    x = (np.random.default_rng(0).random((2, 6) + in_shape) < 0.3).astype(np.float64)
    result = run_reference(graph, x, record=True)
    assert result[out].shape == (2, 6) + out_shape
    for n in graph.of_kind("neuron"):
        assert set(np.unique(result[n])) <= {0.0, 1.0}


def test_cnn_shapes(third_party) -> None:
    graph = load_model(third_party / "nir-paper" / "02_cnn" / "cnn_sinabs.nir")
    assert graph.shapes["0"] == (16, 16, 16) and graph.shapes["4"] == (16, 8, 8)
    assert graph.shapes["8"] == (128,) and graph.shapes["9"] == (256,)


def test_read_options_reach_every_neuron(third_party) -> None:
    path = third_party / "nir-paper" / "03_rnn" / "braille_noDelay_noBias_subtract.nir"
    graph = load_model(path, reset="subtract", reset_timing="next_step", dt=1e-3)
    assert graph.dt == 1e-3
    for n in graph.of_kind("neuron"):
        assert (graph.nodes[n].reset, graph.nodes[n].reset_timing) == ("subtract", "next_step")


def test_unknown_nir_node_names_file_node_and_type(tmp_path) -> None:
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])),
               "leaky": nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "leaky"), ("leaky", "output")])
    path = tmp_path / "li.nir"
    nir.write(path, graph)
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    message = str(err.value)
    assert str(path) in message and "'leaky'" in message and "LI" in message
    assert "\n" not in message


def test_nested_graph_is_flattened() -> None:
    from snncompile.frontends.nir import from_nir

    inner = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([2])),
               "lif": nir.LIF(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2),
                              v_threshold=np.ones(2), v_reset=np.zeros(2)),
               "w_rec": nir.Linear(weight=np.eye(2)),
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False)
    outer = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])),
               "fc": nir.Linear(weight=np.ones((2, 3))), "rnn": inner,
               "output": nir.Output(output_type=np.array([2]))},
        edges=[("input", "fc"), ("fc", "rnn"), ("rnn", "output")], type_check=False)
    graph = check(from_nir(outer))
    assert list(graph.nodes) == ["input", "fc", "rnn.lif", "rnn.w_rec", "output"]
    assert set(graph.edges) == {("input", "fc"), ("fc", "rnn.lif"), ("rnn.lif", "rnn.w_rec"),
                                ("rnn.w_rec", "rnn.lif"), ("rnn.lif", "output")}
    assert graph.recurrent_edges == {("rnn.w_rec", "rnn.lif")}


@pytest.mark.parametrize("name,text", [("model.xyz", "unknown model file type"),
                                       ("missing.nir", "no such model file")])
def test_load_model_errors_are_one_sentence(tmp_path, name: str, text: str) -> None:
    path = tmp_path / name
    if name.endswith(".xyz"):
        path.write_bytes(b"")
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    message = str(err.value)
    assert text in message and str(path) in message and ".nir" in message and ".pt" in message
    assert "\n" not in message


def test_garbage_nir_file(tmp_path) -> None:
    path = tmp_path / "bad.nir"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ModelLoadError, match="not a readable NIR file"):
        load_model(path)
