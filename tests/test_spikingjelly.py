"""SpikingJelly nets give the same spikes in SpikingJelly and in the reference (from_module and
.pt).

Precision: SpikingJelly computes in float32 on the CPU, so the reference runs in float32 too.
Its arithmetic is not SpikingJelly's op for op (the reference folds the decay into
a v + c + b x; SpikingJelly computes v + (x - v) / tau), and a hard-reset potential is shifted
by -v_reset, so membranes agree within float32 rounding: asserted within 1e-5 + 2e-6 |v|.
Spikes could then differ only where a potential lands within a few ulps of the threshold (rare,
and fixed seeds keep the tests deterministic); they are asserted exactly equal. A potential
exactly at the threshold fires in SpikingJelly ('>='); the mapping lowers the threshold by one
float32 ulp so the IR's '>' does the same (pinned by test_threshold_equality_fires).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_trace import run_stepwise
from spikingjelly.activation_based import functional, layer, neuron

from snncompile.errors import ModelLoadError, SnnCompileError, UnsupportedOp
from snncompile.frontends import torch_file
from snncompile.frontends.torch_modules import from_module
from snncompile.sim.reference import run_reference

N_IN, N_HID, N_OUT, T, BATCH = 10, 32, 8, 40, 6


def _neuron(kind: str, **kw) -> torch.nn.Module:
    if kind == "LIF":
        return neuron.LIFNode(**kw)
    if kind == "PLIF":
        return neuron.ParametricLIFNode(**kw)
    kw.pop("tau", None)
    kw.pop("decay_input", None)
    return neuron.IFNode(**kw)


def _net(kind: str, seed: int, gain: float, **kw) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(layer.Linear(N_IN, N_HID), _neuron(kind, **kw),
                              torch.nn.Linear(N_HID, N_OUT), _neuron(kind, **kw))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(gain)
            if isinstance(m, neuron.ParametricLIFNode):
                m.w.add_(0.3 * torch.randn(()))  # a "learned" w, not the init value
    return net.eval()


def _sj_run(net: torch.nn.Sequential, x: np.ndarray) -> tuple[dict, dict]:
    """Spikes and (post-reset) membranes of layers '1' and '3', single-step mode."""
    functional.reset_net(net)
    return run_stepwise(net, x, lambda m, h: torch.as_tensor(m.v).expand_as(h))


def _inputs(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((BATCH, T, N_IN)) < 0.3).astype(np.float32)


CASES = [  # (kind, options, weight gain); the IR's membrane is SpikingJelly's minus v_reset
    ("LIF", {"tau": 2.0}, 8.0),
    ("LIF", {"tau": 3.0, "decay_input": False}, 4.0),
    ("LIF", {"tau": 2.5, "v_reset": None}, 8.0),
    ("LIF", {"tau": 4.0, "v_reset": -0.2, "v_threshold": 0.8}, 16.0),
    ("PLIF", {"init_tau": 2.0}, 8.0),
    ("PLIF", {"init_tau": 3.0, "decay_input": False, "v_reset": None}, 4.0),
    ("IF", {}, 4.0),
    ("IF", {"v_reset": None, "v_threshold": 1.5}, 4.0),
]


def _case(kind: str, options: dict, gain: float, seed: int = 3, x_seed: int = 4):
    """A SpikingJelly net with lively spiking, an input, and SpikingJelly's spikes and membranes."""
    net = _net(kind, seed, gain, **dict(options))
    x = _inputs(x_seed)
    spikes, mems = _sj_run(net, x)
    for name, s in spikes.items():
        assert 0.02 < s.mean() < 0.8, f"layer {name} fires at {s.mean()}: vacuous test"
    return net, x, spikes, mems


def _assert_matches(ref: dict, spikes: dict, mems: dict, offset: float) -> None:
    for name, expected in spikes.items():
        np.testing.assert_allclose(ref[f"{name}:v"], mems[name] - offset, rtol=2e-6, atol=1e-5)
        np.testing.assert_array_equal(ref[name], expected)


