"""Test-only import of lava-dl's own netx (`import lava.lib.dl.netx` fails here).

`lava/lib/dl/slayer/__init__.py` imports `object_detection` (cv2, torchvision), which this
machine cannot import, and netx's hdf5.py needs `slayer.neuron.rf` from that package. We put an
empty module for the `lava.lib.dl.slayer` package itself into sys.modules, with the real
directory as its `__path__`, so its sub-packages import normally and only its `__init__` is
skipped (spec §4.6). Lava itself is made importable (Python 3.11, numpy 2) by
`snncompile.lava_compat` first.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def import_netx():
    """Return lava-dl's `lava.lib.dl.netx` package, importing it without slayer's __init__."""
    from snncompile.lava_compat import require_lava

    require_lava()
    name = "lava.lib.dl.slayer"
    if name not in sys.modules:
        spec = importlib.util.find_spec(name)
        stub = types.ModuleType(name)
        stub.__path__ = list(spec.submodule_search_locations)
        stub.__file__ = spec.origin
        sys.modules[name] = stub
    return importlib.import_module("lava.lib.dl.netx")
