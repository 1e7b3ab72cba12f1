"""Structural views of a hw graph's neuron layers: what a block of a layer costs and which source
neurons it needs, computed from weights and conv geometry without any N x N matrix.

A layer of shape (C, H, W) (or (n,) = (1, 1, n)) is split into blocks (channels c0:c1, positions
p0:p1 of the layer's Order); block neurons are the flat C-order indices c * H*W + order.perm[p].
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition.conv_lists import ConvLists, Where
from snncompile.partition.id_sets import count_inside
from snncompile.partition.order import Order, geometry
from snncompile.partition.resources import CoreModel, bits_for
from snncompile.partition.row_union import RowUnion
from snncompile.partition.sparse_rows import CsrUnion, RowNonzeros
from snncompile.sim.lava_params import effective_weights

RECT_CACHE = 50_000  # input rectangles cached per synapse op (Incoming._rects): a few MB


def _cells(r: tuple[int, int, int, int]) -> int:
    """Cells of rectangle rows r[0]..r[1] x columns r[2]..r[3] (0 if empty)."""
    return max(0, r[1] - r[0] + 1) * max(0, r[3] - r[2] + 1)


def _meet(x: tuple[int, int, int, int], y: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Intersection of two rectangles (possibly empty)."""
    return max(x[0], y[0]), min(x[1], y[1]), max(x[2], y[2]), min(x[3], y[3])


