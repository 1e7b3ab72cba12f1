"""Models held in memory (a torch.nn.Module, a nir.NIRGraph, an onnx.ModelProto) read by the same
front ends as files, without a temporary file: a notebook's model need not be picklable (snnTorch's
default Leaky is not), and a module is read from its own attributes (so snnTorch's subtractive
reset survives, which its NIR export turns into reset-to-zero). Also the trainer's own forward of
a live module, which `verify` compares with the float reference."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from snncompile.errors import ModelLoadError
from snncompile.ir.graph import Graph

KINDS = "a model file path, a torch.nn.Module, a nir.NIRGraph or an onnx.ModelProto"
OPTIONS: dict[str, tuple[str, ...]] = {  # what each kind of object takes (as the file types do)
    "module": ("input_shape", "dt"),
    "nir": ("dt", "reset", "reset_timing"),
    "onnx": ("calibration", "percentile", "max_pool", "onnx_mode"),
    "graph": (),
}


def kind(model: Any) -> str | None:
    """'module', 'nir', 'onnx' or 'graph' for an in-memory model; None for anything else (a path).
    Checked by class name and module so no optional framework is imported to ask (a torch
    module exists only once torch is imported; importing it costs a second or two)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "module"
    if isinstance(model, Graph):
        return "graph"
    cls = type(model)
    if cls.__module__.split(".")[0] == "nir" and cls.__name__ == "NIRGraph":
        return "nir"
    if cls.__module__.split(".")[0] == "onnx" and cls.__name__ == "ModelProto":
        return "onnx"
    return None


def describe(model: Any) -> str:
    """How errors, manifests and reports name `model`: a path as given, an object by its class."""
    k = kind(model)
    if k is None:
        return str(model)
    if k == "graph":
        return str(model.meta.get("source", "<Graph>"))
    top = type(model).__module__.split(".")[0]
    return f"<{top}.{type(model).__name__}>"


def load_object(model: Any, **options: Any) -> Graph:
    """The nn Graph of an in-memory model (options as for the matching file type)."""
    k = kind(model)
    if k is None:
        raise ModelLoadError(f"snncompile reads {KINDS}; got a {type(model).__name__}")
    name = describe(model)
    wrong = sorted(set(options) - set(OPTIONS[k]))
    if wrong:
        takes = ", ".join(OPTIONS[k]) or "none"
        raise ModelLoadError(f"{name}: option {', '.join(wrong)} does not apply to it (it takes: "
                             f"{takes})")
    if k == "graph":
        return model
    if k == "nir":
        from snncompile.frontends.nir import from_nir

        return from_nir(model, source=name, **options)
    if k == "onnx":
        from snncompile.frontends.onnx import converted, read_proto

        graph = read_proto(model, name, options.get("max_pool", "refuse"),
                           options.get("onnx_mode", "auto"))
        return converted(graph, options.get("calibration"), options.get("percentile"), name)
    return _module_graph(model, name, options.get("input_shape"), options.get("dt"))


def _module_graph(module: Any, name: str, input_shape: Sequence[int] | None,
                  dt: float | None) -> Graph:
    from snncompile.frontends.torch_file import DEFAULT_DT, first_linear_shape
    from snncompile.frontends.torch_modules import from_module

    shape = input_shape or first_linear_shape(module)
    if not shape:
        raise ModelLoadError(f"{name}: the input shape cannot be inferred (the model does not "
                             "start with a Linear layer); pass input_shape=(...)")
    return from_module(module, shape, DEFAULT_DT if dt is None else float(dt), source=name)


def run_module(module: Any, x: np.ndarray) -> np.ndarray:
    """The module's own forward over x (batch, time, *shape) from a zero state, no gradients:
    snncompile.nn and snnTorch step by step; SpikingJelly after functional.reset_net, in its
    step mode; a Norse module threading its state."""
    import torch

    import snncompile.nn as snn

    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    xt = torch.as_tensor(np.asarray(x), dtype=dtype)
    top = {type(m).__module__.split(".")[0] for m in module.modules()}
    was_training = module.training
    module.eval()
    patched = _sparse_linears(module)
    try:
        with torch.no_grad():
            if "spikingjelly" in top:
                from spikingjelly.activation_based import functional

                functional.reset_net(module)
                if any(getattr(m, "step_mode", "s") == "m" for m in module.modules()):
                    return module(xt.transpose(0, 1)).transpose(0, 1).numpy()
            if type(module).__module__.startswith("norse."):  # cells return (out, state)
                state, outs = None, []
                for t in range(xt.shape[1]):
                    y, state = module(xt[:, t], state)
                    outs.append(y)
                return torch.stack(outs, dim=1).numpy()
            return snn.run(module, xt).numpy()
    finally:
        module.train(was_training)
        for m in patched:
            del m.forward


def _sparse_linears(module: Any) -> list[Any]:
    """torch's Linear cannot add a bias to a sparse weight's product (addmm_sparse_dense wants
    the sparse operand first): each such Linear gets, for this run, its own map computed as
    torch.sparse.mm(W, x^T)^T + b. Returns the patched modules (their forward is deleted after)."""
    import torch

    patched = []
    for m in module.modules():
        if isinstance(m, torch.nn.Linear) and m.weight.layout != torch.strided \
                and m.bias is not None:
            def forward(x: Any, m: Any = m) -> Any:
                w = m.weight if m.weight.layout in (torch.sparse_coo, torch.sparse_csr) \
                    else m.weight.to_sparse_coo()
                flat = x.reshape(-1, x.shape[-1])
                return (torch.sparse.mm(w, flat.T).T + m.bias).reshape(*x.shape[:-1], -1)

            m.forward = forward
            patched.append(m)
    return patched
