"""ONNX front end: ANN-to-SNN conversion (the classic rate-coded route, Rueckauer et al. 2017).

An ANN of Conv, Gemm/MatMul (+Add bias, + BatchNormalization, folded), Relu, AveragePool,
GlobalAveragePool, Flatten/Reshape to
(batch, features), Add of two activations, Identity/Dropout and a final Softmax becomes an nn graph:
every Relu is an IF neuron (reset by subtraction, immediate), and the ANN's last layer, if it is not
a Relu, becomes a spiking readout (class = most spikes; the Softmax is dropped, as argmax does not
change). The input is binary spikes rate-coding values in [0, 1] (`rate_encode`, deterministic).
Thresholds come from data (`onnx_balance.balance`): a layer's threshold is the `percentile`-th
percentile of its ANN activations on `calibration`, and each weight that reads spikes is scaled by
its source layer's threshold, so a spike rate r stands for the ANN value r * threshold.

A graph with more than one input is instead one time step of a stateful SNN (x, mem1, ...) ->
(spikes, mem1', ...), as torch.onnx.export writes it, read with its own neurons (onnx_step; the
`onnx_mode` option chooses either reading). The ANN's node rules are in onnx_ann.

The file is read with `onnx.load` only (no code runs); anything else is refused by node and op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snncompile.errors import ModelLoadError, SnnCompileError
from snncompile.frontends.onnx_ann import AnnReader
from snncompile.frontends.onnx_balance import balance
from snncompile.ir.graph import Graph


def read(path: str | Path, max_pool: str = "refuse", onnx_mode: str = "auto") -> Graph:
    """The ONNX ANN as an nn graph with ReLU -> IF (threshold 1) and raw weights (no balancing);
    or a stepwise SNN graph (onnx_step, `onnx_mode` 'step', or 'auto' when it has state inputs)."""
    import onnx

    path = Path(path)
    if max_pool not in ("refuse", "average"):
        raise ModelLoadError(f"max_pool must be 'refuse' or 'average', not {max_pool!r}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a bad file
        raise ModelLoadError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    from snncompile.frontends.onnx_external import load_external

    load_external(model, path)
    return read_proto(model, path, max_pool, onnx_mode)


def read_proto(model: Any, where: str | Path = "<ModelProto>", max_pool: str = "refuse",
               onnx_mode: str = "auto") -> Graph:
    """`read` for an onnx.ModelProto in memory; `where` names it in errors and the graph's meta."""
    import onnx

    from snncompile.frontends.onnx_external import tensors

    path = Path(where)
    if max_pool not in ("refuse", "average"):
        raise ModelLoadError(f"max_pool must be 'refuse' or 'average', not {max_pool!r}")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for _, t in tensors(model)):
        raise ModelLoadError(f"{path}: weights stored in external data files were not loaded; "
                             "load the model with onnx.load (which reads them), or pass its path")
    if not model.graph.node:
        raise ModelLoadError(f"{path}: the ONNX graph has no nodes")
    from snncompile.frontends.onnx_step import StepReader, stepwise

    try:
        if stepwise(model, onnx_mode, max_pool, path):
            return StepReader(path, model).read(model)
        return AnnReader(path, model, max_pool).read(model)
    except SnnCompileError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, RuntimeError,
            OverflowError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{path}: the ONNX graph cannot be converted: {first}") from None


def load(path: str | Path, calibration: Any = None, percentile: float | None = None,
         max_pool: str = "refuse", onnx_mode: str = "auto", **unused: Any) -> Graph:
    """Convert an ONNX ANN to a balanced IF network; `calibration` is ANN input (n, *input_shape)
    in [0, 1] (an array, or the path of a .npy). A stepwise SNN graph is read as it is."""
    if unused:
        raise ModelLoadError(f"{Path(path).name}: option(s) {', '.join(sorted(unused))} do not "
                             "apply to ONNX models")
    return converted(read(path, max_pool, onnx_mode), calibration, percentile, Path(path).name)


def converted(graph: Graph, calibration: Any, percentile: float | None, name: str) -> Graph:
    """The ANN balanced on `calibration`; a stepwise SNN graph (no conversion) unchanged."""
    if graph.meta.get("onnx_mode") != "step":
        return balance(graph, calibration, 99.9 if percentile is None else percentile, name)
    if calibration is not None or percentile is not None:
        raise ModelLoadError(f"{name}: calibration and percentile set ANN thresholds; this is a "
                             "stepwise SNN graph, whose neurons have their own")
    return graph
