"""Lava 0.10.0's ATRLIF fixed model (PyATRLIFModelFixed) equals the emulator bit for bit: spikes,
current i, voltage v, threshold theta and refractory r of every population at every hw step,
through the generated run_lava.py (snncompile.backends.loihi2.run_program). Lava missing is a
failure, not a skip.

CI (derandomized) draws SNNCOMPILE_LAVA_EXAMPLES random graphs, default 4, plus two fixed
corner graphs and one model compiled from torch (~35 s on 2 cores); set it higher locally.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import torch
from atrlif_strategies import atrlif_examples
from hw_strategies import lava_settings
from hypothesis import given
from test_lava_differential import run_and_compare

import snncompile.nn as snn
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.passes import lower_to_hw
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.target import load_target

EXAMPLES = int(os.environ.get("SNNCOMPILE_LAVA_EXAMPLES", "4"))


def compare(graph: Graph, x: np.ndarray, hits: Counter) -> None:
    """Lava equals the emulator in every state probe (run_and_compare); count the corners hit."""
    emu = run_and_compare(graph, x)
    for layer in graph.of_kind("neuron"):
        op = graph.nodes[layer]
        if isinstance(op, hw.ATRLIF):
            hits["spikes"] += int(emu.spikes[layer].sum())
            hits["theta_0=0"] += bool(np.any(np.asarray(op.theta_0) == 0))
            hits["per-neuron"] += op.heterogeneous
            hits["adapted"] += int((emu.extra[f"theta:{layer}"] > op.theta_0 << 6).sum())
    for event in emu.events:
        if isinstance(graph.nodes[event.layer], hw.ATRLIF):
            hits[event.kind] += event.count
    hits["examples"] += 1
    hits["batch>1"] += len(x) > 1
    hits["recurrence"] += bool(graph.recurrent_edges)
    hits["GradedInput"] += isinstance(graph.nodes[graph.inputs[0]], hw.GradedInput)


def _corner_graphs() -> list[tuple[Graph, np.ndarray]]:
    """Fixed graphs that reach what random draws of CI's size may miss: the current wraps (big
    weights at exponent 7), v saturates (big bias), theta_0 = 0 fires at rest through '>=', decays
    at both ends (delta_i = -1, delta 4096), a recurrent Dense, and a batch of 2 (Lava's theta
    must restart at theta_0 << 6 for the second sample)."""
    n = 4
    rng = np.random.default_rng(0)

    def atr(**kw):
        base = {"shape": (n,), "delta_i": 1024, "delta_v": 512, "delta_theta": 256,
                "delta_r": 1024, "theta_0": 40, "theta_step": 30,
                "bias_mant": np.zeros(n, np.int64), "bias_exp": np.zeros(n, np.int64)}
        return hw.ATRLIF(**{**base, **kw})

    nodes = {
        "in": hw.SpikeInput((3,)),
        "d0": hw.Dense(rng.integers(-256, 256, (n, 3)), weight_exp=7),  # the current wraps
        "a0": atr(delta_i=-1, delta_v=0, delta_theta=0, delta_r=4096, theta_0=131071,
                  theta_step=131071),
        "d1": hw.Dense(rng.integers(-60, 200, (n, n)), weight_exp=0),
        "a1": atr(theta_0=0, theta_step=5, bias_mant=np.array([32767, -32768, 100, 0]),
                  bias_exp=np.array([7, 7, 0, 0]), delta_v=4096),  # saturates; fires at rest
        "rec": hw.Dense(rng.integers(-100, 100, (n, n)), weight_exp=1),
        "out": hw.SpikeOutput((n,)),
    }
    edges = (("in", "d0"), ("d0", "a0"), ("a0", "d1"), ("d1", "a1"), ("a1", "rec"),
             ("rec", "a1"), ("a1", "out"))
    g = check(Graph("hw", nodes, edges), "corner graph")
    x = (rng.random((2, 12, 3)) < 0.6).astype(np.int8)
    gi = {"in": hw.GradedInput((n,)), "a": atr(theta_0=3, theta_step=2, delta_theta=100),
          "out": hw.SpikeOutput((n,))}
    graded = check(Graph("hw", gi, (("in", "a"), ("a", "out"))), "graded corner")
    xg = rng.integers(-300, 300, (1, 10, n))
    return [(g, x), (graded, xg)]


def test_lava_atrlif_equals_emulator():
    hits: Counter = Counter()
    for g, x in _corner_graphs():
        compare(g, x, hits)

    @lava_settings(EXAMPLES)
    @given(atrlif_examples())
    def prop(example):
        compare(*example, hits)

    prop()
    print(f"\nLava ATRLIF differential: {dict(sorted(hits.items()))}")
    for kind in ("u_wrap", "v_saturation", "spikes", "theta_0=0", "adapted", "batch>1",
                 "recurrence", "GradedInput", "per-neuron"):
        assert hits[kind] > 0, f"no example exercised {kind}: {dict(hits)}"
    assert hits["examples"] == EXAMPLES + 2


def test_compiled_torch_model_runs_on_lava_as_on_the_emulator():
    """The whole path: snncompile.nn.AdaptiveLIF -> quantize -> Lava ATRLIF (with the bias clock
    feeding the current); Lava equals the emulator exactly and the float model within
    quantization (spikes agree >= 95 %)."""
    torch.manual_seed(11)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 8), snn.AdaptiveLIF(8, alpha=0.6, beta=0.85, theta_0=0.6,
                                               theta_step=0.3, decay_theta=0.9, decay_r=0.7),
        torch.nn.Linear(8, 3), snn.AdaptiveLIF(3, theta_0=0.4))
    with torch.no_grad():
        for m in (model[0], model[2]):
            m.weight.mul_(2.0)
    graph = from_module(model, (6,))
    hw_graph, _ = lower_to_hw(graph, load_target("loihi2"))
    x = (np.random.default_rng(12).random((3, 16, 6)) < 0.5).astype(np.int8)
    hits: Counter = Counter()
    compare(hw_graph, x, hits)
    emu = run_emulator(hw_graph, x, record=True)
    ref = run_reference(graph, x.astype(np.float64), record=True)
    for layer in ("1", "3"):  # measured 0.995 and 1.0
        assert 0.05 < ref[layer].mean() < 0.5, ref[layer].mean()
        assert (ref[layer] == emu.spikes[layer]).mean() >= 0.95, layer
