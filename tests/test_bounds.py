"""Both lower bounds on cores (partition/bounds.py, partition.lower_bound) hold for kernels with
any zero taps and when one source feeds several layers whose axons a core shares.

The block lemma is checked against the smallest exact need over every set of n interior neurons
(enumerated) on small random geometries; the core bounds against random and partitioner
placements recounted exactly: one in-axon per (source neuron, core) with a non-zero synapse into
the core, one out-axon per (source neuron, destination core), limits set to the placement's own
worst core so the placement is feasible and its core count may not fall below either bound.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.partition import lower_bound, partition
from snncompile.partition.bounds import _pieces, halo_lower_bound, used_mask
from snncompile.partition.fields import _interior, conv_need
from snncompile.partition.layers import layers_of
from snncompile.partition.resources import CoreModel, DoesNotFit
from snncompile.sim.lava_params import effective_weights

PATTERNS = ("full", "random", "sparse", "shared", "outer_row", "centre", "checker", "one_tap")


def kernel(draw, c_out: int, cin_g: int, kh: int, kw: int) -> np.ndarray:
    """Integer weights with a zero pattern of one kind (taps, rows, centre, dilation-like ...)."""
    w = np.asarray(draw(st.lists(st.integers(1, 9), min_size=c_out * cin_g * kh * kw,
                                 max_size=c_out * cin_g * kh * kw))).reshape(c_out, cin_g, kh, kw)
    kind = draw(st.sampled_from(PATTERNS))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    if kind == "random":
        w[rng.random(w.shape) < 0.3] = 0
    elif kind == "sparse":
        w[rng.random(w.shape) < 0.7] = 0
    elif kind == "shared":
        w[:, :, rng.random((kh, kw)) < 0.4] = 0
    elif kind == "outer_row":
        w[:, :, rng.choice([0, kh - 1])] = 0
    elif kind == "centre":
        w[:, :, kh // 2, kw // 2] = 0
    elif kind == "checker":
        w[:, :, (np.add.outer(np.arange(kh), np.arange(kw)) % 2) == 1] = 0
    elif kind == "one_tap":
        keep = np.zeros((kh, kw), bool)
        keep[rng.integers(kh), rng.integers(kw)] = True
        w[:, :, ~keep] = 0
    if draw(st.booleans()):
        w = -w  # signs do not matter, only zeros
    return w


def lif(shape) -> hw.LIF:
    z = np.zeros(shape, np.int64)
    return hw.LIF(tuple(shape), 4095, 0, 5, z, z)


def conv_geometry(draw, cin: int, c_out: int) -> tuple[hw.Conv, tuple[int, int, int]]:
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, d = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, cin] if c_out % cin == 0 else [1]))
    conv = hw.Conv(weight=kernel(draw, c_out, cin // groups, kh, kw), stride=(sh, sw),
                   padding=(draw(st.integers(0, 1)),) * 2, dilation=(d, d), groups=groups)
    return conv, (kh, kw, d)


def materialize(graph: Graph, syn: str) -> np.ndarray:
    """(n_out, n_in) bool: which source neuron has a non-zero synapse onto which neuron."""
    op = graph.nodes[syn]
    (src,) = graph.predecessors(syn)
    if isinstance(op, hw.Dense):
        return effective_weights(op) != 0
    cin, h_in, w_in = graph.shapes[src]
    c_out, h, w = graph.shapes[syn]
    nz = np.asarray(op.weight) != 0
    per, cin_g = c_out // op.groups, nz.shape[1]
    conn = np.zeros((c_out, h, w, cin, h_in, w_in), bool)
    for co, cl, a, b in zip(*np.nonzero(nz)):
        ci = co // per * cin_g + cl
        for i in range(h):
            for j in range(w):
                r = i * op.stride[0] - op.padding[0] + a * op.dilation[0]
                c = j * op.stride[1] - op.padding[1] + b * op.dilation[1]
                if 0 <= r < h_in and 0 <= c < w_in:
                    conn[co, i, j, ci, r, c] = True
    return conn.reshape(c_out * h * w, cin * h_in * w_in)


@st.composite
def single_convs(draw):
    """A conv -> LIF graph whose layer has at most 14 interior neurons (up to 7 channels at two
    positions, or one channel at up to 14)."""
    cin, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 7))
    conv, (kh, kw, d) = conv_geometry(draw, cin, c_out)
    big_h, big_w = (kh - 1) * d + 1, (kw - 1) * d + 1
    rows = draw(st.integers(1, max(1, min(4, 14 // c_out))))
    cols = draw(st.integers(1, max(1, min(4, 14 // (c_out * rows)))))
    h = big_h + (rows - 1) * conv.stride[0] + draw(st.integers(0, 1))
    w = big_w + (cols - 1) * conv.stride[1] + draw(st.integers(0, 1))
    g0 = Graph("hw", {"in": hw.SpikeInput(shape=(cin, h, w)), "c": conv, "l": lif((1,))},
               [("in", "c"), ("c", "l")])
    return Graph("hw", {"in": hw.SpikeInput(shape=(cin, h, w)), "c": conv,
                        "l": lif(g0.shapes["c"])}, [("in", "c"), ("c", "l")])


BIG = CoreModel(target="big", neurons=None, synapse_bits=None, fan_in=None, fan_out=None,
                cores_per_chip=4, mesh_rows=2, mesh_cols=2, max_chips=None)


@settings(max_examples=200, deadline=None)
@given(single_convs())
def test_block_lemma_holds_for_every_set_of_neurons(graph):
    """h(n) never exceeds the fewest source neurons any n interior neurons (any channels and
    positions) read through non-zero taps, enumerated over every subset."""
    (inc,) = layers_of(graph, BIG)[0].incoming
    rows, cols = _interior(inc)
    c_out, h, w = graph.shapes["c"]
    cells = [co * h * w + i * w + j for co in range(c_out) for i in np.flatnonzero(rows)
             for j in np.flatnonzero(cols)]
    assume(0 < len(cells) <= 14)
    conn = materialize(graph, "c")
    reads = [int("".join("1" if b else "0" for b in conn[c][::-1]) or "0", 2) for c in cells]
    need = [0] * (1 << len(cells))  # union of reads over each subset, by its bitmask
    smallest = [None] * (len(cells) + 1)
    for mask in range(1, 1 << len(cells)):
        low = (mask & -mask).bit_length() - 1
        need[mask] = need[mask & (mask - 1)] | reads[low]
        n, got = mask.bit_count(), need[mask].bit_count()
        smallest[n] = got if smallest[n] is None else min(smallest[n], got)
    bound = conv_need(inc, int(rows.sum()), int(cols.sum()), len(cells))
    for n in range(1, len(cells) + 1):
        assert bound[n - 1] <= smallest[n] + 1e-9, (n, bound[n - 1], smallest[n])


@settings(max_examples=60, deadline=None)
@given(single_convs())
def test_used_mask_is_exactly_the_sources_with_a_synapse(graph):
    """The plain bound's one axon per used source neuron: used_mask equals the materialized
    connectivity's non-zero columns (zero taps, dilation, padding, groups)."""
    (inc,) = layers_of(graph, BIG)[0].incoming
    assert np.array_equal(used_mask(inc).ravel(), materialize(graph, "c").any(0))


