"""Split layers into core-sized blocks, then pack blocks into cores.

A layer is cut into channel groups (only as many as needed for one output position to fit) and
its positions are walked in strip order (layers.Order: a range is a tile, so a conv block's
receptive field stays near-square); every block is grown as large as a fraction of every
per-core limit allows. Dense layers are 1-channel layers split by output neuron; recurrent edges
are ordinary sources. Packing then lets blocks bound by different resources share a core.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.partition.layers import Layer
from snncompile.partition.resources import CoreModel, DoesNotFit

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


def split_layer(layer: Layer, model: CoreModel, max_neurons: int, frac: float = 1.0) -> list[Block]:
    """Blocks of one layer, each as large as `frac` of every limit allows (max_neurons caps the
    size); frac 1/2 makes half-core blocks that pack with blocks bound by other resources."""
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
            n = len(layer.order.strips) * len(ranges)
            score = (len(got) * n, sum(b.fan_in for b in got) * n)
            if best is None or score < best[0]:
                best = (score, width)
        layer.set_order(best[1])  # chosen on the first strip of the first channel range
    return _blocks(layer, model, max_neurons, frac, ranges)


def _blocks(layer, model, max_neurons, frac, ranges, strips=None) -> list[Block]:
    """Grow blocks through every channel range and strip of the layer's current order."""
    blocks = []
    h = layer.geo[1]
    rows = model.row_tiles and any(isinstance(inc.op, hw.Conv) for inc in layer.incoming)
    for c0, c1 in ranges:
        cap = max(1, min(model.cap("neurons"), max_neurons) // (c1 - c0))
        for off, _, ws in layer.order.strips[:strips]:
            p, end, guess = off, off + h * ws, None
            while p < end:
                q, b = _grow(layer, model, max_neurons, c0, c1, p, min(end, p + cap), guess, frac)
                if rows and q < end and q - p >= ws and (q - p) % ws:  # end on a whole row
                    q = p + (q - p) // ws * ws
                    b = block_cost(layer, c0, c1, p, q)
                blocks.append(b)
                guess, p = q - p, q
    return blocks


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


def pack(blocks: list[Block], model: CoreModel) -> list[list[int]]:
    """Cores as lists of block indices. Bin-centric dot-product packing (Panigrahy et al. 2011,
    "Heuristics for vector bin packing"): fill one core at a time with the fitting block whose use
    best matches the core's remaining room, so blocks bound by different resources share cores.
    Sums stay within the caps; fan-in / fan-out sums bound axon tables blocks could share."""
    caps = np.array([model.cap(r) for r in RESOURCES], np.float64)
    use = np.array([b.use() for b in blocks], np.float64).reshape(-1, 4) / caps
    rem = np.arange(len(blocks))
    cores: list[list[int]] = []
    while len(rem):
        room, members, cand = np.ones(4), [], rem
        while len(cand):
            cand = cand[np.all(use[cand] <= room + 1e-12, axis=1)]  # room only shrinks
            if not len(cand):
                break
            i = int(cand[np.argmax(use[cand] @ room)])
            members.append(i)
            room = room - use[i]
            cand = cand[cand != i]
        if not members:  # cannot happen: split_layer makes every block fit an empty core
            raise DoesNotFit("a block does not fit an empty core")
        cores.append(sorted(members))
        rem = np.setdiff1d(rem, members, assume_unique=True)
    return sorted(cores, key=min)
