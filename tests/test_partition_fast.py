"""The partitioner's fast paths equal the straightforward code they replaced.

Packing works on kinds of equal blocks and repeats identical cores (split._bin_centric, _ffd),
Order.rect bisects a grid of tiles, Incoming._area counts a union of rectangles by
inclusion-exclusion. Each is checked against the plain per-block / per-tile version (kept here as
the reference) on random inputs built to have many equal blocks and exact score ties, where a
fast path could pick a different block.
"""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.partition.layers import Incoming
from snncompile.partition.order import Order
from snncompile.partition.packing import _bin_centric, _ffd
from snncompile.partition.split import grid_order


def bin_centric_reference(use: np.ndarray, rule: str) -> list[list[int]]:
    """Per-block bin-centric greedy: fill one core at a time with the fitting block of best
    score, the lowest index on ties."""
    rem = np.arange(len(use))
    cores = []
    while len(rem):
        room, members, cand = np.ones(4), [], rem
        while len(cand):
            cand = cand[np.all(use[cand] <= room + 1e-12, axis=1)]
            if not len(cand):
                break
            u = use[cand]
            score = u @ room if rule == "dot" else 2 * (u @ room) - (u * u).sum(1)
            i = int(cand[np.argmax(score)])
            members.append(i)
            room = room - use[i]
            cand = cand[cand != i]
        cores.append(sorted(members))
        rem = np.setdiff1d(rem, members, assume_unique=True)
    return cores


def ffd_reference(use: np.ndarray) -> list[list[int]]:
    """First-fit decreasing scanning every core for every block."""
    order = np.lexsort((-use.sum(1), -use.max(1)))
    room = np.zeros((0, 4))
    cores: list[list[int]] = []
    for i in order:
        ok = np.flatnonzero(np.all(use[i] <= room + 1e-12, axis=1))
        if len(ok):
            k = int(ok[0])
        else:
            room, k = np.vstack([room, np.ones(4)]), len(cores)
            cores.append([])
        cores[k].append(int(i))
        room[k] -= use[i]
    return [sorted(c) for c in cores]


def random_use(rng: np.random.Generator) -> np.ndarray:
    """Blocks drawn from a few kinds; coarse values (eighths) make equal scores of different
    kinds common, so tie-breaking by block index is exercised."""
    kinds = rng.integers(0, 9, (int(rng.integers(1, 9)), 4)) / 8
    if rng.random() < 0.5:
        kinds = kinds * rng.random((len(kinds), 4))  # and fine values
    kinds[np.all(kinds == 0, axis=1), 0] = 1 / 8  # a block uses something
    return kinds[rng.integers(0, len(kinds), int(rng.integers(1, 150)))]


@pytest.mark.parametrize("seed", range(4))
def test_kind_packers_equal_per_block_packers(seed):
    rng = np.random.default_rng(seed)
    ties = 0
    for _ in range(60):
        use = random_use(rng)
        for rule in ("dot", "l2"):
            assert _bin_centric(use, rule) == bin_centric_reference(use, rule)
        assert _ffd(use) == ffd_reference(use)
        kinds = np.unique(use, axis=0)
        ties += len(np.unique(kinds.sum(1))) < len(kinds)
    assert ties  # the draw did produce kinds with equal dot scores on an empty core


@pytest.mark.parametrize("seed", range(2))
def test_packers_with_a_limit_give_up_only_when_they_cannot_beat_it(seed):
    """A rule given `limit` returns None exactly when its full packing needs >= limit cores,
    else that same packing (the descent asks only for packings that beat the best)."""
    rng = np.random.default_rng(10 + seed)
    gave_up = kept = 0
    for _ in range(60):
        use = random_use(rng)
        for rule in ("dot", "l2", "ffd"):
            full = _ffd(use) if rule == "ffd" else _bin_centric(use, rule)
            for limit in range(max(1, len(full) - 2), len(full) + 3):
                got = _ffd(use, limit) if rule == "ffd" else _bin_centric(use, rule, limit)
                assert got == (None if len(full) >= limit else full), (rule, limit)
                gave_up += got is None
                kept += got is not None
    assert gave_up and kept


def rect_reference(order: Order, ra: int, rb: int, ca: int, cb: int):
    """Order.rect as a loop over every tile."""
    starts, stops = [], []
    for off, r0, rows, col, ws in order.tiles:
        a, b = max(ca, col), min(cb, col + ws - 1)
        ta, tb = max(ra, r0), min(rb, r0 + rows - 1)
        if a > b or ta > tb:
            continue
        if a == col and b == col + ws - 1:
            starts.append(off + (ta - r0) * ws)
            stops.append(off + (tb - r0 + 1) * ws)
        else:
            for r in range(ta, tb + 1):
                starts.append(off + (r - r0) * ws + (a - col))
                stops.append(starts[-1] + (b - a + 1))
    return starts, stops


def test_rect_by_bisection_equals_loop_over_tiles():
    rng = np.random.default_rng(0)
    irregular = Order(4, 4, tiles=[(0, 2, 0, 4), (2, 2, 0, 2), (2, 2, 2, 2)])  # not bands x cols
    assert irregular._grid is None
    orders = [irregular]
    for _ in range(120):
        h, w = (int(v) for v in rng.integers(1, 16, 2))
        orders.append(Order(h, w, int(rng.integers(1, w + 1))))
        orders.append(grid_order(h, w, int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))))
    for order in orders:
        for _ in range(15):  # rectangles may stick out of the map, as input fields do
            ra, rb = sorted(int(v) for v in rng.integers(-2, order.h + 2, 2))
            ca, cb = sorted(int(v) for v in rng.integers(-2, order.w + 2, 2))
            starts, stops = order.rect(ra, rb, ca, cb)
            want = rect_reference(order, ra, rb, ca, cb)
            assert (starts.tolist(), stops.tolist()) == want
            assert starts.dtype == stops.dtype == np.int64


def test_union_area_by_inclusion_exclusion_equals_union():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        boxes = []
        for _ in range(int(rng.integers(0, 4))):
            ia, ja = (int(v) for v in rng.integers(0, 8, 2))
            boxes.append((ia, ia + int(rng.integers(-2, 5)), ja, ja + int(rng.integers(-2, 5))))
        cells = {(r, c) for ia, ib, ja, jb in boxes
                 for r in range(ia, ib + 1) for c in range(ja, jb + 1)}
        union = sum((ib - ia + 1) * (jb - ja + 1) for ia, ib, ja, jb in Incoming._union(boxes))
        assert Incoming._area(boxes) == union == len(cells)
