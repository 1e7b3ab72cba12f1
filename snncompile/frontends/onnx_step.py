"""ONNX front end, stepwise mode: one time step of a stateful SNN exported by torch.onnx.export.

Such a graph takes (x_t, mem1, mem2, ...) and returns (spikes, mem1', mem2', ...): the first input
is the data, every other input a membrane fed back from an output by the caller's loop. Elementwise
nodes are read as polynomials (onnx_poly) and each comparison `m - threshold > 0` of a membrane m
that keeps a state input s is a neuron (docs/semantics.md):

* m = beta * s + I (immediate reset): the output fed back is m - threshold * spk (subtract) or
  m * (1 - spk) (zero, also torch.where(spk, 0, m)); plain torch's usual LIF step;
* m = beta * s + I - threshold * r or beta * (1 - r) * s + I with r = [s - threshold > 0], the
  spike s held (next_step reset, subtract or zero): snnTorch's Leaky exported with its state;
* beta = 1 is IF, beta in [0, 1) is LIF (tau = dt / (1 - beta), r = tau / dt: v = beta v + I).
Between neurons: Gemm/MatMul/Conv/BatchNormalization/Flatten/Reshape/AveragePool as the ANN reader
reads them, sums of tensors (SEW ADD, MS-ResNet's membrane shortcut), spike * spike (SEW AND) and
spike * (1 - spike) (IAND) as threshold populations, and MaxPool of spikes as a SumPool2d into a
threshold population (an OR). Any other state update is refused with the node that computes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import ModelLoadError
from snncompile.frontends.onnx_ann import AnnReader, OnnxNode, pads_of
from snncompile.frontends.onnx_neurons import LIF_FORMS, NeuronRules, threshold_neuron
from snncompile.frontends.onnx_poly import Poly, is_one
from snncompile.ir import nn_ops as nn
from snncompile.ir.conv_geometry import pair
from snncompile.ir.graph import Graph
from snncompile.limits import check_shape

# ANN-reader rules that mean the same here (their inputs are materialized first)
SHARED = ("Constant", "Conv", "Gemm", "MatMul", "BatchNormalization", "AveragePool",
          "GlobalAveragePool", "Flatten", "Reshape")
# elementwise ops folded when every input is a constant (decays, thresholds: clamp(beta, 0, 1))
FOLD = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
        "Neg": np.negative, "Clip": lambda x, lo=-np.inf, hi=np.inf: np.clip(x, lo, hi),
        "Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Identity": lambda x: x, "Cast": None,
        "Sigmoid": lambda x: 1 / (1 + np.exp(-x))}
SUPPORTED = ("Gemm, MatMul, Conv, BatchNormalization, Add, Sub, Mul, Greater, Less, Cast, Where, "
             "MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Identity, Dropout, "
             "Constant, ConstantOfShape(Shape), and Clip/Div/Neg/Sqrt/Sigmoid of constants")
class StepReader(NeuronRules, AnnReader):
    """Reads the stepwise graph; values are Polys (self.polys) or the ANN reader's tensors."""

    def __init__(self, path: Path, model: Any):
        super().__init__(path, model, "refuse")
        self.polys: dict[str, Poly] = {}
        self.conds: dict[str, Poly] = {}  # Greater/Less outputs: the value that must be > 0
        self.states: dict[str, tuple[int, ...]] = {}
        self.neurons: dict[str, Any] = {}  # nn node -> its _Neuron (onnx_neurons)
        self.held: dict[str, np.ndarray] = {}  # state input -> threshold of its held spike
        self.spikes: list[tuple[Poly, Poly]] = []  # (condition, spike) already made
        self.gates: dict[tuple[str, str, bool], str] = {}
        self.origins: dict[tuple[str, ...], str] = {}
        self.shape_of: set[str] = set()
        self.fed_back: dict[str, str] = {}  # state input -> the output that updates it
        self.data_input = self.spike_output = ""
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.producer: dict[str, str] = {}
        self.float32 = True

    # -- values --------------------------------------------------------------------------------
    def unary(self, n: OnnxNode, op: nn.NNOp) -> None:
        super().unary(n, op)
        sources, shape = self.tensors[n.node.output[0]]
        self.shapes[sources[0]] = shape

    def add_node(self, raw: str, op: nn.NNOp, sources: tuple[str, ...],
                 shape: tuple[int, ...]) -> str:
        name = self.add(raw, op, sources)
        self.shapes[name] = shape
        return name

    def binary(self, atom: tuple[str, str]) -> bool:
        return atom[0] == "r" or (atom[0] == "n" and self.nodes[atom[1]].kind == "neuron")

    def value(self, n: OnnxNode, i: int) -> Poly | np.ndarray:
        name = n.node.input[i] if i < len(n.node.input) else ""
        if name in self.consts:
            return self.consts[name]
        if name in self.polys:
            return self.polys[name]
        if name in self.tensors:
            sources, shape = self.tensors[name]
            return sum((Poly.atom(("n", s), shape) for s in sources[1:]),
                       Poly.atom(("n", sources[0]), shape))
        if name in self.states:
            return Poly.atom(("s", name), self.states[name])
        if name in self.conds:
            raise n.refuse(f"it reads the comparison {name!r} without a Cast to float")
        raise n.refuse(f"its input {name!r} is not a value this front end produced")

    def poly(self, n: OnnxNode, i: int, like: Poly | None = None) -> Poly:
        value = self.value(n, i)
        if isinstance(value, Poly):
            return value
        try:
            return Poly.const(value, like.shape if like is not None else ())
        except ValueError:
            raise n.refuse(f"its constant of shape {value.shape} does not fit shape "
                           f"{like.shape if like else ()}") from None

    def operands(self, n: OnnxNode) -> tuple[Poly, Poly]:
        a, b = self.value(n, 0), self.value(n, 1)
        pa = a if isinstance(a, Poly) else None
        pb = b if isinstance(b, Poly) else None
        return self.poly(n, 0, pb), self.poly(n, 1, pa)

    def tensor(self, n: OnnxNode, i: int = 0) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """What a Gemm/Conv/... reads: a poly becomes a sum of nn nodes (gates made here)."""
        name = n.node.input[i]
        if name in self.polys:
            poly = self.polys[name]
            self.tensors[name] = (self.materialize(n, poly), poly.shape)
        elif name in self.states:
            raise n.refuse(f"it reads the state input {name!r} directly; state inputs are read "
                           f"only as neuron membranes ({LIF_FORMS})")
        return super().tensor(n, i)

    def materialize(self, n: OnnxNode, poly: Poly, single: bool = False) -> tuple[str, ...]:
        """The nn nodes whose sum is `poly`: node atoms (a Scale where the coefficient is not 1),
        a * b as an AND gate, a - a * b as an IAND gate; a membrane or a constant is refused."""
        terms = dict(poly.terms)
        if () in terms:
            raise n.refuse("it adds a constant to a tensor; only Gemm/MatMul/Conv biases and "
                           "thresholds are read")
        for mono in terms:
            held = [a[1] for a in mono if a[0] in ("s", "r")]
            if held:
                raise n.refuse(f"it reads the membrane state {held[0]!r} outside its neuron's "
                               f"update ({LIF_FORMS})")
            if len(mono) > 2 or (len(mono) == 2 and not all(map(self.binary, mono))):
                raise n.refuse("it multiplies tensors other than two spike tensors (SEW AND / "
                               "IAND)")
        sources = []
        for mono in sorted(m for m in terms if len(m) == 2):
            (_, a), (_, b) = mono
            c = terms.pop(mono)
            for x, y in ((a, b), (b, a)):
                if is_one(c, -1.0) and ((("n", x),) in terms) and is_one(terms[(("n", x),)]):
                    del terms[(("n", x),)]
                    sources.append(self.gate(n, x, y, True, poly.shape))
                    break
            else:
                sources.append(self.scaled(n, self.gate(n, a, b, False, poly.shape), c))
        for ((_, x),), c in sorted(terms.items()):
            sources.append(self.scaled(n, x, c))
        if single and (len(sources) != 1 or self.nodes[sources[0]].kind != "neuron"):
            raise n.refuse("its input is not one spiking layer's output; it is read only on "
                           "binary spikes")
        return tuple(sources)

    def scaled(self, n: OnnxNode, source: str, c: np.ndarray) -> str:
        if is_one(c):
            return source
        shape = self.shapes[source]
        return self.add_node(f"{n.node.name or n.node.op_type}.scale",
                             nn.Scale(scale=np.broadcast_to(c, shape).copy()), (source,), shape)

    def gate(self, n: OnnxNode, a: str, b: str, inverted: bool, shape: tuple[int, ...]) -> str:
        """SEW AND (a * b) or IAND (a * (1 - b)): a threshold population on a +- b
        (torch_blocks.gate's form)."""
        key = (a, b, inverted)
        if key not in self.gates:
            if self.shapes[a] != self.shapes[b]:
                raise n.refuse(f"it multiplies shapes {self.shapes[a]} and {self.shapes[b]}")
            base = self.name(self.origins.get(tuple(sorted((a, b))), n.node.name or "gate"))
            scales = tuple(self.add_node(f"{base}.{x}", nn.Scale(scale=np.full(shape, sign)),
                                         (x,), shape)
                           for x, sign in ((a, 1.0), (b, -1.0 if inverted else 1.0)))
            self.gates[key] = self.add_node(base, threshold_neuron(shape, 0.5 if inverted else 1.5),
                                            scales, shape)
        return self.gates[key]

    # -- reading -------------------------------------------------------------------------------
    def read_inputs(self) -> None:
        import onnx

        inputs = [i for i in self.g.input if i.name not in self.consts]
        if len(inputs) < 2 or len(self.g.output) < 2:
            raise ModelLoadError(f"{self.path}: a stepwise (stateful) ONNX graph takes the input "
                                 "and the neuron states (x, mem1, ...) and returns the spikes and "
                                 f"the new states; this one has {len(inputs)} inputs and "
                                 f"{len(self.g.output)} outputs")
        self.float32 = inputs[0].type.tensor_type.elem_type != onnx.TensorProto.DOUBLE
        self.read_input_of(inputs[0], data=True)
        for i in inputs[1:]:
            self.read_input_of(i, data=False)

    def read_input_of(self, info: Any, data: bool) -> None:
        dims = info.type.tensor_type.shape.dim
        shape = tuple(int(d.dim_value) for d in dims[1:])
        if len(dims) < 2 or any(d <= 0 for d in shape):
            raise ModelLoadError(f"{self.path}: input {info.name!r} needs a static shape "
                                 "(batch, features...), got an unknown or empty per-sample shape")
        check_shape(shape, f"{self.path}: input {info.name!r}")
        if data:
            self.data_input = info.name
            name = self.add_node("input", nn.Input(shape=shape), (), shape)
            self.tensors[info.name] = ((name,), shape)
        else:
            self.states[info.name] = shape

    def read(self, model: Any) -> Graph:
        self.read_inputs()
        for index, node in enumerate(self.g.node):
            n = OnnxNode(self.path, node, index)
            for out in node.output:
                self.producer[out] = n.label
            self.read_node(n)
        spikes = self.finish()
        self.add_node("output", nn.Output(shape=self.shapes[spikes]), (spikes,),
                      self.shapes[spikes])
        meta = {"source": self.path.name, "frontend": "onnx", "onnx_mode": "step",
                "input_encoding": "the graph's own input, step by step",
                "onnx_step": {"input": self.data_input, "spikes": self.spike_output,
                              "fed_back": dict(self.fed_back)}}
        return Graph("nn", self.nodes, tuple(self.edges), 1.0, meta)

    def read_node(self, n: OnnxNode) -> None:
        op = n.node.op_type
        names = [i for i in n.node.input if i]
        if n.node.domain not in ("", "ai.onnx"):
            raise n.refuse(f"the op domain {n.node.domain!r} is not read (supported: {SUPPORTED})")
        if op in FOLD and names and all(i in self.consts for i in names):
            return self.fold(n)
        handler = getattr(self, f"step_{op}", None)
        if handler is None and op in SHARED:
            handler = getattr(self, f"op_{op}")
        if handler is None:
            raise n.refuse(f"this op type has no rule in a stepwise SNN graph (supported: "
                           f"{SUPPORTED})")
        try:
            handler(n)
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError,
                RuntimeError, OverflowError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"{n.label} cannot be read: {first}") from None

    def fold(self, n: OnnxNode) -> None:
        dtype = np.float32 if self.float32 else np.float64
        args = [self.consts[i].astype(dtype) if i else None for i in n.node.input]
        if n.node.op_type == "Cast":
            value = args[0]
        elif n.node.op_type == "Clip":
            value = np.clip(args[0], *(np.inf * s if a is None else a
                                       for s, a in zip((-1, 1), (args[1:] + [None] * 2)[:2])))
        else:
            value = FOLD[n.node.op_type](*args)
        self.consts[n.node.output[0]] = np.asarray(value, dtype=dtype).astype(np.float64)

    # -- elementwise rules ---------------------------------------------------------------------
    def put(self, n: OnnxNode, value: Poly) -> None:
        self.polys[n.node.output[0]] = value

    def step_Add(self, n: OnnxNode) -> None:
        consts = [i for i, t in enumerate(n.node.input[:2]) if t in self.consts]
        other = n.node.input[1 - consts[0]] if len(consts) == 1 else ""
        if other in self.tensors and self.uses.get(other, 0) == 1:
            sources = self.tensors[other][0]
            if len(sources) == 1 and isinstance(self.nodes[sources[0]],
                                                (nn.Affine, nn.Linear, nn.Conv2d)):
                self._add_bias(n, 1 - consts[0], self.consts[n.node.input[consts[0]]])
                self.shapes[sources[0]] = self.tensors[other][1]
                return
        a, b = self.operands(n)
        self.put(n, a + b)

    def step_Sub(self, n: OnnxNode) -> None:
        a, b = self.operands(n)
        self.put(n, a - b)

    def step_Mul(self, n: OnnxNode) -> None:
        a, b = self.operands(n)
        product = a.times(b, self.binary)
        for mono in product.terms:  # a gate is named after the Mul that made it
            if len(mono) == 2:
                self.origins.setdefault(tuple(x[1] for x in mono), n.node.name or "Mul")
        self.put(n, product)

    def step_Neg(self, n: OnnxNode) -> None:
        self.put(n, -self.poly(n, 0))

    def step_Identity(self, n: OnnxNode) -> None:
        for store in (self.polys, self.tensors, self.conds):
            if n.node.input[0] in store:
                store[n.node.output[0]] = store[n.node.input[0]]  # type: ignore[index]
                return
        self.put(n, self.poly(n, 0))

    step_Dropout = step_Identity

    def step_Greater(self, n: OnnxNode) -> None:
        a, b = self.operands(n)
        self.conds[n.node.output[0]] = a - b

    def step_Less(self, n: OnnxNode) -> None:
        a, b = self.operands(n)
        self.conds[n.node.output[0]] = b - a

    def step_Cast(self, n: OnnxNode) -> None:
        import onnx

        if n.node.input[0] not in self.conds:
            return self.step_Identity(n)
        if n.attrs().get("to") not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
            raise n.refuse("a comparison is read only as a float 0/1 spike tensor")
        self.put(n, self.spike(n, self.conds[n.node.input[0]]))

    def step_Where(self, n: OnnxNode) -> None:
        cond = n.node.input[0]
        if cond not in self.conds:
            raise n.refuse("its condition is not a comparison this front end read")
        spike = self.spike(n, self.conds[cond])
        a, b = self.poly(n, 1, spike), self.poly(n, 2, spike)
        one = Poly.const(np.array(1.0), spike.shape)
        self.put(n, spike.times(a, self.binary) + (one - spike).times(b, self.binary))

    def step_Shape(self, n: OnnxNode) -> None:
        self.value(n, 0)  # only read by ConstantOfShape (torch.zeros_like of a dynamic batch)
        self.shape_of.add(n.node.output[0])

    def step_ConstantOfShape(self, n: OnnxNode) -> None:
        from onnx import numpy_helper

        if n.node.input[0] not in self.shape_of:
            raise n.refuse("only the shape of a tensor (torch.zeros_like) is read as its shape")
        value = n.attrs().get("value")
        fill = numpy_helper.to_array(value).ravel()[0] if value is not None else 0.0
        self.consts[n.node.output[0]] = np.array(fill, dtype=np.float64)

    def step_MaxPool(self, n: OnnxNode) -> None:
        """Max pooling of binary spikes: an OR over each window (torch_blocks.maxpool)."""
        a = n.attrs()
        (source,) = self.materialize(n, self.poly(n, 0), single=True)
        shape = self.shapes[source]
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1])) or len(
                a["kernel_shape"]) != 2 or len(shape) != 3 or len(n.node.output) > 1:
            raise n.refuse("ceil_mode, dilations, indices and pooling other than 2-d over "
                           "(C, H, W) have no IR form")
        pool = nn.SumPool2d(kernel_size=pair(a["kernel_shape"]),
                            stride=pair(a.get("strides", [1, 1])),
                            padding=pads_of(n, a, a["kernel_shape"]))
        out = pool.output_shape(shape)
        name = self.add_node(n.node.name or "MaxPool", pool, (source,), out)
        name = self.add_node(f"{name}.or", threshold_neuron(out, 0.5), (name,), out)
        self.tensors[n.node.output[0]] = ((name,), out)


