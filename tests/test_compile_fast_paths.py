"""The 33M-weight compile's short cuts (issue 19: under 5 s through the CLI) answer as the plain
whole-array expressions they replace: floors_sums by chunks, the finite check by extremes, the
narrowing memo of a build write, the emulator image written straight to its file."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.ir.image import save_image
from snncompile.ir.values import _finite
from snncompile.passes import encode
from snncompile.passes.encode import WeightCode, floors_sums


def code_of(weights: np.ndarray, exp: int, step: int = 1) -> WeightCode:
    return WeightCode(weights, exp, "mixed", 1.0, 0.0, 0.0, step)


@pytest.mark.parametrize("where", [None, 0, "last"])
def test_floors_sums_by_chunks_equals_the_whole_array(where, monkeypatch):
    monkeypatch.setattr(encode, "CHUNK", 1000)  # several chunks, the last one partial
    weights = np.arange(-3500, 3500, dtype=np.int64).reshape(70, 100) * 4  # all on the 4-grid
    if where is not None:
        weights[(0, 0) if where == 0 else (-1, -1)] += 1  # one weight with a dropped bit
    for exp in (-1, -2, -3, 0, 1):
        mask = (1 << max(0, -exp)) - 1
        plain = exp < 0 and bool(np.bitwise_and(weights, mask).any())
        assert floors_sums(code_of(weights, exp)) is plain, (where, exp)
    assert floors_sums(code_of(weights, -2, step=4)) is False  # step & mask == 0: exact shift


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_finite_check_finds_one_bad_value_anywhere(bad):
    w = np.zeros((50, 40))
    w[-1, -1] = bad
    ints = hw.Dense(weights=np.ones((50, 40), int))
    graph = Graph("hw", {"in": hw.SpikeInput(shape=(40,)), "d": ints,
                         "out": hw.SpikeOutput(shape=(50,))}, [("in", "d"), ("d", "out")])
    _finite(graph)  # integers: nothing to check
    graph = Graph("nn", {"in": nn.Input(shape=(40,)), "fc": nn.Linear(weight=w),
                         "out": nn.Output(shape=(50,))}, [("in", "fc"), ("fc", "out")])
    word = "NaN" if np.isnan(bad) else "an infinite value"
    with pytest.raises(GraphCheckError, match=word):
        _finite(graph)


def test_narrowing_memo_gives_the_plain_answer_and_skips_writable_arrays():
    frozen = np.arange(-100, 100, dtype=np.int64)
    frozen.setflags(write=False)
    writable = np.arange(-100, 100, dtype=np.int64)
    with text.narrowing_once():
        first = text.narrowest(frozen)
        assert text.narrowest(frozen) is first and first.dtype == np.int8
        assert np.array_equal(first, frozen)
        one = text.narrowest(writable)
        writable[0] = 1000  # may change between calls: narrowed again
        two = text.narrowest(writable)
        assert one.dtype == np.int8 and two.dtype == np.int16 and two[0] == 1000
    assert text.narrowest(frozen) is not first  # no memo outside a build write


def test_the_image_written_to_its_file_is_the_bytes_of_savez_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    graph = Graph("hw", {"in": hw.SpikeInput(shape=(300,)),
                         "d": hw.Dense(weights=rng.integers(-128, 128, (200, 300))),
                         "out": hw.SpikeOutput(shape=(200,))}, [("in", "d"), ("d", "out")])
    save_image(graph, tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as data:
        names = list(data.files)
        arrays = {k: data[k] for k in names}
    assert json.loads(arrays["__graph__"].tobytes())["format"] == "snncompile-image/1"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # numpy's own writer, in memory, as before
    assert (tmp_path / "a.npz").read_bytes() == buffer.getvalue()
