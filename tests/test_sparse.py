"""The sparse synapse op (hw.Sparse, CSR): equal to the Dense it stands for in both emulator paths
(u, v, spikes every step), exact text / image / HDF5 forms, bad CSR refused in one sentence,
synapses counted from its stored entries, and the sparsify pass's choice."""

from __future__ import annotations

import numpy as np
import pytest
from test_sparse_lava import random_sparse_graph
from test_sparse_model import pruned_twins

from snncompile.backends import loihi2
from snncompile.errors import GraphCheckError
from snncompile.ir import hw_ops as hw
from snncompile.ir import text
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.ir.image import load_image, save_image
from snncompile.ir.size import synapses
from snncompile.ir.sparse import csr_arrays, dense_of, dense_weights
from snncompile.passes.sparsify import MIN_ENTRIES, Sparsify
from snncompile.sim.emulator import simulate
from snncompile.target import load_target


def _densified(g: Graph) -> Graph:
    nodes = {n: dense_of(op) if isinstance(op, hw.Sparse) else op for n, op in g.nodes.items()}
    return Graph("hw", nodes, g.edges, g.dt, dict(g.meta))


def _feed_forward(seed: int, analog: bool = False) -> Graph:
    g = random_sparse_graph(seed)
    nodes = {n: op for n, op in g.nodes.items() if n != "rec"}
    if analog:
        nodes["in"] = hw.AnalogInput(g.nodes["in"].shape, scale=0.1, bits=4)
    return Graph("hw", nodes, tuple(e for e in g.edges if "rec" not in e))


@pytest.mark.parametrize("seed", range(6))
def test_sparse_equals_its_dense_matrix_in_both_emulator_paths(seed):
    """The stepwise path (recurrence, strict) and the layer-major fast path (feed-forward,
    analog payloads too) give the dense product's u, v and spikes at every step."""
    rng = np.random.default_rng(seed)
    for g, strict in ((random_sparse_graph(seed), True), (_feed_forward(seed), False),
                      (_feed_forward(seed, analog=True), False)):
        n_in = g.shapes["in"][0]
        x = rng.random((3, 20, n_in)) < 0.4
        if isinstance(g.nodes["in"], hw.AnalogInput):
            x = rng.integers(-7, 8, (3, 20, n_in)).astype(np.int8)
        want = simulate(_densified(g), x, 24, record=True, strict=strict)
        got = simulate(g, x, 24, record=True, strict=strict)
        assert sum(int(s.sum()) for s in want.spikes.values()) > 0
        for n in ("l1", "l2"):
            for kind in ("spikes", "u", "v"):
                np.testing.assert_array_equal(getattr(got, kind)[n], getattr(want, kind)[n],
                                              err_msg=f"{kind} of {n}")


def test_text_image_and_hdf5_forms_read_back_exactly(tmp_path):
    g = random_sparse_graph(3)
    assert text.loads(text.dumps(g)).nodes == g.nodes
    save_image(g, tmp_path / "g.npz")
    assert load_image(tmp_path / "g.npz").nodes == g.nodes
    (tmp_path / "lava").mkdir()
    loihi2.write(g, tmp_path / "lava")
    assert loihi2.read_model(tmp_path / "lava").nodes == g.nodes


def test_a_large_sparse_matrix_goes_to_the_npz_sidecar(tmp_path):
    indptr, indices, values = csr_arrays(np.eye(500, dtype=np.int64) * 3)
    op = hw.Sparse((500, 500), indptr, indices, values)
    g = Graph("hw", {"in": hw.SpikeInput((500,)), "s": op,
                     "l": hw.LIF((500,), du=0, dv=0, vth=1, bias_mant=np.zeros(500, np.int64),
                                 bias_exp=np.zeros(500, np.int64)),
                     "out": hw.SpikeOutput((500,))},
              (("in", "s"), ("s", "l"), ("l", "out")))
    files = text.write(g, tmp_path / "m.hw.txt", "hw_graph")
    assert files["hw_graph_arrays"] == "m.hw.npz"
    assert len((tmp_path / "m.hw.txt").read_text()) < 2000
    assert text.read(tmp_path / "m.hw.txt").nodes["s"] == op
    assert synapses(g) == {"s": 500}  # stored entries, not 500 x 500


