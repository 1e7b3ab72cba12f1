"""Stepwise (stateful) ONNX: one time step of an SNN exported by torch.onnx.export with the
neuron states as extra inputs and outputs (issue 15, item 3 for ONNX).

The models are written in plain torch (tests/step_models.py) or snnTorch, exported in the test and
stepped in onnxruntime over T steps with the states fed back: that run is the independent side.
The float reference must give onnxruntime's spikes at every step; with exact weights (IF neurons,
quarter-grid weights) the emulator must too, and Lava / the Icarus RTL equal the emulator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import step_models as sm
import torch
from cli_inprocess import assert_refused, invoke

from snncompile import api
from snncompile.errors import SnnCompileError
from snncompile.frontends.onnx import read
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference

SHAPE = (1, sm.H, sm.H)


def _x(shape, batch: int = 12, steps: int = 10, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, steps, *shape)) < 0.4).astype(np.float32)


def _export(net, shape, states, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm.export(net, shape, states, path)
    return path


def _blocks(kind: str, exact: bool, tmp_path):
    net = sm.initialize(sm.Blocks(kind, exact), exact)
    return _export(net, SHAPE, sm.states(kind), tmp_path / f"{kind}.onnx")


@pytest.mark.parametrize(("model", "neurons"), [
    (sm.Dense, {"s0": ("LIF", "subtract", "immediate"), "s1": ("LIF", "zero", "immediate")}),
    (sm.DenseWhere, {"s0": ("LIF", "zero", "immediate"), "s1": ("IF", "zero", "immediate")})])
def test_plain_torch_lif_step_equals_onnxruntime(model, neurons, tmp_path):
    torch.manual_seed(0)
    net = model().eval()
    with torch.no_grad():
        net.fc1.weight.mul_(2.0)
        net.fc2.weight.mul_(2.0)
    path = _export(net, (6,), sm.states("Dense"), tmp_path / "dense.onnx")
    graph = read(path)
    assert neurons == {n: (type(graph.nodes[n]).__name__, graph.nodes[n].reset,
                           graph.nodes[n].reset_timing) for n in graph.of_kind("neuron")}
    np.testing.assert_allclose(graph.nodes["s0"].tau, 1 / (1 - np.float32(0.85)), rtol=1e-6)
    x = np.random.default_rng(2).random((16, 20, 6)).astype(np.float32)
    want = sm.run_onnxruntime(path, x, sm.states("Dense"))
    assert 20 < want.sum() < want.size / 2
    np.testing.assert_array_equal(run_reference(graph, x, dtype=np.float32)["output"], want)
    if model is sm.Dense:  # verify steps the file in onnxruntime as the trainer's model
        report = api.verify(path, (x[:8] > 0.5).astype(np.float32), target="emu")
        assert report.passed and report.source_agreement == 1.0, report.to_dict()


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_snntorch_leaky_exported_with_its_state(reset, tmp_path):
    """snnTorch's Leaky(init_hidden=False) exports; its reset (of the spike the state held, next
    step) is read as reset_timing next_step, and equals onnxruntime and snnTorch itself."""
    import snntorch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(6, 8), torch.nn.Linear(8, 4)
            self.lif1 = snntorch.Leaky(beta=0.9, threshold=0.7, reset_mechanism=reset)
            self.lif2 = snntorch.Leaky(beta=0.8, threshold=0.5, reset_mechanism=reset)

        def forward(self, x, mem1, mem2):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            return spk2, mem1, mem2

    torch.manual_seed(1)
    net = Net().eval()
    with torch.no_grad():
        net.fc1.weight.mul_(2.0)
    path = _export(net, (6,), sm.states("Dense"), tmp_path / "leaky.onnx")
    graph = read(path)
    assert {(graph.nodes[n].reset, graph.nodes[n].reset_timing)
            for n in graph.of_kind("neuron")} == {(reset, "next_step")}
    x = np.random.default_rng(3).random((10, 25, 6)).astype(np.float32)
    want = sm.run_onnxruntime(path, x, sm.states("Dense"))
    mems, own = [torch.zeros(10, 8), torch.zeros(10, 4)], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            spk, *mems = net(torch.as_tensor(x[:, t]), *mems)
            own.append(spk.numpy())
    assert want.sum() > 20
    np.testing.assert_array_equal(np.stack(own, 1), want)
    np.testing.assert_array_equal(run_reference(graph, x, dtype=np.float32)["output"], want)


@pytest.mark.parametrize("kind", ["ADD", "AND", "IAND", "MS"])
@pytest.mark.parametrize("exact", [True, False], ids=["exact", "float"])
def test_blocks_equal_onnxruntime_at_every_step(kind, exact, tmp_path):
    path = _blocks(kind, exact, tmp_path)
    x = _x(SHAPE)
    want = sm.run_onnxruntime(path, x, sm.states(kind))
    graph = read(path)
    ref = run_reference(graph, x, dtype=np.float32, record=True)
    assert want.sum() > 15 and want.mean() < 0.8
    np.testing.assert_array_equal(ref["output"], want)
    emu = run_emulator(api.lower(graph, "emu")[0], x, record=True)
    if exact:  # the quantized network computes the float arithmetic exactly
        for layer in graph.of_kind("neuron"):
            np.testing.assert_array_equal(emu.spikes[layer], ref[layer], err_msg=layer)
        np.testing.assert_array_equal(emu.outputs["output"], want)
    else:
        assert (emu.outputs["output"] == want).mean() > 0.94


def test_gates_and_pool_are_the_deep_block_ops(tmp_path):
    """SEW IAND is one threshold population on a - b (> 0.5), max pooling a SumPool2d into an OR
    population (> 0.5), both as the torch front end makes them."""
    graph = read(_blocks("IAND", True, tmp_path))
    gate = next(n for n in graph.of_kind("neuron") if n.startswith("Mul"))
    np.testing.assert_array_equal(graph.nodes[gate].v_threshold, 0.5)
    scales = sorted(float(graph.nodes[p].scale.ravel()[0]) for p in graph.predecessors(gate))
    assert scales == [-1.0, 1.0]
    pool = next(n for n, op in graph.nodes.items() if type(op).__name__ == "SumPool2d")
    assert graph.predecessors(pool) == [gate]
    and_graph = read(_blocks("AND", True, tmp_path))
    gate = next(n for n in and_graph.of_kind("neuron") if n.startswith("Mul"))
    np.testing.assert_array_equal(and_graph.nodes[gate].v_threshold, 1.5)


@pytest.mark.parametrize(("kind", "target"), [("IAND", "fpga"), ("MS", "loihi2"),
                                              ("AND", "loihi2")])
def test_blocks_on_target_equal_emulator(kind, target, tmp_path):
    """verify: reference, emulator and the target's own artefact (Icarus RTL / Lava fixed_pt);
    with exact weights every layer agrees and the artefact equals the emulator."""
    x = _x(SHAPE, 4, 8)
    report = api.verify(_blocks(kind, True, tmp_path), x, target=target, max_count_error=0.0,
                        min_train_agreement=1.0)
    assert report.passed, report.to_dict()
    assert all(layer.agreement == 1.0 for layer in report.layers)
    assert report.backend_mismatches == 0
    assert report.source_agreement == 1.0  # onnxruntime stepping the file (onnx_run)


def test_snntorch_leaky_delayed_reset_on_loihi2_equals_emulator(tmp_path):
    """snnTorch's delayed subtraction (next_step) on loihi2 (the shipped SnnLIF): with beta 1/2
    and quarter-grid weights the emulator equals the reference and Lava equals the emulator."""
    import snntorch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(6, 8), torch.nn.Linear(8, 4)
            self.lif1, self.lif2 = snntorch.Leaky(beta=0.5), snntorch.Leaky(beta=0.5)

        def forward(self, x, mem1, mem2):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            return spk2, mem1, mem2

    net = sm.initialize(Net(), exact=True)
    path = _export(net, (6,), sm.states("Dense"), tmp_path / "leaky.onnx")
    x = _x((6,), 4, 12, seed=4)
    assert sm.run_onnxruntime(path, x, sm.states("Dense")).sum() > 5
    report = api.verify(path, x, target="loihi2", max_count_error=0.0, min_train_agreement=1.0)
    assert report.passed, report.to_dict()
    assert report.backend_mismatches == 0


def test_mode_is_chosen_by_the_inputs_or_by_the_option(tmp_path):
    import onnx

    path = _blocks("AND", True, tmp_path)
    assert read(path).meta["onnx_mode"] == "step"
    held = api.load(onnx.load(str(path)))  # an onnx.ModelProto in memory: the same reading
    assert held.meta["onnx_mode"] == "step" and list(held.nodes) == list(read(path).nodes)
    with pytest.raises(SnnCompileError, match="exactly one of each"):
        read(path, onnx_mode="ann")
    with pytest.raises(SnnCompileError, match="calibration and percentile set ANN thresholds"):
        api.load(path, calibration=np.zeros((2, *SHAPE)))
    cnn = sm.__file__.replace("tests/step_models.py", "examples/ann_conversion/digits_cnn.onnx")
    assert read(cnn).meta.get("onnx_mode") is None
    with pytest.raises(SnnCompileError, match="stateful.*1 inputs"):
        read(cnn, onnx_mode="step")


class _NoReset(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x, mem):
        mem = 0.9 * mem + self.fc(x)
        return (mem > 1.0).float(), mem


class _StateIntoSynapse(_NoReset):
    def __init__(self):
        super().__init__()
        self.rec = torch.nn.Linear(3, 3)

    def forward(self, x, mem):
        return sm.lif(mem, self.fc(x) + self.rec(mem), 0.9, 1.0, "zero")


class _GreaterOrEqual(_NoReset):
    def forward(self, x, mem):
        mem = 0.9 * mem + self.fc(x)
        spk = (mem >= 1.0).float()
        return spk, mem - spk


@pytest.mark.parametrize(("model", "words"), [
    (_NoReset, ("no graph output is the update of state 's0'", "output 's0_out'",
                "a neuron without reset")),
    (_GreaterOrEqual, ("GreaterOrEqual", "no rule in a stepwise SNN graph")),
    (_StateIntoSynapse, ("node '/rec/Gemm'", "reads the state input 's0' directly")),
])
def test_other_state_updates_are_refused_with_one_sentence(model, words, tmp_path):
    path = _export(model().eval(), (4,), ((3,),), tmp_path / "bad.onnx")
    assert_refused(invoke(path, "--target", "emu", "-o", tmp_path / "out"), *words)
