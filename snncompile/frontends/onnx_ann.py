"""The ANN reader of the ONNX front end (snncompile.frontends.onnx): one node rule per op type,
walking the graph in order; the stepwise SNN reader (onnx_step) extends it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import ModelLoadError, Named, SnnCompileError, UnsupportedOp
from snncompile.frontends.onnx_balance import spiking_source
from snncompile.ir import nn_ops as nn
from snncompile.ir.conv_geometry import pair, same_padding
from snncompile.ir.graph import Graph
from snncompile.limits import check_shape

_MAX_POOL_HELP = ("MaxPool has no rate-coded equivalent; retrain with average pooling, or load "
                  "with max_pool='average' to replace it by an average pool (this changes the "
                  "ANN)")


class OnnxNode:
    """The ONNX node being read, for error sentences."""

    def __init__(self, path: Path, node: Any, index: int):
        self.path, self.node = path, node
        self.label = f"{path.name}: node {node.name or f'#{index}'!r} ({node.op_type})"

    def refuse(self, detail: str) -> UnsupportedOp:
        return UnsupportedOp(Named(self.label), "ONNX front end", detail)

    def attrs(self) -> dict[str, Any]:
        import onnx

        return {a.name: onnx.helper.get_attribute_value(a) for a in self.node.attribute}


class AnnReader:
    """Walks the ONNX graph in order; `tensors` maps an ONNX tensor to (our nodes summed, shape)."""

    def __init__(self, path: Path, model: Any, max_pool: str):
        from onnx import numpy_helper

        self.path, self.max_pool = path, max_pool
        self.g = model.graph
        self.consts = {t.name: numpy_helper.to_array(t).astype(np.float64)
                       for t in self.g.initializer}
        self.nodes: dict[str, nn.NNOp] = {}
        self.edges: list[tuple[str, str]] = []
        self.tensors: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        self.uses: dict[str, int] = {}
        for node in self.g.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1

    def name(self, raw: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", raw.strip("/").replace("/", ".")) or "node"
        name, k = base, 1
        while name in self.nodes:
            k, name = k + 1, f"{base}_{k + 1}"
        return name

    def add(self, raw: str, op: nn.NNOp, sources: tuple[str, ...]) -> str:
        name = self.name(raw)
        self.nodes[name] = op
        self.edges.extend((s, name) for s in sources)
        return name

    def read_input(self) -> str:
        inputs = [i for i in self.g.input if i.name not in self.consts]
        if len(inputs) != 1 or len(self.g.output) != 1:
            raise ModelLoadError(f"{self.path}: the graph has {len(inputs)} inputs and "
                                 f"{len(self.g.output)} outputs; exactly one of each is supported "
                                 "in an ANN (one step of a stateful SNN: onnx_mode 'step')")
        dims = inputs[0].type.tensor_type.shape.dim
        shape = tuple(int(d.dim_value) for d in dims[1:])
        if len(dims) < 2 or any(d <= 0 for d in shape):
            raise ModelLoadError(f"{self.path}: input {inputs[0].name!r} needs a static shape "
                                 "(batch, features...), got an unknown or empty per-sample shape")
        check_shape(shape, f"{self.path}: input {inputs[0].name!r}")
        name = self.add("input", nn.Input(shape=shape), ())
        self.tensors[inputs[0].name] = ((name,), shape)
        return name

    def const(self, n: OnnxNode, i: int) -> np.ndarray:
        names = n.node.input
        if i >= len(names) or names[i] not in self.consts:
            raise n.refuse(f"its input {i} must be a constant (initializer) in this front end")
        return self.consts[names[i]]

    def tensor(self, n: OnnxNode, i: int = 0) -> tuple[tuple[str, ...], tuple[int, ...]]:
        name = n.node.input[i]
        if name not in self.tensors:
            raise n.refuse(f"its input {name!r} is not an activation this front end produced")
        return self.tensors[name]

    def unary(self, n: OnnxNode, op: nn.NNOp) -> None:
        sources, shape = self.tensor(n)
        try:
            out_shape = tuple(int(d) for d in op.output_shape(shape))
        except Exception as exc:  # noqa: BLE001 - a shape rule failing means the node does not fit
            raise n.refuse(f"it cannot take input of shape {shape} ({exc})") from None
        name = self.add(n.node.name or n.node.op_type, op, sources)
        self.tensors[n.node.output[0]] = ((name,), out_shape)

    def read(self, model: Any) -> Graph:
        self.read_input()
        for index, node in enumerate(self.g.node):
            n = OnnxNode(self.path, node, index)
            handler = getattr(self, f"op_{node.op_type}", None)
            if node.domain not in ("", "ai.onnx") or handler is None:
                raise n.refuse("this op type has no conversion rule (supported: Conv, Gemm, "
                               "MatMul, BatchNormalization, Add, Relu, AveragePool, "
                               "GlobalAveragePool, Flatten, Reshape, Identity, Dropout, Softmax "
                               "at the end)")
            try:
                handler(n)
            except SnnCompileError:
                raise
            except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError,
                    RuntimeError, OverflowError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ModelLoadError(f"{self.path}: node {node.name or index!r} "
                                     f"({node.op_type}) cannot be read: {first}") from None
        out = self.g.output[0].name
        if out not in self.tensors:
            raise ModelLoadError(f"{self.path}: the graph output {out!r} is not computed from "
                                 "the input by supported nodes")
        sources, shape = self.tensors[out]
        readout = ""
        if len(sources) != 1 or not isinstance(self.nodes[sources[0]], nn.IF):
            scaled = tuple(self._scaled(out, s) for s in sources)
            readout = self.add(out, _if(shape), scaled)
            sources = (readout,)
        self.add("output", nn.Output(shape=shape), sources)
        meta = {"source": self.path.name, "frontend": "onnx", "onnx_readout": readout,
                "input_encoding": "rate code of values in [0, 1] (snncompile.frontends.onnx_balance"
                                  ".rate_encode)"}
        return Graph("nn", self.nodes, tuple(self.edges), 1.0, meta)

    # -- op rules ------------------------------------------------------------------------------
    def op_Constant(self, n: OnnxNode) -> None:
        from onnx import numpy_helper

        value = n.attrs().get("value")
        if value is None:
            raise n.refuse("only Constant with a 'value' tensor is supported")
        self.consts[n.node.output[0]] = numpy_helper.to_array(value).astype(np.float64)

    def op_Identity(self, n: OnnxNode) -> None:
        self.tensors[n.node.output[0]] = self.tensor(n)

    op_Dropout = op_Identity  # inference: identity (a mask output, if any, is never produced)

    def op_Softmax(self, n: OnnxNode) -> None:
        if n.node.output[0] != self.g.output[0].name:
            raise n.refuse("Softmax is only supported as the last node (its argmax is kept)")
        self.op_Identity(n)

    def op_Relu(self, n: OnnxNode) -> None:
        sources, shape = self.tensor(n)
        scaled = tuple(self._scaled(n.node.name or "Relu", s) for s in sources)
        self.tensors[n.node.input[0]] = (scaled, shape)
        self.unary(n, _if(shape))

    def op_Conv(self, n: OnnxNode) -> None:
        a = n.attrs()
        w = self.const(n, 0 + 1)
        if w.ndim != 4:
            raise n.refuse(f"only 2-d convolutions are supported, its weight has {w.ndim} dims")
        bias = self.const(n, 2) if len(n.node.input) > 2 and n.node.input[2] else np.zeros(len(w))
        self.unary(n, nn.Conv2d(weight=w, bias=bias, stride=pair(a.get("strides", [1, 1])),
                                padding=pads_of(n, a, w.shape[2:]), dilation=pair(a.get(
                                    "dilations", [1, 1])), groups=int(a.get("group", 1))))

    def op_Gemm(self, n: OnnxNode) -> None:
        a = n.attrs()
        if a.get("transA", 0):
            raise n.refuse("transA=1 is not supported")
        b = self.const(n, 1)
        if b.ndim != 2:
            raise n.refuse(f"only a 2-d constant B is supported, got {b.ndim} dims")
        weight = float(a.get("alpha", 1.0)) * (b if a.get("transB", 0) else b.T)
        bias = np.zeros(len(weight))
        if len(n.node.input) > 2 and n.node.input[2]:
            bias = float(a.get("beta", 1.0)) * np.broadcast_to(self.const(n, 2), bias.shape)
        self._dense(n, nn.Affine(weight=weight, bias=np.array(bias)))

    def op_MatMul(self, n: OnnxNode) -> None:
        b = self.const(n, 1)
        if b.ndim != 2:
            raise n.refuse(f"only a 2-d constant right operand is supported, got {b.ndim} dims")
        self._dense(n, nn.Linear(weight=b.T.copy()))

    def _dense(self, n: OnnxNode, op: nn.NNOp) -> None:
        shape = self.tensor(n)[1]
        if shape != (op.weight.shape[1],):
            raise n.refuse(f"its input has per-sample shape {shape}; a flat ({op.weight.shape[1]},)"
                           " is needed (add a Flatten)")
        self.unary(n, op)

    def op_Add(self, n: OnnxNode) -> None:
        consts = [i for i, t in enumerate(n.node.input[:2]) if t in self.consts]
        if len(consts) == 1:
            return self._add_bias(n, 1 - consts[0], self.consts[n.node.input[consts[0]]])
        if consts:
            raise n.refuse("adding two constants is not supported")
        (a, sa), (b, sb) = self.tensor(n, 0), self.tensor(n, 1)
        if sa != sb:
            raise n.refuse(f"it adds shapes {sa} and {sb}; only equal shapes (residual) are "
                           "supported")
        summed = tuple(self._scaled(n.node.name or "Add", s) for s in a + b)
        self.tensors[n.node.output[0]] = (summed, sa)

    def _scaled(self, base: str, source: str) -> str:
        """Spikes that reach a sum or a neuron without passing a weight get a Scale (set to their
        layer's threshold by balancing), so every input is in the ANN's units."""
        if spiking_source(self.nodes, self.edges, source) is None:
            return source
        return self.add(f"{base}.scale", nn.Scale(scale=np.array(1.0)), (source,))

    def _add_bias(self, n: OnnxNode, i: int, value: np.ndarray) -> None:
        sources, shape = self.tensor(n, i)
        op = self.nodes[sources[0]] if len(sources) == 1 else None
        if not isinstance(op, (nn.Affine, nn.Linear, nn.Conv2d)) or self.uses.get(
                n.node.input[i], 0) != 1:
            raise n.refuse("a constant is only added as the bias of the Gemm/MatMul/Conv before it")
        try:
            full = np.broadcast_to(value[(0,) * max(0, value.ndim - len(shape))], shape)
        except ValueError:
            raise n.refuse(f"its constant of shape {value.shape} does not fit shape "
                           f"{shape}") from None
        bias = full.reshape(shape[0], -1)[:, 0].copy()
        if not np.array_equal(np.broadcast_to(bias.reshape((-1,) + (1,) * (len(shape) - 1)),
                                              shape), full):
            raise n.refuse(f"its constant of shape {value.shape} is not a per-channel bias")
        old = getattr(op, "bias", np.zeros(len(bias)))
        new = (op.replace(bias=old + bias) if not isinstance(op, nn.Linear)
               else nn.Affine(weight=op.weight, bias=bias))
        self.nodes[sources[0]] = new
        self.tensors[n.node.output[0]] = (sources, shape)

    def op_BatchNormalization(self, n: OnnxNode) -> None:
        """Inference BatchNormalization: folded into the Gemm/MatMul/Conv before it when only
        it reads that output (torch_blocks.norm_affine), else a per-channel synapse."""
        from snncompile.frontends.torch_blocks import norm_affine, per_channel

        if len(n.node.output) > 1 and any(n.node.output[1:]) or n.attrs().get("training_mode"):
            raise n.refuse("training-mode BatchNormalization (running statistics as outputs) "
                           "has no inference meaning")
        scale, shift = norm_affine(self.const(n, 3), self.const(n, 4),
                                   float(n.attrs().get("epsilon", 1e-5)), self.const(n, 1),
                                   self.const(n, 2))
        sources, shape = self.tensor(n)
        if len(shape) not in (1, 2, 3) or shape[0] != len(scale):
            raise n.refuse(f"it normalizes {len(scale)} channels of an input of shape {shape}")
        op = self.nodes[sources[0]] if len(sources) == 1 else None
        if isinstance(op, (nn.Affine, nn.Linear, nn.Conv2d)) and self.uses.get(
                n.node.input[0], 0) == 1:
            w = op.weight * scale.reshape((-1,) + (1,) * (op.weight.ndim - 1))
            bias = getattr(op, "bias", np.zeros(len(scale))) * scale + shift
            self.nodes[sources[0]] = (nn.Affine(weight=w, bias=bias) if isinstance(op, nn.Linear)
                                      else op.replace(weight=w, bias=bias))
            self.tensors[n.node.output[0]] = (sources, shape)
        else:
            self.unary(n, per_channel(scale, shift, shape))

    def op_AveragePool(self, n: OnnxNode) -> None:
        """Also MaxPool with max_pool='average' (zero padding counted, as in AveragePool)."""
        a = n.attrs()
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1])):
            raise n.refuse("ceil_mode=1 or dilations are not supported")
        if len(a["kernel_shape"]) != 2:
            raise n.refuse(f"only 2-d pooling is supported, got kernel {a['kernel_shape']}")
        pads = pads_of(n, a, a["kernel_shape"])
        if pads != (0, 0) and n.node.op_type == "AveragePool" and not a.get("count_include_pad"):
            raise n.refuse("padding with count_include_pad=0 is not supported")
        self.unary(n, nn.AvgPool2d(kernel_size=pair(a["kernel_shape"]),
                                   stride=pair(a.get("strides", [1, 1])), padding=pads))

    def op_MaxPool(self, n: OnnxNode) -> None:
        if self.max_pool != "average":
            raise n.refuse(_MAX_POOL_HELP)
        self.op_AveragePool(n)

    def op_GlobalAveragePool(self, n: OnnxNode) -> None:
        shape = self.tensor(n)[1]
        if len(shape) != 3:
            raise n.refuse(f"its input has per-sample shape {shape}; (C, H, W) is needed")
        self.unary(n, nn.AvgPool2d(kernel_size=shape[1:], stride=shape[1:]))

    def op_Flatten(self, n: OnnxNode) -> None:
        if n.attrs().get("axis", 1) != 1:
            raise n.refuse("only axis=1 (keep the batch) is supported")
        self.unary(n, nn.Flatten(start_dim=0, end_dim=-1))

    def op_Reshape(self, n: OnnxNode) -> None:
        target = [int(d) for d in self.const(n, 1).ravel()]
        size = int(np.prod(self.tensor(n)[1]))
        if (len(target) != 2 or target[1] not in (-1, size) or target == [-1, -1]
                or target[0] == size):
            raise n.refuse(f"only reshapes to (batch, features) are supported, got {target}")
        self.unary(n, nn.Flatten(start_dim=0, end_dim=-1))


def _if(shape: tuple[int, ...]) -> nn.IF:
    """The converted ReLU: IF, threshold set by balancing, reset by subtraction (keeps the
    residue)."""
    return nn.IF(r=np.ones(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape),
                 reset="subtract", reset_timing="immediate")


def pads_of(n: OnnxNode, a: dict, kernel: Any) -> tuple[int, int]:
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        return (0, 0)
    if auto != "NOTSET":
        if any(s != 1 for s in a.get("strides", [1])):
            raise n.refuse(f"auto_pad={auto} with a stride is not supported")
        try:
            return same_padding(kernel, a.get("dilations", [1, 1]))
        except ValueError as exc:
            raise n.refuse(str(exc)) from None
    pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4 or pads[:2] != pads[2:]:
        raise n.refuse(f"pads {pads} are not symmetric (begin == end)")
    return (pads[0], pads[1])
