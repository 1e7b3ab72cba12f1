"""Back ends by target name (lazy): each module offers `write(hw_graph, folder) -> dict of files`
and `run(folder, manifest, x, strict, **options) -> (spikes, overflow rows)`; `OPTIONS` names the
run options a back end takes beyond those (fpga: simulator, report), `WRITE_OPTIONS` its write
options (fpga: decay, the datapath variant). A new back end is one module
plus one entry here."""

from __future__ import annotations

import importlib
from types import ModuleType

from snncompile.errors import SnnCompileError

BACKENDS: dict[str, str] = {
    "emu": "snncompile.backends.emu",
    "loihi2": "snncompile.backends.loihi2",
    "fpga": "snncompile.backends.fpga",
}


OPTIONS: dict[str, tuple[str, ...]] = {"fpga": ("simulator", "report")}
WRITE_OPTIONS: dict[str, tuple[str, ...]] = {"fpga": ("decay",)}  # keywords of write() itself


def get_backend(target: str) -> ModuleType:
    if target not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise SnnCompileError(f"no back end for target {target!r} yet (available: {known})")
    return importlib.import_module(BACKENDS[target])
