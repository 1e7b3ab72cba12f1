"""Fuzz cases for this session's new ways in: stepwise (stateful) ONNX graphs, netx `concat`
layers and recurrent builds that run on the compiled step loop (sim/compiled_steps.py); the
sparse synapse op's are in fuzz_sparse. Each generator takes a numpy Generator and returns a
setup(folder) -> argv, deterministic by seed; the files are small (declared sizes may be absurd)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from fuzz_cases import Setup, mutate
from fuzz_structured import HOSTILE_FLOATS, HOSTILE_INTS, pick

HUGE_DIMS = [0, -1, 1, 2**20, 2**31 - 1, 2**40]


# -- stepwise ONNX -----------------------------------------------------------------------------
def _lif_nodes(helper, i: int, current: str, state: str, beta: str, th: str, reset: str) -> list:
    """mem = beta * s + I; spk = float(mem - th > 0); s' = mem - spk * th or mem * (1 - spk)."""
    m, d, c, s, o = (f"mem{i}", f"d{i}", f"c{i}", f"spk{i}", f"{state}_out")
    nodes = [helper.make_node("Mul", [beta, state], [f"bs{i}"]),
             helper.make_node("Add", [f"bs{i}", current], [m]),
             helper.make_node("Sub", [m, th], [d]),
             helper.make_node("Greater", [d, "zero"], [c]),
             helper.make_node("Cast", [c], [s], to=1)]
    if reset == "subtract":
        nodes += [helper.make_node("Mul", [s, th], [f"st{i}"]),
                  helper.make_node("Sub", [m, f"st{i}"], [o])]
    else:
        nodes += [helper.make_node("Sub", ["one", s], [f"ns{i}"]),
                  helper.make_node("Mul", [m, f"ns{i}"], [o])]
    return nodes


