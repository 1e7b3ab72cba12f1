"""Progress of the library's stages (snncompile.progress) on stderr: a live list of the running
stages with their elapsed time on a terminal, nothing when stderr is not a terminal, under -q or
with CI set, and with -v one line per finished stage (also when not on a terminal). Notices
(`notice: ...`) are printed unless -q."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import click

from snncompile import progress


def _interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


class Display:
    """A progress.Listener: rich's live display (bar) and/or a line per finished stage (verbose)."""

    def __init__(self, bar: bool, verbose: bool, quiet: bool = False):
        self.verbose, self.quiet, self.depth, self.tasks = verbose, quiet, 0, []
        self.counters: dict[str, Any] = {}
        self.live = None
        if bar:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=Console(stderr=True),
                                 transient=True)

    def start(self, name: str) -> None:
        if self.live is not None:
            self.tasks.append(self.live.add_task("  " * self.depth + name, total=None))
        self.depth += 1

    def end(self, name: str, seconds: float) -> None:
        self.depth -= 1
        if self.live is not None and self.tasks:
            self.live.remove_task(self.tasks.pop())
        if self.verbose:
            self._line(f"{'  ' * self.depth}{name}: {seconds:.2f} s")

    def count(self, name: str, done: int, total: int, note: str) -> None:
        """One live line per counter ("samples 120/360 done, ..."), gone when all are done."""
        if self.live is None:
            return
        text = f"{'  ' * self.depth}{name} {done}/{total} done" + (f", {note}" if note else "")
        if name not in self.counters:
            self.counters[name] = self.live.add_task(text, total=None)
        self.live.update(self.counters[name], description=text)
        if done >= total:
            self.live.remove_task(self.counters.pop(name))

    def notice(self, text: str) -> None:
        if not self.quiet:
            self._line(f"notice: {text}")

    def _line(self, line: str) -> None:
        if self.live is not None:
            self.live.console.print(line, highlight=False, markup=False)
        else:
            click.echo(line, err=True)


@contextmanager
def shown(quiet: bool, verbose: bool) -> Iterator[Display]:
    """Show the stages of the work inside the block as the flags and the terminal ask."""
    bar, verbose = not quiet and _interactive(), verbose and not quiet
    display = Display(bar, verbose, quiet)
    with progress.listening(display):
        if display.live is None:
            yield display
        else:
            with display.live:
                yield display


@contextmanager
def phases() -> Iterator[Callable[[str], None]]:
    """A `progress(name)` callback (the report's) whose every call ends the phase before and
    starts the stage `name`."""
    with ExitStack() as outer:
        current: list[ExitStack] = []

        def step(name: str) -> None:
            if current:
                current.pop().close()
            inner = ExitStack()
            inner.enter_context(progress.stage(name))
            current.append(inner)
            outer.callback(inner.close)

        yield step