MODES = ("auto", "ann", "step")
# the state updates read as neurons (onnx_neurons; docs/support.md lists them)
NEURON_FORMS = ("LIF/IF, reset by subtraction or to zero (immediate)",
                "snnTorch Leaky (delayed reset: subtraction or zero)",
                "SEW ADD / AND / IAND, MS-ResNet shortcut, MaxPool of spikes")


def operators() -> list[str]:
    """The op types a stepwise graph may hold (docs/support.md)."""
    return sorted(set(SHARED) | {n[5:] for n in dir(StepReader) if n.startswith("step_")})


def stepwise(model: Any, mode: str, max_pool: str, path: Path) -> bool:
    """Whether to read `model` as one step of a stateful SNN: 'step', or 'auto' and the graph has
    more than one input (the ANN reader takes exactly one, so 'auto' reads every ANN as before)."""
    if mode not in MODES:
        raise ModelLoadError(f"onnx_mode must be one of {', '.join(MODES)}, not {mode!r}")
    inputs = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
    step = mode == "step" or (mode == "auto" and len(inputs) > 1)
    if step and max_pool != "refuse":
        raise ModelLoadError(f"{path}: max_pool='average' applies to ANNs; this is read as a "
                             "stepwise SNN graph, where MaxPool of spikes is exact")
    return step
