"""sim/numba_cache.py: one cache stamp over the contents of all kernel files, so a kernel that
inlines another file's jitted function is recompiled when that file changes."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

from snncompile.sim import numba_cache

# runs narrow_lif's kernel (it inlines a jitted function defined in another kernel file) and
# prints its locator, its stamp and numba's cache hits and misses
_RUN_KERNEL = """
import json, sys
import numpy as np
from snncompile.sim import narrow_lif, numba_cache
if sys.argv[1] == "other-stamp":
    numba_cache.kernel_set_stamp = lambda *args, **kwargs: "another kernel set"
kernel = narrow_lif._compiled()
steps, n, batch = 3, 2, 4
i32 = lambda *shape: np.zeros(shape, np.int32)
a = np.full((steps, n, batch), 100, np.int32)
out = np.zeros((steps, n, batch), np.int8)
counts = np.zeros(steps, np.int64)
p = np.full(n, 4096, np.int32)
kernel(a, i32(n, batch), i32(n, batch), i32(n, batch), p, p, np.full(n, 1000, np.int32), i32(n),
       0, 0, 0, 0, out, counts)
locator = kernel._cache._impl.locator
print(json.dumps({"locator": type(locator).__name__, "stamp": locator.get_source_stamp(),
                  "hits": sum(kernel.stats.cache_hits.values()),
                  "misses": sum(kernel.stats.cache_misses.values()),
                  "spikes": int(counts.sum())}))
"""


def _copy_kernel_files(tmp_path):
    for name in numba_cache.KERNEL_FILES:
        shutil.copy(os.path.join(numba_cache.SIM_DIR, name), tmp_path / name)
    return str(tmp_path)


def test_the_stamp_changes_with_the_content_of_any_kernel_file(tmp_path):
    folder = _copy_kernel_files(tmp_path)
    first = numba_cache.kernel_set_stamp(folder)
    assert numba_cache.kernel_set_stamp(folder) == first
    assert numba_cache.kernel_set_stamp() == first  # the package's files, same contents
    seen = {first}
    for name in numba_cache.KERNEL_FILES:
        path = tmp_path / name
        original = path.read_bytes()
        path.write_bytes(original + b"\n# an edit\n")
        changed = numba_cache.kernel_set_stamp(folder)
        assert changed not in seen, name
        seen.add(changed)
        path.write_bytes(original)
        os.utime(path, ns=(1, 1))  # a new mtime, the old contents: the old stamp
        assert numba_cache.kernel_set_stamp(folder) == first, name


def test_the_locators_serve_only_the_kernel_files():
    def f():
        return 0

    for locator in numba_cache.locators():
        assert locator.from_function(f, __file__) is None
        assert locator.from_function(f, os.path.join(numba_cache.SIM_DIR, "sparse.py")) is None


def test_every_sim_module_that_inlines_jitted_code_is_a_kernel_file():
    sim = pathlib.Path(numba_cache.SIM_DIR)
    inlining = {path.name for path in sim.glob("*.py")  # defines or uses inlined functions
                if re.search(r'inline="always"|int_lanes\.compiled\(\)', path.read_text())}
    assert inlining == set(numba_cache.KERNEL_FILES)


def _run_kernel(cache_dir, mode="plain"):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", _RUN_KERNEL, mode], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_kernels_load_from_the_cache_in_a_second_process_until_the_stamp_changes(tmp_path):
    first = _run_kernel(tmp_path)
    assert first["locator"] == "KernelSetUserProvidedCacheLocator"  # NUMBA_CACHE_DIR kept
    assert first["stamp"] == numba_cache.kernel_set_stamp()
    assert (first["hits"], first["misses"]) == (0, 1)
    assert first["spikes"] > 0
    second = _run_kernel(tmp_path)
    assert (second["hits"], second["misses"]) == (1, 0)
    assert second["spikes"] == first["spikes"]
    changed = _run_kernel(tmp_path, "other-stamp")  # as after an edit of any kernel file
    assert (changed["hits"], changed["misses"]) == (0, 1)


def test_every_kernel_is_cached_under_the_kernel_set_stamp():
    from snncompile.sim import (
        batched_steps,
        conv_scatter,
        graph_kernel,
        int_lanes,
        kernels,
        narrow_lif,
    )

    dispatchers = [*kernels._compiled(), graph_kernel._compiled(), batched_steps._compiled(),
                   narrow_lif._compiled(), *int_lanes.compiled()[:2], conv_scatter._conv_scatter,
                   conv_scatter._conv_scatter_planes, conv_scatter._add_taps,
                   conv_scatter._compiled_rows(), graph_kernel._atrlif_row, kernels._lif_row]
    for dispatcher in dispatchers:  # made, not compiled: their locators are chosen already
        locator = dispatcher._cache._impl.locator
        assert type(locator) in numba_cache.locators(), dispatcher.py_func.__name__
        assert locator.get_source_stamp() == numba_cache.kernel_set_stamp()
