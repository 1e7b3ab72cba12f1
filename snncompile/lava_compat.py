"""Make lava-nc 0.10.0 importable on Python 3.11 without touching site-packages.

lava-nc 0.10.0 declares Python < 3.11. On 3.11 one thing breaks: `dataclasses` refuses an
unhashable class as a field default, and `lava/magma/compiler/var_model.py` uses the plain
`@dataclass class ByteEncoder` as one (`ValueError: mutable default <class 'ByteEncoder'>`).
Declaring it `@dataclass(frozen=True)` (hashable) is the whole fix. `install()` adds an import
hook that applies exactly that one-line change to that one module's source as it is imported;
everything else loads untouched. On other Python versions, or if Lava already imports, it does
nothing. This file is also copied into every loihi2 build folder so the generated program runs
without snncompile installed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

MODULE = "lava.magma.compiler.var_model"
BROKEN = "@dataclass\nclass ByteEncoder:"
FIXED = "@dataclass(frozen=True)\nclass ByteEncoder:"
INSTALL_HINT = "run `make setup` (scripts/setup.sh installs lava-nc 0.10.0 the way it needs)"


class _FixedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads var_model.py with ByteEncoder frozen; compiles from source, never from a stale .pyc."""

    def get_data(self, path: str) -> bytes:
        data = super().get_data(path)
        if not path.endswith(".py"):
            return data
        source = data.decode("utf-8")
        if BROKEN not in source:
            raise ImportError(f"{path}: expected lava-nc 0.10.0's ByteEncoder declaration; "
                              "this Lava version needs no fix or a different one")
        return source.replace(BROKEN, FIXED, 1).encode("utf-8")

    def get_code(self, fullname: str):
        return compile(self.get_data(self.path), self.path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            spec.loader = _FixedSourceLoader(fullname, spec.origin)
        return spec


def install() -> None:
    """Add the hook (idempotent). Must run before anything imports lava.magma."""
    if sys.version_info < (3, 11) or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())


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
