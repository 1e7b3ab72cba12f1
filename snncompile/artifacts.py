"""Build folders: written whole or not at all, described by manifest.json, read back by `run`."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from snncompile import __version__
from snncompile.errors import SnnCompileError

MANIFEST = "manifest.json"


@contextlib.contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; on success it replaces `out`, on failure it vanishes.

    An existing `out` is replaced only if it is empty or an earlier snncompile build, so a typo
    in -o never deletes someone's files.
    """
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MANIFEST).exists())):
        raise SnnCompileError(
            f"{out} exists and is not an snncompile build folder; choose another -o or remove it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def write_manifest(folder: Path, **fields: Any) -> None:
    manifest = {"snncompile": __version__, **fields}
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise SnnCompileError(f"{folder} is not a build folder (no {MANIFEST}); compile a model into it first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SnnCompileError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
