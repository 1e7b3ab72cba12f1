"""verify's per-sample work as integer tallies: the float reference, the trainer's model, the
emulator and the target's own artefact run on some samples of a Build, and what comes back is
counts and predicted classes that add up exactly over disjoint samples (snncompile.shard), so a
sharded run reports the very numbers a one-process run does."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.build import Build
from snncompile.sim.fixed import Event
from snncompile.spike_tally import SpikeTally
from snncompile.verify import predictions


@dataclasses.dataclass(frozen=True)
class StageTally:
    """What verify needs from the stages on some samples: per layer, reference vs emulator
    (reference = the emulator itself for a quantized file, compared with the target's run)."""

    samples: int
    steps: int
    layers: dict[str, SpikeTally]
    float_pred: np.ndarray  # class per sample (most output spikes) on the reference side
    hw_pred: np.ndarray
    source: SpikeTally | None  # trainer's model vs float reference, output layer
    backend_differing: int | None  # target's output entries that differ from the emulator
    events: tuple[Event, ...] | None  # strict mode: emulator overflows (summed over samples)


def run_stages(result: Build, x: np.ndarray, strict: bool = False, artefact: bool = True,
               **frontend_options: Any) -> StageTally:
    """Every per-sample stage of verify on x (batch, time, *input_shape), already checked;
    without `artefact` the target's own artefact (Lava, RTL) does not run (a sweep runs it only
    on the points it confirms)."""
    from snncompile.build_folder import run_build, run_source, write_build
    from snncompile.sim.emulator import run_emulator
    from snncompile.sim.reference import run_reference

    graph, hw_graph = result.nn_graph, result.hw_graph
    emu = run_emulator(hw_graph, x, record=True, strict=strict)
    (out_hw,) = hw_graph.outputs
    emu_out = emu.outputs[out_hw]
    target_out = None
    if artefact and result.backend.OWN_ARTEFACT:
        with tempfile.TemporaryDirectory(prefix="snncompile-verify-") as tmp:
            write_build(result, Path(tmp) / "build")
            target_out, _ = run_build(Path(tmp) / "build", x)
    differing = None if target_out is None else int(
        np.count_nonzero((emu_out != 0) != (target_out != 0)))
    events = tuple(emu.events) if strict else None
    if graph.level == "hw":  # a quantized file: the emulator is the reference (api checks that
        assert target_out is not None  # its back end has its own artefact to compare with)
        return StageTally(x.shape[0], emu_out.shape[1],
                          {"output": SpikeTally.of(emu_out, target_out)}, predictions(emu_out),
                          predictions(target_out), None, differing, events)
    ref = run_reference(graph, x.astype(np.float64), record=True)
    (out_nn,) = graph.outputs
    float_spikes = {n: ref[n] for n in graph.of_kind("neuron")}
    float_spikes["output"] = ref[out_nn]
    emu_spikes = {**emu.spikes, "output": emu_out}
    source = run_source(result.model, x, **frontend_options)
    layers = {n: SpikeTally.of(float_spikes[n], emu_spikes[n])
              for n in float_spikes if n in emu_spikes}
    return StageTally(
        x.shape[0], ref[out_nn].shape[1], layers, predictions(ref[out_nn]), predictions(emu_out),
        None if source is None else SpikeTally.of(source, ref[out_nn]), differing, events)


def merge(parts: list[StageTally], hw_graph: Any) -> StageTally:
    """The tally of all samples from the tallies of consecutive shards, in sample order."""
    first = parts[0]
    layers = {n: sum((p.layers[n] for p in parts[1:]), first.layers[n]) for n in first.layers}
    source = None if first.source is None else sum((p.source for p in parts[1:]), first.source)
    differing = None if first.backend_differing is None else sum(
        p.backend_differing for p in parts)
    events = None if first.events is None else merge_events(
        [p.events for p in parts], hw_graph)
    return StageTally(sum(p.samples for p in parts), first.steps, layers,
                      np.concatenate([p.float_pred for p in parts]),
                      np.concatenate([p.hw_pred for p in parts]), source, differing, events)


def merge_events(shards: list[tuple[Event, ...]], hw_graph: Any) -> tuple[Event, ...]:
    """Overflow events of all samples: counts of the same (layer, step, kind) add, in the
    emulator's own order (by step; neurons in node order, u before v; then synapses)."""
    slots = [(n, kind) for n in hw_graph.nodes if hw_graph.nodes[n].kind == "neuron"
             for kind in ("u_wrap", "v_saturation")]
    slots += [(n, "conv_wrap") for n in hw_graph.nodes if hw_graph.nodes[n].kind == "synapse"]
    rank = {slot: i for i, slot in enumerate(slots)}
    counts: dict[tuple[int, int], Event] = {}
    for events in shards:
        for e in events:
            key = (e.step, rank[(e.layer, e.kind)])
            seen = counts.get(key)
            counts[key] = e if seen is None else dataclasses.replace(seen,
                                                                     count=seen.count + e.count)
    return tuple(counts[key] for key in sorted(counts))
