"""The Ray engine of snncompile.engine (`--ray [ADDRESS]`, `pip install snncompile[ray]`): each
task is a Ray task, the shared value (a Build) is put once in Ray's object store, a task whose
worker dies is retried by Ray (max_retries) and then named missing, and Ctrl-C cancels the
cluster's tasks (a KeyboardInterrupt inside each, which stops its child programs' groups, then
a forced cancel for those still running).

This process joins a cluster once and stays joined (Ray shuts down what it started at exit);
a Ray instance on this machine (no address, localhost, 127.x) is kept on loopback.
Ray's usage statistics are off unless RAY_USAGE_STATS_ENABLED says otherwise, its dashboard is
not started, and worker output is not copied here (it would mix into --json on stdout).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from snncompile.children import GRACE_S
from snncompile.errors import SnnCompileError
from snncompile.tasks import LOCAL_RAY, RETRIES, TaskError, Watch, named

_joined: list[str] = []  # the address this process joined (LOCAL_RAY for this machine's)


def ray_module(address: str | None = None) -> Any:
    """The ray package, or one sentence saying how to install it. For an address on this
    machine (none, localhost, 127.x) Ray is told to stay on loopback before it is imported:
    left alone, it swaps 127.0.0.1 for the machine's routable address."""
    if address is not None and _on_loopback(address):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise SnnCompileError("--ray needs the ray package, which is not installed: "
                              "pip install snncompile[ray]") from None
    return ray


def connect(address: str) -> Any:
    """Join the cluster at `address` (LOCAL_RAY: this machine's, started if there is none),
    once per process; a ray.init of the caller's own is kept."""
    ray = ray_module(address)
    if ray.is_initialized():
        if not _joined or _joined[0] == address:
            return ray
        ray.shutdown()
        _joined.clear()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address != LOCAL_RAY:
            ray.init(address=address, **quiet)
        else:
            try:  # a Ray instance already running on this machine (`ray start --head`)
                ray.init(address="auto", **quiet)
            except ConnectionError:
                ray.init(include_dashboard=False, **quiet)
    except SnnCompileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to join is one sentence
        where = "on this machine" if address == LOCAL_RAY else f"at {address}"
        raise SnnCompileError(f"cannot join a Ray cluster {where} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    _joined[:] = [address]
    _raylet_messages_to_stderr()
    return ray


def _raylet_messages_to_stderr() -> None:
    """Ray prints the cluster's error messages (a worker died...) on this process's stdout,
    where --json goes; send them to stderr (ray 2.60's private printer, left alone if gone)."""
    import ray._private.worker as ray_worker

    printer = getattr(ray_worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "to_stderr", False):
        return

    def to_stderr(data: dict, ignore_prefix: bool) -> None:
        printer({**data, "is_err": True}, ignore_prefix)

    to_stderr.to_stderr = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = to_stderr


def _on_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return address == LOCAL_RAY or host in ("localhost", "::1") or host.startswith("127.")


def cluster_cpus(address: str) -> int:
    """The CPUs of the cluster: how many tasks can run at once."""
    ray = connect(address)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def map_ray(fn: Callable[..., Any], shared: Any, items: Sequence[Any], labels: Sequence[str],
            address: str, watch: Watch, options: dict[str, Any]) -> list[Any]:
    """engine.map_tasks as Ray tasks, one CPU each, on the cluster at `address`."""
    ray = connect(address)
    from ray.exceptions import RayError, RayTaskError

    task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(named)
    try:
        shared_ref = ray.put(shared)
    except Exception as exc:  # noqa: BLE001 - e.g. a model that does not pickle
        raise TaskError(f"{type(shared).__name__} cannot go to Ray's object store "
                        f"({type(exc).__name__}: {exc})") from None
    refs = {task.remote(labels[i], fn, shared_ref, item, **options): i
            for i, item in enumerate(items)}
    results: dict[int, Any] = {}
    missing: list[int] = []
    waiting = list(refs)
    try:
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1, timeout=0.5)
            for ref in ready:
                i = refs[ref]
                try:
                    results[i] = ray.get(ref)
                except RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    raise TaskError(str(cause) if isinstance(cause, TaskError)
                                    else f"{labels[i]}: {str(exc).splitlines()[0]}") from None
                except RayError:  # the worker or its node died RETRIES + 1 times
                    missing.append(i)
                    watch(i, "lost")
                    continue
                watch(i, "done")
    except BaseException:
        _cancel(ray, waiting)
        raise
    if missing:
        raise TaskError(f"Ray workers died on {', '.join(labels[i] for i in sorted(missing))} "
                        f"({RETRIES + 1} tries each); they are missing, so the run stopped "
                        "without a result")
    return [results[i] for i in range(len(items))]


def _cancel(ray: Any, refs: list[Any]) -> None:
    """Stop the tasks still running: an interrupt first (so they stop their child programs),
    then a forced cancel (their worker processes end) for those still there after a grace."""
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001, S110 - already finished or gone
            pass
    deadline = time.monotonic() + GRACE_S + 3
    while refs and time.monotonic() < deadline:
        _, refs = ray.wait(refs, num_returns=len(refs), timeout=0.5)
    for ref in refs:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001, S110 - already finished or gone
            pass