@st.composite
def branchy(draw) -> Graph:
    """in -> conv -> a, in -> conv -> b (the input feeds two layers); a and b -> convs -> c (same
    geometry, so a core can hold matching tiles of both); a -> Dense -> d (a skip: a feeds c and
    d); optionally a second conv from a into c."""
    cin = draw(st.integers(1, 2))
    h, w = draw(st.integers(3, 6)), draw(st.integers(3, 6))
    ch = draw(st.integers(1, 3))
    k, pad = draw(st.integers(1, 3)), draw(st.integers(0, 1))
    assume(h + 2 * pad >= k and w + 2 * pad >= k)
    nodes = {"in": hw.SpikeInput(shape=(cin, h, w))}
    edges = []

    def conv(name, src, c_in, c_out, kk, p):
        nodes[name] = hw.Conv(weight=kernel(draw, c_out, c_in, kk, kk), padding=(p, p))
        edges.append((src, name))

    conv("sa", "in", cin, ch, k, pad)
    conv("sb", "in", cin, ch, k, pad)
    shape = Graph("hw", {**nodes, "a": lif((1,))}, [*edges, ("sa", "a")]).shapes["sa"]
    nodes["a"], nodes["b"] = lif(shape), lif(shape)
    edges += [("sa", "a"), ("sb", "b")]
    k2 = draw(st.integers(1, 3))
    assume(min(shape[1:]) >= k2)
    conv("sc", "a", ch, ch, k2, 0)
    conv("se", "b", ch, ch, k2, 0)
    if draw(st.booleans()):
        conv("sf", "a", ch, ch, k2, 0)
        edges.append(("sf", "c"))
    shape_c = Graph("hw", {**nodes, "c": lif((1,))}, [*edges, ("sc", "c")]).shapes["sc"]
    nodes["c"] = lif(shape_c)
    edges += [("sc", "c"), ("se", "c")]
    n_a, n_d = int(np.prod(shape)), draw(st.integers(1, 6))
    dense = np.asarray(draw(st.lists(st.integers(-3, 3), min_size=n_a * n_d,
                                     max_size=n_a * n_d))).reshape(n_d, n_a)
    nodes["sd"], nodes["d"] = hw.Dense(weights=dense), lif((n_d,))
    edges += [("a", "sd"), ("sd", "d")]
    return Graph("hw", nodes, edges)


