"""The front-end options that describe a model's input (input_kind, input_range, calibration):
which kind of input a load or a verify uses, and what the quantizer measures on calibration input.
Kept apart from api.py, which only passes them along."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir.graph import Graph
from snncompile.ir.size import check_work
from snncompile.npy import load_array


def analog_options(model: Any, options: dict[str, Any]) -> tuple[str | None, float | None, int]:
    """Pop input_kind and input_range from `options`: (kind, the analog input's range or None,
    its payload bits). With analog input, `calibration` inputs (ONNX's threshold data, or any
    model's) set the range when no input_range is given, and the payload bits (fewer than 8
    when they all lie on a coarser grid: analog.payload_bits); only ONNX front ends then still
    read them."""
    from snncompile.frontends import live
    from snncompile.passes.analog import BITS, input_range, payload_bits

    kind, rng = options.pop("input_kind", None), options.pop("input_range", None)
    calibration = options.get("calibration")
    onnx = live.kind(model) == "onnx" or (isinstance(model, (str, os.PathLike))
                                         and Path(model).suffix.lower() == ".onnx")
    if not onnx:  # any other model's calibration input serves the quantizer (api.lower) only
        options.pop("calibration", None)
    if kind != "analog":
        if rng is not None:
            raise SnnCompileError("--input-range applies to analog input (--input-kind analog)")
        return kind, None, BITS
    values = None if calibration is None else calibration_array(calibration)
    if rng is None and values is not None:
        rng = input_range(values, range_source({"calibration": calibration}))
    rng = None if rng is None else input_range(rng, "--input-range")
    bits = BITS if values is None or rng is None else payload_bits(values, rng)
    return kind, rng, bits


def range_source(options: dict[str, Any]) -> str:
    """Where an analog input's range comes from, for a sentence that names it: --input-range,
    else the calibration file (or data given as an array)."""
    if options.get("input_range") is not None:
        return f"--input-range {options['input_range']!r}"
    calibration = options.get("calibration")
    if isinstance(calibration, (str, os.PathLike)):
        return f"calibration {os.fspath(calibration)}"
    return "calibration data"


def calibration_array(calibration: Any) -> np.ndarray:
    """Calibration input given as an array or a .npy path."""
    path = isinstance(calibration, (str, os.PathLike))
    return np.asarray(load_array(calibration, "calibration") if path else calibration)


def calibration_measures(nn_graph: Graph, calibration: Any) -> tuple[Any, Any]:
    """The float model's per-node activity (passes/centring.activity_of) and per-layer u/v peaks
    (passes/headroom.measured_ranges) on calibration input, (None, None) for static data; any
    other shape is refused in one sentence."""
    from snncompile.passes.centring import activity_of
    from snncompile.passes.headroom import measured_ranges
    from snncompile.sim.reference import run_reference

    x = calibration_array(calibration)
    shape = tuple(nn_graph.shapes[nn_graph.inputs[0]])
    if x.shape[1:] == shape:  # no time axis: an ANN's threshold data, or an input's range only
        return None, None
    if x.ndim != len(shape) + 2 or x.shape[2:] != shape or not np.all(np.isfinite(x)):
        raise SnnCompileError(f"calibration data has shape {x.shape}; the floor centring reads "
                              f"finite model input (samples, steps, {', '.join(map(str, shape))})")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise SnnCompileError(f"calibration data has shape {x.shape}: it holds no samples or no "
                              "steps to measure the model on")
    check_work(nn_graph, len(x), x.shape[1], "calibration")
    recorded = run_reference(nn_graph, np.asarray(x, np.float64), record=True, state=True)
    return activity_of(nn_graph, x, recorded), measured_ranges(nn_graph, recorded)


def verify_input_kind(model: Any, x: np.ndarray, frame_steps: int | None,
                       options: dict[str, Any]) -> dict[str, Any]:
    """verify's input kind: analog by itself (with a notice) when x holds values other than 0
    and 1 and no kind was given; an analog input's range, if not given, is x's own."""
    from snncompile.frontends import live
    from snncompile.progress import notice

    kind = options.get("input_kind")
    netx = live.kind(model) is None and Path(model).suffix.lower() == ".net"
    if frame_steps is not None or netx or kind == "spikes":
        return options
    values = np.asarray(x)
    if kind is None:
        if not np.issubdtype(values.dtype, np.number) or np.all((values == 0) | (values == 1)):
            return options
        notice("the input holds values other than 0 and 1: verifying with analog input "
               "(--input-kind analog; --input-kind spikes refuses such input)")
    if options.get("input_range") is None and options.get("calibration") is None:
        from snncompile.passes.analog import input_range

        options = {**options, "input_range": input_range(values, "the verify input")}
    return {**options, "input_kind": "analog"}
