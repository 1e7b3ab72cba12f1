"""Pack blocks into cores counting axons per core as the chip does, and use the room it frees.

Why: packing (packing.pack) adds up blocks' fan-in and fan-out, an upper bound: blocks of one
layer on one core share the halo they read, and a neuron read by several blocks of one core
sends one message there. The room this frees is only known once blocks sit on cores, so
`consolidate` tries each core, least loaded first: its blocks move one by one (in block order,
so neighbouring tiles travel together) into the core where they add the fewest input axons,
among cores that already read the block's source blocks or hold its layer's neighbouring blocks
(they share its halo) and the cores with most room, or nothing moves. `pack_in_order` packs
from scratch in reverse layer order under exact counts; `share_pack` keeps the better, and
`share_search` (opt-in) also re-splits layers into smaller blocks that pay off only when they
share cores. Exact counts (axons.CoreAxons) keep all four limits (neurons and synapse memory
stay sums of blocks). Deterministic, and bounded by budgets of trial moves and blocks.
"""

from __future__ import annotations

import numpy as np

from snncompile.partition.axons import CoreAxons
from snncompile.partition.layers import Layer
from snncompile.partition.packing import pack
from snncompile.partition.resources import CoreModel, DoesNotFit
from snncompile.partition.route import HOST, Routes
from snncompile.partition.search import Splitter
from snncompile.partition.split import Block, grid_ok

CANDIDATES = 6  # neighbourhood cores tried per block (most shared reads first)
ROOMY = 3  # plus this many of the cores with most input-axon room
BUDGET = 20_000  # trial moves over the whole pass (each unites one core's needs)
LIMBO = -2  # a block of the core being emptied that has no new core yet
_MISSING = object()


def _blank() -> dict:
    """Sharer's per-core fields of an empty core (fresh containers on every call)."""
    return {"members": [], "unions": {}, "into": {}, "fan_in": 0, "fan_out": 0, "neurons": 0,
            "bits": 0}

