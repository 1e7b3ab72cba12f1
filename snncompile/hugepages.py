"""Large arrays without transparent huge pages while compiling.

numpy asks Linux for huge pages (madvise) on every array of 4 MB or more; with the kernel's
default `defrag = madvise`, each first touch of such an array may stop to compact memory. A
compile makes a few short-lived arrays of a whole weight matrix (134 MB for a 4096 x 4096
layer), and on a busy machine that compaction was most of its time (sys 1.6 s of 2.3 s in the
33M-weight lowering). The emulator's long runs keep numpy's default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


@contextmanager
def without_huge_pages() -> Iterator[None]:
    """numpy's madvise(MADV_HUGEPAGE) switched off inside the block, restored after it (a no-op
    where numpy has no such switch)."""
    setter = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(setter, "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    before = setter(False)
    try:
        yield
    finally:
        setter(before)
