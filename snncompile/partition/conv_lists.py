"""Synapse memory of a conv block whose input axons share weight lists, as nengo-loihi builds
convolutions for Loihi 1 (builder/conv.py conv2d_loihi_weights, hardware/builder.py build_synapse).

Why: stored one list per connection, a conv block pays index bits on every synapse and is
memory-bound long before its core runs out of neurons. On the chip an input axon points at a
synapse list and adds a compartment base to its indices, so every axon that reaches the same
taps of the block (its "mask") shares one list. nengo-loihi also finds the base limited to 256
(`offset % 256`), so a list is kept per 256-compartment page of the base as well. A block's lists
are therefore one per (input channel, tap mask, page), each holding the non-zero weights of its
taps to the block's output channels. A list costs what SynapseConfig.bits_per_axon charges: groups
of at most 64 synapses, each a 10-bit header plus its synapses, rounded up to 64-bit words.

The block's compartments are its positions in order (a near-rectangle walked row by row inside
one tile of width wd) times its channels, channel fastest, so a tap's compartment offset from the
axon's first target is the same for every axon with the same mask.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.partition.resources import CoreModel

CACHE = 200_000  # block shapes remembered per conv op (a few hundred bytes each)


@dataclasses.dataclass(frozen=True)
class Where:
    """Positions a..b (inclusive) of the tile with first row `top`, first column `col`, `wd`
    columns, walked row by row: where a block sits in its layer."""

    top: int
    col: int
    wd: int
    a: int
    b: int


def entry_bits(n: np.ndarray, per: int, model: CoreModel) -> np.ndarray:
    """Memory of synapse lists of n synapses (per bits each): groups of `group_synapses`, each
    with a header, rounded up to whole memory words (nengo-loihi SynapseConfig.bits_per_axon)."""
    n = np.asarray(n, np.int64)
    g, word, head = model.group_synapses, model.word_bits, model.axon_header_bits
    full, rest = np.divmod(n, g)
    last = np.where(rest > 0, -(-(rest * per + head) // word), 0)
    return (full * -(-(g * per + head) // word) + last) * word


class ConvLists:
    """The shared weight lists of any block of one conv op (cached by block shape)."""

    def __init__(self, op: hw.Conv, geom: tuple[int, ...], per: int, model: CoreModel):
        w = np.asarray(op.weight)
        self.c_out, self.cin_g, kh, kw = w.shape
        self.groups = op.groups
        self.nz = (w != 0).reshape(self.c_out, self.cin_g, kh * kw)
        self.geom, self.per, self.model = geom, per, model
        dh, dw = geom[4], geom[5]
        tr, tc = np.divmod(np.arange(kh * kw), kw)
        self.tap_r, self.tap_c = tr * dh, tc * dw  # input offset of each tap
        self._counts: dict[tuple[int, int], np.ndarray] = {}
        self._cache: dict[tuple, int] = {}

    def counts(self, c0: int, c1: int) -> np.ndarray:
        """(C_in, taps): non-zero weights from each input channel through each tap into c0:c1."""
        key = (c0, c1)
        if key not in self._counts:
            out = np.zeros((self.cin_g * self.groups, self.nz.shape[2]), np.int64)
            per_group = self.c_out // self.groups
            for g in range(self.groups):
                f0, f1 = max(c0, g * per_group), min(c1, (g + 1) * per_group)
                if f0 < f1:
                    out[g * self.cin_g:(g + 1) * self.cin_g] = self.nz[f0:f1].sum(0)
            self._counts[key] = out
        return self._counts[key]

    def _box(self, at: Where) -> tuple[int, int, int, int]:
        """Input rows i0..i1 and columns j0..j1 (inclusive, inside the map) under the block."""
        sh, sw, ph, pw, dh, dw, kh, kw, h_in, w_in = self.geom
        y0, y1 = at.top + at.a // at.wd, at.top + at.b // at.wd
        x0, x1 = ((at.col + at.a % at.wd, at.col + at.b % at.wd) if y0 == y1
                  else (at.col, at.col + at.wd - 1))
        return (max(y0 * sh - ph, 0), min(y1 * sh - ph + (kh - 1) * dh, h_in - 1),
                max(x0 * sw - pw, 0), min(x1 * sw - pw + (kw - 1) * dw, w_in - 1))

    def axons(self, c0: int, c1: int, at: Where) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
        """Input positions (rows, columns) reaching the block, each one's tap mask (P, taps) and
        compartment base (the block compartment of its first target)."""
        sh, sw, ph, pw = self.geom[:4]
        i0, i1, j0, j1 = self._box(at)
        i, j = np.arange(i0, i1 + 1), np.arange(j0, j1 + 1)
        ii, jj = np.repeat(i, len(j)), np.tile(j, len(i))
        ys, xs = ii[:, None] + ph - self.tap_r, jj[:, None] + pw - self.tap_c
        y, x = ys // sh - at.top, xs // sw - at.col
        q = y * at.wd + x
        mask = (ys % sh == 0) & (xs % sw == 0) & (x >= 0) & (x < at.wd) & (q >= at.a) & (q <= at.b)
        keep = mask.any(1)
        first = np.where(mask, q, np.iinfo(np.int64).max).min(1)
        base = (first[keep] - at.a) * (c1 - c0)
        return ii[keep], jj[keep], mask[keep], base

    def keys(self, c0: int, c1: int, at: Where) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (tap mask, page) of the block's axons: masks (K, taps) and pages (K,)."""
        _, _, mask, base = self.axons(c0, c1, at)
        page = base // self.model.base_page
        taps, shift = mask.shape[1], max(1, int(page.max(initial=0)).bit_length())
        if taps + shift <= 62:  # one int64 code per axon: a 1-D unique, ~10x faster than rows
            code = np.unique((mask @ (1 << np.arange(taps, dtype=np.int64))) << shift | page)
            bits = (code[:, None] >> (shift + np.arange(taps))) & 1
            return bits.astype(bool), code & ((1 << shift) - 1)
        uniq = np.unique(np.column_stack([mask, page]), axis=0)
        return uniq[:, :-1].astype(bool), uniq[:, -1]

    def bits(self, c0: int, c1: int, at: Where) -> int:
        """Synapse memory of the block's lists: one per (input channel, mask, page)."""
        # blocks of the same shape whose input box the map's edges cut alike have the same
        # lists: key on the box relative to the block's first row and its tile's first column
        row = at.a // at.wd
        oy, ox = (at.top + row) * self.geom[0], at.col * self.geom[1]
        i0, i1, j0, j1 = self._box(at)
        key = (c0, c1, at.wd, at.a - row * at.wd, at.b - row * at.wd,
               i0 - oy, i1 - oy, j0 - ox, j1 - ox)
        got = self._cache.get(key)
        if got is None:
            masks, _ = self.keys(c0, c1, at)
            sizes = masks.astype(np.int64) @ self.counts(c0, c1).T  # (K, C_in)
            got = int(entry_bits(sizes, self.per, self.model).sum())
            if len(self._cache) >= CACHE:
                self._cache.clear()
            self._cache[key] = got
        return got

    def lists(self, c0: int, c1: int, at: Where) -> tuple[dict, list]:
        """The encoding itself (tests, inspection): axon (input channel, row, column) -> (list
        number, its compartment base within the page), and each list's compartment indices and
        kernel entries (output channel, input channel within its group, tap)."""
        ii, jj, mask, base = self.axons(c0, c1, at)
        sh, sw, ph, pw = self.geom[:4]
        page, per_group = self.model.base_page, self.c_out // self.groups
        table: list[tuple[np.ndarray, np.ndarray]] = []
        number: dict[tuple, int] = {}
        axon_map: dict[tuple[int, int, int], tuple[int, int]] = {}
        for n in range(len(ii)):
            taps = np.flatnonzero(mask[n])
            q = (((ii[n] + ph - self.tap_r[taps]) // sh - at.top) * at.wd
                 + (jj[n] + pw - self.tap_c[taps]) // sw - at.col)
            for ci in range(self.cin_g * self.groups):
                g, cl = divmod(ci, self.cin_g)
                key = (ci, mask[n].tobytes(), base[n] // page)
                if key not in number:
                    fo = np.arange(max(c0, g * per_group), min(c1, (g + 1) * per_group))
                    t, f = np.nonzero(self.nz[fo][:, cl, taps].T)
                    idx = (q[t] - at.a) * (c1 - c0) + fo[f] - c0 - base[n] % page
                    number[key] = len(table)
                    table.append((idx, np.column_stack([fo[f], np.full(len(f), cl), taps[t]])))
                if len(table[number[key]][0]):
                    axon_map[(ci, int(ii[n]), int(jj[n]))] = (number[key], int(base[n] % page))
        return axon_map, table
