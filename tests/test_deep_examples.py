"""The shipped deep-SNN examples (examples/sew_resnet, examples/spikformer): the committed models
load (a user's classes: trust_pickle), the reference equals the trainer's forward, and the
emulator keeps the accuracy the READMEs report (on the first 120 test samples, for speed)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from conftest import REPO

import snncompile.nn as snn
from snncompile import api
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference
from snncompile.verify import predictions

N = 120


@pytest.fixture(scope="module")
def digits():
    sys.path[:0] = [str(REPO / "examples" / "digits"), str(REPO / "examples" / "sew_resnet"),
                    str(REPO / "examples" / "spikformer")]
    from data import load_split

    _, _, x, y = load_split()
    return x[:N].reshape(N, -1, 8, 8).astype(np.float64), y[:N]


def _emulator(path, x) -> np.ndarray:
    hw_graph = api.compile_model(path, trust_pickle=True).hw_graph
    return run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]]


@pytest.mark.slow
def test_sew_resnet_example(digits):
    x, y = digits
    x = x[:, :, None]  # (n, T, 1, 8, 8)
    path = REPO / "examples" / "sew_resnet" / "sew_resnet.pt"
    graph = api.load(path, trust_pickle=True)
    from snncompile.frontends.torch_file import read_module

    module = read_module(path, trust_pickle=True)[0].eval()
    with torch.no_grad():
        framework = snn.run(module, torch.as_tensor(x, dtype=torch.float32)).numpy()
    ref = run_reference(graph, x.astype(np.float32), dtype=np.float32)["output"]
    assert np.mean(ref == framework) > 0.999
    float_acc = np.mean(predictions(framework) == y)
    hw_acc = np.mean(predictions(_emulator(path, x)) == y)
    assert float_acc > 0.9 and hw_acc > float_acc - 0.03, (float_acc, hw_acc)


@pytest.mark.slow
def test_spikformer_example(digits):
    from spikingjelly.activation_based import functional

    from snncompile.frontends.torch_file import read_module

    x, y = digits
    path = REPO / "examples" / "spikformer" / "spikformer.pt"
    module = read_module(path, trust_pickle=True)[0].eval()
    functional.reset_net(module)
    with torch.no_grad():
        xs = torch.as_tensor(x, dtype=torch.float32).transpose(0, 1)
        framework = module(xs).transpose(0, 1).numpy()
    ref = run_reference(api.load(path, trust_pickle=True), x.astype(np.float32),
                        dtype=np.float32)["output"]
    assert np.mean(ref == framework) > 0.999
    float_acc = np.mean(predictions(framework) == y)
    hw_acc = np.mean(predictions(_emulator(path, x)) == y)
    assert float_acc > 0.85 and hw_acc > float_acc - 0.05, (float_acc, hw_acc)


def test_sew_resnet_qat_example_passes_default_verify(digits):
    """The QAT SEW-ResNet (examples/sew_resnet/train_qat.py: BatchNorm folding mirrored, dyadic
    grids) passes `verify` with the default options on 40 test samples: the trainer's model and
    the float reference agree exactly, the emulator keeps the accuracy and nearly every spike
    (measured on all 360: output spike-train agreement 0.9967; the original model fails at
    0.559), and the compiled weights and biases carry no rounding error."""
    x, y = digits
    path = REPO / "examples" / "sew_resnet" / "sew_resnet_qat.pt"
    report = api.verify(path, x[:40, :, None], "emu", labels=y[:40], trust_pickle=True)
    assert report.passed, report
    checks = {c.name: c.value for c in report.checks}
    assert checks["source vs float reference mismatch"] == 0
    assert checks["output spike-train agreement"] > 0.98
    build = api.build(path, trust_pickle=True)
    errors = [s.max_err_thr for q in build.report.layers for s in q.synapses]
    assert max(errors) < 1e-12 and max(q.bias_err_thr for q in build.report.layers) < 1e-12
