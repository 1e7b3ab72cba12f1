"""The command line before click sees it: flags that may stand anywhere (`--debug`, `-q`, `-v`,
before or after the subcommand), `--ray` whose ADDRESS may be left out (`--ray MODEL` is not an
address), and a close misspelling of a command caught before it is taken for a model file
(`snncompile verfy` -> did you mean verify)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from pathlib import Path

ANYWHERE = {"--debug": "debug", "-q": "quiet", "--quiet": "quiet", "-v": "verbose",
            "--verbose": "verbose"}


@dataclasses.dataclass(frozen=True)
class GlobalFlags:
    debug: bool = False
    quiet: bool = False
    verbose: bool = False


def split_flags(args: list[str]) -> tuple[GlobalFlags, list[str]]:
    """Take the flags of ANYWHERE out of args wherever they stand (up to a `--`)."""
    found, rest = set(), []
    for i, arg in enumerate(args):
        if arg == "--":
            rest += args[i:]
            break
        if arg in ANYWHERE:
            found.add(ANYWHERE[arg])
        else:
            rest.append(arg)
    return GlobalFlags(**{name: True for name in found}), rest


def bare_ray(args: list[str], alone: str) -> list[str]:
    """`--ray` followed by no address (a model file, another option) becomes `--ray=<alone>`, so
    click does not take the next word for its value; an address has a colon (host:port,
    ray://host:port) or is Ray's `auto` or `local`."""
    out = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else None
        if arg == "--ray" and (following is None or not _is_address(following)):
            arg = f"--ray={alone}"
        out.append(arg)
    return out


def _is_address(word: str) -> bool:
    return ":" in word or word in ("auto", "local")


def misspelt_command(arg: str, commands: Iterable[str]) -> str | None:
    """The sentence for a first word that is no command and no file but close to a command."""
    if Path(arg).exists():
        return None
    close = difflib.get_close_matches(arg, sorted(commands), n=1, cutoff=0.6)
    if not close:
        return None
    return f"no such command {arg!r} (and no such model file); did you mean {close[0]!r}?"
