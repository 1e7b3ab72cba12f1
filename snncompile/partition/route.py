"""Routes: which source neurons each block needs from each other block (its input-axon table).

One axon per (source neuron, destination block): a spike leaves its core once per destination
block that holds a synapse from it (Loihi's output-axon entries, nengo-loihi's Naxout). The host
(graph inputs) is source HOST. Block routes are an upper bound of core routes: a core shares
input axons between its blocks and a neuron sends one message per destination core, so
`core_routes` takes the exact (source block, destination core) counts of axons.exact_pairs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.partition.id_sets import count_inside
from snncompile.partition.layers import Layer
from snncompile.partition.split import Block

HOST = -1


@dataclasses.dataclass
class Routes:
    """Block-level routes: src[i] (block id or HOST) sends axons[i] neurons' spikes to dst[i]."""

    src: np.ndarray
    dst: np.ndarray
    axons: np.ndarray

    def fan_out(self, n_blocks: int) -> np.ndarray:
        keep = self.src >= 0
        return np.bincount(self.src[keep], self.axons[keep], minlength=n_blocks).astype(np.int64)


ChannelGroup = tuple[int, int, np.ndarray, np.ndarray, np.ndarray]


def _index(blocks: list[Block]) -> dict[str, list[ChannelGroup]]:
    """layer -> channel groups (c0, c1, p0s, p1s, block ids), each group sorted by position."""
    groups: dict[tuple[str, int, int], list[int]] = {}
    for i, b in enumerate(blocks):
        groups.setdefault((b.layer, b.c0, b.c1), []).append(i)
    out: dict[str, list] = {}
    for (layer, c0, c1), ids in groups.items():
        ids.sort(key=lambda i: blocks[i].p0)
        arr = np.asarray(ids, np.int64)
        out.setdefault(layer, []).append((c0, c1, np.array([blocks[i].p0 for i in ids]),
                                          np.array([blocks[i].p1 for i in ids]), arr))
    return out


def block_routes(layers: list[Layer], blocks: list[Block],
                 targets: range | None = None) -> Routes:
    """Every (source block, destination block, axons) with axons > 0, from structure alone;
    destinations `targets` (block indices; default all)."""
    src, dst, axons = [], [], []
    for ids, j, got in _parts(layers, blocks, targets):
        src.append(ids)
        dst.append(np.full(len(ids), j))
        axons.append(got)
    cat = (lambda parts: np.concatenate(parts).astype(np.int64) if parts
           else np.zeros(0, np.int64))
    return Routes(cat(src), cat(dst), cat(axons))


def block_fan_out(layers: list[Layer], blocks: list[Block], targets: range | None = None
                  ) -> np.ndarray:
    """block_routes(...).fan_out(len(blocks)) without building the routes: dense layers cut into
    small blocks have blocks x blocks routes (16.6M for two 4096-neuron layers in 8,192
    one-neuron blocks), and the block-size search only needs their sums."""
    out = np.zeros(len(blocks), np.int64)
    for ids, _, got in _parts(layers, blocks, targets):
        if ids[0] != HOST:
            out[ids] += got  # ids of one channel group are distinct
    return out


def _parts(layers: list[Layer], blocks: list[Block], targets: range | None):
    """(source block ids or [HOST], destination block, axons per id) of every route, grouped."""
    by_name = {layer.name: layer for layer in layers}
    index = _index(blocks)
    for j in range(len(blocks)) if targets is None else targets:
        b = blocks[j]
        for inc in by_name[b.layer].incoming:
            for need in inc.needed(b.c0, b.c1, b.p0, b.p1):
                if need.src not in index:
                    n = need.count()
                    if n:
                        yield np.array([HOST]), j, np.array([n])
                    continue
                for c0, c1, p0s, p1s, ids in index[need.src]:
                    got = _overlaps(need, c0, c1, p0s, p1s)
                    hit = got > 0
                    if hit.any():
                        yield ids[hit], j, got[hit]


def _overlaps(need, c0, c1, p0s, p1s) -> np.ndarray:
    """Needed neurons inside each block (c0:c1, p0s[k]:p1s[k]) of one channel group."""
    if need.ids is not None:
        return count_inside(need.ids, need.hw_size, c0, c1, p0s, p1s)
    chans = int(np.count_nonzero(need.chan[c0:c1]))
    out = np.zeros(len(p0s), np.int64)
    if chans == 0 or len(need.starts) == 0:
        return out
    lo = np.searchsorted(p1s, need.starts.min(), "right")
    hi = np.searchsorted(p0s, need.stops.max(), "left")
    if hi <= lo:
        return out
    a, b = p0s[lo:hi, None], p1s[lo:hi, None]
    span = np.minimum(need.stops[None, :], b) - np.maximum(need.starts[None, :], a)
    out[lo:hi] = np.clip(span, 0, None).sum(1) * chans
    return out


def core_routes(routes: Routes, core_of: np.ndarray, traffic: np.ndarray, pairs=None):
    """Aggregate block routes to (src core or HOST, dst core, axons, traffic) rows.

    pairs: (source block or HOST, destination core, distinct neurons) from axons.exact_pairs:
    a route's axons then count each source neuron once per destination core (the chip's tables)
    and its traffic is those axons x the traffic per axon of the block routes it covers. Without
    pairs, sums of block routes (an upper bound)."""
    n = int(core_of.max(initial=-1)) + 2
    if pairs is None:
        src, dst, axons, tr = routes.src, core_of[routes.dst], routes.axons, traffic
    else:
        src, dst, axons = pairs
        key_r = (routes.src + 1) * n + core_of[routes.dst]
        uniq, inv = np.unique(key_r, return_inverse=True)
        per_axon = (np.bincount(inv, traffic, minlength=len(uniq))
                    / np.maximum(np.bincount(inv, routes.axons, minlength=len(uniq)), 1))
        tr = axons * per_axon[np.searchsorted(uniq, (src + 1) * n + dst)]
    cs = np.where(src >= 0, core_of[np.maximum(src, 0)], HOST)
    key = (cs + 1) * n + dst
    uniq, inv = np.unique(key, return_inverse=True)
    ax = np.bincount(inv, axons, minlength=len(uniq)).astype(np.int64)
    tr = np.bincount(inv, tr, minlength=len(uniq))
    return uniq // n - 1, uniq % n, ax, tr
