"""The value the back half passes around: one compile of one model for one target.

`make_build` loads, lowers, checks the back end's support and places once; write, run, verify,
estimate and report take the Build instead of redoing any of it (the partitioner runs once per
compile). `api.CompileResult` is this class.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from snncompile.errors import InputError
from snncompile.ir.graph import Graph
from snncompile.ir.stats import connections
from snncompile.target import Target


@dataclasses.dataclass(frozen=True)
class Build:
    """nn graph, hw graph in the target's formats, the quantization report, the Target, the
    placement (None for a target without [limits] whose back end does not place), the model's
    path, and the folder written (None until written)."""

    nn_graph: Graph
    hw_graph: Graph
    report: Any  # passes.QuantReport or PrequantizedReport
    out_dir: Path | None = None
    placement: Any = None  # partition.Placement
    target: Target | None = None
    model: Any = ""  # the model as given: a path (str or Path), or what a front end took

    @property
    def backend(self) -> ModuleType:
        """The back-end module of the target's kind (snncompile.backends)."""
        from snncompile.backends import get_backend

        if self.target is None:
            raise ValueError("this Build has no target")
        return get_backend(self.target)

    def summary(self) -> list[dict[str, Any]]:
        """The compile table: one row per layer, synapses counted as connections."""
        counts = connections(self.hw_graph)
        return [{"layer": row["layer"], "neurons": row["neurons"],
                 "synapses": counts[row["layer"]], **row} for row in self.report.rows()]


def make_build(nn_graph: Graph, hw_graph: Graph, report: Any, target: Target,
               model: Any = "") -> Build:
    """The Build of a lowered graph: the back end's feature check (a feature it lacks fails
    here, before any file is written; docs/support.md), then the placement, once."""
    from snncompile.backends import get_backend, place, support

    backend = get_backend(target)
    support.check(hw_graph, backend.KIND)
    check_target_size(hw_graph, target)
    return Build(nn_graph, hw_graph, report, None, place(hw_graph, target), target, model)


def _limit(target: Target, *keys: str) -> tuple[float, str] | None:
    """The product of the target's [limits] `keys` and how it was made; None if one is missing
    or unverified (unverified values never drive a decision)."""
    params = [target.limits.get(k) for k in keys]
    if any(p is None or p.status == "unverified" for p in params):
        return None
    total = 1.0
    for p in params:
        total *= p.value  # type: ignore[union-attr]
    return total, " x ".join(keys)


def check_target_size(hw_graph: Graph, target: Target) -> None:
    """Refuse, before the partitioner allocates anything, a network with more neurons than the
    whole target holds (its [limits]), with the numbers. Synapses are left to the partitioner:
    a chip's synapse count is stored weights, which conv layers share."""
    from snncompile.limits import BudgetError

    count = hw_graph.num_neurons()
    options = (("neurons_per_chip", "chips_per_system"), ("neurons_per_chip",),
               ("neurons_per_core", "cores"))
    found = next((lim for keys in options if (lim := _limit(target, *keys))), None)
    if found is not None and count > found[0]:
        raise BudgetError(f"the network has {count:,} neurons, more than target "
                          f"{target.name!r} holds ({found[0]:,.0f} = {found[1]})")


def check_input(x: np.ndarray, input_shape: tuple[int, ...], where: str,
                layout: str = "btn") -> np.ndarray:
    """x given in `layout` (snncompile.layouts) as (batch, time, *input_shape); else a
    one-sentence InputError."""
    from snncompile.layouts import to_btn

    x = to_btn(x, layout, tuple(input_shape), where)
    if x.shape[0] == 0 or x.shape[1] == 0:
        missing = "no samples" if x.shape[0] == 0 else "no time steps"
        raise InputError(f"{where}: input has shape {x.shape}, {missing}; there is nothing to run")
    return x
