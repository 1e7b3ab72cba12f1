"""Pack blocks into cores: vector bin packing over the four per-core resources (neurons,
synapse memory, fan-in, fan-out), the summed-use packing the split search scores with."""

from __future__ import annotations

import math

import numpy as np

from snncompile.partition.resources import CoreModel, DoesNotFit
from snncompile.partition.split import RESOURCES, Block


def pack(blocks: list[Block], model: CoreModel, beat: int | None = None) -> list[list[int]] | None:
    """Cores as lists of block indices: the fewest of three vector bin-packing heuristics
    (Panigrahy et al. 2011, "Heuristics for vector bin packing"). Bin-centric dot-product and
    L2-norm greedy fill one core at a time with the fitting block whose use best matches the
    core's remaining room, so blocks bound by different resources share cores; first-fit
    decreasing (by largest share of a core) places big tiles first and small blocks in the gaps
    they leave. No one rule wins on every network. Both rules only compare use vectors, so they
    run on kinds of equal blocks (_kinds; tiles of one layer are near-equal) and give the same
    cores as a per-block loop. Sums stay within the caps; fan-in / fan-out sums bound axon tables
    blocks could share.

    beat: only a packing into fewer cores is wanted (search.py's descent); None when no rule
    gets below it. Each rule stops once it must reach the fewest cores so far (bin-centric: cores
    closed plus ceil of the remaining use; first fit: cores opened), so the packing returned is
    the one an unbounded call returns."""
    caps = np.array([model.cap(r) for r in RESOURCES], np.float64)
    use = np.array([b.use() for b in blocks], np.float64).reshape(-1, 4) / caps
    best = None
    for rule in ("dot", "l2", "ffd"):
        limit = len(best) if best is not None else beat
        cores = _ffd(use, limit) if rule == "ffd" else _bin_centric(use, rule, limit)
        if cores is not None and (best is None or len(cores) < len(best)):
            best = cores
    return None if best is None else sorted(best, key=min)


def _kinds(use: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Distinct use vectors and, per kind, its blocks in ascending index order. Both heuristics
    only compare use vectors and break ties by block index, so they can work on kinds (a
    network's blocks come in few sizes: tiles of one layer are near-equal)."""
    kinds, inverse = np.unique(use, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    cuts = np.cumsum(np.bincount(inverse, minlength=len(kinds)))[:-1]
    return kinds, np.split(order, cuts)


def _bin_centric(use: np.ndarray, rule: str, limit: int | None = None) -> list[list[int]] | None:
    """Fill one core at a time with the fitting block of best score (lowest index on ties).

    Works on kinds (_kinds): a step scores each kind once and takes its lowest remaining block,
    the block the per-block rule would take. A core filled without a tie is repeated while
    every kind it used has enough blocks left: the same kinds alive and the same room give the
    same choices (kinds it did not take only lose candidates that did not win). None once the
    cores closed plus ceil(remaining use) reach `limit` (closed cores are never reopened)."""
    kinds, ids = _kinds(use)
    rest = use.sum(0)  # use not packed yet
    head = np.zeros(len(kinds), np.int64)  # next unused block of each kind
    left = np.array([len(i) for i in ids], np.int64)
    sq = (kinds * kinds).sum(1)
    cores: list[list[int]] = []
    while left.any():
        room, picks, cand, tied = np.ones(4), [], np.flatnonzero(left), False
        u, w = kinds[cand], sq[cand]  # filtered along with cand
        taken = np.zeros(len(kinds), np.int64)
        while len(cand):
            ok = (u <= room + 1e-12).all(1)  # room only shrinks
            cand, u, w = cand[ok], u[ok], w[ok]
            if not len(cand):
                break
            score = u @ room if rule == "dot" else 2 * (u @ room) - w
            top = np.flatnonzero(score == score.max())
            k = int(top[0])
            if len(top) > 1:  # the per-block rule takes the lowest block index
                tied = True
                k = int(top[np.argmin([ids[cand[j]][head[cand[j]]] for j in top])])
            t = int(cand[k])
            picks.append(int(ids[t][head[t]]))
            head[t] += 1
            left[t] -= 1
            taken[t] += 1
            room = room - kinds[t]
            if not left[t]:
                keep = cand != t
                cand, u, w = cand[keep], u[keep], w[keep]
        if not picks:  # cannot happen: split_layer makes every block fit an empty core
            raise DoesNotFit("a block does not fit an empty core")
        cores.append(sorted(picks))
        used = np.flatnonzero(taken)
        rest = rest - taken[used] @ kinds[used]
        if not tied:
            for _ in range(int((left[used] // taken[used]).min())):  # identical cores
                got = []
                for t in used:
                    got.extend(ids[t][head[t]:head[t] + taken[t]].tolist())
                head[used] += taken[used]
                left[used] -= taken[used]
                rest = rest - taken[used] @ kinds[used]
                cores.append(sorted(got))
        # a unit of use is a whole-number multiple of 1 / cap, so 1e-9 only absorbs rounding
        if limit is not None and len(cores) + math.ceil(rest.max() - 1e-9) >= limit:
            return None
    return cores


def _ffd(use: np.ndarray, limit: int | None = None) -> list[list[int]] | None:
    """First-fit decreasing. A block cannot fit a core that an earlier block of the same use
    vector did not fit (room only shrinks), so each kind's search starts where its last one
    landed. None once it opens `limit` cores."""
    order = np.lexsort((-use.sum(1), -use.max(1)))  # largest share first
    kinds, inverse = np.unique(use, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    start = np.zeros(len(kinds), np.int64)
    room = np.ones((len(use), 4))  # rows past len(cores) are cores not opened yet
    cores: list[list[int]] = []
    for i in order:
        t = inverse[i]
        ok = (use[i] <= room[start[t]:len(cores)] + 1e-12).all(1)
        k = int(ok.argmax()) if len(ok) else 0
        if len(ok) and ok[k]:
            k += int(start[t])
        else:
            if not np.all(use[i] <= 1 + 1e-12):
                raise DoesNotFit("a block does not fit an empty core")
            k = len(cores)
            if limit is not None and k + 1 >= limit:
                return None
            cores.append([])
        start[t] = k
        cores[k].append(int(i))
        room[k] -= use[i]
    return [sorted(c) for c in cores]
