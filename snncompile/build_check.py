"""Reading a build folder back: its manifest's schema and every file's sha256 are checked first,
so a damaged, truncated or hand-edited build is one sentence naming the file, never a traceback
from deep inside a back end."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from snncompile.artifacts import MANIFEST, manifest_digest, sha256_file
from snncompile.errors import SnnCompileError

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_MANIFEST_BYTES = 16 << 20


class BuildFolderError(SnnCompileError):
    """A build folder is missing, damaged or was edited after the build."""


def _shape(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2**31 for d in value)


def _str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items())


# field -> (check, what it must be): the fields every back end's `run` relies on
SCHEMA: dict[str, tuple[Any, str]] = {
    "snncompile": (lambda v: isinstance(v, str), "a version string"),
    "target": (lambda v: isinstance(v, str) and (v.isidentifier() or v.startswith("/")),
               "a target name or a target folder's absolute path (Target.ref)"),
    "input_shape": (_shape, "a list of positive integers"),
    "output_shape": (_shape, "a list of positive integers"),
    "dt": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
           "a positive number"),
    "files": (_str_map, "an object of file names"),
    "hashes": (lambda v: _str_map(v) and all(_HEX64.fullmatch(h) for h in v.values()),
               "an object of file names to sha256 hex digests"),
    "folders": (lambda v: isinstance(v, list) and all(isinstance(d, str) for d in v),
                "a list of folder names"),
    "manifest_sha256": (lambda v: isinstance(v, str) and bool(_HEX64.fullmatch(v)),
                        "a sha256 hex digest"),
}


def _inside(name: str) -> bool:
    """A relative path that stays inside the folder (no absolute path, no '..')."""
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _load(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if folder.is_symlink() or path.is_symlink():
        raise BuildFolderError(f"{path} is a symbolic link; a build folder holds real files")
    if not path.is_file():
        raise BuildFolderError(f"{folder} is not a build folder (no {MANIFEST}); compile a model "
                               "into it first")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BuildFolderError(f"{path} is {path.stat().st_size} bytes, more than a manifest "
                               f"can be ({MAX_MANIFEST_BYTES}); the build is damaged")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise BuildFolderError(f"{path} is not UTF-8 text; the build is damaged") from None
    except json.JSONDecodeError as exc:
        raise BuildFolderError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                               "the build is damaged, recompile it") from None
    except RecursionError:
        raise BuildFolderError(f"{path} nests too deeply to be a manifest") from None
    if not isinstance(manifest, dict):
        raise BuildFolderError(f"{path} holds a JSON {type(manifest).__name__}, not an object")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a build folder, checked (schema, every file's hash)."""
    return checked_manifest(Path(folder))


def checked_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of `folder` after checking its schema, its own digest, and that every listed
    file exists with the sha256 recorded at build time (files added later are ignored)."""
    folder = Path(folder)
    manifest = _load(folder)
    path = folder / MANIFEST
    if "hashes" not in manifest and "snncompile" in manifest:
        raise BuildFolderError(f"{path} has no file hashes (an older snncompile wrote it, or it "
                               "was edited); recompile the model into this folder")
    for key, (ok, what) in SCHEMA.items():
        if key not in manifest:
            raise BuildFolderError(f"{path} lacks the field {key!r}; the build is damaged or was "
                                   "edited, recompile it")
        if not ok(manifest[key]):
            raise BuildFolderError(f"{path}: field {key!r} must be {what}; the build is damaged "
                                   "or was edited, recompile it")
    if manifest_digest(manifest) != manifest["manifest_sha256"]:
        raise BuildFolderError(f"{path} was edited after the build (its content does not match "
                               "its manifest_sha256); recompile the model")
    hashes = manifest["hashes"]
    names = list(hashes) + list(manifest["files"].values()) + manifest["folders"]
    for name in names:
        if not _inside(name):
            raise BuildFolderError(f"{path} names {name!r}, a path outside the build folder")
    for name in manifest["files"].values():
        if name not in hashes and name not in manifest["folders"]:  # a folder's files are hashed
            raise BuildFolderError(f"{path} lists {name!r} without its hash; recompile the model")
    for name, digest in sorted(hashes.items()):
        file = folder / name
        if file.is_symlink() or not file.is_file():
            raise BuildFolderError(f"{file} is missing (or not a regular file); the build is "
                                   "damaged, recompile it")
        try:
            actual = sha256_file(file)
        except OSError as exc:
            raise BuildFolderError(f"{file} cannot be read ({exc.strerror or exc})") from None
        if actual != digest:
            raise BuildFolderError(f"{file} was changed after the build (its sha256 differs from "
                                   "the manifest's); recompile the model")
    return manifest