@pytest.mark.parametrize("indptr, indices, message", [
    ([0, 2, 1], [0, 1], "indptr must rise"),
    ([0, 1, 2], [0, 3], "indices must lie in 0..2"),
    ([0, 2, 2], [1, 1], "rise strictly within each row"),
    ([0, 1], [0], "n_out \\+ 1 = 3"),
])
def test_bad_csr_arrays_are_one_sentence(indptr, indices, message):
    line = ('snncompile-ir 1 level=hw dt=0.001\nnode "s" Sparse {"matrix_shape": [2, 3], '
            f'"indptr": {{"dtype": "int64", "shape": [{len(indptr)}], "data": {indptr}}}, '
            f'"indices": {{"dtype": "int64", "shape": [{len(indices)}], "data": {indices}}}, '
            f'"weights": {{"dtype": "int64", "shape": [{len(indices)}], "data": '
            f'{[5] * len(indices)}}}}}\n')
    with pytest.raises(GraphCheckError, match=f"IR text line 2: .*{message}"):
        text.loads(line)


def test_a_sparse_matrix_of_the_wrong_width_fails_the_check():
    g = random_sparse_graph(0)
    a = g.nodes["a"]
    wrong = hw.Sparse((a.matrix_shape[0], a.matrix_shape[1] + 1), a.indptr, a.indices, a.weights)
    with pytest.raises(GraphCheckError, match=r"node 'a' .*needs"):
        check(Graph("hw", {**g.nodes, "a": wrong}, g.edges))


def test_sparsify_stores_a_large_mostly_zero_dense_as_sparse_only():
    """Large and at most 1/32 non-zero: Sparse (same sums); small, dense-ish, a DelayDense or a
    back end without Sparse (fpga): left alone."""
    n = 1 << 10  # n x n = MIN_ENTRIES
    assert n * n == MIN_ENTRIES
    rng = np.random.default_rng(0)
    w = np.zeros((n, n), np.int64)
    rows = np.repeat(np.arange(n), 16)
    w[rows, rng.integers(0, n, rows.size)] = rng.integers(-90, 90, rows.size)
    z = np.zeros(n, np.int64)
    lif = hw.LIF((n,), du=100, dv=100, vth=5, bias_mant=z, bias_exp=z)
    g = Graph("hw", {"in": hw.SpikeInput((n,)), "big": hw.Dense(w), "l": lif,
                     "small": hw.Dense(w[:8, :] * 0 + w[:8, :]), "m": hw.LIF(
                         (8,), du=0, dv=0, vth=5, bias_mant=z[:8], bias_exp=z[:8]),
                     "out": hw.SpikeOutput((8,))},
              (("in", "big"), ("big", "l"), ("l", "small"), ("small", "m"), ("m", "out")))
    out = Sparsify()(g, load_target("loihi2"))
    assert isinstance(out.nodes["big"], hw.Sparse) and type(out.nodes["small"]) is hw.Dense
    np.testing.assert_array_equal(dense_weights(out.nodes["big"]), w)
    assert Sparsify()(g, load_target("fpga")) is g
    denser = Graph("hw", {**g.nodes, "big": hw.Dense(np.where(w == 0, 1, w))}, g.edges)
    assert type(Sparsify()(denser, load_target("emu")).nodes["big"]) is hw.Dense
    x = rng.random((1, 4, n)) < 0.1
    assert np.array_equal(simulate(out, x, 6).spikes["m"], simulate(g, x, 6).spikes["m"])


