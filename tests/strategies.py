"""Hypothesis strategies shared by the property tests: generated nn graphs of every op type."""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from snncompile.errors import GraphCheckError
from snncompile.ir import nn_ops
from snncompile.ir.check import check
from snncompile.ir.graph import Graph

VALUES = st.floats(-3, 3, allow_nan=False, width=64)
POSITIVE = st.floats(1e-4, 1.0, allow_nan=False, width=64)


def _array(draw, shape, elements=VALUES):
    return draw(arrays(np.float64, shape, elements=elements))


def _neuron(draw, shape):
    kind = draw(st.sampled_from(["IF", "LIF", "CubaLIF"]))
    pshape = draw(st.sampled_from([shape, ()]))
    common = {"v_threshold": _array(draw, pshape, POSITIVE), "v_reset": _array(draw, pshape),
                  "reset": draw(st.sampled_from(nn_ops.RESETS)),
                  "reset_timing": draw(st.sampled_from(nn_ops.RESET_TIMINGS))}
    if kind == "IF":
        return nn_ops.IF(r=_array(draw, pshape), **common)
    if kind == "LIF":
        return nn_ops.LIF(tau=_array(draw, pshape, POSITIVE), r=_array(draw, pshape),
                          v_leak=_array(draw, pshape), **common)
    return nn_ops.CubaLIF(tau_syn=_array(draw, pshape, POSITIVE),
                          tau_mem=_array(draw, pshape, POSITIVE),
                          r=_array(draw, pshape), v_leak=_array(draw, pshape),
                          w_in=_array(draw, pshape), **common)


@st.composite
def nn_graphs(draw) -> Graph:
    nodes: dict[str, nn_ops.NNOp] = {}
    edges: list[tuple[str, str]] = []
    state = {"last": None, "shape": None}

    def add(op):
        name = f"n{len(nodes)}"
        nodes[name] = op
        if state["last"] is not None:
            edges.append((state["last"], name))
        state["last"] = name
        state["shape"] = tuple(op.output_shape(state["shape"] or ()))
        return name

    if draw(st.booleans()):  # convolutional front
        c, h = draw(st.integers(1, 3)), draw(st.integers(4, 7))
        add(nn_ops.Input(shape=(c, h, h)))
        out = draw(st.integers(1, 2)) * c
        groups = draw(st.sampled_from([1, c]))
        k = draw(st.integers(1, 3))
        add(nn_ops.Conv2d(weight=_array(draw, (out, c // groups, k, k)), bias=_array(draw, (out,)),
                          stride=(draw(st.integers(1, 2)),) * 2,
                          padding=(draw(st.integers(0, 1)),) * 2,
                          dilation=(1, 1), groups=groups))
        add(_neuron(draw, state["shape"]))
        pool = draw(st.sampled_from([nn_ops.SumPool2d, nn_ops.AvgPool2d]))
        add(pool(kernel_size=(2, 2), stride=(draw(st.integers(1, 2)),) * 2, padding=(0, 0)))
        add(nn_ops.Flatten(start_dim=0, end_dim=-1))
    else:
        add(nn_ops.Input(shape=(draw(st.integers(1, 6)),)))
    n = draw(st.integers(1, 5))
    if draw(st.booleans()):
        add(nn_ops.Affine(weight=_array(draw, (n, state["shape"][0])), bias=_array(draw, (n,))))
    else:
        add(nn_ops.Linear(weight=_array(draw, (n, state["shape"][0]))))
    hidden = add(_neuron(draw, (n,)))
    if draw(st.booleans()):  # recurrence through a Linear
        rec = f"n{len(nodes)}"
        nodes[rec] = nn_ops.Linear(weight=_array(draw, (n, n)))
        edges += [(hidden, rec), (rec, hidden)]
    add(nn_ops.Scale(scale=_array(draw, draw(st.sampled_from([(n,), ()])))))
    add(_neuron(draw, (n,)))
    add(nn_ops.Output(shape=(n,)))
    meta = draw(st.dictionaries(st.text(min_size=1, max_size=8),
                                st.one_of(st.integers(-5, 5), st.text(max_size=8), VALUES),
                                max_size=3))
    graph = Graph(level="nn", nodes=nodes, edges=tuple(edges), dt=draw(POSITIVE), meta=meta)
    try:
        return check(graph)
    except GraphCheckError:  # e.g. a pool window larger than what the conv left
        assume(False)
