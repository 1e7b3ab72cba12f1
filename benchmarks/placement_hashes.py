"""Hash the partitioner's placement.json for many graphs x targets, to show a change to
partition/ keeps every placement: run it before and after, compare the two files.

    python benchmarks/placement_hashes.py before.json               # on the old code
    python benchmarks/placement_hashes.py after.json --compare before.json

Graphs: digits (loihi2, loihi1, fpga), PilotNet (loihi2, loihi1), the 10k conv stack of
compile_scale.py, 24 random two-layer Dense nets (with and without recurrence) under random tiny
limits, the sparse benchmark net (2,000 x 100, 3,000 x 30) and sparse chains (input -> Sparse ->
LIF -> Sparse -> LIF with a recurrent Dense), each also with per-neuron rates and
share="search" where cheap. A graph that does not fit hashes its DoesNotFit sentence. About
5 minutes on a loaded 2-core machine. placement.json holds no wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from compile_scale import PILOTNET, generated, sparse_graph

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_partition_dense import dense_graph, tiny_model
from test_placement import random_rates

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition import DoesNotFit, partition
from snncompile.partition.resources import CoreModel

ROOT = Path(__file__).resolve().parents[1]


def dense_net(rng: np.random.Generator) -> Graph:
    """in -> Dense -> LIF -> Dense -> LIF, recurrent on a coin flip (tests/test_partition_dense.py's
    draw)."""
    return dense_graph(rng, bool(rng.integers(0, 2)))


def sparse_chain(n: int, fan: int, seed: int) -> Graph:
    """in -> Sparse -> l1 -> Sparse -> l2 (+ a recurrent Dense): sparse routes between layers."""
    rng = np.random.default_rng(seed)

    def csr(n_out, n_in, k):
        cols = np.sort(np.stack([rng.choice(n_in, k, replace=False) for _ in range(n_out)]), 1)
        return hw.Sparse((n_out, n_in), np.arange(0, n_out * k + 1, k), cols.reshape(-1),
                         rng.integers(-40, 90, n_out * k))

    z, z2, h = np.zeros(n, np.int64), np.zeros(n // 2, np.int64), n // 2
    nodes = {"in": hw.SpikeInput((n,)), "s1": csr(n, n, fan),
             "l1": hw.LIF((n,), 3000, 400, 200, z, z), "s2": csr(h, n, fan),
             "l2": hw.LIF((h,), 3000, 400, 200, z2, z2),
             "r": hw.Dense(weights=rng.integers(-5, 5, (h, h)) * (rng.random((h, h)) < 0.05)),
             "out": hw.SpikeOutput((h,))}
    return Graph("hw", nodes, [("in", "s1"), ("s1", "l1"), ("l1", "s2"), ("s2", "l2"),
                               ("l2", "r"), ("r", "l2"), ("l2", "out")])


def cases():
    from snncompile import api

    digits = api.lower(api.load(ROOT / "examples/digits/digits.pt"), "emu")[0]
    for t in ("loihi2", "loihi1", "fpga"):
        yield f"digits/{t}", digits, t, {}
    yield "digits/loihi2/rates", digits, "loihi2", {"rates": random_rates(digits, 1)}
    pilot = api.load(PILOTNET)
    for t in ("loihi2", "loihi1"):
        yield f"pilotnet/{t}", pilot, t, {}
    stack = generated(10_000)
    for t in ("loihi2", "loihi1"):
        yield f"stack10k/{t}", stack, t, {}
    yield "stack10k/loihi2/rates", stack, "loihi2", {"rates": random_rates(stack, 2)}
    yield "stack10k/loihi2/search", stack, "loihi2", {"share": "search"}
    for seed in range(24):
        rng = np.random.default_rng(seed)
        g, m = dense_net(rng), tiny_model(rng)
        yield f"dense{seed}/tiny", g, m, {}
        yield f"dense{seed}/tiny/rates", g, m, {"rates": random_rates(g, seed)}
        yield f"dense{seed}/tiny/search", g, m, {"share": "search"}
    for n, fan in ((2000, 100), (3000, 30)):
        g = sparse_graph(n, fan)
        for t in ("loihi2", "loihi1"):
            yield f"sparse{n}x{fan}/{t}", g, t, {}
        yield f"sparse{n}x{fan}/loihi2/rates", g, "loihi2", {"rates": random_rates(g, 3)}
    small = CoreModel(target="tiny", neurons=64, synapse_bits=200_000, fan_in=1500,
                      fan_out=3000, cores_per_chip=16, mesh_rows=4, mesh_cols=4, max_chips=4096)
    for seed, (n, fan) in enumerate(((600, 40), (1500, 120), (400, 300))):
        g = sparse_chain(n, fan, seed)
        for t in ("loihi2", "loihi1"):
            yield f"chain{n}x{fan}/{t}", g, t, {}
        yield f"chain{n}x{fan}/loihi2/rates", g, "loihi2", {"rates": random_rates(g, seed)}
        yield f"chain{n}x{fan}/loihi2/search", g, "loihi2", {"share": "search"}
        yield f"chain{n}x{fan}/small", g, small, {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="JSON file of name -> placement hash to write")
    ap.add_argument("--compare", type=Path, help="an earlier run's file: list what differs")
    args = ap.parse_args(argv)
    got = {}
    for name, graph, target, options in cases():
        try:
            text = json.dumps(partition(graph, target, **options).to_json(), sort_keys=True)
            got[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
        except DoesNotFit as exc:
            got[name] = f"DoesNotFit: {exc}"
        print(name, got[name], flush=True)
    args.out.write_text(json.dumps(got, indent=1))
    if args.compare:
        old = json.loads(args.compare.read_text())
        differ = sorted(k for k in old.keys() | got.keys() if old.get(k) != got.get(k))
        print(f"{len(got)} placements, {len(differ)} differ from {args.compare}: {differ}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
