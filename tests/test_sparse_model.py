"""A model file's sparse weight stays sparse from the front end to hw.Sparse (nn SparseLinear ->
lowered GroupedSparse -> quantized on its stored values): the same hw graph, scales and spikes as
its densified twin, Lava == emulator on loihi2, verify against torch, the dense matrix never
built, and refusals by name where a sparse weight cannot go."""

from __future__ import annotations

import copy
import tracemalloc

import numpy as np
import pytest
import torch

import snncompile.nn as snn
from snncompile import api
from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops
from snncompile.ir.graph import Graph
from snncompile.sim.emulator import run_emulator


def pruned_twins(n: int, density: float, seed: int, bias: bool = False):
    """(sparse, dense) torch models n -> n -> 10 whose first Linear is pruned to `density`; the
    sparse one holds that weight as a torch sparse COO tensor (a CSR for odd seeds)."""
    torch.manual_seed(seed)
    w = torch.rand(n, n) * 4 - 0.5
    w[torch.rand(n, n) > density] = 0
    dense = torch.nn.Sequential(torch.nn.Linear(n, n, bias=bias), snn.LIF(n, beta=0.9),
                                torch.nn.Linear(n, 10, bias=False), snn.LIF(10, beta=0.9))
    with torch.no_grad():
        dense[0].weight.copy_(w)
        dense[2].weight.mul_(20)
    sparse = copy.deepcopy(dense)
    sparse[0].weight = torch.nn.Parameter(w.to_sparse() if seed % 2 == 0 else w.to_sparse_csr(),
                                          requires_grad=False)
    return sparse, dense


def test_a_sparse_pt_compiles_to_the_hw_graph_of_its_dense_twin(tmp_path):
    """2k x 2k at 2 % (COO, with a bias; CSR below): the nn graph holds a SparseLinear, the hw graph
    equals the dense twin's node for node (the same vth, weight_exp and integer weights: the scale
    search on the stored values picks what it picks on the whole matrix, whose extra entries are
    exact zeros), the first layer is a Sparse, and the emulator spikes alike."""
    n = 2048
    x = (np.random.default_rng(0).random((2, 8, n)) < 0.2).astype(np.int8)
    for seed in (0,):
        sparse, dense = pruned_twins(n, 0.02, seed, bias=True)
        snn.save(sparse, tmp_path / f"sparse{seed}.pt", (n,))
        snn.save(dense, tmp_path / f"dense{seed}.pt", (n,))
        nn_graph = api.load(tmp_path / f"sparse{seed}.pt")
        assert isinstance(nn_graph.nodes["0"], nn_ops.SparseLinear)
        got, got_q = api.lower(nn_graph, "emu")
        want, want_q = api.lower(api.load(tmp_path / f"dense{seed}.pt"), "emu")
        assert isinstance(got.nodes["0"], hw.Sparse) and got.nodes["0"].nnz > 0.9 * 0.02 * n * n
        assert set(got.nodes) == set(want.nodes) and got.edges == want.edges
        for name in want.nodes:
            assert got.nodes[name] == want.nodes[name], name
        assert [(q.vth, [s.weight_exp for s in q.synapses]) for q in got_q.layers] == \
            [(q.vth, [s.weight_exp for s in q.synapses]) for q in want_q.layers]
        a, b = run_emulator(got, x), run_emulator(want, x)
        assert a.spike_counts["3"] > 0
        for name in b.outputs:
            np.testing.assert_array_equal(a.outputs[name], b.outputs[name])


def test_a_sparse_pt_verifies_on_loihi2_against_torch_and_lava(tmp_path):
    """verify --target loihi2 on the sparse .pt: torch's own forward (sparse weight) == the float
    reference, Lava's Sparse program == the emulator entry for entry, hw close to the float."""
    n = 2048
    sparse, _ = pruned_twins(n, 0.02, 2, bias=True)  # torch cannot add a bias to it: live.py
    snn.save(sparse, tmp_path / "sparse.pt", (n,))
    hw_graph = api.lower(api.load(tmp_path / "sparse.pt"), "loihi2")[0]
    assert isinstance(hw_graph.nodes["0"], hw.Sparse)
    x = (np.random.default_rng(1).random((2, 8, n)) < 0.2).astype(np.int8)
    report = api.verify(tmp_path / "sparse.pt", x, target="loihi2")
    assert report.backend_mismatches == 0
    source = next(c for c in report.checks if c.name.startswith("source"))
    assert source.passed and source.value == 0
    assert min(layer.agreement for layer in report.layers) > 0.9
    assert sum(layer.hw_spikes for layer in report.layers) > 0