def test_the_partitioner_counts_stored_synapses_and_cores_run_like_the_whole_graph():
    """Split over small cores: the sparse graph's placement has the dense one's synapse count
    and cores, and core-by-core it spikes like the emulator on the whole graph."""
    from snncompile.partition import core_model, partition
    from snncompile.partition.percore import run_per_core

    g = random_sparse_graph(4)
    model = core_model("loihi1", neurons=8, fan_in=64, fan_out=200)
    sparse, dense = partition(g, model), partition(_densified(g), model)
    stored = sum(int(np.count_nonzero(dense_weights(op))) for op in g.nodes.values()
                 if isinstance(op, hw.Sparse))
    assert sparse.metrics["synapses"] == dense.metrics["synapses"] <= stored
    assert sparse.metrics["cores"] == dense.metrics["cores"] > 2
    x = (np.random.default_rng(4).random((2, 10, g.shapes["in"][0])) < 0.4).astype(np.int8)
    want = simulate(g, x, 12).spikes
    got = run_per_core(sparse, g, x, 12)
    assert sum(int(s.sum()) for s in got.values()) > 0
    for name in got:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_the_estimate_of_a_sparse_graph_equals_its_dense_twin():
    """Activity, NeuroBench counts and energy read the stored entries the way they read a
    Dense's non-zero weights."""
    from snncompile.estimate.activity import measure
    from snncompile.estimate.energy import estimate, neurobench
    from snncompile.ir.stats import connections

    g = random_sparse_graph(5)
    dense = _densified(g)
    x = (np.random.default_rng(5).random((2, 12, g.shapes["in"][0])) < 0.4).astype(np.int8)
    a, b = measure(g, x), measure(dense, x)
    assert a.totals() == b.totals() and a.totals()["synops"] > 0
    assert neurobench(g, a) == neurobench(dense, b)
    assert connections(g) == connections(dense)
    got, want = estimate(g, "loihi2", a), estimate(dense, "loihi2", b)
    assert got["energy_uj"] == want["energy_uj"] and got["energy_uj"]["total"] > 0


def test_a_torch_sparse_weight_comes_in_and_leaves_sparse(tmp_path):
    """A Linear whose weight is a torch sparse tensor (pruned to 2 %), live and as a `.pt`: the
    hw layer is a Sparse and spikes like the same model with the dense weight; a sparse weight
    whose stored entries are over the weight budget is refused by name."""
    import torch

    import snncompile
    import snncompile.nn as snn
    from snncompile import api
    from snncompile.errors import SnnCompileError
    from snncompile.sim.emulator import run_emulator

    n = 1024
    sparse, dense = pruned_twins(n, 0.02, seed=0)  # a COO weight
    w = dense[0].weight.detach()
    snn.save(sparse, tmp_path / "sparse.pt", (n,))
    x = (np.random.default_rng(0).random((2, 10, n)) < 0.2).astype(np.int8)
    want = run_emulator(snncompile.compile(dense, target="emu", input_shape=(n,)).hw_graph, x)
    assert want.spike_counts["3"] > 0
    for g in (snncompile.compile(sparse, target="emu", input_shape=(n,)).hw_graph,
              api.lower(api.load(tmp_path / "sparse.pt"), "emu")[0]):
        assert isinstance(g.nodes["0"], hw.Sparse)  # (weights that round to 0 are dropped)
        assert 0.9 * int((w != 0).sum()) < g.nodes["0"].nnz <= int((w != 0).sum())
        got = run_emulator(g, x)
        for name in want.outputs:
            np.testing.assert_array_equal(got.outputs[name], want.outputs[name])
    huge = torch.nn.Sequential(torch.nn.Linear(100_000, 100_000, bias=False, device="meta"),
                               snn.LIF(100_000, beta=0.9))
    huge[0].weight = torch.nn.Parameter(torch.sparse_coo_tensor(
        torch.tensor([[0, 1], [2, 3]]), torch.tensor([1.0, 2.0]), (100_000, 100_000)))
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, {"SNNCOMPILE_MAX_WEIGHTS": "1"}), pytest.raises(
            SnnCompileError, match=r"module '0' \(Linear\): a sparse \(100000, 100000\) "
                                   r"weight: 2 stored weights"):
        snncompile.compile(huge, target="emu", input_shape=(100_000,))
