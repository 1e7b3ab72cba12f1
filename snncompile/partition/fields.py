"""The block lemma: the fewest source neurons any n interior neurons of a conv-fed layer read,
for any zero pattern in the kernel (bounds.py turns it into a lower bound on cores).

Why a module of its own: the halo bound is only as provable as this count, so its proof, its
numbers and nothing else live here, and tests/test_bounds.py checks it against every set of
neurons on small random geometries.

*Field lemma.* Let E = U x V be a product of tap offsets (input coordinates, dilation included)
all of whose taps are non-zero, S a set of P output positions, sigma(i, j) = (s_h i, s_w j).
Split U by residue mod s_h into a_h non-empty classes, V mod s_w into a_w; L = |U| - a_h per
axis. Different residue classes hit disjoint input cells, and in one class the union is S + U' x V'
(U', V' integer sets). Adding V' along each of S's r rows adds >= |V'| - 1 cells per row (a finite
X in Z has |X + Y| >= |X| + |Y| - 1) and >= |V'| - 1 columns to S's c columns; adding U' along
each column then adds >= |U'| - 1 per column. Summed over classes:
|sigma(S) + E| >= a_h a_w P + L_w (a_h r) + L_h (a_w c) + L_h L_w with r c >= P, r and c within
the interior rows and columns: minimising over real r gives F_E(P) (field_lower). A full kernel
has U = dilation * [0, k): a = min(k, s / gcd(s, dilation)), L = k - a.

*Block lemma* (conv_need). Take a set B of n interior neurons of x, any channels at any
positions; C_p is the set of channels B holds at position p, E(co, ci) the non-zero taps of a
channel pair, F_E uses the best product inside E. Three bounds on what B reads from one source;
h(n) is the largest, made non-decreasing (the least need over n-sets grows with n).
(1) With P_co positions holding channel co, n = sum_co P_co and the need is
>= max_co G_co(P_co), G_co = sum_ci F_E(co,ci). Each row G_co grows with P, so the least max over
all (P_co) summing to n is the n-th smallest entry of the table G_co(P), P >= 1.
(2) The taps D_ci(k) at which fewer than k output channels have a zero are read by every
position holding >= k channels; with P_k such positions, n = sum_k P_k and the need is
>= max_k sum_ci F_D_ci(k)(P_k): the n-th smallest entry of that table, as in (1).
(3) Let D_ci be a product inside the union of ci's patterns over all channels, W the cells of
sigma(S) + D_ci over all ci: |W| >= Phi(P) = sum_ci F_D_ci(P). A cell of W that B does not read
maps to one (position p, tap t) with t in D_ci and every channel of C_p zero at (ci, t)
(injective: the cell is sigma(p) + t), so B reads >= Phi(P) - sum_p mu(|C_p|), where mu(k)
bounds the common zeros of any k channels on D (the most of one channel, of any pair, and the
taps at least k channels have zero). With mu-hat a concave majorant of mu (Jensen),
h(n) >= min over P in [ceil(n / C_out), n] of Phi(P) - P mu-hat(n / P). (1) misses the union of
channels at a position; (2) sees it only once k exceeds every tap's count of zero channels; (3)
keeps the whole field's halo for kernels with scattered zeros (PilotNet: 21-39 % zero taps)
whenever the taps one channel misses cost less than what one more position reads (PilotNet's
stride-2 layers; not its stride-1 layer 5, where the plain count stays larger).
"""

from __future__ import annotations

import itertools

import numpy as np

from snncompile.partition.layers import Incoming

SUBSET_AXIS = 8  # products of taps: all row subsets up to this many kernel rows, else intervals
MAX_PATTERNS = 4096  # distinct tap masks bounds (1) and (2) tabulate (fewer: bound (3) only)
MAX_TABLE = 200_000_000  # entries of their (channels x masks x positions) product