def test_the_dense_matrix_is_never_built():
    """A 20k x 20k layer with 5 weights per row (dense: 3.2 GB of float64) loads, lowers and
    quantizes within 60 MB of traced allocations (numpy reports its buffers to tracemalloc)."""
    n, fan_in = 20_000, 5
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), fan_in)
    cols = np.concatenate([rng.choice(n, fan_in, replace=False) for _ in range(n)])
    w = torch.sparse_coo_tensor(np.stack([rows, cols]), rng.uniform(0.1, 1.0, rows.size),
                                (n, n))
    model = torch.nn.Sequential(torch.nn.Linear(n, n, bias=False, device="meta"),
                                snn.LIF(n, beta=0.9))
    model[0].weight = torch.nn.Parameter(w, requires_grad=False)
    tracemalloc.start()
    try:
        hw_graph = api.lower(api.load(model, input_shape=(n,)), "emu")[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(hw_graph.nodes["0"], hw.Sparse) and hw_graph.nodes["0"].nnz == n * fan_in
    assert peak < 60 << 20, f"{peak / 2**20:.0f} MiB traced"


def _pruned(shape: tuple[int, int], density: float, scale: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = (torch.rand(shape, generator=g) * 4 - 0.5) * scale
    return torch.where(torch.rand(shape, generator=g) <= density, w, 0.0)


def _assert_twins_equal(sparse: torch.nn.Module, dense: torch.nn.Module, shape, x) -> None:
    got = api.lower(api.load(sparse, input_shape=shape), "emu")[0]
    want = api.lower(api.load(dense, input_shape=shape), "emu")[0]
    assert any(isinstance(op, hw.Sparse) for op in got.nodes.values())
    assert set(got.nodes) == set(want.nodes) and got.edges == want.edges
    for name in want.nodes:
        assert got.nodes[name] == want.nodes[name], name
    a, b = run_emulator(got, x), run_emulator(want, x)
    assert sum(a.spike_counts.values()) > 0
    for name in b.outputs:
        np.testing.assert_array_equal(a.outputs[name], b.outputs[name])


def test_a_sparse_recurrent_weight_and_a_flatten_before_a_sparse_linear():
    """RLIF's recurrent Linear held sparse (1024 x 1024 at 2 %, a recurrent hw.Sparse) and a
    conv stack's Flatten -> sparse Linear: the same hw graph and spikes as the dense twins."""
    n = 1024
    rec = snn.RLIF(n, beta=0.9)
    dense = torch.nn.Sequential(torch.nn.Linear(64, n, bias=False), rec)
    w = _pruned((n, n), 0.02, 0.5, 0)
    with torch.no_grad():
        dense[0].weight.mul_(8)
        rec.recurrent.weight.copy_(w)
    sparse = copy.deepcopy(dense)
    sparse[1].recurrent.weight = torch.nn.Parameter(w.to_sparse(), requires_grad=False)
    x = (np.random.default_rng(2).random((2, 6, 64)) < 0.3).astype(np.int8)
    _assert_twins_equal(sparse, dense, (64,), x)

    dense = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1, bias=False),
                                snn.LIF((4, 16, 16), beta=0.9), torch.nn.Flatten(),
                                torch.nn.Linear(n, n, bias=False), snn.LIF(n, beta=0.9))
    w = _pruned((n, n), 0.02, 1.0, 1)
    with torch.no_grad():
        dense[0].weight.mul_(4)
        dense[3].weight.copy_(w)
    sparse = copy.deepcopy(dense)
    sparse[3].weight = torch.nn.Parameter(w.to_sparse_csr(), requires_grad=False)
    x = (np.random.default_rng(3).random((2, 6, 2, 16, 16)) < 0.3).astype(np.int8)
    _assert_twins_equal(sparse, dense, (2, 16, 16), x)


def test_small_sparse_weights_become_dense_where_the_twin_is_dense():
    """Under the sparsify threshold (1M entries) the layer is the Dense its twin has, so fpga
    (which holds no Sparse) compiles it; the hw graphs are equal."""
    sparse, dense = pruned_twins(96, 0.05, 3)
    for target in ("emu", "fpga"):
        got = api.lower(api.load(sparse, input_shape=(96,)), target)[0]
        want = api.lower(api.load(dense, input_shape=(96,)), target)[0]
        assert type(got.nodes["0"]) is hw.Dense
        for name in want.nodes:
            assert got.nodes[name] == want.nodes[name], name


def _sparse_op(n: int) -> nn_ops.SparseLinear:
    return nn_ops.SparseLinear((n, n), np.arange(n + 1), np.arange(n), np.ones(n))


