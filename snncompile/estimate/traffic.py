"""Spike messages between placed cores, counted exactly from measured (or assumed) spikes.

Why exact: a route's cost is the spikes of the source neurons it carries, not its axons x the
source block's mean rate; a conv tile's halo neurons fire differently from its centre. Each
(spike, destination core that reads the neuron) is one message, as the chip sends it: a core
keeps one input axon per source neuron for all its blocks, so a neuron read by two blocks of one
core costs one message (the partitioner's exact tables, partition/axons.py). A message leaves
the source core once per destination core, travels |d row| + |d col| mesh hops (dimension-order
routing, E-W = columns, N-S = rows) and crosses |d chip row| + |d chip col| chip boundaries.
Graph inputs come from the host, west of chip 0's core (0, 0).

Counting unites the partitioner's structural `needed()` sets of a core's blocks (channels x
order intervals, or neuron ids) and sums prefix sums of spikes in each source layer's order over
them, so no N x N matrix is built.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.estimate.activity import Activity

HOST = -1


@dataclasses.dataclass
class Traffic:
    """(source block or HOST, destination core) pairs and their geometry; src HOST = graph
    input."""

    src: np.ndarray  # source block or HOST
    dst: np.ndarray  # destination core
    axons: np.ndarray  # distinct source neurons the pair carries (the partitioner's core tables)
    messages: np.ndarray  # (pairs, steps) spike messages per hw step
    src_core: np.ndarray  # HOST for inputs
    hops_ew: np.ndarray  # per pair
    hops_ns: np.ndarray
    chip_crossings: np.ndarray

    def totals(self) -> dict[str, float]:
        """Per inference: messages, E-W and N-S hop-messages, chip crossings, host messages."""
        m = self.messages.sum(axis=1)
        return {"messages": float(m.sum()), "hops_ew": float((m * self.hops_ew).sum()),
                "hops_ns": float((m * self.hops_ns).sum()),
                "chip_crossings": float((m * self.chip_crossings).sum()),
                "host_messages": float(m[self.src < 0].sum()),
                "inter_core_messages": float(m[(self.src >= 0)
                                               & (self.src_core != self.dst)].sum())}

    def per_core(self, n_cores: int) -> dict[str, np.ndarray]:
        """(cores, steps) messages sent / received and the hop-messages and chip crossings of
        what each core sends (the host's sends are not any core's)."""
        steps = self.messages.shape[1]
        out = {k: np.zeros((n_cores, steps)) for k in
               ("messages_out", "messages_in", "hops_ew_out", "hops_ns_out", "crossings_out")}
        sent = self.src_core >= 0
        for t in range(steps):
            m = self.messages[:, t]
            out["messages_in"][:, t] = np.bincount(self.dst, m, n_cores)
            s, ms = self.src_core[sent], m[sent]
            out["messages_out"][:, t] = np.bincount(s, ms, n_cores)
            out["hops_ew_out"][:, t] = np.bincount(s, ms * self.hops_ew[sent], n_cores)
            out["hops_ns_out"][:, t] = np.bincount(s, ms * self.hops_ns[sent], n_cores)
            out["crossings_out"][:, t] = np.bincount(s, ms * self.chip_crossings[sent], n_cores)
        return out

    def longest_busy_route(self) -> tuple[int, int]:
        """(E-W, N-S) hops of the longest pair that carries any message (the step's transit)."""
        busy = self.messages.sum(axis=1) > 0
        if not busy.any():
            return 0, 0
        total = self.hops_ew + self.hops_ns
        i = int(np.flatnonzero(busy)[np.argmax(total[busy])])
        return int(self.hops_ew[i]), int(self.hops_ns[i])


def _cum(spikes: np.ndarray, geo: tuple[int, int, int], perm: np.ndarray) -> np.ndarray:
    """(C, HW + 1, steps) prefix sums of (steps, C*HW) spikes along the layer's position order."""
    steps = spikes.shape[0]
    c, h, w = geo
    s = spikes.reshape(steps, c, h * w)[:, :, perm].transpose(1, 2, 0)
    return np.concatenate([np.zeros((c, 1, steps)), np.cumsum(s, axis=1)], axis=1)


def _spikes_in(u, cum: np.ndarray, c0: int, c1: int, p0: int, p1: int) -> tuple[np.ndarray, int]:
    """(steps,) spikes and the count of a core's union u inside channels c0:c1, order p0:p1."""
    got, n = np.zeros(cum.shape[2]), 0
    for chans, starts, stops in u.pieces():
        ch = chans[(chans >= c0) & (chans < c1)]
        lo, hi = np.maximum(starts, p0), np.minimum(stops, p1)
        keep = hi > lo
        lo, hi = lo[keep], hi[keep]
        if len(ch) and len(lo):
            got = got + (cum[ch[:, None], hi[None, :]] - cum[ch[:, None], lo[None, :]]).sum((0, 1))
            n += len(ch) * int((hi - lo).sum())
    return got, n


def _flat(u, perm: np.ndarray) -> np.ndarray:
    """Flat C-order indices of a union of a graph input (raster order via the input's perm)."""
    parts = [np.zeros(0, np.int64)]
    for chans, starts, stops in u.pieces():
        pos = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)] or [[]])
        parts.append((chans[:, None] * len(perm) + perm[pos.astype(np.int64)][None, :]).ravel())
    return np.concatenate(parts)


