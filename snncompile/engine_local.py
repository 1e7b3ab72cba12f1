"""The default engine of snncompile.engine: tasks in spawned local processes, standard library
only (a concurrent.futures process pool, spawned so that Lava can start its own processes
inside a worker). A dead worker takes its whole pool down, so its tasks are retried each in a
pool of its own, charged only for their own deaths; Ctrl-C terminates the workers.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from snncompile.children import GRACE_S
from snncompile.tasks import RETRIES, TaskError, Watch, named


def map_processes(fn: Callable[..., Any], shared: Any, items: Sequence[Any],
                  labels: Sequence[str], workers: int, watch: Watch,
                  options: dict[str, Any]) -> list[Any]:
    """engine.map_tasks over `workers` spawned processes."""
    results: dict[int, Any] = {}
    attempts = dict.fromkeys(range(len(items)), 0)
    call = (fn, shared, items, labels, options, results, watch)
    died = _pool_round(call, list(range(len(items))), workers)
    while died:
        for i in died:
            attempts[i] += 1
        lost = [i for i in died if attempts[i] > RETRIES]
        if lost:
            raise TaskError(f"worker processes died twice on {', '.join(labels[i] for i in lost)}"
                            "; they are missing, so the run stopped without a result")
        for i in died:
            watch(i, "retried")
        died = [j for i in died for j in _pool_round(call, [i], 1)]
    return [results[i] for i in range(len(items))]


def _pool_round(call: tuple, pending: list[int], workers: int) -> list[int]:
    """Run the pending tasks in a fresh pool; the tasks whose worker died, to retry."""
    fn, shared, items, labels, options, results, watch = call
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(min(workers, len(pending)), mp_context=context,
                               initializer=_worker_signals)
    died: list[int] = []
    finished = False
    try:
        futures = {pool.submit(named, labels[i], fn, shared, items[i], **options): i
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
                except TaskError:
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. a model that does not pickle
                    raise TaskError(f"{labels[i]} cannot go to a worker process "
                                    f"({type(exc).__name__}: {exc})") from None
                watch(i, "done")
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
