"""The emulator against an independent scalar model written from docs/spec/loihi2-fixed-point.md
(§0 timing, §1.1/§1.2 LIF and LIFReset, §2.1/§2.2 Dense, §3 numpy reference): u, v and spikes
must be equal at every step, on hypothesis-generated Dense+LIF graphs and on the spec's own
trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snncompile.errors import InputError
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import run_emulator, simulate
from snncompile.sim.timing import latency, synaptic_depths


# -- the spec, one Python int at a time --------------------------------------------------------
def spec_tz(x: int) -> int:
    return (1 if x > 0 else -1 if x < 0 else 0) * (abs(x) >> 12)


def spec_wrap32(x: int) -> int:  # §0: a value sent on an int32 port wraps
    return ((x + 2**31) % 2**32) - 2**31


def spec_weights(w: list[list[int]], sign_mode: str, nwb: int) -> list[list[int]]:
    """§2.1: sign mode (from W if 'auto'), clip to 8 bits, truncate k = 8 - nwb + mixed bits."""
    flat = [x for row in w for x in row]
    if sign_mode == "auto":
        sign_mode = ("excitatory" if min(flat) >= 0 else "inhibitory" if max(flat) <= 0
                     else "mixed")
    k = 8 - nwb + (sign_mode == "mixed")
    out = []
    for row in w:
        new = []
        for x in row:
            if sign_mode == "mixed":
                x = min(max(x, -256), 255)
                x = (x >> k) << k
            elif sign_mode == "excitatory":
                x = min(max(x, 0), 255)
                x = (x >> k) << k
            else:
                x = -(((-min(max(x, -255), 0)) >> k) << k)
            new.append(x)
        out.append(new)
    return out


def spec_run(g: Graph, x: np.ndarray, steps: int, init: dict | None = None):
    """Scalar run of a Dense/LIF graph; returns {lif: (u, v, s)} lists [batch][step][neuron]."""
    init = init or {}
    lifs = [n for n, op in g.nodes.items() if isinstance(op, hw.LIF)]
    denses = [n for n, op in g.nodes.items() if isinstance(op, hw.Dense)]
    (inp,) = g.inputs
    out = {n: ([], [], []) for n in lifs}
    for b in range(x.shape[0]):
        u = {n: list(init.get(n, ([0] * g.nodes[n].shape[0], None))[0]) for n in lifs}
        v = {n: list(init[n][1]) if n in init else [0] * g.nodes[n].shape[0] for n in lifs}
        reg = {d: [0] * g.nodes[d].weights.shape[0] for d in denses}  # a_buff, 0 at t = 1
        wts = {d: spec_weights(g.nodes[d].weights.tolist(), g.nodes[d].sign_mode,
                               g.nodes[d].num_weight_bits) for d in denses}
        trace = {n: ([], [], []) for n in lifs}
        for t in range(1, steps + 1):
            spikes = {inp: [int(s != 0) for s in (x[b, t - 1] if t <= x.shape[1] else
                                                  np.zeros(x.shape[2:]))]}
            for n in lifs:
                op = g.nodes[n]
                period = op.reset_interval
                if period and t % period == op.reset_offset % period:
                    u[n], v[n] = [0] * len(u[n]), [0] * len(v[n])
                a = [0] * op.shape[0]
                for d in g.predecessors(n):
                    a = [spec_wrap32(ai + ri) for ai, ri in zip(a, reg[d])]
                s_n = []
                for i in range(op.shape[0]):
                    m, e = int(op.bias_mant[i]), int(op.bias_exp[i])
                    m = ((m + 2**15) % 2**16) - 2**15  # int16 storage (§1.1 fact 7)
                    bias = m << e if e >= 0 else m >> -e
                    u1 = spec_tz(u[n][i] * (4096 - (op.du + 1))) + (a[i] << 6)
                    ui = u1 - 2**24 if u1 > 2**23 else u1
                    ui = u1 + 2**24 if ui <= -(2**23) else ui
                    vi = min(max(spec_tz(v[n][i] * (4096 - op.dv)) + ui + bias, -(2**23) + 1),
                             2**23 - 1)
                    si = vi > (op.vth << 6)
                    if si:
                        vi = 0 if op.reset == "zero" else vi - (op.vth << 6)
                    u[n][i], v[n][i] = ui, vi
                    s_n.append(int(si))
                spikes[n] = s_n
                for arr, val in zip(trace[n], (u[n], v[n], s_n)):
                    arr.append(list(val))
            for d in denses:
                (src,) = g.predecessors(d)
                e = g.nodes[d].weight_exp
                acc = [sum(w for w, s in zip(row, spikes[src]) if s) for row in wts[d]]
                reg[d] = [spec_wrap32(c << e if e > 0 else c >> -e) for c in acc]
        for n in lifs:
            for arr, val in zip(out[n], trace[n]):
                arr.append(val)
    return out


def assert_equal_to_spec(g: Graph, x: np.ndarray, steps: int, init: dict | None = None) -> None:
    got = simulate(g, x, steps, record=True, initial_state=init)
    want = spec_run(g, x, steps, init)
    for n, (u, v, s) in want.items():
        np.testing.assert_array_equal(got.u[n], np.array(u), err_msg=f"u of {n}")
        np.testing.assert_array_equal(got.v[n], np.array(v), err_msg=f"v of {n}")
        np.testing.assert_array_equal(got.spikes[n], np.array(s), err_msg=f"spikes of {n}")


# -- the hand trace of spec §1.1 (numbers Lava produced) ---------------------------------------
def lif1_graph() -> Graph:
    # Row 0 is the spec's dense1 row [37, -21, 90, 5] (-> [36, -22, 90, 4]); rows 1, 2 are chosen so
    # that W_eff @ [1,1,1,1] = [108, 68, -48] and W_eff @ [1,0,1,0] = [126, -122, 54], the a_in of
    # the trace, with odd values that the MIXED truncation must round down.
    w = np.array([[37, -21, 90, 5], [-59, 101, -62, 90], [20, -70, 35, -31]])
    return Graph("hw", {
        "in": hw.SpikeInput((4,)), "dense1": hw.Dense(w),
        "lif1": hw.LIF((3,), du=1000, dv=300, vth=20, bias_mant=[0, 50, -37], bias_exp=[0, 2, 0]),
        "out": hw.SpikeOutput((3,)),
    }, [("in", "dense1"), ("dense1", "lif1"), ("lif1", "out")])


def test_spec_hand_trace_lif1():
    x = np.zeros((1, 3, 4))
    x[0, 0], x[0, 1] = 1, [1, 0, 1, 0]
    init = {"lif1": ([-1001, 0, 3333], [-777, 100, 0])}
    got = simulate(lif1_graph(), x, 3, record=True, initial_state=init)
    assert got.u["lif1"][0].tolist() == [[-756, 0, 2518], [6341, 4352, -1170], [12855, -4520, 2572]]
    assert got.v["lif1"][0].tolist() == [[-1476, 292, 0], [0, 0, -1207], [0, -4320, 0]]
    assert got.spikes["lif1"][0].tolist() == [[0, 0, 1], [1, 1, 0], [1, 0, 1]]
    assert_equal_to_spec(lif1_graph(), x, 3, init)


def test_u_wrap_at_exactly_plus_minus_2_23_and_v_saturation():
    # mixed: -256 * 4 << 7 << 6 = -2^23, which wraps to +2^23 (spec §1.1 fact 4, lif3)
    g = Graph("hw", {
        "in": hw.SpikeInput((4,)),
        "d": hw.Dense(np.array([[-256] * 4, [0] * 4]), weight_exp=7, sign_mode="mixed"),
        "lif": hw.LIF((2,), du=4095, dv=0, vth=131071, bias_mant=[0, 32767], bias_exp=[0, 9]),
        "out": hw.SpikeOutput((2,)),
    }, [("in", "d"), ("d", "lif"), ("lif", "out")])
    x = np.ones((1, 1, 4))
    got = simulate(check(g), x, 3, record=True, strict=True)
    assert got.u["lif"][0, 1, 0] == 2**23
    assert got.spikes["lif"][0, 0].tolist() == [0, 1]  # saturated v = 2^23 - 1 > 131071 << 6
    events = {(e.layer, e.step, e.kind): e.count for e in got.events}
    assert events[("lif", 2, "u_wrap")] == 1 and events[("lif", 1, "v_saturation")] == 1
    assert_equal_to_spec(g, x, 3)
    # excitatory: (255 * 4 + 4) << 7 << 6 = +2^23 is kept as it is, no wrap
    exc = Graph("hw", {"in": hw.SpikeInput((5,)),
                       "d": hw.Dense(np.array([[255, 255, 255, 255, 4]]), weight_exp=7),
                       "lif": hw.LIF((1,), du=4095, dv=0, vth=131071, bias_mant=[0], bias_exp=[0]),
                       "out": hw.SpikeOutput((1,))},
                [("in", "d"), ("d", "lif"), ("lif", "out")])
    got = simulate(check(exc), np.ones((1, 1, 5)), 2, record=True, strict=True)
    assert got.u["lif"][0, 1, 0] == 2**23
    assert not any(e.kind == "u_wrap" for e in got.events)
    assert_equal_to_spec(exc, np.ones((1, 1, 5)), 2)


# -- random graphs ------------------------------------------------------------------------------
@st.composite
def dense_lif_graphs(draw):
    n_in = draw(st.integers(1, 4))
    nodes: dict = {"in": hw.SpikeInput((n_in,))}
    edges, prev, prev_n = [], "in", n_in
    big = draw(st.booleans())  # push towards wraps and saturation
    for k in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 4))
        lo, hi = (-256, 255)
        w = draw(st.lists(st.lists(st.integers(lo, hi), min_size=prev_n, max_size=prev_n),
                          min_size=n, max_size=n))
        dense = hw.Dense(np.array(w), weight_exp=draw(st.integers(3 if big else -8, 7)),
                         num_weight_bits=draw(st.integers(1, 8)),
                         sign_mode=draw(st.sampled_from(
                             ("auto", "mixed", "excitatory", "inhibitory"))))
        interval = draw(st.sampled_from((0, 0, 1, 2, 3, 5)))
        lif = hw.LIF(
            (n,),
            du=draw(st.sampled_from((-1, 0, 1, 1000, 2048, 4094, 4095)) | st.integers(-1, 4095)),
            dv=draw(st.sampled_from((0, 1, 300, 4095)) | st.integers(0, 4095)),
            vth=draw(st.sampled_from((0, 1, 20, 131071)) | st.integers(0, 2**17 - 1)),
            bias_mant=draw(st.lists(st.integers(-(2**15), 2**15 - 1), min_size=n, max_size=n)),
            bias_exp=draw(st.lists(st.integers(-4, 8), min_size=n, max_size=n)),
            reset=draw(st.sampled_from(("zero", "zero", "subtract"))),
            reset_interval=interval, reset_offset=draw(st.integers(0, 6)) if interval else 0)
        d, layer = f"d{k}", f"lif{k}"
        nodes[d], nodes[layer] = dense, lif
        edges += [(prev, d), (d, layer)]
        if draw(st.booleans()):  # recurrent Dense onto itself
            r = draw(st.lists(st.lists(st.integers(-256, 255), min_size=n, max_size=n),
                              min_size=n, max_size=n))
            nodes[f"r{k}"] = hw.Dense(np.array(r), weight_exp=draw(st.integers(-8, 7)),
                                      num_weight_bits=draw(st.integers(1, 8)))
            edges += [(layer, f"r{k}"), (f"r{k}", layer)]
        prev, prev_n = layer, n
    nodes["out"] = hw.SpikeOutput((prev_n,))
    edges.append((prev, "out"))
    g = check(Graph("hw", nodes, tuple(edges)))
    steps = draw(st.integers(1, 12))
    x = np.array(draw(st.lists(st.lists(st.lists(st.integers(0, 1), min_size=n_in, max_size=n_in),
                                        min_size=steps, max_size=steps), min_size=1, max_size=2)))
    init = None
    if draw(st.booleans()):
        init = {n: (draw(st.lists(st.integers(-(2**23) + 1, 2**23), min_size=op.shape[0],
                                  max_size=op.shape[0])),
                    draw(st.lists(st.integers(-(2**23) + 1, 2**23 - 1), min_size=op.shape[0],
                                  max_size=op.shape[0])))
                for n, op in g.nodes.items() if isinstance(op, hw.LIF)}
    return g, x, steps + draw(st.integers(0, 4)), init


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dense_lif_graphs())
def test_emulator_equals_spec_on_random_graphs(case):
    g, x, steps, init = case
    assert_equal_to_spec(g, x, steps, init)


def test_run_emulator_aligns_nn_time_and_checks_input():
    g = lif1_graph()
    assert synaptic_depths(g)["lif1"] == 1 and latency(g) == 1
    x = np.zeros((2, 4, 4), np.int8)
    x[:, 0] = 1
    res = run_emulator(g, x, record=True)
    raw = simulate(g, x, 5)
    np.testing.assert_array_equal(res.outputs["out"], raw.spikes["lif1"][:, 1:5])
    assert res.spike_counts["lif1"] == int(raw.spikes["lif1"][:, 1:5].sum())
    with pytest.raises(InputError, match="binary"):
        run_emulator(g, x * 2)
    with pytest.raises(InputError, match="shape"):
        run_emulator(g, np.zeros((1, 3, 5)))


def test_conv_sums_beyond_int32_are_refused():
    """Lava casts Conv sums float64 -> int32; beyond 2^31 that is undefined, so refuse, not
    guess."""
    from snncompile.errors import GraphCheckError
    from snncompile.ir import Graph
    from snncompile.ir import hw_ops as hw
    from snncompile.sim.emulator import simulate

    conv = hw.Conv(np.full((1, 2, 3, 3), 2**28, dtype=np.int64), padding=(1, 1))
    lif = hw.LIF((1, 6, 6), du=4095, dv=0, vth=10, bias_mant=np.zeros(36), bias_exp=np.zeros(36))
    graph = Graph("hw", {"in": hw.SpikeInput((2, 6, 6)), "c": conv, "lif": lif,
                         "out": hw.SpikeOutput((1, 6, 6))},
                  [("in", "c"), ("c", "lif"), ("lif", "out")])
    with pytest.raises(GraphCheckError, match="2\\^31"):
        simulate(graph, np.ones((1, 2, 2, 6, 6)), 3)
