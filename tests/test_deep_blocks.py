"""Deep-SNN blocks from torch modules with a forward: BatchNorm folding, max pooling on spikes,
SEW-ResNet ADD / AND / IAND and MS-ResNet shortcuts (issue 15).

Each model is built with torch (tests/deep_models.py). Independent sides: torch's own forward
(the float reference must give its spikes exactly), and on hardware the Icarus RTL simulation
and the Lava program (which must equal the emulator exactly). With `exact` weights the quantized
network computes the float arithmetic exactly, so the emulator must equal the reference in every
layer too: that pins the lowering of the gates, the pooling OR and the residual alignment.
"""

from __future__ import annotations

import deep_models as dm
import numpy as np
import pytest
import torch
from torch import nn

import snncompile.nn as snc
from snncompile import api
from snncompile.errors import SnnCompileError, UnsupportedOp
from snncompile.frontends.torch_modules import from_module
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference

SHAPE = (1, dm.H, dm.H)
MODELS = {"ADD": dm.SEWNetAdd, "AND": lambda e: dm.SEWNet("AND", e),
          "IAND": lambda e: dm.SEWNet("IAND", e), "MS": dm.MSNet}


def _x(batch: int = 12, steps: int = 10, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, steps, *SHAPE)) < 0.4).astype(np.float64)


def _torch(net: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return snc.run(net, torch.as_tensor(x)).numpy()


@pytest.mark.parametrize("block", sorted(MODELS))
@pytest.mark.parametrize("exact", [True, False], ids=["exact", "float"])
def test_block_reference_equals_torch_and_emulator(block, exact):
    net = dm.initialize(MODELS[block](exact), exact)
    graph = from_module(net, SHAPE)
    x = _x()
    ref = run_reference(graph, x, record=True)
    out = _torch(net, x)
    assert out.sum() > 5 and 0 < ref["output"].mean() < 1
    np.testing.assert_array_equal(ref["output"], out)
    hw_graph, _ = api.lower(graph, "emu")
    emu = run_emulator(hw_graph, x, record=True)
    for layer in graph.of_kind("neuron"):
        agreement = (emu.spikes[layer] == ref[layer]).mean()
        assert agreement == 1.0 if exact else agreement > 0.97, (layer, agreement)


def test_gates_and_pool_are_threshold_populations():
    graph = from_module(dm.initialize(dm.SEWNet("IAND"), False), SHAPE)
    assert [type(graph.nodes[n]).__name__ for n in ("block.mul", "pool", "pool.or")] == [
        "LIF", "SumPool2d", "LIF"]
    assert sorted(graph.predecessors("block.mul")) == ["block.mul.block.sn2", "block.mul.stem.2"]
    np.testing.assert_array_equal(graph.nodes["block.mul.block.sn2"].scale, -1.0)
    # BatchNorm folded into the conv before it: no norm node is left
    assert "block.bn1" not in graph.nodes and "block.conv1" in graph.nodes


@pytest.mark.parametrize(("block", "target"), [("ADD", "fpga"), ("IAND", "fpga"),
                                               ("AND", "loihi2"), ("MS", "loihi2")])
def test_block_on_target_equals_emulator(block, target, tmp_path):
    """verify: the saved module (a user's class: --trust-pickle) runs in torch, the reference,
    the emulator and the target's own artefact (Icarus RTL / Lava fixed_pt), all equal."""
    path = tmp_path / "net.pt"
    snc.save(dm.initialize(MODELS[block](True), True), path, SHAPE)
    with pytest.raises(SnnCompileError, match="--trust-pickle"):
        api.load(path)
    report = api.verify(path, _x(4, 8), target=target, max_count_error=0.0,
                        min_train_agreement=1.0,
                        trust_pickle=True)
    assert report.passed, report.to_dict()
    assert report.source_agreement == 1.0 and report.backend_mismatches == 0


def test_batchnorm_folds_into_linear_and_conv_and_stays_elsewhere():
    torch.manual_seed(3)
    net = nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 8), nn.BatchNorm1d(8),
                        snc.LIF(8, beta=0.9, threshold=0.4), nn.Linear(8, 4, bias=False),
                        nn.BatchNorm1d(4), snc.LIF(4, beta=0.9, threshold=0.4))
    for m in net:
        if isinstance(m, nn.BatchNorm1d):
            nn.init.uniform_(m.running_mean, -0.5, 0.5)
            nn.init.uniform_(m.running_var, 0.3, 2.0)
            nn.init.uniform_(m.weight, -1.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    net = net.double().eval()
    graph = from_module(net, (6,))
    # the input norm has no affine before it: a per-channel Affine composed into the chain
    assert [type(graph.nodes[n]).__name__ for n in ("0", "1", "4")] == ["Affine"] * 3
    assert "2" not in graph.nodes and "5" not in graph.nodes
    x = np.random.default_rng(0).random((16, 20, 6)) * 2
    ref = run_reference(graph, x, state=True)
    np.testing.assert_array_equal(ref["output"], _torch(net, x))
    hw_graph, _ = api.lower(graph, "emu")
    assert (run_emulator(hw_graph, (x > 1)).outputs["output"] >= 0).all()


def test_spikingjelly_seq_to_ann_batchnorm_multistep():
    """SpikingJelly's multi-step SeqToANNContainer(Conv2d, BatchNorm2d) and tdBN, run by
    SpikingJelly itself on (T, B, ...) input, equal the reference."""
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.SeqToANNContainer(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3)),
        neuron.LIFNode(tau=2.0, step_mode="m"),
        layer.SeqToANNContainer(nn.Conv2d(3, 3, 3, padding=1)),
        layer.ThresholdDependentBatchNorm2d(alpha=1.0, v_th=1.0, num_features=3),
        neuron.IFNode(step_mode="m"),
        layer.SeqToANNContainer(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(27, 4)),
        neuron.LIFNode(tau=2.0, v_threshold=0.5, step_mode="m"))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(0.0, 0.3)
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(5.0)
            if isinstance(m, nn.Linear):
                m.weight.mul_(4.0)
                m.bias.fill_(0.2)
    net.eval()
    x = _x(5, 12).astype(np.float32)
    functional.reset_net(net)
    with torch.no_grad():
        want = net(torch.as_tensor(x).transpose(0, 1)).transpose(0, 1).numpy()
    graph = from_module(net, SHAPE)
    got = run_reference(graph, x, dtype=np.float32)["output"]
    assert want.sum() > 20
    np.testing.assert_array_equal(got, want)


