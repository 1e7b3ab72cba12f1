"""Keep tests/fuzz_corpus small and useful (issue 20): write the tiny netx seed (two dense layers
in the layout of Intel's PilotNet file, whose neuron groups it copies), then grow the corpus with
mutants of every seed whose outcome is new (a new first words of the error), at most --keep per
file type. Run: python scripts/grow_fuzz_corpus.py [--tries 200] [--keep 6]."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
CORPUS = REPO / "tests" / "fuzz_corpus"
PILOTNET = REPO / "tests" / "data" / "lava-dl" / "pilotnet_lif" / "network.net"


def write_tiny_netx(path: Path) -> None:
    """Input (16) -> flatten -> dense 8 -> dense 4, neurons as PilotNet's input and dense layers."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(PILOTNET) as src, h5py.File(path, "w") as dst:
        for key in src:
            if key != "layer":
                src.copy(src[key], dst, key)
        layers = dst.create_group("layer")
        first = layers.create_group("0")
        src.copy(src["layer/0/neuron"], first, "neuron")
        for key in ("type", "weight", "bias"):
            first[key] = src[f"layer/0/{key}"][()]
        first["shape"] = np.array([16, 1, 1])
        flatten = layers.create_group("1")
        flatten["type"] = src["layer/6/type"][()]
        flatten["shape"] = np.array([1, 1, 16])
        prev = 16
        for index, n in ((2, 8), (3, 4)):
            layer = layers.create_group(str(index))
            src.copy(src["layer/7/neuron"], layer, "neuron")
            layer["type"] = src["layer/7/type"][()]
            layer["shape"] = np.array([n, 1, 1])
            layer["inFeatures"], layer["outFeatures"] = prev, n
            layer["weight"] = rng.integers(-100, 100, size=(n, prev)).astype(
                src["layer/7/weight"].dtype)
            prev = n


def main() -> None:
    from fuzz_cases import build_assets, corpus_files, mutate
    from fuzz_harness import run_case

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tries", type=int, default=200, help="mutants tried per file type")
    parser.add_argument("--keep", type=int, default=6, help="corpus files kept per file type")
    args = parser.parse_args()
    CORPUS.mkdir(exist_ok=True)
    write_tiny_netx(CORPUS / "tiny_netx.net")
    with tempfile.TemporaryDirectory() as tmp:
        assets = build_assets(Path(tmp) / "assets")
        rng = np.random.default_rng(20)
        for suffix in (".nir", ".net", ".pt", ".onnx"):
            seen = {"ok"}
            kept = len(list(CORPUS.glob(f"grown_*{suffix}")))
            for i in range(args.tries):
                if kept >= args.keep:
                    break
                seeds = corpus_files(suffix, assets)
                data = mutate(seeds[int(rng.integers(0, len(seeds)))].read_bytes(), rng)
                extra = ["--calibration", str(assets / "cal.npy")] if suffix == ".onnx" else []

                def setup(folder: Path, data=data, extra=extra, suffix=suffix) -> list[str]:
                    (folder / f"m{suffix}").write_bytes(data)
                    return [f"m{suffix}", *extra]
                outcome = run_case("grow", str(i), setup, Path(tmp))
                key = " ".join(outcome.detail.replace(f"m{suffix}", "").split()[:6])
                if outcome.kind == "refused" and key not in seen and len(data) < 300_000:
                    seen.add(key)
                    (CORPUS / f"grown_{kept}{suffix}").write_bytes(data)
                    kept += 1
                    print(f"kept grown_{kept - 1}{suffix}: {key}")


if __name__ == "__main__":
    main()
