"""Fuzz snncompile's CLI with hostile and broken inputs (issue 20): `python benchmarks/fuzz.py
-n 10000 -j 2` runs 10,000 cases (tests/fuzz_suite.py) and prints the summary table for the
README; any crash, hang, memory blow-up or data loss is listed with its case seed and the run
exits 1."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_harness import BAD
from fuzz_suite import markdown, replay, run_suite, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=10_000, help="cases to run")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--root", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--replay", nargs=2, metavar=("CATEGORY", "CASE"),
                        help="prepare one case in --root and print how to rerun it")
    parser.add_argument("--categories", help="comma-separated categories to draw from "
                        "(default: all), e.g. 'ONNX step graphs,netx concat'")
    args = parser.parse_args()
    if args.replay:
        folder, argv = replay(args.replay[0], int(args.replay[1]), args.root or Path("fuzz-replay"))
        print(f"cd {folder} && snncompile --debug " + " ".join(map(repr, argv)))
        return
    only = [c.strip() for c in args.categories.split(",")] if args.categories else None
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="snncompile-fuzz-") as tmp:
        outcomes = run_suite(args.n, args.seed, args.root or Path(tmp), args.jobs, args.timeout,
                             only)
    rows = summary(outcomes)
    print(markdown(rows))
    print(f"\n{len(outcomes)} cases in {time.monotonic() - t0:.0f} s (seed {args.seed}, "
          f"{args.jobs} jobs, {args.timeout:g} s per case)")
    bad = [o for o in outcomes if o.kind in BAD]
    for o in bad:
        print(f"{o.kind}: {o.category} case {o.case}: {o.detail}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