class SJBasicBlock(nn.Module):
    """SpikingJelly's sew_resnet.BasicBlock as written there (its module imports torchvision,
    which this project does not install): layer.Conv2d / BatchNorm2d, neurons, sew_function."""

    def __init__(self, channels: int, cnf: str):
        from spikingjelly.activation_based import layer, neuron

        super().__init__()
        self.conv1 = layer.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1, self.sn1 = layer.BatchNorm2d(channels), neuron.IFNode()
        self.conv2 = layer.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2, self.sn2 = layer.BatchNorm2d(channels), neuron.IFNode()
        self.downsample, self.cnf = None, cnf

    def forward(self, x):
        identity = x
        out = self.sn1(self.bn1(self.conv1(x)))
        out = self.sn2(self.bn2(self.conv2(out)))
        if self.downsample is not None:
            identity = self.downsample_sn(self.downsample(x))
        return sew_function(identity, out, self.cnf)


def sew_function(x: torch.Tensor, y: torch.Tensor, cnf: str):
    """spikingjelly.activation_based.model.sew_resnet.sew_function (SpikingJelly 0.0.0.1.0)."""
    if cnf == "ADD":
        return x + y
    elif cnf == "AND":
        return x * y
    elif cnf == "IAND":
        return x * (1.0 - y)
    else:
        raise NotImplementedError


@pytest.mark.parametrize("cnf", ["ADD", "AND", "IAND"])
def test_spikingjelly_sew_block(cnf):
    from spikingjelly.activation_based import functional, neuron

    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), neuron.IFNode(), SJBasicBlock(3, cnf),
                        nn.Flatten(), nn.Linear(3 * dm.H * dm.H, 4), neuron.IFNode(v_threshold=0.5))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(0, 0.3)
                m.bias.uniform_(-0.3, 0.0)
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(4.0)
    net.eval()
    x = _x(6, 12).astype(np.float32)
    functional.reset_net(net)
    with torch.no_grad():
        want = torch.stack([net(torch.as_tensor(x[:, t])) for t in range(x.shape[1])], 1)
    got = run_reference(from_module(net, SHAPE), x, dtype=np.float32)["output"]
    assert want.sum() > 5
    np.testing.assert_array_equal(got, want.numpy())


def test_snntorch_init_hidden_residual():
    import snntorch

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(5, 7), snntorch.Leaky(beta=0.8, init_hidden=True)
            self.fc2, self.lif2 = nn.Linear(7, 7), snntorch.Leaky(beta=0.8, init_hidden=True)
            self.fc3 = nn.Linear(7, 3)
            self.lif3 = snntorch.Leaky(beta=0.9, init_hidden=True, output=True)

        def forward(self, x):
            s1 = self.lif1(self.fc1(x))
            s2 = self.lif2(self.fc2(s1))
            spk, _ = self.lif3(self.fc3(s1 + s2))
            return spk

    torch.manual_seed(2)
    net = Res()
    for fc in (net.fc1, net.fc2, net.fc3):
        fc.weight.data.mul_(2.0)
    x = np.random.default_rng(3).random((8, 15, 5)).astype(np.float32)
    want = _torch(net, x)
    got = run_reference(from_module(net, (5,)), x, dtype=np.float32)["output"]
    assert want.sum() > 5
    np.testing.assert_array_equal(got, want)


