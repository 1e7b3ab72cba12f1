"""The Graph value: named ops, directed edges, the time step dt; recurrence is any cycle of
edges."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from snncompile.ir.op import Op


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
    """An immutable graph. `nodes` keeps insertion order, which fixes every traversal's order.

    `level` is "nn" or "hw". `dt` is seconds per step (nn ops read it; hw time is integer steps and
    dt only tells what a step means). `meta` holds small scalars (source file, target, ...).
    Recurrent edges are the back edges of a depth-first walk from the inputs in node order: at
    step t they carry the source's output of step t - 1.
    """

    level: str
    nodes: Mapping[str, Op]
    edges: tuple[tuple[str, str], ...]
    dt: float = 1.0
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "nodes", dict(self.nodes))
        object.__setattr__(self, "edges", tuple((str(a), str(b)) for a, b in self.edges))
        object.__setattr__(self, "meta", dict(self.meta))

    # -- structure ---------------------------------------------------------------------------
    def predecessors(self, name: str) -> list[str]:
        return [a for a, b in self.edges if b == name]

    def successors(self, name: str) -> list[str]:
        return [b for a, b in self.edges if a == name]

    def of_kind(self, kind: str) -> list[str]:
        return [n for n, op in self.nodes.items() if op.kind == kind]

    @property
    def inputs(self) -> list[str]:
        return self.of_kind("input")

    @property
    def outputs(self) -> list[str]:
        return self.of_kind("output")

    @cached_property
    def recurrent_edges(self) -> frozenset[tuple[str, str]]:
        succ: dict[str, list[str]] = {n: [] for n in self.nodes}
        for a, b in self.edges:
            succ[a].append(b)
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        back: set[tuple[str, str]] = set()
        roots = self.inputs + [n for n in self.nodes if n not in self.inputs]
        for root in roots:
            if root in state:
                continue
            stack = [(root, iter(succ[root]))]
            state[root] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    back.add((node, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(succ[nxt])))
        return frozenset(back)

    @cached_property
    def schedule(self) -> tuple[str, ...]:
        """Node names in an order where every feed-forward predecessor comes first (stable)."""
        forward = [e for e in self.edges if e not in self.recurrent_edges]
        indeg = {n: 0 for n in self.nodes}
        for _, b in forward:
            indeg[b] += 1
        order, ready = [], [n for n in self.nodes if indeg[n] == 0]
        position = {n: i for i, n in enumerate(self.nodes)}
        while ready:
            ready.sort(key=position.__getitem__)
            n = ready.pop(0)
            order.append(n)
            for a, b in forward:
                if a == n:
                    indeg[b] -= 1
                    if indeg[b] == 0:
                        ready.append(b)
        return tuple(order)

    @cached_property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-step output shape of every node (raises GraphCheckError where shapes disagree)."""
        from snncompile.errors import GraphCheckError
        from snncompile.limits import budget

        limit = budget("neurons")
        shapes: dict[str, tuple[int, ...]] = {}
        for name in self.schedule:
            op = self.nodes[name]
            preds = [p for p in self.predecessors(name) if (p, name) not in self.recurrent_edges]
            in_shapes = {shapes[p] for p in preds}
            if op.kind == "input":
                in_shape: tuple[int, ...] = ()
            elif len(in_shapes) == 1:
                in_shape = in_shapes.pop()
            elif not in_shapes:
                raise GraphCheckError(f"node {name!r} ({type(op).__name__}) has no input")
            else:
                raise GraphCheckError(
                    f"node {name!r} ({type(op).__name__}) sums inputs of different shapes "
                    f"{sorted(in_shapes)}"
                )
            try:
                shapes[name] = tuple(int(d) for d in op.output_shape(in_shape))
            except Exception as exc:  # noqa: BLE001 - any op shape rule failing is a graph error
                raise GraphCheckError(
                    f"node {name!r} ({type(op).__name__}) cannot take input of shape "
                    f"{in_shape}: {exc}"
                ) from None
            if any(d <= 0 for d in shapes[name]):
                raise GraphCheckError(f"node {name!r} ({type(op).__name__}) turns input of shape "
                                      f"{in_shape} into an empty output {shapes[name]}")
            size = math.prod(shapes[name])
            if size > limit:
                raise GraphCheckError(f"node {name!r} ({type(op).__name__}) has shape "
                                      f"{shapes[name]}, {size:,} neurons, over the budget of "
                                      f"{limit:,.0f} (SNNCOMPILE_MAX_NEURONS)")
        return shapes

    # -- values ------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Graph:
        return dataclasses.replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (
            self.level == other.level
            and list(self.nodes) == list(other.nodes)
            and all(self.nodes[n] == other.nodes[n] for n in self.nodes)
            and self.edges == other.edges
            and float(self.dt) == float(other.dt)
            and self.meta == other.meta
        )

    def __hash__(self) -> int:
        return hash((self.level, tuple(self.nodes), self.edges))

    def num_neurons(self) -> int:
        return sum(int(np.prod(self.shapes[n])) for n in self.of_kind("neuron"))
