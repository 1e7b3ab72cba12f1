"""Samples cut into consecutive shards and run by an engine (snncompile.engine: this process,
local processes or Ray), for verify and run (issue 18). A shard's errors name its samples;
progress is reported as samples done out of all, with the shards retried after a worker died.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from snncompile import progress as progress_events
from snncompile.engine import MAX_WORKERS, Engine, check_workers, map_tasks
from snncompile.engine import TaskError as ShardError

__all__ = ["MAX_WORKERS", "ShardError", "bounds", "check_workers", "describe", "run_sharded"]


def bounds(samples: int, shards: int) -> list[tuple[int, int]]:
    """`shards` consecutive [start, stop) ranges covering the samples, sizes differing by <= 1."""
    shards = max(1, min(shards, samples))
    edges = [samples * i // shards for i in range(shards + 1)]
    return list(itertools.pairwise(edges))


def describe(ranges: list[tuple[int, int]]) -> str:
    """'samples 0-89, 180-269' (0-based, inclusive), the words a user can index x with."""
    return "samples " + ", ".join(f"{a}-{b - 1}" if b - a > 1 else f"{a}" for a, b in ranges)


def run_sharded(fn: Callable[..., Any], build: Any, x: np.ndarray, workers: int = 1,
                shards: int | None = None, progress: Callable[[int, int], None] | None = None,
                engine: Engine | None = None, **options: Any) -> list[Any]:
    """[fn(build, x[a:b], **options) for each shard], in sample order, run by `engine` (default:
    `workers` local processes; one: here). `shards` defaults to engine.slots();
    `progress(samples_done, samples)` follows each finished shard, and the command line's
    progress display (snncompile.progress.count) sees the same."""
    engine = engine or Engine(workers)
    ranges = bounds(x.shape[0], shards or engine.slots())
    seen: dict[str, set[int]] = {"done": set(), "retried": set(), "lost": set()}

    def watch(i: int, what: str) -> None:
        seen[what].add(i)
        samples = sum(b - a for k, (a, b) in enumerate(ranges) if k in seen["done"])
        if progress is not None and what == "done":
            progress(samples, x.shape[0])
        if len(ranges) > 1:
            note = ", ".join(f"{len(seen[k])} shard(s) {k}" for k in ("retried", "lost")
                             if seen[k])
            progress_events.count("samples", samples, x.shape[0], note)

    if len(ranges) > 1:
        progress_events.count("samples", 0, x.shape[0], "")
    return map_tasks(fn, build, [x[a:b] for a, b in ranges], [describe([r]) for r in ranges],
                     engine, watch, **options)
