"""The input rules every back end shares: shape, binary spikes, graded integers, analog reals."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError, InputError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim.fixed import wrap


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
        if not _int32_integers(x):
            raise InputError(f"{where}: graded input must be integers in the int32 range")
    elif isinstance(node, hw.AnalogInput):
        if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
            raise InputError(f"{where}: analog input must be finite real numbers")
        return blockwise(x, node.quantize, np.int8)
    elif not _binary(x):
        raise InputError(f"{where} input must be binary spikes (0 or 1); found other values "
                         "(real-valued input: compile with --input-kind analog)")
    return x


def _binary(x: np.ndarray) -> bool:
    """Every value 0 or 1, in one reduction without temporaries for bool and integer trains
    (int8's negatives are >= 128 as uint8); other dtypes compared a block at a time."""
    if x.size == 0 or x.dtype == bool:
        return True
    if x.dtype in (np.int8, np.uint8):
        return int(x.view(np.uint8).max()) <= 1
    if np.issubdtype(x.dtype, np.integer):
        return int(x.min()) >= 0 and int(x.max()) <= 1
    flat = np.ascontiguousarray(x).reshape(-1)
    return all(bool(np.all((part == 0) | (part == 1)))
               for part in (flat[a:a + BLOCK] for a in range(0, flat.size, BLOCK)))


BLOCK = 1 << 16  # values per block: the float temporaries of a conversion stay this small


def blockwise(x: np.ndarray, convert: Any, dtype: Any) -> np.ndarray:
    """convert (an elementwise rule) applied to x a block of BLOCK values at a time into a new
    array of dtype: the same values as convert(x), without its whole-train float64 or int64
    temporaries (a batch of 64 x 500 steps x 128 inputs is 33 MB per float64 copy)."""
    out = np.empty(x.shape, dtype)
    flat, dest = np.ascontiguousarray(x).reshape(-1), out.reshape(-1)
    for a in range(0, flat.size, BLOCK):
        dest[a:a + BLOCK] = convert(flat[a:a + BLOCK])
    return out


def _int32_integers(x: np.ndarray) -> bool:
    """Every value an integer with |x| < 2^31 (integer arrays by their extremes, others a block
    at a time: np.rint would make a float64 copy of the whole train)."""
    if x.size == 0:
        return True
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        return int(x.min()) > -2**31 and int(x.max()) < 2**31
    flat = np.ascontiguousarray(x).reshape(-1)
    return all(bool(np.all(part == np.rint(part))) and np.abs(part).max() < 2**31
               for part in (flat[a:a + BLOCK] for a in range(0, flat.size, BLOCK)))


def graded_int32(x: np.ndarray) -> np.ndarray:
    """A GradedInput's values as Lava's int32 channel holds them: wrap32 of the integer values,
    stored as int32 (which holds every wrapped value, so the emulator's sums are unchanged).
    Integer arrays cast directly (numpy's integer cast keeps the low 32 bits: the wrap); others
    truncate to int64 and wrap a block at a time, so no int64 copy of the train is made."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        return x.astype(np.int32)
    return blockwise(x, lambda part: wrap(part.astype(np.int64), 32), np.int32)


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
