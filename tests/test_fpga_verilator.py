"""Verilator runs the same generated testbench as Icarus: spikes, cycle stamps and totals equal
the emulator + cycle model (one build per graph, about 10 s each). A missing Verilator fails."""

from __future__ import annotations

import numpy as np
import pytest
from test_fpga_cosim import assert_same, cosim, random_graph


@pytest.mark.parametrize("seed,regime", [(1, "stress"), (5, "lsb")])
def test_verilator_equals_model(seed, regime, tmp_path):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, regime)
    x = (rng.random((3, 10, graph.shapes["in"][0])) < 0.5).astype(np.int8)
    plan, want, got = cosim(graph, x, 12, tmp_path, "verilator")
    assert_same(want, got)
    assert len(want.stamps) > 10 and len(plan.cores) >= 2
