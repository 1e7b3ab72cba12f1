"""One numba cache key for all of the emulator's kernel files.

numba's on-disk cache (`cache=True`) keeps a compiled function until the content of the file
defining it changes; a kernel that inlines a jitted function from another file keeps running
the old copy after that other file changes. The locators here serve the functions of the kernel
files (KERNEL_FILES, beside this module) and stamp each with a hash of the contents of all those
files together, so an edit to any kernel file renews every kernel's cache entry. numba's choice
of cache directory is kept: each locator subclasses one of numba's (user-provided NUMBA_CACHE_DIR,
the in-tree __pycache__, the user-wide cache), tried in numba's order.
"""

from __future__ import annotations

import functools
import hashlib
import os

SIM_DIR = os.path.dirname(os.path.abspath(__file__))
# every sim module whose jitted functions inline another module's (or are inlined by one)
KERNEL_FILES = ("int_lanes.py", "kernels.py", "graph_kernel.py", "conv_scatter.py",
                "batched_steps.py", "narrow_lif.py")


def kernel_set_stamp(folder: str = SIM_DIR, files: tuple[str, ...] = KERNEL_FILES) -> str:
    """The sha256 of the kernel files' names and contents in `folder`, taken together."""
    stats = tuple((name, os.stat(os.path.join(folder, name))) for name in files)
    return _hash_files(folder, tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats))


@functools.cache
def _hash_files(folder: str, keyed: tuple[tuple[str, int, int], ...]) -> str:
    """Hashed again only when a file's mtime or size changes (numba's own memo does the same)."""
    digest = hashlib.sha256()
    for name, _, _ in keyed:
        with open(os.path.join(folder, name), "rb") as f:
            content = f.read()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def _is_kernel_file(py_file: str) -> bool:
    path = os.path.abspath(py_file)
    return os.path.dirname(path) == SIM_DIR and os.path.basename(path) in KERNEL_FILES


class _KernelSetStamp:
    """Mixin: the kernel files' joint stamp instead of the function's own file's; applies only
    to functions defined in a kernel file."""

    def get_source_stamp(self):
        return kernel_set_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _is_kernel_file(py_file):
            return None
        return super().from_function(py_func, py_file)  # type: ignore[misc]


@functools.cache
def locators() -> tuple[type, ...]:
    """The kernel-set locators, one per numba locator numba would try for a module's file, in
    numba's order."""
    from numba.core import caching

    bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
             caching.UserWideCacheLocator)
    return tuple(type(f"KernelSet{base.__name__}", (_KernelSetStamp, base), {})
                 for base in bases)


def install() -> None:
    """Put the kernel-set locators first in numba's list (once): call before jitting."""
    from numba.core.caching import CacheImpl

    ours = locators()
    if CacheImpl._locator_classes[:len(ours)] != list(ours):
        CacheImpl._locator_classes = [*ours, *CacheImpl._locator_classes]
