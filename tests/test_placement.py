"""Placement on the mesh and the traffic that weighs it.

Per-neuron rates: a route's traffic must equal the rates of the source neurons it carries,
recounted from materialized needed sets (Needed.flat), and uniform arrays must equal scalar rates.
Local search (anneal.py): its incremental gains equal recomputed costs, and the placement it
returns is never worse than its start, injective, on the mesh and deterministic.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_partition import graphs, models

from snncompile.partition import DoesNotFit, partition
from snncompile.partition.anneal import Search, improve
from snncompile.partition.place import Mesh, cost, greedy, metis, refine
from snncompile.partition.rates import route_traffic
from snncompile.partition.route import HOST

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _placed(graph, model, **options):
    try:
        return partition(graph, model, method="greedy", **options)
    except DoesNotFit:
        return None


def random_rates(graph, seed: int) -> dict[str, np.ndarray]:
    """Random per-neuron rates (some exactly zero) for every layer and the input."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.of_kind("neuron") + list(graph.inputs):
        r = rng.random(graph.shapes[name])
        out[name] = np.where(r < 0.2, 0.0, r)
    return out


def _brute(p, rates: dict[str, np.ndarray], host: str) -> dict[tuple[int, int], float]:
    """(source block or HOST, destination block) -> rate sum, from materialized neuron sets."""
    layers = {x.name: x for x in p.layers}
    held = {}
    for i, b in enumerate(p.blocks):
        perm = layers[b.layer].order.perm
        held[i] = (b.layer, (np.arange(b.c0, b.c1)[:, None] * len(perm)
                             + perm[b.p0:b.p1][None, :]).ravel())
    out: dict[tuple[int, int], float] = {}
    for j, b in enumerate(p.blocks):
        for inc in layers[b.layer].incoming:
            for need in inc.needed(b.c0, b.c1, b.p0, b.p1):
                flat = need.flat().astype(np.int64)
                if need.src not in layers:
                    if not len(flat):
                        continue
                    rate = float(rates[host].ravel()[flat].sum())
                    out[(HOST, j)] = out.get((HOST, j), 0.0) + rate
                    continue
                for i, (layer, idx) in held.items():
                    if layer == need.src:
                        both = np.intersect1d(flat, idx)
                        if len(both):
                            key = (i, j)
                            out[key] = out.get(key, 0.0) + float(rates[layer].ravel()[both].sum())
    return out


@FAST
@given(graphs(), models(), st.integers(0, 2**31))
def test_per_neuron_rates_sum_the_carried_neurons(graph, model, seed):
    p = _placed(graph, model)
    if p is None:
        return
    rates = random_rates(graph, seed)
    host = graph.inputs[0]
    got = route_traffic(p.layers, p.blocks, p.routes, rates, graph.inputs)
    want = _brute(p, rates, host)
    sums: dict[tuple[int, int], float] = {}
    for s, d, t in zip(p.routes.src.tolist(), p.routes.dst.tolist(), got.tolist()):
        sums[(s, d)] = sums.get((s, d), 0.0) + t
    assert set(sums) == set(want), "every route, and only routes, carry traffic"
    for k, v in sums.items():
        assert abs(v - want[k]) <= 1e-9 * max(1.0, want[k]), (k, v, want[k])


