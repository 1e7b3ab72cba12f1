"""Build folders: written whole or not at all, replacing only an earlier build, described by a
manifest.json that records a hash of every file (snncompile.build_check reads it back)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from snncompile.errors import SnnCompileError
from snncompile.version import __version__

MANIFEST = "manifest.json"
_TEMP = "snncompile-tmp"  # hidden siblings of -o: .<name>.snncompile-tmp-<pid>-<random>


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_files(folder: Path) -> list[str]:
    """Every entry below `folder` except the manifest, as sorted relative POSIX paths (folders
    end in "/", so an empty folder or a symbolic link is still seen)."""
    folder = Path(folder)
    names = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel == MANIFEST:
            continue
        names.append(rel + "/" if path.is_dir() and not path.is_symlink() else rel)
    return names


def _owner_alive(name: str, prefix: str) -> bool:
    """Whether the process that made the temporary folder `name` still runs."""
    try:
        pid = int(name[len(prefix):].split("-")[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_leftovers(out: Path) -> list[Path]:
    """Remove the temporary folders beside `out` that a killed run (SIGKILL, power loss) left."""
    prefix = f".{out.name}.{_TEMP}-"
    removed = []
    if not out.parent.is_dir():
        return removed
    for entry in out.parent.iterdir():
        if entry.name.startswith(prefix) and not entry.is_symlink() and entry.is_dir() \
                and not _owner_alive(entry.name, prefix):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def is_build_folder(folder: Path) -> bool:
    """An earlier snncompile build: a manifest naming snncompile with a hash for each file, and
    nothing else in the folder (so a file a user put there is never deleted by a rebuild)."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or "snncompile" not in manifest:
        return False
    hashes = manifest.get("hashes")
    if not isinstance(hashes, dict):
        return False
    listed = set(hashes) | {name.rstrip("/") + "/" for name in manifest.get("folders", [])}
    return set(folder_files(folder)) <= listed


def check_replaceable(out: Path, inputs: Iterable[Path] = ()) -> None:
    """Refuse an -o that snncompile must not replace, with one sentence saying why."""
    if out.is_symlink():
        raise SnnCompileError(f"-o {out} is a symbolic link; name a real folder for the build")
    target = out.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise SnnCompileError(f"-o {out} is the working directory or holds it; name a new "
                              "folder for the build, e.g. -o build")
    for path in inputs:
        resolved = Path(path).resolve()
        if resolved == target or target in resolved.parents:
            raise SnnCompileError(f"{path} lies inside -o {out}, which the build would replace; "
                                  "move it or choose another -o")
    if not out.exists():
        return
    if not out.is_dir():
        raise SnnCompileError(f"-o {out} is a file, not a folder; choose another -o")
    if any(out.iterdir()) and not is_build_folder(out):
        raise SnnCompileError(f"-o {out} exists and is not an snncompile build folder (or holds "
                              "files the build did not write); choose another -o or remove it")


def refuse_overwrite(out: Path, inputs: Iterable[Path | None], option: str = "-o") -> None:
    """An output file must not be one of the command's inputs (or the build folder it reads)."""
    target = Path(out).resolve()
    for path in inputs:
        if path is not None and (Path(path).resolve() == target
                                 or Path(path).resolve() in target.parents):
            raise SnnCompileError(f"{option} {out} is (or lies inside) the input {path}; write "
                                  "the output somewhere else")


@contextlib.contextmanager
def atomic_dir(out: Path, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; on success it replaces `out`, on failure it vanishes.

    An existing `out` is replaced only if it is empty or an earlier snncompile build that holds
    none of `inputs` (the files being compiled). The old build is moved aside first and deleted
    only once the new one is in place; folders a killed run left are removed on the next run.
    """
    out = Path(out)
    check_replaceable(out, inputs)
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{_TEMP}-{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        raise SnnCompileError(f"-o {out}: cannot create the build folder there "
                              f"({exc.strerror or exc})") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, out)


def _swap_in(new: Path, out: Path) -> None:
    """Rename `new` to `out`, keeping the old `out` until the new one is there."""
    old = None
    try:
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.{_TEMP}-{os.getpid()}-old-",
                                        dir=out.parent))
            out.rename(old / "build")
        new.rename(out)
    except OSError as exc:
        if old is not None and (old / "build").exists() and not out.exists():
            (old / "build").rename(out)
        shutil.rmtree(new, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise SnnCompileError(f"cannot put the build in place at {out} "
                              f"({exc.strerror or exc}); the earlier build is unchanged") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's own content (all but this field), so hand edits are seen."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_manifest(folder: Path, **fields: Any) -> None:
    """manifest.json: `fields`, the sha256 of every file of the folder, and of itself."""
    folder = Path(folder)
    entries = folder_files(folder)
    manifest = {"snncompile": __version__, **fields,
                "folders": [e.rstrip("/") for e in entries if e.endswith("/")],
                "hashes": {e: sha256_file(folder / e) for e in entries if not e.endswith("/")}}
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
