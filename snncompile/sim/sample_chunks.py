"""run_emulator on a large batch in chunks of samples, so the spike trains the layer-major path
keeps for every layer (batch x steps x neurons int8) stay near CHUNK_BYTES: memory the allocator
reuses from chunk to chunk instead of fresh pages the kernel must fault in and zero (at batch 256
the NIR-paper CNN spent 20-35 µs per sample-step in the kernel that way, and a whole-batch train
per layer is the temporary issue 19 asks to avoid). Samples are independent in every emulator
path, so the chunks' outputs concatenate and their spike counts add up exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from snncompile.ir.graph import Graph

CHUNK_BYTES = 2**24  # int8 spike trains of all populations per chunk


def samples_per_chunk(hw_graph: Graph, steps: int) -> int:
    """The most samples whose spike trains over `steps` hw steps fit in CHUNK_BYTES (at least 1)."""
    neurons = sum(int(np.prod(hw_graph.shapes[n])) for n in hw_graph.of_kind("neuron"))
    return max(1, CHUNK_BYTES // max(1, neurons * steps))


def merge(parts: list) -> Any:
    """One EmuResult from the results of consecutive sample chunks (record off)."""
    first = parts[0]
    return dataclasses.replace(
        first,
        outputs={k: np.concatenate([p.outputs[k] for p in parts]) for k in first.outputs},
        spike_counts={k: sum(p.spike_counts[k] for p in parts) for k in first.spike_counts},
        events=[e for p in parts for e in p.events])
