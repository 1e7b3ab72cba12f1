"""The compiler top to bottom: load a model, lower it to a target, write, run and verify artefacts.

The CLI is a thin shell over these functions; every option is one keyword here.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.backends import check_options, get_backend
from snncompile.build import Build, check_input, make_build

# re-exported: the CLI, the live-model API and users call them as api.NAME
from snncompile.build_folder import (  # noqa: F401
    frames_input,
    model_name,
    run_source,
    write_build,
)
from snncompile.errors import InputError, SilentInputError, SnnCompileError
from snncompile.input_options import (
    analog_options,
    calibration_measures,
    range_source,
    verify_input_kind,
)
from snncompile.ir import text
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.ir.size import check_work
from snncompile.ir.values import check_values
from snncompile.npy import load_array, save_array  # noqa: F401
from snncompile.target import Target, load_target
from snncompile.verify import VerifyReport, compare_tallies, with_advice, with_backend_count

CompileResult = Build  # the value compile_model returns (snncompile.build)
TargetLike = str | Path | Target  # a registered name, a target folder's path, or a Target


def load(model: Any, **frontend_options: Any) -> Graph:
    """Read a model file (.nir, .pt, .net, ...) into a checked graph: nn level, or hw level for
    files that are already integer hardware networks (netx). `model` may also be held in memory:
    a torch.nn.Module, a nir.NIRGraph or an onnx.ModelProto (snncompile.frontends.live)."""
    from snncompile.frontends import live, load_model
    from snncompile.passes.analog import with_input_kind

    options = {k: v for k, v in frontend_options.items() if v is not None}
    kind, rng, bits = analog_options(model, options)
    if not isinstance(model, (str, os.PathLike)):  # held in memory
        graph, where = live.load_object(model, **options), f"front end ({live.describe(model)})"
    else:
        graph, where = load_model(Path(model), **options), f"front end ({Path(model).name})"
    _names_first(graph, where)
    graph = with_input_kind(graph, kind, rng, where, bits)
    return check_values(check(graph, where), where)


def _names_first(graph: Graph, where: str) -> None:
    """Names are checked before anything prints them (a structure error names nodes)."""
    from snncompile.ir.values import check_names

    try:
        check_names(graph)
    except SnnCompileError as exc:
        raise SnnCompileError(f"{where}: {exc}") from None


def lower(nn_graph: Graph, target: TargetLike = "emu", weight_split: bool = False,
          weight_bits: int = 8, dump_after: str | None = None,
          dump: Callable[[str], Any] = print, calibration: Any = None) -> tuple[Graph, Any]:
    """nn graph -> hw graph in the target's number formats, with the quantization report.
    `weight_split` adds a fine Dense per Dense (twice the synapses, ~8 more weight bits).
    `weight_bits` (1..8) is every model synapse's num_weight_bits: weights are chosen on the grid
    Lava keeps at that width, Conv weights held to the same N-bit magnitude (docs/cli.md).
    A graph that is already at the hw level (a netx file) passes through if the target uses
    the number formats it was quantized for (frontends/netx.py FORMATS). `dump_after` names a
    pass (passes.pipeline.PASSES) whose stage goes to `dump` in the stable text form.
    `calibration`: model input (n, time, *input_shape; array or .npy path) on which the floor
    centring measures each neuron's loss (passes/centring.py); static data (n, *input_shape:
    an ONNX ANN's threshold data) leaves the data-free rule."""
    from snncompile.frontends.netx import FORMATS
    from snncompile.passes import Quantize, lower_to_hw
    from snncompile.passes.encode import check_weight_bits
    from snncompile.passes.report import PrequantizedReport

    spec = load_target(target)
    weight_bits = check_weight_bits(weight_bits, spec)
    if nn_graph.level == "hw":
        if spec.kind != FORMATS:
            source = nn_graph.meta.get("source", "the model")
            raise SnnCompileError(f"{source} is already quantized for {FORMATS}; target "
                                  f"{spec.name!r} uses {spec.kind or 'another format'}")
        if weight_split:
            raise SnnCompileError("--weight-split applies to float models; this file is "
                                  "already quantized")
        if weight_bits != 8:
            raise SnnCompileError("--weight-bits applies to float models; this file is already "
                                  "quantized with its own num_weight_bits")
        graph = Graph("hw", nn_graph.nodes, nn_graph.edges, nn_graph.dt,
                      {**nn_graph.meta, "target": spec.name})
        if dump_after is not None:  # no pass runs on a quantized file: its one graph
            dump(text.dumps(graph))
        return graph, PrequantizedReport.of(graph, spec.name)
    activity, ranges = (None, None) if calibration is None else calibration_measures(nn_graph,
                                                                            calibration)
    return lower_to_hw(nn_graph, spec, quantize=Quantize(split_weights=weight_split,
                                                         weight_bits=weight_bits,
                                                         activity=activity, ranges=ranges),
                       dump_after=dump_after, dump=dump)


