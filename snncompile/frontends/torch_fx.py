"""Any nn.Module with a `forward`: its forward traced by torch.fx, one level at a time.

The module's own forward is traced with every submodule a leaf; each call of a submodule is read
by the torch front end's walker (snncompile.frontends.torch_modules._walk), which reads known
layers and stateful neurons (snnTorch init_hidden, SpikingJelly, Norse, snncompile.nn) directly
and traces a user's submodule in turn. The functions between the calls map as:

* `a + b` (torch.add, +=): a sum of edges into whatever reads it (SEW ADD; MS-ResNet's
  membrane shortcut, a sum of synapse outputs into the next neuron);
* `a * b` of two spike tensors (SEW AND), `a * (1 - b)` (SEW IAND): threshold populations
  (torch_blocks.gate); `c * a` or `a * c` with a number c: a Scale;
* flatten / view / reshape to (batch, -1): Flatten; F.max_pool2d / F.avg_pool2d: as the modules;
* getitem 0 of a neuron that returns a tuple (snnTorch output=True): its spikes.
Anything else is refused with the fx node's name and what it calls. The input is one tensor of
shape (batch, *input_shape) per step; multi-step (T, B, ...) reshapes are refused.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from snncompile.errors import UnsupportedOp
from snncompile.frontends import torch_blocks
from snncompile.ir import nn_ops

# what a traced forward may call between submodules (docs/support.md lists these)
FUNCTIONS = ("a + b", "spike * spike (AND)", "spike * (1 - spike) (IAND)", "number * x",
             "flatten / view(x.size(0), -1)", "F.max_pool2d (spikes)", "F.avg_pool2d",
             "getitem 0 of a neuron's tuple")


class _LeafTracer(fx.Tracer):
    """Traces only the root's forward: every submodule call stays one call_module node."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return True


