"""Stable text form of a Graph: one line per node and edge, exact values; dump(parse(s)) == s.

    snncompile-ir 1 level=hw dt=0.001
    meta {"target": "emu"}
    node "fc1" Dense {"weights": {"dtype": "int64", "shape": [2, 2], "data": [2, -4, 0, 6]}, ...}
    edge "input" "fc1"

Floats are written with Python's shortest round-trip repr, so parsing gives identical arrays.
Golden tests and `--dump-after PASS` use this form.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops, nn_ops
from snncompile.ir.graph import Graph

HEADER = "snncompile-ir 1"
_OPS: dict[str, dict[str, type]] = {"nn": nn_ops.OPS, "hw": hw_ops.OPS}


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape),
                "data": value.ravel().tolist()}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"dtype", "shape", "data"}:
        return np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def dumps(graph: Graph) -> str:
    lines = [f"{HEADER} level={graph.level} dt={float(graph.dt)!r}"]
    if graph.meta:
        lines.append("meta " + json.dumps(_encode(dict(graph.meta)), sort_keys=True))
    for name, op in graph.nodes.items():
        params = {k: _encode(v) for k, v in op.params().items()}
        lines.append(f"node {json.dumps(name)} {type(op).__name__} {json.dumps(params)}")
    for a, b in graph.edges:
        lines.append(f"edge {json.dumps(a)} {json.dumps(b)}")
    return "\n".join(lines) + "\n"


def loads(text: str) -> Graph:
    decoder = json.JSONDecoder()
    lines = text.splitlines()
    if not lines or not lines[0].startswith(HEADER + " "):
        raise GraphCheckError(f"not snncompile IR text (the first line must start with {HEADER!r})")
    fields = dict(item.split("=", 1) for item in lines[0][len(HEADER) + 1 :].split())
    level, dt = fields["level"], float(fields["dt"])
    meta: dict[str, Any] = {}
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            keyword, rest = line.split(" ", 1)
            if keyword == "meta":
                meta = {k: _decode(v) for k, v in json.loads(rest).items()}
            elif keyword == "node":
                name, end = decoder.raw_decode(rest)
                op_name, params = rest[end:].strip().split(" ", 1)
                cls = _OPS[level][op_name]
                nodes[name] = cls(**{k: _decode(v) for k, v in json.loads(params).items()})
            elif keyword == "edge":
                a, end = decoder.raw_decode(rest)
                b, _ = decoder.raw_decode(rest[end:].strip())
                edges.append((a, b))
            else:
                raise ValueError(f"unknown keyword {keyword!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise GraphCheckError(f"IR text line {number}: {exc}") from None
    return Graph(level=level, nodes=nodes, edges=tuple(edges), dt=dt, meta=meta)
