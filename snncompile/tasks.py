"""What every engine of snncompile.engine shares (issue 18): the error that names a task, the
wrapper that runs one task in whatever process, the retry count, and the `watch` callback.
Below engine, engine_local and engine_ray, so that none of them imports another in a circle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snncompile.errors import SnnCompileError

MAX_WORKERS = 1024
LOCAL_RAY = "local"  # Engine.ray: join the Ray instance running on this machine, else start one
RETRIES = 1  # a task whose worker dies runs once more before the run names it missing

#: watch(task_index, what) as tasks end: what is "done", "retried" (its worker died, it runs
#: again) or "lost" (Ray: its worker died RETRIES + 1 times; the run will name it missing)
Watch = Callable[[int, str], None]


class TaskError(SnnCompileError):
    """A task failed, or tasks are missing because their workers died more than RETRIES times."""


def check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or not (
            1 <= workers <= MAX_WORKERS):
        raise SnnCompileError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, got "
                              f"{workers!r}")
    return workers


def named(label: str, fn: Callable[..., Any], shared: Any, item: Any, **options: Any) -> Any:
    """fn on one task, in whatever process runs it; an error names the task (as TaskError,
    which pickles back whole)."""
    try:
        return fn(shared, item, **options)
    except TaskError:
        raise
    except SnnCompileError as exc:
        raise TaskError(f"{label}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure must name its task
        raise TaskError(f"{label}: {type(exc).__name__}: {exc}") from None
