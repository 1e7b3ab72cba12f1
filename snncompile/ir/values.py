"""Checks of what a model file put into a graph, beyond its structure (ir/check.py): names and
metadata that reach generated files, NaN or infinite parameters, neuron parameters that do not
fit their population. api.load runs them on every model file before anything is lowered."""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir.graph import Graph

MAX_NAME = 256


def unsafe_text(text: str) -> str | None:
    """Why `text` cannot go into a generated file (a `//` comment, a Lava program, JSON), or None:
    control, format and line-separator characters (a newline ends a Verilog comment and lets a
    model file inject `$fopen`), or more than MAX_NAME characters."""
    if len(text) > MAX_NAME:
        return f"is {len(text)} characters long (at most {MAX_NAME})"
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"holds the control character U+{ord(ch):04X}"
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(str(k)) + _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def check_names(graph: Graph) -> None:
    """Node names and metadata strings that could break out of a generated file: refused."""
    for name in graph.nodes:
        if not isinstance(name, str) or not name:
            raise GraphCheckError(f"node name {name!r} is not a non-empty string")
        why = unsafe_text(name)
        if why:
            raise GraphCheckError(f"node name {name[:60]!r} {why}; rename the node")
    for text in _strings(dict(graph.meta)):
        why = unsafe_text(text) if len(text) <= 4096 else None
        if why and "control" in why:
            raise GraphCheckError(f"graph metadata {text[:60]!r} {why}")


def _finite(graph: Graph) -> None:
    for name, op in graph.nodes.items():
        for field, value in op.params().items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size \
                    and not np.isfinite([value.min(), value.max()]).all():  # NaN propagates
                bad = "NaN" if np.isnan(value).any() else "an infinite value"
                raise GraphCheckError(f"node {name!r}: {field} holds {bad}")


def _neuron_fields(graph: Graph) -> None:
    shapes = graph.shapes
    for name in graph.of_kind("neuron"):
        for field, value in graph.nodes[name].params().items():
            if isinstance(value, np.ndarray):
                try:
                    np.broadcast_shapes(value.shape, shapes[name])
                    fits = value.size > 0
                except ValueError:
                    fits = False
                if not fits:
                    raise GraphCheckError(f"node {name!r}: {field} has shape {value.shape}, "
                                          f"which does not fit its {shapes[name]} neurons")


def check_values(graph: Graph, where: str) -> Graph:
    """Raise GraphCheckError (prefixed with `where`) for unsafe names, non-finite parameters or
    neuron parameters that do not fit; run after ir.check.check (structure and shapes)."""
    try:
        check_names(graph)
        _finite(graph)
        _neuron_fields(graph)
    except GraphCheckError as exc:
        raise GraphCheckError(f"{where}: {exc}") from None
    return graph
