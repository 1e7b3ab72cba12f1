"""Stable text form of a Graph: one line per node and edge, exact values; dump(parse(s)) == s.

    snncompile-ir 1 level=hw dt=0.001
    meta {"target": "emu"}
    node "fc1" Dense {"weights": {"dtype": "int64", "shape": [2, 2], "data": [2, -4, 0, 6]}, ...}
    edge "input" "fc1"

Floats are written with Python's shortest round-trip repr, so parsing gives identical arrays.
Golden tests and `--dump-after PASS` use this form.

Build folders use `write` / `read`: the same lines, but every array of more than INLINE values is
kept in a binary .npz beside the text and named in its place ({"dtype", "shape", "npz": key}), so
the text stays readable and diffable and a 33M-weight net is not written as 850 MB of digits.
Integer arrays are stored in the narrowest integer type that holds them and read back as the
dtype the text names.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops, lowered_ops, nn_ops
from snncompile.ir.graph import Graph
from snncompile.ir.op import Op, is_frozen

HEADER = "snncompile-ir 1"
# the nn level includes the ops the passes make between nn and hw (--dump-after lower)
_OPS: dict[str, dict[str, type]] = {"nn": {**nn_ops.OPS, **lowered_ops.OPS}, "hw": hw_ops.OPS}
INLINE = 64  # arrays up to this many values stay in the text of write()


def _encode(value: Any, arrays: dict | None = None, key: str = "") -> Any:
    if isinstance(value, np.ndarray):
        head = {"dtype": str(value.dtype), "shape": list(value.shape)}
        if arrays is not None and value.size > INLINE:
            arrays[key] = value
            return {**head, "npz": key}
        return {**head, "data": value.ravel().tolist()}
    if isinstance(value, tuple):
        return [_encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, Op):  # an op inside an op (a lowered Layer's nn neuron)
        return {"op": type(value).__name__, "level": value.level,
                "params": {k: _encode(v, arrays, f"{key}.{k}") for k, v in value.params().items()}}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any, arrays: Any = None) -> Any:
    if isinstance(value, dict) and set(value) == {"dtype", "shape", "data"}:
        return np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, dict) and set(value) == {"dtype", "shape", "npz"}:
        if arrays is None or value["npz"] not in arrays:
            raise KeyError(f"array {value['npz']!r} is not in the .npz beside the text")
        return np.asarray(arrays[value["npz"]], dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, dict) and set(value) == {"op", "level", "params"}:
        cls = _OPS[value["level"]][value["op"]]
        return cls(**{k: _decode(v, arrays) for k, v in value["params"].items()})
    if isinstance(value, list):
        return tuple(_decode(v, arrays) for v in value)
    return value


def dumps(graph: Graph, arrays: dict | None = None) -> str:
    """The text form; with `arrays`, large arrays go into it (by key) instead of the text."""
    lines = [f"{HEADER} level={graph.level} dt={float(graph.dt)!r}"]
    if graph.meta:
        lines.append("meta " + json.dumps(_encode(dict(graph.meta)), sort_keys=True))
    for name, op in graph.nodes.items():
        params = {k: _encode(v, arrays, f"{name}/{k}") for k, v in op.params().items()}
        lines.append(f"node {json.dumps(name)} {type(op).__name__} {json.dumps(params)}")
    for a, b in graph.edges:
        lines.append(f"edge {json.dumps(a)} {json.dumps(b)}")
    return "\n".join(lines) + "\n"


def write(graph: Graph, path: Path, key: str) -> dict[str, str]:
    """path (model.hw.txt) and, if any array is large, its .npz sidecar (model.hw.npz); returns
    the manifest's file entries: {key: text name, key + "_arrays": sidecar name}."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    path.write_text(dumps(graph, arrays))
    if not arrays:
        return {key: path.name}
    sidecar = path.with_suffix(".npz")
    savez: Any = np.savez  # arrays as keywords (numpy's stub types them as its options)
    savez(sidecar, **{k: narrowest(a) for k, a in arrays.items()})
    return {key: path.name, f"{key}_arrays": sidecar.name}


_NARROWED: dict[int, tuple[np.ndarray, np.ndarray]] | None = None


@contextlib.contextmanager
def narrowing_once() -> Iterator[None]:
    """Within this block, a read-only array is narrowed once (a build writes the hw weights to
    the text's sidecar and to the emulator's image: two passes over 268 MB of int64)."""
    global _NARROWED
    outer, _NARROWED = _NARROWED, {} if _NARROWED is None else _NARROWED
    try:
        yield
    finally:
        _NARROWED = outer


def narrowest(a: np.ndarray) -> np.ndarray:
    """An integer array in the narrowest integer type that holds its values (8-bit weights kept
    as int64 are 8x their size on disk); the text names the dtype it is read back as."""
    if a.dtype.kind not in "iu" or not a.size:
        return a
    memo = _NARROWED if _NARROWED is not None and is_frozen(a) else None
    if memo is not None and id(a) in memo and memo[id(a)][0] is a:
        return memo[id(a)][1]
    narrow = a
    lo, hi = a.min(), a.max()
    for kind in (np.int8, np.int16, np.int32):
        info = np.iinfo(kind)
        if a.dtype.itemsize > info.bits // 8 and info.min <= lo and hi <= info.max:
            narrow = a.astype(kind)
            break
    if memo is not None:
        memo[id(a)] = (a, narrow)  # holds `a`, so its id is not reused within the block
    return narrow


def read(path: Path) -> Graph:
    """The graph `write` wrote to path (and its .npz sidecar, if there is one); a damaged file
    is a GraphCheckError naming it."""
    import zipfile

    path = Path(path)
    sidecar = path.with_suffix(".npz")
    try:
        if not sidecar.is_file():
            return loads(path.read_text())
        with np.load(sidecar) as arrays:
            return loads(path.read_text(), arrays)
    except GraphCheckError as exc:
        raise GraphCheckError(f"{path}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GraphCheckError(f"{path} (or its {sidecar.name}) cannot be read: {first}") from None


def loads(text: str, arrays: Any = None) -> Graph:
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
                meta = {k: _decode(v, arrays) for k, v in json.loads(rest).items()}
            elif keyword == "node":
                name, end = decoder.raw_decode(rest)
                op_name, params = rest[end:].strip().split(" ", 1)
                cls = _OPS[level][op_name]
                nodes[name] = cls(**{k: _decode(v, arrays) for k, v in
                                     json.loads(params).items()})
            elif keyword == "edge":
                a, end = decoder.raw_decode(rest)
                b, _ = decoder.raw_decode(rest[end:].strip())
                edges.append((a, b))
            else:
                raise ValueError(f"unknown keyword {keyword!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise GraphCheckError(f"IR text line {number}: {exc}") from None
    return Graph(level=level, nodes=nodes, edges=tuple(edges), dt=dt, meta=meta)
