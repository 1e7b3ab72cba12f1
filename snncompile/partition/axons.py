"""Exact per-core axon counts: one input axon per distinct source neuron a core reads, shared by
all its blocks, and one output axon per (source neuron, destination core), as Loihi and
nengo-loihi build their axon tables.

Why: a block's own fan-in counts every source neuron it reads, so two tiles of one conv layer on
one core count the halo they share twice, and a neuron read by two blocks of one core costs two
out-axons instead of one; summing blocks is an upper bound. Here the needs of a core's blocks
are united per source node in product form (channel classes x merged intervals of the source's
order, `layers.Needed`; a (C, HW) mask when a Dense op reads the source), never an N x N matrix.
`CoreAxons` holds |source block n core's union| for every (source block, core) pair that routes:
core routes, fan-in (sum over sources) and fan-out (sum over destination cores) follow from it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.partition.id_sets import count_inside, sorted_distinct
from snncompile.partition.layers import Layer, Needed
from snncompile.partition.route import HOST, Routes
from snncompile.partition.split import Block


def merge(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted intervals covering the union of [starts, stops)."""
    keep = stops > starts
    s, e = starts[keep], stops[keep]
    if len(s) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    o = np.argsort(s, kind="stable")
    s, e = s[o], np.maximum.accumulate(e[o])
    brk = np.flatnonzero(s[1:] > e[:-1]) + 1
    return (s[np.concatenate([[0], brk])].astype(np.int64),
            e[np.concatenate([brk - 1, [len(s) - 1]])].astype(np.int64))


