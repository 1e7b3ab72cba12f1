"""docs/support.md cannot lie: it is the generated text, and every cell is proved by a build.

For every (feature, back end) cell a tiny hw graph having that feature (and otherwise only what
every back end holds) is written by the real back end: a "yes" cell writes a build (the emulator
also runs it; netx writes its /layer group), a "no" cell raises the one sentence naming the back
end, the feature and the node at compile time (netx lists it among its reasons).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

from snncompile.backends import get_backend, support
from snncompile.backends.netx_writer import write_layers
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.ir.sparse import sparse_of
from snncompile.sim.emulator import run_emulator

ROOT = Path(__file__).resolve().parents[1]
BASE = {"SpikeInput", "SpikeOutput", "Dense", "LIF"}  # held by every back end


def lif(n: int, **kw) -> hw.LIF:
    zeros = np.zeros(n, np.int64)
    return hw.LIF((n,), du=4095, dv=0, vth=kw.pop("vth", 10), bias_mant=kw.pop("bias", zeros),
                  bias_exp=zeros, **kw)


def dense(n_out: int, n_in: int, cls=hw.Dense, **kw) -> hw.Dense:
    w = (np.arange(n_out * n_in).reshape(n_out, n_in) % 3 + 1) * 16
    return cls(w.astype(np.int64), **kw)


def chain(neuron: hw.LIF | None = None, syn: hw.HWOp | None = None, inp: hw.HWOp | None = None,
          extra: dict | None = None, edges: tuple = (), meta: dict | None = None) -> Graph:
    """in -> s -> n -> out, with replacements and extra nodes/edges."""
    nodes = {"in": inp or hw.SpikeInput((3,)), "s": syn or dense(4, 3),
             "n": neuron or lif(4), "out": hw.SpikeOutput((4,))}
    nodes.update(extra or {})
    base = (("in", "s"), ("s", "n"), ("n", "out"))
    return check(Graph("hw", nodes, base + tuple(edges), 1.0, meta or {}))


def conv_graph() -> Graph:
    w = np.ones((2, 1, 2, 2), np.int64) * 16
    nodes = {"in": hw.SpikeInput((1, 3, 3)), "s": hw.Conv(w), "n": hw.LIF(
        (2, 2, 2), 4095, 0, 10, np.zeros((2, 1, 1), np.int64), np.zeros((2, 1, 1), np.int64)),
        "out": hw.SpikeOutput((2, 2, 2))}
    return check(Graph("hw", nodes, (("in", "s"), ("s", "n"), ("n", "out")), 1.0, {}))


def graded_graph() -> Graph:
    nodes = {"in": hw.GradedInput((4,)), "n": lif(4), "out": hw.SpikeOutput((4,))}
    return check(Graph("hw", nodes, (("in", "n"), ("n", "out")), 1.0, {}))


def delta_graph() -> Graph:
    """A graded input encoded by a Delta, as netx's SDNN input layer."""
    nodes = {"in": hw.GradedInput((4,)), "n": hw.Delta((4,), vth=2, spike_exp=6, state_exp=6),
             "out": hw.SpikeOutput((4,))}
    return check(Graph("hw", nodes, (("in", "n"), ("n", "out")), 1.0, {}))


def clock_graph() -> Graph:
    clock = hw.LIF((1,), 4095, 0, 0, np.ones(1, np.int64), np.zeros(1, np.int64))
    feed = hw.Dense(np.zeros((1, 3), np.int64), sign_mode="excitatory")
    bias = hw.Dense(np.full((4, 1), 32, np.int64))
    return chain(extra={"clk": clock, "clk.in": feed, "n.bias": bias},
                 edges=(("in", "clk.in"), ("clk.in", "clk"), ("clk", "n.bias"), ("n.bias", "n")),
                 meta={"bias_clock": ["clk", "clk.in", "n.bias"]})


def multi_source_graph() -> Graph:
    nodes = {"in": hw.SpikeInput((3,)), "a.s": dense(4, 3), "a": lif(4), "b.s": dense(4, 3),
             "b": lif(4), "s": dense(2, 4), "n": lif(2), "out": hw.SpikeOutput((2,))}
    edges = (("in", "a.s"), ("a.s", "a"), ("in", "b.s"), ("b.s", "b"), ("a", "s"), ("b", "s"),
             ("s", "n"), ("n", "out"))
    return check(Graph("hw", nodes, edges, 1.0, {}))


