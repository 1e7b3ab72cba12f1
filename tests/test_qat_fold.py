"""QAT mirrors the compiler's BatchNorm folding and chain composition: a conv-BatchNorm-LIF stage
(its bias through the bias clock, lowered flat) and an average pool before a Linear, fake-quantized
in the folded, composed units the compiler rounds, so the finalized model compiles with no weight
rounding error at all; the prepared forward tracks the emulator where the plain model does not."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import snncompile.nn as snn
from snncompile import api
from snncompile.errors import SnnCompileError
from snncompile.frontends.torch_modules import from_module
from snncompile.nn import qat
from snncompile.sim.emulator import run_emulator

SHAPE = (1, 6, 6)


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
        snn.LIF((4, 6, 6), beta=0.8), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(36, 5),
        snn.LIF(5, beta=0.85))
    with torch.no_grad():
        bn = model[1]
        bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        bn.running_var.copy_(torch.tensor([0.5, 2.0, 1.0, 0.25]))
        bn.weight.copy_(torch.tensor([1.5, 0.7, 2.5, 1.0]))
        bn.bias.copy_(torch.tensor([0.3, 0.2, 0.4, 0.1]))
        model[0].weight.mul_(2.5)
        model[5].weight.mul_(5.0)
    return model.eval()


def _inputs() -> np.ndarray:
    return (np.random.default_rng(0).random((24, 10, *SHAPE)) < 0.4).astype(np.int8)


def _emulated(model: nn.Module, x: np.ndarray, bits: int):
    hw_graph, report = api.lower(from_module(model, SHAPE), "emu", weight_bits=bits)
    return run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]], report


def _run(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return snn.run(model, torch.as_tensor(x, dtype=torch.float32)).numpy()


@pytest.mark.parametrize("bits", [3, 8])
def test_folded_norm_and_pooled_linear_are_mirrored(bits):
    model, x = _model(), _inputs()
    emu, _ = _emulated(model, x, bits)
    prepared = qat.prepare(copy.deepcopy(model), SHAPE, "emu", bits)
    fake, plain = _run(prepared, x), _run(model, x)
    assert emu.sum() > 30
    if bits == 3:  # 3 bits move the weights visibly: the plain model is the control
        assert np.mean(plain == emu) < 0.97
    assert np.mean(fake == emu) >= 0.99, (np.mean(fake == emu), np.mean(plain == emu))
    qat.finalize(prepared)
    again, report = _emulated(prepared, x, bits)
    data = [s for q in report.layers for s in q.synapses if s.kind in ("dense", "conv")]
    assert {s.name for s in data} >= {"0", "5"}
    assert max(s.max_err_thr for s in data) < 1e-5, [(s.name, s.max_err_thr) for s in data]
    assert np.mean(_run(prepared, x) == again) >= 0.99


def test_norms_stay_in_eval_mode_while_training():
    prepared = qat.prepare(_model(), SHAPE, "emu", 4)
    prepared.train()
    with pytest.raises(SnnCompileError, match="BatchNorm .* training mode.*qat.train_mode"):
        _run(prepared, _inputs()[:2])
    qat.train_mode(prepared)
    assert prepared[0].training and not prepared[1].training
    x = torch.as_tensor(_inputs()[:4], dtype=torch.float32)
    snn.run(prepared, x).sum().backward()  # straight through the grid, into the norm's affine
    assert prepared[0].parametrizations.weight.original.grad.abs().sum() > 0
    assert prepared[1].weight.grad is not None


def test_dyadic_grid_and_baked_norm_compile_exactly():
    """dyadic=True: power-of-two vths, so the float sums are exact; finalize bakes the norm into
    the conv (the norm left bias-only): the compiled weights and biases have no rounding error,
    every layer's vth is a power of two, and the float reference breaks threshold ties as the
    trainer's torch forward does (equal output spikes)."""
    from snncompile.sim.reference import run_reference

    model, x = _model(), _inputs()
    prepared = qat.prepare(model, SHAPE, "emu", 8, dyadic=True)
    qat.finalize(prepared)
    bn = prepared[1]
    assert bn.eps == 0 and torch.all(bn.running_var == 1) and torch.all(bn.weight == 1)
    graph = from_module(prepared, SHAPE)
    hw_graph, report = api.lower(graph, "emu")
    for q in report.layers:
        assert q.vth & (q.vth - 1) == 0, (q.layer, q.vth)
        assert q.bias_err_thr < 1e-12 and all(s.max_err_thr < 1e-12 for s in q.synapses), q
    torch_out = _run(prepared, x)
    assert torch_out.sum() > 30
    assert np.array_equal(run_reference(graph, x)["output"], torch_out)
    emu = run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]]
    assert np.mean(emu == torch_out) >= 0.99
