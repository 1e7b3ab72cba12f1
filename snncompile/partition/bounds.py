"""Lower bounds on cores that no partition can beat: the exact source neurons every split must
read (the plain bound's axon terms) and the input rim every conv tile must read (the halo bound),
valid for any zero pattern in the kernels and with axons shared per core.

Why: the plain bound (network totals over per-core capacities) charges each source neuron one
input axon, as if a core could hold a conv tile without its halo. On axon-bound targets (Loihi 2:
4,096 input axons per core, 8,192 neurons) the halo alone costs 10-30 %, so cores / plain bound
cannot reach 1.05 however good the mapper is. The halo bound is what a perfect mapper would need.
Both are reported as provable, so both count what the chip must hold at the least: one in-axon
per (source neuron, core) with a non-zero synapse into the core (shared by all the core's blocks
and layers), one out-axon per (source neuron, destination core).

Proof (docs/partition.md has it in full).

The field and block lemmas (fields.py) give h(n), the fewest source neurons any n interior
neurons of a conv-fed layer x read from one source, for any zero taps.

*Cores.* A core holding n interior neurons of x has >= H_x(n) = sum over x's sources of h in-axons
(an axon per source neuron and core, whatever blocks or layers the core holds), so holds at most
m_x = max{n : H_x(n) <= fan-in cap} of them. For a source s feeding several layers, a core's
in-axons from s are a union over them, >= the need of any one; so each source is charged to one
consumer layer only (the one whose own bound is largest), and per layer x, with h^A the sum over
the sources charged to x and n_k <= m_x its interior neurons on core k:
sum_k h^A(n_k) >= rho N_interior(x), rho = min_{n <= m_x} h^A(n) / n, and (_pieces)
>= K alpha + beta N for every line alpha + beta n <= h^A on 1..m_x with alpha >= 0, as at least
K = ceil(N / m_x) cores hold pieces; also >= the exact count of source neurons those sources send
x. Pieces of x share cores with other layers' pieces, but each (core, source neuron) axon is
counted for one layer only. Total in-axons >= the sum over layers, and >= one per source neuron
used by any layer; cores >= total / cap. Out-axons of layer sources (not the host) equal in-axons
summed over destination cores, so the same sums over layer sources bound fan-out.
"""

from __future__ import annotations

import math

import numpy as np

from snncompile.ir import hw_ops as hw
from snncompile.partition.fields import _hull, _interior, conv_need
from snncompile.partition.layers import Incoming, Layer
from snncompile.partition.resources import CoreModel


def used_mask(inc: Incoming) -> np.ndarray:
    """(C, H*W) bool of one source: the neurons with at least one non-zero synapse into the layer
    (every one needs an in-axon on some core and an out-axon)."""
    cs, hs, ws = inc.src_geo
    if isinstance(inc.op, (hw.Dense, hw.Sparse)):
        return inc.nz.any(0).reshape(cs, hs * ws)
    if not isinstance(inc.op, hw.Conv):
        return np.ones((cs, hs * ws), bool)
    sh, sw, ph, pw, dh, dw, kh, kw, h_in, w_in = inc.geom
    _, h, w = inc.dst_geo
    nz = np.asarray(inc.op.weight) != 0
    per = nz.shape[0] // inc.op.groups
    taps = np.zeros((cs, kh, kw))
    for g in range(inc.op.groups):
        taps[g * nz.shape[1]:(g + 1) * nz.shape[1]] = nz[g * per:(g + 1) * per].any(0)
    rows = np.arange(h)[None, :] * sh - ph + np.arange(kh)[:, None] * dh  # (kh, h)
    cols = np.arange(w)[None, :] * sw - pw + np.arange(kw)[:, None] * dw
    hit_r = np.zeros((kh, h_in))
    hit_c = np.zeros((kw, w_in))
    for a in range(kh):
        hit_r[a, rows[a][(rows[a] >= 0) & (rows[a] < h_in)]] = 1
    for b in range(kw):
        hit_c[b, cols[b][(cols[b] >= 0) & (cols[b] < w_in)]] = 1
    return (np.einsum("ah,cab,bw->chw", hit_r, taps, hit_c) > 0).reshape(cs, hs * ws)


def source_masks(layers: list[Layer]) -> dict[tuple[str, str], np.ndarray]:
    """(layer, source) -> used_mask union over the layer's ways in from that source."""
    out: dict[tuple[str, str], np.ndarray] = {}
    for x in layers:
        for inc in x.incoming:
            mask = used_mask(inc)
            for s in inc.sources:
                key = (x.name, s)
                out[key] = mask if key not in out else out[key] | mask
    return out


def used_per_source(layers: list[Layer], headers_only: bool = False) -> dict[str, int]:
    """source -> source neurons used by any layer (only through ops whose every in-axon costs a
    synapse-memory header, if asked: Incoming.pays_axon_headers)."""
    got: dict[str, np.ndarray] = {}
    for x in layers:
        for inc in x.incoming:
            if headers_only and not inc.pays_axon_headers():
                continue
            mask = used_mask(inc)
            for s in inc.sources:
                got[s] = mask if s not in got else got[s] | mask
    return {s: int(m.sum()) for s, m in got.items()}