# feature -> a graph with that feature and otherwise BASE only (asserted below). A new feature
# (a new hw op, a new ATTRIBUTES line) fails test_every_feature_has_an_example until it has one.
EXAMPLES = {
    "SpikeInput": chain,
    "SpikeOutput": chain,
    "Dense": chain,
    "LIF": chain,
    "GradedInput": graded_graph,
    "AnalogInput": lambda: chain(inp=hw.AnalogInput((3,), scale=0.1)),
    "DelayDense": lambda: chain(syn=dense(4, 3, hw.DelayDense,
                                          delays=np.arange(12).reshape(4, 3) % 3)),
    "Conv": conv_graph,
    "Sparse": lambda: chain(syn=sparse_of(dense(4, 3))),
    "ATRLIF": lambda: chain(neuron=hw.ATRLIF((4,), 4095, 0, 0, 0, 10, 0, np.zeros(4, np.int64),
                                             np.zeros(4, np.int64))),
    "reset-subtract": lambda: chain(neuron=lif(4, reset="subtract")),
    "reset-subtract-next": lambda: chain(neuron=lif(4, reset="subtract_next")),
    "per-neuron-parameters": lambda: chain(neuron=lif(4, vth=np.array([10, 12, 14, 16]))),
    "LIFReset": lambda: chain(neuron=lif(4, reset_interval=64, reset_offset=1)),
    "recurrence": lambda: chain(extra={"r": dense(4, 4)}, edges=(("n", "r"), ("r", "n"))),
    "fan-in": lambda: chain(extra={"s2": dense(4, 3)}, edges=(("in", "s2"), ("s2", "n"))),
    "multi-source-synapse": multi_source_graph,
    "bias-clock": clock_graph,
    "potential-readout": lambda: chain(neuron=hw.LIF((4,), -1, 4096, 2**17, np.zeros(4, np.int64),
                                                     np.zeros(4, np.int64))),
    "Sigma": lambda: chain(neuron=hw.Sigma((4,))),
    "Delta": delta_graph,
    "SigmaDelta": lambda: chain(neuron=hw.SigmaDelta((4,), vth=2, spike_exp=6, state_exp=6,
                                                     bias=np.array([0, 1, -1, 5]))),
}
BASE_EXAMPLE = {"GradedInput": {"SpikeOutput", "LIF"},
                "AnalogInput": {"SpikeOutput", "Dense", "LIF"},
                "Conv": {"SpikeInput", "SpikeOutput", "LIF"},
                "Sparse": {"SpikeInput", "SpikeOutput", "LIF"},
                "ATRLIF": {"SpikeInput", "SpikeOutput", "Dense"},
                "DelayDense": {"SpikeInput", "SpikeOutput", "LIF"},
                "Delta": {"GradedInput", "SpikeOutput"},
                "Sigma": {"SpikeInput", "SpikeOutput", "Dense"},
                "SigmaDelta": {"SpikeInput", "SpikeOutput", "Dense"}}
CELLS = [(f.name, b) for f in support.features() for b in support.DECLARED_IN]


def found(g: Graph) -> dict[str, list[str]]:
    return {f.name: nodes for f in support.features() if (nodes := f.find(g))}


def test_every_feature_has_an_example():
    missing = [f.name for f in support.features() if f.name not in EXAMPLES]
    assert not missing, f"add an example graph for {missing} to EXAMPLES in this file"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_has_exactly_its_feature(name):
    have = set(found(EXAMPLES[name]()))
    assert have == BASE_EXAMPLE.get(name, BASE) | {name}


def test_backends_declare_only_known_features():
    names = {f.name for f in support.features()}
    assert len(names) == len(support.features())
    for backend in support.DECLARED_IN:
        assert support.supported(backend) <= names, backend
        assert BASE <= support.supported(backend), backend
        assert set(getattr(support._module(backend), "WHY", {})) <= names - support.supported(
            backend), backend


def _netx(g: Graph) -> list[str]:
    with h5py.File("unused.net", "w", driver="core", backing_store=False) as f:
        reasons = write_layers(g, f)
        assert ("layer" in f) == (not reasons)
    return reasons


