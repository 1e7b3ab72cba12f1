"""NIR front end: NIR graphs (.nir files) to nn Graphs and back, with the choices NIR leaves open.

NIR states continuous-time equations and no reset rule. snncompile reads them with:

* dt: the `dt` option, else the value a graph written by `to_nir` carries, else 1e-4 s (the NIR
  paper's files and snnTorch's exporter use 1e-4);
* reset: "zero" to v_reset, "immediate" (in the step that spikes), as Norse, Lava, Loihi and
  snnTorch's own NIR importer (reset_delay=False) do. Options `reset="subtract"` and
  `reset_timing="next_step"` read a graph with other semantics, e.g. an snnTorch model trained
  with the default Leaky(reset_mechanism="subtract", reset_delay=True). Graphs written by
  `to_nir` keep each neuron's reset in its metadata, which wins over the defaults but not
  over an explicit option.

Nested NIRGraph nodes are flattened, inner names joined with "." ("lif1.w_rec"); their Input and
Output nodes disappear, their edges joined through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nir
import numpy as np

from snncompile.errors import GraphCheckError, ModelLoadError, UnsupportedOp
from snncompile.frontends import nir_delay
from snncompile.ir import nn_ops
from snncompile.ir.conv_geometry import pair, same_padding
from snncompile.ir.graph import Graph
from snncompile.limits import BudgetError, check_shape
from snncompile.progress import notice

DEFAULT_DT = 1e-4
_KEY = "snncompile."
# nir's own type inference grows about cubically with the graph (0.15 s at 200 nodes, 1.8 s at
# 400, minutes at 1,000): larger graphs skip it, and Graph.shapes (linear) checks them instead
NIR_INFER_NODES = 200


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return value


def _shape(types: Any, key: str) -> tuple[int, ...] | None:
    value = (types or {}).get(key)
    return None if value is None else tuple(int(d) for d in np.asarray(value).ravel())


def _required(shape: tuple[int, ...] | None) -> tuple[int, ...]:
    if shape is None:
        raise ValueError("the Input node has no input_type (shape)")
    return check_shape(shape, "the Input node")


def _padding(node: Any) -> tuple[int, int]:
    pad = _text(node.padding)
    if not isinstance(pad, str):
        return pair(pad)
    if pad == "valid":
        return (0, 0)
    if pad == "same" and pair(node.stride) == (1, 1):
        return same_padding(node.weight.shape[2:], node.dilation)
    raise ValueError(f"padding {pad!r} with this kernel/stride is not a symmetric padding")


def _int(value: Any) -> int:
    """One integer from an int or a size-1 array (NIR Conv1d's stride, padding, dilation)."""
    arr = np.asarray(_text(value)).ravel()
    if arr.size != 1:
        raise ValueError(f"expected one integer, got {value!r}")
    return int(arr[0])


def _padding1d(node: Any) -> int:
    pad = _text(node.padding)
    if not isinstance(pad, str):
        return _int(pad)
    total = _int(node.dilation) * (node.weight.shape[2] - 1)
    if pad == "valid":
        return 0
    if pad == "same" and _int(node.stride) == 1 and total % 2 == 0:
        return total // 2
    raise ValueError(f"padding {pad!r} with this kernel/stride is not a symmetric padding")


def _opt(node: Any, field: str, like: Any, fill: float) -> np.ndarray:
    value = getattr(node, field, None)
    return np.full(np.shape(like), fill) if value is None else np.asarray(value)


def _spiking(node: Any, ctx: dict) -> dict:
    md = {k: _text(v) for k, v in (getattr(node, "metadata", None) or {}).items()}
    if ctx["reset"] is None and _KEY + "reset" not in md:
        ctx["assumed"] = True
    return {
        "v_threshold": node.v_threshold,
        "v_reset": _opt(node, "v_reset", node.v_threshold, 0.0),
        "reset": ctx["reset"] or md.get(_KEY + "reset") or "zero",
        "reset_timing": ctx["reset_timing"] or md.get(_KEY + "reset_timing") or "immediate",
    }


def _unbroadcast(value: np.ndarray, shape: list[int]) -> np.ndarray:
    value = value[(0,) * (value.ndim - len(shape))]
    keep = tuple(slice(0, 1) if d == 1 else slice(None) for d in shape)
    return value[keep].reshape(shape)


def _json(text: Any, where: str) -> dict:
    """snncompile's own metadata: a JSON object, refused with a sentence if it is not one."""
    try:
        value = json.loads(str(text))
    except (ValueError, RecursionError):
        raise ModelLoadError(f"{where}: snncompile metadata in the file is not valid JSON (or "
                             "nests too deeply)") from None
    if not isinstance(value, dict):
        raise ModelLoadError(f"{where}: snncompile metadata in the file is not a JSON object")
    return value


def _shapes(node: Any, op: nn_ops.NNOp) -> nn_ops.NNOp:
    """Give back the shapes of the fields `to_nir` broadcast to per-neuron arrays."""
    listed = _text((getattr(node, "metadata", None) or {}).get(_KEY + "shapes"))
    if not listed:
        return op
    return op.replace(**{f: _unbroadcast(getattr(op, f), s) for f, s in json.loads(listed).items()})


_READERS: dict[str, Any] = {
    "Input": lambda n, c: nn_ops.Input(shape=_required(_shape(n.input_type, "input"))),
    "Output": lambda n, c: nn_ops.Output(shape=_shape(n.output_type, "output") or ()),
    "Affine": lambda n, c: nn_ops.Affine(weight=n.weight, bias=n.bias),
    "Linear": lambda n, c: nn_ops.Linear(weight=n.weight),
    "Scale": lambda n, c: nn_ops.Scale(scale=n.scale),
    "Conv1d": lambda n, c: nn_ops.Conv1d(
        weight=n.weight, bias=_opt(n, "bias", n.weight.shape[:1], 0.0), stride=_int(n.stride),
        padding=_padding1d(n), dilation=_int(n.dilation), groups=int(n.groups)),
    "Conv2d": lambda n, c: nn_ops.Conv2d(
        weight=n.weight, bias=_opt(n, "bias", n.weight.shape[:1], 0.0), stride=pair(n.stride),
        padding=_padding(n), dilation=pair(n.dilation), groups=int(n.groups)),
    "SumPool2d": lambda n, c: nn_ops.SumPool2d(
        kernel_size=pair(n.kernel_size), stride=pair(n.stride), padding=pair(n.padding)),
    "AvgPool2d": lambda n, c: nn_ops.AvgPool2d(
        kernel_size=pair(n.kernel_size), stride=pair(n.stride), padding=pair(n.padding)),
    "Flatten": lambda n, c: nn_ops.Flatten(start_dim=int(n.start_dim), end_dim=int(n.end_dim)),
    "IF": lambda n, c: nn_ops.IF(r=n.r, **_spiking(n, c)),
    "LIF": lambda n, c: nn_ops.LIF(tau=n.tau, r=n.r, v_leak=n.v_leak, **_spiking(n, c)),
    "CubaLIF": lambda n, c: nn_ops.CubaLIF(
        tau_syn=n.tau_syn, tau_mem=n.tau_mem, r=n.r, v_leak=n.v_leak,
        w_in=_opt(n, "w_in", n.tau_syn, 1.0), **_spiking(n, c)),
}


def _flatten(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict, list, set]:
    """Nodes (no subgraphs), edges and the names of the subgraphs' own Input/Output nodes."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    through: set[str] = set()
    entry: dict[str, list[str]] = {}
    exits: dict[str, list[str]] = {}
    for key, node in graph.nodes.items():
        full = prefix + key
        if isinstance(node, nir.NIRGraph):
            inner, inner_edges, inner_through = _flatten(node, full + ".")
            nodes.update(inner)
            edges += inner_edges
            entry[key] = [f"{full}.{k}" for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            exits[key] = [f"{full}.{k}" for k, n in node.nodes.items() if isinstance(n, nir.Output)]
            through |= inner_through | set(entry[key]) | set(exits[key])
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = str(_text(a)), str(_text(b))
        edges += [(x, y) for x in exits.get(a, [prefix + a]) for y in entry.get(b, [prefix + b])]
    return nodes, edges, through


def _splice(nodes: dict, edges: list, through: set) -> list[tuple[str, str]]:
    for name in through:
        ins = [a for a, b in edges if b == name]
        outs = [b for a, b in edges if a == name]
        where = min((i for i, e in enumerate(edges) if name in e), default=len(edges))
        kept = [e for e in edges if name not in e]
        new = [(a, b) for a in ins for b in outs]
        edges = kept[:where] + new + kept[where:]
        nodes.pop(name, None)
    return list(dict.fromkeys(edges))


def from_nir(nir_graph: nir.NIRGraph, dt: float | None = None, source: str | None = None,
             reset: str | None = None, reset_timing: str | None = None) -> Graph:
    """An nn Graph with the meaning of `nir_graph` under the choices in this module's docstring."""
    where = source or "<NIRGraph>"
    md = {k: _text(v) for k, v in (getattr(nir_graph, "metadata", None) or {}).items()}
    dt = float(dt if dt is not None else md.get(_KEY + "dt", DEFAULT_DT))
    if _KEY + "meta" in md:
        meta = _json(md[_KEY + "meta"], where)
    else:
        meta = {"source": Path(where).name, "frontend": "nir"}
    if source is not None:  # the file name only, so artefacts do not depend on where it lives
        meta.update(source=Path(source).name, frontend="nir")
    raw, edges, through = _flatten(nir_graph)
    edges = _splice(raw, edges, through)
    edges, folded = nir_delay.fold(raw, edges, dt, where)
    ctx = {"reset": reset, "reset_timing": reset_timing}
    nodes = {}
    for name, node in raw.items():
        if name in folded:
            nodes[name] = folded[name]
            continue
        kind = type(node).__name__
        if kind not in _READERS:
            raise ModelLoadError(f"{where}: node {name!r} has NIR type {kind}, which snncompile "
                                 f"cannot read (it reads {', '.join(_READERS)})")
        try:
            nodes[name] = _shapes(node, _READERS[kind](node, ctx))
        except (ValueError, TypeError, AttributeError, IndexError, BudgetError,
                RecursionError) as exc:
            raise ModelLoadError(f"{where}: node {name!r} ({kind}) cannot be read: {exc}") from None
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ModelLoadError(f"{where}: edge {a!r} -> {b!r} names a node the graph lacks")
    if ctx.get("assumed"):
        notice(f"{Path(where).name} carries no reset mode: its neurons reset to zero (give "
               "--reset subtract if the model was trained with subtractive reset, e.g. "
               "snnTorch's default Leaky)")
    graph = Graph(level="nn", nodes=nodes, edges=tuple(edges), dt=dt, meta=meta)
    try:
        shapes = graph.shapes
    except GraphCheckError as exc:
        raise ModelLoadError(f"{where}: {exc}") from None
    for name, op in nodes.items():
        if isinstance(op, nn_ops.Output) and op.shape == () and graph.predecessors(name):
            nodes[name] = op.replace(shape=shapes[graph.predecessors(name)[0]])
    return graph.replace(nodes=nodes)


def _writer(op: Any, in_shape: tuple[int, ...]) -> Any:
    kind = type(op).__name__
    if kind == "Input":
        return nir.Input(input_type=np.array(op.shape, dtype=np.int64))
    if kind == "Output":
        return nir.Output(output_type=np.array(op.shape, dtype=np.int64))
    params, metadata = op.params(), {}
    if op.kind == "neuron" or kind == "Scale":  # NIR wants per-neuron arrays: broadcast them
        full = np.broadcast_shapes(in_shape, *(params[k].shape for k in op.array_fields))
        shapes = {k: list(params[k].shape) for k in op.array_fields if params[k].shape != full}
        params.update({k: np.broadcast_to(params[k], full).copy() for k in shapes})
        if shapes:
            metadata[_KEY + "shapes"] = json.dumps(shapes)
    if kind == "Conv2d":  # nir 1.0.8 types a grouped conv's input as (C_in / groups, H, W)
        return nir.Conv2d(input_shape=tuple(in_shape[1:]), **params)
    if kind == "Conv1d":
        return nir.Conv1d(input_shape=int(in_shape[1]), **params)
    if kind in ("SumPool2d", "AvgPool2d"):
        return getattr(nir, kind)(**{k: np.array(v) for k, v in params.items()})
    if kind == "Unflatten":
        raise UnsupportedOp(op, "NIR writer", "NIR has no unflatten node")
    if kind == "SparseLinear":
        raise UnsupportedOp(op, "NIR writer", "NIR's Linear holds a dense weight, and this one "
                            "is kept sparse (its dense matrix may not fit in memory)")
    if kind == "Flatten":
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=op.start_dim,
                           end_dim=op.end_dim)
    if op.kind == "neuron":
        metadata.update({_KEY + "reset": params.pop("reset"),
                         _KEY + "reset_timing": params.pop("reset_timing")})
    return getattr(nir, kind)(**params, metadata=metadata)


