"""A halo-aware lower bound on cores: the input rim every conv tile must read, counted so no
partition (of any block shapes, not only the ones split.py makes) can beat it.

Why: the plain bound (network totals over per-core capacities) charges each source neuron one
input axon, as if a core could hold a conv tile without its halo. On axon-bound targets (Loihi 2:
4,096 input axons per core, 8,192 neurons) the halo alone costs 10-30 %, so cores / plain bound
cannot reach 1.05 however good the mapper is. This bound is what a perfect mapper would need.

Proof (docs/partition.md has it in full). Take one conv into layer x (stride s, receptive field
K = (k - 1) * dilation + 1 per axis) and a set S of P output positions whose fields are not
clipped by the input border ("interior"). With a = min(K, s) and L = K - a per axis, the union of
their fields contains T + [0, L_h] x [0, L_w], where T is P disjoint a_h x a_w cells. For any
finite A in Z^2 with r rows and c columns, adding [0, L_w] along rows adds >= L_w cells per row
and >= L_w columns, then adding [0, L_h] along columns adds >= L_h cells per column, so
|A + box| >= |A| + L_w r + L_h (c + L_w) with r c >= |A|, r <= rows available, c <= columns
available: minimising over r gives F(P). A block holding n interior neurons of x (any channels)
covers P >= ceil(n / C_out) positions and reads at least c_min input channels there, so its
fan-in from this conv is >= h(n) = c_min F(P) (the partitioner's rectangle count is >= this).
h grows with n, so no block holds more than m = max{n : h(n) <= cap} interior neurons, and with
rho = min_{n <= m} h(n) / n every core's fan-in from x is >= rho * (its interior neurons of x).
Summing over cores: total fan-in from x >= rho * N_interior(x); it is also >= the plain term (one
axon per used source neuron), so the larger of the two counts, and cores >= total / cap. Each
(source neuron, destination block) pair is also one output axon, so the same sum over layer
sources (not the host) bounds the total fan-out.
"""

from __future__ import annotations

import math

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.partition.layers import Incoming, Layer
from snncompile.partition.resources import CoreModel


def _interior(inc: Incoming) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of output rows / columns whose conv field lies inside the input."""
    sh, sw, ph, pw, dh, dw, kh, kw, h_in, w_in = inc.geom
    _, h, w = inc.dst_geo
    i, j = np.arange(h), np.arange(w)
    rows = (i * sh - ph >= 0) & (i * sh - ph + (kh - 1) * dh <= h_in - 1)
    cols = (j * sw - pw >= 0) & (j * sw - pw + (kw - 1) * dw <= w_in - 1)
    return rows, cols


def field_lower(p: np.ndarray, inc: Incoming, rows_max: int, cols_max: int) -> np.ndarray:
    """F(P): fewest input positions the fields of P interior output positions can cover (module
    docstring), for an array of P >= 1; rows_max / cols_max are the interior output rows and
    columns available."""
    sh, sw, _, _, dh, dw, kh, kw, _, _ = inc.geom
    big_h, big_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    ah, aw = min(big_h, sh), min(big_w, sw)
    lh, lw = big_h - ah, big_w - aw
    area = ah * aw * p.astype(np.float64)  # |T|
    r_max, c_max = ah * rows_max, aw * cols_max
    r_lo = np.maximum(1.0, area / c_max)  # r c >= |T| with c <= c_max
    r_hi = np.minimum(float(r_max), area)
    if lw > 0 and lh > 0:
        r = np.clip(np.sqrt(lh * area / lw), r_lo, r_hi)
    elif lh > 0:  # only columns cost: as many rows as allowed
        r = r_hi
    else:  # only rows cost (or nothing): as few rows as allowed
        r = r_lo
    c = area / r
    return area + lw * r + lh * c + lh * lw


def _layer_rho(x: Layer, model: CoreModel,
               names: set[str]) -> tuple[float, float, int, float]:
    """(rho_in, rho_out, interior neurons, n_max) of layer x: lower bounds on input and output
    axons per interior neuron of any block (conv incomings only; 0 if x has none). `names`:
    the neuron layers (sources that send output axons; graph inputs come from the host)."""
    convs = [inc for inc in x.incoming if isinstance(inc.op, hw.Conv)]
    if not convs:
        return 0.0, 0.0, 0, 0.0
    c_out = x.geo[0]
    rows = np.ones(x.geo[1], bool)
    cols = np.ones(x.geo[2], bool)
    for inc in convs:
        r, c = _interior(inc)
        rows, cols = rows & r, cols & c
    n_rows, n_cols = int(rows.sum()), int(cols.sum())
    interior = c_out * n_rows * n_cols
    if interior == 0:
        return 0.0, 0.0, 0, 0.0
    top = min(interior, model.cap("neurons"))
    n = np.arange(1, top + 1)
    pos = np.ceil(n / c_out)
    h_in = np.zeros(len(n))
    h_out = np.zeros(len(n))
    for inc in convs:
        c_min = int(inc.chan_need.sum(axis=1).min())
        got = c_min * field_lower(pos, inc, n_rows, n_cols)
        h_in += got * len(inc.sources)
        h_out += got * sum(s in names for s in inc.sources)
    direct = [inc for inc in x.incoming if inc.op is None]
    h_in += n * sum(len(inc.sources) for inc in direct)
    h_out += n * sum(s in names for inc in direct for s in inc.sources)
    fits = h_in <= model.cap("fan_in")
    if not fits.any():
        return float(h_in[0]), float(h_out[0]), interior, 1.0
    m = int(np.flatnonzero(fits).max()) + 1
    return (float((h_in[:m] / n[:m]).min()), float((h_out[:m] / n[:m]).min()), interior,
            float(m))


def plain_terms(x: Layer, names: set[str]) -> tuple[int, int]:
    """(input, output) axons layer x needs with no halo: one per used source neuron and way in
    (output axons: layer sources only, one per destination block, so at least one)."""
    t_in = t_out = 0
    for inc in x.incoming:
        used = inc.min_in()
        t_in += used * len(inc.sources)
        t_out += used * sum(s in names for s in inc.sources)
    return t_in, t_out


def halo_lower_bound(layers: list[Layer], model: CoreModel) -> dict[str, int]:
    """Cores needed for input and output axons with conv halos: per layer the larger of
    rho * interior neurons and the plain term (one axon per used source neuron)."""
    names = {x.name for x in layers}
    total_in = total_out = 0.0
    for x in layers:
        rho_in, rho_out, interior, _ = _layer_rho(x, model, names)
        t_in, t_out = plain_terms(x, names)
        total_in += max(rho_in * interior, t_in)
        total_out += max(rho_out * interior, t_out)
    return {"fan_in": math.ceil(total_in / model.cap("fan_in") - 1e-9),
            "fan_out": math.ceil(total_out / model.cap("fan_out") - 1e-9)}
