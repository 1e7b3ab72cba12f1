"""Hostile input found by the fuzz categories of this session's new ways in (tests/fuzz_entries.py:
stepwise ONNX, netx concat, Sparse builds, recurrent runs): each case, named after its fuzz seed
and case, ends in one sentence naming the file, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.ir.image import load_image, save_image
from snncompile.ir.sparse import sparse_of


def _sparse_image(path, edit) -> None:
    """An image holding one Sparse node, its skeleton's params edited by `edit` (as a damaged,
    re-hashed build carries it)."""
    op = sparse_of(hw.Dense(np.eye(3, dtype=np.int64) * 5))
    save_image(Graph("hw", {"s": op}, ()), path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    skeleton = json.loads(arrays["__graph__"].tobytes().decode())
    edit(skeleton["nodes"][0][2])
    arrays["__graph__"] = np.frombuffer(json.dumps(skeleton).encode(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("shape", [None, 3, "x", [3, "a"]])
def test_sparse_image_whose_matrix_shape_is_not_a_pair_is_one_sentence(tmp_path, shape):
    """fuzz seed 31, sparse builds cases 31000141 and 31000156: matrix_shape null in a re-hashed
    emu image reached Sparse's check as TypeError (internal error)."""
    path = tmp_path / "model.emu.npz"
    _sparse_image(path, lambda p: p.update(matrix_shape=shape))
    with pytest.raises(SnnCompileError, match=r"model.emu.npz is not a readable snncompile "
                       r"image \(matrix_shape must be \(n_out, n_in\)"):
        load_image(path)


def test_image_with_a_field_of_another_op_is_one_sentence(tmp_path):
    """The same class of damage: a parameter name the op does not take (TypeError in its
    constructor) is the image's sentence too."""
    path = tmp_path / "model.emu.npz"
    _sparse_image(path, lambda p: p.update(stride=[1, 1]))
    with pytest.raises(SnnCompileError, match="not a readable snncompile image"):
        load_image(path)


@pytest.mark.parametrize(("field", "value"), [("num_weight_bits", None), ("weight_exp", "x"),
                                              ("sign_mode", 1), ("num_weight_bits", 2.5)])
def test_sparse_image_with_a_scalar_of_another_kind_is_one_sentence(tmp_path, field, value):
    """fuzz seed 31, sparse builds case 31000270: num_weight_bits null in a re-hashed emu image
    reached Lava's weight preprocessing in the emulator as TypeError (internal error)."""
    path = tmp_path / "model.emu.npz"
    _sparse_image(path, lambda p: p.update({field: value}))
    with pytest.raises(SnnCompileError, match=f"not a readable snncompile image .*{field}"):
        load_image(path)


def test_emu_run_checks_the_ranges_of_a_re_hashed_image(tmp_path):
    """A type-correct but out-of-range field (num_weight_bits 99) is the graph check's sentence
    naming the image, not the emulator's arithmetic on it."""
    from snncompile.backends import emu

    folder = tmp_path / "b"
    folder.mkdir()
    op = sparse_of(hw.Dense(np.eye(3, dtype=np.int64) * 5)).replace(num_weight_bits=99)
    lif = hw.LIF((3,), du=0, dv=0, vth=1, bias_mant=0, bias_exp=0)
    g = Graph("hw", {"in": hw.SpikeInput((3,)), "s": op, "n": lif, "out": hw.SpikeOutput((3,))},
              (("in", "s"), ("s", "n"), ("n", "out")))
    save_image(g, folder / "model.emu.npz")
    with pytest.raises(SnnCompileError, match=r"model.emu.npz: node 's': num_weight_bits = 99"):
        emu.run(folder, {"files": {"image": "model.emu.npz"}}, np.zeros((1, 2, 3)), False)


def _base_step_model():
    """The fuzz category's unmutated step graph: x (batch 1, 6) -> Gemm -> LIF -> Gemm -> LIF,
    states s0 (8), s1 (4)."""
    from fuzz_entries import step_onnx_model

    class Base:  # the generator's draw with edit 0
        def __init__(self):
            self.rng = np.random.default_rng(1)

        def integers(self, *args, **kwargs):
            return 0 if args == (0, 14) else self.rng.integers(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.rng, name)

    return step_onnx_model(Base())


def _squared_state_step(path, squarings: int) -> None:
    """The base step graph whose first decay term is (s0 + Gemm(x)) squared `squarings` times."""
    import onnx
    from onnx import helper

    model = _base_step_model()
    nodes = list(model.graph.node)
    at = next(i for i, n in enumerate(nodes) if n.output[0] == "bs1")
    chain = [helper.make_node("Add", ["s0", "i1"], ["q0"])]
    chain += [helper.make_node("Mul", [f"q{j}", f"q{j}"], [f"q{j + 1}"]) for j in range(squarings)]
    nodes[at] = helper.make_node("Mul", ["beta", f"q{squarings}"], ["bs1"])
    del model.graph.node[:]
    model.graph.node.extend(nodes[:1] + chain + nodes[1:])
    onnx.save_model(model, str(path))