def traffic(act: Activity, placement) -> Traffic:
    """Every (source block or host, destination core) pair with its messages per step."""
    from snncompile.partition.axons import CoreAxons

    layers = {x.name: x for x in placement.layers}
    cums = {}
    for name, x in layers.items():
        la = act.layers.get(name)
        spikes = (la.spikes if la is not None else np.zeros((act.steps, x.size)))
        cums[name] = _cum(spikes, x.geo, x.order.perm)
    tables = CoreAxons(placement.layers, placement.blocks, placement.routes, placement.cores)
    orders = placement.layers[0].orders if placement.layers else {}
    pairs: dict[tuple[int, int], list] = {}
    for d, into in enumerate(tables.into):
        for s in into:
            if s == HOST:
                continue
            sb = placement.blocks[s]
            got, n = _spikes_in(tables.unions[d][sb.layer], cums[sb.layer], sb.c0, sb.c1,
                                sb.p0, sb.p1)
            if n:
                pairs[(s, d)] = [n, got]
        for src, u in tables.unions[d].items():
            if src in layers:
                continue
            flat = _flat(u, orders[src].perm)
            if len(flat):
                acc = pairs.setdefault((HOST, d), [0, 0.0])
                acc[0] += len(flat)
                acc[1] = acc[1] + act.input_events[:, flat].sum(axis=1)  # raster order
    keys = sorted(pairs)
    src = np.array([k[0] for k in keys], np.int64)
    cd = np.array([k[1] for k in keys], np.int64)
    axons = np.array([pairs[k][0] for k in keys], np.int64)
    msgs = np.array([np.broadcast_to(pairs[k][1], (act.steps,)) for k in keys],
                    np.float64).reshape(len(keys), act.steps)
    cs = np.where(src >= 0, placement.core_of[np.maximum(src, 0)], HOST)
    mesh = placement.mesh
    rd, cold, chd = mesh.xy(placement.slot_of[cd])
    rs, cols, chs = mesh.xy(placement.slot_of[np.maximum(cs, 0)])
    hr, hc = mesh.host_xy()
    host = cs < 0
    rs, cols, chs = np.where(host, hr, rs), np.where(host, hc, cols), np.where(host, 0, chs)
    cross = (np.abs(chd // mesh.chip_cols - chs // mesh.chip_cols)
             + np.abs(chd % mesh.chip_cols - chs % mesh.chip_cols))
    return Traffic(src, cd, axons, msgs, cs, np.abs(cold - cols), np.abs(rd - rs), cross)