def _lif(n: int) -> nn_ops.LIF:
    return nn_ops.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n),
                      v_threshold=np.ones(n), v_reset=np.zeros(n))


def test_a_sparse_weight_in_a_longer_chain_is_refused_by_name():
    """A Scale after the sparse Linear would need the folded (dense) matrix: lower names it."""
    n = 8
    g = Graph("nn", {"in": nn_ops.Input((n,)), "fc": _sparse_op(n),
                     "gain": nn_ops.Scale(np.full(n, 2.0)), "lif": _lif(n),
                     "out": nn_ops.Output((n,))},
              (("in", "fc"), ("fc", "gain"), ("gain", "lif"), ("lif", "out")))
    with pytest.raises(SnnCompileError, match=r"node 'fc' \(SparseLinear\).*not the only "
                                              r"synapse op"):
        api.lower(g, "emu")


def test_the_nir_writer_refuses_a_sparse_weight_by_name():
    from snncompile.frontends.nir import to_nir

    n = 4
    g = Graph("nn", {"in": nn_ops.Input((n,)), "fc": _sparse_op(n), "lif": _lif(n),
                     "out": nn_ops.Output((n,))},
              (("in", "fc"), ("fc", "lif"), ("lif", "out")))
    with pytest.raises(SnnCompileError, match=r"SparseLinear.*NIR's Linear holds a dense"):
        to_nir(g)


def test_bad_csr_arrays_in_the_nn_op_are_one_sentence():
    with pytest.raises(ValueError, match="indices must rise strictly"):
        nn_ops.SparseLinear((2, 3), np.array([0, 2, 2]), np.array([1, 0]), np.ones(2))


def test_qat_refuses_a_sparse_weight_by_name():
    from snncompile.nn import qat

    sparse, _ = pruned_twins(32, 0.1, 4)
    with pytest.raises(SnnCompileError, match=r"module '0' holds a sparse weight"):
        qat.prepare(sparse, (32,))


@pytest.mark.parametrize("layout", ["coo", "csr", "csc", "bsr", "bsc"])
def test_every_torch_sparse_layout_reads_as_the_same_csr(layout):
    """Duplicates summed (COO), columns rising, stored zeros (a block's) dropped, as scipy's CSR
    of the dense matrix."""
    import scipy.sparse as sp

    from snncompile.frontends.arrays import csr_of

    w = _pruned((6, 8), 0.3, 1.0, 5)
    coo = w.to_sparse()
    idx, val = coo.indices(), coo.values().clone()
    first = val[0].item()
    val[0] = -2 * first  # with the duplicate below, the entry sums to its value again
    t = {"coo": lambda: torch.sparse_coo_tensor(torch.cat([idx[:, :1], idx], dim=1),
                                                torch.cat([torch.tensor([3 * first]), val]),
                                                w.shape),
         "csr": w.to_sparse_csr, "csc": w.to_sparse_csc,
         "bsr": lambda: w.to_sparse_bsr((2, 2)), "bsc": lambda: w.to_sparse_bsc((2, 2))}[layout]()
    shape, indptr, indices, values = csr_of(t)
    want = sp.csr_array(w.double().numpy())
    assert shape == (6, 8)
    np.testing.assert_array_equal(indptr, want.indptr)
    np.testing.assert_array_equal(indices, want.indices)
    np.testing.assert_allclose(values, want.data, rtol=1e-15)


def test_the_sparse_nn_and_lowered_graphs_read_back_from_text_and_image(tmp_path):
    """model.nn.txt, --dump-after lower and the binary image hold SparseLinear / GroupedSparse
    exactly (bias and no bias)."""
    from snncompile.ir import text
    from snncompile.ir.image import load_image, save_image
    from snncompile.passes import Discretize, Lower

    sparse, _ = pruned_twins(64, 0.1, 6, bias=True)
    nn_graph = api.load(sparse, input_shape=(64,))
    lowered = Discretize()(Lower()(nn_graph))
    assert any(type(op).__name__ == "GroupedSparse" for op in lowered.nodes.values())
    no_bias = nn_graph.replace(nodes={**nn_graph.nodes, "0": nn_graph.nodes["0"].replace(
        bias=None)})
    for g in (nn_graph, lowered, no_bias):
        back = text.loads(text.dumps(g))
        assert set(back.nodes) == set(g.nodes)
        for name, op in g.nodes.items():
            assert back.nodes[name] == op, name
    save_image(nn_graph, tmp_path / "nn.img")
    back = load_image(tmp_path / "nn.img")
    assert back.nodes["0"] == nn_graph.nodes["0"]