@pytest.mark.parametrize("squarings", [4, 11, 30])
def test_stepwise_onnx_sum_squared_again_and_again_is_refused_quickly(tmp_path, squarings):
    """A 12-node stepwise graph squaring (s0 + I) ten times made the polynomial reader multiply
    sums of 2^k terms of degree 2^k (over 60 s, found by hand while writing the ONNX step graphs
    category; edit 12 draws it since): now one sentence naming the node, in well under a second
    of reading."""
    import time

    from snncompile.frontends.onnx import read

    path = tmp_path / "sq.onnx"
    _squared_state_step(path, squarings)
    t0 = time.monotonic()
    with pytest.raises(SnnCompileError, match=r"sq.onnx: node .#\d+. \(Mul\) cannot be read: "
                       r"a product of \d+ tensors is over degree 8"):
        read(path)
    assert time.monotonic() - t0 < 5


def test_verify_of_a_step_graph_exported_with_a_batch_of_one_runs_each_sample(tmp_path):
    """fuzz seed 31, ONNX step graphs case 31001163: verify's onnxruntime side fed a batch of 2
    to a graph whose input declares batch 1 (onnxruntime's InvalidArgument, internal error).
    Each sample now runs alone: the batch's rows are the single-sample runs."""
    import onnx

    from snncompile.frontends.onnx_run import run_stepwise

    path = tmp_path / "m.onnx"
    onnx.save_model(_base_step_model(), str(path))
    x = (np.random.default_rng(3).random((3, 6, 6)) < 0.5).astype(np.float64)
    both = run_stepwise(path, x)
    assert both.shape == (3, 6, 4)
    for i in range(3):
        np.testing.assert_array_equal(both[i:i + 1], run_stepwise(path, x[i:i + 1]))
    assert both.any()  # some spikes: the comparison saw activity


def test_verify_of_a_step_graph_onnxruntime_finds_invalid_is_one_sentence(tmp_path):
    """fuzz seed 31, ONNX step graphs case 31001451: a state input declared bool reads (its
    dtype unused) but onnxruntime refuses the graph (InvalidGraph, internal error)."""
    import onnx

    from snncompile.frontends.onnx_run import run_stepwise

    model = _base_step_model()
    model.graph.input[2].type.tensor_type.elem_type = onnx.TensorProto.BOOL
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path))
    with pytest.raises(SnnCompileError, match=r"m.onnx: onnxruntime cannot run this stepwise "
                       r"graph \(verify's trainer's-model side\): .*INVALID_GRAPH"):
        run_stepwise(path, np.zeros((1, 2, 6)))


def _sparse_pt(path, weight) -> None:
    import torch

    import snncompile.nn as snn

    model = torch.nn.Sequential(torch.nn.Linear(64, 64, bias=False), snn.LIF(64, beta=0.9))
    model[0].weight = torch.nn.Parameter(weight, requires_grad=False)
    snn.save(model, path, (64,))


@pytest.mark.parametrize("layout", ["csr", "coo"])
def test_a_pt_whose_sparse_weight_is_malformed_is_one_sentence(tmp_path, layout):
    """A .pt whose Linear weight is a sparse tensor saved without torch's invariant checks: a
    CSR with 66 row pointers for 64 rows and a column 99 segfaulted to_dense (found by hand
    while writing the sparse .pt weights category; it draws such files since), a COO index
    1000 in a 64-row matrix compiled silently. Both are now one sentence naming file, module
    and what is wrong."""
    import torch

    from snncompile.frontends import load_model

    if layout == "csr":
        weight = torch.sparse_csr_tensor(torch.tensor([0, 1, 5] + [2] * 63),
                                         torch.tensor([0, 99, 3, 1, 1]), torch.ones(5), (64, 64),
                                         check_invariants=False)
    else:
        weight = torch.sparse_coo_tensor(torch.tensor([[0, 1000], [2, 3]]),
                                         torch.tensor([1.0, 2.0]), (64, 64),
                                         check_invariants=False)
    _sparse_pt(tmp_path / "m.pt", weight)
    with pytest.raises(SnnCompileError, match=r"m.pt: module '0' \(Linear\): its sparse "
                       r"\(64, 64\) weight is malformed: "):
        load_model(tmp_path / "m.pt")


def test_a_pt_with_a_valid_sparse_weight_still_reads_it(tmp_path):
    """The check rebuilds the tensor, it does not change it: the CSR weight read (a
    SparseLinear: sparse weights stay sparse) holds the dense matrix torch gives."""
    import scipy.sparse
    import torch

    from snncompile.frontends import load_model
    from snncompile.ir import nn_ops as nn

    dense = torch.zeros(64, 64)
    dense[3, 7], dense[60, 0], dense[5, 63] = 1.5, -2.0, 0.25
    for weight in (dense.to_sparse(), dense.to_sparse_csr()):
        _sparse_pt(tmp_path / "m.pt", weight)
        g = load_model(tmp_path / "m.pt")
        op = next(op for op in g.nodes.values() if isinstance(op, nn.SparseLinear))
        read = scipy.sparse.csr_matrix((op.weight, op.indices, op.indptr), op.matrix_shape)
        np.testing.assert_array_equal(read.toarray(), dense.numpy())
