"""HDF5 model files (.nir, .net) are data: checked in a child process before the front end reads
them, so a file cannot make snncompile read other files of the machine (external links, virtual
datasets, external raw storage: `/etc/passwd`, `/proc/self/environ`, `/dev/zero` as "weights"),
loop through links, declare more data than the budget, or spin inside HDF5's C code, which
neither Ctrl-C nor Python's signal handlers can stop (the child is killed at the time budget or on
an interrupt). `read_hdf5` also hands the child's reading to the parent (frontends/hdf5_handover),
so the weights are inflated once."""

from __future__ import annotations

import json
import os
import select
import signal
import time
from pathlib import Path
from typing import Any

from snncompile.errors import ModelLoadError
from snncompile.limits import budget


class _Refused(Exception):
    """A reason the file is refused (becomes ModelLoadError in the parent)."""


def _dataset(path: str, dset: Any, total: list[int], max_bytes: int) -> None:
    import h5py

    if dset.is_virtual:
        raise _Refused(f"dataset {path} is a virtual dataset (it would read other files)")
    if dset.external:
        raise _Refused(f"dataset {path} keeps its data in an external file "
                       f"({dset.external[0][0]!r}), which snncompile does not read")
    if h5py.check_ref_dtype(dset.dtype) is not None or dset.dtype.kind in "V":
        raise _Refused(f"dataset {path} holds HDF5 references or compound records, not numbers")
    count = 1
    for d in dset.shape or ():
        count *= int(d)
    if count > budget("weights"):  # the largest array one layer may hold
        raise _Refused(f"dataset {path} declares shape {tuple(dset.shape)} ({count:,} values), "
                       f"over the budget of {budget('weights'):,.0f} stored weights of one layer "
                       "(SNNCOMPILE_MAX_WEIGHTS)")
    size = count * max(1, dset.dtype.itemsize)
    total[0] += size
    if size > max_bytes or total[0] > max_bytes:
        raise _Refused(f"dataset {path} declares shape {tuple(dset.shape)} ({size:,} bytes), over "
                       f"the budget of {max_bytes:,} bytes for a model file's data "
                       "(SNNCOMPILE_MAX_MODEL_BYTES)")


def _walk(group: Any, prefix: str, seen: set, datasets: list, total: list[int],
          max_bytes: int) -> None:
    """Check every link below `group` before reading any data."""
    import h5py

    addr = h5py.h5o.get_info(group.id).addr
    if addr in seen:
        raise _Refused(f"group {prefix or '/'} is reached twice (a link cycle)")
    seen.add(addr)
    for name in group:
        path = f"{prefix}/{name}"
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise _Refused(f"{path} is an external link to {link.filename!r}; snncompile reads "
                           "only the file it is given")
        if isinstance(link, h5py.SoftLink):
            raise _Refused(f"{path} is a soft link to {link.path!r}; model files hold no links")
        obj = group.get(name)
        if isinstance(obj, h5py.Group):
            _walk(obj, path, seen, datasets, total, max_bytes)
        elif isinstance(obj, h5py.Dataset):
            _dataset(path, obj, total, max_bytes)
            datasets.append((path, obj))
        else:
            raise _Refused(f"{path} is a {type(obj).__name__}, not a group or dataset")


def inspect(path: Path, max_bytes: int, data_fd: int | None = None) -> dict | None:
    """Raise _Refused if the file at `path` is not plain local data within `max_bytes`; then
    read every dataset and attribute once (what the front end will read, so it terminates).
    With `data_fd`, the datasets go there and the index to them is returned (hdf5_handover)."""
    import h5py

    from snncompile.frontends.hdf5_handover import HandoverRefused, pack

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _Refused(f"not-hdf5:{first}") from None
    with f:
        datasets: list = []
        _walk(f, "", set(), datasets, [0], max_bytes)
        index = None
        if data_fd is None:
            for _, dset in datasets:
                dset[()]
        else:
            try:
                index = pack(datasets, data_fd)
            except HandoverRefused as exc:
                raise _Refused(str(exc)) from None
        for _, dset in datasets:
            dict(dset.attrs)
        f.visit(lambda name: dict(f[name].attrs))
        dict(f.attrs)
        return index


def _child(path: Path, max_bytes: int, write_fd: int, data_fd: int | None) -> None:
    try:
        import resource

        limit = 4 * max_bytes + _vm_bytes()
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        message = {"ok": True, "index": inspect(path, max_bytes, data_fd)}
    except _Refused as exc:
        message = {"ok": False, "reason": str(exc)}
    except MemoryError:
        message = {"ok": False, "reason": "reading it needs more memory than its declared size"}
    except BaseException as exc:  # noqa: BLE001 - anything HDF5 raises is the file's fault
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        message = {"ok": False, "reason": f"HDF5 cannot read it ({first})"}
    encoded = json.dumps(message).encode()
    if not message["ok"]:
        encoded = encoded[:60000]
    try:
        view = memoryview(encoded)
        while view:
            view = view[os.write(write_fd, view):]
    finally:
        os._exit(0)


def _vm_bytes() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 1 << 34


def check_hdf5(path: Path, kind: str) -> None:
    """Refuse `path` (one sentence) unless a child process finds it plain local HDF5 data within
    the budgets; `kind` names the file type in the sentence ("NIR file")."""
    _guarded(path, kind, None)


def read_hdf5(path: Path, kind: str) -> dict:
    """check_hdf5, and the file's datasets as the child read them: nested dicts of read-only
    arrays, numpy scalars and str (what nir's `hdf2dict` gives), read once."""
    from snncompile.frontends.hdf5_handover import memory_file, unpack

    data_fd = memory_file()
    try:
        index = _guarded(path, kind, data_fd)
        return unpack(index, data_fd)
    finally:
        os.close(data_fd)


def _guarded(path: Path, kind: str, data_fd: int | None) -> Any:
    """Run the child on `path`; its index (read_hdf5) or a one-sentence ModelLoadError."""
    seconds, max_bytes = budget("read_seconds"), budget("model_bytes")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        _child(Path(path), int(max_bytes), write_fd, data_fd)
    os.close(write_fd)
    chunks: list[bytes] = []
    try:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModelLoadError(f"{path}: reading this {kind} took more than {seconds:g} s "
                                     "(a damaged HDF5 file; SNNCOMPILE_READ_SECONDS sets the "
                                     "budget)")
            ready, _, _ = select.select([read_fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    try:
        message = json.loads(b"".join(chunks).decode())
    except ValueError:
        raise ModelLoadError(f"{path}: HDF5 crashed while reading this {kind}") from None
    if not message["ok"] and message["reason"].startswith("not-hdf5:"):
        raise ModelLoadError(f"{path}: is not an HDF5 file, so not a readable {kind} "
                             f"({message['reason'][9:]})")
    if not message["ok"]:
        raise ModelLoadError(f"{path}: refused as a {kind}: {message['reason']}")
    return message.get("index")
