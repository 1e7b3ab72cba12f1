"""snncompile.nn layers (what users train) and the reference interpreter agree step by step."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import snncompile.nn as snn
from snncompile.frontends.torch_modules import from_module
from snncompile.ir.check import check
from snncompile.sim.reference import run_reference

RESETS = [("zero", "immediate"), ("subtract", "immediate"), ("zero", "next_step"),
          ("subtract", "next_step")]


def _scaled(model: torch.nn.Sequential, gain: float) -> torch.nn.Sequential:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.mul_(gain)
    return model.double()


def _dense(kind: str, reset: str, timing: str) -> torch.nn.Sequential:
    kw = {"reset": reset, "reset_timing": timing}
    layer = {
        "LIF": lambda n: snn.LIF(n, beta=torch.rand(n) * 0.5 + 0.45, **kw),
        "CubaLIF": lambda n: snn.CubaLIF(n, alpha=torch.rand(n) * 0.6, beta=0.85, **kw),
        "IF": lambda n: snn.IF(n, threshold=torch.rand(n) + 0.5, **kw),
        "RLIF": lambda n: snn.RLIF(n, beta=0.8, **kw),
    }[kind]
    return torch.nn.Sequential(torch.nn.Linear(12, 24), layer(24), torch.nn.Linear(24, 6),
                               layer(6) if kind != "RLIF" else snn.LIF(6, **kw))


def _conv(reset: str, timing: str) -> torch.nn.Sequential:
    kw = {"reset": reset, "reset_timing": timing}
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=1, padding=1), snn.LIF((4, 8, 8), beta=0.9, **kw),
        torch.nn.AvgPool2d(2), torch.nn.Conv2d(4, 4, 3, padding="same", bias=False),
        snn.IF((4, 4, 4), **kw), torch.nn.Flatten(), torch.nn.Linear(64, 5), snn.LIF(5, **kw))


def _compare(model: torch.nn.Sequential, x: np.ndarray) -> None:
    """Spikes of every neuron layer equal; potentials equal to float64 rounding."""
    graph = check(from_module(model, x.shape[2:]))
    ref = run_reference(graph, x, record=True, state=True)
    neurons = {name: m for name, m in model.named_modules() if hasattr(m, "reset_state")}
    snn.reset_state(model)
    spikes = {n: [] for n in neurons}
    volts = {n: [] for n in neurons}
    with torch.no_grad():
        for t in range(x.shape[1]):
            model(torch.as_tensor(x[:, t]))
            for n, m in neurons.items():
                spikes[n].append(m.s_prev.numpy().copy())
                volts[n].append(m.v.numpy().copy())
    for n in neurons:
        s, v = np.stack(spikes[n], 1), np.stack(volts[n], 1)
        assert 0.01 < s.mean() < 0.9, f"layer {n} fires at rate {s.mean()}: test is vacuous"
        np.testing.assert_array_equal(ref[n], s, err_msg=f"spikes of layer {n}")
        np.testing.assert_allclose(ref[f"{n}:v"], v, rtol=0, atol=1e-12, err_msg=f"v of {n}")
    out = snn.run(model, torch.as_tensor(x)).detach().numpy()
    np.testing.assert_array_equal(ref[graph.outputs[0]], out)


@pytest.mark.parametrize("reset,timing", RESETS)
@pytest.mark.parametrize("kind", ["LIF", "CubaLIF", "IF", "RLIF"])
def test_dense_models_match(kind: str, reset: str, timing: str) -> None:
    torch.manual_seed(zlib.crc32(f"{kind}{reset}{timing}".encode()))
    model = _scaled(_dense(kind, reset, timing), 2.5)
    x = (np.random.default_rng(1).random((6, 40, 12)) < 0.4).astype(np.float64)
    _compare(model, x)


@pytest.mark.parametrize("reset,timing", RESETS)
def test_conv_model_matches(reset: str, timing: str) -> None:
    torch.manual_seed(3)
    model = _scaled(_conv(reset, timing), 2.0)
    x = (np.random.default_rng(2).random((3, 25, 2, 8, 8)) < 0.5).astype(np.float64)
    _compare(model, x)


def test_recurrent_graph_has_back_edge() -> None:
    graph = from_module(_dense("RLIF", "zero", "immediate"), (12,))
    assert graph.recurrent_edges == {("1.recurrent", "1")}


def test_layers_train() -> None:
    """Surrogate gradients reach the weights and a learnable beta."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), snn.LIF(16, learn_beta=True),
                                torch.nn.Linear(16, 3), snn.CubaLIF(3, surrogate="atan"))
    _scaled(model, 3.0).float()
    counts = snn.run(model, (torch.rand(4, 20, 8) < 0.5).float()).sum(1)
    torch.nn.functional.cross_entropy(counts, torch.tensor([0, 1, 2, 0])).backward()
    assert model[0].weight.grad.abs().sum() > 0
    assert model[1].beta.grad.abs().sum() > 0


def test_op_without_rule_is_unsupported() -> None:
    from snncompile.errors import UnsupportedOp
    from snncompile.ir import hw_ops
    from snncompile.ir.graph import Graph

    graph = from_module(torch.nn.Sequential(torch.nn.Linear(3, 2), snn.LIF(2)), (3,))
    nodes = dict(graph.nodes)
    nodes["0"] = hw_ops.Dense(weights=np.ones((2, 3)))
    with pytest.raises(UnsupportedOp, match="reference interpreter: Dense"):
        run_reference(Graph("nn", nodes, graph.edges), np.zeros((1, 2, 3)))


def test_input_of_wrong_shape_is_refused() -> None:
    from snncompile.errors import InputError

    graph = from_module(torch.nn.Sequential(torch.nn.Linear(3, 2), snn.LIF(2)), (3,))
    with pytest.raises(InputError, match=r"expected \(batch, time, 3\)"):
        run_reference(graph, np.zeros((1, 2, 4)))


def test_learned_beta_is_one_per_layer_and_deploys(tmp_path) -> None:
    """learn_beta learns one decay for the layer (PLIF), so the trained model compiles to Loihi
    formats (one du/dv per population) and the reference still matches torch."""
    from snncompile import api

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), snn.LIF(6, beta=0.8, learn_beta=True))
    _scaled(model, 3.0).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(5):
        snn.run(model, (torch.rand(4, 10, 8) < 0.5).float()).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    beta = model[1].beta.detach()
    assert beta.shape == () and 0 < float(beta) < 1 and float(beta) != 0.8
    snn.save(model, tmp_path / "plif.pt", input_shape=(8,))
    result = api.compile_model(tmp_path / "plif.pt")
    x = (torch.rand(3, 12, 8) < 0.5).float()
    with torch.no_grad():
        ours = snn.run(model, x).numpy()
    ref = run_reference(result.nn_graph, x.numpy().astype(np.float64))
    np.testing.assert_array_equal(ref[result.nn_graph.outputs[0]], ours)
    per_neuron = snn.LIF(6, beta=torch.full((6,), 0.8), learn_beta=True)
    assert per_neuron.beta.shape == (6,)
