"""Walking orders of a layer's H x W positions: tile by tile, row-major inside a tile, so a
contiguous range of the order is a compact block and a rectangle of positions is a few intervals
of it (what splits, routes and axon tables are computed on).
"""

from __future__ import annotations

import bisect

import numpy as np


def geometry(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) of a node shape: 1-D layers have one channel and one row."""
    if len(shape) == 1:
        return 1, 1, int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), 1, int(shape[1])
    return int(shape[0]), int(shape[1]), int(np.prod(shape[2:]))


class Order:
    """Positions of an H x W map walked tile by tile, row-major inside a tile, so a range of the
    order inside one tile is a near-rectangle and a conv block's receptive field stays compact.

    `width` gives vertical strips of `width` columns over all rows (width = W: raster order);
    `tiles` gives any grid of rectangles (row0, rows, col0, cols) covering the map, e.g. near-equal
    bands x columns (split.grid_tiles), so a block can be a whole a x b tile with no ragged edge."""

    def __init__(self, h: int, w: int, width: int | None = None,
                 tiles: list[tuple[int, int, int, int]] | None = None):
        self.h, self.w, self.width = h, w, min(w, width or w)
        if tiles is None:
            tiles = [(0, h, col, min(self.width, w - col)) for col in range(0, w, self.width)]
        else:
            self.width = max(t[3] for t in tiles)
        self.tiles = []  # (order offset, first row, rows, first column, columns)
        off = 0
        for r0, rows, col, ws in tiles:
            self.tiles.append((off, r0, rows, col, ws))
            off += rows * ws
        self.offsets = np.array([t[0] for t in self.tiles], np.int64)
        self._offsets = [t[0] for t in self.tiles]  # tile_of bisects a list: no numpy call
        # strips and split.grid_order's tiles are bands x columns, listed band by band: rect()
        # then finds the tiles a rectangle meets by bisection instead of a loop over every tile
        tops = sorted({t[1] for t in self.tiles})
        lefts = sorted({t[3] for t in self.tiles})
        self._grid = None
        if len(tops) * len(lefts) == len(self.tiles) and all(
                t[1] == tops[k // len(lefts)] and t[3] == lefts[k % len(lefts)]
                for k, t in enumerate(self.tiles)):
            self._grid = (tops, lefts)
        self.perm = np.concatenate([
            ((r0 + np.arange(rows))[:, None] * w + col + np.arange(ws)[None, :]).ravel()
            for _, r0, rows, col, ws in self.tiles]).astype(np.int64)
        if len(self.perm) != h * w or np.bincount(self.perm, minlength=h * w).max() != 1:
            raise ValueError(f"tiles {tiles} do not cover a {h} x {w} map exactly once")
        self.inv = np.empty_like(self.perm)
        self.inv[self.perm] = np.arange(len(self.perm))
        self.raster = len(self.tiles) == 1 and self.width == w  # perm is the identity

    def tile_of(self, p: int) -> tuple[int, int, int, int, int]:
        """(offset, first row, rows, first column, columns) of the tile holding order index p."""
        return self.tiles[bisect.bisect_right(self._offsets, p) - 1]

    def _hits(self, ra: int, rb: int, ca: int, cb: int):
        """Tiles (in walking order) that may meet rows ra..rb x columns ca..cb."""
        if self._grid is None:
            return self.tiles
        tops, lefts = self._grid
        ra, rb, ca, cb = max(ra, 0), min(rb, self.h - 1), max(ca, 0), min(cb, self.w - 1)
        if ra > rb or ca > cb:
            return []
        i0, i1 = bisect.bisect_right(tops, ra) - 1, bisect.bisect_right(tops, rb)
        j0, j1 = bisect.bisect_right(lefts, ca) - 1, bisect.bisect_right(lefts, cb)
        n = len(lefts)
        return [self.tiles[i * n + j] for i in range(i0, i1) for j in range(j0, j1)]

    def rect(self, ra: int, rb: int, ca: int, cb: int) -> tuple[np.ndarray, np.ndarray]:
        """Order intervals [starts, stops) covering rows ra..rb x columns ca..cb (inclusive)."""
        return self.rects([(ra, rb, ca, cb)])

    def rects(self, boxes: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """rect() of each box, concatenated: per tile a box meets, one interval if it spans the
        tile's width, else one per row. Built as Python ints with one array per output (route
        building calls this per block and source, so numpy call overhead dominated)."""
        starts: list[int] = []
        stops: list[int] = []
        for ra, rb, ca, cb in boxes:
            for off, r0, rows, col, ws in self._hits(ra, rb, ca, cb):
                a, b = max(ca, col), min(cb, col + ws - 1)
                ta, tb = max(ra, r0), min(rb, r0 + rows - 1)
                if a > b or ta > tb:
                    continue
                if a == col and b == col + ws - 1:
                    starts.append(off + (ta - r0) * ws)
                    stops.append(off + (tb - r0 + 1) * ws)
                else:  # one interval per row: arithmetic progressions
                    first, end = off + (ta - r0) * ws + (a - col), off + (tb - r0 + 1) * ws
                    starts.extend(range(first, end, ws))
                    stops.extend(range(first + b - a + 1, end + b - a + 1, ws))
        return np.array(starts, np.int64), np.array(stops, np.int64)
