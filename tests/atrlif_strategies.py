"""Hypothesis strategies for small hw graphs with ATRLIF populations (Dense -> ATRLIF chains).

Skewed toward the corners of Lava's ATRLIF fixed model (half the populations hold some constants
per neuron, which the shipped SnnATRLIF runs): decays at both ends (delta 0, 4096 and
delta_i = -1), theta_0 = 0 (the non-strict '>=' fires at rest), large theta steps, big weights with
positive exponents (the current wraps) and big biases (v saturates), recurrence, graded input,
and LIF layers mixed in.
"""

from __future__ import annotations

import numpy as np
from hw_strategies import _dense, _ints, _lif, draw_input, finish
from hypothesis import assume
from hypothesis import strategies as st

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph

DECAY = st.sampled_from([0, 4096, 2048]) | st.integers(0, 4096)


def atrlif_op(draw, shape: tuple[int, ...]) -> hw.ATRLIF:
    big_bias = draw(st.booleans())
    mant = _ints(draw, -(2**15) if big_bias else -300, 2**15 - 1 if big_bias else 300, shape)
    if draw(st.booleans()):
        mant = np.zeros(shape, np.int64)
    per_neuron = draw(st.booleans())  # co-learned adaptation: constants differ per neuron

    def field(scalar: int, low: int, high: int):
        """The drawn corner value, or (per-neuron layers, half the fields) one value per neuron
        that keeps the corner in some neurons."""
        if not per_neuron or not draw(st.booleans()):
            return scalar
        arr = _ints(draw, low, high, shape)
        return np.where(_ints(draw, 0, 2, shape) == 0, scalar, arr)

    return hw.ATRLIF(
        shape=tuple(shape),
        delta_i=field(draw(st.sampled_from([-1, 0, 4095]) | st.integers(-1, 4095)), -1, 4095),
        delta_v=field(draw(DECAY), 0, 4096), delta_theta=field(draw(DECAY), 0, 4096),
        delta_r=field(draw(DECAY), 0, 4096),
        theta_0=field(draw(st.sampled_from([0, 1, 131071]) | st.integers(0, 300)
                           | st.integers(0, 131071)), 0, 300),
        theta_step=field(draw(st.sampled_from([0, 131071]) | st.integers(0, 300)), 0, 300),
        bias_mant=mant,
        bias_exp=np.full(shape, draw(st.integers(-8, 7)), np.int64),
    )


@st.composite
def atrlif_graphs(draw) -> Graph:
    """input -> [Dense -> ATRLIF or LIF] x 1-3 (at least one ATRLIF), maybe a recurrent Dense."""
    graded = draw(st.integers(0, 5)) == 0
    n = draw(st.integers(1, 5))
    nodes: dict[str, hw.HWOp] = {"in": (hw.GradedInput if graded else hw.SpikeInput)(shape=(n,))}
    edges: list[tuple[str, str]] = []
    last, shape, layers = "in", (n,), []
    kinds = draw(st.lists(st.sampled_from(["atrlif", "atrlif", "lif"]), min_size=1, max_size=3))
    assume("atrlif" in kinds)
    for i, kind in enumerate(kinds):
        if not (graded and i == 0):
            n_out = draw(st.integers(1, 5))
            nodes[f"syn{i}"] = _dense(draw, n_out, int(np.prod(shape)))
            edges.append((last, f"syn{i}"))
            last, shape = f"syn{i}", (n_out,)
        nodes[f"n{i}"] = atrlif_op(draw, shape) if kind == "atrlif" else _lif(draw, shape)
        edges.append((last, f"n{i}"))
        last = f"n{i}"
        layers.append(last)
    if draw(st.booleans()):
        src = draw(st.sampled_from(layers))
        dst = draw(st.sampled_from(layers[: layers.index(src) + 1]))
        nodes["rec"] = _dense(draw, nodes[dst].shape[0], int(np.prod(nodes[src].shape)))
        edges += [(src, "rec"), ("rec", dst)]
    return finish(nodes, edges, last, "atrlif_strategies")


@st.composite
def atrlif_examples(draw) -> tuple[Graph, np.ndarray]:
    """(graph, x): x (batch, T, n) binary spikes, or int32 values for a graded input."""
    g = draw(atrlif_graphs())
    return g, draw_input(draw, g, max_steps=10)