def build(model: str | Path, target: TargetLike = "emu", weight_split: bool = False,
          weight_bits: int = 8, **frontend_options: Any) -> Build:
    """Load and lower `model` for `target`, check the back end holds it and place it: the one
    Build that write_build, run, verify, estimates and the report take."""
    from snncompile.hugepages import without_huge_pages

    spec = load_target(target)
    get_backend(spec)  # an unknown back end fails before any work
    with without_huge_pages():
        nn_graph = load(model, **frontend_options)
        try:
            hw_graph, report = lower(nn_graph, spec, weight_split, weight_bits,
                                     calibration=frontend_options.get("calibration"))
        except SilentInputError as exc:
            raise SilentInputError(exc.sentence, range_source(frontend_options)) from None
        return make_build(nn_graph, hw_graph, report, spec, model)


def compile_model(
    model: str | Path, target: TargetLike = "emu", out_dir: str | Path | None = None,
    weight_split: bool = False, weight_bits: int = 8, write_options: dict | None = None,
    **frontend_options: Any,
) -> Build:
    """Compile `model` for `target`; with `out_dir`, write the artefacts there (all or nothing).
    `write_options` are the back end's own (fpga: decay="multiply"|"shift-add")."""
    spec = load_target(target)
    backend = get_backend(spec)
    write_options = check_options(write_options or {}, backend.WRITE_OPTIONS,
                                  "{unknown} applies to other targets' builds, not to target "
                                  f"{spec.name!r}")
    if out_dir is not None:  # a bad -o is refused before the compile, not after it
        from snncompile.artifacts import check_replaceable
        from snncompile.build_folder import is_live

        check_replaceable(Path(out_dir), [] if is_live(model) else [Path(model)])
    result = build(model, spec, weight_split, weight_bits, **frontend_options)
    if out_dir is None:
        return result
    from snncompile.hugepages import without_huge_pages

    with without_huge_pages():
        write_build(result, out_dir, **write_options)
    return dataclasses.replace(result, out_dir=Path(out_dir))


def estimate_resources(model: str | Path, target: TargetLike = "fpga", family: str = "ice40",
                       synthesize: bool = True, weight_bits: int = 8,
                       **frontend_options: Any) -> dict[str, Any]:
    """FPGA resources of a model: the analytical estimate, and yosys's `stat` of the generated
    RTL for `family` (ice40, xilinx, ecp5) unless `synthesize` is False."""
    from snncompile.estimate import estimate_build

    spec = load_target(target)
    if not getattr(get_backend(spec), "ESTIMATES_RESOURCES", False):
        raise SnnCompileError(f"resource estimates exist for FPGA targets, not {spec.name!r} "
                              f"(back end {spec.backend!r}); its energy and latency estimate "
                              "is `snncompile estimate`")
    with tempfile.TemporaryDirectory(prefix="snncompile-estimate-") as tmp:
        compile_model(model, spec, Path(tmp) / "build", weight_bits=weight_bits,
                      **frontend_options)
        return estimate_build(Path(tmp) / "build", family, synthesize)


def measure_activity(result: Build, x: np.ndarray | None = None, pipelined: bool = False,
                     steps: int = 16, rate: float = 0.1, layout: str = "btn",
                     frame_steps: int | None = None) -> Any:
    """The activity counters of a Build: measured by the emulator on x (batch, time,
    *input_shape, or another `layout`; frames with `frame_steps`), or an assumed firing `rate`
    over `steps` hw steps without x."""
    from snncompile.estimate import activity

    hw_graph = result.hw_graph
    if x is None:
        return activity.assume(hw_graph, steps, rate)
    (name,) = hw_graph.inputs
    if frame_steps is not None:
        x = frames_input(hw_graph, x, frame_steps, result.model)
    x = check_input(x, hw_graph.shapes[name], model_name(result.model), layout)
    check_work(hw_graph, len(x), x.shape[1], model_name(result.model))
    return activity.measure(hw_graph, x, pipelined)


