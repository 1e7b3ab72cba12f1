"""Where a report came from: tool versions, the date, hashes of the model and inputs, the command
line. The date lives only here: build folders stay byte-identical from run to run."""

from __future__ import annotations

import datetime
import hashlib
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

# Packages whose versions change what a report shows (the simulators the artefacts run on).
PACKAGES = ("numpy", "torch", "lava-nc", "lava-dl", "nir")


def file_sha256(path: str | Path) -> str:
    """sha256 of a model file, or of every file of a model folder in name order."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with f.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def array_sha256(x: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (C order): equal arrays, equal hashes."""
    x = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{x.dtype.str}{x.shape}".encode())
    h.update(x.tobytes())
    return h.hexdigest()


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed, when the report was written by the snncompile CLI; else the script."""
    argv = list(sys.argv if argv is None else argv)
    head = Path(argv[0]).name if argv else ""
    if head in ("snncompile", "__main__.py", "cli.py"):
        return shlex.join(["snncompile", *argv[1:]])
    return f"Python API call from {shlex.join(argv) or 'an interactive session'}"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def provenance_rows(model: Any, x: np.ndarray, x_note: str, labels: np.ndarray | None,
                    options: dict[str, Any], command: str | None = None,
                    now: datetime.datetime | None = None) -> list[dict[str, str]]:
    """The provenance table: what produced the page, on what, with which options."""
    from snncompile.version import __version__

    now = now or datetime.datetime.now(datetime.UTC)
    is_file = isinstance(model, (str, Path)) and Path(model).exists()
    rows = [
        ("snncompile", __version__),
        ("date (UTC)", now.strftime("%Y-%m-%d %H:%M:%S")),
        ("command line", command or command_line()),
        ("model", str(model) if is_file else f"in-memory {type(model).__name__}"),
        ("model sha256", file_sha256(model) if is_file else "- (not a file)"),
        ("input", f"{x_note}; shape {tuple(x.shape)}, dtype {x.dtype}"),
        ("input sha256", array_sha256(x)),
    ]
    if labels is not None:
        rows.append(("labels sha256", array_sha256(labels)))
    rows += [(k, str(v)) for k, v in options.items()]
    system = f"{platform.python_version()} on {platform.system()} {platform.machine()}"
    rows.append(("python", system))
    rows += [(name, v) for name in PACKAGES if (v := _version(name))]
    return [{"item": k, "value": v} for k, v in rows]
