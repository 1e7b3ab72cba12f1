"""A chip as data: number formats, limits, energy, back-end sections and templates read from a
target folder (targets/<name>/target.toml, or any folder holding one), sources cited.

`load_target` takes a registered name (a folder of the shipped targets/), the path of a target
folder, or a Target, and reads each folder once; every stage of the back half gets the Target.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from snncompile.errors import SnnCompileError

STATUSES = ("code", "published", "assumed", "unverified")
SECTIONS = ("synapse", "neuron")


@dataclasses.dataclass(frozen=True)
class Param:
    """One number of a target with where it comes from and how sure we are of it."""

    value: int | float
    source: str
    status: str


@dataclasses.dataclass(frozen=True)
class Target:
    """A chip: Loihi-2-style fixed-point formats (each a [synapse] or [neuron] entry of its TOML),
    the other sections, and the folder it was read from."""

    name: str
    kind: str
    description: str
    backend: str
    # synapses
    weight_bits: int
    num_weight_bits_max: int
    mixed_weight_min: int
    mixed_weight_max: int
    exc_weight_max: int
    inh_weight_min: int
    weight_exp_min: int
    weight_exp_max: int
    conv_weight_min: int
    conv_weight_max: int
    conv_accumulator_bits: int
    channel_bits: int
    latency_steps: int
    max_delay: int
    # neurons
    decay_bits: int
    du_min: int
    du_max: int
    dv_min: int
    dv_max: int
    vth_max: int
    vth_shift: int
    act_shift: int
    bias_mant_min: int
    bias_mant_max: int
    bias_exp_min: int
    bias_exp_max: int
    uv_bits: int
    reset_interval: int
    # where each number comes from, and the partitioner's limits
    sources: Mapping[str, Param] = dataclasses.field(default_factory=dict)
    # every other section ([limits], [energy], [fpga], ...): section -> key -> Param
    sections: Mapping[str, Mapping[str, Param]] = dataclasses.field(default_factory=dict)
    # the folder target.toml was read from (its templates/ and data files sit beside it), and
    # what finds the target again: its registered name, or the folder's absolute path
    folder: Path | None = None
    ref: str = ""

    @property
    def templates(self) -> Path:
        """The folder of the back end's jinja2 templates (targets/<name>/templates)."""
        return self.file("templates")

    def file(self, name: str) -> Path:
        """A file or folder beside target.toml (templates/, timing.toml, ...)."""
        if self.folder is None:
            raise SnnCompileError(f"target {self.name!r} was not read from a folder")
        return self.folder / name

    @property
    def limits(self) -> Mapping[str, Param]:
        """Per-core and per-chip resources (the partitioner's); empty = unbounded."""
        return self.sections.get("limits", {})

    @property
    def energy(self) -> Mapping[str, Param]:
        """Energy and time per operation (snncompile.estimate); empty = no estimate."""
        return self.sections.get("energy", {})

    def value(self, section: str, key: str) -> Any:
        """One number (or word) of an extra section, with a sentence if it is missing."""
        try:
            return self.sections[section][key].value
        except KeyError:
            raise SnnCompileError(f"target {self.name!r}: target.toml has no [{section}] {key}"
                                  ) from None

    @property
    def uv_max(self) -> int:
        """2^23: u lives in (-uv_max, uv_max], v in [-(uv_max - 1), uv_max - 1]."""
        return 1 << (self.uv_bits - 1)


_NUMBER_FIELDS = tuple(
    f.name for f in dataclasses.fields(Target)
    if f.name not in ("name", "kind", "description", "backend", "sources", "sections", "folder",
                      "ref")
)
TOML = "target.toml"


def registry() -> Path:
    """The shipped targets/ folder (package data snncompile.targets)."""
    return Path(str(resources.files("snncompile.targets")))


def known_targets() -> list[str]:
    """The registered target names: the folders of targets/ that hold a target.toml."""
    return sorted(p.name for p in registry().iterdir() if p.is_dir() and (p / TOML).is_file())


