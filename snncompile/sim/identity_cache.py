"""A small cache of values derived from an object, keyed by the object's identity: what the
emulator remakes from a graph or an op on every run (weight tables, neuron constants) is made
once for the last few objects. The cache holds each object, so its id is not reused while its
entry lives; the values are only read."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class IdentityCache:
    """Up to `size` entries, the oldest dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[tuple, tuple[object, Any]] = {}

    def get(self, obj: object, make: Callable[[], Any], extra: Hashable = ()) -> Any:
        """The value made for `obj` (and `extra`, what else it depends on), made by `make`
        when absent."""
        key = (id(obj), extra)
        hit = self._entries.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = make()
        while len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (obj, value)
        return value
