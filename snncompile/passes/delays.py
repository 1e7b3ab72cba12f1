"""How `lower` folds learned synaptic delays (nn `DelayLinear`) into one hw delay per synapse.

A chain of synapse ops from a source layer to a target layer is linear, but a `DelayLinear` in it
makes the map depend on past inputs. `lower` therefore pushes the identity through the chain once
per delay value k, with the DelayLinear replaced by its delay-k synapses only (a plain Linear),
and subtracts the chain with the DelayLinear silenced: what is left is the matrix of the paths
that arrive k steps late. Each (target, source) pair must then have exactly one delay, which is
what a Loihi `DelayDense` holds; two paths with different delays into one synapse are refused.
Delays are hw delays unchanged: Lava's DelayDense delivers a spike 1 + d steps later, and the
one step is the pipeline step every synapse adds (snncompile.sim.timing), so nn time stays aligned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.errors import Named, UnsupportedOp
from snncompile.ir import nn_ops as nn
from snncompile.passes.common import unsupported

DELAY_OPS = (nn.DelayLinear,)


def delay_nodes(graph: Any, chain: list[str]) -> list[str]:
    """The nodes of `chain` that delay their input."""
    return [c for c in chain if isinstance(graph.nodes[c], DELAY_OPS)]


def _only(op: nn.DelayLinear, k: int | None) -> nn.Linear:
    """The op's delay-k synapses as a stateless Linear (k None: no synapse at all)."""
    keep = np.zeros(op.weight.shape, bool) if k is None else np.asarray(op.delay) == k
    return nn.Linear(weight=np.where(keep, op.weight, 0.0))


def delayed_dense(lowering: Any, syns: list[str], n: str, src: str,
                  chain: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """(weight, delays) of the src -> n synapse; delays None when the chain has no delay op."""
    found = delay_nodes(lowering.g, chain)
    if not found:
        return lowering.dense(syns, n, src), None
    if len(found) > 1:
        raise unsupported("lower", found[1], lowering.g.nodes[found[1]],
                          f"it follows delay op {found[0]!r} on the way from {src!r} to {n!r}; "
                          "one delay op per synapse chain is supported")
    node = found[0]
    op = lowering.g.nodes[node]
    base = lowering.dense(syns, n, src, ops={node: _only(op, None)})
    parts = {}
    for k in np.unique(np.asarray(op.delay)):
        parts[int(k)] = lowering.dense(syns, n, src, ops={node: _only(op, int(k))}) - base
    parts[0] = parts.get(0, 0.0) + base
    keys = sorted(parts)
    stack = np.stack([parts[k] for k in keys])
    nonzero = stack != 0
    clash = nonzero.sum(axis=0) > 1
    if clash.any():
        i, j = (int(a[0]) for a in np.nonzero(clash))
        ks = [keys[m] for m in np.nonzero(nonzero[:, i, j])[0]]
        raise unsupported("lower", node, op,
                          f"synapse ({i}, {j}) from {src!r} to {n!r} is reached by paths with "
                          f"delays {ks} steps; a hardware synapse holds one delay")
    delays = np.asarray(keys, dtype=np.int64)[np.argmax(nonzero, axis=0)]
    return stack.sum(axis=0), np.where(nonzero.any(axis=0), delays, 0)


def refuse_delayed_bias(lowering: Any, syns: list[str], n: str,
                        steps: list[dict[str, np.ndarray]]) -> None:
    """A bias that enters a delay op would arrive late (zeros in its first steps), which the
    neuron's constant bias cannot express: refused, naming the delay op."""
    g = lowering.g
    for node in syns:
        if not isinstance(g.nodes[node], DELAY_OPS):
            continue
        for vals in steps:
            inflow = sum((vals[p] for p in g.predecessors(node) if p in vals), start=0.0)
            if np.any(inflow != 0):
                raise unsupported("lower", node, g.nodes[node],
                                  "a bias reaches its input, and a delayed bias is zero in its "
                                  "first steps; put the bias after the delay")


def refuse_long_delays(name: str, syn: Any, target: Any) -> None:
    """A delay beyond the target's `max_delay` ([synapse] in target.toml; 62 on Loihi 2, where
    Lava's DelayDense allows 63 and netx clamps to 62) is refused, never clipped: a clipped delay
    would silently change what the network computes. `syn` is the GroupedDense `name`."""
    if syn.delays is None or not syn.delays.size or int(syn.delays.max()) <= target.max_delay:
        return
    what = f"node {syn.delay_node!r} (DelayLinear)" if syn.delay_node else f"synapse {name!r}"
    pad = syn.pipeline_pad
    why = (f" ({pad} of them pipeline padding that lets this skip connection meet its target's "
           "longer input path)" if pad else "")
    raise UnsupportedOp(Named(what), "pass quantize",
                        f"its largest delay is {int(syn.delays.max())} steps{why} and target "
                        f"{target.name!r} holds at most {target.max_delay}; "
                        + ("shorten the skip" if pad and not syn.delay_node else
                           "retrain with max_delay within the limit, or use a coarser dt"))
