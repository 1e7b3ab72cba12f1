"""`snncompile sweep` (issue 18): compile a model at every point of a grid of quantization
options, run each build's emulator on the inputs, and find the points no other beats on
accuracy, energy and cores at once (the Pareto front); the target's own artefact (Lava, RTL)
then confirms the front's points. Points are independent tasks of snncompile.engine (local
processes or Ray); the result is the same, byte for byte, whatever runs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from snncompile.errors import InputError, SnnCompileError
from snncompile.sweep.grid import AXES, label, parse_axis, points
from snncompile.sweep.pareto import OBJECTIVES, front
from snncompile.sweep.point import SweepJob, confirm_point, evaluate_point
from snncompile.target import Target, load_target


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Every point's options and figures (or its compile error), which are Pareto-optimal,
    and each confirmed point's artefact-vs-emulator count (None: not confirmed)."""

    model: str
    target: str
    samples: int
    steps: int
    axes: dict[str, list[str]]
    points: tuple[dict[str, Any], ...]
    pareto: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "target": self.target, "samples": self.samples,
                "steps": self.steps, "axes": self.axes,
                "objectives": {key: "max" if sense > 0 else "min" for key, sense in OBJECTIVES},
                "pareto": list(self.pareto), "points": list(self.points)}

    def errors(self) -> list[str]:
        """'#5 (bits 8, split on): <why it does not compile>', one per point that did not."""
        return [f"#{i} ({', '.join(f'{AXES[n].column} {AXES[n].word(p[n])}' for n in self.axes)}"
                f"): {p['error']}" for i, p in enumerate(self.points) if p.get("error")]

    def rows(self) -> list[dict[str, Any]]:
        """The table: one row per point, its options as words, Pareto points starred; a point
        that did not compile has "-" for every figure (errors() says why)."""
        return [self._row(i, p) for i, p in enumerate(self.points)]

    def _row(self, i: int, p: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"#": i, "pareto": "*" if i in self.pareto else ""}
        row.update({AXES[name].column: AXES[name].word(p[name]) for name in self.axes})
        figures = {"accuracy %": "accuracy", "count err": "count_error",
                   "train agr": "train_agreement", "energy uJ": "energy_uj",
                   "latency us": "latency_us", "cores": "cores", "synapses": "synapses"}
        built = not p.get("error")
        row.update({column: p[key] if built else "-" for column, key in figures.items()})
        row["verify"] = ("pass" if p["passes_verify"] else "fail") if built else "no build"
        confirmed = p.get("confirmed")
        row["artefact = emu"] = ("-" if confirmed is None else "yes"
                                 if confirmed["differing_entries"] == 0
                                 else f"no ({confirmed['differing_entries']} entries)")
        return row


def check_job(model: Any, x: np.ndarray, labels: np.ndarray, target: str | Target,
              **frontend_options: Any) -> SweepJob:
    """The job every point shares, checked once before any point runs: the target has an
    energy model, the model is a float model, x fits its input, one label per sample."""
    from snncompile import api
    from snncompile.build import check_input
    from snncompile.input_options import verify_input_kind
    from snncompile.ir.graph import Graph

    spec = load_target(target)
    frontend_options = verify_input_kind(model, x, None, frontend_options)  # analog x
    if not spec.energy:
        raise SnnCompileError(f"target {spec.name!r} has no energy model ([energy] in its "
                              "target.toml), so a sweep has nothing to trade accuracy against; "
                              "sweep a chip target, e.g. --target loihi2 or fpga")
    graph: Graph = api.load(model, **frontend_options)
    name = api.model_name(model)
    if graph.level == "hw":
        raise SnnCompileError(f"{name} is already quantized (hw integers), so there are no "
                              "quantization options to sweep; sweep the float model it came from")
    (in_name,) = graph.inputs
    x = check_input(x, graph.shapes[in_name], name)
    labels = np.asarray(labels)
    if labels.shape != (x.shape[0],):
        raise InputError(f"labels have shape {labels.shape}; expected ({x.shape[0]},), one per "
                         "sample")
    return SweepJob(model, spec, x, labels, frontend_options)


def sweep(model: Any, x: np.ndarray, labels: np.ndarray, target: str | Target = "loihi2",
          weight_bits: Any = None, weight_split: Any = None, confirm: bool | None = None,
          workers: int = 1, ray: str | None = None, **frontend_options: Any) -> SweepResult:
    """Compile `model` for `target` at every combination of the axes' values (a comma-separated
    string or a sequence; None: grid.AXES's defaults), measure each point on x with `labels`,
    and mark the Pareto front over accuracy (max), energy per inference (min) and cores (min).
    `confirm` (default: when the target's back end has its own artefact) runs that artefact on
    the front's points and records whether it equals the emulator. `workers` local processes,
    or a Ray cluster at `ray` ("local": this machine), run the points (snncompile.engine)."""
    from snncompile.engine import Engine, map_tasks
    from snncompile.passes.encode import check_weight_bits

    engine = Engine(workers, ray)  # bad --workers / --ray before any work
    if engine.ray is not None:
        from snncompile.engine_ray import ray_module

        ray_module()  # Ray not installed: one sentence before any work
    given = {"weight_bits": weight_bits, "weight_split": weight_split}
    axes = {name: parse_axis(name, given[name]) for name in AXES}
    grid = points(axes)
    job = check_job(model, x, labels, target, **frontend_options)
    for bits in axes["weight_bits"]:
        try:
            check_weight_bits(bits, job.target)
        except SnnCompileError as exc:
            raise SnnCompileError(f"{AXES['weight_bits'].flag}: {exc}") from None
    if confirm is None:
        confirm = _has_artefact(job.target)
    elif confirm and not _has_artefact(job.target):
        raise SnnCompileError(f"target {job.target.name!r} has no artefact of its own to confirm "
                              "the points with (the emulator is its build); drop --confirm")
    names = [label(p) for p in grid]
    figures = map_tasks(evaluate_point, job, grid, names, engine, _watch("points", len(grid)))
    rows = [{**p, **f} for p, f in zip(grid, figures)]
    optimal = front([None if "error" in r else {**r, "cores": r["cores"] or 0} for r in rows])
    if confirm and optimal:
        checked = map_tasks(confirm_point, job, [grid[i] for i in optimal],
                            [names[i] for i in optimal], engine,
                            _watch("points confirmed on the target", len(optimal)))
        for i, result in zip(optimal, checked):
            rows[i]["confirmed"] = result
    for i, row in enumerate(rows):
        row.setdefault("confirmed", None)
        row["pareto"] = i in optimal
    words = {name: [AXES[name].word(v) for v in values] for name, values in axes.items()}
    return SweepResult(_model_text(model), job.target.name, int(job.x.shape[0]),
                       int(job.x.shape[1]), words, tuple(rows), tuple(optimal))


def _watch(name: str, total: int) -> Callable[[int, str], None]:
    """The engine's per-task callback as the command line's progress count of `name`."""
    from snncompile import progress

    seen: dict[str, set[int]] = {"done": set(), "retried": set(), "lost": set()}
    progress.count(name, 0, total, "")

    def watch(i: int, what: str) -> None:
        seen[what].add(i)
        note = ", ".join(f"{len(seen[k])} {k}" for k in ("retried", "lost") if seen[k])
        progress.count(name, len(seen["done"]), total, note)

    return watch


def _has_artefact(target: Target) -> bool:
    from snncompile.backends import get_backend

    return bool(get_backend(target).OWN_ARTEFACT)


def _model_text(model: Any) -> str:
    from snncompile import api

    return api.model_name(model)
