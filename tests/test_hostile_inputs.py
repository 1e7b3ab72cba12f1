"""Semantically hostile values (issue 20): each used to end in `internal error` (MemoryError,
reshape of size 0, ZeroDivisionError, non-positive groups, RecursionError, negative delays, conv
group mismatches) and is now one sentence; a 1,000-op pooling chain compiles."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch
from cli_inprocess import assert_refused, invoke

import snncompile.nn as snn

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


def _lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                   v_threshold=np.ones(n))


def _nir(path: Path, nodes: dict, edges: list, metadata: dict | None = None) -> Path:
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {},
                                 type_check=False))
    return path


def _dense_graph(tmp_path: Path, weight: np.ndarray, metadata: dict | None = None) -> Path:
    m, n = weight.shape
    return _nir(tmp_path / "m.nir", {
        "input": nir.Input(input_type=np.array([n])), "a": nir.Linear(weight=weight),
        "lif": _lif(m), "output": nir.Output(output_type=np.array([m]))},
        [("input", "a"), ("a", "lif"), ("lif", "output")], metadata)


def _conv_graph(tmp_path: Path, groups: int, c_in: int = 2) -> Path:
    return _nir(tmp_path / "m.nir", {
        "input": nir.Input(input_type=np.array([c_in, 6, 6])),
        "a": nir.Conv2d(input_shape=(6, 6), weight=np.ones((2, 1, 3, 3)), stride=1, padding=0,
                        dilation=1, groups=groups, bias=np.zeros(2)),
        "f": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0),
        "lif": _lif(32), "output": nir.Output(output_type=np.array([32]))},
        [("input", "a"), ("a", "f"), ("f", "lif"), ("lif", "output")])


def test_a_pooling_chain_of_1000_ops_does_not_overflow_recursion(tmp_path):
    nodes = {"input": nir.Input(input_type=np.array([1, 4, 4]))}
    edges, prev = [], "input"
    for i in range(1000):
        nodes[f"p{i}"] = nir.SumPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]),
                                       padding=np.array([0, 0]))
        edges.append((prev, f"p{i}"))
        prev = f"p{i}"
    nodes.update({"f": nir.Flatten(input_type={"input": np.array([1, 4, 4])}, start_dim=0),
                  "lif": _lif(16), "output": nir.Output(output_type=np.array([16]))})
    edges += [(prev, "f"), ("f", "lif"), ("lif", "output")]
    code, _, err = invoke(_nir(tmp_path / "chain.nir", nodes, edges))
    assert code == 0 or (code == 2 and err.startswith("error: ")), err
    assert "RecursionError" not in err and "internal error" not in err


def test_an_absurd_declared_shape_is_refused_with_the_numbers(tmp_path):
    # was "MemoryError: Unable to allocate 7.28 TiB"
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), snn.LIF(3))
    torch.save(model, tmp_path / "m.pt")
    line = assert_refused(invoke(tmp_path / "m.pt", "--input-shape", "999999999999"), "budget")
    assert "999,999,999,999" in line


@pytest.mark.parametrize("shape", [(0, 4, 64), (2, 0, 64)])
def test_empty_inputs_are_one_sentence(tmp_path, shape):  # was "cannot reshape array of size 0"
    assert invoke(DIGITS, "-o", tmp_path / "b")[0] == 0
    np.save(tmp_path / "x.npy", np.zeros(shape))
    assert_refused(invoke("run", tmp_path / "b", "-i", tmp_path / "x.npy", "-o",
                          tmp_path / "y.npy"), "input has shape")


def test_a_zero_size_layer_is_refused(tmp_path):
    assert_refused(invoke(_dense_graph(tmp_path, np.zeros((3, 0)))), "m.nir")


def test_nan_weights_are_refused_by_node(tmp_path):
    weight = np.ones((3, 2))
    weight[0, 0] = np.nan
    assert_refused(invoke(_dense_graph(tmp_path, weight)), "'a'", "NaN")


@pytest.mark.parametrize("groups", [0, -1])
def test_non_positive_groups_are_refused(tmp_path, groups):  # was RuntimeError from torch
    assert_refused(invoke(_conv_graph(tmp_path, groups)), "m.nir")


def test_a_conv_group_shape_mismatch_is_refused(tmp_path):
    assert_refused(invoke(_conv_graph(tmp_path, groups=1, c_in=3)), "m.nir")


def test_deeply_nested_json_metadata_is_one_sentence(tmp_path):  # was RecursionError
    meta = {"snncompile.meta": "[" * 200_000 + "]" * 200_000}
    assert_refused(invoke(_dense_graph(tmp_path, np.ones((3, 2)), meta)), "metadata")


@pytest.mark.parametrize("delay", [-(2**63), -1])
def test_negative_netx_delays_are_refused(tmp_path, delay):
    """was ValueError: delay -9223372036854775808 is negative (huge delays are clamped to 62,
    as lava-dl's netx does)"""
    path = tmp_path / "m.net"
    shutil.copy(REPO / "tests" / "fuzz_corpus" / "tiny_netx.net", path)
    assert invoke(path)[0] == 0
    with h5py.File(path, "r+") as f:
        weight = f["layer/2/weight"][()]
        f["layer/2/delay"] = np.full(weight.shape, delay, dtype=np.int64)
    assert_refused(invoke(path), "m.net")


def test_an_object_npy_input_is_refused_without_unpickling(tmp_path):
    assert invoke(DIGITS, "-o", tmp_path / "b")[0] == 0
    np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_refused(invoke("run", tmp_path / "b", "-i", tmp_path / "x.npy", "-o",
                          tmp_path / "y.npy"), "Python objects")


@pytest.mark.parametrize(("args", "word"), [
    (["--dt", "0"], "dt"), (["--dt", "nan"], "dt"),
    (["estimate", "-t", "loihi2", "--steps", "0"], "steps"),
    (["estimate", "-t", "loihi2", "--rate", "nan"], "rate")])
def test_zero_and_nan_option_values_are_one_sentence(args, word):  # was ZeroDivisionError
    argv = [args[0], str(DIGITS), *args[1:]] if args[0] == "estimate" else [str(DIGITS), *args]
    assert_refused(invoke(*argv), word)


@pytest.mark.parametrize("delay", [np.nan, np.inf, -np.inf, 1e300])
def test_non_finite_nir_delays_are_refused(tmp_path, delay):
    """was ValueError: delay -9223372036854775808 is negative (NaN cast to int64)"""
    path = _nir(tmp_path / "m.nir", {
        "input": nir.Input(input_type=np.array([2])), "d": nir.Delay(delay=np.full(2, delay)),
        "a": nir.Linear(weight=np.ones((3, 2))), "lif": _lif(3),
        "output": nir.Output(output_type=np.array([3]))},
        [("input", "d"), ("d", "a"), ("a", "lif"), ("lif", "output")])
    assert_refused(invoke(path), "'d'", "Delay")
