"""quantize's dry run on zero input: which layers spike before their first input arrives (their
bias would then reach other layers early; quantize routes it through the bias clock), and when
no neuron can, so the run is skipped."""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.sim.lava_params import effective_bias


def at_rest(graph: Graph, steps: int) -> bool:
    """No neuron can spike in the dry run's `steps` hw steps on zero input: every neuron is a LIF
    with vth >= 0 whose bias alone cannot lift v above vth << 6 in `steps` steps (no spike yet
    means no input, so u = 0; |tz(v * Dv)| <= |v|, so v_t <= t * max(bias, 0)). The dry run is
    then skipped: on a 33M-weight net it would prepare every weight matrix for the emulator to
    learn nothing (6 s of a 10 s compile; floor centring gives most layers a small bias)."""
    for op in graph.nodes.values():
        if op.kind != "neuron":
            continue
        if type(op) is not hw.LIF:
            return False
        vth = np.broadcast_to(np.asarray(op.vth, np.int64), op.shape).reshape(-1) << 6
        if np.any(vth < 0) or np.any(steps * np.maximum(effective_bias(op), 0) > vth):
            return False
    return True


def early_layers(hw_graph: Graph, layers: Any, depth: dict[str, int], trace: Any) -> list[str]:
    """Layers with synapse successors that spiked before their first nn step (hw step <= their
    depth) in the dry run on zero input."""
    return [n for n in layers if trace.spikes[n][0, :depth[n]].any()
            and any(hw_graph.nodes[s].kind == "synapse" for s in hw_graph.successors(n))]