@pytest.mark.parametrize("kind,options,gain", CASES)
def test_from_module_matches_spikingjelly(kind, options, gain) -> None:
    net, x, spikes, mems = _case(kind, options, gain)
    ref = run_reference(from_module(net, (N_IN,)), x, record=True, state=True, dtype=np.float32)
    _assert_matches(ref, spikes, mems, options.get("v_reset", 0.0) or 0.0)


def test_multi_step_mode_matches() -> None:
    """step_mode 'm' (input [T, N, ...]) gives the same spikes as the IR."""
    net, x, spikes, _ = _case(*CASES[0])
    functional.set_step_mode(net, "m")
    functional.reset_net(net)
    with torch.no_grad():
        out = net(torch.as_tensor(x).transpose(0, 1).contiguous()).transpose(0, 1).numpy()
    np.testing.assert_array_equal(out, spikes["3"])
    ref = run_reference(from_module(net, (N_IN,)), x, dtype=np.float32)
    np.testing.assert_array_equal(ref["output"], out)


def test_conv_net_in_multi_step_mode() -> None:
    """layer.Conv2d/Flatten/Linear in step_mode 'm' (input [T, N, C, H, W]), PLIF and IF."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        layer.Conv2d(2, 4, 3, padding=1, step_mode="m"), neuron.ParametricLIFNode(step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(4 * 6 * 6, 5, step_mode="m"),
        neuron.IFNode(v_reset=None, step_mode="m")).eval()
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[3].weight.mul_(2.0)
    x = (np.random.default_rng(1).random((3, T, 2, 6, 6)) < 0.3).astype(np.float32)
    with torch.no_grad():
        out = net(torch.as_tensor(x).transpose(0, 1).contiguous()).transpose(0, 1).numpy()
    assert 0.02 < out.mean() < 0.8
    ref = run_reference(from_module(net, (2, 6, 6)), x, dtype=np.float32)
    np.testing.assert_array_equal(ref["output"], out)


def test_threshold_equality_fires() -> None:
    """SpikingJelly fires at v == v_threshold; the mapped IF does too (threshold one ulp lower)."""
    net = torch.nn.Sequential(torch.nn.Identity(), neuron.IFNode(v_threshold=1.0))
    x = np.full((1, 4, 3), 0.5, dtype=np.float32)
    spikes, _ = _sj_run_single(net, x)
    np.testing.assert_array_equal(spikes[:, :, 0], [[0, 1, 0, 1]])
    ref = run_reference(from_module(net, (3,)), x, dtype=np.float32)
    np.testing.assert_array_equal(ref["output"], spikes)


def _sj_run_single(net: torch.nn.Sequential, x: np.ndarray) -> tuple[np.ndarray, None]:
    functional.reset_net(net)
    with torch.no_grad():
        out = [net(torch.as_tensor(x[:, t])).numpy() for t in range(x.shape[1])]
    return np.stack(out, 1), None


def test_saved_file_loads_safely(tmp_path) -> None:
    """A whole SpikingJelly model saved with torch.save loads through the safe allowlist."""
    net, x, spikes, _ = _case(*CASES[4])
    path = tmp_path / "sj.pt"
    torch.save(net, path)
    graph = torch_file.load(path, input_shape=(N_IN,))
    ref = run_reference(graph, x, dtype=np.float32)
    np.testing.assert_array_equal(ref["output"], spikes["3"])


def test_refusals_name_module_and_parameter() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), neuron.QIFNode())
    with pytest.raises(UnsupportedOp, match=r"module '1'.*QIFNode.*LIFNode, ParametricLIFNode"):
        from_module(net, (3,))
    lif = neuron.LIFNode()
    lif.v_threshold = torch.ones(2)
    with pytest.raises(SnnCompileError, match=r"LIFNode v_threshold=.* is not one finite number"):
        from_module(torch.nn.Sequential(torch.nn.Linear(3, 2), lif), (3,))


def test_unmapped_class_in_file_is_refused_before_unpickling(tmp_path) -> None:
    """A SpikingJelly class outside the allowlist is refused by the safe loader, naming it."""
    path = tmp_path / "qif.pt"
    torch.save(torch.nn.Sequential(layer.Linear(3, 2), neuron.QIFNode()), path)
    with pytest.raises(ModelLoadError, match=r"refused to unpickle \S*QIFNode"):
        torch_file.load(path)
