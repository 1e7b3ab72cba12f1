"""Fuzz cases: hostile and broken inputs for every front end, damaged build folders for run,
bad -o targets, hostile arrays and option values. Each generator takes a numpy Generator and
returns a setup(folder) -> argv; the corpus of real files (tests/fuzz_corpus, examples/,
tests/data) is what the byte-level mutators start from."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "fuzz_corpus"
DIGITS = REPO / "examples" / "digits" / "digits.pt"
CNN_ONNX = REPO / "examples" / "ann_conversion" / "digits_cnn.onnx"
NIR_FILES = [REPO / "tests" / "data" / "nir-paper" / "01_lif" / "lif_norse.nir",
             REPO / "tests" / "data" / "nir-paper" / "03_rnn" / "braille_noDelay_bias_zero.nir"]
Setup = Callable[[Path], list[str]]


# -- assets built once per session ------------------------------------------------------------
def build_assets(root: Path) -> Path:
    """Digits builds for emu, fpga and loihi2, a netx-only .net, inputs; built by the CLI (and
    fuzz_entries' recurrent and Sparse builds)."""
    root.mkdir(parents=True, exist_ok=True)
    if (root / "done").exists():
        return root
    cli = [sys.executable, "-m", "snncompile.cli"]
    for target in ("emu", "fpga", "loihi2"):
        subprocess.run([*cli, str(DIGITS), "-t", target, "-o", str(root / target)], check=True,
                       capture_output=True, timeout=600)
    shutil.copy(CORPUS / "tiny_netx.net", root / "netx.net")
    rng = np.random.default_rng(0)
    np.save(root / "x.npy", (rng.random((2, 4, 64)) < 0.3).astype(np.float64))
    np.save(root / "cal.npy", rng.random((4, 1, 8, 8)))
    from fuzz_entries import rnn_build  # recurrent builds
    from fuzz_sparse import sparse_build  # a build holding a hw.Sparse

    rnn_build(root)
    sparse_build(root)
    (root / "done").write_text("")
    return root


def corpus_files(suffix: str, assets: Path) -> list[Path]:
    seeds = {".nir": NIR_FILES, ".pt": [DIGITS], ".onnx": [CNN_ONNX],
             ".net": [assets / "netx.net", assets / "loihi2" / "model.net"]}[suffix]
    grown = sorted(CORPUS.glob(f"grown_*{suffix}"))  # spins_hdf5.nir is for its own test only
    return [*seeds, *grown]


# -- byte mutators ----------------------------------------------------------------------------
def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        n = len(buf)
        if n == 0:
            break
        kind = int(rng.integers(0, 7))
        at = int(rng.integers(0, n))
        if kind == 0:  # flip bits
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(0, n))
                buf[i] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # truncate
            del buf[at:]
        elif kind == 2:  # overwrite a range with 0x00 / 0xff / random
            k = int(rng.integers(1, 64))
            fill = [b"\0" * k, b"\xff" * k, rng.bytes(k)][int(rng.integers(0, 3))]
            buf[at:at + k] = fill[: len(buf[at:at + k])]
        elif kind == 3:  # duplicate a chunk
            k = int(rng.integers(1, 256))
            buf[at:at] = buf[at:at + k]
        elif kind == 4:  # insert random bytes
            buf[at:at] = rng.bytes(int(rng.integers(1, 16)))
        elif kind == 5:  # large integers where small ones were
            buf[at:at + 8] = (2**63 - 1 if rng.random() < 0.5 else 2**31).to_bytes(8, "little")
        else:  # delete a range
            del buf[at:at + int(rng.integers(1, 128))]
    return bytes(buf)


TARGETS = ("emu",) * 8 + ("loihi2", "fpga")


def bytes_case(suffix: str, assets: Path, rng: np.random.Generator) -> Setup:
    files = corpus_files(suffix, assets)
    seed = files[int(rng.integers(0, len(files)))]
    data = mutate(seed.read_bytes(), rng)
    target = TARGETS[int(rng.integers(0, len(TARGETS)))]
    extra = ["--calibration", str(assets / "cal.npy")] if suffix == ".onnx" else []
    if suffix == ".onnx" and target == "loihi2":
        target = "emu"

    def setup(folder: Path) -> list[str]:
        (folder / f"m{suffix}").write_bytes(data)
        return [f"m{suffix}", "-t", target, "-o", "b", *extra]
    return setup
