"""Emulator back end: the artefact is the hw graph (text for people, binary image for `run`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.ir.image import load_image, save_image

IMAGE = "model.emu.npz"
TEXT = "model.hw.txt"


def write(hw_graph: Graph, folder: Path) -> dict[str, str]:
    (folder / TEXT).write_text(text.dumps(hw_graph))
    save_image(hw_graph, folder / IMAGE)
    return {"image": IMAGE, "hw_graph": TEXT}


def run(folder: Path, manifest: dict, x: np.ndarray, strict: bool = False
        ) -> tuple[np.ndarray, list[dict]]:
    """Output spikes, and in strict mode every wrap/saturation as {layer, kind, hw_step, nn_step,
    neurons}: nn_step is the float model's step the event belongs to (hw step minus the layer's
    synaptic depth; a synapse's wrap lands in its target one step later)."""
    from snncompile.sim.emulator import run_emulator
    from snncompile.sim.timing import synaptic_depths

    hw_graph = load_image(folder / manifest["files"]["image"])
    result = run_emulator(hw_graph, x, strict=strict)
    depth = synaptic_depths(hw_graph)
    events = []
    for e in result.events:
        node = e.layer if e.layer in depth else hw_graph.successors(e.layer)[0]
        delay = 0 if e.layer in depth else 1
        events.append({"layer": e.layer, "kind": e.kind, "hw_step": e.step,
                       "nn_step": e.step + delay - depth[node], "neurons": e.count})
    (name,) = hw_graph.outputs
    return result.outputs[name], events
