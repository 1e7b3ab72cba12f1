"""The input rules every back end shares: shape, binary spikes, graded integers, analog reals."""

from __future__ import annotations

import numpy as np

from snncompile.errors import InputError
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
