"""Emulator back end: the artefact is the hw graph (text for people, binary image for `run`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snncompile.build_check import BuildFolderError
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.ir.image import load_image, save_image

IMAGE = "model.emu.npz"
TEXT = "model.hw.txt"


def _supported() -> frozenset[str]:
    """Every op the emulator has a rule for, and every attribute feature: the emulator defines
    the hw semantics (snncompile.backends.support; docs/support.md)."""
    from snncompile.backends.support import ATTRIBUTES
    from snncompile.sim.emulator import IO_OPS, NEURON_RULES, SYNAPSE_RULES

    ops = {cls.__name__ for cls in (*SYNAPSE_RULES, *NEURON_RULES, *IO_OPS)}
    return frozenset(ops | {f.name for f in ATTRIBUTES})


SUPPORTED = _supported()
KIND = "emu"
PLACES = False  # the emulator runs the graph whole; a chip with [limits] still gets a placement
WRITE_OPTIONS: tuple[str, ...] = ()
RUN_OPTIONS: tuple[str, ...] = ("record", "record_to")  # run --record (snncompile.recording)
OWN_ARTEFACT = False  # run() is the emulator itself
ARTEFACT = "the emulator"


def write(hw_graph: Graph, folder: Path, target: object = None, placement: object = None
          ) -> dict[str, str]:
    """model.hw.txt and the binary image `run` loads (`target`, `placement`: unused)."""
    from snncompile.backends.support import check

    check(hw_graph, KIND)
    save_image(hw_graph, folder / IMAGE)
    return {"image": IMAGE, **text.write(hw_graph, folder / TEXT, "hw_graph")}


def run(folder: Path, manifest: dict, x: np.ndarray, strict: bool = False,
        record: str | None = None, record_to: Path | None = None
        ) -> tuple[np.ndarray, list[dict]]:
    """Output spikes, and in strict mode every wrap/saturation (snncompile.sim.timing.event_rows);
    with `record` ("u,v,spikes") every layer's state per step goes to `record_to` (.npz,
    snncompile.recording)."""
    from snncompile import recording
    from snncompile.ir.check import check as check_graph
    from snncompile.sim.emulator import run_emulator
    from snncompile.sim.timing import event_rows

    fields = recording.fields_of(record) if record else None
    image = manifest["files"].get("image")
    if image is None:  # a consistently re-hashed manifest without it (fuzzing)
        raise BuildFolderError(f"{folder / 'manifest.json'} names no 'image' file; the build is "
                               "damaged or was edited, recompile it")
    hw_graph = check_graph(load_image(folder / image), str(folder / image))  # a damaged image
    result = run_emulator(hw_graph, x, strict=strict, record=bool(fields))
    if fields:
        recording.save(record_to, recording.from_emulator(hw_graph, result, fields))
    (name,) = hw_graph.outputs
    return result.outputs[name], event_rows(hw_graph, result.events)