def to_nir(graph: Graph) -> nir.NIRGraph:
    """The NIR graph of an nn Graph; dt, meta and each neuron's reset go into NIR metadata."""
    shapes = graph.shapes
    nodes = {}
    edges = [tuple(e) for e in graph.edges]
    for name, op in graph.nodes.items():
        if isinstance(op, nn_ops.DelayLinear):  # Delay -> Linear/Affine (frontends.nir_delay)
            delay_name, nodes[delay_name], nodes[name] = nir_delay.write(
                name, op, float(graph.dt), set(graph.nodes) | set(nodes))
            edges = nir_delay.reroute(edges, name, delay_name)
            continue
        preds = [p for p in graph.predecessors(name) if (p, name) not in graph.recurrent_edges]
        nodes[name] = _writer(op, shapes[preds[0]] if preds else ())
    metadata = {_KEY + "dt": float(graph.dt), _KEY + "meta": json.dumps(dict(graph.meta))}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def _count_nodes(graph: Any) -> int:
    return sum(1 + _count_nodes(n) for n in getattr(graph, "nodes", {}).values())


def load(path: str | Path, dt: float | None = None, reset: str | None = None,
         reset_timing: str | None = None, **_: Any) -> Graph:
    """Read a .nir file (options: dt, reset, reset_timing; see the module docstring)."""
    from snncompile.frontends.hdf5_guard import read_hdf5

    path = Path(path)
    tree = read_hdf5(path, "NIR file")  # checked and read in a child process, read once
    try:
        nir_graph = _from_tree(tree)
        if _count_nodes(nir_graph) <= NIR_INFER_NODES:  # nir.read's own check, where it is fast
            nir_graph.infer_types()
            nir_graph.check_types()
    except Exception as exc:  # noqa: BLE001 - h5py/NIR errors vary; say it in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{path}: not a readable NIR file ({first})") from None
    _freeze_arrays(nir_graph)
    return from_nir(nir_graph, dt=dt, source=str(path), reset=reset, reset_timing=reset_timing)


def _from_tree(tree: dict) -> Any:
    """nir.read's graph from the file's tree (nir.serialization.read, after its hdf2dict)."""
    node = tree.get("node")
    if not isinstance(node, dict):
        raise TypeError("the file has no group 'node'")
    if "type_check" in node:
        raise ValueError("the graph holds a 'type_check' key, which NIR does not have")
    return nir.dict2NIRNode({**node, "type_check": False})


def _freeze_arrays(graph: Any) -> None:
    """Mark the arrays just read from the file read-only: nobody else holds them, so the ops made
    from them share them (snncompile.ir.op.frozen_array) instead of copying 33M weights."""
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            _freeze_arrays(node)
            continue
        for value in vars(node).values():
            if isinstance(value, np.ndarray) and value.base is None:
                value.setflags(write=False)
