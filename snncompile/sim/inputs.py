"""The input rules every back end shares: shape, binary spikes, graded integers, analog reals."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError, InputError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph


def check_input(hw_graph: Graph, x: np.ndarray, where: str = "emulator") -> np.ndarray:
    """The input rules every back end shares: (batch, time, *input_shape), binary spikes, or
    int32 integers for a GradedInput, or real values for an AnalogInput (returned quantized:
    the int8 payloads every back end sends)."""
    x = np.asarray(x)
    (in_name,) = hw_graph.inputs
    in_shape = hw_graph.shapes[in_name]
    if x.ndim != 2 + len(in_shape) or tuple(x.shape[2:]) != tuple(in_shape):
        raise InputError(f"{where} input has shape {x.shape} but the model takes (batch, time, "
                         f"{', '.join(map(str, in_shape))})")
    node = hw_graph.nodes[in_name]
    if isinstance(node, hw.GradedInput):
        if not np.all(x == np.rint(x)) or np.abs(x).max(initial=0) >= 2**31:
            raise InputError(f"{where}: graded input must be integers in the int32 range")
    elif isinstance(node, hw.AnalogInput):
        if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
            raise InputError(f"{where}: analog input must be finite real numbers")
        return node.quantize(x)
    elif not np.all((x == 0) | (x == 1)):
        raise InputError(f"{where} input must be binary spikes (0 or 1); found other values "
                         "(real-valued input: compile with --input-kind analog)")
    return x


def check_analog_sums(name: str, op: Any, source: hw.AnalogInput,
                       in_shape: tuple[int, ...]) -> None:
    """An analog input's payloads (up to qmax) times the synapse's weights must sum below 2^31:
    Lava's int32 accumulator (Dense's dot, Conv's cast) has no defined answer beyond it."""
    if isinstance(op, hw.Sparse):
        w, fan_in = np.asarray(op.weights, np.int64), int(np.diff(op.indptr).max(initial=0))
    else:
        w = np.asarray(op.weights if isinstance(op, hw.Dense) else op.weight, dtype=np.int64)
        fan_in = int(np.prod(in_shape)) if isinstance(op, hw.Dense) else int(np.prod(w.shape[1:]))
    bound = int(np.abs(w).max(initial=0)) * fan_in * source.qmax
    if bound >= 2**31:
        raise GraphCheckError(f"emulator: synapse {name!r} sums analog input up to {bound} >= "
                              "2^31, past Lava's int32 accumulator; use fewer input bits")