def exact_use(graph: Graph, home: dict[str, np.ndarray]) -> np.ndarray:
    """(cores, 3) neurons, in-axons, out-axons of a placement (layer -> core of each neuron),
    counted as the chip shares them: unions per (source neuron, core)."""
    cores = 1 + max(int(v.max()) for v in home.values())
    reach: dict[str, np.ndarray] = {}  # source -> (cores, n_src) bool: core needs the neuron
    for syn in graph.of_kind("synapse"):
        (dst,) = graph.successors(syn)
        conn = materialize(graph, syn)
        for src in graph.predecessors(syn):
            r = reach.setdefault(src, np.zeros((cores, conn.shape[1]), bool))
            for core in range(cores):
                r[core] |= conn[home[dst] == core].any(0)
    use = np.zeros((cores, 3), np.int64)
    for where in home.values():
        use[:, 0] += np.bincount(where, minlength=cores)
    for src, r in reach.items():
        use[:, 1] += r.sum(1)
        if src in home:
            use[:, 2] += np.bincount(home[src], r.sum(0), minlength=cores).astype(np.int64)
    return use


def random_home(graph: Graph, data) -> dict[str, np.ndarray]:
    """Neurons -> cores: matching grid tiles of equal-shaped layers on one core (the placement
    that shares axons most), or random runs of random walks of each layer on random cores."""
    cores = data.draw(st.integers(1, 6))
    home = {}
    if data.draw(st.booleans()):
        nh, nw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
        for name in graph.of_kind("neuron"):
            shape = graph.shapes[name]
            if len(shape) == 3:
                c, h, w = shape
                tile = (np.arange(h)[:, None] * nh // h) * nw + np.arange(w)[None, :] * nw // w
                home[name] = np.broadcast_to(tile % cores, (c, h, w)).ravel().copy()
            else:
                home[name] = np.zeros(int(np.prod(shape)), np.int64)
        return home
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    for name in graph.of_kind("neuron"):
        n = int(np.prod(graph.shapes[name]))
        walk = rng.permutation(n) if rng.random() < 0.5 else np.arange(n)
        cuts = np.sort(rng.choice(np.arange(1, n + 1), min(n, rng.integers(1, 5)), replace=False))
        piece = np.searchsorted(cuts, np.arange(n), side="right")
        where = np.empty(n, np.int64)
        where[walk] = rng.integers(0, cores, piece.max() + 1)[piece]
        home[name] = where
    return home


def model_for(use: np.ndarray) -> CoreModel:
    """The tightest limits under which a placement with this exact use is feasible."""
    top = use.max(0)
    return CoreModel(target="tight", neurons=int(top[0]), synapse_bits=None,
                     fan_in=max(1, int(top[1])), fan_out=max(1, int(top[2])), cores_per_chip=4,
                     mesh_rows=2, mesh_cols=2, max_chips=None)


def assert_bounds_hold(graph: Graph, use: np.ndarray) -> None:
    cores = int((use[:, 0] > 0).sum())
    model = model_for(use[use[:, 0] > 0])
    layers = layers_of(graph, model)
    plain = lower_bound(layers, model)
    halo = halo_lower_bound(layers, model)
    assert max(plain.values()) <= cores, (plain, cores, model)
    assert max(halo.values()) <= cores, (halo, cores, model)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(branchy(), st.data())
def test_bounds_hold_with_shared_axons_on_random_placements(graph, data):
    """Sources feeding two layers (the input, a skip, two convs into one layer): placements of
    random runs or matching tiles, counted with one axon per source neuron and core."""
    home = random_home(graph, data)
    assert_bounds_hold(graph, exact_use(graph, home))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(branchy(), st.integers(2, 24), st.integers(30, 300))
def test_bounds_hold_on_partitioner_placements_counted_per_core(graph, neurons, axons):
    """The partitioner's own placements, recounted with per-core unions (at most its per-block
    sums), still need no fewer cores than either bound under their exact worst-core limits."""
    model = CoreModel(target="tiny", neurons=neurons, synapse_bits=None, fan_in=axons,
                      fan_out=axons, cores_per_chip=4, mesh_rows=2, mesh_cols=2, max_chips=64)
    try:
        p = partition(graph, model, method="greedy")
    except DoesNotFit:
        return
    home = {n: np.full(int(np.prod(graph.shapes[n])), -1) for n in graph.of_kind("neuron")}
    for core in range(len(p.cores)):
        for layer, idx in p.core_neurons(core).items():
            home[layer][idx] = core
    assert all((v >= 0).all() for v in home.values())
    use = exact_use(graph, home)
    assert (use[:, 1] <= p.core_use()[:, 2]).all()  # per-core unions never exceed its counts
    assert_bounds_hold(graph, use)


def test_zero_taps_and_shared_sources_lower_the_bound_where_they_must():
    """A 3 x 3 conv whose outer ring is zero reads like a 1 x 1 conv: the halo term drops to the
    1 x 1 value (the old full-field lemma charged the ring). A source feeding two layers through
    identical 1 x 1 convs is charged once: two matching tiles share one core's axons."""
    ring = np.zeros((4, 4, 3, 3), np.int64)
    ring[:, :, 1, 1] = 1
    one = np.ones((4, 4, 1, 1), np.int64)
    g3 = Graph("hw", {"in": hw.SpikeInput(shape=(4, 18, 18)), "c": hw.Conv(weight=ring),
                      "l": lif((4, 16, 16))}, [("in", "c"), ("c", "l")])
    g1 = Graph("hw", {"in": hw.SpikeInput(shape=(4, 16, 16)), "c": hw.Conv(weight=one),
                      "l": lif((4, 16, 16))}, [("in", "c"), ("c", "l")])
    model = CoreModel(target="t", neurons=64, synapse_bits=None, fan_in=64, fan_out=64,
                      cores_per_chip=4, mesh_rows=2, mesh_cols=2, max_chips=None)
    (i3,), (i1,) = (layers_of(g, model)[0].incoming for g in (g3, g1))
    top = 64
    assert np.allclose(conv_need(i3, 16, 16, top), conv_need(i1, 16, 16, top))
    full = np.ones((4, 4, 3, 3), np.int64)
    gf = Graph("hw", {"in": hw.SpikeInput(shape=(4, 18, 18)), "c": hw.Conv(weight=full),
                      "l": lif((4, 16, 16))}, [("in", "c"), ("c", "l")])
    (i_full,) = layers_of(gf, model)[0].incoming
    assert conv_need(i_full, 16, 16, top)[-1] > conv_need(i3, 16, 16, top)[-1]
    # one source, two identical consumers: tiles of both on one core share every axon
    nodes = {"in": hw.SpikeInput(shape=(4, 8, 8)), "s1": hw.Conv(weight=one),
             "s2": hw.Conv(weight=one), "a": lif((4, 8, 8)), "b": lif((4, 8, 8))}
    g = Graph("hw", nodes, [("in", "s1"), ("in", "s2"), ("s1", "a"), ("s2", "b")])
    tiles = (np.arange(8)[:, None] // 4) * 2 + np.arange(8)[None, :] // 4
    where = np.broadcast_to(tiles, (4, 8, 8)).ravel().copy()
    use = exact_use(g, {"a": where, "b": where})
    assert (use[:, 1] == 64).all() and len(use) == 4  # 16 positions x 4 channels, shared
    model = model_for(use)
    layers = layers_of(g, model)
    assert lower_bound(layers, model)["fan_in"] == 4  # not 8: each input neuron counted once
    assert halo_lower_bound(layers, model)["fan_in"] == 4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=12), st.data())
def test_pieces_bound_is_below_every_split(h, data):
    """_pieces(h, m, N) never exceeds the least sum of h over pieces of 1..m summing to N (a
    dynamic program over every split), for any h, concave or not."""
    h = np.asarray(h)
    m = data.draw(st.integers(1, len(h)))
    total = data.draw(st.integers(1, 40))
    best = [0.0] + [np.inf] * total
    for t in range(1, total + 1):
        best[t] = min(best[t - n] + h[n - 1] for n in range(1, min(m, t) + 1))
    assert _pieces(h, m, total) <= best[total] + 1e-9
