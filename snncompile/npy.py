"""Reading and writing the user's .npy files: plain numeric arrays only (never unpickled), written
whole or not at all, every failure one sentence naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from snncompile.errors import InputError, SnnCompileError
from snncompile.limits import require


def load_array(path: str | Path, what: str) -> np.ndarray:
    """np.load of a plain numeric .npy (never unpickles), with a one-sentence error naming the
    file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise InputError(f"{what} file {path} is not a .npy file (save arrays with "
                                 "numpy.save)")
            _check_header(f, path, what)
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{what} file {path} does not exist") from None
    except ValueError as exc:  # object arrays without allow_pickle, or data cut short
        if "allow_pickle" not in str(exc):
            raise InputError(f"{what} file {path} is cut short: it holds fewer entries than "
                             "its header declares") from None
        raise InputError(f"{what} file {path} holds Python objects, not a numeric array; "
                         "snncompile does not unpickle inputs") from None
    except OSError as exc:
        raise InputError(f"{what} file {path} cannot be read ({exc.strerror or exc})") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or np.iscomplexobj(array):  # a cast to float would drop the imaginary parts
        raise InputError(f"{what} file {path} has dtype {array.dtype}; expected real numbers")
    return array


def _check_header(f: BinaryIO, path: Path, what: str) -> None:
    """The declared shape, against the input budget, before numpy allocates it (a 100-byte file
    can declare 10^15 entries)."""
    f.seek(0)
    try:
        fmt = np.lib.format
        read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else \
            fmt.read_array_header_2_0
        shape, _, _ = read(f, max_header_size=10_000)
    except (ValueError, SyntaxError, OverflowError) as exc:
        raise InputError(f"{what} file {path} has a damaged .npy header ({exc})") from None
    entries = 1
    for d in shape:
        entries *= int(d)
    require("input_entries", entries, f"{what} file {path}: shape {tuple(shape)}")


def save_array(path: str | Path, array: np.ndarray, what: str) -> None:
    """Write a .npy whole or not at all (temporary file, then rename), errors as one sentence."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.npy")
    try:
        np.save(tmp, array)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SnnCompileError(f"cannot write {what} file {path} ({exc.strerror or exc})") from None