def target_help() -> str:
    """One line for the CLI's --target help: the registered names, or a folder."""
    return (f"a registered target ({', '.join(known_targets())}) or the path of a target "
            "folder holding target.toml (docs/adding-a-chip.md)")


def find_target(target: str | Path) -> tuple[Path, str]:
    """(folder, ref) of a registered name or a target folder's path, or a one-sentence error."""
    known = known_targets()
    if isinstance(target, str) and target in known:
        return registry() / target, target
    path = Path(target)
    if (path / TOML).is_file():
        return path.resolve(), str(path.resolve())
    if path.is_dir():
        raise SnnCompileError(f"target folder {path} has no {TOML}")
    raise SnnCompileError(f"unknown target {str(target)!r} (known targets: {', '.join(known)}; "
                          "or give the path of a folder holding target.toml)")


def _param(name: str, key: str, entry: Any) -> Param:
    if not isinstance(entry, dict) or not {"value", "source", "status"} <= set(entry):
        raise SnnCompileError(f"target {name!r}: {key} needs a table {{value, source, status}}")
    if entry["status"] not in STATUSES:
        raise SnnCompileError(
            f"target {name!r}: {key} has status {entry['status']!r}; expected one of {STATUSES}"
        )
    if not str(entry["source"]).strip():
        raise SnnCompileError(f"target {name!r}: {key} has no source")
    return Param(entry["value"], str(entry["source"]), str(entry["status"]))


def _read_toml(folder: Path, name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """folder/target.toml as a dict. `[target] base = "other"` (a registered name, or a folder
    relative to this one) takes the number formats ([synapse], [neuron]) of the other target,
    entry by entry unless this file overrides them; limits and energy belong to each chip and
    are never inherited."""
    if name in seen:
        raise SnnCompileError(f"target {name!r}: base targets form a loop ({' -> '.join(seen)})")
    try:
        data = tomllib.loads((folder / TOML).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SnnCompileError(f"target {name!r}: target.toml is not valid TOML ({exc})") from None
    base = data.get("target", {}).get("base")
    if base is None:
        return data
    base = str(base)
    base_folder, base_ref = find_target(base if base in known_targets() else folder / base)
    inherited = _read_toml(base_folder, base_ref, (*seen, name))
    for section in SECTIONS:
        data[section] = {**inherited.get(section, {}), **data.get(section, {})}
    return data


def load_target(target: str | Path | Target) -> Target:
    """The Target of a registered name, a target folder's path, or a Target (returned as is)."""
    if isinstance(target, Target):
        return target
    return _load(*find_target(target))


@functools.cache
def _load(folder: Path, ref: str) -> Target:
    """Read folder/target.toml once into a Target (shipped targets are package data)."""
    name = ref if ref in known_targets() else folder.name
    data = _read_toml(folder, name)
    head = data.get("target", {})
    sources: dict[str, Param] = {}
    for section in SECTIONS:
        for key, entry in data.get(section, {}).items():
            sources[key] = _param(name, f"[{section}] {key}", entry)
    missing = [f for f in _NUMBER_FIELDS if f not in sources]
    if missing:
        raise SnnCompileError(f"target {name!r}: target.toml lacks {', '.join(missing)}")
    sections = {section: {k: _param(name, f"[{section}] {k}", v) for k, v in entries.items()}
                for section, entries in data.items() if section not in ("target", *SECTIONS)}
    for key, param in sources.items():
        if param.status == "unverified":
            raise SnnCompileError(f"target {name!r}: {key} is unverified and cannot drive "
                                  "arithmetic")
    return Target(
        name=str(head.get("name", name)),
        kind=str(head.get("kind", "")),
        description=str(head.get("description", "")),
        backend=str(head.get("backend", name)),
        sources=sources,
        sections=sections,
        folder=folder,
        ref=ref,
        **{f: int(sources[f].value) for f in _NUMBER_FIELDS},
    )