def estimate_energy(model: str | Path, target: TargetLike = "loihi2",
                    x: np.ndarray | None = None, pipelined: bool = False, steps: int = 16,
                    rate: float = 0.1, weight_split: bool = False, weight_bits: int = 8,
                    layout: str = "btn", frame_steps: int | None = None,
                    **frontend_options: Any) -> dict[str, Any]:
    """Energy and latency per inference on `target`: activity measured by the emulator on x
    (batch, time, *input_shape), or from an assumed firing `rate` over `steps` hw steps without x.
    `pipelined`: inputs stream back to back, one inference = T hw steps (see docs/estimate.md).
    The cores are the Build's placement, the one a build of the model deploys."""
    result = build(model, target, weight_split, weight_bits, **frontend_options)
    return {"model": model_name(model), **build_energy(result, x, pipelined, steps, rate, layout,
                                                   frame_steps)}


def build_energy(result: Build, x: np.ndarray | None = None, pipelined: bool = False,
                 steps: int = 16, rate: float = 0.1, layout: str = "btn",
                 frame_steps: int | None = None) -> dict[str, Any]:
    """`estimate_energy` of a Build: activity measured on x or assumed, on the Build's cores."""
    from snncompile.estimate import energy

    if x is None and not (isinstance(steps, int) and 1 <= steps <= 10**7):
        raise SnnCompileError(f"--steps must be a whole number from 1 to 10,000,000, got {steps}")
    if x is None and not 0 <= rate <= 1:  # also refuses NaN
        raise SnnCompileError(f"--rate must lie in [0, 1] spikes per neuron per step, got {rate}")

    return energy.estimate_build(result, measure_activity(result, x, pipelined, steps, rate,
                                                          layout, frame_steps))


def write_report(model: str | Path, out: str | Path, target: TargetLike = "loihi2",
                 x: np.ndarray | None = None, progress: Any = None, weight_bits: int = 8,
                 labels: np.ndarray | None = None, pipelined: bool = False,
                 sample: int | None = None, **frontend_options: Any) -> Path:
    """One self-contained HTML deployment report (snncompile.report): verify's verdict, accuracy
    with `labels`, rasters of `sample`, placement, energy (`pipelined` as in estimate_energy);
    `progress(step)` is called before each long step."""
    from snncompile.report import build_report

    (progress or (lambda step: None))("compile")
    result = build(model, target, weight_bits=weight_bits, **frontend_options)
    return build_report(result, out, verify_build, x, progress, weight_bits=weight_bits,
                        labels=labels, pipelined=pipelined, sample=sample, **frontend_options)


def run_build(folder: str | Path, x: np.ndarray, strict: bool = False, layout: str = "btn",
              frame_steps: int | None = None, workers: int = 1, ray: str | None = None,
              **options: Any) -> tuple[np.ndarray, list[dict]]:
    """Run a compiled build folder on x (build_folder.run_build: layouts, frames, the back end's
    own options); `workers` > 1 or `ray` (an address, or engine.LOCAL_RAY) shard the samples
    over local processes or Ray tasks (snncompile.run_shards), with the same outputs."""
    from snncompile.engine import Engine
    from snncompile.run_shards import run_build_sharded

    return run_build_sharded(folder, x, strict, layout, frame_steps, Engine(workers, ray),
                             **options)


