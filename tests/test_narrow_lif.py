"""The layer-major path's loop for narrow populations (snncompile/sim/narrow_lif.py: fewer than
16 neurons, the samples as vector lanes) equals the Python step loop bit for bit: spikes and
per-step spike counts of every population, on random feed-forward graphs (wrap- and
saturation-heavy regimes, LIFReset, two synapses into one population, per-neuron parameters,
every reset) and a DelayDense, at batches of 8 and more. The step loop is the one checked
against Lava (test_lava_*)."""

from __future__ import annotations

import numpy as np
import pytest
from test_compiled_steps import python_loop
from test_fast_emulator import feed_forward, per_neuron_lifs

from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim import fast, narrow_lif
from snncompile.sim.emulator import simulate


def assert_narrow_equal(graph: Graph, x: np.ndarray, steps: int, monkeypatch) -> None:
    taken: list = []
    run = narrow_lif.run
    monkeypatch.setattr(narrow_lif, "run", lambda neuron, *a: taken.append(neuron.name) or
                        run(neuron, *a))
    quick = simulate(graph, x, steps)
    slow = python_loop(graph, x, steps, record=True, strict=True)
    assert taken, "no population took the narrow loop"
    assert quick.spikes.keys() == slow.spikes.keys()
    for k in quick.spikes:
        np.testing.assert_array_equal(quick.spikes[k], slow.spikes[k], err_msg=k)
    for k, counted in quick.step_spikes.items():
        train = slow.spikes[k]
        np.testing.assert_array_equal(
            counted, np.count_nonzero(train.reshape(*train.shape[:2], -1), axis=(0, 2)),
            err_msg=f"step_spikes {k}")


@pytest.mark.parametrize("seed", range(12))
def test_narrow_loop_equals_step_loop(seed, monkeypatch):
    rng = np.random.default_rng(300 + seed)
    graph = feed_forward(rng, ("normal", "stress", "lsb")[seed % 3])
    if seed % 2:  # per-neuron parameters and every reset
        graph = per_neuron_lifs(graph, rng)
    assert fast.applicable(graph, False, None)
    x = (rng.random((8 + 3 * (seed % 4), 9, graph.shapes["in"][0])) < 0.6).astype(np.int8)
    assert_narrow_equal(graph, x, 12, monkeypatch)


def test_narrow_loop_with_delays_and_the_rule(monkeypatch):
    rng = np.random.default_rng(4)
    zero = np.zeros(3, np.int64)
    nodes = {"in": hw.SpikeInput(shape=(20,)),
             "d": hw.DelayDense(weights=rng.integers(-90, 90, (3, 20)),
                                delays=rng.integers(0, 4, (3, 20))),
             "l": hw.LIF(shape=(3,), du=100, dv=300, vth=5, bias_mant=zero, bias_exp=zero,
                         reset="subtract_next"),
             "out": hw.SpikeOutput(shape=(3,))}
    graph = check(Graph(level="hw", nodes=nodes, edges=(("in", "d"), ("d", "l"), ("l", "out"))))
    x = (rng.random((17, 10, 20)) < 0.5).astype(np.int8)
    assert_narrow_equal(graph, x, 14, monkeypatch)
    assert narrow_lif.chosen(15, 8, False)
    assert not narrow_lif.chosen(16, 64, False)  # a full vector of neurons: per-sample loop
    assert not narrow_lif.chosen(10, 7, False)
    assert not narrow_lif.chosen(10, 64, True)  # u / v records: the per-sample loop