class _Complement:
    """The value 1 - x of a spike tensor x (only IAND's right operand reads it)."""

    def __init__(self, name: str):
        self.name = name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Reader:
    def __init__(self, b: Any, module: nn.Module, path: str, walk: Any):
        self.b, self.module, self.path, self.walk = b, module, path, walk
        self.env: dict[fx.Node, Any] = {}

    def where(self, node: fx.Node) -> str:
        return f"{self.path + '.' if self.path else ''}{node.name}"

    def refuse(self, node: fx.Node, detail: str) -> UnsupportedOp:
        return UnsupportedOp(node.target if isinstance(node.target, str)
                             else getattr(node.target, "__name__", str(node.target)),
                             f"{self.b.source}: forward of {self.path or '<top>'!r}, node "
                             f"{node.name!r}", detail)

    def value(self, node: fx.Node, arg: Any) -> Any:
        if isinstance(arg, fx.Node):
            return self.env[arg]
        if _is_number(arg):
            return float(arg)
        raise self.refuse(node, f"it takes {arg!r}, which is neither a tensor nor a number")

    def select(self, value: Any) -> None:
        """Make `value` (a node name or a tuple of summed names) the builder's current input."""
        names = value if isinstance(value, tuple) else (value,)
        self.b.last = value
        self.b.shape = self.b.shapes[names[0]]

    def run(self) -> Any:
        try:
            graph = _LeafTracer().trace(self.module)
        except Exception as exc:  # noqa: BLE001 - fx fails in many ways; one sentence for all
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UnsupportedOp(self.module, f"{self.b.source}: module {self.path or '<top>'!r}",
                                f"its forward cannot be traced by torch.fx ({first})") from None
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise UnsupportedOp(self.module, f"{self.b.source}: module {self.path or '<top>'!r}",
                                f"its forward takes {len(placeholders)} inputs; one tensor is "
                                "supported")
        for node in graph.nodes:
            if node.op == "placeholder":
                self.env[node] = self.b.last
            elif node.op == "output":
                return self.value(node, node.args[0])
            elif node.op == "call_module":
                self.call_module(node)
            elif node.op in ("call_function", "call_method") and not node.users:
                continue  # an unused value (the state half of `spk, mem = lif(x)`)
            elif node.op in ("call_function", "call_method"):
                self.env[node] = self.call_function(node)
            else:
                raise self.refuse(node, f"{node.op} nodes (a parameter used in forward) have "
                                        "no IR form")
        raise self.refuse(node, "forward returns nothing")

    def call_module(self, node: fx.Node) -> None:
        if len(node.args) != 1 or node.kwargs:
            raise self.refuse(node, "a submodule is called with one tensor only here (stateful "
                                    "neurons keep their state inside: init_hidden=True)")
        source = self.value(node, node.args[0])
        if isinstance(source, (float, _Complement)):
            raise self.refuse(node, "its input is a constant or 1 - x")
        self.select(source)
        name = f"{self.path}.{node.target}" if self.path else str(node.target)
        self.walk(self.b, self.module.get_submodule(node.target), name)
        self.env[node] = self.b.last

    def call_function(self, node: fx.Node) -> Any:
        fn, args = node.target, node.args
        if fn in (operator.getitem,) and isinstance(args[0], fx.Node) and args[1] == 0 \
                and args[0].op == "call_module":
            return self.env[args[0]]  # a neuron returning (spikes, state): its spikes
        if fn in (operator.add, operator.iadd, torch.add, "add", "add_") and not node.kwargs:
            return self.add(node, *(self.value(node, a) for a in args))
        if fn in (operator.sub, torch.sub, torch.rsub, "sub", "rsub"):
            a, c = (self.value(node, x) for x in args)
            if fn in (torch.rsub, "rsub"):
                a, c = c, a
            if a == 1.0 and isinstance(c, str) and torch_blocks.is_spiking(self.b, c):
                return _Complement(c)
            raise self.refuse(node, "subtraction is read only as 1 - spikes (SEW IAND)")
        if fn in (operator.mul, operator.imul, torch.mul, "mul", "mul_"):
            return self.mul(node, *(self.value(node, a) for a in args))
        if fn in (torch.flatten, "flatten", "view", "reshape"):
            return self.flatten(node)
        if fn in (F.max_pool2d, F.avg_pool2d):
            return self.pool(node)
        if fn == "size":
            return node  # only read by view/reshape(x.size(0), -1)
        what = fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))
        raise self.refuse(node, f"forward calls {what}, which has no IR form (supported: +, "
                                "spike * spike, spike * (1 - spike), number * x, flatten, "
                                "max/avg pooling, submodules)")

    def add(self, node: fx.Node, a: Any, c: Any) -> tuple[str, ...]:
        terms = []
        for value in (a, c):
            if not isinstance(value, (str, tuple)):
                raise self.refuse(node, "it adds a constant or 1 - x; only tensor sums map")
            terms += list(value) if isinstance(value, tuple) else [value]
        shapes = {self.b.shapes[t] for t in terms}
        if len(shapes) != 1 or len(set(terms)) != len(terms):
            raise self.refuse(node, f"it adds shapes {sorted(shapes)} (or a tensor to itself); "
                                    "only equal shapes (a residual) are summed")
        return tuple(terms)

    def mul(self, node: fx.Node, a: Any, c: Any) -> Any:
        if isinstance(a, float) and isinstance(c, (str, tuple)):
            a, c = c, a
        if isinstance(c, float) and isinstance(a, (str, tuple)):
            self.select(a)
            self.b.add(self.where(node), nn_ops.Scale(scale=np.full(self.b.shape, c)))
            return self.b.last
        if isinstance(a, _Complement):
            a, c = c, a
        if isinstance(a, str) and isinstance(c, (str, _Complement)):
            inverted = isinstance(c, _Complement)
            return torch_blocks.gate(self.b, self.where(node), a,
                                     c.name if inverted else c, inverted, self.where(node))
        raise self.refuse(node, "only spike * spike (AND), spike * (1 - spike) (IAND) and "
                                "number * tensor are multiplied")

    def flatten(self, node: fx.Node) -> str:
        source = self.value(node, node.args[0])
        self.select(source)
        rest = list(node.args[1:]) + list(node.kwargs.values())
        if node.target in (torch.flatten, "flatten"):
            start = rest[0] if rest else 0
            end = rest[1] if len(rest) > 1 else -1
            ok = start == 1 and end == -1
        else:
            sizes = rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else rest
            ok = (len(sizes) == 2 and sizes[1] == -1 and isinstance(sizes[0], fx.Node)
                  and sizes[0].target == "size" and sizes[0].args[1:] == (0,))
        if not ok:
            raise self.refuse(node, "only flattening every per-sample dimension (flatten(x, 1), "
                                    "x.view(x.size(0), -1)) maps; (T, B) reshapes of multi-step "
                                    "code are not read")
        self.b.add(self.where(node), nn_ops.Flatten(start_dim=0, end_dim=-1))
        return self.b.last

    def pool(self, node: fx.Node) -> str:
        source = self.value(node, node.args[0])
        self.select(source)
        arguments = dict(zip(("kernel_size", "stride", "padding"), node.args[1:]))
        arguments.update(node.kwargs)
        kind = nn.MaxPool2d if node.target is F.max_pool2d else nn.AvgPool2d
        module = kind(**arguments)
        if kind is nn.MaxPool2d:
            torch_blocks.maxpool(self.b, module, self.where(node))
        else:
            self.walk(self.b, module, self.where(node))
        return self.b.last


def trace_module(b: Any, module: nn.Module, path: str, walk: Any) -> None:
    """Read `module`'s forward into builder `b`, from its current input (module docstring)."""
    b.last = _Reader(b, module, path, walk).run()
    names = b.last if isinstance(b.last, tuple) else (b.last,)
    b.shape = b.shapes[names[0]]
