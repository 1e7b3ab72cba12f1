"""Choose each layer's block size (a fraction of a core) and tile shape so the blocks pack into
fewest cores.

Why per layer: one fraction for the whole network is a poor compromise. A conv layer whose
input has many channels wants whole-core tiles (its halo, the input rim a tile reads beyond its
own footprint, shrinks with tile size), while neuron- or axon-bound layers want half or quarter
cores that pack beside blocks bound by other resources. The search starts from the best uniform
choices, then tries every other choice layer by layer (coordinate descent, repeated while a
pass improves) and keeps a change when the packing needs fewer cores. Splits are cached per
(layer, fraction, shape, size cap), so a step of the descent costs one route pass and one packing,
and no packing when the step's blocks summed over all cores already need as many cores as the
best so far (ceil(total use / cap) per resource is a lower bound of any packing, so such a step
cannot win; skipping it changes no result).
"""

from __future__ import annotations

import numpy as np

from snncompile.partition.layers import Layer
from snncompile.partition.packing import pack
from snncompile.partition.resources import CoreModel, DoesNotFit
from snncompile.partition.route import Routes, block_fan_out, block_routes
from snncompile.partition.split import FIXES, RESOURCES, Block, grid_ok, rows_only, split_layer

SHAPES = ("strip", "grid")
# descent-only block sizes: pieces that fill the axons big conv tiles leave on their cores (a
# direct feed costs one axon per neuron at any block size); never a good uniform start, and a
# whole network of them is 16x the blocks to route and pack
FILL_FRACTIONS = (1 / 8, 1 / 16)
STARTS = 2  # descents from the best uniform choices (plus the best strip-only one, strips only)
# fill pieces of the mixed start (mixed_start), the best packing descends: finer pieces fit
# the few axons whole-core tiles leave (1M stack, loihi2: lif0 at 1/16 strips 304 cores, 1/48
# grid 302)
MIXED_FILLS = ((1 / 16, "strip"), (1 / 48, "grid"))
# a descent's work, in blocks split and packed over its steps (pruned ones too): at least
# DESCENT_BUDGET (PilotNet: a full pass), and DESCENT_STEPS uniform evaluations of its start on
# big networks, so the descent is a bounded multiple of one evaluation and time stays linear
DESCENT_BUDGET = 20_000
DESCENT_STEPS = 50


