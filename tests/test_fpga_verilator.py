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


def test_verilator_split_populations_equal_model(tmp_path):
    """Populations split over cores (4 neurons per core): the wire-index muxes in Verilator."""
    from test_fpga_blocks import recurrent_chain

    from snncompile.partition import core_model

    rng = np.random.default_rng(2)
    graph = recurrent_chain(rng)
    x = (rng.random((3, 8, 13)) < 0.5).astype(np.int8)
    plan, want, got = cosim(graph, x, 10, tmp_path, "verilator",
                            cores=core_model("fpga", neurons=4))
    assert_same(want, got)
    assert len(plan.cores) == 6 and len(want.stamps) > 30