def _interior(inc: Incoming) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of output rows / columns whose conv field lies inside the input."""
    sh, sw, ph, pw, dh, dw, kh, kw, h_in, w_in = inc.geom
    _, h, w = inc.dst_geo
    i, j = np.arange(h), np.arange(w)
    rows = (i * sh - ph >= 0) & (i * sh - ph + (kh - 1) * dh <= h_in - 1)
    cols = (j * sw - pw >= 0) & (j * sw - pw + (kw - 1) * dw <= w_in - 1)
    return rows, cols


def _axis(taps: np.ndarray, stride: int, dilation: int) -> tuple[int, int]:
    """(a, L) of tap indices along one axis: residue classes of their offsets mod the stride,
    and taps beyond one per class (field lemma)."""
    a = len({int(t) * dilation % stride for t in taps})
    return a, len(taps) - a


def product_sets(mask: np.ndarray, geom: tuple) -> dict[tuple, np.ndarray]:
    """(a_h, L_h, a_w, L_w) -> a (kh, kw) mask U x V, for maximal products of non-zero taps."""
    sh, sw, _, _, dh, dw = geom[:6]
    flip = mask.shape[0] > mask.shape[1]
    m = mask.T if flip else mask
    k = m.shape[0]
    if k <= SUBSET_AXIS:
        subsets = (u for r in range(1, k + 1) for u in itertools.combinations(range(k), r))
    else:
        subsets = (tuple(range(a, b)) for a in range(k) for b in range(a + 1, k + 1))
    got = {}
    for u in subsets:
        v = np.flatnonzero(m[list(u)].all(0))
        if len(v):
            box = np.zeros_like(m)
            box[np.ix_(list(u), v)] = True
            ru, rv = np.asarray(u), v
            if flip:
                got[(*_axis(rv, sh, dh), *_axis(ru, sw, dw))] = box.T
            else:
                got[(*_axis(ru, sh, dh), *_axis(rv, sw, dw))] = box
    return got


def products(mask: np.ndarray, geom: tuple) -> set[tuple[int, int, int, int]]:
    """(a_h, L_h, a_w, L_w) of maximal products U x V of non-zero taps in a (kh, kw) mask."""
    return set(product_sets(mask, geom))


def _field(p: np.ndarray, params: tuple[int, int, int, int], rows_max: int,
           cols_max: int) -> np.ndarray:
    """F_E(P) for an array of P >= 1 (field lemma, module docstring)."""
    ah, lh, aw, lw = params
    area = ah * aw * p.astype(np.float64)  # cells of the residue classes, |T|
    r_max, c_max = ah * rows_max, aw * cols_max
    r_lo = np.maximum(1.0, area / c_max)  # R C >= |T| with C <= c_max
    r_hi = np.minimum(float(r_max), area)
    if lw > 0 and lh > 0:
        r = np.clip(np.sqrt(lh * area / lw), r_lo, r_hi)
    elif lh > 0:  # only columns cost: as many rows as allowed
        r = r_hi
    else:  # only rows cost (or nothing): as few rows as allowed
        r = r_lo
    c = area / r
    return area + lw * r + lh * c + lh * lw


def field_lower(p: np.ndarray, inc: Incoming, rows_max: int, cols_max: int,
                mask: np.ndarray | None = None) -> np.ndarray:
    """F(P): fewest input positions P interior output positions read through the non-zero taps
    `mask` (kh, kw) (default: every tap), for an array of P >= 1; rows_max / cols_max are the
    interior output rows and columns available."""
    kh, kw = inc.geom[6:8]
    mask = np.ones((kh, kw), bool) if mask is None else np.asarray(mask, bool)
    best = np.zeros(len(p))
    for params in products(mask, inc.geom):
        best = np.maximum(best, _field(np.asarray(p), params, rows_max, cols_max))
    return best


def conv_need(inc: Incoming, n_rows: int, n_cols: int, top: int) -> np.ndarray:
    """h(n), n = 1..top: input neurons of one source that any n interior neurons of the layer
    read through this conv (block lemma, module docstring)."""
    nz = np.asarray(inc.op.weight) != 0
    c_out, cin_g, kh, kw = nz.shape
    per = c_out // inc.op.groups
    pmax = min(n_rows * n_cols, top)
    p = np.arange(1, pmax + 1)
    params_f: dict[tuple, np.ndarray] = {}
    mask_f: dict[bytes, np.ndarray] = {}

    def f(mask: np.ndarray) -> np.ndarray:  # F over P = 0..pmax, made non-decreasing
        key = mask.tobytes()
        if key not in mask_f:
            best = np.zeros(pmax + 1)
            for params in products(mask, inc.geom):
                if params not in params_f:
                    params_f[params] = _field(p, params, n_rows, n_cols)
                best[1:] = np.maximum(best[1:], params_f[params])
            # the true least need grows with P, so a suffix minimum stays a lower bound
            mask_f[key] = np.minimum.accumulate(best[::-1])[::-1]
        return mask_f[key]

    nz_all = np.zeros((c_out, inc.src_geo[0], kh, kw), bool)  # every (co, ci) pair
    for g in range(inc.op.groups):
        nz_all[g * per:(g + 1) * per, g * cin_g:(g + 1) * cin_g] = nz[g * per:(g + 1) * per]
    c_in = nz_all.shape[1]
    pairs = nz_all.reshape(c_out, c_in, kh * kw)
    zeros = (~pairs).sum(0)  # (c_in, taps): output channels with a zero there
    certain = zeros[None] < np.arange(1, c_out + 1)[:, None, None]  # (2): row k - 1
    h = _robust(nz_all, inc, n_rows, n_cols, top, pmax)
    for masks in (pairs, certain):  # bounds (1) and (2): rows = channels or channel counts
        uniq, ids = np.unique(masks.reshape(-1, kh * kw), axis=0, return_inverse=True)
        if len(uniq) > MAX_PATTERNS or c_out * len(uniq) * (pmax + 1) > MAX_TABLE:
            continue  # too many distinct tap patterns to tabulate: (3) alone still holds
        counts = np.zeros((c_out, len(uniq)))
        np.add.at(counts, (np.repeat(np.arange(c_out), c_in), ids.reshape(-1)), 1)
        table = counts @ np.stack([f(u.reshape(kh, kw)) for u in uniq])
        h = np.maximum(h, _nth_smallest(table, top))
    return np.maximum.accumulate(h)  # the true least need grows with n


def _robust(nz: np.ndarray, inc: Incoming, n_rows: int, n_cols: int, top: int,
            pmax: int) -> np.ndarray:
    """Bound (3) of the block lemma: the fields of P positions through the taps D_ci (a product
    inside the union of ci's patterns over all output channels) cover >= Phi(P) cells; each cell
    no neuron reads is charged to one (position, tap) its channels all miss, at most mu(k) per
    position of k channels; mu-hat is a concave majorant of mu, so
    h(n) >= min over P of Phi(P) - P mu-hat(n / P), on a grid of n (prefix maxima fill the rest)."""
    c_out, c_in = nz.shape[:2]
    union = nz.any(0)
    p_ref = np.array([max(1, min(pmax, -(-top // c_out)))])
    p = np.arange(1, pmax + 1)
    phi = np.zeros(pmax + 1)
    taps = np.zeros_like(union)
    for ci in range(c_in):
        if not union[ci].any():
            continue
        sets = product_sets(union[ci], inc.geom)
        best = max(sets, key=lambda q: _field(p_ref, q, n_rows, n_cols)[0])
        taps[ci] = sets[best]
        phi[1:] += _field(p, best, n_rows, n_cols)
    zero = ~nz[:, taps]  # (c_out, taps of D): channel co has a zero there
    z = zero.sum(0)
    mu = np.array([(z >= k).sum() for k in range(1, c_out + 1)], np.float64)
    mu = np.minimum(mu, zero.sum(1).max(initial=0))
    if 2 <= c_out <= 512:
        pair = zero.astype(np.float32) @ zero.T.astype(np.float32)
        np.fill_diagonal(pair, 0)
        mu[1:] = np.minimum(mu[1:], pair.max())
    mu = np.minimum.accumulate(mu)
    hull = _hull(np.arange(1, c_out + 1, dtype=np.float64), mu, upper=True)
    out = np.zeros(top)
    for n in np.unique(np.linspace(1, top, min(top, 512)).round().astype(np.int64)):
        ps = np.arange(-(-n // c_out), min(n, pmax) + 1)
        if len(ps):
            val = phi[ps] - ps * np.interp(n / ps, *hull)
            out[n - 1] = max(0.0, float(val.min()))
    return np.maximum.accumulate(out)


def _nth_smallest(table: np.ndarray, top: int) -> np.ndarray:
    """min over (P_k) with sum P_k = n of max_k table[k, P_k], n = 1..top: the n-th smallest
    entry of table[:, 1:] (rows non-decreasing in P: with the max <= v, row k takes at most its
    entries <= v)."""
    flat = table[:, 1:].ravel()
    return np.sort(np.partition(flat, top - 1)[:top])


def _hull(x: np.ndarray, y: np.ndarray, upper: bool) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the least concave majorant (upper) or greatest convex minorant of points
    (x, y), x increasing."""
    sign = 1.0 if upper else -1.0
    hx: list[float] = []
    hy: list[float] = []
    for a, b in zip(x, y):
        while len(hx) >= 2 and sign * ((hy[-1] - hy[-2]) * (a - hx[-2])
                                       - (b - hy[-2]) * (hx[-1] - hx[-2])) <= 0:
            hx.pop()
            hy.pop()
        hx.append(float(a))
        hy.append(float(b))
    return np.array(hx), np.array(hy)
