"""Quantization: weights, thresholds and biases round to within half a step, the integers survive
Lava's weight preprocessing unchanged (spec §2.1, §4.3), and the report says what happened."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.ir.graph import Graph
from snncompile.passes import Quantize, lower_to_hw
from snncompile.passes.encode import encode_bias, encode_weights, fit_exponent
from snncompile.target import load_target

TARGET = load_target("emu")


def lava_preprocess(w: np.ndarray, mode: str, nwb: int = 8) -> np.ndarray:
    """spec §2.1, written again here: clip to 8 bits for the sign mode, truncate k bits."""
    mixed = mode == "mixed"
    k = 8 - nwb + mixed
    if mode == "inhibitory":
        return -(((-np.clip(w, -255, 0)) >> k) << k)
    return (np.clip(w, -256 if mixed else 0, 255) >> k) << k


weights = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=12),
                     elements=st.floats(-50, 50, allow_nan=False, allow_subnormal=False))


@settings(max_examples=300, deadline=None)
@given(w=weights, scale=st.sampled_from([1e-4, 1e-2, 1.0, 30.0]),
       sign=st.sampled_from(["mixed", "pos", "neg"]), vth=st.integers(1, 2**17 - 1))
def test_weights_round_to_half_lsb_and_survive_lava(w, scale, sign, vth):
    x = w * scale
    x = np.abs(x) if sign == "pos" else -np.abs(x) if sign == "neg" else x
    e = fit_exponent(x, vth, TARGET)
    if e is None:  # only when even the largest exponent cannot hold the largest weight
        assert np.abs(x).max() * vth / 2**TARGET.weight_exp_max > 250
        return
    code = encode_weights(x, vth, e, TARGET)
    deq = code.weights * 2.0**code.weight_exp / vth
    assert np.all(np.abs(deq - x) <= code.lsb / 2 * (1 + 1e-9))
    assert code.max_err <= code.lsb / 2 * (1 + 1e-9)
    np.testing.assert_array_equal(lava_preprocess(code.weights, code.sign_mode), code.weights)
    assert TARGET.weight_exp_min <= code.weight_exp <= TARGET.weight_exp_max
    if e > TARGET.weight_exp_min:  # the exponent is the smallest that fits
        lo_mode = {"mixed": (-256, 254), "excitatory": (0, 255), "inhibitory": (-255, 0)}
        lo, hi = lo_mode[code.sign_mode]
        step = 2 if code.sign_mode == "mixed" else 1
        finer = step * np.rint(x * vth / 2.0 ** (e - 1) / step)
        assert finer.min() < lo or finer.max() > hi


@settings(max_examples=200, deadline=None)
@given(b=hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-60, 60)),
       vth=st.integers(1, 2**17 - 1))
def test_bias_rounds_to_half_lsb(b, vth):
    code = encode_bias(b, vth, TARGET)
    raw = 64.0 * vth * b
    assert np.all((code.mant >= -4096) & (code.mant <= 4095))
    assert np.all((code.exp >= 0) & (code.exp <= 7))
    ok = np.abs(raw) <= 4095.5 * 2**7
    half = 2.0 ** (code.exp - 1)
    assert np.all(np.abs(code.mant * 2.0**code.exp - raw)[ok] <= half[ok] * (1 + 1e-9))
    assert code.clipped == int(np.count_nonzero(np.rint(raw / 128)[~ok] != code.mant[~ok]))


def lif(n, tau=10e-3, thr=1.0, **kw):
    args = {"tau": np.full(n, tau), "r": np.full(n, 10.0), "v_leak": np.zeros(n),
                "v_threshold": np.full(n, thr), "v_reset": np.zeros(n)}
    args.update(kw)
    return nn.LIF(**args)


def two_layer(first=None, second=None, bias=True, seed=0) -> Graph:
    rng = np.random.default_rng(seed)
    fc1 = (nn.Affine(rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.05, 6)) if bias
           else nn.Linear(rng.normal(0, 0.5, (6, 5))))
    return Graph("nn", {"in": nn.Input((5,)), "fc1": fc1, "lif1": first or lif(6, thr=0.7),
                        "fc2": nn.Linear(rng.normal(0, 0.5, (3, 6))), "lif2": second or lif(3),
                        "out": nn.Output((3,))},
                 [("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
                  ("lif2", "out")],
                 dt=1e-3)


def test_hw_graph_thresholds_exact_and_weights_survive_lava():
    g = two_layer()
    hw_graph, report = lower_to_hw(g, TARGET)
    for name, op in hw_graph.nodes.items():
        if isinstance(op, hw.Dense):
            np.testing.assert_array_equal(lava_preprocess(op.weights, op.sign_mode), op.weights)
    by_name = {q.layer: q for q in report.layers}
    for name in ("lif1", "lif2"):
        q, op = by_name[name], hw_graph.nodes[name]
        thr = float(g.nodes[name].v_threshold[0])
        assert op.vth * 64 == pytest.approx(q.scale * thr, rel=1e-12)
        assert q.threshold_err < 1e-12 and q.vth == op.vth
        assert 0 <= op.vth <= 2**17 - 1
        assert q.headroom_thr * 64 * op.vth <= 2**23
    assert op.dv == round(4096 * 0.1)
    assert by_name["lif2"].dv_err == pytest.approx(abs(410 / 4096 - 0.1))
    assert hw_graph.nodes["lif1"].reset_interval == TARGET.reset_interval  # biased: LIFReset
    assert hw_graph.nodes["lif1"].reset_offset == 2 and hw_graph.nodes["lif2"].reset_interval == 0


def test_report_rows_and_json():
    _, report = lower_to_hw(two_layer(), TARGET)
    rows = report.rows()
    assert [r["layer"] for r in rows] == ["lif1", "lif2"]
    for key in ("neurons", "scale", "weight_exp", "bits used/lost", "w_err/thr", "du_err",
                "dv_err", "bias", "headroom"):
        assert key in rows[0]
    assert rows[0]["neurons"] == 6
    d = json.loads(json.dumps(report.to_dict()))
    for key in ("scale", "threshold_err", "du_err", "dv_err", "max_err_thr", "max_err_lsb", "bits",
                "bits_lost", "warnings", "headroom_thr", "vth", "du", "dv"):
        assert key in d["layers"][0]
    first = d["layers"][0]
    assert first["max_err_lsb"] <= 0.5 and first["bits_lost"] == 8 - first["bits"]
    syn = d["layers"][0]["synapses"][0]
    assert syn["name"] == "fc1" and syn["max_err_thr"] <= syn["lsb_thr"] / 2 + 1e-12
    assert d["layers"][1]["bias_route"] == "-" and d["layers"][0]["bias_route"] == "neuron"


def test_unsupported_features_name_node_and_feature():
    with pytest.raises(UnsupportedOp, match=r"node 'lif2' \(LIF\).*v_reset != 0"):
        lower_to_hw(two_layer(second=lif(3, v_reset=np.full(3, 0.2))), TARGET)
    # per-neuron tau and thresholds are held (issue 14): du/dv per neuron, thresholds folded
    hw_graph, report = lower_to_hw(two_layer(first=lif(6, tau=np.linspace(5e-3, 9e-3, 6)),
                                             second=lif(3, v_threshold=np.array([1.0, 1.0, 2.0]))),
                                   TARGET)
    assert hw_graph.nodes["lif1"].heterogeneous and np.ndim(hw_graph.nodes["lif2"].vth) == 0
    assert [q.param_groups for q in report.layers] == [6, 1]
    with pytest.raises(UnsupportedOp, match=r"node 'lif2' \(LIF\).*outside \[0, 1\]"):
        lower_to_hw(two_layer(second=lif(3, tau=0.5e-3)), TARGET)


def test_subtract_and_next_step_warnings(monkeypatch):
    from snncompile.backends import fpga

    g = two_layer(second=lif(3, reset="subtract", reset_timing="next_step"), bias=False)
    for name in ("emu", "loihi2", "fpga"):  # each holds the delayed subtraction exactly
        hw_graph, report = lower_to_hw(g, load_target(name))
        assert hw_graph.nodes["lif2"].reset == "subtract_next" and not report.warnings
    # a back end without it subtracts in the spiking step, with a warning
    monkeypatch.setattr(fpga, "SUPPORTED", fpga.SUPPORTED - {"reset-subtract-next"})
    hw_graph, report = lower_to_hw(g, load_target("fpga"))
    text = " ".join(report.warnings)
    assert hw_graph.nodes["lif2"].reset == "subtract"
    assert "next_step" in text and "verify measures the deviation" in text
    _, report = lower_to_hw(two_layer(second=lif(3, reset_timing="next_step"), bias=False), TARGET)
    assert not report.warnings  # zero reset, no v_leak: spikes are identical


def test_headroom_option_and_warning():
    _, tight = lower_to_hw(two_layer(), TARGET, quantize=Quantize(headroom=2.0))
    assert all(q.vth <= (2**23 - 1) // (64 * 2) for q in tight.layers)
    rng = np.random.default_rng(1)
    wide = Graph("nn", {"in": nn.Input((400,)), "fc": nn.Linear(rng.uniform(0, 1, (2, 400))),
                        "lif": lif(2), "out": nn.Output((2,))},
                 [("in", "fc"), ("fc", "lif"), ("lif", "out")], dt=1e-3)
    _, report = lower_to_hw(wide, TARGET)
    assert any("thresholds of u/v range" in w for w in report.warnings)


def test_load_target_errors_and_sources():
    with pytest.raises(SnnCompileError, match=r"unknown target 'nope' \(known targets: .*emu"):
        load_target("nope")
    assert all(p.source and p.status in ("code", "published", "assumed")
               for p in TARGET.sources.values())
    loihi2 = load_target("loihi2")
    assert loihi2.limits["neurons_per_core"].status == "unverified"
    # a base target lends its number formats only: limits and energy belong to each chip
    assert TARGET.sources == loihi2.sources and not TARGET.limits and not TARGET.energy


def test_tiny_weights_do_not_overflow_the_scale_search():
    """Found by fuzzing: a denormal gain made ratio * 2^e infinite; now it just lowers (or says
    why)."""
    lif = nn.LIF(tau=np.ones(1), r=np.array([2.2e-309]), v_leak=np.zeros(1),
                 v_threshold=np.array([1e-4]), v_reset=np.zeros(1))
    g = Graph("nn", {"in": nn.Input((1,)), "fc": nn.Affine(np.ones((1, 1)), np.zeros(1)),
                     "lif": lif, "out": nn.Output((1,))},
              [("in", "fc"), ("fc", "lif"), ("lif", "out")], dt=1.0)
    try:
        lower_to_hw(g, TARGET)
    except SnnCompileError as exc:
        assert "lif" in str(exc)


def test_weight_split_adds_an_exact_fine_dense():
    """With split_weights every Dense gets a twin from the same source into the same neuron whose
    integers also survive Lava, and the pair's worst error shrinks by orders of magnitude."""
    from snncompile.sim.timing import synaptic_depths

    g = two_layer(seed=3)
    plain_graph, plain = lower_to_hw(g, TARGET)
    split_graph, split = lower_to_hw(g, TARGET, quantize=Quantize(split_weights=True))
    depth = synaptic_depths(split_graph)
    for name in ("fc1", "fc2"):
        coarse, fine = split_graph.nodes[name], split_graph.nodes[f"{name}.fine"]
        assert split_graph.predecessors(f"{name}.fine") == split_graph.predecessors(name)
        assert split_graph.successors(f"{name}.fine") == split_graph.successors(name)
        assert depth[f"{name}.fine"] == depth[name] and fine.weight_exp < coarse.weight_exp
        np.testing.assert_array_equal(plain_graph.nodes[name].weights, coarse.weights)
        for op in (coarse, fine):
            np.testing.assert_array_equal(lava_preprocess(op.weights, op.sign_mode), op.weights)
    for before, after in zip(plain.layers, split.layers):
        assert after.max_err_thr < before.max_err_thr / 50
        kinds = [s.kind for s in after.synapses]
        assert kinds.count("fine") == kinds.count("dense") == 1
        assert after.bits == before.bits  # the fine twin does not count as the layer's weights


