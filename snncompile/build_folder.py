"""A Build as a folder and back: write its artefacts and manifest (all or nothing), run a build
folder on inputs, and run the trainer's own model. api and the per-sample verify stages both
use these, so they live below api rather than in it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.artifacts import atomic_dir, sha256_file, write_manifest
from snncompile.backends import check_options, get_backend
from snncompile.build import Build, check_input
from snncompile.build_check import read_manifest
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.progress import staged


def write_build(result: Build, out_dir: str | Path, **write_options: Any) -> None:
    """Write a build folder (all or nothing): the back end's artefacts (`write_options` go to its
    write), the nn graph as text, the placement if the back end did not write it, and
    manifest.json (its `target` finds the target again: a registered name or a folder)."""
    target, hw_graph, placement = result.target, result.hw_graph, result.placement
    assert target is not None, "write_build needs a Build with its target"
    with (atomic_dir(Path(out_dir), [] if is_live(result.model) else [Path(result.model)])
          as folder, text.narrowing_once()):
        nn_files = text.write(result.nn_graph, folder / "model.nn.txt", "nn_graph")
        files = result.backend.write(hw_graph, folder, target=target, placement=placement,
                                     **write_options)
        files.update(nn_files)
        if placement is not None and "placement" not in files:
            from snncompile.partition.plot import plot

            placement.save(folder / "placement.json")
            plot(placement, folder / "placement.png")
            files.update(placement="placement.json", placement_plot="placement.png")
        (name,) = hw_graph.inputs
        (out_name,) = hw_graph.outputs
        write_manifest(
            folder,
            target=target.ref,
            model=_model_entry(result.model, result.nn_graph),
            input_shape=list(hw_graph.shapes[name]),
            output_shape=list(hw_graph.nodes[out_name].shape),
            dt=float(result.nn_graph.dt),
            files=files,
            quantization=result.report.to_dict(),
        )


def run_build(folder: str | Path, x: np.ndarray, strict: bool = False, layout: str = "btn",
              frame_steps: int | None = None, **options: Any) -> tuple[np.ndarray, list[dict]]:
    """Run a compiled build folder on x (batch, time, *input_shape, or another `layout` of
    snncompile.layouts): output spikes in the same layout, and with `strict` every overflow
    (layer, time step, kind) the hardware arithmetic hit. With `frame_steps`, x holds frames
    (batch, *input_shape) driving the input layer's bias, each for that many steps
    (snncompile.bias_input). `options` are the back end's own (fpga: simulator, report; emu and
    loihi2: record, record_to)."""
    from snncompile.layouts import from_btn

    folder = Path(folder)
    manifest = read_manifest(folder)
    shape = tuple(manifest["input_shape"])
    if frame_steps is not None:
        x = frames_input(text.read(folder / "model.hw.txt"), x, frame_steps, folder)
    btn = check_input(x, shape, str(folder), layout)
    if (folder / "model.hw.txt").is_file():
        from snncompile.ir.size import check_work

        check_work(text.read(folder / "model.hw.txt"), len(btn), btn.shape[1], str(folder))
    backend = get_backend(manifest["target"])
    options = check_options(options, backend.RUN_OPTIONS, f"{folder} is a {manifest['target']} "
                            "build; {unknown} applies to other targets' builds")
    spikes, events = backend.run(folder, manifest, btn, strict=strict, **options)
    return from_btn(spikes, layout, single=x.ndim == len(shape) + 1), events


def frames_input(hw_graph: Graph, frames: np.ndarray, steps: int, where: Any) -> np.ndarray:
    from snncompile.bias_input import frames_as_steps

    return frames_as_steps(hw_graph, frames, steps, str(where))


def model_name(model: Any) -> str:
    from snncompile.frontends.live import describe

    return describe(model)


def is_live(model: Any) -> bool:
    from snncompile.frontends.live import kind

    return kind(model) is not None


def _model_entry(model: Any, nn_graph: Graph) -> dict[str, str]:
    """The manifest's model: a file's name and sha256; for a model held in memory, its class and
    the sha256 of its nn graph's text form (what was read from it)."""
    if not is_live(model):
        return {"name": Path(model).name, "sha256": sha256_file(Path(model))}
    digest = hashlib.sha256(text.dumps(nn_graph).encode()).hexdigest()
    return {"name": model_name(model), "sha256": digest}


@staged("trainer's model")
def run_source(model: Any, x: np.ndarray, **frontend_options: Any) -> np.ndarray | None:
    """The trainer's own model on x, for a live torch module or a file that carries a runnable
    model (.pt; a stepwise ONNX SNN through onnxruntime); else None."""
    from snncompile.frontends import live

    if live.kind(model) == "module":
        return live.run_module(model, x)
    if live.kind(model) == "onnx" or (live.kind(model) is None
                                      and Path(model).suffix.lower() == ".onnx"):
        from snncompile.frontends.onnx_run import run_stepwise  # onnxruntime, if installed

        return run_stepwise(model, x, frontend_options.get("onnx_mode") or "auto")
    if live.kind(model) is not None or Path(model).suffix not in (".pt", ".pth"):
        return None
    from snncompile.frontends.torch_file import read_module

    options = {k: frontend_options.get(k) for k in ("input_shape", "dt", "trust_pickle")}
    module, _, _ = read_module(model, **{k: v for k, v in options.items() if v is not None})
    return live.run_module(module, x)
