"""The HDF5 guard's child hands what it read to the parent, so a model file's weights are
inflated once (in the child, which a damaged file may crash or hang), not twice: numeric
datasets go into a memory file (memfd) the parent maps read-only (nobody else can write it once
the child is gone, so ops share those arrays: snncompile.ir.op.SealedMemory), names and text go
through the guard's pipe as JSON. The parent gets the tree nir's `hdf2dict` makes."""

from __future__ import annotations

import mmap
import os
from typing import Any

import numpy as np

from snncompile.frontends.hdf5_inflate import inflate_into
from snncompile.ir.op import SealedMemory

ALIGN = 64  # each array starts on a cache line, so the parent's views are aligned
NUMERIC = "biufcS"  # numpy kinds stored raw (S: fixed-length bytes)
POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # map every page at once, not one fault each


class HandoverRefused(Exception):
    """A dataset the hand-over cannot carry (becomes the guard's refusal)."""


def memory_file() -> int:
    """An anonymous file for the arrays, made before the fork so both processes hold it."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("snncompile-hdf5", os.MFD_CLOEXEC)
    import tempfile

    return os.dup(tempfile.TemporaryFile().fileno())  # pragma: no cover - not Linux


def pack(datasets: list[tuple[str, Any]], fd: int) -> dict:
    """Child side: read every (path, dataset) the guard checked and return the index the parent
    rebuilds the tree from; numeric data is read straight into `fd`."""
    layout, total = [], 0
    for path, dset in datasets:
        if dset.shape is not None and dset.dtype.kind in NUMERIC and not (
                dset.dtype.kind == "S" and dset.ndim == 0):
            nbytes = int(np.prod(dset.shape, dtype=np.int64)) * dset.dtype.itemsize
            layout.append((path, dset, total, nbytes))
            total += -(-nbytes // ALIGN) * ALIGN
        else:
            layout.append((path, dset, None, 0))
    os.ftruncate(fd, total)
    memory = mmap.mmap(fd, total, flags=mmap.MAP_SHARED | POPULATE) if total else None
    entries = []
    for path, dset, offset, nbytes in layout:
        entry: dict[str, Any] = {"path": path}
        if offset is None:
            entry.update(_small(path, dset))
        else:
            entry.update(offset=offset, dtype=dset.dtype.str, shape=list(dset.shape))
            target = np.frombuffer(memory, dset.dtype, nbytes // dset.dtype.itemsize,
                                   offset).reshape(dset.shape)
            if not dset.ndim:
                target[...] = dset[()]
            elif nbytes and not inflate_into(dset, target):
                dset.read_direct(target)
            del target
        entries.append(entry)
    if memory is not None:
        memory.close()
    return {"size": total, "datasets": entries}


def _small(path: str, dset: Any) -> dict:
    """A dataset that is not a numeric array: text (a name, an edge list) or HDF5's empty."""
    import h5py

    if dset.shape is None:
        return {"empty": dset.dtype.str}
    value = dset[()]
    if isinstance(value, (bytes, str)):
        return {"text": _text(value, path)}
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        items = value.ravel().tolist()
        if all(isinstance(v, bytes) for v in items):
            return {"bytes": [_text(v, path) for v in items], "shape": list(value.shape)}
        if all(isinstance(v, str) for v in items):
            return {"strings": items, "shape": list(value.shape)}
    kind = h5py.check_string_dtype(dset.dtype)
    raise HandoverRefused(f"dataset {path} holds {kind or dset.dtype}, not numbers or text")


def _text(value: bytes | str, where: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf8")
    except UnicodeDecodeError:
        raise HandoverRefused(f"dataset {where} holds bytes that are not UTF-8 text") from None


def unpack(index: dict, fd: int) -> dict:
    """Parent side: the file's tree as nested dicts (groups) of arrays, numpy scalars and str,
    as nir's `hdf2dict` reads it; the arrays are read-only views of the memory file, mapped
    whole (MAP_POPULATE: a page-by-page copy cost 1 s of page faults for 268 MB)."""
    size = int(index["size"])
    if os.fstat(fd).st_size != size:
        raise ValueError("the HDF5 reader's hand-over is incomplete")
    memory = SealedMemory(fd, size, flags=mmap.MAP_SHARED | POPULATE,
                          prot=mmap.PROT_READ) if size else None
    tree: dict = {}
    for entry in index["datasets"]:
        *groups, name = entry["path"].strip("/").split("/")
        node = tree
        for group in groups:
            node = node.setdefault(group, {})
        node[name] = _value(entry, memory)
    return tree


def _value(entry: dict, memory: SealedMemory | None) -> Any:
    if "offset" in entry:
        dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if not count or memory is None:
            array = np.zeros(shape, dtype)
            array.setflags(write=False)
            return array
        array = np.frombuffer(memory, dtype, count, int(entry["offset"])).reshape(shape)
        return array[()] if not shape else array
    if "text" in entry:
        return entry["text"]
    if "empty" in entry:
        import h5py

        return h5py.Empty(np.dtype(entry["empty"]))
    items = ([v.encode("utf8") for v in entry["bytes"]] if "bytes" in entry
             else entry["strings"])
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(entry["shape"])