def test_refusals_name_the_node():
    class Relu(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.sigmoid(self.fc(x))

    with pytest.raises(UnsupportedOp, match="node 'sigmoid'.*forward calls sigmoid"):
        from_module(Relu(), (4,))

    conv_pool = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2))
    with pytest.raises(UnsupportedOp, match="module '1'.*not a spiking layer's output"):
        from_module(conv_pool, SHAPE)

    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(4, 4), snc.LIF(4)

        def forward(self, x):
            return self.lif(self.fc(x)) * x

    with pytest.raises(UnsupportedOp, match="'input', which is not a spiking layer's output"):
        from_module(Gate(), (4,))

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(4, 4), snc.LIF(4)

        def forward(self, x):
            return self.lif(self.fc(self.lif(self.fc(x))))

    with pytest.raises(UnsupportedOp, match="called twice"):
        from_module(Shared(), (4,))


def test_sequential_with_batchnorm_and_maxpool_loads_safely(tmp_path):
    """nn.BatchNorm2d and nn.MaxPool2d are on the safe unpickler's list: no --trust-pickle."""
    net = dm.initialize(nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3),
                                      snc.LIF((3, dm.H, dm.H), beta=0.8, threshold=0.5),
                                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(27, 4),
                                      snc.LIF(4, beta=0.8, threshold=0.5)), False)
    snc.save(net, tmp_path / "net.pt", SHAPE)
    report = api.verify(tmp_path / "net.pt", _x(), target="emu")
    assert report.passed and report.source_agreement == 1.0


@pytest.mark.parametrize(("block", "target"), [("ADD", "emu"), ("IAND", "emu"), ("MS", "emu"),
                                               ("ADD", "loihi2")])
def test_residual_blocks_from_nir_files(block, target, tmp_path):
    """The blocks written as NIR files (SEW ADD: two synapse groups into one population, which
    used to fail as "synapse name ... is taken twice"); the file's reference equals torch's
    forward, and with exact weights the emulator (and Lava) equal it spike for spike."""
    import nir

    from snncompile.frontends.nir import to_nir

    net = dm.initialize(MODELS[block](True), True)
    nir.write(tmp_path / "net.nir", to_nir(from_module(net, SHAPE)))
    x = _x(4, 8)
    graph = api.load(tmp_path / "net.nir")
    np.testing.assert_array_equal(run_reference(graph, x)["output"], _torch(net, x))
    report = api.verify(tmp_path / "net.nir", x, target=target, max_count_error=0.0,
                        min_train_agreement=1.0)
    assert report.passed, report.to_dict()
    assert all(layer.agreement == 1.0 for layer in report.layers)
    assert target == "emu" or report.backend_mismatches == 0


def test_conv_layer_whose_bias_fires_early_is_lowered_flat():
    """A BatchNorm shift that fires a conv layer before its input arrives (an IF integrating
    +1/2 per step) moves that bias to the bias clock, a Dense: the layer is lowered flat (it used
    to fail as "sums inputs of different shapes"), and with exact weights the emulator still
    equals the reference in every layer."""
    net = dm.initialize(dm.SEWNet("IAND", True), True)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.fill_(0.5)
    graph = from_module(net, SHAPE)
    hw_graph, _ = api.lower(graph, "emu")
    assert hw_graph.meta.get("bias_clock")
    assert any(len(hw_graph.nodes[n].shape) == 1 for n in ("block.sn1", "block.sn2"))
    x = _x()
    ref, emu = run_reference(graph, x, record=True), run_emulator(hw_graph, x, record=True)
    assert ref["output"].sum() > 5
    for n in graph.of_kind("neuron"):
        np.testing.assert_array_equal(emu.spikes[n], ref[n])


def test_a_sum_as_the_model_output_is_refused():
    class Sum(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(4, 3), snc.LIF(3, threshold=0.2)
            self.fc2, self.lif2 = nn.Linear(4, 3), snc.LIF(3, threshold=0.2)

        def forward(self, x):
            return self.lif1(self.fc1(x)) + self.lif2(self.fc2(x))

    with pytest.raises(UnsupportedOp, match="its output is the sum lif1 \\+ lif2; a graph"):
        from_module(Sum(), (4,))
