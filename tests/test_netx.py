"""netx front end and writer, checked against lava-dl's own netx running in Lava fixed_pt."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from netx_shim import import_netx

from snncompile import api
from snncompile.backends.netx_writer import write_layers
from snncompile.errors import ModelLoadError, SnnCompileError, UnsupportedOp
from snncompile.frontends.netx import load, optimize_weight_bits
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.ir.hdf5 import write_graph
from snncompile.sim.emulator import simulate

ROOT = Path(__file__).resolve().parents[1]
PILOTNET = Path(__file__).parent / "data" / "lava-dl" / "pilotnet_lif" / "network.net"


@pytest.fixture(scope="module")
def netx():
    return import_netx()


def lifs(g: Graph) -> list[str]:
    return [n for n in g.schedule if g.nodes[n].kind == "neuron"]


def lava_order(a: np.ndarray) -> np.ndarray:
    """Our (C, H, W) neuron order -> Lava's (W, H, C)."""
    return a.transpose(*range(a.ndim)[::-1])


def run_netx(netx, path: Path, g: Graph, x: np.ndarray, every_step: tuple[int, ...] = (),
             **network_options):
    """Run lava-dl's Network (with `network_options`, e.g. reset_interval) on x (T, *input
    shape); return output spikes (T, *out) in our order, every layer's (u, v) after the last
    step, and v of the layers `every_step` at each step."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    steps = len(x)
    net = netx.hdf5.Network(net_config=str(path), **network_options)
    graded = isinstance(g.nodes[g.inputs[0]], hw.GradedInput)
    # netx 0.6.0 leaves Network.inp of a neuron input layer unconnected: drive the neuron itself
    port = net.in_layer.neuron.a_in if graded else net.inp
    data = np.stack([lava_order(s).reshape(port.shape) for s in x], axis=-1)
    source = Source(data=data.astype(np.int32))
    source.s_out.connect(port)
    sink = Sink(shape=net.out.shape, buffer=steps)
    net.out.connect(sink.a_in)
    cfg, trace = Loihi2SimCfg(select_tag="fixed_pt"), []
    try:
        for _ in range(steps if every_step else 1):
            net.run(condition=RunSteps(num_steps=1 if every_step else steps), run_cfg=cfg)
            trace.append([net.layers[k].neuron.v.get() for k in every_step])
        out = sink.data.get()
        state = [(layer.neuron.u.get(), layer.neuron.v.get()) for layer in net.layers]
    finally:
        net.stop()
    out = np.moveaxis(out, -1, 0)
    return np.stack([lava_order(o) for o in out]), state, trace


# -- PilotNet: the reader against Intel's own netx ------------------------------------------------


def test_pilotnet_structure():
    g = load(PILOTNET)
    kinds = [type(g.nodes[n]).__name__ for n in g.schedule]
    assert kinds == ["GradedInput", "LIF"] + ["Conv", "LIF"] * 5 + ["Dense", "LIF"] * 4 + [
        "SpikeOutput"]
    assert g.shapes["input"] == (3, 66, 200)
    assert [g.shapes[n] for n in lifs(g)] == [
        (3, 66, 200), (24, 32, 99), (36, 15, 49), (48, 7, 24), (64, 4, 22), (64, 2, 20),
        (100,), (50,), (10,), (1,)]
    assert g.nodes["layer4_syn"].stride == (2, 1) and g.nodes["layer4_syn"].padding == (1, 0)
    assert g.nodes["layer7_syn"].weights.shape == (100, 2560)
    first, last = g.nodes["layer0"], g.nodes["layer10"]
    assert (first.du, first.dv, first.vth) == (4095, 1024, 25)
    assert (last.du, last.dv, last.vth) == (4095, 0, 131071)
    assert not first.bias_mant.any()  # netx does not apply the input layer's bias
    assert g.meta["netx_input_transform"] == {"weight": 40, "bias": 36}
    assert [g.nodes[f"layer{i}_syn"].weight_exp for i in (7, 8, 9, 10)] == [-5, -4, -3, -2]
    assert g.num_neurons() == 39600 + 76032 + 26460 + 8064 + 5632 + 2560 + 161


def test_pilotnet_emulator_equals_lava_netx(netx):
    """16 steps (Intel's steps per sample; data reaches layer 10 at step 11) take ~8 s in Lava,
    one run call per step to read v of the dense layers."""
    g = load(PILOTNET)
    steps = 16
    x = np.random.default_rng(1).integers(-10, 60, size=(steps, 3, 66, 200))
    out, state, trace = run_netx(netx, PILOTNET, g, x, every_step=(6, 7, 8, 9))
    ours = simulate(g, x[None], steps, record=True)
    names = lifs(g)
    for k, name in enumerate(names):
        assert np.array_equal(state[k][0], lava_order(ours.u[name][0, -1])), name
        assert np.array_equal(state[k][1], lava_order(ours.v[name][0, -1])), name
    for t in range(steps):
        for j, k in enumerate((6, 7, 8, 9)):
            assert np.array_equal(trace[t][j], ours.v[names[k]][0, t]), (names[k], t)
    assert np.array_equal(out, ours.spikes["output"][0])
    # the check has teeth: every layer spikes, and data reached the last layer's v
    assert all(ours.spikes[n].sum() > 0 for n in names[:-1])
    assert ours.v[names[-1]][0, -1].any()


# -- optimize_weight_bits against lava-dl's own -------------------------------------------------


def test_optimize_weight_bits_matches_lava_dl(netx, capsys):
    with pytest.raises((OverflowError, ValueError)):
        netx.utils.optimize_weight_bits(np.zeros((2, 2), int))
    assert "all weights are zero" in optimize_weight_bits(np.zeros((2, 2), int))
    rng = np.random.default_rng(0)
    cases = [(-128, 128), (-256, 255), (0, 256), (-255, 0), (-5, 6), (-300, 300), (1, 2)]
    for lo, hi in cases:
        for scale in (1, 2, 8):
            w = rng.integers(lo, hi, size=(7, 9)) * scale
            ours = optimize_weight_bits(w)
            theirs = netx.utils.optimize_weight_bits(w.copy())
            if isinstance(ours, str):  # refused exactly where netx shifts by a negative count
                assert theirs[2] > 0, (lo, hi, scale)
                continue
            assert np.array_equal(ours[0], theirs[0]) and ours[1:] == theirs[1:3], (lo, hi, scale)


# -- round trips through lava-dl's netx ---------------------------------------------------------


def lif(shape, du=1000, dv=300, vth=40, bias=0):
    bias = np.broadcast_to(np.asarray(bias, np.int64), shape).copy()
    return hw.LIF(shape, du, dv, vth, bias, np.full(shape, 6, np.int64))


def chain(inp, *layers, rec=()) -> Graph:
    nodes, edges, prev = {"in": inp}, [], "in"
    for i, (syn, neuron) in enumerate(layers):
        if syn is not None:
            nodes[f"s{i}"] = syn
            edges.append((prev, f"s{i}"))
            prev = f"s{i}"
        nodes[f"n{i}"] = neuron
        edges.append((prev, f"n{i}"))
        prev = f"n{i}"
        if i in rec:
            nodes[f"r{i}"] = rec[i]
            edges += [(f"n{i}", f"r{i}"), (f"r{i}", f"n{i}")]
    nodes["out"] = hw.SpikeOutput(neuron.shape)
    edges.append((prev, "out"))
    return check(Graph("hw", nodes, edges))


def small_graphs() -> dict[str, Graph]:
    rng = np.random.default_rng(5)
    w = lambda lo, hi, shape, step=1: rng.integers(lo, hi, size=shape) * step
    delays = rng.integers(0, 6, size=(7, 10))
    return {
        "dense_mixed_exc": chain(
            hw.SpikeInput((12,)),
            (hw.Dense(w(-128, 128, (9, 12), 2)), lif((9,), bias=w(-3, 4, (9,), 64))),
            (hw.Dense(w(0, 40, (5, 9)), 1), lif((5,), du=4095, dv=0, vth=60))),
        "delay_recurrent": chain(
            hw.SpikeInput((10,)),
            (hw.DelayDense(w(-60, 90, (7, 10), 2), 0, delays=delays), lif((7,), vth=30)),
            (hw.Dense(w(-20, 60, (4, 7)), 0, 6), lif((4,), du=-1, dv=0, vth=10)),
            rec={1: hw.Dense(w(-20, 10, (4, 4), 4))}),
        "conv_flatten_dense": chain(
            hw.SpikeInput((2, 7, 6)),
            (hw.Conv(w(-3, 8, (3, 2, 3, 3)), padding=(1, 1)), lif((3, 7, 6), vth=5,
                                                                  bias=w(-1, 2, (3, 7, 6), 64))),
            (hw.Conv(w(-6, 9, (4, 3, 3, 2)), stride=(2, 1)), lif((4, 3, 5), vth=9)),
            (hw.Dense(w(-100, 100, (6, 60), 2), -1), lif((6,), vth=20))),
        "graded_recurrent": chain(
            hw.GradedInput((2, 3, 4)),
            (None, lif((2, 3, 4), du=4095, dv=100, vth=20)),
            (hw.Dense(w(-64, 64, (8, 24), 4), -2), lif((8,), vth=15, bias=w(-2, 3, (8,), 64))),
            rec={1: hw.Dense(w(-30, 30, (8, 8), 2))}),
    }


def digits_variant() -> tuple[Graph, list[str]]:
    """The real compiler's digits graph, with the reasons netx cannot express it, and a variant it
    can: weight_exp 0 with vth and bias divided by 2^weight_exp (biases rounded to multiples of
    64), no LIFReset."""
    g = api.lower(api.load(ROOT / "examples/digits/digits.pt"), "emu")[0]
    reasons = refused(g)
    nodes = dict(g.nodes)
    for syn, n in (("0", "1"), ("2", "3")):
        d, op = nodes[syn], nodes[n]
        nodes[syn] = hw.Dense(d.weights, 0, d.num_weight_bits, d.sign_mode)
        raw = (op.bias_mant.astype(np.int64) << op.bias_exp) / 2**d.weight_exp
        nodes[n] = hw.LIF(op.shape, op.du, op.dv, round(op.vth / 2**d.weight_exp),
                          np.rint(raw / 64).astype(np.int64), np.full(op.bias_exp.shape, 6))
    return check(g.replace(nodes=nodes, meta={})), reasons


def test_digits_graph_reasons():
    _g, reasons = digits_variant()
    reset = ("netx export cannot hold a periodic reset (LIFReset) at node {!r}: netx resets all "
             "layers together or not at all (see docs/support.md)")
    bias = ("LIF {!r} has a bias that is not a multiple of 64 raw units within int16 mantissas "
            "(netx fixes bias_exp = 6)")
    weights = ("Dense {!r}: its weights times 2^weight_exp reach [-1024, {}], past netx's 8 bits "
               "(netx has no positive weight exponent)")
    assert reasons == [reset.format("1"), reset.format("3"), bias.format("1"),
                       weights.format("0", 656), bias.format("3"), weights.format("2", 840)]


def random_input(g: Graph, steps: int, seed: int) -> np.ndarray:
    """(steps, *input shape): graded values for a graded input, else spikes at rate 0.4."""
    rng = np.random.default_rng(seed)
    shape = g.shapes[g.inputs[0]]
    if isinstance(g.nodes[g.inputs[0]], hw.GradedInput):
        return rng.integers(-30, 60, size=(steps, *shape))
    return rng.random((steps, *shape)) < .4


@pytest.mark.parametrize("name", ["dense_mixed_exc", "delay_recurrent", "conv_flatten_dense",
                                  "graded_recurrent", "digits"])
def test_round_trip_through_lava_netx(netx, tmp_path, name):
    g = digits_variant()[0] if name == "digits" else small_graphs()[name]
    path = tmp_path / "net.net"
    with h5py.File(path, "w") as f:
        assert write_layers(g, f) == []
    steps = 14
    x = random_input(g, steps, seed=2)
    ours = simulate(g, x[None], steps, record=True)
    out, state, _ = run_netx(netx, path, g, x.astype(np.int32))
    assert np.array_equal(out, ours.spikes["out" if "out" in g.nodes else "output"][0])
    assert out.sum() > 0
    for k, n in enumerate(lifs(g)):
        assert np.array_equal(state[k][1], lava_order(ours.v[n][0, -1])), n
        assert np.array_equal(state[k][0], lava_order(ours.u[n][0, -1])), n
    # our own reader on the same file (no /snncompile group): the same behaviour, layer by layer
    back = load(path)
    again = simulate(back, x[None], steps)
    for a, b in zip(lifs(g), lifs(back), strict=True):
        assert np.array_equal(ours.spikes[a], again.spikes[b]), (a, b)


def test_snncompile_group_round_trips_exactly(tmp_path):
    g = small_graphs()["delay_recurrent"].replace(meta={"source": "x"})
    path = tmp_path / "m.net"
    with h5py.File(path, "w") as f:
        write_graph(g, f.create_group("snncompile"))
        assert write_layers(g, f) == []
    assert load(path) == g


# -- graphs netx cannot express -----------------------------------------------------------------


def refused(g: Graph) -> list[str]:
    with h5py.File("unused.net", "w", driver="core", backing_store=False) as f:
        reasons = write_layers(g, f)
        assert reasons and "layer" not in f
    return reasons


def test_inexpressible_graphs():
    base = small_graphs()["dense_mixed_exc"]
    n0, s1 = base.nodes["n0"], base.nodes["s1"]
    sub = base.replace(nodes={**base.nodes, "n0": hw.LIF(
        n0.shape, n0.du, n0.dv, n0.vth, n0.bias_mant, n0.bias_exp, reset="subtract")})
    assert refused(sub) == [("netx export cannot hold reset by subtraction at node 'n0': netx's "
                             "LIF resets to zero (see docs/support.md)")]
    odd = np.arange(45).reshape(5, 9) % 3 + 1  # floored sums of odd weights
    floor = base.replace(nodes={**base.nodes, "s1": hw.Dense(odd, -1)})
    assert refused(floor) == [("Dense 's1': weight_exp -1 floors sums of weights not divisible "
                              "by 2 (5 rows); netx's sums are exact integers")]
    big = base.replace(nodes={**base.nodes, "s1": hw.Dense(s1.weights + 100, 1)})
    assert refused(big) == [("Dense 's1': its weights times 2^weight_exp reach [200, 278], past "
                            "netx's 8 bits (netx has no positive weight exponent)")]
    zero = base.replace(nodes={**base.nodes, "s1": hw.Dense(np.zeros((5, 9), np.int64))})
    assert "all weights are zero" in refused(zero)[0]
    graded = small_graphs()["graded_recurrent"]
    g0 = graded.nodes["n0"]
    biased = graded.replace(nodes={**graded.nodes, "n0": lif(g0.shape, 4095, 100, 20, 1)})
    assert refused(biased) == [("LIF 'n0' reads the graded input and has a bias; netx's input "
                               "layer gives its neuron no bias")]
    two = Graph("hw", {**base.nodes, "s2": hw.Dense(np.ones((5, 12), np.int64) * 2)},
                base.edges + (("in", "s2"), ("s2", "n1")))
    # a skip from the input into n1 is a netx concat, whose skip arrives one step early: the
    # graph must time it so (meta pipeline_delay), else it is not what a netx concat means
    assert refused(check(two)) == [
        ("synapse 's2' counts 0 steps of pipeline delay; a netx concat gives it 1 (its skip's "
         "lead over the main path)")]
    back = Graph("hw", {**base.nodes, "s2": hw.Dense(np.ones((9, 5), np.int64) * 2)},
                 base.edges + (("n1", "s2"), ("s2", "n0")))
    assert refused(check(back)) == [
        ("LIF 'n0' reads ['s0', 's2']; a netx layer reads the layer before it ('in') through one "
         "synapse, and earlier layers only through a concat")]


# -- reader errors ---------------------------------------------------------------------------------


def netx_file(path: Path, edit) -> Path:
    with h5py.File(path, "w") as f:
        assert write_layers(small_graphs()["dense_mixed_exc"], f) == []
        edit(f)
    return path


@pytest.mark.parametrize("edit, error, words", [
    (lambda f: f["layer/1/type"].__setitem__(0, b"unpool"), UnsupportedOp,
     "layer 1: layer type 'unpool'"),
    (lambda f: f["layer/2/neuron/type"].__setitem__((), b"RF"), UnsupportedOp,
     "layer 2: neuron type 'RF'"),
    (lambda f: f.create_dataset("layer/1/neuron/messageBits", data=0), UnsupportedOp,
     "layer 1: neuron/messageBits"),
    (lambda f: f.move("layer/2", "layer/7"), ModelLoadError, "layer 2: is missing"),
    (lambda f: f.__delitem__("layer"), ModelLoadError, "has no /layer group"),
    (lambda f: f["layer/2/weight"].__setitem__((0, 0), 300), ModelLoadError,
     "layer 2: netx cannot encode its weights: a weight of 300"),
])
def test_reader_errors_are_one_sentence(tmp_path, edit, error, words):
    path = netx_file(tmp_path / "bad.net", edit)
    with pytest.raises(error) as exc:
        load(path)
    message = str(exc.value)
    assert message.startswith(str(path)) and words in message and "\n" not in message


def test_reader_refuses_non_hdf5(tmp_path):
    path = tmp_path / "x.net"
    path.write_text("not hdf5")
    with pytest.raises(SnnCompileError, match="is not an HDF5 file"):
        load(path)


def test_pilotnet_rewrites_to_the_same_graph(tmp_path):
    """Reader and writer are inverse on Intel's file: node for node, weights, biases, transform."""
    g = load(PILOTNET)
    with h5py.File(tmp_path / "p.net", "w") as f:
        assert write_layers(g, f) == []
        assert "messageBits" not in f["layer/1/neuron"]
    back = load(tmp_path / "p.net")
    assert list(back.nodes) == list(g.nodes) and back.edges == g.edges
    assert all(back.nodes[n] == g.nodes[n] for n in g.nodes)
    assert back.meta["netx_input_transform"] == {"weight": 40, "bias": 36}
