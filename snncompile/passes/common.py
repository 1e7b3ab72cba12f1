"""Small helpers the passes share: errors that name the pass, the node and the feature."""

from __future__ import annotations

from snncompile.errors import Named, UnsupportedOp


def unsupported(pass_name: str, node: str, op: object, detail: str) -> UnsupportedOp:
    """UnsupportedOp reading 'pass P: node 'n' (Op) is not supported (detail)'."""
    return UnsupportedOp(Named(f"node {node!r} ({type(op).__name__})"), f"pass {pass_name}", detail)


def unsupported_edge(pass_name: str, src: str, dst: str, detail: str) -> UnsupportedOp:
    return UnsupportedOp(Named(f"edge {src!r} -> {dst!r}"), f"pass {pass_name}", detail)


def fresh(base: str, taken: set[str], *suffixes: str) -> str:
    """A node name not in `taken` (then added to it): base, base.suffix..., base.suffix.2, ..."""
    candidates = [base] + [f"{base}.{s}" for s in suffixes if s]
    for name in candidates:
        if name not in taken:
            taken.add(name)
            return name
    i = 2
    while f"{candidates[-1]}.{i}" in taken:
        i += 1
    taken.add(f"{candidates[-1]}.{i}")
    return f"{candidates[-1]}.{i}"
