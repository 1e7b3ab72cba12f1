"""Binary image of a Graph (npz: arrays stored natively, integers in their narrowest type, + a
JSON skeleton): fast to load for `run`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops, nn_ops
from snncompile.ir.graph import Graph
from snncompile.ir.text import narrowest

_OPS: dict[str, dict[str, type]] = {"nn": nn_ops.OPS, "hw": hw_ops.OPS}


def save_image(graph: Graph, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    nodes = []
    for name, op in graph.nodes.items():
        params: dict[str, Any] = {}
        for key, value in op.params().items():
            if isinstance(value, np.ndarray):
                ref = f"a{len(arrays)}"
                arrays[ref] = narrowest(value)
                params[key] = {"@array": ref, "dtype": str(value.dtype)}
            else:
                params[key] = list(value) if isinstance(value, tuple) else value
        nodes.append([name, type(op).__name__, params])
    skeleton = {
        "format": "snncompile-image/1", "level": graph.level, "dt": float(graph.dt),
        "meta": dict(graph.meta), "nodes": nodes, "edges": [list(e) for e in graph.edges],
    }
    savez: Any = np.savez  # arrays as keywords (numpy's stub types them as its options)
    with Path(path).open("wb") as f:  # straight to the file: no 64 MiB buffer copied twice
        savez(f, __graph__=np.frombuffer(json.dumps(skeleton).encode(), dtype=np.uint8),
              **arrays)


def _array(data: Any, ref: dict) -> np.ndarray:
    """A stored array as the dtype it had (integers are stored narrow; older images have no
    dtype entry and keep the stored one)."""
    a = data[ref["@array"]]
    if "dtype" in ref and str(a.dtype) != ref["dtype"]:
        a = a.astype(ref["dtype"])
    a.setflags(write=False)  # ours alone: the op shares it instead of copying (ir/op.py)
    return a


_SCALARS: dict[str, Any] = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
                            "float": lambda v: isinstance(v, (int, float))
                            and not isinstance(v, bool),
                            "str": lambda v: isinstance(v, str),
                            "bool": lambda v: isinstance(v, bool)}


def _check_scalars(name: str, op_type: type, kwargs: dict[str, Any]) -> None:
    """A scalar field of the kind its op declares: a damaged, re-hashed image's None or string
    would otherwise reach the emulator's arithmetic (fuzz seed 31, sparse builds)."""
    import dataclasses

    for f in dataclasses.fields(op_type):
        ok = _SCALARS.get(str(f.type))
        if ok is not None and f.name in kwargs and not ok(kwargs[f.name]):
            raise ValueError(f"node {name!r}: {f.name} must be {f.type}, not "
                             f"{kwargs[f.name]!r}"[:200])


def load_image(path: Path) -> Graph:
    try:
        with np.load(path, allow_pickle=False) as data:
            skeleton = json.loads(data["__graph__"].tobytes().decode())
            ops = _OPS[skeleton["level"]]
            nodes = {}
            for name, op_name, params in skeleton["nodes"]:
                kwargs = {k: _array(data, v) if isinstance(v, dict) and "@array" in v else v
                          for k, v in params.items()}
                _check_scalars(name, ops[op_name], kwargs)
                nodes[name] = ops[op_name](**kwargs)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile,
            json.JSONDecodeError) as exc:  # TypeError: a field of the wrong kind or name
        raise SnnCompileError(f"{path} is not a readable snncompile image ({exc})") from None
    return Graph(skeleton["level"], nodes, tuple(map(tuple, skeleton["edges"])), skeleton["dt"],
                 skeleton["meta"])
