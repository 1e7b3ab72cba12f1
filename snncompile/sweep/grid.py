"""The grid a sweep walks: one axis per compile option that changes what the chip computes or
holds, each with its command-line flag, its values as words and its default values.

An axis is a keyword of `api.build` (tests/test_sweep.py checks that every quantization keyword
has one). Options left out, and why: the fpga `decay` datapath computes the same integers (only
FPGA resources differ, which a sweep does not measure); the placement has no user option (one
deterministic placement per compile, whose cores a point reports).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from snncompile.errors import SnnCompileError

MAX_POINTS = 256  # a grid larger than this is a typo more often than a plan

SWITCH_WORDS = {"off": False, "on": True}


@dataclasses.dataclass(frozen=True)
class Axis:
    """One swept option: `flag` on the command line, `column` in the table, `parse` one word
    to a value, `word` a value back to its word, `defaults` the values swept without the flag."""

    flag: str
    column: str  # its heading in the sweep's table
    parse: Callable[[str], Any]
    word: Callable[[Any], str]
    defaults: tuple[Any, ...]
    means: str


def _whole(word: str) -> int:
    if not word.isdigit():
        raise ValueError(word)
    return int(word)


def _switch(word: str) -> bool:
    return SWITCH_WORDS[word.lower()]


AXES: dict[str, Axis] = {
    "weight_bits": Axis("--weight-bits", "bits", _whole, str, (2, 4, 6, 8),
                        "whole numbers of weight bits, e.g. 2,4,6,8"),
    "weight_split": Axis("--weight-split", "split", _switch, lambda v: "on" if v else "off",
                         (False, True), "off and on (a finer twin per Dense or not)"),
}


def parse_axis(name: str, text: str | Sequence[Any] | None) -> tuple[Any, ...]:
    """The values of axis `name` from a comma-separated string (or values already parsed;
    None: the defaults), in the order given; a bad word, a repeat or an empty list is one
    sentence naming the flag."""
    axis = AXES[name]
    if text is None:
        return axis.defaults
    if isinstance(text, str):
        words = [w.strip() for w in text.split(",")]
        try:
            values = tuple(axis.parse(w) for w in words)
        except (ValueError, KeyError):
            raise SnnCompileError(f"{axis.flag} takes a comma-separated list of {axis.means}, "
                                  f"got {text!r}") from None
    else:
        values = tuple(text)
        words = [axis.word(v) for v in values]
    if not values:
        raise SnnCompileError(f"{axis.flag} needs at least one value ({axis.means})")
    repeated = sorted({w for w in words if words.count(w) > 1})
    if repeated:
        raise SnnCompileError(f"{axis.flag} lists {', '.join(repeated)} more than once")
    return values


def points(axes: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis slowest, as keyword dicts."""
    names = list(axes)
    grid = [dict(zip(names, values)) for values in itertools.product(*axes.values())]
    if len(grid) > MAX_POINTS:
        raise SnnCompileError(f"the grid has {len(grid)} points, over the limit of "
                              f"{MAX_POINTS}; give fewer values per axis")
    return grid


def label(point: dict[str, Any]) -> str:
    """'weight_bits=4 weight_split=on', the words that name a point in errors and tables."""
    return " ".join(f"{name}={AXES[name].word(value)}" for name, value in point.items())
