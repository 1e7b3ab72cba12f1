"""Split layers into core-sized blocks (packing them into cores: packing.py).

A layer is cut into channel groups (only as many as needed for one output position to fit) and
its positions are walked tile by tile (order.Order): strips whose blocks are grown as large as a
fraction of every per-core limit allows, or a grid of near-equal rectangles (outer ones larger
where padding clips their fields), one block each (grid_blocks), so a conv block's receptive
field stays near-square. Dense layers are 1-channel
layers split by output neuron; recurrent edges are ordinary sources. Packing then lets blocks
bound by different resources share a core.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.partition.conv_lists import Where
from snncompile.partition.layers import Layer
from snncompile.partition.order import Order
from snncompile.partition.resources import CoreModel, DoesNotFit
from snncompile.partition.row_union import row_costs

RESOURCES = ("neurons", "synapse_bits", "fan_in", "fan_out")
STRIP_SPLITS = (1, 2, 3, 4, 6, 8)  # strip width = W / k; the sample strip with fewest blocks wins


@dataclasses.dataclass
class Block:
    """Neurons c * H*W + p (c in c0:c1, p in p0:p1) of one layer, and what they cost a core."""

    layer: str
    c0: int
    c1: int
    p0: int
    p1: int
    neurons: int
    synapses: int
    synapse_bits: int
    fan_in: int
    fan_out: int = 0

    def use(self) -> tuple[int, int, int, int]:
        return (self.neurons, self.synapse_bits, self.fan_in, self.fan_out)


def block_cost(layer: Layer, c0: int, c1: int, p0: int, p1: int) -> Block:
    syn = bits = fan = 0
    for inc in layer.incoming:
        s = inc.synapses(c0, c1, p0, p1)
        f = inc.fan_in(c0, c1, p0, p1)
        bits += inc.bits(c0, c1, p0, p1, s, f)
        syn, fan = syn + s, fan + f
    return Block(layer.name, c0, c1, p0, p1, (c1 - c0) * (p1 - p0), syn, bits, fan)


def _over(b: Block, model: CoreModel, max_neurons: int, frac: float = 1.0) -> str | None:
    """The first limit a block breaks (at `frac` of every cap), or None."""
    if b.neurons > min(model.cap("neurons") * frac, max_neurons):
        return "neurons"
    if b.synapse_bits > model.cap("synapse_bits") * frac:
        return "synapse_bits"
    if b.fan_in > model.cap("fan_in") * frac:
        return "fan_in"
    return None


FIXES = {
    "neurons": "fewer neurons per block cannot go below one position of one channel",
    "synapse_bits": "use lower weight precision (num_weight_bits) or sparser weights, or a target "
                    "with more synapse memory per core",
    "fan_in": "give each neuron fewer distinct source neurons (sparser or smaller inputs) or "
              "split the layer's input through an extra layer",
    "fan_out": "give each neuron fewer target cores (fewer neurons per core in the next layer)",
}


def _fail(layer: Layer, b: Block, limit: str, model: CoreModel) -> DoesNotFit:
    value = {"neurons": b.neurons, "synapse_bits": b.synapse_bits, "fan_in": b.fan_in,
             "fan_out": b.fan_out}[limit]
    return DoesNotFit(
        f"layer {layer.name!r} does not fit a core of target {model.target!r}: even "
        f"{b.neurons} neuron(s) (channels {b.c0}:{b.c1}, position {b.p0}) need {limit} = {value}, "
        f"the per-core limit is {getattr(model, limit)}; {FIXES[limit]}")


def split_layer(layer: Layer, model: CoreModel, max_neurons: int, frac: float = 1.0,
                shape: str = "strip") -> list[Block]:
    """Blocks of one layer, each as large as `frac` of every limit allows (max_neurons caps the
    size); frac 1/2 makes half-core blocks that pack with blocks bound by other resources.
    shape "strip": conv layers walk strips and blocks are grown to the limit (ragged rows);
    "grid": conv layers are cut into near-equal a x b tiles, one block each (grid_order)."""
    chans, _, _ = layer.geo
    groups = 1
    while True:
        size = math.ceil(chans / groups)
        ranges = [(c, min(chans, c + size)) for c in range(0, chans, size)]
        mid = (layer.geo[1] // 2) * layer.geo[2] + layer.geo[2] // 2
        worst = [block_cost(layer, c0, c1, q, q + 1) for c0, c1 in ranges for q in {0, mid}]
        bad = [(b, _over(b, model, max_neurons)) for b in worst]
        bad = [(b, lim) for b, lim in bad if lim]
        if not bad:
            break
        if size == 1:
            raise _fail(layer, bad[0][0], bad[0][1], model)
        groups = min(chans, groups * 2)
    if shape == "grid" and grid_ok(layer, model):
        return grid_blocks(layer, model, max_neurons, frac, ranges)
    if any(isinstance(inc.op, hw.Conv) for inc in layer.incoming) and layer.geo[1] > 1:
        best, tried = None, set()
        widths = [w for k in STRIP_SPLITS if (w := math.ceil(layer.geo[2] / k)) >= 2 or k == 1]
        if model.row_tiles:  # whole rows: only strips whose row of every channel fits a block
            fit = max(1, min(model.cap("neurons"), max_neurons) // (ranges[0][1] - ranges[0][0]))
            widths = [w for w in widths if w <= fit] or [min(fit, layer.geo[2])]
        for width in widths:
            if width in tried:
                continue
            tried.add(width)
            layer.set_order(width)
            got = _blocks(layer, model, max_neurons, frac, ranges[:1], strips=1)
            n = len(layer.order.tiles) * len(ranges)
            score = (len(got) * n, sum(b.fan_in for b in got) * n)
            if best is None or score < best[0]:
                best = (score, width)
        layer.set_order(best[1])  # chosen on the first strip of the first channel range
    return _blocks(layer, model, max_neurons, frac, ranges)


def _blocks(layer, model, max_neurons, frac, ranges, strips=None) -> list[Block]:
    """Grow blocks through every channel range and strip of the layer's current order."""
    blocks = []
    rows = model.row_tiles and any(isinstance(inc.op, hw.Conv) for inc in layer.incoming)
    grow = _grow_rows if rows_only(layer) else _grow
    for c0, c1 in ranges:
        cap = max(1, min(model.cap("neurons"), max_neurons) // (c1 - c0))
        for off, _, rows_t, _, ws in layer.order.tiles[:strips]:
            p, end, guess = off, off + rows_t * ws, None
            while p < end:
                q, b = grow(layer, model, max_neurons, c0, c1, p, min(end, p + cap), guess, frac)
                if rows and q < end and q - p >= ws and (q - p) % ws:  # end on a whole row
                    q = p + (q - p) // ws * ws
                    b = block_cost(layer, c0, c1, p, q)
                blocks.append(b)
                guess, p = q - p, q
    return blocks


def even(n: int, k: int) -> list[int]:
    """n cut into k near-equal parts (sizes differ by at most one, larger ones first)."""
    return [n // k + (i < n % k) for i in range(k)]


def bordered(n: int, k: int, e: int) -> list[int]:
    """n cut into k parts, the two outer ones e larger than the near-equal inner ones: a conv
    whose padding is clipped at the map's border reads e fewer rows (columns) of input there,
    so outer tiles e larger read as many input axons as inner ones. e = 0 (or no room): even."""
    if k < 3 or e <= 0 or n - 2 * e < k:
        return even(n, k)
    inner = even(n - 2 * e, k)
    return [inner[-1] + e, *inner[:k - 2], inner[-2] + e]


def grid_order(h: int, w: int, nh: int, nw: int, eh: int = 0, ew: int = 0) -> Order:
    """Order of an h x w map cut into nh bands x nw columns (row-major), near-equal, or with
    outer bands (columns) eh (ew) larger (bordered)."""
    heights, widths = bordered(h, nh, eh), bordered(w, nw, ew)
    tops, lefts = np.cumsum([0, *heights[:-1]]), np.cumsum([0, *widths[:-1]])
    return Order(h, w, tiles=[(int(r), a, int(c), b) for r, a in zip(tops, heights)
                              for c, b in zip(lefts, widths)])


def grid_ok(layer: Layer, model: CoreModel) -> bool:
    """Whether "grid" differs from "strip" for a layer: a 2-D conv-fed map, no Dense way in (its
    row ranges depend on the order), and no fpga row tiles (strips keep its RTL byte-stable)."""
    return (any(isinstance(inc.op, hw.Conv) for inc in layer.incoming) and layer.geo[1] > 1
            and not any(isinstance(inc.op, (hw.Dense, hw.Sparse)) for inc in layer.incoming)
            and not model.row_tiles)


def tile_cost(layer: Layer, c0: int, c1: int, ra: int, rb: int, ca: int, cb: int) -> Block:
    """block_cost of channels c0:c1 x a rectangle of positions, without building an Order."""
    syn = bits = fan = 0
    n = (rb - ra + 1) * (cb - ca + 1)
    for inc in layer.incoming:
        s, f = inc.rect_cost(c0, c1, ra, rb, ca, cb)
        bits += inc.bits(c0, c1, 0, n, s, f, Where(ra, ca, cb - ca + 1, 0, n - 1))
        syn, fan = syn + s, fan + f
    return Block(layer.name, c0, c1, 0, n, (c1 - c0) * n, syn, bits, fan)


GRID_TRIES = 3  # candidate grids (fewest estimated blocks) that are split in full


def grid_blocks(layer: Layer, model: CoreModel, max_neurons: int, frac: float,
                ranges: list[tuple[int, int]]) -> list[Block]:
    """Blocks of a conv-fed layer cut into an nh x nw grid of near-equal rectangles.

    Why: strip blocks are grown to the limit, so they end mid-row and the next block starts with
    a ragged edge; both read a halo wider than their area needs. A grid tile is the rectangle the
    halo bound assumes, and balanced bands and columns leave no thin remainder tile. For every
    distinct column width W / nw, the fewest bands whose largest tile near the middle (interior,
    so costliest) fits one block at `frac` are found by bisection; bordered grids (outer bands
    and columns larger, _bordered_cands) join them, the GRID_TRIES grids with fewest tiles are
    split (a tile that does not fit after all is grown into several blocks, so limits always
    hold) and the one with fewest blocks, then least fan-in, wins."""
    _, h, w = layer.geo
    c0, c1 = ranges[0]
    seen, cands = set(), []
    for nw in range(1, w + 1):
        if math.ceil(w / nw) in seen:
            continue
        seen.add(math.ceil(w / nw))

        def fits(nh, nw=nw):
            i = min(h % nh - 1, nh // 2) if h % nh else nh // 2  # a largest tile, near the middle
            j = min(w % nw - 1, nw // 2) if w % nw else nw // 2
            ra, ca = sum(even(h, nh)[:i]), sum(even(w, nw)[:j])
            b = tile_cost(layer, c0, c1, ra, ra + even(h, nh)[i] - 1, ca, ca + even(w, nw)[j] - 1)
            return _over(b, model, max_neurons, frac) is None

        lo = _fewest(fits, h)
        if fits(lo):
            cands.append((lo * nw, lo, nw, 0, 0))
    cands += _bordered_cands(layer, model, max_neurons, frac, c0, c1,
                             min((c[0] for c in cands), default=h * w))
    if not cands:  # no tile of even one position fits at frac: one-position tiles, grown below
        cands = [(h * w, h, w, 0, 0)]
    best = None
    for _, nh, nw, eh, ew in sorted(cands)[:GRID_TRIES]:
        layer.set_order(grid_order(h, w, nh, nw, eh, ew))
        got = _blocks(layer, model, max_neurons, frac, ranges)
        score = (len(got), sum(b.fan_in for b in got))
        if best is None or score < best[0]:
            best = (score, layer.order, got)
    layer.set_order(best[1])
    return best[2]


def _fewest(fits, n: int) -> int:
    """Smallest k in 1..n with fits(k) by bisection (fits is monotone in k), n if none."""
    lo, hi = 1, n
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def border_bonus(layer: Layer) -> tuple[int, int]:
    """Output rows (columns) by which a tile at the map's border can grow and read no more
    input than an inner one: padding // stride of the layer's convs (the least over them)."""
    convs = [inc.op for inc in layer.incoming if isinstance(inc.op, hw.Conv)]
    if not convs:
        return 0, 0
    return (min(op.padding[0] // op.stride[0] for op in convs),
            min(op.padding[1] // op.stride[1] for op in convs))


def _bordered_cands(layer: Layer, model: CoreModel, max_neurons: int, frac: float,
                    c0: int, c1: int, most: int) -> list[tuple[int, int, int, int, int]]:
    """Grid candidates (tiles, nh, nw, eh, ew) whose outer bands and columns are larger
    (bordered): near-equal tiles leave the clipped border tiles' axons idle, so on an axon-bound
    target every tile reads almost the cap only if outer tiles are larger (the 1M stack's
    102 x 102 maps: 40 tiles per layer instead of 42). Every kind of tile (outer or inner band
    x outer or inner column, the largest of each) is checked, so the count is exact. Only grids
    of at most `most` tiles (the best near-equal grid's) are looked for."""
    _, h, w = layer.geo
    eh, ew = border_bonus(layer)
    if not (eh or ew):
        return []
    out, seen = [], set()
    for nw in range(1, w + 1):
        widths = bordered(w, nw, ew)
        if max(widths) in seen:  # more columns of the same largest width: never fewer tiles
            continue
        seen.add(max(widths))

        def fits(nh, widths=widths):
            heights = bordered(h, nh, eh)
            for i in _kinds_of(heights):  # the inner tile first: it fails most often
                ra = sum(heights[:i])
                for j in _kinds_of(widths):
                    ca = sum(widths[:j])
                    b = tile_cost(layer, c0, c1, ra, ra + heights[i] - 1, ca, ca + widths[j] - 1)
                    if _over(b, model, max_neurons, frac) is not None:
                        return False
            return True

        top = min(h, most // nw)
        if top < 1 or not fits(top):  # no grid of this column cut beats the near-equal one
            continue
        lo = _fewest(fits, top)
        if (bordered(h, lo, eh), widths) != (even(h, lo), even(w, nw)):
            out.append((lo * nw, lo, nw, eh, ew))
    return out


def _kinds_of(sizes: list[int]) -> list[int]:
    """Indices of the largest part of each kind: the largest inner one (nearest the middle),
    first, last."""
    k = len(sizes)
    if k <= 2:
        return list(range(k))
    inner = max(range(1, k - 1), key=lambda i: (sizes[i], -abs(i - k // 2)))
    return [inner, 0, k - 1]


def _grow(layer, model, max_neurons, c0, c1, p, top, guess, frac):
    """Largest q in (p, top] whose block fits (limits grow monotonically with q)."""
    def fits(q):
        b = block_cost(layer, c0, c1, p, q)
        return b if _over(b, model, max_neurons, frac) is None else None

    if guess:
        q = min(top, p + guess)
        b = fits(q)
        if b is not None and (q == top or fits(q + 1) is None):
            return q, b
    best, lo, hi = p + 1, p + 1, top  # p + 1 fits (checked by split_layer's group choice)
    b = fits(top)
    if b is not None:
        return top, b
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(mid) is not None:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    b = block_cost(layer, c0, c1, p, best)
    limit = _over(b, model, max_neurons)
    if limit:
        raise _fail(layer, b, limit, model)
    return best, b


def rows_only(layer: Layer) -> bool:
    """Whether a layer is fed by Dense or Sparse ops and direct feeds alone (its blocks grow by
    _grow_rows)."""
    return all(inc.op is None or isinstance(inc.op, (hw.Dense, hw.Sparse))
               for inc in layer.incoming)


def _grow_rows(layer, model, max_neurons, c0, c1, p, top, guess, frac):
    """_grow for layers fed by Dense ops and direct feeds alone: the costs of every end q of a
    window are vectors (row_union.row_costs), so a block costs a few numpy calls instead of
    about 20 block_cost calls (a 4096-neuron layer in one-neuron blocks: 8,192 blocks per
    split). Windows double from twice the last block's size (16 at a strip's start) until one
    holds an end that does not fit. The same q as _grow: every cost grows with q, so both find
    the largest fitting q (p + 1 when none fits, refused below if it breaks a whole core's
    limit)."""
    caps = (min(model.cap("neurons") * frac, max_neurons), model.cap("synapse_bits") * frac,
            model.cap("fan_in") * frac)
    lo, width, q = p + 1, 2 * guess if guess else 16, top
    while lo <= top:
        ends = np.arange(lo, min(top, lo + width - 1) + 1)
        neurons, bits, fan = (c1 - c0) * (ends - p), 0, 0
        for inc in layer.incoming:
            _, f, b = row_costs(inc, c0, c1, p, ends)
            bits, fan = bits + b, fan + f
        ok = (neurons <= caps[0]) & (bits <= caps[1]) & (fan <= caps[2])
        if not ok.all():
            q = max(p + 1, int(ends[int(np.argmin(ok))]) - 1)
            break
        lo, width = int(ends[-1]) + 1, width * 2
    b = block_cost(layer, c0, c1, p, q)
    limit = _over(b, model, max_neurons)
    if limit:
        raise _fail(layer, b, limit, model)
    return q, b
