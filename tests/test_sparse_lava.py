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
