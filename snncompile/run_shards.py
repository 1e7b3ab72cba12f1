"""`snncompile run --workers N / --ray` (issue 18): a build folder run on many samples, cut into
consecutive sample shards (snncompile.shard) that local processes or Ray tasks run. The folder
travels as its files' bytes (read once, put once in Ray's object store), so a Ray worker on
another machine runs the very same build; each shard writes them to a temporary folder and runs
it there. Spikes are joined in sample order and strict mode's overflow counts added per (layer,
step, kind), so the output equals the one-process run's exactly.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.build import check_input
from snncompile.build_check import read_manifest
from snncompile.build_folder import frames_input, run_build
from snncompile.engine import Engine
from snncompile.errors import SnnCompileError
from snncompile.ir import text

#: run options that write one file for the whole run: refused with more than one shard
WHOLE_RUN_OPTIONS = {"record": "--record", "record_to": "--record-out",
                     "report": "--cycles-report"}


@dataclasses.dataclass(frozen=True)
class FolderImage:
    """A build folder as bytes: every file under it by its relative path."""

    name: str
    files: dict[str, bytes]

    @classmethod
    def of(cls, folder: Path) -> FolderImage:
        files = {p.relative_to(folder).as_posix(): p.read_bytes()
                 for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}
        return cls(folder.name, files)

    def write(self, parent: Path) -> Path:
        folder = parent / self.name
        for relative, data in self.files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return folder


def run_build_sharded(folder: str | Path, x: np.ndarray, strict: bool = False,
                      layout: str = "btn", frame_steps: int | None = None,
                      engine: Engine | None = None, **options: Any,
                      ) -> tuple[np.ndarray, list[dict]]:
    """build_folder.run_build on x, its samples sharded by `engine` (default: here, whole)."""
    from snncompile.layouts import from_btn
    from snncompile.shard import run_sharded

    engine = engine or Engine()
    if engine == Engine():
        return run_build(folder, x, strict, layout, frame_steps, **options)
    folder = Path(folder)
    whole = [flag for key, flag in WHOLE_RUN_OPTIONS.items() if options.get(key) is not None]
    if whole:
        raise SnnCompileError(f"{whole[0]} writes one file for the whole run; run without "
                              "--workers/--ray to use it")
    manifest = read_manifest(folder)
    shape = tuple(manifest["input_shape"])
    hw_graph = text.read(folder / "model.hw.txt")
    if frame_steps is not None:
        x = frames_input(hw_graph, x, frame_steps, folder)
    btn = check_input(x, shape, str(folder), layout)
    parts = run_sharded(run_shard, FolderImage.of(folder), btn, engine=engine, strict=strict,
                        **options)
    spikes = np.concatenate([part[0] for part in parts])
    events = merge_rows([part[1] for part in parts], hw_graph) if strict else []
    return from_btn(spikes, layout, single=x.ndim == len(shape) + 1), events


def run_shard(image: FolderImage, x: np.ndarray, strict: bool = False,
              **options: Any) -> tuple[np.ndarray, list[dict]]:
    """One shard, in a worker: the build written to a temporary folder and run on x (btn)."""
    with tempfile.TemporaryDirectory(prefix="snncompile-run-") as tmp:
        return run_build(image.write(Path(tmp)), x, strict, **options)


def merge_rows(shards: list[list[dict]], hw_graph: Any) -> list[dict]:
    """Strict-mode rows of all shards as one run reports them (counts of the same layer, kind
    and hw step added, in the emulator's order)."""
    from snncompile.sim.fixed import Event
    from snncompile.sim.timing import event_rows
    from snncompile.verify_stages import merge_events

    events = [tuple(Event(r["layer"], r["hw_step"], r["kind"], r["neurons"]) for r in rows)
              for rows in shards]
    return event_rows(hw_graph, list(merge_events(events, hw_graph)))
