"""Graph invariants, checked before and after every pass; a failure names the pass, node and
numbers."""

from __future__ import annotations

import numpy as np

from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops
from snncompile.ir.graph import Graph
from snncompile.ir.size import check_size

LEVELS = ("nn", "hw")


def check(graph: Graph, where: str = "graph") -> Graph:
    """Raise GraphCheckError (prefixed with `where`) unless `graph` is well formed; return it."""
    try:
        _check_structure(graph)
        shapes = graph.shapes  # shape inference: raises on mismatches
        _check_neuron_shapes(graph, shapes)
        if graph.level == "hw":
            _check_hw_ranges(graph)
    except GraphCheckError as exc:
        raise GraphCheckError(f"{where}: {exc}") from None
    check_size(graph, where)  # the synapse and weight budgets, from the shapes alone
    return graph


def _check_structure(graph: Graph) -> None:
    if graph.level not in LEVELS:
        raise GraphCheckError(f"unknown level {graph.level!r} (expected one of {LEVELS})")
    if not graph.dt > 0:
        raise GraphCheckError(f"dt must be positive, got {graph.dt}")
    for name, op in graph.nodes.items():
        if op.level != graph.level:
            raise GraphCheckError(
                f"node {name!r} is a {op.level} op ({type(op).__name__}) in a {graph.level} graph"
            )
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise GraphCheckError(f"edge {a!r} -> {b!r} names no node {end!r}")
    if len(set(graph.edges)) != len(graph.edges):
        raise GraphCheckError("an edge is listed twice")
    if not graph.inputs:
        raise GraphCheckError("the graph has no input node")
    if not graph.outputs:
        raise GraphCheckError("the graph has no output node")
    for name in graph.inputs:
        if graph.predecessors(name):
            raise GraphCheckError(f"input node {name!r} has incoming edges")
    for name in graph.outputs:
        if len(graph.predecessors(name)) != 1 or graph.successors(name):
            raise GraphCheckError(
                f"output node {name!r} must have one incoming and no outgoing edge")
    reached = set(graph.inputs)
    frontier = list(graph.inputs)
    while frontier:
        for nxt in graph.successors(frontier.pop()):
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    unreached = [n for n in graph.nodes if n not in reached]
    if unreached:
        raise GraphCheckError(f"node {unreached[0]!r} is not reachable from any input")
    for a, b in graph.recurrent_edges:
        if graph.nodes[b].kind == "synapse" and graph.nodes[a].kind == "synapse":
            raise GraphCheckError(
                f"recurrent edge {a!r} -> {b!r} forms a loop with no neuron in it")


def _check_neuron_shapes(graph: Graph, shapes: dict[str, tuple[int, ...]]) -> None:
    """A neuron's parameters must broadcast to the shape of what flows into it."""
    for name in graph.of_kind("neuron"):
        own = tuple(getattr(graph.nodes[name], "shape", ()) or ())
        for pred in graph.predecessors(name):
            try:
                fits = np.broadcast_shapes(own, shapes[pred]) == tuple(shapes[pred])
            except ValueError:
                fits = False
            if not fits:
                raise GraphCheckError(
                    f"node {name!r} has shape {own} but its input {pred!r} has shape {shapes[pred]}"
                )


def _in_range(name: str, field: str, value, low: int, high: int) -> None:
    arr = np.asarray(value)
    if arr.size and (arr.min() < low or arr.max() > high):
        bad = arr.min() if arr.min() < low else arr.max()
        raise GraphCheckError(f"node {name!r}: {field} = {int(bad)} is outside [{low}, {high}]")


def _check_hw_ranges(graph: Graph) -> None:
    """Ranges Lava's fixed_pt models accept (docs/spec/loihi2-fixed-point.md §1.1, §2.1)."""
    for name, op in graph.nodes.items():
        if isinstance(op, hw_ops.LIF):
            _in_range(name, "du", op.du, -1, 4095)
            # dv = 4096 and vth = 2^17: netx's default neuron (a readout that never spikes)
            _in_range(name, "dv", op.dv, 0, 4096)
            _in_range(name, "vth", op.vth, 0, 2**17)
            _in_range(name, "bias_mant", op.bias_mant, -(2**15), 2**15 - 1)
        elif isinstance(op, hw_ops.ATRLIF):  # spec §1.6; 17-bit thresholds as LIF's vth
            _in_range(name, "delta_i", op.delta_i, -1, 4095)
            for field in ("delta_v", "delta_theta", "delta_r"):
                _in_range(name, field, getattr(op, field), 0, 4096)
            _in_range(name, "theta_0", op.theta_0, 0, 2**17 - 1)
            _in_range(name, "theta_step", op.theta_step, 0, 2**17 - 1)
            _in_range(name, "bias_mant", op.bias_mant, -(2**15), 2**15 - 1)
        elif isinstance(op, hw_ops.Sigma):  # and Delta, SigmaDelta (Lava's sdn precisions)
            _in_range(name, "num_message_bits", op.num_message_bits, 0, 24)
            if isinstance(op, hw_ops.Delta):
                _in_range(name, "spike_exp", op.spike_exp, 0, 7)
                _in_range(name, "state_exp", op.state_exp, 0, 7)
                _in_range(name, "vth", op.vth, 0, 2**24 - 1)
            if isinstance(op, hw_ops.SigmaDelta):
                _in_range(name, "bias", op.bias, -(2**31), 2**31 - 1)
        elif isinstance(op, (hw_ops.Dense, hw_ops.Sparse)):
            _in_range(name, "num_weight_bits", op.num_weight_bits, 1, 8)
            _in_range(name, "weights", op.weights, -256, 255)
            if isinstance(op, hw_ops.DelayDense):
                _in_range(name, "delays", op.delays, 0, 62)
