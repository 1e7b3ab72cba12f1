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