def verify(
    model: str | Path,
    x: np.ndarray,
    target: TargetLike = "emu",
    labels: np.ndarray | None = None,
    max_count_error: float = 0.1,
    min_train_agreement: float = 0.8,
    max_accuracy_drop: float = 1.0,
    max_source_mismatch: float = 0.001,
    strict: bool = False,
    weight_split: bool = False,
    weight_bits: int = 8,
    min_prediction_agreement: float | None = None,
    layout: str = "btn",
    frame_steps: int | None = None,
    workers: int = 1,
    ray: str | None = None,
    **frontend_options: Any,
) -> VerifyReport:
    """Run the trainer's model (.pt), the float reference, the emulator and the target's own
    artefact (Lava for loihi2) on the same inputs and compare them: source vs reference on the
    output, reference vs emulator layer by layer (gated on the output's per-neuron spike-count
    error and spike-train agreement, see spike_metrics), and target vs emulator exactly. With
    `strict`, any u wrap or v saturation fails the report. Files already in hw integers (netx)
    have no float model: their emulator run is the reference. `workers` > 1 runs the samples
    in that many local processes, `ray` (an address, or engine.LOCAL_RAY) as Ray tasks
    (verify_build), with the same report."""
    from snncompile.engine import Engine

    if Engine(workers, ray).ray is not None:  # both checked before the compile
        from snncompile.engine_ray import ray_module

        ray_module(ray)
    ranged = any(frontend_options.get(k) is not None for k in ("input_range", "calibration"))
    frontend_options = verify_input_kind(model, x, frame_steps, frontend_options)
    try:
        result = build(model, target, weight_split, weight_bits, **frontend_options)
    except SilentInputError as exc:  # the range verify measured on x, not one the user gave
        raise exc if ranged else SilentInputError(exc.sentence, "the verify input") from None
    return verify_build(result, x, labels, max_count_error, min_train_agreement,
                        max_accuracy_drop, max_source_mismatch, strict, min_prediction_agreement,
                        weight_split=weight_split, weight_bits=weight_bits, layout=layout,
                        frame_steps=frame_steps, workers=workers, ray=ray,
                        **frontend_options)


def verify_build(result: Build, x: np.ndarray, labels: np.ndarray | None = None,
                 max_count_error: float = 0.1, min_train_agreement: float = 0.8,
                 max_accuracy_drop: float = 1.0, max_source_mismatch: float = 0.001,
                 strict: bool = False, min_prediction_agreement: float | None = None,
                 weight_split: bool = False, weight_bits: int = 8, layout: str = "btn",
                 frame_steps: int | None = None, workers: int = 1, shards: int | None = None,
                 progress: Callable[[int, int], None] | None = None, ray: str | None = None,
                 **frontend_options: Any) -> VerifyReport:
    """`verify` of a Build: its back end's own artefact runs if it has one (OWN_ARTEFACT);
    `weight_split` and `weight_bits` (those the Build was lowered with) only shape the advice;
    x in `layout`, or frames held `frame_steps` steps (snncompile.layouts, bias_input).
    `workers` > 1 shards the samples over local processes, `ray` over a Ray cluster
    (snncompile.engine, snncompile.shard), `shards` of them (default: one per worker or Ray
    CPU), `progress(samples_done, samples)` after each; the report is the same, byte for byte,
    for any engine and number of workers and shards."""
    from snncompile.engine import Engine
    from snncompile.shard import run_sharded
    from snncompile.sim.timing import event_rows
    from snncompile.verify_stages import merge, run_stages

    graph, hw_graph, model = result.nn_graph, result.hw_graph, result.model
    assert result.target is not None, "verify_build needs a Build with its target"
    target = result.target.name
    (in_name,) = hw_graph.inputs
    if frame_steps is not None:
        x = frames_input(hw_graph, x, frame_steps, model)
    x = check_input(x, hw_graph.shapes[in_name], model_name(model), layout)
    check_work(hw_graph, len(x), x.shape[1], model_name(model))
    if labels is not None and labels.shape != (x.shape[0],):
        raise InputError(f"labels have shape {labels.shape}; expected ({x.shape[0]},), "
                         "one per sample")
    if graph.level == "hw" and not result.backend.OWN_ARTEFACT:
        raise SnnCompileError(f"{model_name(model)} is already quantized, so the emulator is its "
                              "reference; verify it against a back end, e.g. --target loihi2")
    tally = merge(run_sharded(run_stages, result, x, workers, shards, progress,
                              Engine(workers, ray), strict=strict, **frontend_options), hw_graph)
    overflows = event_rows(hw_graph, list(tally.events)) if strict else None
    common = (target, tally.samples, tally.steps, tally.layers, tally.float_pred, tally.hw_pred,
              "output", labels)
    if graph.level == "hw":
        report = compare_tallies(*common, None, max_accuracy_drop, overflows=overflows,
                                 reference="emulator", min_train_agreement=None,
                                 min_prediction_agreement=min_prediction_agreement)
        return with_backend_count(report, tally.backend_differing)
    report = compare_tallies(*common, max_count_error, max_accuracy_drop, tally.source,
                             max_source_mismatch, overflows,
                             min_train_agreement=min_train_agreement,
                             min_prediction_agreement=min_prediction_agreement)
    if tally.backend_differing is not None:
        report = with_backend_count(report, tally.backend_differing)
    return with_advice(report, weight_split, weight_bits)
