"""Which hw-graph features each back end can hold: the registry its refusals and docs/support.md
use.

A feature is a name plus a detector (graph -> the nodes that have it). Every hw op type is a
feature by itself (derived from `hw_ops.OPS`, so a new op appears here with no edit and is refused
everywhere until a back end declares it); `ATTRIBUTES` adds what an op type does not show (reset
by subtraction, periodic reset, recurrence, ...). Each back end module declares the names it
holds in `SUPPORTED` (and may say why it lacks one in `WHY`), and its `write` calls
`check(graph, backend)` first, so the refusal and the generated table (scripts/support_matrix.py)
read the same set and cannot drift apart.

Adding a feature: one `Feature(...)` line in `ATTRIBUTES` (and its name in the `SUPPORTED` of the
back ends that hold it). Checks about sizes, shapes and values stay in the back ends.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable

import numpy as np

from snncompile.backends import BACKENDS
from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph

# back end (a kind of snncompile.backends.BACKENDS, as in docs/support.md) -> the module that
# declares its SUPPORTED set
DECLARED_IN: dict[str, str] = {**BACKENDS, "netx export": "snncompile.backends.netx_writer"}


@dataclasses.dataclass(frozen=True)
class Feature:
    """`name` is the key back ends list; `title` reads in the sentence "<back end> cannot hold
    <title> at node <n>"; `find` returns the nodes that have the feature, in graph order."""

    name: str
    title: str
    find: Callable[[Graph], list[str]]
    doc: str = ""


def _clock(g: Graph) -> frozenset[str]:
    return frozenset(g.meta.get("bias_clock", ()))


def _data_nodes(g: Graph) -> list[tuple[str, object]]:
    clock = _clock(g)
    return [(n, op) for n, op in g.nodes.items() if n not in clock]


def _of_type(cls: type) -> Callable[[Graph], list[str]]:
    return lambda g: [n for n, op in g.nodes.items() if type(op) is cls]


def _neurons_where(test: Callable[[object], bool]) -> Callable[[Graph], list[str]]:
    return lambda g: [n for n, op in _data_nodes(g) if op.kind == "neuron" and test(op)]


def _recurrent_synapses(g: Graph) -> list[str]:
    """Synapses on a back edge (the previous step's spikes), outside the bias clock."""
    clock = _clock(g)
    on_loop = {x for edge in g.recurrent_edges for x in edge}
    return [n for n, op in g.nodes.items()
            if n in on_loop and op.kind == "synapse" and n not in clock]


def _fan_in(g: Graph) -> list[str]:
    """Neurons summing two or more forward (non-recurrent) inputs from data nodes."""
    rec, clock = set(_recurrent_synapses(g)), _clock(g)
    return [n for n, op in _data_nodes(g) if op.kind == "neuron" and
            len([p for p in g.predecessors(n) if p not in rec and p not in clock]) > 1]


def _multi_source(g: Graph) -> list[str]:
    return [n for n, op in _data_nodes(g) if op.kind == "synapse" and len(g.predecessors(n)) > 1]


def _bias_clock(g: Graph) -> list[str]:
    return [n for n in g.nodes if n in _clock(g) and g.nodes[n].kind == "neuron"]


