"""The fuzz suite: categories of cases, drawn reproducibly from a seed, run in parallel shards;
tests/test_fuzz.py runs a few hundred in CI, benchmarks/fuzz.py ten thousand and more."""

from __future__ import annotations

import collections
import concurrent.futures
import json
from collections.abc import Callable
from pathlib import Path

import fuzz_entries as new
import fuzz_sparse as sp
import fuzz_structured as st
import numpy as np
from fuzz_cases import build_assets, bytes_case
from fuzz_forkserver import close_all
from fuzz_harness import BAD, Outcome, run_case


def categories(assets: Path) -> dict[str, tuple[float, Callable]]:
    """name -> (weight, case(rng) -> setup). Weights keep slow targets (Lava, simulators) rare."""
    return {
        "bytes .nir": (10, lambda r: bytes_case(".nir", assets, r)),
        "bytes .net": (8, lambda r: bytes_case(".net", assets, r)),
        "bytes .pt": (8, lambda r: bytes_case(".pt", assets, r)),
        "bytes .onnx": (6, lambda r: bytes_case(".onnx", assets, r)),
        "NIR graphs": (12, st.nir_case),
        "ONNX graphs": (8, lambda r: st.onnx_case(r, assets / "cal.npy")),
        ".pt modules": (6, st.pt_case),
        "netx layers": (10, lambda r: st.netx_case(r, assets / "netx.net")),
        "input arrays": (10, lambda r: st.input_case(r, assets)),
        "option values": (6, lambda r: st.option_case(r, assets)),
        "damaged builds": (10, lambda r: st.build_case(r, assets)),
        "-o targets": (6, lambda r: st.outdir_case(r, assets)),
        "ONNX step graphs": (8, new.step_onnx_case),
        "netx concat": (6, new.netx_concat_case),
        "sparse builds": (5, lambda r: sp.sparse_case(r, assets)),
        "sparse .pt weights": (4, sp.sparse_pt_case),
        "recurrent runs": (6, lambda r: new.rnn_case(r, assets)),
    }


def draw(n: int, seed: int, assets: Path, only: list[str] | None = None
         ) -> list[tuple[str, int]]:
    """(category, case seed) for n cases: every category (of `only`, when given) at least once,
    then by weight."""
    cats = categories(assets)
    unknown = sorted(set(only or ()) - set(cats))
    if unknown:
        raise ValueError(f"unknown fuzz categories {unknown} (known: {sorted(cats)})")
    names = sorted(only or cats)
    weights = np.array([cats[k][0] for k in names], dtype=float)
    rng = np.random.default_rng(seed)
    picks = list(names[: min(n, len(names))])
    picks += list(rng.choice(names, size=max(0, n - len(picks)), p=weights / weights.sum()))
    return [(name, seed * 1_000_003 + i) for i, name in enumerate(picks)]


def _shard(cases: list[tuple[str, int]], assets: Path, root: Path, out: Path,
           timeout: float) -> None:
    cats = categories(assets)
    with out.open("a") as f:
        for name, case_seed in cases:
            rng = np.random.default_rng(case_seed)
            try:
                setup = cats[name][1](rng)
            except Exception as exc:  # noqa: BLE001 - a generator that cannot build the case
                o = Outcome(name, str(case_seed), "setup", f"{type(exc).__name__}: {exc}"[:200], 0)
            else:
                try:
                    o = run_case(name, str(case_seed), setup, root, timeout=timeout)
                except Exception as exc:  # noqa: BLE001 - the harness's own failure: record it
                    o = Outcome(name, str(case_seed), "setup", f"harness: {exc!r}"[:200], 0)
            f.write(json.dumps(o.__dict__) + "\n")
            f.flush()


def replay(category: str, case_seed: int, root: Path) -> tuple[Path, list[str]]:
    """Prepare one case's folder as the suite would and return it with the argv (to rerun it
    by hand with --debug)."""
    assets = build_assets(root / "assets")
    folder = root / f"replay-{case_seed}"
    folder.mkdir(parents=True, exist_ok=True)
    argv = categories(assets)[category][1](np.random.default_rng(case_seed))(folder)
    return folder, argv


def run_suite(n: int, seed: int, root: Path, jobs: int = 1, timeout: float = 60.0,
              only: list[str] | None = None) -> list[Outcome]:
    """Run n cases in `jobs` parallel shards (threads, each with its own fork server: every case
    runs in a fork of a fresh interpreter, fuzz_harness.run_case); every outcome, in case order
    per shard; `only` restricts the draw to those categories."""
    root.mkdir(parents=True, exist_ok=True)
    assets = build_assets(root / "assets")
    cases = draw(n, seed, assets, only)
    outs = [root / f"shard{j}.jsonl" for j in range(jobs)]
    for out in outs:
        out.unlink(missing_ok=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for future in [pool.submit(_shard, cases[j::jobs], assets, root, outs[j], timeout)
                           for j in range(jobs)]:
                future.result()
    finally:
        close_all()
    outcomes = []
    for out in outs:
        if out.exists():
            outcomes += [Outcome(**json.loads(line)) for line in out.read_text().splitlines()]
    return outcomes


def summary(outcomes: list[Outcome]) -> list[dict]:
    """One row per category: cases and each outcome's count."""
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for o in outcomes:
        rows[o.category][o.kind] += 1
    kinds = ("ok", "refused", *BAD, "setup")
    return [{"category": k, "cases": sum(c.values()), **{x: c[x] for x in kinds}}
            for k, c in sorted(rows.items())]


def markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    total = {k: sum(r[k] for r in rows) if k != "category" else "**all**" for k in keys}
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in [*rows, total]]
    return "\n".join(lines)
