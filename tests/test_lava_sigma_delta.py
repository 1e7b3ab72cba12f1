"""Graded spikes: Lava 0.10.0's own sdn processes (Sigma, Delta, SigmaDelta, fixed_pt models, run
by the generated Lava program) equal the emulator bit for bit in s_out, sigma, act, residue and
error of every population at every hw step, on random small graphs: a graded input into a Delta
encoder, Dense or Conv synapses reading graded (num_message_bits > 0) or binary messages,
SigmaDelta layers (ReLU or unit activation, per-neuron bias, cum_error, spike_exp, state_exp)
and a Sigma or SigmaDelta readout.

CI (derandomized) draws SNNCOMPILE_SDN_EXAMPLES examples, default 4 (~15 s each on the busy
2-core machine); set it higher locally.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from hw_strategies import _conv, _ints, finish, lava_settings
from hypothesis import given
from hypothesis import strategies as st
from test_lava_differential import assert_trace_equal

from snncompile.backends import loihi2
from snncompile.ir import hw_ops as hw
from snncompile.sim.emulator import simulate
from snncompile.sim.timing import latency

EXAMPLES = int(os.environ.get("SNNCOMPILE_SDN_EXAMPLES", "4"))


def _common(draw) -> dict:
    return {"num_message_bits": draw(st.sampled_from([16, 16, 24, 0])),
            "vth": draw(st.sampled_from([0, 1]) | st.integers(0, 40) | st.integers(0, 5000)),
            "cum_error": draw(st.booleans()), "spike_exp": draw(st.integers(0, 7)),
            "state_exp": draw(st.integers(0, 7))}


def _sigma_delta(draw, shape) -> hw.SigmaDelta:
    bias = _ints(draw, -3000, 3000, shape) if draw(st.booleans()) else np.zeros(shape, np.int64)
    return hw.SigmaDelta(tuple(shape), bias=bias, act_mode=draw(st.sampled_from(hw.ACT_MODES)),
                         **_common(draw))


def _dense(draw, n_out: int, n_in: int) -> hw.Dense:
    return hw.Dense(_ints(draw, -256, 255, (n_out, n_in)), weight_exp=draw(st.integers(-6, 3)),
                    num_weight_bits=draw(st.integers(6, 8)))


@st.composite
def sdn_examples(draw):
    """input -> Delta -> (Conv | Dense) -> SigmaDelta -> Dense -> (Sigma | SigmaDelta) -> out."""
    conv_first = draw(st.booleans())
    shape = (draw(st.integers(1, 3)), draw(st.integers(3, 6)), draw(st.integers(3, 6))) \
        if conv_first else (draw(st.integers(2, 12)),)
    delta = hw.Delta(shape, **_common(draw))
    nodes: dict = {"in": hw.GradedInput(shape), "delta": delta}
    edges = [("in", "delta")]
    syn = _conv(draw, shape) if conv_first else None
    if syn is not None and np.abs(syn.weight).max() > 255:  # keep graded sums below 2^31
        syn = syn.replace(weight=np.asarray(syn.weight) >> 16)
    if syn is None:
        conv_first, shape = False, (int(np.prod(shape)),)
        syn = _dense(draw, draw(st.integers(2, 10)), shape[0])
    mid_shape = syn.output_shape(delta.shape if conv_first else shape)
    nodes.update(syn1=syn, sd=_sigma_delta(draw, mid_shape))
    edges += [("delta", "syn1"), ("syn1", "sd")]
    n_out = draw(st.integers(1, 5))
    last = hw.Sigma((n_out,), draw(st.sampled_from([16, 24]))) if draw(st.booleans()) \
        else _sigma_delta(draw, (n_out,))
    nodes.update(syn2=_dense(draw, n_out, int(np.prod(mid_shape))), last=last)
    edges += [("sd", "syn2"), ("syn2", "last")]
    graph = finish(nodes, edges, "last", "sdn strategy")
    batch, steps = draw(st.integers(1, 2)), draw(st.integers(3, 8))
    bound = draw(st.sampled_from([4, 100, 1000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-bound, bound + 1, size=(batch, steps, *delta.shape), dtype=np.int64)
    if draw(st.booleans()):  # a held value, as a frame repeated every step (PilotNet's input)
        x[:, 1:] = x[:, :1]
    return graph, x


def compare_sdn(graph, x, hits: Counter) -> None:
    steps = x.shape[1] + latency(graph)
    with tempfile.TemporaryDirectory() as tmp:
        loihi2.write(graph, Path(tmp))
        _, probes = loihi2.run_program(Path(tmp), x, probes=True, timeout=300)
    emu = simulate(graph, x, steps, record=True)
    for name in graph.of_kind("neuron"):
        op = graph.nodes[name]
        kinds = ("s", "u") if type(op) is hw.Sigma else ("s", "u", "v", "residue", "error")
        for kind in kinds:
            assert_trace_equal(probes, emu, name, kind)
        hits[type(op).__name__] += 1
        if type(op) is not hw.Sigma:
            hits["cum_error"] += bool(op.cum_error)
            hits["binary messages"] += op.num_message_bits == 0
            hits["unit"] += getattr(op, "act_mode", "") == "unit"
        hits["nonzero messages"] += int(np.count_nonzero(emu.spikes[name]))
    hits["Conv"] += any(type(op) is hw.Conv for op in graph.nodes.values())


def test_lava_sdn_processes_equal_emulator_on_random_graphs():
    hits: Counter = Counter()

    @lava_settings(EXAMPLES)
    @given(sdn_examples())
    def prop(example):
        compare_sdn(*example, hits)

    prop()
    print(f"\nsigma-delta differential: {dict(sorted(hits.items()))}")
    for kind in ("Delta", "SigmaDelta", "nonzero messages", "cum_error"):
        assert hits[kind] > 0, f"no example exercised {kind}: {dict(hits)}"


def test_run_record_of_a_sigma_delta_build(tmp_path):
    """`snncompile run --record u,v,spikes` on a loihi2 build with graded spikes: Lava's recording
    equals the emulator's (a Sigma has no act, so its v is 0 on both sides)."""
    from snncompile import recording
    from snncompile.ir.check import check
    from snncompile.ir.graph import Graph
    from snncompile.sim.emulator import run_emulator

    nodes = {"in": hw.GradedInput((3,)), "d": hw.Delta((3,), 16, vth=1, spike_exp=2, state_exp=1),
             "s": hw.Dense(np.array([[3, -5, 7], [2, 2, -9]])), "m": hw.Sigma((2,)),
             "out": hw.SpikeOutput((2,))}
    graph = check(Graph("hw", nodes, (("in", "d"), ("d", "s"), ("s", "m"), ("m", "out"))), "t")
    x = np.random.default_rng(0).integers(-50, 50, (2, 5, 3))
    loihi2.write(graph, tmp_path)
    out, _ = loihi2.run(tmp_path, {}, x, record="u,v,spikes", record_to=tmp_path / "r.npz")
    emu = run_emulator(graph, x, record=True)
    want = recording.from_emulator(graph, emu, ("u", "v", "spikes"))
    with np.load(tmp_path / "r.npz") as got:
        assert sorted(got.files) == sorted(want)
        for key, value in want.items():
            np.testing.assert_array_equal(got[key], value, err_msg=key)
    np.testing.assert_array_equal(out, emu.outputs["out"])
    assert np.count_nonzero(want["u:m"]) > 0 and out.dtype == np.int32
