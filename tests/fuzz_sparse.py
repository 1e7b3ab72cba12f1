"""Fuzz cases for the sparse synapse op where a file can carry it: emu builds whose image holds a
hw.Sparse (damaged, then re-hashed as an attacker would) and .pt files whose Linear weight is a
torch sparse tensor (COO, CSR, CSC) made hostile. Deterministic by seed, as fuzz_entries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from fuzz_cases import Setup, mutate
from fuzz_structured import HOSTILE_FLOATS, HOSTILE_INTS, pick


# -- builds carrying a hw.Sparse ---------------------------------------------------------------
def sparse_build(assets: Path) -> Path:
    """The digits emu build with its first hidden Dense stored as hw.Sparse (the form the
    sparsify pass gives large pruned layers), manifest re-hashed: `run` reads it."""
    from snncompile.artifacts import manifest_digest, sha256_file
    from snncompile.ir import hw_ops as hw
    from snncompile.ir.graph import Graph
    from snncompile.ir.image import load_image, save_image
    from snncompile.ir.sparse import sparse_of

    out = assets / "sparse"
    if (out / "manifest.json").exists():
        return out
    tmp = assets / "sparse.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(assets / "emu", tmp)
    manifest = json.loads((tmp / "manifest.json").read_text())
    image = tmp / manifest["files"]["image"]
    g = load_image(image)
    nodes = dict(g.nodes)
    name = next(n for n, op in nodes.items() if type(op) is hw.Dense)
    w = np.array(nodes[name].weights)
    w[np.abs(w) < np.quantile(np.abs(w), 0.9)] = 0  # pruned: a tenth of the weights kept
    nodes[name] = sparse_of(hw.Dense(w, weight_exp=nodes[name].weight_exp,
                                     num_weight_bits=nodes[name].num_weight_bits,
                                     sign_mode=nodes[name].sign_mode))
    save_image(Graph(g.level, nodes, g.edges, g.dt, dict(g.meta)), image)
    _rehash(tmp, manifest, sha256_file, manifest_digest)
    tmp.rename(out)
    return out


def _rehash(build: Path, manifest: dict, sha256_file, manifest_digest) -> None:
    for name in list(manifest.get("hashes", {})):
        if (build / name).is_file():
            manifest["hashes"][name] = sha256_file(build / name)
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (build / "manifest.json").write_text(json.dumps(manifest))


def sparse_case(rng: np.random.Generator, assets: Path) -> Setup:
    """The sparse build with its Sparse node's CSR arrays, matrix shape or fields made hostile
    in the image's JSON skeleton or arrays, re-hashed as an attacker would."""
    import io

    from snncompile.artifacts import manifest_digest, sha256_file

    source = sparse_build(assets)
    edit = int(rng.integers(0, 8))

    def hostile(a: np.ndarray) -> np.ndarray:
        kind = int(rng.integers(0, 6))
        if kind == 0 and a.size:
            a = a.astype(np.int64)
            a.flat[int(rng.integers(0, a.size))] = pick(rng, HOSTILE_INTS)
            return a
        if kind == 1:
            return a[::-1].copy()
        if kind == 2:
            return a[: int(rng.integers(0, max(1, a.size)))].copy()
        if kind == 3:
            return np.concatenate([a, a])
        if kind == 4:
            return a.astype(np.float64) + 0.5
        return a.reshape(1, -1) if a.size else np.zeros((0, 3))

    def setup(folder: Path) -> list[str]:
        build = folder / "b"
        shutil.copytree(source, build)
        manifest = json.loads((build / "manifest.json").read_text())
        image = build / manifest["files"]["image"]
        with np.load(image, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        skeleton = json.loads(arrays["__graph__"].tobytes().decode())
        node = next(nd for nd in skeleton["nodes"] if nd[1] == "Sparse")
        params = node[2]
        if edit <= 3:  # a CSR array made hostile
            ref = params[pick(rng, ["indptr", "indices", "weights"])]["@array"]
            arrays[ref] = hostile(arrays[ref])
        elif edit == 4:  # the matrix shape
            params["matrix_shape"] = pick(rng, [[0, 0], [2**31, 64], [64, 2**40], [-1, 64],
                                                [64], [1, 2, 3], "x", None])
        elif edit == 5:  # scalar fields
            key = pick(rng, ["weight_exp", "num_weight_bits", "sign_mode"])
            params[key] = pick(rng, [*HOSTILE_INTS, "x", None, 1.5])
        elif edit == 6:  # the array reference itself
            params[pick(rng, ["indptr", "indices", "weights"])] = pick(
                rng, [{"@array": "missing"}, {"@array": "__graph__"}, [1, 2], 3,
                      {"@array": params["indptr"]["@array"], "dtype": "object"}])
        else:  # byte-level damage of the image, re-hashed
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            image.write_bytes(mutate(buffer.getvalue(), rng))
        if edit != 7:
            arrays["__graph__"] = np.frombuffer(json.dumps(skeleton).encode(), np.uint8)
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            image.write_bytes(buffer.getvalue())
        _rehash(build, manifest, sha256_file, manifest_digest)
        np.save(folder / "x.npy", np.load(assets / "x.npy"))
        return ["run", "b", "-i", "x.npy", "-o", "y.npy", *pick(rng, [[], [], ["--strict"]])]
    return setup


# -- .pt files carrying a sparse weight ---------------------------------------------------------
def sparse_pt_case(rng: np.random.Generator) -> Setup:
    """A Linear -> LIF .pt (snncompile.nn.save) whose weight is a torch sparse tensor (COO, CSR
    or CSC: the pruned form torch stores), built without torch's invariant checks and then made
    hostile: indices out of range or negative, pointers that do not rise, counts that disagree,
    non-finite or odd-typed values, absurd declared sizes; some stay valid."""
    import torch

    import snncompile.nn as snn

    n, m = pick(rng, [16, 64]), pick(rng, [8, 16])
    nnz = int(rng.integers(0, 20))
    rows, cols = rng.integers(0, m, nnz), rng.integers(0, n, nnz)
    values = rng.normal(size=nnz) * 2
    size = [m, n]
    layout = pick(rng, ["coo", "coo", "csr", "csc"])
    edit = int(rng.integers(0, 7))
    if edit == 1 and nnz:  # an index out of range, negative or huge
        (rows if rng.random() < 0.5 else cols)[int(rng.integers(0, nnz))] = pick(
            rng, [m + n, -1, -(2**40), 2**40, 2**62])
    elif edit == 2 and nnz:
        values[int(rng.integers(0, nnz))] = pick(rng, HOSTILE_FLOATS)
    elif edit == 3:  # a declared size that disagrees with the layer or is absurd
        absurd = [2**31 - 1] if layout == "coo" else []  # compressed: the generator's pointers
        size[int(rng.integers(0, 2))] = pick(rng, [0, 1, 2**20, *absurd])
    value_dtype = pick(rng, [torch.float32] * 4 + [torch.float64, torch.int64, torch.bool,
                                                    torch.complex64])
    order = np.lexsort((cols, rows)) if layout == "csr" else np.lexsort((rows, cols))
    rows, cols, values = rows[order], cols[order], values[order]

    def pointers(keys: np.ndarray, count: int) -> np.ndarray:
        ptr = np.zeros(count + 1, np.int64)
        np.add.at(ptr, np.clip(keys, -count, count - 1) + 1, 1)
        ptr = np.cumsum(ptr)
        if edit == 4 and ptr.size > 2:  # pointers that fall, or a count off by one
            ptr[int(rng.integers(1, ptr.size - 1))] = pick(rng, [-1, nnz + 5, 2**40])
        elif edit == 5:
            ptr = ptr[:-1] if rng.random() < 0.5 else np.append(ptr, nnz)
        return ptr

    def weight():
        vals = torch.tensor(values).to(value_dtype)
        if layout == "coo":
            idx = torch.tensor(np.stack([rows, cols]))
            return torch.sparse_coo_tensor(idx, vals, size, check_invariants=False)
        if layout == "csr":
            return torch.sparse_csr_tensor(torch.tensor(pointers(rows, size[0])),
                                           torch.tensor(cols), vals, size, check_invariants=False)
        return torch.sparse_csc_tensor(torch.tensor(pointers(cols, size[1])),
                                       torch.tensor(rows), vals, size, check_invariants=False)

    target = pick(rng, ["emu"] * 6 + ["loihi2", "fpga"])

    def setup(folder: Path) -> list[str]:
        model = torch.nn.Sequential(torch.nn.Linear(n, m, bias=False), snn.LIF(m, beta=0.9))
        model[0].weight = torch.nn.Parameter(weight(), requires_grad=False)
        snn.save(model, folder / "m.pt", (n,))
        if edit == 6:
            (folder / "m.pt").write_bytes(mutate((folder / "m.pt").read_bytes(), rng))
        return ["m.pt", "-t", target, "-o", "b"]
    return setup
