"""Analog (direct) input: the model's first synapses read real values, not spikes.

The user says so (`input_kind="analog"`, `--input-kind analog`; verify also switches to it by
itself when its input holds values other than 0 and 1). The real input is quantized like any
other tensor, to a signed `bits`-bit integer (int8 payloads, the graded spikes Lava's Dense and
Conv take with num_message_bits > 0): scale = range / qmax, where `range` is the largest |x| the
input takes, given (`--input-range`) or measured on the calibration inputs (`--calibration`, or
verify's own input). The nn graph keeps the float model; its meta["analog_input"] carries the
scale to the quantize pass, which expresses the input synapses' weights per input unit, and to
assemble, which makes the hw input an `AnalogInput` (hw_ops) that quantizes at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from snncompile.errors import SilentInputError, SnnCompileError
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph

INPUT_KINDS = ("spikes", "analog")
BITS = 8  # int8 payloads: the emulator's int8 x int8 products hold them exactly
META = "analog_input"


def analog_input(meta: Mapping[str, Any]) -> hw.AnalogInput | None:
    """The hw input op an nn graph's meta asks for, or None for spikes."""
    spec = meta.get(META)
    if not spec:
        return None
    return hw.AnalogInput((), scale=float(spec["scale"]), bits=int(spec["bits"]))


def input_range(value: Any, where: str) -> float:
    """The largest |x| of the input: a number, or measured on an array of inputs."""
    arr = np.asarray(value, dtype=np.float64) if not isinstance(value, (int, float)) else None
    top = float(np.abs(arr).max(initial=0)) if arr is not None else float(value)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise SnnCompileError(f"{where}: the inputs that set the analog input's range hold NaN "
                              "or infinite values")
    if not (np.isfinite(top) and top > 0):
        raise SnnCompileError(f"{where}: the analog input's range must be a positive finite "
                              f"number (the largest |x| it takes), not {top!r}")
    return top


def payload_bits(values: Any, rng: float) -> int:
    """The fewest payload bits (2..BITS) whose grid (rng / qmax) holds every value exactly, else
    BITS. S2S's signed events (-1/0/+1, range 1) take 2 bits: payload +-1 instead of +-127 lifts
    the input synapses' weight exponents by 7, off Lava's floor of -8, so their fine twin keeps
    all its bits (NeuroBench's keyword model on speech: first-layer spikes that differ from
    snnTorch's 54,830 -> 21,589; benchmarks/gsc_flip_variants.py)."""
    x = np.asarray(values, dtype=np.float64)
    for bits in range(2, BITS):
        q = x / (rng / ((1 << (bits - 1)) - 1))  # as AnalogInput.quantize: qmax / rng
        # would overflow for a subnormal range
        if np.all(np.abs(q - np.rint(q)) <= 1e-9 * np.maximum(1.0, np.abs(q))):
            return bits
    return BITS


def input_reach(xs: list[np.ndarray], codes: list[Any], fines: list[Any],
                from_input: list[bool]) -> bool | None:
    """Whether some nonzero weight from the input survives quantization (codes and their fine
    twins); None when no synapse from the input has a nonzero weight to keep."""
    wanted = [i for i, x in enumerate(xs[:len(from_input)]) if from_input[i] and np.any(x)]
    if not wanted:
        return None
    return any(np.any(codes[i].weights) or (fines[i] is not None and np.any(fines[i].weights))
               for i in wanted)


def silent_input(meta: Mapping[str, Any]) -> SilentInputError:
    """The refusal for a range at which every input weight rounds to 0 (a subnormal or 1e-30
    calibration): such a build ignores its input, and verify on real data fails."""
    spec = meta[META]
    return SilentInputError(f"the analog input's range {spec['range']:.3g} is so small that "
                            f"every weight from the input rounds to 0 (scale {spec['scale']:.3g} "
                            "per payload step), so the build would ignore its input: give the "
                            "input's real range (--input-range R, or --calibration data on the "
                            "input's own scale)")


def with_input_kind(graph: Graph, kind: str | None, rng: float | None, where: str,
                    bits: int = BITS) -> Graph:
    """`graph` with meta["analog_input"] set for kind "analog" (scale = range / qmax, qmax =
    2^(bits - 1) - 1; `payload_bits` picks fewer bits for input on a coarse grid)."""
    if kind is None or kind == "spikes":
        return graph
    if kind not in INPUT_KINDS:
        raise SnnCompileError(f"input kind must be one of {', '.join(INPUT_KINDS)}, not {kind!r}")
    if graph.level != "nn":
        raise SnnCompileError(f"{where}: analog input applies to float models; this file is "
                              "already quantized (a netx input layer takes graded input as is)")
    if rng is None:
        raise SnnCompileError(f"{where}: analog input needs its range to choose the input "
                              "scale: give --input-range R (the largest |x|) or --calibration "
                              "X.npy (inputs whose range sets it)")
    qmax = (1 << (bits - 1)) - 1
    meta = {**graph.meta, META: {"scale": rng / qmax, "bits": bits, "range": rng}}
    return Graph(graph.level, graph.nodes, graph.edges, graph.dt, meta)
