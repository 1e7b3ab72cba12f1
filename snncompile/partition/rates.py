"""Spike traffic of each block route: its axons x the source layer's rate, or, given per-neuron
rates (an array of the layer's shape), the sum of the rates of the exact source neurons it carries.

Why per neuron: a conv tile's halo neurons and its centre fire differently, and PilotNet's input
is mostly zero, so a route's weight is the spikes it carries, not its axon count x a layer mean.
The sums use the structural `Needed` sets (channels x order intervals, or neuron ids) against
prefix sums of rates along the source layer's order, so no N x N matrix is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from snncompile.partition.layers import Layer, Needed
from snncompile.partition.route import HOST, Routes, _index
from snncompile.partition.split import Block


def _scalar(value) -> bool:
    return np.ndim(value) == 0


def route_traffic(layers: list[Layer], blocks: list[Block], routes: Routes,
                  rates: Mapping[str, float | np.ndarray] | None,
                  inputs: Sequence[str]) -> np.ndarray:
    """Spikes per step each block route carries. rates: per layer or graph input, a scalar
    (spikes per neuron per step) or an array of the node's neurons (its shape, or flat in C
    order); missing: 1."""
    rate = dict(rates or {})
    host = inputs[0] if inputs else None
    src_rate = np.array([_mean(rate.get(b.layer, 1.0)) for b in blocks] + [1.0])
    src_rate[HOST] = _mean(rate.get(host, 1.0)) if host is not None else 1.0
    traffic = routes.axons * src_rate[routes.src]
    arrays = {k: np.asarray(v, np.float64).ravel() for k, v in rate.items() if not _scalar(v)}
    if not arrays:
        return traffic
    got = _pair_sums(layers, blocks, arrays, rate)
    by_layer = np.array([b.layer in arrays for b in blocks] + [host in arrays])
    exact = by_layer[routes.src]
    keys = list(zip(routes.src[exact].tolist(), routes.dst[exact].tolist()))
    count = {}
    for k, n in zip(keys, routes.axons[exact].tolist()):
        count[k] = count.get(k, 0) + n
    # a pair split over several route rows (one per incoming op) shares its sum by axons
    traffic[exact] = [got.get(k, 0.0) * n / max(count[k], 1)
                      for k, n in zip(keys, routes.axons[exact].tolist())]
    return traffic


def _mean(value) -> float:
    return float(np.mean(value)) if not _scalar(value) else float(value)


class _Prefix:
    """Prefix sums of one source's rates along its order, per channel range (cached)."""

    def __init__(self, rates: np.ndarray, need: Needed):
        c = need.n_channels
        if rates.size != c * need.hw_size:
            raise ValueError(f"rates of {need.src!r} have {rates.size} values, the node has "
                             f"{c * need.hw_size} neurons")
        self.r = rates.reshape(c, need.hw_size)[:, need.perm]  # (C, HW) in source order
        self.cache: dict[tuple, np.ndarray] = {}

    def channels(self, chan: np.ndarray, c0: int, c1: int) -> np.ndarray:
        key = (c0, c1, chan.tobytes())
        if key not in self.cache:
            sel = np.flatnonzero(chan[c0:c1]) + c0
            self.cache[key] = np.concatenate([[0.0], np.cumsum(self.r[sel].sum(0))])
        return self.cache[key]


def _weighted(need: Needed, pre: _Prefix, c0: int, c1: int, p0s: np.ndarray,
              p1s: np.ndarray) -> np.ndarray:
    """Sum of source rates of the needed neurons inside each block (c0:c1, p0s[k]:p1s[k])."""
    if need.ids is not None:  # rates of needed neurons summed per position in channel order,
        # then prefix sums over positions: the float sums of a (C, HW) mask x rates table
        lo, hi = np.searchsorted(need.ids, [c0 * need.hw_size, c1 * need.hw_size])
        chans, pos = np.divmod(need.ids[lo:hi], need.hw_size)
        at, inv = np.unique(pos, return_inverse=True)
        per = np.bincount(inv.reshape(-1), pre.r[chans, pos], minlength=len(at))
        cum = np.concatenate([[0.0], np.cumsum(per)])
        return cum[np.searchsorted(at, p1s)] - cum[np.searchsorted(at, p0s)]
    out = np.zeros(len(p0s))
    if not need.chan[c0:c1].any() or len(need.starts) == 0:
        return out
    cum = pre.channels(need.chan, c0, c1)
    lo = np.searchsorted(p1s, need.starts.min(), "right")
    hi = np.searchsorted(p0s, need.stops.max(), "left")
    if hi <= lo:
        return out
    a = np.maximum(need.starts[None, :], p0s[lo:hi, None])
    b = np.minimum(need.stops[None, :], p1s[lo:hi, None])
    out[lo:hi] = np.where(b > a, cum[np.maximum(b, a)] - cum[a], 0.0).sum(1)
    return out


def _pair_sums(layers: list[Layer], blocks: list[Block], arrays: dict[str, np.ndarray],
               rate: dict) -> dict[tuple[int, int], float]:
    """(source block or HOST, destination block) -> rate sum of the neurons the pair carries,
    walking the same Needed sets as route.block_routes (host pairs: every graph input)."""
    by_name = {x.name: x for x in layers}
    index = _index(blocks)
    prefix: dict[str, _Prefix] = {}
    out: dict[tuple[int, int], float] = {}
    for j, b in enumerate(blocks):
        for inc in by_name[b.layer].incoming:
            for need in inc.needed(b.c0, b.c1, b.p0, b.p1):
                if need.src not in arrays:
                    if need.src not in index:  # a graph input with a scalar rate
                        out[(HOST, j)] = out.get((HOST, j), 0.0) + need.count() * _mean(
                            rate.get(need.src, 1.0))
                    continue
                if need.src not in prefix:
                    prefix[need.src] = _Prefix(arrays[need.src], need)
                pre = prefix[need.src]
                if need.src not in index:  # graph input: one host route per need
                    ends = np.array([0]), np.array([need.hw_size])
                    s = float(_weighted(need, pre, 0, pre.r.shape[0], *ends)[0])
                    out[(HOST, j)] = out.get((HOST, j), 0.0) + s
                    continue
                for c0, c1, p0s, p1s, ids in index[need.src]:
                    sums = _weighted(need, pre, c0, c1, p0s, p1s)
                    for i in np.flatnonzero(sums > 0):
                        key = (int(ids[i]), j)
                        out[key] = out.get(key, 0.0) + float(sums[i])
    return out