def step_onnx_model(rng: np.random.Generator):
    """x (6) -> Gemm 8 -> LIF -> Gemm 4 -> LIF, states s0 (8), s1 (4), then one hostile edit:
    state shapes or dtypes that disagree, odd or huge dims, outputs missing or swapped, a state
    read outside its neuron, state updates with no neuron form, hostile constants."""
    from onnx import TensorProto, helper, numpy_helper

    n_in, h, n_out = 6, 8, 4
    consts = {"w1": rng.normal(size=(h, n_in)), "b1": rng.normal(size=h) * 0.1,
              "w2": rng.normal(size=(n_out, h)), "b2": rng.normal(size=n_out) * 0.1,
              "beta": np.array(0.85), "th": np.array(0.6), "zero": np.array(0.0),
              "one": np.array(1.0)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["i1"], transB=1)]
    nodes += _lif_nodes(helper, 1, "i1", "s0", "beta", "th", "subtract")
    nodes += [helper.make_node("Gemm", ["spk1", "w2", "b2"], ["i2"], transB=1)]
    nodes += _lif_nodes(helper, 2, "i2", "s1", "beta", "th", "zero")
    dims = {"x": [1, n_in], "s0": [1, h], "s1": [1, n_out]}
    elem = {"x": TensorProto.FLOAT, "s0": TensorProto.FLOAT, "s1": TensorProto.FLOAT}
    outputs = ["spk2", "s0_out", "s1_out"]
    edit = int(rng.integers(0, 14))
    if edit == 1:  # a state whose declared shape is not its neuron's
        dims[pick(rng, ["s0", "s1"])] = [1, pick(rng, [3, 5, 16, 1])]
    elif edit == 2:  # odd or huge per-sample dims
        dims[pick(rng, ["x", "s0", "s1"])] = [1, *[pick(rng, HUGE_DIMS)
                                                   for _ in range(int(rng.integers(0, 4)))]]
    elif edit == 3:  # non-float inputs
        elem[pick(rng, ["x", "s0", "s1"])] = pick(rng, [TensorProto.INT64, TensorProto.BOOL,
                                                        TensorProto.DOUBLE, TensorProto.STRING,
                                                        TensorProto.FLOAT16])
    elif edit == 4:  # outputs missing, repeated or swapped
        outputs = pick(rng, [["spk2"], ["s0_out", "spk2", "s1_out"], ["spk2", "s0_out"],
                             ["spk2", "s0_out", "s0_out"], ["spk2", "s1_out", "s0_out"],
                             ["spk2", "s0_out", "s1_out", "x"]])
    elif edit == 5:  # a state read by a Gemm directly, or a state fed back from nothing
        if rng.random() < 0.5:
            nodes[0] = helper.make_node("Gemm", [pick(rng, ["s0", "s1"]), "w1", "b1"], ["i1"],
                                        transB=1)
        else:
            nodes.append(helper.make_node("Identity", ["s0"], ["s0_out2"]))
            outputs = ["spk2", "s0_out2", "s1_out"]
    elif edit == 6:  # a state update with no neuron form
        op = pick(rng, ["Mul", "Sqrt", "Tanh", "Exp", "Div", "Max", "Abs", "Relu"])
        i = next(k for k, nd in enumerate(nodes) if nd.output[0] == "bs1")
        ins = ["s0", "s0"] if op in ("Mul", "Div", "Max") else ["s0"]
        nodes[i] = helper.make_node(op, ins, ["bs1"])
    elif edit == 7:  # hostile constants: decay, threshold, weights
        key = pick(rng, ["beta", "th", "w1", "b2", "zero"])
        value = pick(rng, HOSTILE_FLOATS)
        consts[key] = np.full(np.shape(consts[key]), value)
    elif edit == 8:  # constants of the wrong shape
        key = pick(rng, ["beta", "th", "b1", "w2"])
        consts[key] = rng.normal(size=tuple(int(rng.integers(0, 5))
                                            for _ in range(int(rng.integers(1, 4)))))
    elif edit == 9:  # a node's input that names nothing, or a cycle through the states
        k = int(rng.integers(0, len(nodes)))
        ins = list(nodes[k].input)
        ins[int(rng.integers(0, len(ins)))] = pick(rng, ["ghost", "s0_out", "spk2", ""])
        nodes[k] = helper.make_node(nodes[k].op_type, ins, list(nodes[k].output),
                                    **{a.name: helper.get_attribute_value(a)
                                       for a in nodes[k].attribute})
    elif edit == 10:  # the comparison read without a Cast, or Cast to another type
        k = next(k for k, nd in enumerate(nodes) if nd.op_type == "Cast")
        nodes[k] = helper.make_node("Cast", ["c1"], ["spk1"],
                                    to=pick(rng, [TensorProto.INT64, TensorProto.BOOL, 0, 99]))
    elif edit == 11:  # an op from a foreign domain, or one with no rule
        k = int(rng.integers(0, len(nodes)))
        nd = nodes[k]
        nodes[k] = helper.make_node(pick(rng, ["Custom", "Loop", "If", "Scan", nd.op_type]),
                                    list(nd.input), list(nd.output),
                                    domain=pick(rng, ["", "com.microsoft", "x"]))
    elif edit == 12:  # long chains on the state (deep polynomials), or a sum squared again
        prev, chain = "s0", []  # and again (its degree and terms double each time)
        square = rng.random() < 0.5
        for j in range(pick(rng, [50, 400]) if not square else int(rng.integers(2, 40))):
            ins = [prev, prev] if square else [prev, "s0"]
            chain.append(helper.make_node("Mul" if square else pick(rng, ["Add", "Mul"]), ins,
                                          [f"p{j}"]))
            prev = f"p{j}"
        if square:
            chain.insert(0, helper.make_node("Add", ["s0", "i1"], ["q"]))
            chain[1] = helper.make_node("Mul", ["q", "q"], ["p0"])
        nodes = (nodes[:1] + chain + nodes[1:]) if square else (chain + nodes)
        i = next(k for k, nd in enumerate(nodes) if nd.output[0] == "bs1")
        nodes[i] = helper.make_node("Mul", ["beta", prev], ["bs1"])
    elif edit == 13:  # nodes out of order
        k = int(rng.integers(1, len(nodes)))
        nodes.insert(0, nodes.pop(k))
    inputs = [helper.make_tensor_value_info(k, elem[k], dims[k]) for k in ("x", "s0", "s1")]
    if edit == 2 and rng.random() < 0.3:
        inputs[0] = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "feat"])
    outs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in outputs]
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in consts.items()]
    graph = helper.make_graph(nodes, "step", inputs, outs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def step_onnx_case(rng: np.random.Generator) -> Setup:
    model = step_onnx_model(rng)
    mode = pick(rng, [[], [], ["--onnx-mode", "step"], ["--onnx-mode", "ann"],
                      ["--onnx-mode", "auto"]])
    target = pick(rng, ["emu"] * 6 + ["fpga", "loihi2"])
    extra = pick(rng, [[]] * 6 + [["--calibration", "cal.npy"], ["--max-pool", "average"]])
    command = pick(rng, ["compile"] * 4 + ["verify"])
    flip = rng.random() < 0.15
    x = (rng.random((2, 5, 6)) < 0.4).astype(np.float64)

    def setup(folder: Path) -> list[str]:
        data = model.SerializeToString()
        (folder / "m.onnx").write_bytes(mutate(data, rng) if flip else data)
        np.save(folder / "cal.npy", np.random.default_rng(0).random((4, 6)))
        if command == "verify":
            np.save(folder / "x.npy", x)
            return ["verify", "m.onnx", "-i", "x.npy", *mode]
        return ["m.onnx", "-t", target, "-o", "b", *mode, *extra]
    return setup


# -- netx concat -------------------------------------------------------------------------------
def _layer(f, i: int, kind: str, **data) -> None:
    g = f.create_group(f"layer/{i}")
    g.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
    for key, value in data.items():
        g.create_dataset(key, data=value)


def _neuron(vth: int) -> dict:
    return {"neuron/type": "CUBA", "neuron/iDecay": 1024, "neuron/vDecay": 512,
            "neuron/vThMant": vth}


def netx_concat_case(rng: np.random.Generator) -> Setup:
    """input 6 -> dense 10 -> dense 8 -> concat [0, 1] (24) -> dense 5, or its conv form, with
    the concat's ids, shapes or place mutated (tests/test_netx_concat.py's files)."""
    import h5py

    conv = rng.random() < 0.3
    ids = np.array([1]) if conv else np.array([0, 1])
    width = 24
    choice = int(rng.integers(0, 10))
    if choice == 1:  # ids out of range or negative
        ids = np.array([pick(rng, [-1, 5, 99, 2**31, -(2**62)]), 1])
    elif choice == 2:  # itself, a later layer
        ids = np.array([pick(rng, [3, 4, 3]), 0])
    elif choice == 3:  # empty, repeated, 2-d, float, string
        ids = pick(rng, [np.zeros(0, np.int64), np.array([1, 1, 1]), np.array([[0, 1]]),
                         np.array([0.5, 1.0]), np.array([b"0", b"1"])])
    elif choice == 4:  # declared shape mismatched, huge or odd
        width = pick(rng, [23, 25, 0, -1, 2**31 - 1, 2**40])
    elif choice == 5:  # the next layer's weights not matching the concat's width
        width = 24
    rows = pick(rng, [24, 24, 23, 48, 0]) if choice == 5 else 24

    def w(n_out, n_in):
        return rng.integers(-30, 90, (n_out, n_in)).astype(np.float32)

    def setup(folder: Path) -> list[str]:
        path = folder / "m.net"
        with h5py.File(path, "w") as f:
            if conv:
                cv = {"stride": np.array([1, 1]), "padding": np.array([1, 1]),
                      "dilation": np.array([1, 1]), "groups": 1}
                k = lambda o, i: rng.integers(-20, 60, (o, i, 3, 3, 1)).astype(np.float32)
                _layer(f, 0, "input", shape=np.array([2, 5, 5]))
                _layer(f, 1, "conv", shape=np.array([3, 5, 5]), weight=k(3, 2), **cv,
                       **_neuron(70))
                _layer(f, 2, "conv", shape=np.array([3, 5, 5]), weight=k(3, 3), **cv,
                       **_neuron(90))
                shape = np.array([6 if choice != 4 else width, 5, 5])
                _layer(f, 3, "concat", shape=shape, layers=ids)
                c_in = 6 if choice != 5 else pick(rng, [5, 7, 6])
                _layer(f, 4, "conv", shape=np.array([2, 5, 5]), weight=k(2, c_in), **cv,
                       **_neuron(120))
            else:
                _layer(f, 0, "input", shape=np.array([6]))
                _layer(f, 1, "dense", shape=np.array([10]), weight=w(10, 6), **_neuron(60))
                _layer(f, 2, "dense", shape=np.array([8]), weight=w(8, 10), **_neuron(60))
                _layer(f, 3, "concat", shape=np.array([width]), layers=ids)
                _layer(f, 4, "dense", shape=np.array([5]), weight=w(5, rows), **_neuron(80))
            if choice == 6:  # a concat first, last, or two in a row
                where = pick(rng, [0, 5, 4])
                if f"layer/{where}" in f:
                    del f[f"layer/{where}"]
                _layer(f, where, "concat", shape=np.array([24]), layers=np.array([1]))
            if choice == 7:  # a concat group with a hostile field (datasets replaced)
                g = f["layer/3"]
                key = pick(rng, ["layers", "shape", "type"])
                del g[key]
                if rng.random() < 0.7:
                    g[key] = np.asarray(pick(rng, HOSTILE_INTS), dtype=np.int64)
            if choice == 8:  # deep: many concats of the same layer
                for j in range(int(pick(rng, [5, 50]))):
                    base = 5 + j
                    _layer(f, base, "concat", shape=np.array([5 * (j + 2)]),
                           layers=np.arange(max(0, base - 1 - j), base - 1))
        if choice == 9:
            path.write_bytes(mutate(path.read_bytes(), rng))
        target = pick(rng, ["emu"] * 6 + ["loihi2", "fpga"])
        return ["m.net", "-t", target, "-o", "b"]
    return setup


# -- recurrent builds on the compiled step loop ------------------------------------------------
RNN_NIR = Path(__file__).resolve().parent / "data" / "nir-paper" / "03_rnn" / \
    "braille_noDelay_bias_zero.nir"


def rnn_build(assets: Path) -> Path:
    """The braille RNN (recurrent CubaLIF, 12 inputs) compiled for emu with spike input (here)
    and analog input (beside it, rnn_analog): both run on the compiled step loop."""
    import subprocess
    import sys

    out = assets / "rnn"
    for folder, kind in ((out, "spikes"), (assets / "rnn_analog", "analog")):
        if not (folder / "manifest.json").exists():
            subprocess.run([sys.executable, "-m", "snncompile.cli", str(RNN_NIR), "-t", "emu",
                            "-o", str(folder), "--input-kind", kind,
                            *(["--input-range", "2"] if kind == "analog" else [])], check=True,
                           capture_output=True, timeout=600)
    return out


def _rnn_input(rng: np.random.Generator) -> np.ndarray | bytes:
    choice = int(rng.integers(0, 12))
    t = int(rng.integers(1, 30))
    if choice == 0:
        return (rng.random((2, t, 12)) < 0.3).astype(pick(rng, [np.int8, np.uint8, bool,
                                                               np.float16, np.float32,
                                                               np.int64, np.uint64]))
    if choice == 1:  # graded values: huge, negative, non-finite payloads
        a = (rng.random((1, t, 12)) < 0.5).astype(np.float64)
        return a * pick(rng, [*HOSTILE_FLOATS, 2.0**40, -(2.0**62), 127.0, 1e-9])
    if choice == 2:
        value, dtype = pick(rng, [(2**62, np.int64), (-(2**63), np.int64), (2**31, np.int64),
                                  (2**64 - 1, np.uint64), (255, np.uint64)])
        return np.full((1, t, 12), value, dtype=dtype)
    if choice == 3:  # wrong feature count or rank
        return np.zeros(pick(rng, [(1, t, 11), (1, t, 13), (t, 12), (12,), (1, t, 12, 1),
                                   (1, t, 3, 4), ()]))
    if choice == 4:  # empty batch or time
        return np.zeros(pick(rng, [(0, t, 12), (1, 0, 12), (0, 0, 12)]))
    if choice == 5:  # object, string, complex, structured
        return pick(rng, [np.array([None, 1], dtype=object), np.array(["a"] * 12),
                          np.zeros((1, 2, 12), np.complex64),
                          np.zeros((1, 2, 12), dtype=[("a", "<f8")])])
    if choice == 6:  # a header declaring a huge shape over a tiny file
        return (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': "
                b"(1, 100000000000, 12), }" + b" " * 38 + b"\n")
    if choice == 7:  # long runs
        return (rng.random((1, pick(rng, [2000, 20000]), 12)) < 0.3).astype(np.float32)
    if choice == 8:  # Fortran order, non-native byte order
        a = (rng.random((2, t, 12)) < 0.3).astype(pick(rng, [">f8", ">i4", "<f8"]))
        return np.asfortranarray(a)
    return (rng.random((int(rng.integers(1, 4)), t, 12)) < 0.3).astype(np.float64)


def rnn_case(rng: np.random.Generator, assets: Path) -> Setup:
    from fuzz_structured import _save

    build = rnn_build(assets)
    if rng.random() < 0.5:
        build = assets / "rnn_analog"
    value = _rnn_input(rng)
    command = pick(rng, ["run"] * 5 + ["verify", "estimate"])
    options = pick(rng, [[], [], ["--strict"], ["--layout", "tbn"], ["--layout", "nt"],
                         ["--record", "u,v,spikes"], ["--record", "spikes", "--strict"]])

    def setup(folder: Path) -> list[str]:
        _save(folder / "x.npy", value)
        if command == "run":
            shutil.copytree(build, folder / "b")
            return ["run", "b", "-i", "x.npy", "-o", "y.npy", *options]
        if command == "verify":
            return ["verify", str(RNN_NIR), "-i", "x.npy"]
        return ["estimate", str(RNN_NIR), "-t", "loihi2", "-i", "x.npy"]
    return setup
