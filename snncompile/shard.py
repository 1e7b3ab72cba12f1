"""Run a per-sample function over consecutive sample shards in local worker processes (issue 18).

The default engine needs nothing beyond the standard library: a concurrent.futures process pool
(spawned, so Lava can start its own processes inside a worker). The Build goes to each worker as
it is, compiled once. A shard that raises names its samples; a worker that dies has its shards
retried once in a fresh pool, after which the run names the samples still missing; Ctrl-C stops
the workers.
"""

from __future__ import annotations

import itertools
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from snncompile.children import GRACE_S
from snncompile.errors import SnnCompileError

MAX_WORKERS = 1024


class ShardError(SnnCompileError):
    """A shard failed, or samples are missing because workers died on them twice."""


def bounds(samples: int, shards: int) -> list[tuple[int, int]]:
    """`shards` consecutive [start, stop) ranges covering the samples, sizes differing by <= 1."""
    shards = max(1, min(shards, samples))
    edges = [samples * i // shards for i in range(shards + 1)]
    return list(itertools.pairwise(edges))


def describe(ranges: list[tuple[int, int]]) -> str:
    """'samples 0-89, 180-269' (0-based, inclusive), the words a user can index x with."""
    return "samples " + ", ".join(f"{a}-{b - 1}" if b - a > 1 else f"{a}" for a, b in ranges)


def check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or not (
            1 <= workers <= MAX_WORKERS):
        raise SnnCompileError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, got "
                              f"{workers!r}")
    return workers


def run_sharded(fn: Callable[..., Any], build: Any, x: np.ndarray, workers: int = 1,
                shards: int | None = None, progress: Callable[[int, int], None] | None = None,
                **options: Any) -> list[Any]:
    """[fn(build, x[a:b], **options) for each shard], in sample order. With one worker the
    shards run here, one after another; else in `workers` spawned processes. `shards` defaults
    to the number of workers; `progress(samples_done, samples)` follows each finished shard."""
    workers = check_workers(workers)
    ranges = bounds(x.shape[0], shards or workers)
    report = progress or (lambda done, total: None)
    results: dict[int, Any] = {}
    if workers == 1 and len(ranges) == 1:  # the one-process run, errors as they are
        only = fn(build, x, **options)
        report(x.shape[0], x.shape[0])
        return [only]
    if workers == 1:
        for i, (a, b) in enumerate(ranges):
            results[i] = _named(ranges[i], fn, build, x[a:b], **options)
            report(b, x.shape[0])
        return [results[i] for i in range(len(ranges))]
    pending, attempts = list(range(len(ranges))), dict.fromkeys(range(len(ranges)), 0)
    died = _pool_round(fn, build, x, ranges, pending, workers, results, report, options)
    while died:
        for i in died:
            attempts[i] += 1
        lost = [i for i in died if attempts[i] > 1]
        if lost:
            raise ShardError(f"worker processes died twice on {describe([ranges[i] for i in lost])}"
                             f"; those samples are missing, so nothing was compared")
        # a death takes the whole pool down: retry each shard in a pool of its own, so that a
        # shard is only charged for its own worker's death
        died = [j for i in died
                for j in _pool_round(fn, build, x, ranges, [i], 1, results, report, options)]
    return [results[i] for i in range(len(ranges))]


def _pool_round(fn, build, x, ranges, pending, workers, results, report, options) -> list[int]:
    """Run the pending shards in a fresh pool; the shards whose worker died, to retry."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(min(workers, len(pending)), mp_context=context,
                               initializer=_worker_signals)
    died: list[int] = []
    finished = False
    try:
        futures = {pool.submit(_named, ranges[i], fn, build, x[slice(*ranges[i])], **options): i
                   for i in pending}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                i = futures[future]
                try:
                    results[i] = future.result()
                except BrokenProcessPool:
                    died.append(i)
                    continue
                except ShardError:
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. a model that does not pickle
                    raise ShardError(f"{describe([ranges[i]])} cannot go to a worker process "
                                     f"({type(exc).__name__}: {exc})") from None
                report(sum(b - a for k, (a, b) in enumerate(ranges) if k in results),
                       x.shape[0])
        finished = True
    finally:
        if not finished:  # an error or Ctrl-C: no worker outlives the run
            _stop(pool)
    pool.shutdown(wait=True)
    return sorted(died)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate the workers (the standard library has no
    public way to do the latter before Python 3.14)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=GRACE_S + 3)  # time to stop its own children (Lava's group)
        if process.is_alive():
            process.kill()
            process.join()


def _worker_signals() -> None:
    """In a worker, SIGTERM raises (SystemExit: quiet), so a child program it runs (Lava,
    Verilator: snncompile.children) has its process group stopped before the worker goes."""
    signal.signal(signal.SIGTERM, _exit_on_term)


def _exit_on_term(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _named(sample_range: tuple[int, int], fn: Callable[..., Any], build: Any, x: np.ndarray,
           **options: Any) -> Any:
    """fn on one shard; an error names the shard's samples (as ShardError, which pickles)."""
    try:
        return fn(build, x, **options)
    except ShardError:
        raise
    except SnnCompileError as exc:
        raise ShardError(f"{describe([sample_range])}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure must name its samples
        raise ShardError(f"{describe([sample_range])}: {type(exc).__name__}: {exc}") from None
