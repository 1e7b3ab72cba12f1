"""Cores before and after packing with shared axons (partition/share.py), in one run per row.

    python benchmarks/shared_axons.py                          # share=True (the default)
    python benchmarks/shared_axons.py --share search           # also re-split smaller blocks
    python benchmarks/shared_axons.py --nets 1000000 --targets loihi1

"packed" is the sum packing of the block-size search's winner (metrics["cores_packed"]),
"cores" the result after shared-axon packing of the same run, so the two are comparable even on
a busy machine; seconds are wall time of `partition` and of its share step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from compile_scale import PILOTNET, generated

from snncompile import api
from snncompile.partition import partition


def graph_of(net: str):
    if net == "PilotNet":
        return api.load(PILOTNET)
    if net == "digits":
        return api.lower(api.load(Path(__file__).resolve().parents[1] /
                                  "examples/digits/digits.pt"), "emu")[0]
    return generated(int(net))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="digits,PilotNet,10000,100000")
    ap.add_argument("--targets", default="loihi2,loihi1")
    ap.add_argument("--share", default="true", choices=["true", "false", "search"])
    args = ap.parse_args(argv)
    share = {"true": True, "false": False}.get(args.share, args.share)
    print("| network | target | share | packed | cores | halo bound | seconds | share seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for net in args.nets.split(","):
        graph = graph_of(net)
        for target in args.targets.split(","):
            t0 = time.perf_counter()
            m = partition(graph, target, share=share).metrics
            print(f"| {net} | {target} | {args.share} | {m['cores_packed']} | {m['cores']} | "
                  f"{max(m['lower_bound_halo'].values())} | {time.perf_counter() - t0:.1f} | "
                  f"{m['seconds']['share']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
