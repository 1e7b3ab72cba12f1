"""`snncompile.compile(model, target=..., input_shape=...)`: the notebook API, thin over api.py.

`model` is what a user holds: a live torch.nn.Module (snncompile.nn, snnTorch, SpikingJelly,
Norse), a nir.NIRGraph, an onnx.ModelProto, or the path of a model file. The result is a value
with the CLI's commands as methods: `.run(x)` (the target's own artefact: emulator, Lava program,
RTL), `.verify(x, labels)`, `.estimate()`, `.report(path)` and `.save(dir)` (the same build folder
`snncompile MODEL -o DIR` writes). A module is read from its attributes and run live, never
pickled. The model is read, lowered and placed once (the Build); `verify` runs a live module's
own forward as it is when called.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snncompile import api
from snncompile.frontends.live import describe
from snncompile.ir.graph import Graph


@dataclasses.dataclass(frozen=True)
class Compiled:
    """A model compiled for one target (see the module docstring): the Build (snncompile.build)
    made once, with the options it was made with."""

    build: api.CompileResult  # nn graph, hw graph, quantization report, Target, placement, model
    options: dict[str, Any]  # front-end options (input_shape, dt, reset, ...)
    weight_split: bool = False
    weight_bits: int = 8
    write_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    _scratch: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def model(self) -> Any:
        return self.build.model

    @property
    def target(self) -> str:
        return self.build.target.name

    @property
    def nn_graph(self) -> Graph:
        return self.build.nn_graph

    @property
    def hw_graph(self) -> Graph:
        return self.build.hw_graph

    @property
    def input_shape(self) -> tuple[int, ...]:
        (name,) = self.hw_graph.inputs
        return tuple(self.hw_graph.shapes[name])

    def summary(self) -> list[dict[str, Any]]:
        """The compile table the CLI prints: one row per layer (neurons, synapses, error)."""
        return self.build.summary()

    def save(self, out_dir: str | Path) -> Path:
        """Write the build folder (all or nothing), as `snncompile MODEL -o out_dir` does."""
        api.write_build(self.build, out_dir, **self.write_options)
        return Path(out_dir)

    def _folder(self) -> Path:
        """A build folder in a temporary directory kept while this value lives, for run()."""
        if "folder" not in self._scratch:
            tmp = tempfile.TemporaryDirectory(prefix="snncompile-api-")
            self._scratch["tmp"] = tmp  # removed when this value is garbage-collected
            self._scratch["folder"] = self.save(Path(tmp.name) / "build")
        return self._scratch["folder"]

    def run(self, x: Any, **options: Any) -> np.ndarray:
        """Output spikes (batch, time, *out) of the target's own artefact on x (batch, time,
        *input_shape): the emulator (emu), the generated Lava program (loihi2), the RTL in a
        simulator (fpga; options: simulator="icarus"|"verilator")."""
        outputs, _ = api.run_build(self._folder(), _array(x), **options)
        return outputs

    def verify(self, x: Any, labels: Any = None, **limits: Any) -> Any:
        """`snncompile verify`: the trainer's model (a live module, run as it is now), the float
        reference, the emulator and the target's artefact on x, compared; a VerifyReport
        (`.passed`, `.checks`). `limits`: as the CLI's (max_count_error, min_train_agreement,
        max_accuracy_drop, min_prediction_agreement, max_source_mismatch, strict)."""
        return api.verify_build(self.build, _array(x), _optional(labels), **limits,
                                weight_split=self.weight_split, weight_bits=self.weight_bits,
                                **self.options)

    def estimate(self, x: Any = None, pipelined: bool = False, steps: int = 16, rate: float = 0.1,
                 family: str = "ice40", synthesize: bool = True) -> dict[str, Any]:
        """`snncompile estimate --json`: {"energy": energy and latency per inference, activity
        measured on x or assumed at `rate` over `steps`; "resources": FPGA resources (fpga
        targets: the analytical count, and yosys's for `family` unless not `synthesize`)}."""
        energy = {"model": describe(self.model),
                  **api.build_energy(self.build, _optional(x), pipelined, steps, rate)}
        resources = None
        if getattr(self.build.backend, "ESTIMATES_RESOURCES", False):
            from snncompile.estimate import estimate_build

            resources = estimate_build(self._folder(), family, synthesize)
        return {"energy": energy, "resources": resources}

    def report(self, path: str | Path, x: Any = None, labels: Any = None,
               **options: Any) -> Path:
        """`snncompile report`: one self-contained HTML page (x: the inputs it runs; without x,
        random spikes, and the page says so; options: pipelined, sample)."""
        from snncompile.report import build_report

        return build_report(self.build, path, api.verify_build, _optional(x),
                            weight_bits=self.weight_bits, labels=_optional(labels), **options,
                            **self.options)


def _array(x: Any) -> np.ndarray:
    """A numpy array from an array, a torch tensor (detached, on the CPU) or nested lists."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _optional(x: Any) -> np.ndarray | None:
    return None if x is None else _array(x)


def compile(model: Any, target: api.TargetLike = "emu", input_shape: Any = None,
            dt: float | None = None, weight_split: bool = False, weight_bits: int = 8,
            out_dir: str | Path | None = None, write_options: dict[str, Any] | None = None,
            **frontend_options: Any) -> Compiled:
    """Compile `model` (a live torch.nn.Module, nir.NIRGraph, onnx.ModelProto or a model file path)
    for `target` (a registered name: emu, loihi2, loihi1, fpga; a target folder; a Target).
    `input_shape` is one step's input without the batch (needed unless a module starts with a
    Linear); `dt` the time step; other front-end options as the CLI's (reset, reset_timing for
    NIR; percentile, max_pool, onnx_mode for ONNX; calibration: ONNX ANNs' threshold data, or any
    model's input (samples, steps, ...) for the floor centring). With `out_dir`, the build folder
    is written there too."""
    options = {k: v for k, v in {"input_shape": input_shape, "dt": dt, **frontend_options}.items()
               if v is not None}
    if "input_shape" in options:
        options["input_shape"] = tuple(int(d) for d in options["input_shape"])
    write_options = {k: v for k, v in (write_options or {}).items() if v is not None}
    result = api.compile_model(model, target, out_dir, weight_split, weight_bits, write_options,
                               **options)
    return Compiled(result, options, weight_split, weight_bits, write_options)