@dataclasses.dataclass
class Union:
    """Source neurons a set of blocks reads from one source node: channel classes, each a channel
    set x merged order intervals (disjoint in channels), or sorted distinct ids c * HW + order
    position (when a Dense or Sparse op reads the source: the neurons read, never a (C, HW)
    table, which at 100k source neurons cost 0.8 MB per core)."""

    # each class: chan_cum, starts, stops, cum
    classes: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    ids: np.ndarray | None = None
    hw_size: int = 0

    def count(self) -> int:
        if self.ids is not None:
            return len(self.ids)
        return int(sum(cc[-1] * cum[-1] for cc, _, _, cum in self.classes))

    def overlap(self, c0: np.ndarray, c1: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
        """|union n (channels c0:c1 x order positions p0:p1)| for arrays of blocks."""
        if self.ids is not None:
            return count_inside(self.ids, self.hw_size, c0, c1, p0, p1)
        out = np.zeros(len(c0), np.int64)
        for cc, s, e, cum in self.classes:
            out += (cc[c1] - cc[c0]) * (_below(s, e, cum, p1) - _below(s, e, cum, p0))
        return out

    def pieces(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(channels, starts, stops) products whose disjoint union is the set; ids give one
        product per channel (its order positions as unit intervals)."""
        if self.ids is None:
            return [(np.flatnonzero(np.diff(cc)), s, e) for cc, s, e, _ in self.classes]
        chans, pos = np.divmod(self.ids, self.hw_size)
        cuts = np.flatnonzero(np.diff(chans)) + 1
        return [(np.array([c[0]]), k, k + 1) for c, k in zip(np.split(chans, cuts),
                                                            np.split(pos, cuts)) if len(c)]


def _below(s: np.ndarray, e: np.ndarray, cum: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Length of the merged intervals [s, e) inside [0, x), for an array x."""
    i = np.searchsorted(e, x, side="right")  # intervals ending at or before x
    part = np.zeros(len(x), np.int64)
    inside = i < len(s)
    j = i[inside]
    part[inside] = np.clip(x[inside] - s[j], 0, None)
    return cum[i] + part


def union_of(needs: list[Needed]) -> Union:
    """The union of several blocks' needs from one source node."""
    hw_size = needs[0].hw_size
    if any(n.ids is not None for n in needs):
        return Union([], sorted_distinct(np.concatenate([n.order_ids() for n in needs])), hw_size)
    groups: dict[bytes, list] = {}
    for n in needs:
        g = groups.setdefault(n.chan.tobytes(), [n.chan, [], []])
        g[1].append(n.starts)
        g[2].append(n.stops)
    chans = np.stack([g[0] for g in groups.values()])  # (groups, C)
    if len(groups) == 1:
        sigs, inv = np.ones((1, 1), bool), np.where(chans[0], 0, -1)
    else:  # channel membership classes
        sigs, inv = np.unique(chans.T, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
    ivals = [(np.concatenate(g[1]), np.concatenate(g[2])) for g in groups.values()]
    classes = []
    for k, sig in enumerate(sigs):
        if not sig.any():
            continue
        parts = [ivals[g] for g in np.flatnonzero(sig)]
        s, e = merge(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        if len(s) == 0:
            continue
        cc = np.concatenate([[0], np.cumsum(inv == k)]).astype(np.int64)
        classes.append((cc, s, e, np.concatenate([[0], np.cumsum(e - s)]).astype(np.int64)))
    return Union(classes)


class CoreAxons:
    """Exact axon tables of a packing: `into[d]` maps source block (or HOST, all graph inputs)
    -> distinct neurons of it core d reads; fan_in[d] = sum of into[d]; fan_out[k] = sum over
    its blocks b and cores d of into[d][b] (a neuron counts once per destination core)."""

    def __init__(self, layers: list[Layer], blocks: list[Block], routes: Routes,
                 cores: list[list[int]]):
        self.layers = {x.name: x for x in layers}
        self.blocks = blocks
        self.layer_of = np.array([b.layer for b in blocks], object)
        arr = (lambda f: np.array([f(b) for b in blocks], np.int64).reshape(-1))
        self.c0, self.c1, self.p0, self.p1 = (arr(lambda b: b.c0), arr(lambda b: b.c1),
                                              arr(lambda b: b.p0), arr(lambda b: b.p1))
        order = np.argsort(routes.dst, kind="stable")
        self.r_src, r_dst = routes.src[order], routes.dst[order]
        self.r_at = np.searchsorted(r_dst, np.arange(len(blocks) + 1))
        self._needs: dict[int, dict[str, list[Needed]]] = {}
        self.members = [list(m) for m in cores]
        self.core_of = np.full(len(blocks), -1, np.int64)
        for i, m in enumerate(self.members):
            self.core_of[m] = i
        self.unions: list[dict[str, Union]] = []
        self.into: list[dict[int, int]] = []
        self.outof: list[dict[int, int]] = [{} for _ in blocks]
        for members in self.members:
            unions, into = self.reads(members)
            d = len(self.into)
            self.unions.append(unions)
            self.into.append(into)
            for b, n in into.items():
                if b != HOST:
                    self.outof[b][d] = n
        self.fan_in = [sum(x.values()) for x in self.into]
        self.fan_out = [sum(sum(self.outof[b].values()) for b in m) for m in self.members]

    def needs(self, j: int) -> dict[str, list[Needed]]:
        """Source node -> what block j reads from it (cached; layers.Incoming.needed)."""
        got = self._needs.get(j)
        if got is None:
            b, got = self.blocks[j], {}
            for inc in self.layers[b.layer].incoming:
                for need in inc.needed(b.c0, b.c1, b.p0, b.p1):
                    got.setdefault(need.src, []).append(need)
            self._needs[j] = got
        return got

    def senders(self, members: list[int]) -> np.ndarray:
        """Source blocks (and HOST) with a block route into any of `members`."""
        parts = [self.r_src[self.r_at[j]:self.r_at[j + 1]] for j in members]
        return sorted_distinct(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def reads(self, members: list[int], sources: set[str] | None = None,
              unions: dict[str, Union] | None = None):
        """(unions, into) of a core holding `members`; with `sources`, only those source nodes
        are re-united and `unions` gives the others (into then covers only `sources`)."""
        per: dict[str, list[Needed]] = {}
        for j in members:
            for s, needs in self.needs(j).items():
                if sources is None or s in sources:
                    per.setdefault(s, []).extend(needs)
        new = dict(unions or {})
        into: dict[int, int] = {}
        senders = self.senders(members)
        senders = senders[senders >= 0]
        for s, needs in per.items():
            u = new[s] = union_of(needs)
            if s not in self.layers:
                n = u.count()
                if n:
                    into[HOST] = into.get(HOST, 0) + n
                continue
            cand = senders[self.layer_of[senders] == s]
            if len(cand):
                got = u.overlap(self.c0[cand], self.c1[cand], self.p0[cand], self.p1[cand])
                into.update({int(b): int(n) for b, n in zip(cand, got) if n})
        return new, into

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source block or HOST, destination core, distinct neurons) of every routed pair."""
        rows = [(b, d, n) for d, into in enumerate(self.into) if self.members[d]
                for b, n in into.items()]
        if not rows:
            z = np.zeros(0, np.int64)
            return z, z, z
        src, dst, ax = (np.array(c, np.int64) for c in zip(*rows))
        return src, dst, ax


def exact_pairs(layers: list[Layer], blocks: list[Block], routes: Routes,
                cores: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source block or HOST, destination core, distinct source neurons the core reads from it)."""
    return CoreAxons(layers, blocks, routes, cores).pairs()