ATTRIBUTES: tuple[Feature, ...] = (
    Feature("reset-subtract", "reset by subtraction",
            _neurons_where(lambda op: getattr(op, "reset", "zero") == "subtract"),
            "a neuron whose potential drops by the threshold on a spike (not to zero)"),
    Feature("reset-subtract-next", "a delayed reset by subtraction",
            _neurons_where(lambda op: getattr(op, "reset", "zero") == "subtract_next"),
            "subtraction of the previous step's spike inside the v update (snnTorch's default)"),
    Feature("per-neuron-parameters", "per-neuron du, dv or vth",
            _neurons_where(lambda op: getattr(op, "heterogeneous", False)),
            "a LIF population whose decays or threshold differ between its neurons (or an "
            "ATRLIF whose decays, theta_0 or theta_step do)"),
    Feature("LIFReset", "a periodic reset (LIFReset)",
            _neurons_where(lambda op: getattr(op, "reset_interval", 0) > 0),
            "a neuron population cleared every `reset_interval` steps (times biased layers)"),
    Feature("recurrence", "a recurrent synapse", _recurrent_synapses,
            "a synapse on a loop: it delivers the previous step's spikes"),
    Feature("fan-in", "several forward synapses into one population", _fan_in,
            "a population summing two or more forward inputs (merges, skips)"),
    Feature("multi-source-synapse", "a synapse with several source populations", _multi_source,
            "one synapse reading the OR of several populations' spikes"),
    Feature("bias-clock", "a bias-clock population", _bias_clock,
            "the free-running population that times synaptic biases (passes/assemble.py)"),
    Feature("potential-readout", "a potential readout (dv = 4096 or vth = 2^17)",
            _neurons_where(lambda op: isinstance(op, hw.LIF) and (
                np.max(op.dv) >= 4096 or np.max(op.vth) >= 2**17)),
            "netx's readout neuron (no neuron group, `average`): v without memory, or a threshold "
            "above v's clipped range, so it is read through its potential (`run --record v`)"),
)


def features() -> tuple[Feature, ...]:
    """Every feature: one per hw op type (from hw_ops.OPS, in its order), then ATTRIBUTES."""
    ops = tuple(Feature(name, name, _of_type(cls), _summary(cls.__doc__ or ""))
                for name, cls in hw.OPS.items())
    return ops + ATTRIBUTES


def _summary(doc: str) -> str:
    """An op docstring's first clause (up to '.', ':' or ';'), on one line, for the table."""
    text = " ".join(doc.strip().split("\n\n")[0].split())
    cut = min((i for i in (text.find(". "), text.find(": "), text.find("; ")) if i >= 0),
              default=len(text))
    return text[:cut].rstrip(".:").replace("|", "\\|")


def _module(backend: str):
    if backend not in DECLARED_IN:
        raise SnnCompileError(f"no support table for back end {backend!r} (known: "
                              f"{', '.join(DECLARED_IN)})")
    return importlib.import_module(DECLARED_IN[backend])


def supported(backend: str) -> frozenset[str]:
    """The feature names `backend` declares (its module's SUPPORTED)."""
    return frozenset(_module(backend).SUPPORTED)


def why_not(backend: str, feature: str) -> str:
    """The back end's stated reason for lacking `feature` (its module's WHY), or ""."""
    return getattr(_module(backend), "WHY", {}).get(feature, "")


class UnsupportedFeature(UnsupportedOp):
    """A back end lacks a feature: "<back end> cannot hold <feature> at node <name>"."""

    def __init__(self, backend: str, feature: Feature, node: str):
        self.backend, self.feature, self.node = backend, feature.name, node
        SnnCompileError.__init__(self, sentence(backend, feature, node))


def sentence(backend: str, feature: Feature, node: str) -> str:
    why = why_not(backend, feature.name)
    return (f"{backend} cannot hold {feature.title} at node {node!r}"
            + (f": {why}" if why else "") + " (see docs/support.md)")


def unsupported(graph: Graph, backend: str) -> list[tuple[Feature, str]]:
    """Every (feature, node) of `graph` that `backend` does not declare, features in table order."""
    held = supported(backend)
    return [(f, n) for f in features() if f.name not in held for n in f.find(graph)]


def check(graph: Graph, backend: str) -> None:
    """Raise UnsupportedFeature for the first feature of `graph` that `backend` cannot hold."""
    for feature, node in unsupported(graph, backend):
        raise UnsupportedFeature(backend, feature, node)


def reasons(graph: Graph, backend: str) -> list[str]:
    """One sentence per unsupported (feature, node), for back ends that list reasons (netx)."""
    return [sentence(backend, f, n) for f, n in unsupported(graph, backend)]