def test_calibrated_floor_centring_of_a_sparse_weight_equals_its_dense_twin():
    """--calibration measures each neuron's floor loss by a sparse product for a sparse weight:
    the same biases, so the same hw graph as the dense twin (a negative weight_exp is forced by
    small weights, so the shift drops bits and the calibrated rule runs)."""
    n = 1024
    sparse, dense = pruned_twins(n, 0.02, 7)
    for model in (sparse, dense):
        with torch.no_grad():
            w = model[0].weight
            model[0].weight = torch.nn.Parameter(w.abs() * 0.002, requires_grad=False)
    x = (np.random.default_rng(7).random((2, 6, n)) < 0.3).astype(np.int8)
    got = api.lower(api.load(sparse, input_shape=(n,)), "emu", calibration=x)[0]
    want = api.lower(api.load(dense, input_shape=(n,)), "emu", calibration=x)[0]
    assert isinstance(got.nodes["0"], hw.Sparse) and got.nodes["0"].weight_exp < 0
    for name in want.nodes:
        assert got.nodes[name] == want.nodes[name], name
    assert np.any(np.asarray(got.nodes["1"].bias_mant) != 0)


def test_split_weights_of_a_sparse_weight_equal_its_dense_twin():
    """--weight-split: the sparse layer's fine twin is a Sparse of the residual's non-zero codes,
    as pass sparsify stores the dense twin's fine Dense."""
    n = 1024
    sparse, dense = pruned_twins(n, 0.02, 8)
    got = api.lower(api.load(sparse, input_shape=(n,)), "emu", weight_split=True)[0]
    want = api.lower(api.load(dense, input_shape=(n,)), "emu", weight_split=True)[0]
    assert isinstance(got.nodes["0.fine"], hw.Sparse)
    assert set(got.nodes) == set(want.nodes)
    for name in want.nodes:
        assert got.nodes[name] == want.nodes[name], name


def test_a_sparse_weight_with_2_31_rows_is_refused_before_its_row_pointers():
    """Fuzz case 26001626 (sparse .pt weights, seed 26): a COO weight of 2^31 - 1 rows and two
    stored entries passed the stored-weights budget, then scipy's CSR asked for a 16 GiB row
    pointer array; each side is a population, so the neuron budget refuses it by name."""
    from snncompile.frontends.arrays import csr_of
    from snncompile.limits import BudgetError

    def weight(rows: int) -> torch.Tensor:
        return torch.sparse_coo_tensor(torch.tensor([[0, 5], [1, 2]]),
                                       torch.tensor([0.5, -1.0]), (rows, 4))

    with pytest.raises(BudgetError, match=r"2147483647, 4\) weight's side.*neurons"):
        csr_of(weight(2**31 - 1))
    shape, indptr, indices, values = csr_of(weight(8))
    assert indptr.tolist() == [0, 1, 1, 1, 1, 1, 2, 2, 2]
    assert shape == (8, 4) and indices.tolist() == [1, 2] and values.tolist() == [0.5, -1.0]


def test_falling_csc_pointers_over_no_entries_are_refused_not_a_segfault(tmp_path):
    """Fuzz case 27001315 (sparse .pt weights, seed 27): a CSC weight storing nothing whose
    column pointers fall (0, .., 5, 0, ..) made torch's own invariant check segfault (signal 11
    at compile); the pointers are checked first, one sentence. In a child process, so a
    regression fails this test instead of killing the suite."""
    import subprocess
    import sys

    from snncompile.frontends.arrays import pointer_fault

    ccol = torch.tensor([0, 0, 0, 0, 0, 5] + [0] * 11)
    empty = torch.tensor([], dtype=torch.int64)
    weight = torch.sparse_csc_tensor(ccol, empty, torch.tensor([], dtype=torch.float64), (8, 16),
                                     check_invariants=False)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8, bias=False), snn.LIF(8, beta=0.9))
    model[0].weight = torch.nn.Parameter(weight, requires_grad=False)
    snn.save(model, tmp_path / "m.pt", (16,))
    run = subprocess.run([sys.executable, "-m", "snncompile", "m.pt", "-t", "emu", "-o", "b"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert run.returncode == 2, run.stderr
    want = ("error: m.pt: module '0' (Linear): its sparse (8, 16) weight is malformed: its "
            "compressed indices do not rise from 0")
    assert errors == [want], run.stderr
    assert not (tmp_path / "b").exists()
    assert pointer_fault(np.array([0, 1, 3]), np.array([0, 2, 1]), 3) is None
    assert "end at 3 but it stores 2" in str(pointer_fault(np.array([0, 1, 3]), np.array([0, 2]),
                                                           2))