class Sharer(CoreAxons):
    """CoreAxons with transactions: empty(core) moves every block of a core elsewhere or
    changes nothing."""

    def __init__(self, layers: list[Layer], blocks: list[Block], routes: Routes,
                 cores: list[list[int]], model: CoreModel):
        super().__init__(layers, blocks, routes, cores)
        self.caps = {r: model.cap(r) for r in ("neurons", "synapse_bits", "fan_in", "fan_out")}
        self.neurons = [sum(blocks[j].neurons for j in m) for m in self.members]
        self.bits = [sum(blocks[j].synapse_bits for j in m) for m in self.members]
        self.inputs = {s for x in layers for inc in x.incoming for s in inc.sources
                       if s not in self.layers}
        self.pos = {}  # block -> (layer, index in layer), for layer neighbours
        by_layer: dict[str, list[int]] = {}
        for j, b in enumerate(blocks):
            by_layer.setdefault(b.layer, []).append(j)
        self.by_layer = by_layer
        for name, ids in by_layer.items():
            for k, j in enumerate(ids):
                self.pos[j] = (name, k)
        self.log: list[tuple] = []
        self.spent = 0

    # -- undo log ---------------------------------------------------------------------------------
    def _set(self, container, key, value) -> None:
        old = _MISSING if isinstance(container, dict) and key not in container else container[key]
        self.log.append((container, key, old))
        if value is _MISSING:
            del container[key]
        else:
            container[key] = value

    def _rollback(self) -> None:
        while self.log:
            container, key, old = self.log.pop()
            if old is _MISSING:
                del container[key]
            else:
                container[key] = old

    def _add_out(self, b: int, delta: int) -> None:
        k = int(self.core_of[b])
        if k >= 0 and delta:
            self._set(self.fan_out, k, self.fan_out[k] + delta)

    # -- one move ---------------------------------------------------------------------------------
    def _candidates(self, j: int, away: int, roomy: int = ROOMY) -> list[int]:
        """Cores that share j's reads (same source blocks, or neighbouring blocks of j's
        layer), most shared reads first, then the cores with most input-axon room."""
        score: dict[int, int] = {}
        for s in self.senders([j]):
            for d, n in (self.outof[s].items() if s >= 0 else ()):
                score[d] = score.get(d, 0) + n
        layer, k = self.pos[j]
        ids = self.by_layer[layer]
        for nb in (k - 1, k + 1):
            if 0 <= nb < len(ids) and self.core_of[ids[nb]] >= 0:
                d = int(self.core_of[ids[nb]])
                score[d] = score.get(d, 0) + 1
        b = self.blocks[j]
        fits = (lambda d: d != away and self.members[d]
                and self.neurons[d] + b.neurons <= self.caps["neurons"]
                and self.bits[d] + b.synapse_bits <= self.caps["synapse_bits"])
        near = sorted((d for d in score if fits(d)), key=lambda d: (-score[d], d))[:CANDIDATES]
        if not roomy:
            return near
        neurons, bits = np.asarray(self.neurons), np.asarray(self.bits)
        ok = ((neurons > 0) & (neurons + b.neurons <= self.caps["neurons"])
              & (bits + b.synapse_bits <= self.caps["synapse_bits"]))
        ok[[d for d in [away, *near] if d >= 0]] = False
        idx = np.flatnonzero(ok)
        room = idx[np.lexsort((idx, np.asarray(self.fan_in)[idx]))][:roomy]
        return near + [int(d) for d in room]

    def _try(self, j: int, d: int):
        """(added fan-in, new unions, new into) if block j fits core d under exact counts."""
        self.spent += 1
        srcs = set(self.needs(j))
        if srcs & self.inputs:
            srcs |= self.inputs
        unions, into = self.reads(self.members[d] + [j], srcs, self.unions[d])
        old = self.into[d]
        new = {b: n for b, n in old.items()
               if not (b == HOST and srcs & self.inputs)
               and (b == HOST or self.layer_of[b] not in srcs)}
        new.update(into)
        fan_in = sum(new.values())
        if fan_in > self.caps["fan_in"]:
            return None
        out = {}  # core -> new fan-out
        cap = self.caps["fan_out"]
        for b in set(old) | set(new):
            delta = new.get(b, 0) - old.get(b, 0)
            if b != HOST and delta and self.core_of[b] >= 0:
                k = int(self.core_of[b])
                out[k] = out.get(k, self.fan_out[k]) + delta
        own = sum(n for dd, n in self.outof[j].items() if dd != d) + new.get(j, 0)
        out[d] = out.get(d, self.fan_out[d]) + own
        if any(v > cap for v in out.values()):
            return None
        return fan_in - self.fan_in[d], unions, new

    def _move(self, j: int, d: int, unions, new) -> None:
        """Put block j (in LIMBO) on core d with d's new unions and reads."""
        old = self.into[d]
        for b in set(old) | set(new):
            delta = new.get(b, 0) - old.get(b, 0)
            if b == HOST or not delta:
                continue
            self._add_out(b, delta)
            self._set(self.outof[b], d, new.get(b, _MISSING))
        self._set(self.core_of, j, d)
        self._add_out(j, sum(self.outof[j].values()))
        self._set(self.members, d, self.members[d] + [j])
        self._set(self.unions, d, unions)
        self._set(self.into, d, new)
        self._set(self.fan_in, d, sum(new.values()))
        self._set(self.neurons, d, self.neurons[d] + self.blocks[j].neurons)
        self._set(self.bits, d, self.bits[d] + self.blocks[j].synapse_bits)

    def empty(self, a: int, budget: int) -> bool:
        """Move every block of core a to other cores (True), or leave everything as it was."""
        self.log = []
        for b, n in self.into[a].items():
            if b != HOST:
                self._set(self.outof[b], a, _MISSING)
                if self.core_of[b] != a:
                    self._add_out(b, -n)
        moving = sorted(self.members[a])
        for j in moving:
            self._set(self.core_of, j, LIMBO)
        for name, value in _blank().items():
            self._set(getattr(self, name), a, value)
        for j in moving:
            best = None
            for d in self._candidates(j, a):
                if self.spent >= budget:
                    break
                got = self._try(j, d)
                if got is not None and (best is None or got[0] < best[1][0]):
                    best = (d, got)
            if best is None:
                self._rollback()
                return False
            self._move(j, best[0], *best[1][1:])
        self.log = []
        return True


