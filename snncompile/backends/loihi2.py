"""Loihi 2 back end: a self-contained folder whose `run_lava.py` builds the hw graph in Lava 0.10.0.

`model.net` (HDF5) carries the exact hw graph in `/snncompile` (snncompile.ir.hdf5) plus what the
program needs to align outputs; the program reads it with h5py alone, so the folder runs on any
machine with numpy, h5py and lava-nc (Loihi2SimCfg fixed_pt here, Loihi2HwCfg with --hw).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from snncompile import children
from snncompile.backends import support
from snncompile.backends.netx_writer import write_layers
from snncompile.backends.templates import environment
from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.ir import hw_ops as hw
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.ir.hdf5 import read_graph, write_graph
from snncompile.lava_compat import INSTALL_HINT
from snncompile.progress import staged
from snncompile.sim.inputs import check_input
from snncompile.sim.sigma_delta import is_graded
from snncompile.sim.timing import latency, synaptic_depths
from snncompile.target import Target
from snncompile.version import __version__

MODEL, PROGRAM, README, TEXT, COMPAT = "model.net", "run_lava.py", "README.md", "model.hw.txt", \
    "lava_compat.py"
NETX_NOTES = "netx_notes.json"
GROUP = "snncompile"
SYNAPSES = (hw.Dense, hw.Sparse, hw.Conv)  # DelayDense is a Dense
# what run_lava.py.j2 builds (snncompile.backends.support; docs/support.md is generated from it)
SUPPORTED = frozenset({"SpikeInput", "GradedInput", "AnalogInput", "SpikeOutput", "Dense",
                       "DelayDense", "Sparse", "Conv", "LIF", "LIFReset", "recurrence", "fan-in",
                       "bias-clock", "ATRLIF", "reset-subtract", "reset-subtract-next",
                       "per-neuron-parameters", "potential-readout", "Sigma", "Delta",
                       "SigmaDelta"})
# (reset-subtract*, per-neuron-parameters: the shipped SnnLIF; Sigma, Delta, SigmaDelta: Lava's
# own sdn processes)
WHY = {"multi-source-synapse": "a Lava synapse process takes one source port"}
SHIPPED = "lava_models"  # processes + fixed_pt models the program brings (snncompile/lava_models)
KIND = "loihi2"
PLACES = True  # a Loihi build carries the partitioner's map of its cores (placement.json)
WRITE_OPTIONS: tuple[str, ...] = ()
RUN_OPTIONS: tuple[str, ...] = ("record", "record_to")  # run --record (snncompile.recording)
OWN_ARTEFACT = True  # run() executes the generated Lava program
ARTEFACT = "the generated Lava program (Lava fixed_pt models)"


def _refuse(g: Graph) -> None:
    """Raise for anything the generated program cannot build in Lava 0.10.0 (one sentence)."""
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise SnnCompileError(f"loihi2: the graph has inputs {g.inputs} and outputs {g.outputs}; "
                              "the Lava program takes exactly one of each")
    support.check(g, KIND)
    shapes = g.shapes
    for name, op in g.nodes.items():
        preds = g.predecessors(name)
        if isinstance(op, (hw.LIF, hw.ATRLIF, hw.Sigma)):  # ATRLIF: Lava's adaptive threshold
            for p in preds:
                if g.nodes[p].kind == "neuron":
                    raise UnsupportedOp(op, KIND, f"LIF {name!r} is fed by neuron {p!r} with no "
                                        "synapse between them")
                if tuple(shapes[p]) != tuple(op.shape):
                    raise UnsupportedOp(op, KIND, f"LIF {name!r} has shape {tuple(op.shape)} "
                                        f"but receives {tuple(shapes[p])} from {p!r}")
        elif isinstance(op, SYNAPSES):
            if isinstance(g.nodes[preds[0]], hw.GradedInput):
                raise UnsupportedOp(op, KIND, f"graded input {preds[0]!r} feeds synapse "
                                    f"{name!r}; it must feed LIF populations directly")
            if isinstance(op, hw.DelayDense) and is_graded(g.nodes[preds[0]]):
                raise UnsupportedOp(op, KIND, f"graded spikes of {preds[0]!r} into DelayDense "
                                    f"{name!r}: the emulator does not model that product")
        elif not isinstance(op, (hw.SpikeInput, hw.SpikeOutput)):
            raise UnsupportedOp(op, KIND, f"node {name!r} ({type(op).__name__}) has no Lava "
                                "process in this back end")


@staged("write the Lava program")
def write(hw_graph: Graph, folder: Path, target: str | Path | Target = KIND,
          placement: object = None) -> dict[str, str]:
    """Write model.net, run_lava.py, lava_compat.py, lava_models/, README.md, model.hw.txt into
    `folder`, from the target's templates (`placement`: written by the caller).

    Refuses (UnsupportedOp / SnnCompileError) before writing anything if Lava cannot hold the graph.
    """
    import h5py

    folder = Path(folder)
    _refuse(hw_graph)
    templates = environment(target)

    def _render(name: str, **values: object) -> str:
        return templates.get_template(name).render(**values)

    g = hw_graph
    depth = synaptic_depths(g)
    (out_name,) = g.outputs
    out_src = g.predecessors(out_name)[0]
    files = {"model": MODEL, "program": PROGRAM, "readme": README, "hw_graph": TEXT,
             "lava_compat": COMPAT}
    program = _render("run_lava.py.j2", version=__version__)
    readme = _render("README.md.j2", version=__version__,
                     input_shape=list(g.shapes[g.inputs[0]]),
                     output_shape=list(g.nodes[out_name].shape), latency=int(latency(g)),
                     graded=isinstance(g.nodes[g.inputs[0]], hw.GradedInput))
    with h5py.File(folder / MODEL, "w", track_order=True) as f:
        group = f.create_group(GROUP)
        write_graph(g, group)
        group.attrs["latency"] = int(latency(g))
        group.attrs["output_depth"] = int(depth[out_src])
        group.attrs["shapes"] = json.dumps({n: list(s) for n, s in g.shapes.items()})
        netx_reasons = write_layers(g, f)  # [] = lava-dl's netx reads /layer exactly
    (folder / NETX_NOTES).write_text(json.dumps(netx_reasons, indent=1) + "\n")
    files["netx_notes"] = NETX_NOTES
    shutil.copyfile(Path(__file__).resolve().parents[1] / "lava_compat.py", folder / COMPAT)
    files.update(_copy_shipped_models(folder))
    (folder / PROGRAM).write_text(program)
    (folder / README).write_text(readme)
    files.update(text.write(g, folder / TEXT, "hw_graph"))
    return files


def _copy_shipped_models(folder: Path) -> dict[str, str]:
    """Copy snncompile/lava_models/*.py (Lava processes and their fixed_pt models, importing only
    numpy and Lava) into folder/lava_models, where run_lava.py imports them; {key: file}."""
    source = Path(__file__).resolve().parents[1] / SHIPPED
    target = folder / SHIPPED
    target.mkdir(exist_ok=True)
    files = {}
    for path in sorted(source.glob("*.py")):
        shutil.copyfile(path, target / path.name)
        files[f"{SHIPPED}/{path.stem}"] = f"{SHIPPED}/{path.name}"
    return files


def read_model(folder: Path) -> Graph:
    """The exact hw graph stored in folder/model.net; checked as any HDF5 model file first
    (a build re-hashed after its model.net was damaged must be a sentence, not an h5py error)."""
    import h5py

    from snncompile.frontends.hdf5_guard import check_hdf5

    path = Path(folder) / MODEL
    check_hdf5(path, "build's netx file")
    try:
        with h5py.File(path, "r") as f:
            return read_graph(f[GROUP], str(path))
    except SnnCompileError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py's errors vary (KeyError, OSError, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SnnCompileError(f"{path} cannot be read ({first}); recompile the model") from None


def _run_with_retry(cmd: list[str], cwd: str, timeout: float) -> subprocess.CompletedProcess:
    """Run cmd; start it once more if it hangs. Lava 0.10.0's multiprocess start-up deadlocked once
    during this back end's development (no output at all, never a wrong one); on a timeout or an
    interrupt the program's whole process group (Lava's workers too) is stopped (children.py)."""
    for _attempt in (1, 2):
        try:
            return children.run(cmd, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
    raise SnnCompileError(f"{cmd[1]} did not finish within {timeout:g} s (tried twice)")


@staged("Lava run (run_lava.py)")
def run_program(folder: Path, x: np.ndarray, steps: int | None = None, probes: bool = False,
                timeout: float = 900.0, raw: bool = False
                ) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    """Run folder/run_lava.py with this interpreter on x; (outputs, probes or None). With `raw`
    the outputs are the output population at every hw step, unaligned (as lava-dl's netx tests
    read a sink).

    probes: "s:/u:/v:<lif>" -> (batch, steps, *shape) in raw hw time (step t at index t - 1), our
    (C, H, W) layout, like simulate(..., record=True). A failing program raises SnnCompileError.
    """
    folder = Path(folder).resolve()  # the program runs from a temporary working directory
    if importlib.util.find_spec("lava") is None:
        raise SnnCompileError(f"running {folder / PROGRAM} needs Lava, which is not installed; "
                              f"{INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="snncompile-lava-") as tmp:
        tmp_path = Path(tmp)
        np.save(tmp_path / "x.npy", np.asarray(x))
        cmd = [sys.executable, str(folder / PROGRAM), "--input", str(tmp_path / "x.npy"),
               "--output", str(tmp_path / "y.npy")]
        if steps is not None:
            cmd += ["--steps", str(int(steps))]
        if probes:
            cmd += ["--probes", str(tmp_path / "p.npz")]
        if raw:
            cmd.append("--raw")
        proc = _run_with_retry(cmd, tmp, timeout)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or ["(no stderr)"]
            raise SnnCompileError(f"{folder / PROGRAM} failed (exit {proc.returncode}): "
                                  f"{lines[-1]}")
        outputs = np.load(tmp_path / "y.npy")
        recorded = None
        if probes:
            with np.load(tmp_path / "p.npz") as data:
                recorded = {k: data[k] for k in data.files}
    return outputs, recorded


def run(folder: Path, manifest: dict, x: np.ndarray, strict: bool = False,
        record: str | None = None, record_to: Path | None = None
        ) -> tuple[np.ndarray, list[dict]]:
    """Output spikes from Lava, aligned like run_emulator's outputs; with `record` ("u,v,spikes")
    Lava's own u, v, spikes of every layer per step go to `record_to` (snncompile.recording).

    Lava reports no overflows; with strict=True the rows come from the emulator run on the graph
    read back from model.net, which is bit-exact with Lava fixed_pt (tests/test_lava_differential).
    """
    from snncompile import recording

    fields = recording.fields_of(record) if record else None
    folder = Path(folder)
    x = np.asarray(x)
    g = read_model(folder)
    check_input(g, x, KIND)
    rows: list[dict] = []
    if strict:
        from snncompile.sim.emulator import run_emulator
        from snncompile.sim.timing import event_rows

        rows = event_rows(g, run_emulator(g, x, strict=True).events)
    outputs, probes = run_program(folder, x, probes=bool(fields))
    if fields:
        recording.save(record_to, recording.from_probes(g, probes, x.shape[1], fields))
    return outputs, rows
