"""Front ends: read a model file into a Graph (nn level; hw for netx), chosen by the file's suffix
(loaded lazily). OPTIONS lists the options each takes, so one given to the wrong kind of file is an
error, not silently ignored."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from snncompile.errors import ModelLoadError
from snncompile.ir.graph import Graph
from snncompile.limits import require
from snncompile.progress import staged

LOADERS: dict[str, str] = {
    ".nir": "snncompile.frontends.nir:load",
    ".pt": "snncompile.frontends.torch_file:load",
    ".pth": "snncompile.frontends.torch_file:load",
    ".net": "snncompile.frontends.netx:load",
    ".onnx": "snncompile.frontends.onnx:load",
}
_TORCH = ("input_shape", "dt", "trust_pickle")
OPTIONS: dict[str, tuple[str, ...]] = {
    ".nir": ("dt", "reset", "reset_timing"),
    ".pt": _TORCH,
    ".pth": _TORCH,
    ".net": ("reset_interval",),
    ".onnx": ("calibration", "percentile", "max_pool", "onnx_mode"),
}


@staged("read the model")
def load_model(path: str | Path, **options: Any) -> Graph:
    """Read `path` with the front end registered for its suffix (options go to that front end)."""
    path = Path(path)
    known = ", ".join(sorted(LOADERS))
    suffix = path.suffix.lower()
    if suffix not in LOADERS:
        raise ModelLoadError(f"{path}: unknown model file type {path.suffix or '(no suffix)'!r} "
                             f"(known: {known})")
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file (known types: {known})")
    wrong = sorted(set(options) - set(OPTIONS[suffix]))
    if wrong:
        takes = ", ".join(OPTIONS[suffix]) or "none"
        raise ModelLoadError(f"{path}: option {', '.join(wrong)} does not apply to {suffix} files "
                             f"(they take: {takes})")
    dt = options.get("dt")
    if dt is not None and not (isinstance(dt, (int, float)) and 0 < dt < float("inf")):
        raise ModelLoadError(f"{path}: dt must be a positive, finite number of seconds, got {dt}")
    require("model_bytes", path.stat().st_size, f"{path}")  # before the front end reads it
    module, function = LOADERS[suffix].split(":")
    return getattr(importlib.import_module(module), function)(path, **options)
