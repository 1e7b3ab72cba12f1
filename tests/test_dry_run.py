"""quantize skips its zero-input dry run only when no neuron can spike in it (passes/dry_run.py):
checked against the emulator on random LIF chains with random biases, thresholds and leaks.
Without leak (dv = 0) v grows by exactly its bias each step, so there the bound is exact: the
run is skipped if and only if the emulator's dry run has no spike."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.passes.dry_run import at_rest
from snncompile.sim.emulator import simulate


def chain(rng: np.random.Generator, leak: bool) -> Graph:
    sizes = rng.integers(1, 6, int(rng.integers(2, 4)))
    nodes = {"in": hw.SpikeInput(shape=(int(sizes[0]),))}
    edges, prev = [], "in"
    for k, n in enumerate(sizes[1:]):
        n = int(n)
        vth = rng.integers(0, 40, n) if rng.random() < 0.5 else int(rng.integers(0, 40))
        nodes[f"d{k}"] = hw.Dense(weights=rng.integers(-100, 100, (n, int(sizes[k]))))
        nodes[f"l{k}"] = hw.LIF((n,), du=int(rng.integers(0, 4096)),
                                dv=int(rng.integers(0, 4096)) if leak else 0, vth=vth,
                                bias_mant=rng.integers(-50, int(rng.choice([40, 400, 1200])), n),
                                bias_exp=rng.integers(0, 3, n),
                                reset=str(rng.choice(["zero", "subtract"])))
        edges += [(prev, f"d{k}"), (f"d{k}", f"l{k}")]
        prev = f"l{k}"
    nodes["out"] = hw.SpikeOutput(shape=nodes[prev].shape)
    return Graph("hw", nodes, edges + [(prev, "out")])


@pytest.mark.parametrize("leak", [False, True])
def test_dry_run_is_skipped_only_when_the_emulator_sees_no_spike(leak):
    rng = np.random.default_rng(7 + leak)
    skipped = ran = 0
    for _ in range(80):
        g = chain(rng, leak)
        steps = int(rng.integers(1, 6))
        trace = simulate(g, np.zeros((1, 0, *g.shapes["in"])), steps)
        spiked = any(trace.spikes[n].any() for n in g.of_kind("neuron"))
        if at_rest(g, steps):
            assert not spiked
            skipped += 1
        else:
            ran += 1
            if not leak:
                assert spiked  # the bound is exact without leak
    assert skipped > 10 and ran > 10


def test_other_neuron_types_always_run_it():
    z = np.zeros(2, np.int64)
    g = Graph("hw", {"in": hw.SpikeInput(shape=(2,)), "d": hw.Dense(weights=np.eye(2, dtype=int)),
                     "l": hw.ATRLIF((2,), 0, 0, 0, 0, 10, 1, z, z),
                     "out": hw.SpikeOutput(shape=(2,))},
              [("in", "d"), ("d", "l"), ("l", "out")])
    assert not at_rest(g, 3)
