"""Back ends by kind (lazy). A target's `[target] backend` names its kind; the kind's module
offers `write(hw_graph, folder, target=None, placement=None, **write_options) -> dict of files`
and `run(folder, manifest, x, strict, **run_options) -> (spikes, overflow rows)`, and declares
its capabilities as attributes:

    SUPPORTED, WHY      the hw features it holds, and why it lacks others (support.py)
    PLACES              True if it maps the graph onto the target's cores itself and needs a
                        placement (targets with [limits] get one for every back end)
    WRITE_OPTIONS       the keywords of write() a user may give (fpga: decay)
    RUN_OPTIONS         the keywords of run() a user may give (fpga: simulator, report)
    OWN_ARTEFACT        True if run() executes an artefact of its own (a Lava program, RTL) that
                        verify compares with the emulator; False if run() is the emulator
    ARTEFACT            what run() runs, in words (the report's chain names it)
    place(hw_graph, target)   optional: its own placement (default: the partitioner's)

A new kind of hardware is one module plus one entry in BACKENDS; a new chip of a known kind is
a target folder and no Python (docs/adding-a-chip.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from snncompile.errors import SnnCompileError
from snncompile.ir.graph import Graph
from snncompile.target import Target, load_target

BACKENDS: dict[str, str] = {
    "emu": "snncompile.backends.emu",
    "loihi2": "snncompile.backends.loihi2",
    "fpga": "snncompile.backends.fpga",
}


def backend_module(kind: str) -> ModuleType:
    """The module of back-end kind `kind` (a key of BACKENDS)."""
    if kind not in BACKENDS:
        raise SnnCompileError(f"no back end of kind {kind!r} (available: "
                              f"{', '.join(sorted(BACKENDS))})")
    return importlib.import_module(BACKENDS[kind])


def get_backend(target: str | Path | Target) -> ModuleType:
    """The back end of a target (a registered name, a target folder or a Target): the module
    of its `[target] backend` kind."""
    spec = load_target(target)
    if spec.backend not in BACKENDS:
        raise SnnCompileError(f"target {spec.name!r} names back end {spec.backend!r}, which does "
                              f"not exist (available: {', '.join(sorted(BACKENDS))})")
    return backend_module(spec.backend)


def check_options(options: dict[str, Any], allowed: tuple[str, ...], sentence: str
                  ) -> dict[str, Any]:
    """`options` without None values; raises `sentence` (with {unknown} filled in) for any that
    the back end does not take."""
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SnnCompileError(sentence.format(unknown=", ".join(unknown)))
    return options


def place(hw_graph: Graph, target: str | Path | Target) -> Any:
    """The placement a build of `target` carries: the back end's own if it has `place`, else
    the partitioner's on the target's [limits]; None for a target without [limits] whose back
    end does not place (the emulator)."""
    spec = load_target(target)
    backend = get_backend(spec)
    if hasattr(backend, "place"):
        return backend.place(hw_graph, spec)
    if not spec.limits and not backend.PLACES:
        return None
    from snncompile.partition import partition

    return partition(hw_graph, spec)
