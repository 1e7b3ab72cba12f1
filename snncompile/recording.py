"""`run --record u,v,spikes`: every neuron layer's state at every model step, written as one .npz.

Keys are "<field>:<layer>" (as run_lava.py's --probes names them), each (batch, T, *shape) in
model time: step t of a layer at synaptic depth k is hw step t + k (snncompile.sim.timing), the
alignment of the output spikes. The emulator records its own run; a loihi2 build records Lava's
(the generated program's probes), so the two files can be compared entry for entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from snncompile.errors import InputError, SnnCompileError
from snncompile.ir.graph import Graph

FIELDS = ("u", "v", "spikes")
PROBE = {"u": "u", "v": "v", "spikes": "s"}  # run_lava.py's probe prefix per field


def fields_of(record: str | Iterable[str]) -> tuple[str, ...]:
    """"u,v,spikes" (or a sequence) as a checked tuple of FIELDS, one sentence if not."""
    names = record.split(",") if isinstance(record, str) else list(record)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in FIELDS]
    if unknown or not names:
        raise InputError(f"cannot record {', '.join(unknown) or 'nothing'}; record a comma-"
                         f"separated choice of {', '.join(FIELDS)}")
    return tuple(dict.fromkeys(names))


def layers(graph: Graph) -> list[str]:
    """The neuron layers a recording holds: the model's, not the compiler's bias clock."""
    from snncompile.sim.timing import clock_nodes

    clock = clock_nodes(graph)
    return [n for n in graph.of_kind("neuron") if n not in clock]


def from_probes(graph: Graph, probes: dict[str, np.ndarray], steps: int,
                fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Lava's raw-hw-time probes ("s:/u:/v:<lif>") aligned to model time like the emulator."""
    from snncompile.sim.timing import synaptic_depths

    depth = synaptic_depths(graph)
    nn_shapes = {k: tuple(s) for k, s in graph.meta.get("nn_shapes", {}).items()}
    out = {}
    for n in layers(graph):
        shape = nn_shapes.get(n, graph.shapes[n])
        for f in fields:
            raw = probes[f"{PROBE[f]}:{n}"]
            out[f"{f}:{n}"] = raw[:, depth[n]: depth[n] + steps].reshape(len(raw), steps, *shape)
    return out


def from_emulator(graph: Graph, result, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """An EmuResult run with record=True, as the same keys."""
    by_field = {"u": result.u, "v": result.v, "spikes": result.spikes}
    return {f"{f}:{n}": by_field[f][n] for n in layers(graph) for f in fields}


def save(path: str | Path, states: dict[str, np.ndarray]) -> None:
    """Write the recording whole or not at all."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    try:
        np.savez(tmp, **states)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SnnCompileError(f"cannot write the recording {path} "
                              f"({exc.strerror or exc})") from None