def pack_in_order(layers: list[Layer], blocks: list[Block], routes: Routes, model: CoreModel,
                  window: int = 3, budget: int = BUDGET) -> list[list[int]] | None:
    """Cores filled under exact counts, layers in reverse order (a block's readers are placed
    before it, so its exact fan-out is known when it is placed; only recurrent readers come
    later, and their moves are checked against it), blocks in tile order: each goes to the core
    among the `window` newest and those sharing its reads where it adds fewest input axons,
    else to a new core, so neighbouring tiles of a layer share a core and its halo. Cores are
    returned sorted by first block, as packing.pack does. None when the budget runs out or a
    block fits no core at all (the sum packing then stands)."""
    sh = Sharer(layers, blocks, routes, [], model)
    sh.core_of[:] = LIMBO
    walk = [j for x in reversed(layers) for j in sh.by_layer.get(x.name, [])]
    for j in walk:
        b, best = blocks[j], None
        recent = [d for d in range(len(sh.members) - 1, max(-1, len(sh.members) - 1 - window), -1)]
        for d in dict.fromkeys(recent + sh._candidates(j, LIMBO, roomy=0)):
            if (sh.neurons[d] + b.neurons > sh.caps["neurons"]
                    or sh.bits[d] + b.synapse_bits > sh.caps["synapse_bits"]):
                continue
            got = sh._try(j, d)
            if got is not None and (best is None or got[0] < best[1][0]):
                best = (d, got)
        if best is None:
            for name, value in _blank().items():
                getattr(sh, name).append(value)
            got = sh._try(j, len(sh.members) - 1)
            if got is None:
                return None
            best = (len(sh.members) - 1, got)
        if sh.spent > budget:
            return None
        sh._move(j, best[0], *best[1][1:])
        sh.log = []
    return sorted((sorted(m) for m in sh.members), key=min)


def consolidate(layers: list[Layer], blocks: list[Block], routes: Routes,
                cores: list[list[int]], model: CoreModel,
                budget: int = BUDGET) -> tuple[list[list[int]], CoreAxons]:
    """Fewer cores (emptied ones dropped, the rest in their old order) and their exact axon
    tables. Cores are tried least loaded first (largest share of any resource, exact counts)."""
    sh = Sharer(layers, blocks, routes, cores, model)
    caps = np.array([sh.caps[r] for r in ("neurons", "synapse_bits", "fan_in", "fan_out")],
                    np.float64)
    load = np.array([sh.neurons, sh.bits, sh.fan_in, sh.fan_out], np.float64).T / caps
    order = np.lexsort((np.arange(len(cores)), load.sum(1), load.max(1))) if len(cores) else []
    emptied = 0
    for a in order:
        if sh.spent >= budget or emptied >= len(cores) - 1:
            break
        if sh.members[a] and sh.empty(int(a), budget):
            emptied += 1
    if not emptied:
        return [list(m) for m in cores], sh
    kept = [list(m) for m in sh.members if m]
    return [sorted(m) for m in kept], CoreAxons(layers, blocks, routes, kept)


def share_pack(layers: list[Layer], blocks: list[Block], routes: Routes, cores: list[list[int]],
               model: CoreModel, budget: int = BUDGET) -> tuple[list[list[int]], CoreAxons]:
    """The fewer cores of two exact-count packings: the sum packing `cores` consolidated, and
    blocks re-packed in reverse layer order (pack_in_order) then consolidated; ties keep the
    sum packing. Returns the cores and their exact axon tables."""
    best = consolidate(layers, blocks, routes, cores, model, budget)
    ordered = pack_in_order(layers, blocks, routes, model, budget=budget)
    if ordered is not None and len(ordered) < len(best[0]):
        got = consolidate(layers, blocks, routes, ordered, model, budget)
        if len(got[0]) < len(best[0]):
            best = got
    return best


SEARCH_CHOICES = ((1 / 4, "grid"), (1 / 3, "grid"), (1 / 2, "grid"), (1 / 8, "strip"),
                  (1 / 16, "strip"))
