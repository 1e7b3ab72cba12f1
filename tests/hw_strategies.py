"""Hypothesis strategies for random valid hw graphs and inputs, drawn directly at the hw level.

Parameters are skewed toward the corners where Lava's arithmetic is subtle: large weights with
positive weight_exp (u wraps), high thresholds and biases (v saturates), negative shifts (floors),
every sign mode and weight width, DelayDense rings, LIFReset with short intervals, recurrence.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.conv_geometry import conv_output_hw
from snncompile.ir.graph import Graph


def lava_settings(examples: int) -> settings:
    """What every Lava differential test draws with: `examples` examples, no deadline (one Lava
    run takes seconds), no example database, and none of the health checks that large random
    graphs trip."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _ints(draw, low, high, shape):
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).integers(low, high + 1, size=shape, dtype=np.int64)


def _lif(draw, shape) -> hw.LIF:
    interval = draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5]))
    big_bias = draw(st.booleans())
    mant = _ints(draw, -(2**15) if big_bias else -300, 2**15 - 1 if big_bias else 300, shape)
    if draw(st.booleans()):
        mant = np.zeros(shape, np.int64)
    return hw.LIF(
        shape=tuple(shape),
        du=draw(st.sampled_from([-1, 0, 4095]) | st.integers(-1, 4095)),
        dv=draw(st.sampled_from([0, 4095]) | st.integers(0, 4095)),
        vth=draw(st.sampled_from([0, 1, 131071]) | st.integers(0, 2000) | st.integers(0, 131071)),
        bias_mant=mant,
        bias_exp=_ints(draw, -8, 7, shape) if draw(st.booleans()) else np.full(shape, draw(
            st.integers(-8, 7)), np.int64),
        reset_interval=interval,
        reset_offset=draw(st.integers(0, 6)) if interval else 0,
    )


def _dense(draw, n_out: int, n_in: int) -> hw.Dense:
    mode = draw(st.sampled_from(hw.SIGN_MODES))
    low, high = {"excitatory": (0, 255), "inhibitory": (-256, 0)}.get(mode, (-256, 255))
    if draw(st.integers(0, 4)) == 0:  # any weights: Lava clips them to the sign mode
        low, high = -256, 255
    kw = {"weights": _ints(draw, low, high, (n_out, n_in)),
          "weight_exp": draw(st.integers(-8, 7)), "num_weight_bits": draw(st.integers(1, 8)),
          "sign_mode": mode}
    if draw(st.integers(0, 2)) == 0:
        far = draw(st.booleans()) and draw(st.booleans())
        return hw.DelayDense(**kw, delays=_ints(draw, 0, 62 if far else 3, (n_out, n_in)))
    return hw.Dense(**kw)


def _conv(draw, in_shape) -> hw.Conv | None:
    c_in, h, w = in_shape
    groups = draw(st.sampled_from([1, c_in]))
    c_out = groups * draw(st.integers(1, 2)) if groups > 1 else draw(st.integers(1, 3))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    dilation = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2])))
    oh, ow = conv_output_hw((h, w), k, stride, padding, dilation)
    if oh <= 0 or ow <= 0:
        return None
    # Lava applies no clip to Conv weights; a << 16 makes its 24-bit accumulator wrap
    shift = draw(st.sampled_from([0, 0, 16]))
    weight = _ints(draw, -255, 255, (c_out, c_in // groups, *k)) << shift
    return hw.Conv(weight=weight, stride=stride, padding=padding, dilation=dilation, groups=groups)


@st.composite
def hw_graphs(draw) -> Graph:
    """A valid hw graph: input, 2-4 LIF layers joined by Dense/DelayDense/Conv, maybe recurrence."""
    nodes: dict[str, hw.HWOp] = {}
    edges: list[tuple[str, str]] = []
    graded = draw(st.integers(0, 4)) == 0
    if draw(st.booleans()):
        shape: tuple[int, ...] = (draw(st.integers(1, 2)), draw(st.integers(3, 5)),
                                  draw(st.integers(3, 5)))
    else:
        shape = (draw(st.integers(1, 6)),)
    nodes["in"] = (hw.GradedInput if graded else hw.SpikeInput)(shape=shape)
    last = "in"
    lifs: list[str] = []
    n_layers = draw(st.integers(2, 4))
    for i in range(n_layers):
        if not (graded and i == 0):  # graded input feeds the first LIF with no synapse
            use_conv = len(shape) == 3 and draw(st.integers(0, 3)) > 0
            conv = _conv(draw, shape) if use_conv else None
            if conv is not None:
                syn = conv
                shape = conv.output_shape(shape)
            else:
                n_out = draw(st.integers(1, 6))
                syn = _dense(draw, n_out, int(np.prod(shape)))
                shape = (n_out,)
            nodes[f"syn{i}"] = syn
            edges.append((last, f"syn{i}"))
            last = f"syn{i}"
        nodes[f"lif{i}"] = _lif(draw, shape)
        edges.append((last, f"lif{i}"))
        last = f"lif{i}"
        lifs.append(last)
    for j in range(draw(st.integers(0, 2))):  # recurrence: LIF -> Dense -> same or earlier 1-D LIF
        targets = [n for n in lifs if len(nodes[n].shape) == 1]
        if not targets:
            break
        src = draw(st.sampled_from(lifs))
        dst = draw(st.sampled_from([t for t in targets if lifs.index(t) <= lifs.index(src)]
                                   or targets))
        n_in = int(np.prod(nodes[src].shape))
        nodes[f"rec{j}"] = _dense(draw, nodes[dst].shape[0], n_in)
        edges += [(src, f"rec{j}"), (f"rec{j}", dst)]
    return finish(nodes, edges, last, "hw_strategies")


def finish(nodes: dict, edges: list, last: str, where: str) -> Graph:
    """Add the output after `last` and check the graph (a rejected draw is assumed away)."""
    nodes["out"] = hw.SpikeOutput(shape=tuple(nodes[last].shape))
    edges.append((last, "out"))
    graph = Graph("hw", nodes, tuple(edges))
    try:
        check(graph, where)
    except GraphCheckError:
        assume(False)
    return graph


def draw_input(draw, g: Graph, max_steps: int = 9) -> np.ndarray:
    """x (batch, T, *input_shape): binary spikes, or int32-range values for a graded input."""
    shape = g.shapes["in"]
    batch, steps = draw(st.integers(1, 2)), draw(st.integers(3, max_steps))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if isinstance(g.nodes["in"], hw.GradedInput):
        bound = draw(st.sampled_from([4, 300, 2**17, 2**26]))
        return rng.integers(-bound, bound + 1, size=(batch, steps, *shape), dtype=np.int64)
    return (rng.random((batch, steps, *shape)) < draw(st.floats(0.1, 0.9))).astype(np.int8)


@st.composite
def hw_examples(draw) -> tuple[Graph, np.ndarray]:
    """(graph, x): x (batch, T, *input_shape), binary spikes or int32 graded values."""
    g = draw(hw_graphs())
    return g, draw_input(draw, g)
