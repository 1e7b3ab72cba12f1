"""onnxruntime running a stepwise ONNX SNN graph over time, each state output fed back to its
input from zeros: the trainer's-model side of `verify` for such files (build_folder.run_source),
as a `.pt` file's own forward is for torch models. Optional: without onnxruntime it is skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import ModelLoadError


def run_stepwise(model: Any, x: np.ndarray, onnx_mode: str = "auto") -> np.ndarray | None:
    """The spike output (batch, time, ...) for x (batch, time, *input_shape); None when
    onnxruntime is not installed or `model` (a path or an onnx.ModelProto) is not read as a
    stepwise graph. The pairing of states and outputs is the front end's (graph.meta)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    import onnx

    from snncompile.frontends.live import kind
    from snncompile.frontends.onnx import read_proto
    from snncompile.frontends.onnx_external import load_external
    from snncompile.frontends.onnx_step import stepwise

    if kind(model) == "onnx":
        proto = model
    else:
        proto = onnx.load(str(model), load_external_data=False)
        load_external(proto, Path(model))  # confined to the model's folder, as the front end
    where = str(model) if kind(model) is None else "<ModelProto>"
    if not stepwise(proto, onnx_mode, "refuse", Path(where)):
        return None  # an ANN: converted, it has no spiking model of its own to run
    step = read_proto(proto, where, onnx_mode=onnx_mode).meta["onnx_step"]
    x = np.asarray(x)
    batch = next((i.type.tensor_type.shape.dim for i in proto.graph.input
                  if i.name == step["input"]), [])
    fixed = int(batch[0].dim_value) if len(batch) and batch[0].HasField("dim_value") else 0
    if fixed == 1 and len(x) > 1:  # exported with a batch of one: sample by sample
        return np.concatenate([_run(onnxruntime, proto, step, where, x[i:i + 1])
                               for i in range(len(x))])
    if fixed > 1 and fixed != len(x):
        raise ModelLoadError(f"{where}: its input {step['input']!r} has a fixed batch of {fixed}"
                             f"; onnxruntime cannot run the {len(x)} samples given")
    return _run(onnxruntime, proto, step, where, x)


def _run(onnxruntime: Any, proto: Any, step: dict, where: str, x: np.ndarray) -> np.ndarray:
    """The stepped run; onnxruntime's own refusal (a graph it finds invalid: types that
    disagree, which our reader does not need) is one sentence naming the file."""
    try:
        return _stepped(onnxruntime, proto, step, x)
    except Exception as exc:  # onnxruntime's pybind errors share no base class but Exception
        if not type(exc).__module__.startswith("onnxruntime"):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{where}: onnxruntime cannot run this stepwise graph (verify's "
                             f"trainer's-model side): {first}") from None


def _stepped(onnxruntime: Any, proto: Any, step: dict, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    types = {i.name: (np.float64 if i.type == "tensor(double)" else np.float32)
             for i in session.get_inputs()}
    shapes = {i.name: tuple(int(d.dim_value) for d in i.type.tensor_type.shape.dim[1:])
              for i in proto.graph.input}
    states = {s: np.zeros((len(x), *shapes[s]), types[s]) for s in step["fed_back"]}
    names = [o.name for o in session.get_outputs()]
    spikes = []
    for t in range(x.shape[1]):
        outs = dict(zip(names, session.run(None, {step["input"]: x[:, t].astype(
            types[step["input"]]), **states})))
        states = {s: outs[o] for s, o in step["fed_back"].items()}
        spikes.append(outs[step["spikes"]])
    return np.stack(spikes, axis=1).astype(np.float64)