SEARCH_BUDGET = 4_000  # blocks re-packed by share_search, half per start


def share_search(layers: list[Layer], model: CoreModel, fracs: dict[str, tuple[float, str]],
                 blocks: list[Block], routes: Routes, cores: list[list[int]],
                 budget: int = SEARCH_BUDGET, shapes: tuple[str, ...] = ("strip", "grid")):
    """(blocks, routes, cores, CoreAxons, fracs): the search's winner re-packed with shared axons
    (share_pack), then a budgeted coordinate descent, layer by layer in network order, over
    smaller blocks (SEARCH_CHOICES), which share a core's halo once packed together but that
    the sum-counting search (search.py) cannot credit; a change is kept when it needs fewer
    cores. Opt-in (partition(share="search")): each try re-splits a layer and re-packs under
    exact counts, so networks with more blocks than half the budget (one try per start would
    not fit) skip the search. Only tile shapes in `shapes` are tried. Layer orders end as the
    returned blocks need them."""
    packed, axons = share_pack(layers, blocks, routes, cores, model)
    best = (_score(packed, axons, blocks, model), dict(fracs), blocks, routes, packed, axons)
    if len(blocks) > budget // 2:
        return blocks, routes, packed, axons, dict(fracs)
    choices = [c for c in SEARCH_CHOICES if c[1] in shapes]
    orders = {x.name: x.order for x in layers}
    splitter, spent = Splitter(layers, model), 0
    quarter = {x.name: SEARCH_CHOICES[0] if grid_ok(x, model) else fracs[x.name] for x in layers}
    starts = [dict(fracs)] + ([quarter] if "grid" in shapes else [])
    for k, start in enumerate(starts):  # the winner; quarter grid tiles for conv layers
        limit = (k + 1) * budget // len(starts)  # an equal share of the budget each
        if start != fracs:
            cur = _attempt(splitter, layers, model, start)
            if cur is None:
                continue
            spent += len(cur[2])
        else:
            cur = best
        for x in layers:
            for c in choices:
                if spent > limit or x.size <= 1 or (splitter._choice(x, c)
                                                     == splitter._choice(x, cur[1][x.name])):
                    continue
                got = _attempt(splitter, layers, model, {**cur[1], x.name: c})
                if got is None:
                    continue
                spent += len(got[2])
                if got[0] < cur[0]:
                    cur = got
        if cur[0] < best[0]:
            best = cur
    if best[1] == fracs:  # the winner's blocks: put back the orders they were split in
        for y in layers:
            if y.order is not orders[y.name]:
                y.set_order(orders[y.name])
        return blocks, routes, best[4], best[5], best[1]
    b, r = splitter.split(best[1])  # again: sets orders, and fan-outs of the cached blocks
    return b, r, best[4], best[5], best[1]


def _attempt(splitter: Splitter, layers: list[Layer], model: CoreModel,
             fracs: dict[str, tuple[float, str]]):
    """(score, fracs, blocks, routes, cores, CoreAxons) of a split re-packed with shared axons,
    or None when a layer does not fit at that choice."""
    try:
        b, r = splitter.split(fracs)
    except DoesNotFit:
        return None
    got = share_pack(layers, b, r, pack(b, model), model)
    return (_score(got[0], got[1], b, model), fracs, b, r, *got)


def _score(cores: list[list[int]], axons: CoreAxons, blocks: list[Block],
           model: CoreModel) -> tuple[int, float]:
    """(cores, load of the emptiest core): among equal core counts, the packing whose lightest
    core is nearly empty is the one closest to losing a core (a tie-break that lets the descent
    cross plateaus, e.g. all conv layers to quarter tiles, then the input layer to fill pieces)."""
    caps = [model.cap(r) for r in ("neurons", "synapse_bits", "fan_in", "fan_out")]
    loads = []
    for d, m in enumerate(cores):
        use = (sum(blocks[j].neurons for j in m), sum(blocks[j].synapse_bits for j in m),
               axons.fan_in[d], axons.fan_out[d])
        loads.append(max(u / c for u, c in zip(use, caps)))
    return len(cores), min(loads, default=0.0)
