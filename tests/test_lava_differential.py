"""Must-show 1: Lava 0.10.0 fixed_pt equals the emulator bit for bit (u, v, spikes, every LIF, every
step) on random hw graphs. Runs wherever the suite runs; Lava missing is a failure, not a skip.

CI (derandomized) draws SNNCOMPILE_LAVA_EXAMPLES examples, default 40 (~95 s on 2 cores); set it
higher locally.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from hw_strategies import hw_examples, lava_settings
from hypothesis import given

from snncompile.backends import loihi2
from snncompile.ir import hw_ops as hw
from snncompile.sim.emulator import simulate
from snncompile.sim.timing import latency, synaptic_depths

EXAMPLES = int(os.environ.get("SNNCOMPILE_LAVA_EXAMPLES", "40"))


def assert_trace_equal(lava: dict, emu, layer: str, kind: str) -> None:
    """assert_array_equal, naming the layer and the first hw step where Lava and emulator differ."""
    got = lava[f"{kind}:{layer}"]
    want = {"s": emu.spikes, "u": emu.u, "v": emu.v}[kind][layer] if kind in "suv" \
        else emu.extra[f"{kind}:{layer}"]
    assert got.shape == want.shape, f"{kind}:{layer}: Lava shape {got.shape}, emulator {want.shape}"
    diff = np.nonzero((got != want).reshape(got.shape[0], got.shape[1], -1).any(axis=(0, 2)))[0]
    first = int(diff[0]) + 1 if len(diff) else None
    np.testing.assert_array_equal(got, want, err_msg=f"{kind} of {layer!r} differs first at "
                                                     f"hw step {first}")


def run_and_compare(graph, x):
    """Run the generated Lava program and the emulator; assert every state probe (s, u, v, and an
    ATRLIF's theta and r) and the aligned outputs equal; return the emulator's run."""
    steps = x.shape[1] + latency(graph)
    with tempfile.TemporaryDirectory() as tmp:
        loihi2.write(graph, Path(tmp))
        outputs, probes = loihi2.run_program(Path(tmp), x, probes=True, timeout=300)
    emu = simulate(graph, x, steps, record=True, strict=True)
    for layer in graph.of_kind("neuron"):
        extra = ("theta", "r") if isinstance(graph.nodes[layer], hw.ATRLIF) else ()
        for kind in ("s", "u", "v", *extra):
            assert_trace_equal(probes, emu, layer, kind)
    (out,) = graph.outputs
    src = graph.predecessors(out)[0]
    depth = synaptic_depths(graph)[src]
    np.testing.assert_array_equal(outputs, emu.spikes[src][:, depth : depth + x.shape[1]],
                                  err_msg="aligned output spikes differ")
    return emu


def compare(graph, x, hits: Counter | None = None) -> None:
    emu = run_and_compare(graph, x)
    if hits is not None:
        for event in emu.events:
            hits[event.kind] += event.count
        hits["spikes"] += int(sum(s.sum() for s in emu.spikes.values()))
        hits["examples"] += 1
        hits["recurrence"] += bool(graph.recurrent_edges)
        for op in graph.nodes.values():
            hits[type(op).__name__] += 1
            hits["LIFReset"] += bool(getattr(op, "reset_interval", 0))
            hits["dilation"] += max(getattr(op, "dilation", (1,))) > 1
            hits["groups"] += getattr(op, "groups", 1) > 1
            hits["weight_exp<0"] += getattr(op, "weight_exp", 0) < 0
            hits[f"sign:{getattr(op, 'sign_mode', None)}"] += 1


def test_lava_fixed_pt_equals_emulator_on_random_graphs():
    hits: Counter = Counter()

    @lava_settings(EXAMPLES)
    @given(hw_examples())
    def prop(example):
        compare(*example, hits)

    prop()
    print(f"\nLava differential: {dict(sorted(hits.items()))}")
    # the suite must reach the corners it exists for, or it proves less than it claims; rarer
    # draws (conv_wrap, dilation, groups) are printed above, and the derandomized CI set has them
    for kind in ("u_wrap", "v_saturation", "DelayDense", "Conv", "GradedInput", "LIFReset",
                 "recurrence", "weight_exp<0", "spikes",
                 *(f"sign:{mode}" for mode in ("auto", "excitatory", "inhibitory", "mixed"))):
        assert hits[kind] > 0, f"no example exercised {kind}: {dict(hits)}"
