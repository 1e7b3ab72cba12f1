"""What one core of a target holds, read from the [limits] section of targets/<name>/target.toml.

A missing limit means "not bounded" (the FPGA template has no synapse-memory bound, for example);
`CoreModel.notes` says which numbers are assumed or unverified so summaries can say so too.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from snncompile.errors import SnnCompileError
from snncompile.target import Param, Target, load_target


class DoesNotFit(SnnCompileError):
    """A layer or network exceeds a core, chip or system limit of the target."""


# limit name in a CoreModel -> keys accepted in [limits] (first present wins)
_KEYS = {
    "neurons": ("neurons_per_core",),
    "fan_in": ("fan_in_axons_per_core", "axons_per_core"),
    "fan_out": ("fan_out_axons_per_core",),
    "cores_per_chip": ("cores_per_chip", "cores"),
    "mesh_rows": ("mesh_rows",),
    "mesh_cols": ("mesh_cols",),
    "max_chips": ("max_chips",),
    "index_bits": ("synapse_index_bits",),
    "axon_header_bits": ("synapse_axon_header_bits",),
    "delay_bits": ("synapse_delay_bits",),
    "conv_shared_weights": ("conv_shared_weights",),
    "conv_lists": ("conv_weight_lists",),
    "base_page": ("synapse_base_page",),
    "group_synapses": ("synapse_group_max",),
    "word_bits": ("synapse_word_bits",),
    "row_tiles": ("conv_row_tiles",),
}
UNBOUNDED = 1 << 62


@dataclasses.dataclass(frozen=True)
class CoreModel:
    """Per-core budgets (None = unbounded) and the synapse encoding's cost parameters.

    Synapse memory of one synapse op inside one core is the cheaper of two encodings, as Loihi
    offers both (nengo-loihi SynapseConfig.bits_per_axon, compression 0 = sparse, 3 = dense):
      sparse: synapses * (weight_bits + index_bits + delay_bits) + in_axons * axon_header_bits
      dense:  in_axons * block_rows * (weight_bits + delay_bits) + in_axons * axon_header_bits
    A Conv with conv_shared_weights stores its block's kernel once instead of every connection;
    with conv_lists its axons share one weight list per (input channel, tap mask, base page), lists
    in groups of group_synapses with an axon_header_bits header, rounded to word_bits
    (partition/conv_lists.py, nengo-loihi's Loihi 1 conv encoding).
    """

    target: str
    neurons: int | None
    synapse_bits: int | None
    fan_in: int | None
    fan_out: int | None
    cores_per_chip: int
    mesh_rows: int
    mesh_cols: int
    max_chips: int | None
    index_bits: int = 13
    axon_header_bits: int = 10
    delay_bits: int = 6
    conv_shared_weights: bool = False
    conv_lists: bool = False
    base_page: int = 256
    group_synapses: int = 64
    word_bits: int = 64
    # blocks of a conv-fed layer end on whole rows of their strip, so each is a rectangle of
    # positions (the fpga kernel walker addresses a block with constant steps: fpga/conv.py)
    row_tiles: bool = False
    notes: tuple[str, ...] = ()

    def cap(self, name: str) -> int:
        value = getattr(self, name)
        return UNBOUNDED if value is None else int(value)

    def limits(self) -> dict[str, int | None]:
        return {k: getattr(self, k) for k in ("neurons", "synapse_bits", "fan_in", "fan_out")}


def _value(limits: dict[str, Param], name: str) -> tuple[int | None, str | None]:
    for key in _KEYS[name]:
        if key in limits:
            return int(limits[key].value), key
    return None, None


def core_model(target: str | Path | Target, **overrides: int | bool | None) -> CoreModel:
    """The CoreModel of a target ([limits] of a registered name, a target folder or a Target);
    keywords override."""
    spec = load_target(target)
    limits = dict(spec.limits)
    got: dict[str, object] = {}
    notes = []
    for name in _KEYS:
        value, key = _value(limits, name)
        if value is not None:
            got[name] = value
            status = limits[key].status
            if status in ("assumed", "unverified"):
                notes.append(f"{key} = {value} is {status}")
    if "synapse_memory_bits_per_core" in limits:
        got["synapse_bits"] = int(limits["synapse_memory_bits_per_core"].value)
    elif "memory_per_core_kib" in limits:
        got["synapse_bits"] = int(limits["memory_per_core_kib"].value) * 8192
    else:
        got["synapse_bits"] = None
    cpc = int(got.get("cores_per_chip", 1))
    rows = int(got.get("mesh_rows", 0)) or int(math.sqrt(cpc))
    while cpc % rows:
        rows -= 1
    got["cores_per_chip"], got["mesh_rows"] = cpc, rows
    got["mesh_cols"] = int(got.get("mesh_cols", 0)) or cpc // rows
    if got["mesh_rows"] * got["mesh_cols"] != cpc:
        raise SnnCompileError(f"target {spec.name!r}: mesh {got['mesh_rows']} x {got['mesh_cols']} "
                              f"does not hold its {cpc} cores per chip")
    got["conv_shared_weights"] = bool(got.get("conv_shared_weights", False))
    got["conv_lists"] = bool(got.get("conv_lists", False))
    got["row_tiles"] = bool(got.get("row_tiles", False))
    for name in ("neurons", "fan_in", "fan_out"):
        got.setdefault(name, None)
    if "max_chips" not in got:
        got["max_chips"] = 1
        notes.append("max_chips absent: one chip")
    got.update(overrides)
    return CoreModel(target=spec.name, notes=tuple(notes), **got)  # type: ignore[arg-type]


def bits_for(values_max: int, mixed: bool) -> int:
    """Weight bits of a stored magnitude up to values_max, plus a sign bit for mixed signs."""
    return max(1, int(values_max).bit_length()) + int(mixed)
