"""Ctrl-C and kill: snncompile stops what it started and exits as shells expect (130 for SIGINT,
143 for SIGTERM). Child programs are stopped by snncompile.children as the exception passes."""

from __future__ import annotations

import signal

EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same clean-up runs."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def install() -> None:
    """SIGINT raises KeyboardInterrupt (Python's default, restored if a library changed it);
    SIGTERM raises Terminated."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)


def exit_code(exc: BaseException) -> int:
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
