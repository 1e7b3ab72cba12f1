"""The shipped SnnLIF process (snncompile/lava_models/snn_lif.py) run by Lava 0.10.0 equals the
emulator bit for bit (u, v, spikes, every LIF, every step) on random hw graphs whose LIFs reset
by subtraction and/or hold per-neuron du, dv, vth, mixed with plain Lava LIFs. The graphs come
from the same strategy as tests/test_lava_differential.py; each LIF is then redrawn here.

CI (derandomized) draws SNNCOMPILE_SNN_LIF_EXAMPLES examples, default 10 (~11 s each on this busy
2-core machine); set it higher locally.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
from hw_strategies import draw_input, hw_graphs, lava_settings
from hypothesis import given
from hypothesis import strategies as st
from test_lava_differential import compare

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph

EXAMPLES = int(os.environ.get("SNNCOMPILE_SNN_LIF_EXAMPLES", "10"))


def _vector(draw, shape, low: int, high: int, corners: list[int]) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(low, high + 1, size=shape, dtype=np.int64)
    mask = rng.random(shape) < 0.3  # some neurons at the corners of the range
    return np.where(mask, rng.choice(corners, size=shape), values)


def _redraw(draw, op: hw.LIF) -> hw.LIF:
    """Subtract reset (mostly) and, per field, a per-neuron vector (often)."""
    changes = {"reset": draw(st.sampled_from(["subtract", "subtract_next", "zero"]))}
    if draw(st.booleans()):
        changes["du"] = _vector(draw, op.shape, -1, 4095, [-1, 0, 4095])
    if draw(st.booleans()):
        changes["dv"] = _vector(draw, op.shape, 0, 4095, [0, 4095])
    if draw(st.booleans()):
        high = draw(st.sampled_from([300, 2000, 131071]))
        changes["vth"] = _vector(draw, op.shape, 0, high, [0, 1, high])
    return op.replace(**changes)


@st.composite
def snn_lif_examples(draw):
    g = draw(hw_graphs())
    nodes = {n: _redraw(draw, op) if isinstance(op, hw.LIF) and draw(st.integers(0, 4)) else op
             for n, op in g.nodes.items()}
    graph = Graph("hw", nodes, g.edges, g.dt, dict(g.meta))
    return graph, draw_input(draw, graph)


def test_shipped_snn_lif_equals_emulator_on_random_graphs():
    hits: Counter = Counter()

    @lava_settings(EXAMPLES)
    @given(snn_lif_examples())
    def prop(example):
        graph, x = example
        for op in graph.nodes.values():
            if isinstance(op, hw.LIF):
                hits["subtract"] += op.reset == "subtract"
                hits["subtract_next"] += op.reset == "subtract_next"
                hits["per-neuron"] += op.heterogeneous
                hits["lava LIF"] += op.reset == "zero" and not op.heterogeneous
        compare(graph, x, hits)

    prop()
    print(f"\nSnnLIF differential: {dict(sorted(hits.items()))}")
    # u wraps and v saturations: the CI draw (derandomized, 10 examples) has none, a local run
    # of 25 had 379 and 353; the subthreshold arithmetic is Lava's own (inherited), so they
    # are asserted by tests/test_lava_differential.py
    for kind in ("subtract", "subtract_next", "per-neuron", "lava LIF", "spikes", "LIFReset",
                 "Conv", "GradedInput"):
        assert hits[kind] > 0, f"no example exercised {kind}: {dict(hits)}"
