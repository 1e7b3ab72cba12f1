"""A chip as data: number formats and limits read from targets/<name>/target.toml, sources cited."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from importlib import resources
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
    """Loihi-2-style fixed-point formats (every field is a [synapse] or [neuron] entry of the TOML)."""

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
    if f.name not in ("name", "kind", "description", "backend", "sources", "sections")
)


def known_targets() -> list[str]:
    root = resources.files("snncompile.targets")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "target.toml").is_file())


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


def _read_toml(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """targets/<name>/target.toml as a dict. `[target] base = "other"` takes the number formats
    ([synapse], [neuron]) of the other target, entry by entry unless this file overrides them;
    limits and energy belong to each chip and are never inherited."""
    known = known_targets()
    if name not in known:
        raise SnnCompileError(f"unknown target {name!r} (known targets: {', '.join(known)})")
    if name in seen:
        raise SnnCompileError(f"target {name!r}: base targets form a loop ({' -> '.join(seen)})")
    path = resources.files("snncompile.targets") / name / "target.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SnnCompileError(f"target {name!r}: target.toml is not valid TOML ({exc})") from None
    base = data.get("target", {}).get("base")
    if base is None:
        return data
    inherited = _read_toml(str(base), (*seen, name))
    for section in SECTIONS:
        data[section] = {**inherited.get(section, {}), **data.get(section, {})}
    return data


def load_target(name: str) -> Target:
    """Read targets/<name>/target.toml (shipped as package data) into a Target."""
    data = _read_toml(name)
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
            raise SnnCompileError(f"target {name!r}: {key} is unverified and cannot drive arithmetic")
    return Target(
        name=str(head.get("name", name)),
        kind=str(head.get("kind", "")),
        description=str(head.get("description", "")),
        backend=str(head.get("backend", name)),
        sources=sources,
        sections=sections,
        **{f: int(sources[f].value) for f in _NUMBER_FIELDS},
    )