@pytest.mark.parametrize("feature, backend", CELLS)
def test_cell_holds(feature, backend, tmp_path):
    g = EXAMPLES[feature]()
    node = found(g)[feature][0]
    cell = feature in support.supported(backend)
    expected = support.sentence(backend, next(f for f in support.features()
                                              if f.name == feature), node)
    if backend == "netx export":
        reasons = _netx(g)
        if feature == "per-neuron-parameters":  # netx names the fields: here vth only
            expected = expected.replace("du, dv or vth", "vth")
        assert (reasons == []) if cell else (expected in reasons), reasons
        return
    if cell:
        files = get_backend(backend).write(g, tmp_path)
        assert files and all((tmp_path / f).exists() for f in files.values())
        if backend == "emu":
            x = np.ones((1, 3, *g.shapes[g.inputs[0]]), np.int64)
            out = run_emulator(g, x).outputs["out"]
            assert out.shape == (1, 3, *g.nodes["out"].shape)
    else:
        with pytest.raises(support.UnsupportedFeature) as info:
            get_backend(backend).write(g, tmp_path)
        assert str(info.value) == expected
        assert not any(tmp_path.iterdir())


def _script():
    spec = importlib.util.spec_from_file_location("support_matrix",
                                                  ROOT / "scripts" / "support_matrix.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_support_md_is_generated():
    text = _script().render()
    assert (ROOT / "docs" / "support.md").read_text() == text, (
        "docs/support.md is stale: run python scripts/support_matrix.py")
    for f in support.features():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{f.name}` |"))
        cells = [c.strip() for c in row.split("|")[3:-1]]
        assert cells == ["yes" if f.name in support.supported(b) else "no"
                         for b in support.DECLARED_IN], row


def test_compile_refuses_before_writing(tmp_path, monkeypatch):
    """api.compile_model checks the matrix right after lowering, even without an out_dir; the
    sentence names the nn layer (hw neurons keep their nn names). The fpga holds every neuron a
    .pt file lowers to, so here it is made to lack ATRLIF (its SUPPORTED and WHY, as declared)."""
    import torch

    import snncompile.nn as snc
    from snncompile import api
    from snncompile.backends import fpga

    monkeypatch.setattr(fpga, "SUPPORTED", fpga.SUPPORTED - {"ATRLIF"})
    monkeypatch.setitem(fpga.WHY, "ATRLIF", "the RTL has no adaptive threshold (ATRLIF) neuron")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), snc.AdaptiveLIF(4))
    snc.save(net, tmp_path / "m.pt", (3,))
    with pytest.raises(support.UnsupportedFeature, match=r"^fpga cannot hold ATRLIF at node "
                       r"'1': the RTL has no adaptive threshold"):
        api.compile_model(tmp_path / "m.pt", "fpga")
    assert isinstance(api.compile_model(tmp_path / "m.pt", "loihi2").hw_graph.nodes["1"],
                      hw.ATRLIF)


def test_loihi2_feature_cells_run_in_lava():
    """Writing is not running: one graph with the loihi2 "yes" attribute features that the
    random Lava differential graphs do not combine (two forward synapses summed into one
    population, one of them a DelayDense, recurrence on that population, a LIFReset layer behind
    it) runs in Lava fixed_pt equal to the emulator in u, v and spikes at every step."""
    from test_lava_differential import compare

    g = chain(syn=dense(4, 3, hw.DelayDense, delays=np.arange(12).reshape(4, 3) % 3),
              extra={"s2": dense(4, 3), "r": hw.Dense(-np.eye(4, dtype=np.int64) * 8),
                     "s3": dense(4, 4), "m": lif(4, reset_interval=64, reset_offset=5)},
              edges=(("in", "s2"), ("s2", "n"), ("n", "r"), ("r", "n"), ("n", "s3"),
                     ("s3", "m")))
    g = check(g.replace(edges=tuple(e for e in g.edges if e != ("n", "out")) + (("m", "out"),)))
    assert {"fan-in", "recurrence", "LIFReset", "DelayDense"} <= set(found(g))
    x = (np.random.default_rng(0).random((2, 8, 3)) < 0.5).astype(np.int8)
    compare(g, x)
    assert run_emulator(g, x).outputs["out"].sum() > 0
