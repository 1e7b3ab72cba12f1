"""Gzip'd HDF5 datasets inflated by libdeflate (the `deflate` package), chunk by chunk, in the
HDF5 guard's child: HDF5's own deflate filter (zlib) took 1.0-1.9 s of the 33M-weight NIR file,
libdeflate 0.25-0.35 s. Only the plain layout is taken: chunked, deflate as the one filter, every
chunk written, native byte order, numbers; anything else, and any chunk that does not inflate to
its exact size, is read by HDF5 as before (same errors, same time budget)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

MAX_CHUNK_BYTES = 64 << 20  # a larger declared chunk is HDF5's to read (bounded by its budget)


def inflate_into(dset: Any, target: np.ndarray) -> bool:
    """Fill `target` (dset's shape and dtype, C order) from dset's chunks; False, with target
    untouched or partly written, if the dataset is not of the plain layout (HDF5 reads it)."""
    try:
        import deflate
    except ImportError:  # pragma: no cover - a dependency; HDF5 still reads everything
        return False
    if not _plain(dset):
        return False
    chunks, itemsize = tuple(dset.chunks), dset.dtype.itemsize
    chunk_bytes = int(np.prod(chunks, dtype=np.int64)) * itemsize
    grid = [range(0, n, c) for n, c in zip(dset.shape, chunks)]
    if dset.id.get_num_chunks() != int(np.prod([len(g) for g in grid], dtype=np.int64)):
        return False  # unwritten chunks hold the fill value: HDF5 knows it
    for corner in itertools.product(*grid):
        mask, raw = dset.id.read_direct_chunk(corner)
        if mask & 1:  # the filter was skipped for this chunk: stored as is
            data = raw
        else:
            try:
                data = deflate.zlib_decompress(raw, chunk_bytes)
            except deflate.DeflateError:
                return False
        if len(data) != chunk_bytes:
            return False
        block = np.frombuffer(data, dset.dtype).reshape(chunks)
        ends = [min(c, n - a) for a, c, n in zip(corner, chunks, dset.shape)]
        target[tuple(slice(a, a + e) for a, e in zip(corner, ends))] = \
            block[tuple(slice(0, e) for e in ends)]
    return True


def _plain(dset: Any) -> bool:
    import h5py

    if dset.chunks is None or not dset.ndim or dset.dtype.kind not in "iuf":
        return False
    if not dset.dtype.isnative:
        return False
    if int(np.prod(dset.chunks, dtype=np.int64)) * dset.dtype.itemsize > MAX_CHUNK_BYTES:
        return False
    plist = dset.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    return filters == [h5py.h5z.FILTER_DEFLATE]
