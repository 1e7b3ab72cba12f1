"""Both lower bounds on cores (partition.lower_bound, partition/bounds.py) for the networks of
compile_scale.py, without partitioning them: a quick check of the bound side of cores / bound.

    python benchmarks/bounds_table.py            # digits, PilotNet, 10k, 100k, 1M conv stacks
    python benchmarks/bounds_table.py --quick    # skip the 1M network
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from compile_scale import PILOTNET, generated, table

from snncompile.partition import core_model, lower_bound
from snncompile.partition.bounds import halo_lower_bound
from snncompile.partition.layers import layers_of


def row(name: str, graph, target: str) -> dict:
    model = core_model(target)
    t0 = time.perf_counter()
    layers = layers_of(graph, model)
    plain = lower_bound(layers, model)
    halo = {**plain, **{k: max(v, plain[k]) for k, v in halo_lower_bound(layers, model).items()}}
    return {"network": name, "target": target,
            "lower bound": f"{max(plain.values())} ({max(plain, key=plain.get)})",
            "halo bound": f"{max(halo.values())} ({max(halo, key=halo.get)})",
            "halo fan_in": halo["fan_in"], "halo fan_out": halo["fan_out"],
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1M-neuron network")
    ap.add_argument("--targets", default="loihi2,loihi1")
    args = ap.parse_args(argv)
    from snncompile import api

    nets = [("digits", api.lower(api.load(Path(__file__).resolve().parents[1] /
                                          "examples/digits/digits.pt"), "emu")[0]),
            ("PilotNet", api.load(PILOTNET))]
    nets += [(f"conv stack {n:,}", generated(n))
             for n in (10_000, 100_000) + (() if args.quick else (1_000_000,))]
    print(table([row(name, g, t) for name, g in nets for t in args.targets.split(",")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
