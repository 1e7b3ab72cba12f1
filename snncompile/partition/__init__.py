"""Partition, place and route a hw graph onto a target's cores: `partition(hw_graph, "loihi2")`.

Steps: layers -> blocks under every per-core limit (split.py) -> block routes (route.py) -> blocks
whose fan-out breaks the limit make their layer's blocks smaller and the split runs again -> pack
blocks into cores -> place cores on the chip mesh (place.py) -> Placement (artefact.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from snncompile.ir.graph import Graph
from snncompile.partition.artefact import Placement
from snncompile.partition.axons import CoreAxons
from snncompile.partition.bounds import halo_lower_bound, used_per_source
from snncompile.partition.layers import Layer, layers_of
from snncompile.partition.place import cost, greedy, mesh_for, metis, refine
from snncompile.partition.rates import route_traffic
from snncompile.partition.resources import CoreModel, DoesNotFit, core_model
from snncompile.partition.route import core_routes
from snncompile.partition.search import best_split
from snncompile.partition.share import share_pack, share_search
from snncompile.partition.split import RESOURCES, grid_ok
from snncompile.progress import staged
from snncompile.target import Target

__all__ = ["DoesNotFit", "Placement", "core_model", "lower_bound", "partition"]


def lower_bound(layers: list[Layer], model: CoreModel) -> dict[str, int]:
    """Cores no partition can beat, per resource: network totals over per-core capacities
    (synapse memory: weight bits of every synapse (Incoming.min_bits) plus one axon header per
    used source neuron of an op that pays one per in-axon, as every such neuron is in some core's
    table; every used source neuron needs one in- and one out-axon). A source neuron is used when
    it has a non-zero synapse (bounds.used_mask, exact for zero taps) and counted once however
    many layers it feeds, since one core's axon can serve all of them."""
    names = {x.name for x in layers}
    used = used_per_source(layers)
    heads = sum(used_per_source(layers, headers_only=True).values())
    totals = {"neurons": sum(x.size for x in layers),
              "synapse_bits": sum(inc.min_bits() for x in layers for inc in x.incoming)
              + heads * model.axon_header_bits,
              "fan_in": sum(used.values()),
              "fan_out": sum(v for s, v in used.items() if s in names)}
    return {k: math.ceil(v / model.cap(k)) for k, v in totals.items()}


@staged("partition and place")
def partition(hw_graph: Graph, target: str | Path | Target | CoreModel = "loihi2",
              method: str = "metis",
              rates: Mapping[str, float | np.ndarray] | None = None,
              fractions: tuple[float, ...] = (1.0, 3 / 4, 2 / 3, 1 / 2, 1 / 3, 1 / 4),
              shapes: tuple[str, ...] = ("strip", "grid"),
              share: bool | str = True) -> Placement:
    """Split, pack, place and route; method "metis" (min-cut placement) or "greedy" (layer order).

    rates: spikes per neuron per step of each layer and input (default 1.0), which weigh traffic:
    a scalar per node, or an array of the node's neurons (rates.route_traffic).
    fractions: block sizes to try, as fractions of a core; the split packing into fewest cores wins.
    shapes: conv tile shapes to try ("strip": blocks grown to the limit along strips; "grid":
    near-equal rectangles, one block each; split.split_layer).
    share: re-pack under exact per-core axon counts (share.share_pack: empty cores whose
    blocks fit others, or pack in reverse layer order); "search" also retries smaller blocks
    with that packing (share.share_search, slower); core use and routes are exact either way.
    Raises DoesNotFit with a sentence naming the layer, the limit, the numbers and a fix.
    """
    t0 = time.perf_counter()
    model = target if isinstance(target, CoreModel) else core_model(target)
    layers = layers_of(hw_graph, model)
    blocks, routes, cores, fracs = best_split(layers, model, tuple(fractions), shapes=tuple(shapes))
    t_split = time.perf_counter()
    packed = len(cores)
    if share == "search":
        blocks, routes, cores, axons, fracs = share_search(layers, model, fracs, blocks, routes,
                                                           cores, shapes=tuple(shapes))
    elif share:
        cores, axons = share_pack(layers, blocks, routes, cores, model)
    else:
        axons = CoreAxons(layers, blocks, routes, cores)
    t_share = time.perf_counter()
    core_of = np.zeros(len(blocks), np.int64)
    for i, members in enumerate(cores):
        core_of[members] = i
    traffic = route_traffic(layers, blocks, routes, rates, hw_graph.inputs)
    croutes = core_routes(routes, core_of, traffic, axons.pairs())
    mesh = mesh_for(len(cores), model)
    base = greedy(len(cores))
    slot_of = base
    if method == "metis":
        try:
            slot_of = metis(mesh, len(cores), croutes[0], croutes[1], croutes[3])
            slot_of = refine(mesh, slot_of, croutes[0], croutes[1], croutes[3])
        except ImportError:  # pymetis is optional: fall back to the layer-order placement
            method = "greedy (pymetis not installed)"
    elif method != "greedy":
        raise ValueError(f"placement method must be 'metis' or 'greedy', not {method!r}")
    t_place = time.perf_counter()
    placement = Placement(model, layers, blocks, cores, routes, core_of, mesh, slot_of, croutes, {})
    lb = lower_bound(layers, model)
    lb_halo = {**lb, **{k: max(v, lb[k]) for k, v in halo_lower_bound(layers, model).items()}}
    use = placement.core_use()
    for k, name in enumerate(RESOURCES):
        if use[:, k].max(initial=0) > model.cap(name):
            worst = int(use[:, k].argmax())
            raise RuntimeError(f"partitioner bug: core {worst} needs {name} = {use[worst, k]}, "
                               f"over its limit {model.cap(name)}")
    placed = cost(mesh, slot_of, croutes[0], croutes[1], croutes[3])
    baseline = cost(mesh, base, croutes[0], croutes[1], croutes[3])
    placement.metrics.update({
        "method": method, "neurons": int(sum(b.neurons for b in blocks)),
        "synapses": int(sum(b.synapses for b in blocks)), "blocks": len(blocks),
        "cores": len(cores), "cores_packed": packed, "chips": mesh.chips, "lower_bound": lb,
        "block_fractions": {k: round(v[0], 4) for k, v in fracs.items()},
        "block_shapes": {x.name: fracs[x.name][1] if grid_ok(x, model) else "strip"
                         for x in layers},
        "cores_over_lower_bound": len(cores) / max(1, max(lb.values())),
        "lower_bound_halo": lb_halo,
        "cores_over_halo_bound": len(cores) / max(1, max(lb_halo.values())),
        **placed, "greedy_traffic_hops": baseline["traffic_hops"],
        "traffic_hops_vs_greedy": placed["traffic_hops"] / max(baseline["traffic_hops"], 1e-12),
        "seconds": {"split_route": t_split - t0, "share": t_share - t_split,
                    "pack_place": t_place - t_share},
    })
    return placement
