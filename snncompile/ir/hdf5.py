"""Any Graph inside an HDF5 group, exactly: how a loihi2 build's `model.net` carries the hw graph.

Layout (documented in docs/targets.md; the generated Lava program reads it with h5py alone):

    <group>                  attrs: format "snncompile-graph/1", level, dt, meta (JSON)
    <group>/nodes/<i>        one group per node, i = 0, 1, ... in graph order;
                             attrs: name, op (class name), every scalar/tuple/string field;
                             datasets: every array field (int64 / float64), absent if None
    <group>/edges            (E, 2) int64 node indices, in graph order
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops, nn_ops
from snncompile.ir.graph import Graph

FORMAT = "snncompile-graph/1"
_OPS: dict[str, dict[str, type]] = {"nn": nn_ops.OPS, "hw": hw_ops.OPS}


def write_graph(graph: Graph, group: Any) -> None:
    """Write `graph` into the (empty) h5py group `group`."""
    group.attrs.update(format=FORMAT, level=graph.level, dt=float(graph.dt),
                       meta=json.dumps(dict(graph.meta), sort_keys=True))
    index = {name: i for i, name in enumerate(graph.nodes)}
    nodes = group.create_group("nodes")
    for name, op in graph.nodes.items():
        node = nodes.create_group(str(index[name]))
        node.attrs.update(name=name, op=type(op).__name__)
        for key, value in op.params().items():
            if isinstance(value, np.ndarray):
                node.create_dataset(key, data=value)
            elif value is not None:
                node.attrs[key] = np.asarray(value) if isinstance(value, tuple) else value
    edges = np.array([[index[a], index[b]] for a, b in graph.edges], dtype=np.int64)
    group.create_dataset("edges", data=edges.reshape(-1, 2))


def _value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return tuple(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_graph(group: Any, where: str) -> Graph:
    """The Graph stored by write_graph in `group`; `where` names the file in errors."""
    try:
        if group.attrs.get("format") != FORMAT:
            raise ValueError(f"format is {group.attrs.get('format')!r}, expected {FORMAT!r}")
        level = str(group.attrs["level"])
        nodes, names = {}, []
        for i in range(len(group["nodes"])):
            node = group["nodes"][str(i)]
            params = {k: _value(v) for k, v in node.attrs.items() if k not in ("name", "op")}
            params.update({k: node[k][()] for k in node})
            name = str(node.attrs["name"])
            nodes[name] = _OPS[level][str(node.attrs["op"])](**params)
            names.append(name)
        edges = tuple((names[a], names[b]) for a, b in np.asarray(group["edges"]).tolist())
        return Graph(level, nodes, edges, float(group.attrs["dt"]), json.loads(group.attrs["meta"]))
    except (KeyError, ValueError, TypeError, IndexError, OSError, RuntimeError,
            OverflowError, RecursionError) as exc:
        raise SnnCompileError(f"{where}: the snncompile graph in it cannot be read ({exc})"
                              ) from None
