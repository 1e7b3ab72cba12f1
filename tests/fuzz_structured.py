"""Structured fuzz cases: well-formed files with hostile contents (absurd or empty shapes, zero
or negative groups, strides, delays, NaN and infinite parameters, deep nesting, long chains),
hostile arrays and option values, damaged build folders and bad -o targets."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from fuzz_cases import DIGITS, Setup, mutate

HOSTILE_INTS = [0, -1, 1, 2, 3, 7, 2**31, 2**62, -(2**63)]
HOSTILE_FLOATS = [0.0, -1.0, 1e-300, 1e300, float("nan"), float("inf"), -float("inf"), 0.5, 2.0]


def pick(rng: np.random.Generator, values: list):
    return values[int(rng.integers(0, len(values)))]


def _array(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    a = rng.normal(size=shape)
    if rng.random() < 0.3 and a.size:
        a.flat[int(rng.integers(0, a.size))] = pick(rng, HOSTILE_FLOATS)
    return a


def _dim(rng: np.random.Generator, usual: int) -> int:
    return usual if rng.random() < 0.7 else pick(rng, [0, 1, 2**20, 2**31 - 1])


# -- NIR ---------------------------------------------------------------------------------------
def nir_case(rng: np.random.Generator) -> Setup:
    import nir

    n, m = _dim(rng, 4), _dim(rng, 3)
    kind = int(rng.integers(0, 8))
    small = lambda *s: _array(rng, tuple(min(d, 64) for d in s))
    lif = lambda k: nir.LIF(tau=np.full(k, pick(rng, [0.01, 0.0, -1.0, np.nan, 1e9])),
                            r=np.ones(k), v_leak=np.zeros(k),
                            v_threshold=np.full(k, pick(rng, [1.0, 0.0, -1.0, np.inf])))
    nodes: dict = {"input": nir.Input(input_type=np.array([n]))}
    edges = [("input", "a")]
    if kind == 0:  # dense with hostile shapes/values
        nodes["a"] = nir.Affine(weight=small(m, n) if rng.random() < 0.8 else np.zeros((m, 0)),
                                bias=small(m))
    elif kind == 1:  # conv with hostile groups/stride/padding
        c, h = int(rng.integers(1, 4)), _dim(rng, 6)
        nodes["input"] = nir.Input(input_type=np.array([c, h, h]))
        nodes["a"] = nir.Conv2d(
            input_shape=(h, h), weight=small(2, c, 3, 3),
            stride=pick(rng, [1, 2, 0, -1]), padding=pick(rng, [0, 1, -2, 100]),
            dilation=pick(rng, [1, 2, 0]), groups=pick(rng, [1, 2, 0, -1, 3]), bias=small(2))
        m = 2
    elif kind == 2:  # a long chain of pooling ops
        length = 1000 if rng.random() < 0.05 else pick(rng, [10, 50])
        nodes["input"] = nir.Input(input_type=np.array([1, 4, 4]))
        prev = "input"
        edges = []
        for i in range(length):
            nodes[f"p{i}"] = nir.SumPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]),
                                           padding=np.array([0, 0]))
            edges.append((prev, f"p{i}"))
            prev = f"p{i}"
        nodes["a"] = nir.Flatten(input_type={"input": np.array([1, 4, 4])}, start_dim=0)
        edges.append((prev, "a"))
        m = 16
    elif kind == 3:  # delays
        nodes["d"] = nir.Delay(delay=np.full(n if n < 64 else 4, pick(rng, HOSTILE_FLOATS)))
        nodes["a"] = nir.Linear(weight=small(m, n))
        edges = [("input", "d"), ("d", "a")]
    elif kind == 4:  # pooling with hostile kernels
        nodes["input"] = nir.Input(input_type=np.array([1, 4, 4]))
        nodes["a"] = nir.SumPool2d(kernel_size=np.array([pick(rng, [0, 2, -1, 9])] * 2),
                                   stride=np.array([pick(rng, [0, 1, 2])] * 2),
                                   padding=np.array([0, 0]))
        m = 4
    elif kind == 5:  # deeply nested graphs
        depth = 300 if rng.random() < 0.05 else pick(rng, [2, 20])
        inner = nir.NIRGraph(nodes={"i": nir.Input(input_type=np.array([n])),
                                    "l": nir.Linear(weight=small(n, n)),
                                    "o": nir.Output(output_type=np.array([n]))},
                             edges=[("i", "l"), ("l", "o")], type_check=False)
        for _ in range(depth):
            inner = nir.NIRGraph(nodes={"i": nir.Input(input_type=np.array([n])), "g": inner,
                                        "o": nir.Output(output_type=np.array([n]))},
                                 edges=[("i", "g"), ("g", "o")], type_check=False)
        nodes["a"] = inner
        m = n
    elif kind == 6:  # edges that name nothing, loops without a neuron, self loops
        nodes["a"] = nir.Linear(weight=small(n, n))
        edges += pick(rng, [[("a", "a")], [("a", "ghost")], [("input", "input")], []])
        m = n
    else:  # a CubaLIF with hostile parameters
        nodes["a"] = nir.Linear(weight=small(m, n))
    k = min(m, 64)  # declared sizes may be absurd; the arrays the generator makes stay small
    nodes["lif"] = lif(k) if kind != 7 else nir.CubaLIF(
        tau_syn=np.full(k, pick(rng, HOSTILE_FLOATS)), tau_mem=np.full(k, 0.01), r=np.ones(k),
        v_leak=np.zeros(k), v_threshold=np.ones(k), w_in=np.ones(k))
    nodes["output"] = nir.Output(output_type=np.array([m]))
    edges += [("a", "lif"), ("lif", "output")]
    metadata = {}
    if rng.random() < 0.1:
        depth = pick(rng, [10, 5000, 200_000])
        metadata["snncompile.meta"] = "[" * depth + "]" * depth
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
    target = pick(rng, ["emu", "emu", "loihi2", "fpga"])

    def setup(folder: Path) -> list[str]:
        nir.write(folder / "m.nir", graph)
        return ["m.nir", "-t", target, "-o", "b"]
    return setup


# -- ONNX --------------------------------------------------------------------------------------
def onnx_case(rng: np.random.Generator, cal: Path) -> Setup:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c, h = int(rng.integers(1, 3)), pick(rng, [8, 8, 0, 1, 2**20])
    group = pick(rng, [1, 1, 0, -1, 2, 5])
    w = rng.normal(size=(4, max(1, c // max(1, abs(group) if group else 1)), 3, 3))
    if rng.random() < 0.3:
        w = rng.normal(size=tuple(int(rng.integers(0, 4)) for _ in range(pick(rng, [2, 4, 5]))))
    conv = helper.make_node("Conv", ["x", "w"], ["c"], group=group,
                            strides=[pick(rng, [1, 2, 0, -1])] * 2,
                            pads=[pick(rng, [0, 1, -1, 99])] * 4,
                            kernel_shape=list(w.shape[2:]) if rng.random() < 0.8 else [0, 0])
    relu = helper.make_node("Relu", ["c"], ["r"])
    pool_type = pick(rng, ["AveragePool", "GlobalAveragePool", "MaxPool"])
    pool = helper.make_node(pool_type, ["r"], ["p"],
                            **({} if rng.random() < 0.5 else {"kernel_shape": [2, 2]}))
    flat = helper.make_node("Flatten", ["p"], ["f"], axis=pick(rng, [1, 1, 0, 5, -9]))
    gw = rng.normal(size=(pick(rng, [4, 16, 0, 3]), pick(rng, [10, 0])))
    gemm = helper.make_node("Gemm", ["f", "g"], ["y"], transB=pick(rng, [0, 1]))
    nodes = [conv, relu, pool, flat, gemm][: pick(rng, [5, 5, 5, 2, 1, 0])]
    out = nodes[-1].output[0] if nodes else "x"
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                   [1, c, h, pick(rng, [h, h, -1, 0])])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w.astype(np.float32), "w"),
         numpy_helper.from_array(gw.astype(np.float32), "g")])
    model = helper.make_model(graph)
    target = pick(rng, ["emu", "emu", "fpga"])
    cal_args = pick(rng, [["--calibration", str(cal)], [], ["--calibration", "missing.npy"]])

    def setup(folder: Path) -> list[str]:
        onnx.save_model(model, str(folder / "m.onnx"))
        return ["m.onnx", "-t", target, "-o", "b", *cal_args]
    return setup


# -- .pt ---------------------------------------------------------------------------------------
def pt_case(rng: np.random.Generator) -> Setup:
    import torch

    import snncompile.nn as snn

    n, m = pick(rng, [4, 4, 0, 1]), pick(rng, [3, 3, 0])
    layers = [torch.nn.Linear(n, m), snn.LIF(max(m, 1) if rng.random() < 0.8 else 7,
                                             beta=pick(rng, [0.9, 0.0, 1.0, 1.5, -0.5]))]
    if rng.random() < 0.3:
        layers = [torch.nn.Conv2d(pick(rng, [2, 4, 3]), 4, 3, groups=pick(rng, [1, 2, 4])),
                  snn.LIF(pick(rng, [(4, 2, 2), (4,), (1,)])), torch.nn.Flatten()]
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() and rng.random() < 0.3:
                p.view(-1)[0] = pick(rng, HOSTILE_FLOATS)
    shape = pick(rng, [None, "4", "0", "-1", "2,4,4", "4,4", "999999999999", "a"])
    args = ["--input-shape", shape] if shape else []

    def setup(folder: Path) -> list[str]:
        torch.save(model, folder / "m.pt")
        return ["m.pt", "-t", pick(rng, ["emu", "fpga", "loihi2"]), "-o", "b", *args]
    return setup


# -- netx layers -------------------------------------------------------------------------------
def netx_case(rng: np.random.Generator, netx: Path) -> Setup:
    import h5py

    def setup(folder: Path) -> list[str]:
        path = folder / "m.net"
        shutil.copy(netx, path)
        with h5py.File(path, "r+") as f:
            names: list[str] = []
            f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
            for _ in range(int(rng.integers(1, 3))):
                name = pick(rng, names)
                old = f[name][()]
                del f[name]
                choice = int(rng.integers(0, 5))
                if choice == 0:
                    f[name] = np.asarray(pick(rng, HOSTILE_INTS), dtype=np.int64)
                elif choice == 1:
                    f[name] = np.zeros((0,) * max(1, np.ndim(old)))
                elif choice == 2:
                    f[name] = np.full(np.shape(old), pick(rng, HOSTILE_INTS), dtype=np.int64)
                elif choice == 3:
                    f[name] = np.asarray(old).reshape(-1)[::-1].copy()
                else:
                    f[name] = np.full(np.shape(old), pick(rng, HOSTILE_FLOATS))
        return ["m.net", "-t", pick(rng, ["emu"] * 6 + ["loihi2", "fpga"]), "-o", "b"]
    return setup


# -- arrays and option values ------------------------------------------------------------------
def _hostile_array(rng: np.random.Generator) -> np.ndarray | bytes:
    choice = int(rng.integers(0, 9))
    if choice == 0:
        return np.zeros((0, 4, 64))
    if choice == 1:
        return np.zeros((2, 0, 64))
    if choice == 2:
        return np.array([{"a": 1}, None], dtype=object)
    if choice == 3:
        return np.full((1, 3, 64), pick(rng, HOSTILE_FLOATS))
    if choice == 4:  # a header that declares a huge shape over a tiny file
        return (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': "
                b"(100000000, 100000, 64), }" + b" " * 40 + b"\n")
    if choice == 5:
        return np.zeros((1, 2, 8, 8))
    if choice == 6:
        return np.zeros((1, 2, 64), dtype=np.complex128)
    if choice == 7:
        return np.array(["a", "b"])
    return (rng.random((int(rng.integers(1, 3)), int(rng.integers(1, 5)), 64)) < 0.5)


def _save(path: Path, value) -> None:
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        np.save(path, value, allow_pickle=True)


def input_case(rng: np.random.Generator, assets: Path) -> Setup:
    value = _hostile_array(rng)
    command = pick(rng, ["run", "run", "verify", "estimate", "report"])
    target = "loihi2" if rng.random() < 0.03 else "fpga" if rng.random() < 0.1 else "emu"

    def setup(folder: Path) -> list[str]:
        _save(folder / "x.npy", value)
        if command == "run":
            shutil.copytree(assets / target, folder / "b")
            return ["run", "b", "-i", "x.npy", "-o", "y.npy"]
        if command == "verify":
            _save(folder / "l.npy", _hostile_array(rng))
            return ["verify", str(DIGITS), "-i", "x.npy", "-l", "l.npy"]
        if command == "estimate":
            return ["estimate", str(DIGITS), "-t", "loihi2", "-i", "x.npy"]
        return ["report", str(DIGITS), "-t", "emu", "-i", "x.npy", "-o", "r.html", "-q"]
    return setup


OPTION_VALUES = {
    "--dt": ["0", "-1", "nan", "inf", "1e-300", "1e300", "x"],
    "--input-shape": ["0", "-1", "64,0", "99999999999", "", ",", "1,1,1,1,1,1,1"],
    "--weight-bits": ["0", "-1", "9", "99999999999", "x"],
    "--steps": ["0", "-1", "999999999999", "1"],
    "--rate": ["nan", "-1", "inf", "2", "0"],
    "--percentile": ["nan", "-1", "200", "0"],
    "--max-spike-mismatch": ["nan", "-1", "inf"],
}


def option_case(rng: np.random.Generator, assets: Path) -> Setup:
    option = pick(rng, sorted(OPTION_VALUES))
    value = pick(rng, OPTION_VALUES[option])
    if option in ("--steps", "--rate"):
        argv = ["estimate", str(DIGITS), "-t", "loihi2", option, value]
    elif option == "--percentile":
        argv = ["examples/ann_conversion/digits_cnn.onnx", "--calibration",
                str(assets / "cal.npy"), option, value]
        argv[0] = str(DIGITS.parents[1] / "ann_conversion" / "digits_cnn.onnx")
    elif option == "--max-spike-mismatch":
        argv = ["verify", str(DIGITS), "-i", str(assets / "x.npy"), option, value]
    elif option == "--dt":
        argv = [str(pick(rng, [DIGITS, *sorted((DIGITS.parents[2] / "tests" / "data").rglob(
            "lif_norse.nir"))])), option, value]
    else:
        argv = [str(DIGITS), option, value, "-t", pick(rng, ["emu", "loihi2"])]
    return lambda folder: argv


# -- build folders -----------------------------------------------------------------------------
def build_case(rng: np.random.Generator, assets: Path) -> Setup:
    """A copy of a real build with one file damaged, the manifest edited (with its digest and
    hashes recomputed when `consistent`, as an attacker would), or a file removed."""
    from snncompile.artifacts import manifest_digest, sha256_file

    target = "loihi2" if rng.random() < 0.03 else "fpga" if rng.random() < 0.1 else "emu"
    consistent = rng.random() < 0.5

    def setup(folder: Path) -> list[str]:
        build = folder / "b"
        shutil.copytree(assets / target, build)
        files = sorted(p for p in build.iterdir() if p.is_file())
        victim = pick(rng, files)
        action = int(rng.integers(0, 4))
        if action == 0:
            victim.write_bytes(mutate(victim.read_bytes(), rng))
        elif action == 1:
            victim.unlink()
        if not (build / "manifest.json").exists():
            np.save(folder / "x.npy", np.load(assets / "x.npy"))
            return ["run", "b", "-i", "x.npy", "-o", "y.npy"]
        manifest = json.loads((build / "manifest.json").read_text())
        if action == 2:
            key = pick(rng, sorted(manifest))
            manifest[key] = pick(rng, [None, 0, -1, "x", [], {}, [0], [2**40], "../../etc"])
        if consistent and action != 3:
            for name in list(manifest.get("hashes", {})):
                if (build / name).is_file():
                    manifest["hashes"][name] = sha256_file(build / name)
            manifest["manifest_sha256"] = manifest_digest(manifest)
        if action == 3:
            (build / "manifest.json").write_bytes(
                mutate((build / "manifest.json").read_bytes(), rng))
        else:
            (build / "manifest.json").write_text(json.dumps(manifest))
        np.save(folder / "x.npy", np.load(assets / "x.npy"))
        return ["run", "b", "-i", "x.npy", "-o", "y.npy"]
    return setup


def outdir_case(rng: np.random.Generator, assets: Path) -> Setup:
    choice = int(rng.integers(0, 12))

    def setup(folder: Path) -> list[str]:
        (folder / "keep.txt").write_text("mine")
        model = str(DIGITS)
        if choice == 0:
            out = "."
        elif choice == 1:
            out = ".."
        elif choice == 2:
            (folder / "real").mkdir()
            os.symlink(folder / "real", folder / "o")
            out = "o"
        elif choice == 3:
            out = "keep.txt"
        elif choice == 4:
            (folder / "o").mkdir()
            (folder / "o" / "manifest.json").write_text("{}")
            out = "o"
        elif choice == 5:
            shutil.copytree(assets / "emu", folder / "o")
            shutil.copy(DIGITS, folder / "o" / "digits.pt")
            model, out = "o/digits.pt", "o"
        elif choice == 6:
            out = "keep.txt/sub"
        elif choice == 7:
            out = "a\nb"
        elif choice == 8:
            os.symlink("/nonexistent/place", folder / "dangling")
            out = "dangling"
        elif choice == 9:
            (folder / f".o.snncompile-tmp-{2**22 + 7}-x").mkdir()
            out = "o"
        elif choice == 10:
            shutil.copytree(assets / "emu", folder / "o")
            out = "o"
        else:
            out = "deep/" * 30 + "o"
        return [model, "-o", out, "-t", pick(rng, ["emu", "fpga"])]
    return setup