class Splitter:
    """split(fractions) -> (blocks, routes) with the fan-out repair loop, cached per layer."""

    def __init__(self, layers: list[Layer], model: CoreModel):
        self.layers, self.model = layers, model
        self.cache: dict[tuple[str, float, int], tuple[list[Block], int]] = {}
        self.route_cache: dict[tuple, tuple[np.ndarray, ...]] = {}
        self.fan_cache: dict[tuple, np.ndarray] = {}
        # a Dense-fed layer cut into one-position blocks at some fraction is cut the same at every
        # smaller one (no block grows as the caps shrink; split._grow_rows): 4,096 blocks each
        self.singles: dict[tuple[str, str, int], tuple[float, tuple]] = {}
        self.sources = {x.name: sorted({s for inc in x.incoming for s in inc.sources
                                        if s != x.name and s in {y.name for y in layers}})
                        for x in layers}

    def _segments(self, keys: dict[str, tuple], blocks: dict[str, list[Block]]):
        """Per destination layer x: (cache key, the layers of x's segment (x, then its sources),
        their blocks, x's block count, each segment layer's global block offset)."""
        offset, n = {}, 0
        for x in self.layers:
            offset[x.name], n = n, n + len(blocks[x.name])
        for x in self.layers:
            seg = [x.name, *self.sources[x.name]]
            local = [b for name in seg for b in blocks[name]]
            yield (tuple(keys[name] for name in seg), [y for y in self.layers if y.name in seg],
                   local, len(blocks[x.name]), [(offset[name], len(blocks[name])) for name in seg])

    def _routes(self, keys: dict[str, tuple], blocks: dict[str, list[Block]]) -> Routes:
        """block_routes, computed per destination layer and cached by the split keys of that
        layer and its sources (a descent step re-routes only the layers it touched)."""
        src, dst, axons = [], [], []
        for key, seg, local, n_dst, spans in self._segments(keys, blocks):
            if key not in self.route_cache:
                r = block_routes(seg, local, range(n_dst))
                self.route_cache[key] = (r.src, r.dst, r.axons)
            s, d, a = self.route_cache[key]
            starts = np.cumsum([0] + [size for _, size in spans])
            which = np.searchsorted(starts, s, side="right") - 1
            base = np.array([at for at, _ in spans], np.int64)
            glob = np.where(s >= 0, base[np.maximum(which, 0)] + s - starts[np.maximum(which, 0)],
                            s)
            src.append(glob)
            dst.append(d + spans[0][0])
            axons.append(a)
        cat = (lambda parts: np.concatenate(parts).astype(np.int64) if parts
               else np.zeros(0, np.int64))
        return Routes(cat(src), cat(dst), cat(axons))

    def _fan_out(self, keys: dict[str, tuple], blocks: dict[str, list[Block]]) -> np.ndarray:
        """_routes(...).fan_out, per block, without the routes (route.block_fan_out), cached
        like them: the search only needs the sums."""
        out = np.zeros(sum(len(v) for v in blocks.values()), np.int64)
        for key, seg, local, n_dst, spans in self._segments(keys, blocks):
            if key not in self.fan_cache:
                self.fan_cache[key] = block_fan_out(seg, local, range(n_dst))
            got, at = self.fan_cache[key], 0
            for start, size in spans:
                out[start:start + size] += got[at:at + size]
                at += size
        return out

    def _layer_blocks(self, x: Layer, frac: float, shape: str, max_neurons: int) -> list[Block]:
        key = (x.name, frac, shape, max_neurons)
        if key not in self.cache:
            same = self.singles.get((x.name, shape, max_neurons))
            if same is not None and same[0] > frac:  # one position each at a larger fraction
                self.cache[key] = self.cache[same[1]]
            else:
                blocks = split_layer(x, self.model, max_neurons, frac, shape)
                self.cache[key] = (blocks, x.order)
                if rows_only(x) and all(b.p1 - b.p0 == 1 for b in blocks):
                    self.singles[key[0], shape, max_neurons] = (frac, key)
        blocks, order = self.cache[key]
        if x.order is not order:
            x.set_order(order)
        return blocks  # shared between tries: split() resets every fan_out it reads

    def _choice(self, x: Layer, choice: tuple[float, str]) -> tuple[float, str]:
        """(fraction, shape); shapes only differ for conv layers, so others share one cache key."""
        frac, shape = choice
        return frac, shape if grid_ok(x, self.model) else "strip"

    def split(self, fracs: dict[str, tuple[float, str]], routes: bool = True
              ) -> tuple[list[Block], Routes | None]:
        """Blocks at each layer's fraction and their routes (None unless `routes`: the search
        scores splits by their blocks alone); layers whose blocks break the fan-out limit get
        smaller blocks and the split runs again."""
        model, cap = self.model, self.model.cap("neurons")
        max_neurons: dict[str, int] = {}
        over: dict[str, float] = {}
        for _ in range(12):
            keys = {x.name: (x.name, *self._choice(x, fracs[x.name]),
                             max_neurons.get(x.name, cap)) for x in self.layers}
            per = {x.name: self._layer_blocks(x, *keys[x.name][1:]) for x in self.layers}
            blocks = [b for x in self.layers for b in per[x.name]]
            fan_out = self._fan_out(keys, per)
            over = {}
            for b, f in zip(blocks, fan_out):
                b.fan_out = int(f)
                if f > model.cap("fan_out"):
                    over[b.layer] = max(over.get(b.layer, 0.0), f / b.neurons)
            if not over:
                return blocks, self._routes(keys, per) if routes else None
            for name, per_neuron in over.items():
                size = int(model.cap("fan_out") / per_neuron * 0.95)
                if size < 1 or size >= max_neurons.get(name, 1 << 62):
                    raise DoesNotFit(f"layer {name!r} needs {per_neuron:.0f} fan-out axons per "
                                     f"neuron, target {model.target!r} allows {model.fan_out} "
                                     f"per core; {FIXES['fan_out']}")
                max_neurons[name] = size
        raise DoesNotFit(f"fan-out of layers {sorted(over)} still exceeds {model.fan_out} per "
                         f"core on target {model.target!r}; {FIXES['fan_out']}")


def mixed_start(splitter: Splitter, layers: list[Layer], model: CoreModel,
                fractions: tuple[float, ...], shapes: tuple[str, ...],
                small: tuple[float, str] = (1 / 16, "strip")):
    """A start no uniform choice reaches: layers bound by the network's scarcest resource in
    whole-core tiles (grid where allowed: the least halo per neuron), every other layer in
    `small` fill pieces that go into the room those tiles leave. Why: on axon-bound Loihi 2
    conv stacks the 28-core split of the 100k stack is whole-core 2 x 2 grids of the inner
    layers plus lif0 (4 input channels, neuron-bound) in 1/16-core strips; the descent cannot
    walk there from a uniform start (one layer at a time changes no core count). Resources are
    summed over each layer's whole-core blocks (fan-out from that split's routes); None when
    that split does not fit or every layer would get the same choice (a uniform start). On
    PilotNet (loihi2) it packs worse than the best uniform start, and best_split skips it."""
    big = max(fractions)
    whole = {x.name: (big, "grid" if "grid" in shapes else "strip") for x in layers}
    try:
        blocks, _ = splitter.split(whole, routes=False)
    except DoesNotFit:
        return None
    caps = np.array([model.cap(r) for r in RESOURCES], np.float64)
    per = {x.name: np.zeros(len(RESOURCES)) for x in layers}
    for b in blocks:
        per[b.layer] += np.array(b.use(), np.float64) / caps
    scarce = int(np.argmax(sum(per.values())))
    small = (small[0], small[1] if small[1] in shapes else shapes[0])
    got = {x.name: whole[x.name] if int(np.argmax(per[x.name])) == scarce else small
           for x in layers}
    return got if len({splitter._choice(x, got[x.name]) for x in layers}) > 1 else None


