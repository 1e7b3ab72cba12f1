"""Readable, exact text of build artefacts for the golden tests: long lines wrapped at array
commas, HDF5 files (model.net) listed group by group with every attribute and dataset value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WIDTH = 100
MORE = "  | "  # starts each continuation of a wrapped line


def wrap(text: str, width: int = WIDTH) -> str:
    """Every line longer than `width` cut after ", " (or hard, if a piece is longer), the
    continuations starting with MORE; joining the pieces gives the line back."""
    out: list[str] = []
    for line in text.split("\n"):
        piece = ""
        for token in _tokens(line):
            if piece and len(piece) + len(token) > width:
                out.append(piece)
                piece = MORE
            piece += token
            while len(piece) > width:
                out.append(piece[:width])
                piece = MORE + piece[width:]
        out.append(piece)
    return "\n".join(out)


def _tokens(line: str) -> list[str]:
    parts = line.split(", ")
    return [p + ", " for p in parts[:-1]] + [parts[-1]]


def hdf5_text(path: Path) -> str:
    """Every group and dataset of an HDF5 file in creation order: attributes, then values."""
    import h5py

    lines: list[str] = []

    def attrs(obj) -> None:
        for key in sorted(obj.attrs):
            lines.append(f"  @{key} = {_value(obj.attrs[key])}")

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            lines.append(f"dataset /{name} {obj.dtype} {list(obj.shape)}")
            attrs(obj)
            lines.append(f"  = {_value(obj[()])}")
        else:
            lines.append(f"group /{name}")
            attrs(obj)

    with h5py.File(path, "r") as f:
        lines.append("group /")
        attrs(f)
        f.visititems(visit)
    return "\n".join(lines) + "\n"


def _value(value) -> str:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {list(value.shape)} {value.ravel().tolist()}"
    if isinstance(value, np.generic):
        return f"{value.dtype} {value.item()!r}"
    return repr(value)


def folder_text(folder: Path, names: list[str]) -> str:
    """The named files of a build folder as one text, each under a `=== name` header."""
    parts = []
    for name in names:
        path = folder / name
        if path.suffix == ".net":
            body = hdf5_text(path)
        elif name == "placement.json":  # without the partitioner's wall times
            placed = json.loads(path.read_text())
            placed["metrics"].pop("seconds", None)
            body = json.dumps(placed, indent=1, sort_keys=True) + "\n"
        else:
            body = path.read_text()
        parts.append(f"=== {name}\n{body}")
    return wrap("".join(parts))
