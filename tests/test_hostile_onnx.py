"""ONNX external data is confined to the model's folder (issue 20): absolute or '..' locations,
links out of the folder and a Constant with external data reading a file of the working
directory are refused with one sentence; data beside the model is read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_inprocess import assert_refused, invoke
from onnx import helper

from snncompile.errors import ModelLoadError
from snncompile.frontends.onnx import read

REPO = Path(__file__).resolve().parents[1]
CNN = REPO / "examples" / "ann_conversion" / "digits_cnn.onnx"


@pytest.fixture()
def external(tmp_path) -> Path:
    """The digits CNN with every weight in model/w.bin beside it."""
    model = onnx.load(str(CNN))
    path = tmp_path / "model" / "cnn.onnx"
    path.parent.mkdir()
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="w.bin", size_threshold=0)
    return path


def _relocate(path: Path, location: str) -> None:
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(model, str(path))


def test_external_data_beside_the_model_is_read(external):
    a, b = read(CNN), read(external)
    assert list(a.nodes) == list(b.nodes)
    for name, op in a.nodes.items():
        for key, value in op.params().items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, b.nodes[name].params()[key])


def test_onnx_external_data_at_an_absolute_location_is_refused(external):
    _relocate(external, str(external.parent / "w.bin"))  # was ValidationError from onnx
    with pytest.raises(ModelLoadError, match="absolute location"):
        read(external)


def test_onnx_external_data_with_dotdot_is_refused(external, tmp_path):
    (tmp_path / "w.bin").write_bytes((external.parent / "w.bin").read_bytes())
    _relocate(external, "../w.bin")
    with pytest.raises(ModelLoadError, match=r"outside the model's folder \('..'\)"):
        read(external)


def test_onnx_external_data_through_a_symlink_out_is_refused(external, tmp_path):
    os.replace(external.parent / "w.bin", tmp_path / "w.bin")
    (external.parent / "w.bin").symlink_to(tmp_path / "w.bin")
    with pytest.raises(ModelLoadError, match="leads out of the model's folder"):
        read(external)


def test_onnx_constant_with_external_data_does_not_read_the_working_directory(
        tmp_path, monkeypatch):
    """A Constant whose tensor names external data used to be read relative to the cwd."""
    monkeypatch.chdir(tmp_path)
    Path("secret.txt").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    value = helper.make_tensor("c", onnx.TensorProto.FLOAT, [4], [0.0] * 4)
    value.ClearField("float_data")
    value.data_location = onnx.TensorProto.EXTERNAL
    value.external_data.add(key="location", value="secret.txt")
    const = helper.make_node("Constant", [], ["w"], value=value)
    mul = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph(
        [const, mul], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    folder = tmp_path / "models"
    folder.mkdir()
    onnx.save_model(helper.make_model(graph), str(folder / "m.onnx"))
    assert_refused(invoke(folder / "m.onnx", "--calibration", "x.npy"), "secret.txt",
                   "does not exist beside the model")
