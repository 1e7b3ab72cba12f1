"""FPGA back end: Verilog RTL of time-multiplexed LIF cores, simulated with Icarus or Verilator.

`write` puts the hw graph (for `run` and the cycle model), rtl/ (Verilog, $readmemh files,
testbench, Makefile) and README.md in the build folder. `run` simulates the RTL and returns the
output spikes in nn time, exactly as the emulator back end does.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from snncompile.backends.fpga.blocks import partition_cores
from snncompile.backends.fpga.plan import KIND, SUPPORTED, WHY, Plan, fpga_params, make_plan
from snncompile.backends.fpga.rtl import render
from snncompile.errors import SnnCompileError
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.ir.image import load_image, save_image
from snncompile.partition import Placement
from snncompile.partition.resources import CoreModel
from snncompile.progress import staged
from snncompile.target import Target, load_target

IMAGE = "model.fpga.npz"
TEXT = "model.hw.txt"
RTL = "rtl"
PLACEMENT = "placement.json"
OPTIONS = "fpga.json"
MANIFEST = "manifest.json"

__all__ = ["KIND", "SUPPORTED", "WHY", "build_plan", "place", "run", "simulate_build", "write"]
PLACES = True  # one RTL core per partitioner block
WRITE_OPTIONS = ("decay",)
RUN_OPTIONS = ("simulator", "report")
OWN_ARTEFACT = True  # run() simulates the generated RTL
ARTEFACT = "the generated RTL (Verilog simulation)"
ESTIMATES_RESOURCES = True  # estimate_build: analytic and yosys resource counts


def place(hw_graph: Graph, target: str | Path | Target = KIND) -> Placement:
    """The placement the RTL is generated from (whole-core blocks in layer order)."""
    return partition_cores(hw_graph, target=target)


@staged("write the Verilog")
def write(hw_graph: Graph, folder: Path, target: str | Path | Target = KIND,
          placement: Placement | None = None, decay: str | None = None,
          cores: CoreModel | None = None) -> dict[str, str]:
    """Generate the RTL for the board `target`; raises a one-sentence UnsupportedOp for nodes
    the template lacks. `placement` = place(hw_graph, target) if the caller has it already.
    `decay` = "multiply" | "shift-add" (fpga.rtl.render; default from target.toml); `cores` =
    the per-core limits the partitioner splits populations under (default the target's
    [limits]; e.g. `core_model("fpga", neurons=8)`), kept in fpga.json so `run` rebuilds the
    same plan."""
    folder = Path(folder)
    plan = make_plan(hw_graph, cores, target, placement if cores is None else None)
    files = render(plan, str(hw_graph.meta.get("source", "model")), decay)
    (folder / RTL).mkdir(exist_ok=True)
    for name, body in sorted(files.items()):
        target = folder / (name if name == "README.md" else f"{RTL}/{name}")
        target.write_text(body)
    graph_files = text.write(hw_graph, folder / TEXT, "hw_graph")
    save_image(hw_graph, folder / IMAGE)
    placed = plan.placement.to_json()
    placed["metrics"].pop("seconds", None)  # wall time: the build stays byte-identical
    (folder / PLACEMENT).write_text(json.dumps(placed, separators=(",", ":"), sort_keys=True))
    options = {"cores": None if cores is None else dataclasses.asdict(cores)}
    (folder / OPTIONS).write_text(json.dumps(options, indent=1, sort_keys=True) + "\n")
    return {"image": IMAGE, **graph_files, "rtl": RTL, "readme": "README.md",
            "placement": PLACEMENT, "fpga_options": OPTIONS}


def build_plan(folder: Path) -> tuple[Graph, Plan]:
    """The hw graph and plan of a build folder, with the target (manifest.json) and core limits
    (fpga.json) `write` used."""
    folder = Path(folder)
    graph = load_image(folder / IMAGE)
    cores = None
    if (folder / OPTIONS).exists():
        try:  # a build whose hashes were re-made by hand can still hold anything here
            got = json.loads((folder / OPTIONS).read_text()).get("cores")
            if got is not None:
                cores = CoreModel(**{**got, "notes": tuple(got.get("notes", ()))})
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise SnnCompileError(f"{folder / OPTIONS} cannot be read ({exc}); recompile the "
                                  "model") from None
    target: str | Target = KIND
    if (folder / MANIFEST).exists():
        target = json.loads((folder / MANIFEST).read_text()).get("target", KIND)
    return graph, make_plan(graph, cores, load_target(target))


def pick_simulator(graph: Graph, x: np.ndarray, simulator: str | None, folder: Path) -> str:
    """`simulator`, or (None) the faster one for this run's size; an Icarus run over its budget
    is refused before it starts."""
    from snncompile.backends.fpga.sim import check_icarus_work, default_simulator
    from snncompile.ir.size import synapses
    from snncompile.sim.timing import latency

    steps = x.shape[1] + latency(graph)
    events = len(x) * steps * sum(synapses(graph).values())
    simulator = simulator or default_simulator(events)
    if simulator == "icarus":
        check_icarus_work(events, f"{folder}: {len(x)} samples x {steps} hw steps")
    return simulator


def simulate_build(folder: Path, x: np.ndarray, simulator: str | None = "icarus",
                   work: Path | None = None, planned: tuple[Graph, Plan] | None = None):
    """(hw graph, plan, CycleTrace of the RTL run) for x (batch, T, *input_shape): spikes, or an
    analog input's int8 payloads (inputs.check_input quantizes real values); the run takes
    T + L hw steps, as the emulator's. `simulator` None picks one by the run's size."""
    from snncompile.backends.fpga.sim import simulate
    from snncompile.sim.timing import latency

    graph, plan = planned or build_plan(folder)
    simulator = pick_simulator(graph, x, simulator, folder)
    steps = x.shape[1] + latency(graph)
    if work is None:
        with tempfile.TemporaryDirectory(prefix="snncompile-fpga-") as tmp:
            trace = simulate(folder / RTL, Path(tmp), x, steps, plan.n_in, simulator,
                             payload_bits=plan.payload_bits)
    else:
        trace = simulate(folder / RTL, Path(work), x, steps, plan.n_in, simulator,
                         payload_bits=plan.payload_bits)
    return graph, plan, trace


def run(folder: Path, manifest: dict, x: np.ndarray, strict: bool = False,
        simulator: str | None = None, report: Path | None = None
        ) -> tuple[np.ndarray, list[dict]]:
    """Output spikes (batch, T, *shape) from the RTL in `simulator` (default: Verilator when
    installed, else Icarus); with `report`, a JSON cycle report (cycles per step and per
    inference, microseconds at the target clock). Strict-mode overflow rows come from the
    emulator, whose arithmetic the RTL equals bit for bit."""
    from snncompile.sim.cycles import latency_report
    from snncompile.sim.inputs import check_input
    from snncompile.sim.timing import event_rows, synaptic_depths

    graph, plan = build_plan(folder)
    x = check_input(graph, np.asarray(x), KIND)  # analog input: quantized to its payloads
    simulator = pick_simulator(graph, x, simulator, folder)
    _, _, trace = simulate_build(folder, x, simulator, planned=(graph, plan))
    steps = trace.step_end.shape[1]
    shape = tuple(graph.nodes[plan.output_name].shape)
    spikes = np.zeros((len(x), steps, int(np.prod(shape))), np.int8)
    for k in plan.output_cores:  # each block's spikes back to the population's flat indices
        core = plan.cores[k]
        spikes[:, :, core.neurons] = trace.spikes(k, core.n, len(x), steps)
    depth = synaptic_depths(graph)[plan.output_src]
    out = spikes[:, depth: depth + x.shape[1]].reshape(len(x), x.shape[1], *shape)
    if report is not None:
        rep = latency_report(plan, trace, float(fpga_params(plan.target or KIND)["clock_mhz"]))
        rep["simulator"] = simulator
        Path(report).write_text(json.dumps(rep, indent=2, sort_keys=True) + "\n")
    rows: list[dict] = []
    if strict:
        from snncompile.sim.emulator import run_emulator

        rows = event_rows(graph, run_emulator(graph, x, strict=True).events)
    return out, rows
