"""Lava's `Sparse` process (fixed_pt) equals the emulator's sparse product bit for bit: u, v and
spikes of every LIF at every hw step, on random sparse graphs (recurrence, every sign mode,
weight_exp and num_weight_bits drawn). Lava missing is a failure, not a skip."""

from __future__ import annotations

import numpy as np
from test_lava_differential import run_and_compare

from snncompile.ir import hw_ops as hw
from snncompile.ir.graph import Graph
from snncompile.ir.sparse import csr_arrays


def _sparse(rng, n_out: int, n_in: int, density: float, sign: str) -> hw.Sparse:
    lo, hi = {"excitatory": (0, 300), "inhibitory": (-300, 1), "mixed": (-300, 300)}[sign]
    w = rng.integers(lo, hi, (n_out, n_in)) * (rng.random((n_out, n_in)) < density)
    indptr, indices, values = csr_arrays(w)
    mode = sign if rng.random() < 0.5 else "auto"
    return hw.Sparse((n_out, n_in), indptr, indices, values, weight_exp=int(rng.integers(-2, 3)),
                     num_weight_bits=int(rng.integers(3, 9)), sign_mode=mode)


def _lif(rng, n: int) -> hw.LIF:
    bias = rng.integers(-20, 40, n) * (rng.random(n) < 0.3)
    return hw.LIF((n,), du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                  vth=int(rng.integers(1, 200)), bias_mant=bias, bias_exp=np.full(n, 2))


def random_sparse_graph(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    n_in, n1, n2 = (int(v) for v in rng.integers(3, 40, 3))
    signs = rng.choice(["excitatory", "inhibitory", "mixed"], 3)
    nodes = {"in": hw.SpikeInput((n_in,)), "a": _sparse(rng, n1, n_in, 0.3, "excitatory"),
             "l1": _lif(rng, n1), "rec": _sparse(rng, n1, n1, 0.2, str(signs[0])),
             "b": _sparse(rng, n2, n1, 0.25, str(signs[1])), "l2": _lif(rng, n2),
             "out": hw.SpikeOutput((n2,))}
    edges = [("in", "a"), ("a", "l1"), ("l1", "rec"), ("rec", "l1"), ("l1", "b"), ("b", "l2"),
             ("l2", "out")]
    return Graph("hw", nodes, tuple(edges))


def test_lava_sparse_equals_the_emulator_on_random_sparse_graphs():
    spikes = 0
    for seed in (0, 1, 2):
        graph = random_sparse_graph(seed)
        x = (np.random.default_rng(seed).random((2, 25, graph.shapes["in"][0])) < 0.4)
        emu = run_and_compare(graph, x.astype(np.int8))
        spikes += int(sum(s.sum() for s in emu.spikes.values()))
    assert spikes > 100  # the comparison saw activity, not silence


def test_a_pruned_nir_layer_compiles_to_lavas_sparse_and_verifies(tmp_path):
    """Front end to Lava: a NIR Affine of 1024 x 1024 with 2 % non-zero weights becomes a Sparse
    (pass sparsify), the other layer stays Dense; verify on loihi2 runs the generated program
    (Lava's Sparse process): Lava == emulator entry for entry, hw == float reference."""
    import nir

    from snncompile import api

    rng = np.random.default_rng(0)
    n = 1024
    w1 = rng.uniform(-1, 8, (n, n)) * (rng.random((n, n)) < 0.02)

    def lif(k: int) -> nir.LIF:
        return nir.LIF(tau=np.full(k, 0.01), r=np.ones(k), v_leak=np.zeros(k),
                       v_threshold=np.ones(k))

    graph = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([n])), "fc1": nir.Affine(weight=w1, bias=np.zeros(n)),
               "lif1": lif(n), "fc2": nir.Affine(weight=rng.uniform(-0.2, 2, (10, n)),
                                                 bias=np.zeros(10)),
               "lif2": lif(10), "output": nir.Output(np.array([10]))},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
               ("lif2", "output")])
    nir.write(tmp_path / "pruned.nir", graph)
    hw_graph = api.lower(api.load(tmp_path / "pruned.nir"), "loihi2")[0]
    assert isinstance(hw_graph.nodes["fc1"], hw.Sparse)
    assert type(hw_graph.nodes["fc2"]) is hw.Dense
    x = (rng.random((2, 10, n)) < 0.2).astype(np.int8)
    report = api.verify(tmp_path / "pruned.nir", x, target="loihi2")
    assert report.backend_mismatches == 0
    assert min(layer.agreement for layer in report.layers) > 0.9
    assert sum(layer.hw_spikes for layer in report.layers) > 0


def test_graded_spikes_into_lavas_sparse_equal_the_emulator():
    """A Sigma population's int32 values through a Sparse (Lava's num_message_bits > 0:
    weights.dot(s_in)) into a LIF: every state equal at every step."""
    rng = np.random.default_rng(7)
    n_in, n1, n2 = 12, 9, 7
    dense = rng.integers(-20, 40, (n1, n_in)) * (rng.random((n1, n_in)) < 0.5)
    sparse = _sparse(rng, n2, n1, 0.4, "mixed")
    nodes = {"in": hw.SpikeInput((n_in,)), "a": hw.Dense(dense), "sig": hw.Sigma((n1,)),
             "b": sparse, "l": _lif(rng, n2), "out": hw.SpikeOutput((n2,))}
    edges = (("in", "a"), ("a", "sig"), ("sig", "b"), ("b", "l"), ("l", "out"))
    x = (rng.random((2, 20, n_in)) < 0.4).astype(np.int8)
    emu = run_and_compare(Graph("hw", nodes, edges), x)
    assert emu.spikes["l"].sum() > 0
