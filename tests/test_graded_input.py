"""Graded and analog input without whole-train temporaries (issue 19 item 2): a GradedInput's
values are kept as int32 (wrap32 of the integers, which int32 holds exactly) instead of an int64
copy, analog input is quantized a block at a time, and the graded-input check no longer makes a
float64 copy; values equal an independent Python-integer wrap, the emulator's results equal the
old int64 conversion's, and the conversions' peak allocation (tracemalloc) stays near the
int32 / int8 output."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim import emulator, inputs
from snncompile.sim.fixed import wrap
from snncompile.sim.inputs import check_input, graded_int32


def python_wrap32(values) -> np.ndarray:
    """wrap32 in Python integers (int() truncates toward zero, as the int64 cast did)."""
    return np.array([((int(v) + 2**31) % 2**32) - 2**31 for v in np.ravel(values)],
                    np.int64).reshape(np.shape(values))


@pytest.mark.parametrize("kind", ["int64", "uint64", "uint32", "int16", "float", "bool"])
def test_graded_values_are_the_wrapped_integers_as_int32(kind, monkeypatch):
    monkeypatch.setattr(inputs, "BLOCK", 7)  # many blocks, a partial last one
    rng = np.random.default_rng(0)
    raw = rng.integers(-2**40, 2**40, (3, 5, 4))
    x = {"int64": raw, "uint64": np.abs(raw).astype(np.uint64) << 20,
         "uint32": (raw & 0xFFFFFFFF).astype(np.uint32), "int16": raw.astype(np.int16),
         "float": raw / 7.0, "bool": raw > 0}[kind]
    got = graded_int32(x)
    assert got.dtype == np.int32 and got.shape == x.shape
    np.testing.assert_array_equal(got, python_wrap32(x))


def graded_graph(neuron: str) -> Graph:
    zero = np.zeros(6, np.int64)
    pop = (hw.LIF(shape=(6,), du=300, dv=100, vth=50, bias_mant=zero, bias_exp=zero)
           if neuron == "lif" else
           hw.SigmaDelta(shape=(6,), vth=40, bias=zero, num_message_bits=24))
    nodes = {"in": hw.GradedInput(shape=(6,)), "n": pop,
             "d": hw.Dense(weights=np.random.default_rng(1).integers(-9, 9, (4, 6))),
             "l": hw.LIF(shape=(4,), du=500, dv=700, vth=30, bias_mant=np.zeros(4, np.int64),
                         bias_exp=np.zeros(4, np.int64)),
             "out": hw.SpikeOutput(shape=(4,))}
    edges = (("in", "n"), ("n", "d"), ("d", "l"), ("l", "out"))
    return check(Graph(level="hw", nodes=nodes, edges=edges))


@pytest.mark.parametrize("neuron", ["lif", "sigma_delta"])
def test_the_emulator_gives_what_the_int64_conversion_gave(neuron, monkeypatch):
    """Values past int32 (wrapping) and ordinary ones, into a LIF and a sigma-delta neuron:
    spikes, u and v equal a run whose input went through the former int64 copy."""
    graph = graded_graph(neuron)
    rng = np.random.default_rng(2)
    x = np.where(rng.random((3, 12, 6)) < 0.2, rng.integers(-2**33, 2**33, (3, 12, 6)),
                 rng.integers(-3000, 3000, (3, 12, 6)))
    new = emulator.simulate(graph, x, 15, record=True, strict=True)
    monkeypatch.setattr(emulator, "graded_int32",
                        lambda v: wrap(np.asarray(v, dtype=np.int64), 32))  # the former line
    old = emulator.simulate(graph, x, 15, record=True, strict=True)
    assert sum(int(np.count_nonzero(s)) for s in new.spikes.values()) > 0
    for field in ("spikes", "u", "v"):
        for k in getattr(old, field):
            np.testing.assert_array_equal(getattr(new, field)[k], getattr(old, field)[k])
    assert new.events == old.events


def peak_bytes(fn, *args) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_conversions_make_no_whole_train_temporaries():
    """1M values: the graded conversion and check peak near the 4 MB int32 result (an int64
    copy alone is 8 MB), the analog quantization near its 1 MB int8 result (float64 copies are
    8 MB each)."""
    n = 1 << 20
    values = np.random.default_rng(3).integers(-2**31 + 1, 2**31, n).astype(np.float64)
    assert peak_bytes(graded_int32, values.reshape(16, -1, 8)) < 4 * n + (2 << 20)
    graded = Graph(level="hw", nodes={"in": hw.GradedInput(shape=(8,))}, edges=())
    assert peak_bytes(check_input, graded, values.reshape(16, -1, 8)) < 2 << 20
    analog = Graph(level="hw", nodes={"in": hw.AnalogInput(shape=(8,), scale=0.01)}, edges=())
    real = values.reshape(16, -1, 8) / 2**31
    assert peak_bytes(check_input, analog, real) < n + (2 << 20)
    np.testing.assert_array_equal(check_input(analog, real),
                                  analog.nodes["in"].quantize(real))