def runs(sorted_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of consecutive integers in a sorted array, as [starts, stops)."""
    if len(sorted_pos) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    brk = np.flatnonzero(np.diff(sorted_pos) != 1) + 1
    starts = sorted_pos[np.concatenate([[0], brk])]
    stops = sorted_pos[np.concatenate([brk - 1, [len(sorted_pos) - 1]])] + 1
    return starts.astype(np.int64), stops.astype(np.int64)


@dataclasses.dataclass
class Needed:
    """Source neurons a block reads from one source node: sorted ids c * HW + order position
    (what a Dense or Sparse block reads: as many ids as neurons, never a (C, HW) mask, so a
    100k-neuron source costs a block only the neurons it reads), or channels x raster
    intervals [starts, stops) of positions (the product form conv and direct inputs use)."""

    src: str
    hw_size: int
    perm: np.ndarray  # source order index -> raster position
    ids: np.ndarray | None = None
    channels: int = 0  # the source's C (ids form; the product form has len(chan))
    chan: np.ndarray | None = None
    starts: np.ndarray | None = None
    stops: np.ndarray | None = None

    @property
    def n_channels(self) -> int:
        return self.channels if self.ids is not None else len(self.chan)

    def count(self) -> int:
        if self.ids is not None:
            return len(self.ids)
        return int(np.count_nonzero(self.chan)) * int((self.stops - self.starts).sum())

    def overlap(self, c0: int, c1: int, p0: int, p1: int) -> int:
        if self.ids is not None:
            return int(count_inside(self.ids, self.hw_size, c0, c1, p0, p1)[0])
        span = np.minimum(self.stops, p1) - np.maximum(self.starts, p0)
        return int(np.count_nonzero(self.chan[c0:c1])) * int(np.clip(span, 0, None).sum())

    def order_ids(self) -> np.ndarray:
        """The set as sorted ids c * HW + order position (either form)."""
        if self.ids is not None:
            return self.ids
        pos = np.concatenate([np.arange(a, b) for a, b in zip(self.starts, self.stops)] or [[]])
        chans = np.flatnonzero(self.chan)
        return np.sort((chans[:, None] * self.hw_size + pos.astype(np.int64)[None, :]).ravel())

    def flat(self) -> np.ndarray:
        """Flat source indices (small graphs only: tests, per-core runs, back ends)."""
        c, k = np.divmod(self.order_ids(), self.hw_size)
        return np.sort(c * self.hw_size + self.perm[k])


class Incoming:
    """One way into a layer: a synapse op (Dense, DelayDense, Conv) or a direct (no-synapse) feed.
    Positions are in the destination layer's order and the source's order (`orders`)."""

    def __init__(self, graph: Graph, name: str | None, sources: list[str], dst: str,
                 orders: dict[str, Order], model: CoreModel):
        self.name, self.sources, self.dst = name, sources, dst
        self.orders, self.model = orders, model
        self._chan_count: dict[tuple[int, int], int] = {}
        self._rect_cache: dict[tuple[Order, int, int], list[tuple[int, int, int, int]]] = {}
        self.op = graph.nodes[name] if name else None
        self.lists: ConvLists | None = None  # shared conv weight lists (model.conv_lists)
        self.src_geo = geometry(graph.shapes[sources[0]])
        self.dst_geo = geometry(graph.shapes[dst])
        op, m = self.op, model
        if isinstance(op, (hw.Dense, hw.Sparse)):
            w = effective_weights(op)
            self.nz = w != 0 if isinstance(op, hw.Dense) else RowNonzeros(
                op.indptr, op.indices, w != 0, int(op.matrix_shape[1]))
            self.row_cum = np.concatenate([[0], np.cumsum(self.nz.sum(1, dtype=np.int64))])
            self.row_union = (RowUnion(self.nz) if isinstance(self.nz, np.ndarray)
                              else CsrUnion(self.nz))
            # the 8 - num_weight_bits low bits Lava truncates are zero: they need no storage
            stored = np.abs(w).max(initial=0) >> (8 - op.num_weight_bits)
            self.wbits = bits_for(stored, w.min(initial=0) < 0 < w.max(initial=0))
            self.dbits = m.delay_bits if isinstance(op, hw.DelayDense) else 0
        elif isinstance(op, hw.Conv):
            self._init_conv(op)
        self.reorder()
        channels, height, width = self.dst_geo
        self.total_synapses = self.synapses(0, channels, 0, height * width)

    def _init_conv(self, op: hw.Conv) -> None:
        w = np.asarray(op.weight)
        c_out, cin_g, kh, kw = w.shape
        c_in, h_in, w_in = self.src_geo
        _, h, wd = self.dst_geo
        nz = w != 0
        self.wbits = bits_for(np.abs(w).max(initial=0), w.min(initial=0) < 0 < w.max(initial=0))
        self.dbits = 0
        self.tap_cum = np.concatenate([np.zeros((1, kh * kw), np.int64),
                                       np.cumsum(nz.sum(1).reshape(c_out, -1), 0)])
        per_group = c_out // op.groups
        self.chan_need = np.zeros((c_out, c_in), bool)
        for c in range(c_out):
            g = c // per_group
            self.chan_need[c, g * cin_g:(g + 1) * cin_g] = nz[c].any(axis=(1, 2))
        (sh, sw), (ph, pw), (dh, dw) = op.stride, op.padding, op.dilation
        rows = np.arange(h)[:, None] * sh - ph + np.arange(kh)[None, :] * dh
        cols = np.arange(wd)[:, None] * sw - pw + np.arange(kw)[None, :] * dw
        vh, vw = (rows >= 0) & (rows < h_in), (cols >= 0) & (cols < w_in)
        self.vh_cum = np.concatenate([np.zeros((1, kh), np.int64), np.cumsum(vh, 0)])
        self.vw_cum = np.concatenate([np.zeros((1, kw), np.int64), np.cumsum(vw, 0)])
        self.valid = (vh[:, None, :, None] & vw[None, :, None, :]).reshape(h * wd, kh * kw)
        self.geom = (sh, sw, ph, pw, dh, dw, kh, kw, h_in, w_in)
        self.lists = (ConvLists(op, self.geom, self.wbits + self.model.index_bits, self.model)
                      if self.model.conv_lists else None)

    def reorder(self) -> None:
        """Recompute what depends on the destination layer's order (after it changes)."""
        if isinstance(self.op, hw.Conv):
            valid = self.valid[self.orders[self.dst].perm]
            self.valid_cum = np.concatenate([np.zeros((1, valid.shape[1]), np.int64),
                                             np.cumsum(valid, 0, dtype=np.int64)])

    # -- cost of a block ------------------------------------------------------------------------
    def synapses(self, c0: int, c1: int, p0: int, p1: int) -> int:
        if isinstance(self.op, (hw.Dense, hw.Sparse)):
            return int(self.row_cum[p1] - self.row_cum[p0])
        if isinstance(self.op, hw.Conv):
            taps = self.tap_cum[c1] - self.tap_cum[c0]
            return int(taps @ (self.valid_cum[p1] - self.valid_cum[p0]))
        return 0

    def bits(self, c0: int, c1: int, p0: int, p1: int, synapses: int, fan_in: int,
             at: Where | None = None) -> int:
        """Synapse memory of this op's part of a block, in the cheapest encoding (CoreModel doc);
        `at` places positions p0:p1 when they are not in the layer's order yet (split.tile_cost)."""
        if self.op is None:
            return 0
        m, per = self.model, self.wbits + self.dbits
        head = fan_in * m.axon_header_bits
        if isinstance(self.op, hw.Conv) and m.conv_shared_weights:
            kernel = int((self.tap_cum[c1] - self.tap_cum[c0]).sum())
            return kernel * (per + m.index_bits) + head
        rows = (c1 - c0) * (p1 - p0)
        cost = min(synapses * (per + m.index_bits), fan_in * rows * per) + head
        if self.lists is not None and synapses:
            if at is None:
                off, top, _, col, wd = self.orders[self.dst].tile_of(p0)
                at = Where(top, col, wd, p0 - off, p1 - 1 - off)
            cost = min(cost, self.lists.bits(c0, c1, at))
        return cost

    def min_bits(self) -> int:
        """Synapse memory no split can go below (the resource lower bound's term). Every split
        stores each synapse's weight (+ delay) bits (not the whole op's cheaper encoding: a block's
        dense encoding counts only the in-axons of that block, in-axons x rows >= its synapses,
        so blocks can beat the whole-op dense cost). Shared lists store each kernel weight that
        some position uses at least once, so that is their least."""
        if self.op is None:
            return 0
        m, per = self.model, self.wbits + self.dbits
        if isinstance(self.op, hw.Conv) and m.conv_shared_weights:
            return int(self.tap_cum[-1].sum()) * (per + m.index_bits)
        if self.lists is not None:
            return int(self.tap_cum[-1] @ self.valid.any(0)) * per
        return self.total_synapses * per

    def pays_axon_headers(self) -> bool:
        """Whether every in-axon of this op costs a header in synapse memory (not so for shared
        conv lists, whose headers are per list: the lower bound must not count them per axon)."""
        return self.op is not None and self.lists is None

    def needed(self, c0: int, c1: int, p0: int, p1: int) -> list[Needed]:
        """Per source node, the source neurons this block of the layer reads."""
        cs, hs, ws = self.src_geo
        perm = {s: self.orders[s].perm for s in self.sources}
        if isinstance(self.op, (hw.Dense, hw.Sparse)):
            cols = (np.flatnonzero(self.nz[p0:p1].any(0)) if isinstance(self.nz, np.ndarray)
                    else self.nz.columns(p0, p1))
            return [Needed(s, hs * ws, perm[s], self._order_ids(cols, self.orders[s]), cs)
                    for s in self.sources]
        if isinstance(self.op, hw.Conv):
            chan = self.chan_need[c0:c1].any(0)
            out = []
            for s in self.sources:
                starts, stops = self._field(p0, p1, self.orders[s])
                out.append(Needed(s, hs * ws, perm[s], chan=chan, starts=starts, stops=stops))
            return out
        chan = np.zeros(cs, bool)
        chan[c0:c1] = True
        raster = self.orders[self.dst].perm[p0:p1]
        out = []
        for s in self.sources:
            starts, stops = runs(np.sort(self.orders[s].inv[raster]))
            out.append(Needed(s, hs * ws, perm[s], chan=chan, starts=starts, stops=stops))
        return out

    def _order_ids(self, cols: np.ndarray, order: Order) -> np.ndarray:
        """Sorted ids c * HW + order position of sorted flat source indices c * HW + raster
        position (the same array when the source is walked in raster order: Dense layers)."""
        if order.raster:
            return cols
        hw_size = self.src_geo[1] * self.src_geo[2]
        c, raster = np.divmod(cols, hw_size)
        return np.sort(c * hw_size + order.inv[raster])

    def _in_rect(self, ra, rb, ca, cb) -> tuple[int, int, int, int]:
        """Input rows ia..ib x columns ja..jb under output rows ra..rb x columns ca..cb (every
        column between the first and last tap counts, a superset when dilation leaves gaps)."""
        sh, sw, ph, pw, dh, dw, kh, kw, h_in, w_in = self.geom
        return (max(ra * sh - ph, 0), min(rb * sh - ph + (kh - 1) * dh, h_in - 1),
                max(ca * sw - pw, 0), min(cb * sw - pw + (kw - 1) * dw, w_in - 1))

    def rect_cost(self, c0: int, c1: int, ra: int, rb: int, ca: int, cb: int) -> tuple[int, int]:
        """(synapses, fan-in) of channels c0:c1 x output rows ra..rb x columns ca..cb, whatever the
        layer's order (split.grid_blocks sizes tiles with it before building an Order). Conv and
        direct feeds only: a Dense row range depends on the order."""
        n = (rb - ra + 1) * (cb - ca + 1)
        if self.op is None:
            return 0, (c1 - c0) * n * len(self.sources)
        pieces = [(ra, ra), (rb, rb)] if rb > ra else [(ra, ra)]  # as _rects cuts a whole tile
        if rb > ra + 1:
            pieces.append((ra + 1, rb - 1))
        area = self._area([self._in_rect(a, b, ca, cb) for a, b in pieces])
        fan = self._chans(c0, c1) * area * len(self.sources)
        taps = (self.tap_cum[c1] - self.tap_cum[c0]).reshape(len(self.vh_cum[0]), -1)
        rows = self.vh_cum[rb + 1] - self.vh_cum[ra]
        valid = np.outer(rows, self.vw_cum[cb + 1] - self.vw_cum[ca])
        return int((taps * valid).sum()), fan

    def fan_in(self, c0: int, c1: int, p0: int, p1: int) -> int:
        """needed(...)'s total count without building intervals (the split's inner loop)."""
        if isinstance(self.op, hw.Conv):
            return self._chans(c0, c1) * self._area(self._boxes(p0, p1)) * len(self.sources)
        if self.op is None:
            return (c1 - c0) * (p1 - p0) * len(self.sources)
        return self.row_union.count(p0, p1) * len(self.sources)

    def _chans(self, c0: int, c1: int) -> int:
        """Input channels some output channel in c0:c1 reads (cached: the split asks per block)."""
        key = (c0, c1)
        if key not in self._chan_count:
            self._chan_count[key] = int(np.count_nonzero(self.chan_need[c0:c1].any(0)))
        return self._chan_count[key]

    @staticmethod
    def _area(boxes: list[tuple[int, int, int, int]]) -> int:
        """Cells in the union of at most three rectangles, by inclusion-exclusion (equals the
        area of _union(boxes), without building it: the split's inner loop)."""
        if len(boxes) > 3:
            raise ValueError("_area takes at most three rectangles")
        total = sum(_cells(x) for x in boxes)
        for i, x in enumerate(boxes):
            for y in boxes[i + 1:]:
                total -= _cells(_meet(x, y))
        if len(boxes) == 3:
            total += _cells(_meet(_meet(boxes[0], boxes[1]), boxes[2]))
        return total

    def _rects(self, p0: int, p1: int) -> list[tuple[int, int, int, int]]:
        """Disjoint input rectangles (rows ia..ib, columns ja..jb) under positions p0:p1.

        Cached per (destination Order, p0, p1): they do not depend on the source's order, and
        the block-size search routes a layer's unchanged blocks again each time a source layer
        is split differently. The key holds the Order itself (identity hash), so it stays alive
        while cached; the cache is emptied at RECT_CACHE entries to bound memory."""
        key = (self.orders[self.dst], p0, p1)
        got = self._rect_cache.get(key)
        if got is None:
            if len(self._rect_cache) >= RECT_CACHE:
                self._rect_cache.clear()
            got = self._rect_cache[key] = self._union(self._boxes(p0, p1))
        return got

    def _boxes(self, p0: int, p1: int) -> list[tuple[int, int, int, int]]:
        """Input rectangles (possibly overlapping or empty) under the at most three output
        rectangles of positions p0:p1 (first row, last row, full rows between)."""
        off, top, _, col, wd = self.orders[self.dst].tile_of(p0)
        a, b = p0 - off, p1 - 1 - off  # inside one tile (split.py never crosses tiles)
        r0, r1 = top + a // wd, top + b // wd
        if r0 == r1:
            pieces = [(r0, r0, a % wd, b % wd)]
        else:
            pieces = [(r0, r0, a % wd, wd - 1), (r1, r1, 0, b % wd)]
            if r1 > r0 + 1:
                pieces.append((r0 + 1, r1 - 1, 0, wd - 1))
        return [self._in_rect(ra, rb, col + ca, col + cb) for ra, rb, ca, cb in pieces]

    @staticmethod
    def _union(rects: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        """Disjoint rectangles covering the union of input rectangles (empty ones dropped)."""
        rects = [r for r in rects if r[0] <= r[1] and r[2] <= r[3]]
        out = []
        cuts = sorted({r for ia, ib, _, _ in rects for r in (ia, ib + 1)})
        for lo, hi in itertools.pairwise(cuts):
            cols = sorted((ja, jb) for ia, ib, ja, jb in rects if ia <= lo and hi - 1 <= ib)
            merged: list[list[int]] = []
            for ja, jb in cols:
                if merged and ja <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], jb)
                else:
                    merged.append([ja, jb])
            out += [(lo, hi - 1, ja, jb) for ja, jb in merged]
        return out

    def _field(self, p0: int, p1: int, src: Order) -> tuple[np.ndarray, np.ndarray]:
        """Source-order intervals of input positions under destination positions p0:p1."""
        return src.rects(self._rects(p0, p1))