@FAST
@given(graphs(), models(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_uniform_arrays_equal_scalar_rates(graph, model, layer_rate, input_rate):
    p = _placed(graph, model)
    if p is None:
        return
    names = graph.of_kind("neuron")
    scalar = {**dict.fromkeys(names, layer_rate), graph.inputs[0]: input_rate}
    arrays = {n: np.full(graph.shapes[n], v) for n, v in scalar.items()}
    a = route_traffic(p.layers, p.blocks, p.routes, scalar, graph.inputs)
    b = route_traffic(p.layers, p.blocks, p.routes, arrays, graph.inputs)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    ones = route_traffic(p.layers, p.blocks, p.routes, None, graph.inputs)
    np.testing.assert_array_equal(ones, p.routes.axons)  # default: one spike per neuron per step


@FAST
@given(graphs(), models(), st.integers(0, 2**31))
def test_partition_takes_per_neuron_rates(graph, model, seed):
    """Same cores whatever the rates; core traffic = the per-neuron sums, aggregated."""
    try:
        p = partition(graph, model, rates=random_rates(graph, seed))
    except DoesNotFit:
        return
    src, dst, _, traffic = p.core_routes
    assert (traffic >= 0).all() and len(src) == len(dst)
    assert p.metrics["traffic_hops"] <= p.metrics["greedy_traffic_hops"] + 1e-9


@st.composite
def instances(draw):
    """A mesh of 1-4 chips of 2 x 3 cores, n cores, random traffic (some from the host)."""
    chips = draw(st.integers(1, 4))
    cols = int(np.ceil(np.sqrt(chips)))
    mesh = Mesh(2, 3, chips, int(np.ceil(chips / cols)), cols)
    n = draw(st.integers(2, chips * 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    k = draw(st.integers(1, 3 * n))
    src = rng.integers(-1, n, k)
    dst = rng.integers(0, n, k)
    traffic = rng.random(k) * rng.choice([1.0, 100.0], k)
    start = rng.permutation(chips * 6)[:n] if draw(st.booleans()) else greedy(n)
    return mesh, start, src, dst, traffic


def _total(mesh, slot_of, src, dst, traffic) -> float:
    return cost(mesh, slot_of, src, dst, traffic)["traffic_hops"]


@FAST
@given(instances(), st.data())
def test_gains_equal_recomputed_costs(inst, data):
    mesh, start, src, dst, traffic = inst
    slots = mesh.chips * mesh.rows * mesh.cols
    s = Search(mesh, start, src, dst, traffic, slots)
    assert abs(s.total() - _total(mesh, start, src, dst, traffic)) < 1e-9 * max(1, s.total())
    for _ in range(3):
        a = data.draw(st.integers(0, len(start) - 1))
        gains = s.gains(a)
        before = _total(mesh, s.slot_of, src, dst, traffic)
        for t in range(slots):
            trial = s.slot_of.copy()
            b = np.flatnonzero(trial == t)
            trial[b], trial[a] = trial[a], t
            assert abs(_total(mesh, trial, src, dst, traffic) - before - gains[t]) < 1e-6
        s.move(a, data.draw(st.integers(0, slots - 1)))
    m = s.m.copy()
    s.reset(s.slot_of)
    np.testing.assert_allclose(m, s.m, atol=1e-6)  # incremental updates do not drift


@FAST
@given(instances(), st.booleans())
def test_improve_is_never_worse_injective_and_deterministic(inst, free):
    mesh, start, src, dst, traffic = inst
    got = improve(mesh, start, src, dst, traffic, free_slots=free)
    again = improve(mesh, start, src, dst, traffic, free_slots=free)
    np.testing.assert_array_equal(got, again)
    assert len(set(got.tolist())) == len(got)
    assert got.min() >= 0 and got.max() < mesh.chips * mesh.rows * mesh.cols
    if not free:
        assert sorted(got.tolist()) == sorted(start.tolist()), "only start's slots are used"
    assert _total(mesh, got, src, dst, traffic) <= _total(mesh, start, src, dst, traffic) + 1e-9


@FAST
@given(instances(), st.booleans())
def test_refine_never_worse_than_metis_alone_or_layer_order(inst, free):
    mesh, start, src, dst, traffic = inst
    n = len(start)
    alone = metis(mesh, n, src, dst, traffic)
    got = refine(mesh, alone, src, dst, traffic, free_slots=free)
    assert _total(mesh, got, src, dst, traffic) <= _total(mesh, alone, src, dst, traffic) + 1e-9
    assert _total(mesh, got, src, dst, traffic) <= _total(mesh, greedy(n), src, dst, traffic) + 1e-9


def test_search_beats_bisection_on_a_chain():
    """A 40-core chain on one 8 x 16 chip: the search must find a path-like placement whose
    traffic x hops is close to the optimum (39 unit hops: a snake through the mesh) and well
    below layer order (row-major: every row change costs 16 hops)."""
    mesh = Mesh(8, 16, 1, 1, 1)
    n = 40
    src, dst = np.arange(n - 1), np.arange(1, n)
    traffic = np.ones(n - 1)
    got = refine(mesh, metis(mesh, n, src, dst, traffic), src, dst, traffic)
    assert _total(mesh, got, src, dst, traffic) <= 45
    assert _total(mesh, greedy(n), src, dst, traffic) == 39 + 2 * 15
