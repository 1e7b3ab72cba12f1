"""Make lava-nc 0.10.0 run on Python 3.11 and numpy 2 without touching site-packages.

lava-nc 0.10.0 (the only Lava on PyPI) declares Python < 3.11 and numpy < 2. A few lines of it
break here; `install()` adds an import hook that rewrites exactly those lines in the source of
their modules as they are imported (everything else loads untouched, nothing on disk changes):

1. `lava.magma.compiler.var_model` (Python 3.11): `dataclasses` refuses the unhashable class
   `ByteEncoder` as a field default (`ValueError: mutable default <class 'ByteEncoder'>`);
   declaring it `@dataclass(frozen=True)` makes it hashable.
2. `lava.magma.core.process.ports.ports` (numpy >= 2.1): `ReshapePort` calls
   `np.reshape(..., newshape=...)`, a keyword numpy 2.1 renamed to `shape` (and 2.4 removed), so
   every reshaped or flattened port fails.
3. `lava.proc.conv.models` (numpy 2): the Conv model stores kernel size, stride, padding, dilation
   and groups as int8, and under numpy 2's promotion rules (NEP 50) `200 + 2 * padding` overflows
   int8 for inputs of 128 pixels or more; numpy 1 computed it in int64. Storing them as int64
   restores numpy 1's results (all are small integers, so no value changes).
4. `lava.magma.runtime.message_infrastructure.multiprocessing` (any Python): at import it calls
   `mp.set_start_method('fork')`, which raises "context has already been set" in a process where
   anything has used multiprocessing before (a test session, a notebook). Passing `force=True`
   sets the same 'fork' method Lava needs without that failure.

Each rewrite checks that the line it replaces is present, so another Lava version fails loudly
instead of being patched blindly. This file is also copied into every loihi2 build folder, so
the generated program runs without snncompile installed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

# lava-nc 0.10.0 declares Python < 3.11 and numpy < 2, so pip installs it only without its
# metadata's pins; the [lava] extra brings its runtime needs (README, docs/loihi2.md)
INSTALL_HINT = ('install it with `pip install "snncompile[lava]" && pip install --no-deps '
                '--ignore-requires-python lava-nc==0.10.0`')


def _numpy_at_least(major: int, minor: int) -> bool:
    import numpy

    return tuple(int(p) for p in numpy.__version__.split(".")[:2]) >= (major, minor)


def _conv_int8_fields() -> list[tuple[str, str]]:
    fields = ("kernel_size", "stride", "padding", "dilation", "groups")
    old = "{}: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=8)"
    new = "{}: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=8)"
    return [(old.format(f), new.format(f)) for f in fields]


def _fixes() -> dict[str, list[tuple[str, str]]]:
    """module -> [(source text, replacement)] needed by this Python and numpy."""
    fixes: dict[str, list[tuple[str, str]]] = {}
    fixes["lava.magma.compiler.var_model"] = [  # harmless before 3.11, needed from 3.11
        ("@dataclass\nclass ByteEncoder:", "@dataclass(frozen=True)\nclass ByteEncoder:")]
    fixes["lava.magma.runtime.message_infrastructure.multiprocessing"] = [
        ("mp.set_start_method('fork')", "mp.set_start_method('fork', force=True)")]
    if _numpy_at_least(2, 1):
        fixes["lava.magma.core.process.ports.ports"] = [
            ("ft.partial(np.reshape, newshape=self.shape)",
             "ft.partial(np.reshape, shape=self.shape)"),
            ("ft.partial(np.reshape, newshape=self.old_shape)",
             "ft.partial(np.reshape, shape=self.old_shape)")]
    if _numpy_at_least(2, 0):
        fixes["lava.proc.conv.models"] = _conv_int8_fields()
    return fixes


class _FixedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module's source with its listed lines replaced; compiles from source, never from
    a stale .pyc."""

    def __init__(self, fullname: str, path: str, replacements: list[tuple[str, str]]):
        super().__init__(fullname, path)
        self.replacements = replacements

    def get_data(self, path: str) -> bytes:
        data = super().get_data(path)
        if not path.endswith(".py"):
            return data
        source = data.decode("utf-8")
        for old, new in self.replacements:
            if old not in source:
                raise ImportError(f"{path}: expected lava-nc 0.10.0's line {old!r}; this Lava "
                                  "version needs different fixes (see snncompile/lava_compat.py)")
            source = source.replace(old, new)
        return source.encode("utf-8")

    def get_code(self, fullname: str):
        return compile(self.get_data(self.path), self.path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, fixes: dict[str, list[tuple[str, str]]]):
        self.fixes = fixes

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.fixes:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            spec.loader = _FixedSourceLoader(fullname, spec.origin, self.fixes[fullname])
        return spec


def install() -> None:
    """Add the hook (idempotent). Must run before anything imports lava."""
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    fixes = _fixes()
    if fixes:
        sys.meta_path.insert(0, _Finder(fixes))


def require_lava():
    """Install the hook and import lava's process API, or say in one sentence how to get it."""
    install()
    try:
        import lava.magma.core.run_configs
    except ImportError as exc:
        from snncompile.errors import SnnCompileError

        raise SnnCompileError(f"Lava (lava-nc 0.10.0) is not importable ({exc}); {INSTALL_HINT}"
                              ) from None
    import lava

    return lava
