"""Where independent tasks run (issue 18): `map_tasks` maps one picklable function over a list
of task inputs, in this process, in spawned local processes (the default engine, no dependency)
or as Ray tasks on a cluster (`pip install snncompile[ray]`). verify and run shard samples with
it (snncompile.shard); a sweep maps compile settings with it.

The contract, whatever the engine: results come back in task order; a task that raises stops
the run with one sentence naming its task (TaskError); a task whose worker dies is retried once,
after which the run names every task still missing; Ctrl-C stops the tasks (local processes are
terminated, Ray tasks cancelled) before KeyboardInterrupt travels on. `shared` (a Build) is sent
once per worker process (local) or put once in Ray's object store, not once per task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from snncompile.errors import SnnCompileError
from snncompile.tasks import (  # noqa: F401 - the engine's interface, re-exported
    LOCAL_RAY,
    MAX_WORKERS,
    RETRIES,
    TaskError,
    Watch,
    check_workers,
    named,
)


@dataclasses.dataclass(frozen=True)
class Engine:
    """`workers` local processes (1: everything runs here, in this process), or with `ray` set
    Ray tasks: LOCAL_RAY starts or joins a Ray instance on this machine, anything else is the
    address of a running cluster (ray.init's `address`, e.g. 127.0.0.1:6379). With Ray,
    `workers` > 1 is the number of tasks a job is cut into; 1 means one per CPU of the cluster."""

    workers: int = 1
    ray: str | None = None

    def __post_init__(self) -> None:
        check_workers(self.workers)
        if self.ray is not None and (not isinstance(self.ray, str) or not self.ray.strip()):
            raise SnnCompileError(f"--ray takes the address of a Ray cluster (host:port), got "
                                  f"{self.ray!r}")

    def slots(self) -> int:
        """How many tasks to cut a job into so that every worker is busy (Ray: connects)."""
        if self.ray is None or self.workers > 1:
            return self.workers
        from snncompile.engine_ray import cluster_cpus

        return cluster_cpus(self.ray)


def map_tasks(fn: Callable[..., Any], shared: Any, items: Sequence[Any], labels: Sequence[str],
              engine: Engine | None = None, watch: Watch | None = None,
              **options: Any) -> list[Any]:
    """[fn(shared, item, **options) for item in items], in order, run by `engine` (default:
    here, one after another). labels[i] names task i in errors ("samples 0-89",
    "weight_bits=4"). fn and its arguments must pickle (fn a module-level function of an
    installed module: a Ray worker imports it by name). `watch(i, what)` follows each task."""
    if len(labels) != len(items):
        raise ValueError("map_tasks needs one label per item")
    engine, watch = engine or Engine(), watch or (lambda index, what: None)
    if engine.ray is not None:
        from snncompile.engine_ray import map_ray

        return map_ray(fn, shared, items, labels, engine.ray, watch, options)
    if engine.workers == 1:
        results = []
        for i, item in enumerate(items):  # one task: its errors as they are, unwrapped
            results.append(fn(shared, item, **options) if len(items) == 1
                           else named(labels[i], fn, shared, item, **options))
            watch(i, "done")
        return results
    from snncompile.engine_local import map_processes

    return map_processes(fn, shared, items, labels, engine.workers, watch, options)