def _layer_needs(x: Layer, model: CoreModel) -> tuple[dict[str, np.ndarray], int, int]:
    """(source -> h(n) for n = 1..top, interior neurons, m): per source, the most any one way in
    from it needs; m = the most interior neurons of x a core can hold (0 arrays if no conv)."""
    convs = [inc for inc in x.incoming if isinstance(inc.op, hw.Conv)]
    if not convs:
        return {}, 0, 0
    c_out = x.geo[0]
    rows = np.ones(x.geo[1], bool)
    cols = np.ones(x.geo[2], bool)
    for inc in convs:
        r, c = _interior(inc)
        rows, cols = rows & r, cols & c
    n_rows, n_cols = int(rows.sum()), int(cols.sum())
    interior = c_out * n_rows * n_cols
    if interior == 0:
        return {}, 0, 0
    top = min(interior, model.cap("neurons"))
    n = np.arange(1, top + 1, dtype=np.float64)
    need: dict[str, np.ndarray] = {}
    for inc in x.incoming:
        if inc.op is None:
            got = n  # a direct feed: one source neuron per neuron
        elif isinstance(inc.op, hw.Conv):
            got = conv_need(inc, n_rows, n_cols, top)
        else:
            continue
        for s in inc.sources:
            need[s] = got if s not in need else np.maximum(need[s], got)
    total = sum(need.values())
    fits = total <= model.cap("fan_in")
    m = int(np.flatnonzero(fits).max()) + 1 if fits.any() else 1
    return need, interior, m


def _rho(h: np.ndarray, m: int) -> float:
    """Least axons per interior neuron over pieces of 1..m neurons."""
    return float((h[:m] / np.arange(1, m + 1)).min()) if m else 0.0


def _pieces(h: np.ndarray, m: int, total: int) -> float:
    """Least sum of h(n_k) over pieces n_k in 1..m with sum `total` (the pieces of one layer on
    distinct cores): at least rho x total, and for any line alpha + beta n <= h(n) on 1..m with
    alpha >= 0, at least K alpha + beta total with K = ceil(total / m) pieces at the least (the
    edges of h's convex minorant are the lines worth trying)."""
    if not m or not total:
        return 0.0
    best = _rho(h, m) * total
    hx, hy = _hull(np.arange(1, m + 1, dtype=np.float64), h[:m], upper=False)
    beta = np.diff(hy) / np.diff(hx)
    alpha = hy[:-1] - beta * hx[:-1]
    ok = alpha >= 0
    if ok.any():
        best = max(best, float((math.ceil(total / m) * alpha[ok] + beta[ok] * total).max()))
    return best


def _layer_rho(x: Layer, model: CoreModel,
               names: set[str]) -> tuple[float, float, int, float]:
    """(rho_in, rho_out, interior neurons, m) of layer x over all its sources: lower bounds on
    input and output axons per interior neuron of any core (0 if x has no conv way in).
    `names`: the neuron layers (sources that send output axons; graph inputs come from the host)."""
    need, interior, m = _layer_needs(x, model)
    if not need:
        return 0.0, 0.0, 0, 0.0
    h_in = sum(need.values())
    h_out = sum((h for s, h in need.items() if s in names), np.zeros_like(h_in))
    return _rho(h_in, m), _rho(h_out, m), interior, float(m)


def halo_lower_bound(layers: list[Layer], model: CoreModel) -> dict[str, int]:
    """Cores needed for input and output axons with conv halos (module docstring: each source
    is charged to one consumer layer; per layer the larger of rho x interior neurons and the
    exact count of used source neurons; never below one axon per used source neuron)."""
    names = {x.name for x in layers}
    masks = source_masks(layers)
    used = {key: int(mask.sum()) for key, mask in masks.items()}
    needs = {x.name: _layer_needs(x, model) for x in layers}
    # charge every source to the consumer whose own bound is largest
    owner: dict[str, tuple[float, str]] = {}
    for x, s in masks:
        need, interior, m = needs[x]
        alone = max(_rho(need[s], m) * interior if s in need else 0.0, used[x, s])
        if alone > owner.get(s, (-1.0, ""))[0]:
            owner[s] = (alone, x)
    total_in = total_out = 0.0
    for x in layers:
        need, interior, m = needs[x.name]
        mine = [s for s, (_, o) in owner.items() if o == x.name]
        for kind, srcs in (("in", mine), ("out", [s for s in mine if s in names])):
            plain = sum(used[x.name, s] for s in srcs)
            halo = [need[s] for s in srcs if s in need]
            got = max(_pieces(sum(halo), m, interior) if halo else 0.0, plain)
            if kind == "in":
                total_in += got
            else:
                total_out += got
    union = used_per_source(layers)
    total_in = max(total_in, sum(union.values()))
    total_out = max(total_out, sum(v for s, v in union.items() if s in names))
    return {"fan_in": math.ceil(total_in / model.cap("fan_in") - 1e-9),
            "fan_out": math.ceil(total_out / model.cap("fan_out") - 1e-9)}
