"""Local search after min-cut placement: move any core to any mesh slot (swapping with the core
there, or into a free slot of the last chip), by heat-bath annealing and then steepest descent.

Why: recursive bisection never sees traffic that crosses its earlier cuts, and neighbour swaps
only repair it locally; on PilotNet METIS + neighbour swaps reached 0.81 x the greedy traffic x
hops while any-pair moves reach about 0.72 on the same slots (docs/partition.md). The search
keeps M[a, s] = traffic x hops of core a if it sat at slot s (every other core fixed), so the
gain of every move of one core is one vector operation, and a move updates only the rows of the
moved cores' neighbours. Deterministic: a fixed seed and a work budget (cores moved), never a
wall-clock limit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

WORK = 12_000  # core moves the annealing may try: PilotNet 60 sweeps, 1,372 cores 8 (~3 s)
MAX_SWEEPS = 60
MAX_ENTRIES = 3e7  # cores x slots of M (8 bytes each); larger meshes keep the start placement
HEAT = 0.3  # start temperature, as a fraction of the mean traffic x hops per core


class Search:
    """Cores 0..n-1 on slots 0..n_slots-1 (n_slots >= n), traffic src -> dst (src -1 = host)."""

    def __init__(self, mesh, slot_of: np.ndarray, src: np.ndarray, dst: np.ndarray,
                 traffic: np.ndarray, n_slots: int):
        n = len(slot_of)
        self.n, self.n_slots = n, n_slots
        r, c, _ = mesh.xy(np.arange(n_slots))
        self.r, self.c = r.astype(np.float64), c.astype(np.float64)
        hr, hc = mesh.host_xy()
        keep = src != dst
        a, b, w = src[keep], dst[keep], np.asarray(traffic, np.float64)[keep]
        host = a < 0
        self.host_w = np.bincount(b[host], w[host], minlength=n)
        self.host_d = np.abs(self.r - hr) + np.abs(self.c - hc)
        a, b, w = a[~host], b[~host], w[~host]
        self.w = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([a, b]),
                                                         np.concatenate([b, a]))), shape=(n, n))
        self.w.sum_duplicates()
        self.reset(slot_of)

    def reset(self, slot_of: np.ndarray) -> None:
        """Place cores at slot_of and rebuild M exactly (no drift from incremental updates)."""
        self.slot_of = np.array(slot_of, np.int64)
        self.occ = np.full(self.n_slots, -1, np.int64)
        self.occ[self.slot_of] = np.arange(self.n)
        s = self.slot_of
        self.m = np.empty((self.n, self.n_slots))
        for lo in range(0, self.n_slots, 256):  # slot chunks: peak memory stays near one M
            k = slice(lo, lo + 256)
            dist = (np.abs(self.r[s][:, None] - self.r[None, k])
                    + np.abs(self.c[s][:, None] - self.c[None, k]))
            self.m[:, k] = self.w @ dist + self.host_w[:, None] * self.host_d[None, k]

    def _dist(self, s: int) -> np.ndarray:
        return np.abs(self.r - self.r[s]) + np.abs(self.c - self.c[s])

    def _row(self, a: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.w.indptr[a], self.w.indptr[a + 1]
        return self.w.indices[lo:hi], self.w.data[lo:hi]

    def total(self) -> float:
        """Traffic x hops (each core pair counted once, host routes once)."""
        own = self.m[np.arange(self.n), self.slot_of]
        host = self.host_w * self.host_d[self.slot_of]
        return float(0.5 * (own.sum() + host.sum()))

    def gains(self, a: int) -> np.ndarray:
        """Change of total cost if core a moves to each slot (swapping with the core there)."""
        sa = self.slot_of[a]
        out = self.m[a] - self.m[a, sa]
        held = np.flatnonzero(self.occ >= 0)
        b = self.occ[held]
        out[held] += self.m[b, sa] - self.m[b, held]
        nb, w = self._row(a)  # a and b stay at the same distance: undo counting it twice
        sb = self.slot_of[nb]
        out[sb] += 2 * w * self._dist(sa)[sb]
        out[sa] = 0.0
        return out

    def move(self, a: int, s: int) -> None:
        """Core a to slot s; the core at s, if any, to a's old slot."""
        sa, b = self.slot_of[a], self.occ[s]
        step = self._dist(s) - self._dist(sa)
        nb, w = self._row(a)
        self.m[nb] += w[:, None] * step[None, :]
        if b >= 0:
            nb, w = self._row(b)
            self.m[nb] -= w[:, None] * step[None, :]
            self.slot_of[b] = sa
        self.occ[sa], self.occ[s], self.slot_of[a] = b, a, s

    def descend(self, sweeps: int) -> None:
        """Best move of each core in turn while one gains, at most `sweeps` passes."""
        for _ in range(sweeps):
            moved = False
            for a in range(self.n):
                g = self.gains(a)
                s = int(np.argmin(g))
                if g[s] < -1e-9 * max(1.0, self.m[a, self.slot_of[a]]):
                    self.move(a, s)
                    moved = True
            if not moved:
                return

    def anneal(self, sweeps: int, heat: float, seed: int) -> None:
        """Heat-bath sweeps: each core moves to a slot drawn with probability exp(-gain / T),
        T cooling quadratically to 0; ends at the best placement seen."""
        rng = np.random.default_rng(seed)
        best, best_slots = self.total(), self.slot_of.copy()
        scale = heat * best / max(self.n, 1)
        for k in range(sweeps):
            temp = scale * (1 - k / sweeps) ** 2 + 1e-12
            for a in rng.permutation(self.n):
                g = self.gains(a)
                p = np.cumsum(np.exp((g.min() - g) / temp))
                s = int(np.searchsorted(p, rng.random() * p[-1], side="right"))
                if s != self.slot_of[a]:
                    self.move(a, min(s, self.n_slots - 1))
            got = self.total()
            if got < best:
                best, best_slots = got, self.slot_of.copy()
        self.reset(best_slots)


def improve(mesh, slot_of: np.ndarray, src: np.ndarray, dst: np.ndarray, traffic: np.ndarray,
            free_slots: bool = True, seed: int = 0, work: float = WORK) -> np.ndarray:
    """A placement of traffic x hops at most slot_of's: annealing then descent over every slot of
    the mesh's chips (free_slots) or only the slots slot_of uses."""
    n = len(slot_of)
    if n < 2 or n * mesh.chips * mesh.rows * mesh.cols > MAX_ENTRIES:
        return slot_of
    if free_slots:
        n_slots = mesh.chips * mesh.rows * mesh.cols
        start = slot_of
    else:  # renumber the used slots 0..n-1 (sorted, so row-major order is kept)
        used = np.sort(slot_of)
        start = np.searchsorted(used, slot_of)
        mesh = _Subset(mesh, used)
        n_slots = n
    search = Search(mesh, start, src, dst, traffic, n_slots)
    sweeps = int(min(MAX_SWEEPS, work // n))
    if sweeps > 0:
        search.anneal(sweeps, HEAT, seed)
    search.descend(max(sweeps, 3))
    got = search.slot_of.copy()
    search.reset(got)  # both costs recounted from scratch: never worse than the start
    after = search.total()
    search.reset(start)
    if after > search.total():
        return slot_of
    return got if free_slots else used[got]


class _Subset:
    """A mesh seen through a subset of its slots: slot k of the subset is used[k] of the mesh."""

    def __init__(self, mesh, used: np.ndarray):
        self.mesh, self.used = mesh, used

    def xy(self, slots):
        return self.mesh.xy(self.used[np.asarray(slots, np.int64)])

    def host_xy(self):
        return self.mesh.host_xy()
