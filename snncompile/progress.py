"""Named stages of long work (a compile pass, the Lava run, an RTL simulation), and notices of
choices made for the user (a reset mode a file does not state), reported to whoever listens: the
command line shows them on stderr. Without a listener stages are silent and a notice is a
Python warning (AssumptionNotice), which notebooks show.

A stage is a context manager (or a decorator); listeners get start(name), end(name, seconds)
and notice(text), and, where they have it, count(name, done, total, note): how far a job cut
into tasks (sharded samples, snncompile.shard) has come.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol


class Listener(Protocol):
    def start(self, name: str) -> None: ...

    def end(self, name: str, seconds: float) -> None: ...

    def notice(self, text: str) -> None: ...


class AssumptionNotice(UserWarning):
    """snncompile chose something the model file does not say (one sentence naming the file)."""


_listener: ContextVar[Listener | None] = ContextVar("snncompile_progress", default=None)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Report the work inside the `with` block as the stage `name`."""
    listener = _listener.get()
    if listener is None:
        yield
        return
    listener.start(name)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        listener.end(name, time.perf_counter() - t0)


def staged(name: str) -> Callable:
    """Decorator form of `stage`: every call of the function is one stage."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with stage(name):
                return fn(*args, **kwargs)
        return inner
    return wrap


def count(name: str, done: int, total: int, note: str = "") -> None:
    """Tell the listener that `done` of `total` units of `name` are finished (note: e.g.
    retries); silent without a listener."""
    listener = _listener.get()
    if listener is not None and hasattr(listener, "count"):
        listener.count(name, done, total, note)


def notice(text: str) -> None:
    """Tell the user about a choice made for them (to the listener, else as a warning)."""
    listener = _listener.get()
    if listener is None:
        warnings.warn(text, AssumptionNotice, stacklevel=2)
    else:
        listener.notice(text)


@contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send the stages that run inside the block to `listener` (None: to nobody)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