@dataclasses.dataclass
class Layer:
    """A LIF population, every way into it, and the order its positions are split in."""

    name: str
    shape: tuple[int, ...]
    geo: tuple[int, int, int]
    incoming: list[Incoming]
    orders: dict[str, Order]

    @property
    def size(self) -> int:
        return self.geo[0] * self.geo[1] * self.geo[2]

    @property
    def order(self) -> Order:
        return self.orders[self.name]

    def set_order(self, order: int | Order) -> None:
        """Walk the layer's positions in `order` (an Order, or a strip width)."""
        if not isinstance(order, Order):
            order = Order(self.geo[1], self.geo[2], order)
        self.orders[self.name] = order
        for inc in self.incoming:
            inc.reorder()


def layers_of(graph: Graph, model: CoreModel) -> list[Layer]:
    """Every neuron layer of a hw graph in node order, with its incoming synapse ops."""
    orders = {n: Order(*geometry(graph.shapes[n])[1:]) for n in graph.nodes
              if graph.nodes[n].kind in ("neuron", "input")}
    out = []
    for name in graph.of_kind("neuron"):
        inc = []
        for p in graph.predecessors(name):
            if graph.nodes[p].kind == "synapse":
                inc.append(Incoming(graph, p, graph.predecessors(p), name, orders, model))
            else:
                inc.append(Incoming(graph, None, [p], name, orders, model))
        shape = graph.shapes[name]
        out.append(Layer(name, shape, geometry(shape), inc, orders))
    return out