def test_floored_synapses_are_centred_by_half_a_unit_of_bias():
    """A negative weight_exp floors each step's sum (up to one a_in unit low, half on average):
    the layer's bias gets half a unit (32 raw) per floored data synapse, so v no longer drifts
    down against the float reference. Measured on a layer that never spikes (v is then the
    leaky sum of its input in both)."""
    from snncompile.sim.emulator import simulate
    from snncompile.sim.reference import run_reference
    from snncompile.sim.timing import synaptic_depths

    w = np.random.default_rng(3).normal(0, 0.2, (6, 5))
    g = Graph("nn", {"in": nn.Input((5,)), "fc1": nn.Linear(w), "lif1": lif(6, thr=5.0),
                     "out": nn.Output((6,))},
              [("in", "fc1"), ("fc1", "lif1"), ("lif1", "out")], dt=1e-3)
    hw_graph, _ = lower_to_hw(g, TARGET, quantize=Quantize(split_weights=True))
    op = hw_graph.nodes["lif1"]
    floored = [p for p in hw_graph.predecessors("lif1") if hw_graph.nodes[p].weight_exp < 0]
    assert floored and op.reset_interval == TARGET.reset_interval  # a bias: LIFReset
    np.testing.assert_array_equal(op.bias_mant * 2.0**op.bias_exp, 32 * len(floored))
    x = (np.random.default_rng(0).random((4, 60, 5)) < 0.5).astype(np.float64)
    ref = run_reference(g, x, state=True)["lif1:v"] / 5.0  # in thresholds
    k, steps = synaptic_depths(hw_graph)["lif1"], x.shape[1]
    uncentred = hw_graph.replace(nodes={**hw_graph.nodes, "lif1": op.replace(
        bias_mant=np.zeros_like(op.bias_mant))})
    errors = {}
    for name, graph in (("centred", hw_graph), ("uncentred", uncentred)):
        v = simulate(graph, x, steps + k, record=True).v["lif1"][:, k:k + steps]
        assert not simulate(graph, x, steps + k, record=True).spikes["lif1"].any()
        errors[name] = float(np.mean(v / (64.0 * op.vth) - ref))
    unit = 1.0 / op.vth  # one a_in unit in thresholds
    assert errors["uncentred"] < -unit and abs(errors["centred"]) < abs(errors["uncentred"]) / 3
