"""snncompile: compile trained spiking neural networks to neuromorphic hardware and verify them.

`snncompile.compile(model, target=..., input_shape=...)` compiles a model held in memory or a file
(snncompile.compiled); it is imported on first use, so `import snncompile` stays fast.
"""

from typing import Any

from snncompile.version import __version__

__all__ = ["Compiled", "__version__", "compile"]


def __getattr__(name: str) -> Any:
    if name in ("compile", "Compiled"):
        from snncompile import compiled

        return getattr(compiled, name)
    raise AttributeError(f"module 'snncompile' has no attribute {name!r}")