def best_split(layers: list[Layer], model: CoreModel, fractions: tuple[float, ...],
               descend: bool = True, shapes: tuple[str, ...] = SHAPES):
    """(blocks, routes, cores, (fraction, shape) per layer) of the split that packs into fewest
    cores. A choice is a block size (fraction of a core) and a tile shape (split.split_layer:
    "strip" grows blocks to the limit, "grid" cuts even rectangles). Every uniform choice is
    packed; then passes of per-layer coordinate descent (while a pass improves and the budget,
    max(DESCENT_BUDGET, DESCENT_STEPS x the start's blocks), lasts) run from the STARTS best
    uniform choices over all choices plus FILL_FRACTIONS, from the mixed start (mixed_start,
    the best of MIXED_FILLS, when it packs no worse than the best uniform choice; budgeted as
    that choice) over the same, and from the best strip choice over strip choices only (never
    worse than strips alone); the fewest cores win. A descent step that
    cannot beat the best (summed use, or pack's `beat`) is not packed in full but its blocks count
    against the budget, so the steps taken, and the result, are those of packing every step.
    Several starts because the descent is greedy: on PilotNet (loihi2) different starts ended
    between 55 and 58 cores while this was tuned."""
    splitter = Splitter(layers, model)
    caps = np.array([model.cap(r) for r in RESOURCES], np.int64)
    # packings by (use vectors, beat): choices that split alike pack alike (a dense layer whose
    # one neuron exceeds every fraction below 1 is cut into the same one-neuron blocks by all)
    packed: dict[tuple[bytes, int | None], list[list[int]] | None] = {}

    def run(fracs, beat=None, routes=False):
        """(blocks, routes, cores, fracs); cores is None when `beat` is given and no packing
        into fewer cores was found: unpacked when the blocks' summed use already needs `beat`
        cores, else pack gives up as soon as its rules must reach `beat`. Routes (None unless
        `routes`) only for the winner: tries are scored by their blocks."""
        blocks, routes = splitter.split(fracs, routes)
        use = np.array([b.use() for b in blocks], np.int64).reshape(-1, 4)
        if beat is not None:
            total = use.sum(0)
            if int((-(-total // caps)).max()) >= beat:  # ceil(total / cap) cores at least
                return blocks, routes, None, dict(fracs)
        key = (use.tobytes(), beat)  # pack reads use vectors alone
        if key not in packed:
            packed[key] = pack(blocks, model, beat)
        return blocks, routes, packed[key], dict(fracs)

    def descend_from(best, choices, size):
        spent = 0  # block-evaluations: bounds the descent's time on big networks
        budget = max(DESCENT_BUDGET, DESCENT_STEPS * size)
        improved = descend and len(choices) > 1 and len(layers) > 1
        while improved and spent <= budget:  # passes until one changes nothing
            improved = False
            for x in layers:  # network order: a change reshapes its consumers' fan-out
                for c in choices:
                    if (splitter._choice(x, c) == splitter._choice(x, best[3][x.name])
                            or spent > budget):
                        continue
                    try:
                        got = run({**best[3], x.name: c}, beat=len(best[2]))
                    except DoesNotFit:
                        continue
                    spent += len(got[0])  # pruned steps count too: the same steps either way
                    if got[2] is not None and len(got[2]) < len(best[2]):
                        best, improved = got, True
        return best

    choices = [(f, s) for s in shapes for f in fractions]
    fill = [(f, s) for s in shapes for f in FILL_FRACTIONS if f < min(fractions)]
    uniform, error = [], None
    for i, c in enumerate(choices):
        try:
            uniform.append((len((got := run({x.name: c for x in layers}))[2]), i, got))
        except DoesNotFit as exc:
            error = exc
    if not uniform:
        raise error
    uniform.sort(key=lambda u: u[:2])
    starts = [(u[2], choices + fill, len(u[2][0])) for u in uniform[:STARTS]]
    mixed = None  # the best packing of the mixed start over MIXED_FILLS
    for small in MIXED_FILLS:
        fracs = mixed_start(splitter, layers, model, fractions, shapes, small)
        if fracs is None or fracs in [start[3] for start, *_ in starts]:
            continue
        try:
            got = run(fracs)
        except DoesNotFit:
            continue
        if mixed is None or len(got[2]) < len(mixed[2]):
            mixed = got
    if mixed is not None and len(mixed[2]) <= uniform[0][0]:  # else not worth a descent
        # budgeted as the best uniform start: its fill pieces are many blocks (1M stack: 2,000)
        starts.append((mixed, choices + fill, len(uniform[0][2][0])))
    strips = [u[2] for u in uniform if choices[u[1]][1] == "strip"]
    if strips and len(shapes) > 1:  # the strip-only descent: never worse than strips alone
        starts.append((strips[0], [c for c in choices if c[1] == "strip"], len(strips[0][0])))
    best = None
    for start, pool, size in starts:
        got = descend_from(start, pool, size)
        if best is None or len(got[2]) < len(best[2]):
            best = got
    return run(best[3], routes=True)  # again: every layer's order as the winner's
