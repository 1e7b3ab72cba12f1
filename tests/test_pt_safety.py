"""Loading a .pt file never runs code from it unless the user opts in with --trust-pickle."""

from __future__ import annotations

import os

import numpy as np
import pytest
import snntorch
import torch

import snncompile.nn as snn
from snncompile.errors import ModelLoadError
from snncompile.frontends import load_model
from snncompile.sim.reference import run_reference


class SystemCall:
    """Unpickling this runs a shell command (the classic pickle exploit)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class MarkerModule(torch.nn.Sequential):
    """An unknown layer class whose unpickling (its __setstate__) writes a marker file."""

    marker = ""

    def __setstate__(self, state):
        open(state["marker"], "w").close()
        super().__setstate__(state)


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_reduce_exploit_is_refused(tmp_path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": snn.FORMAT, "model": SystemCall(f"touch {marker}")}, path)
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    message = _one_line(err)
    assert str(path) in message and "system" in message and "--trust-pickle" in message
    assert not marker.exists()
    with pytest.raises(ModelLoadError):  # opting in really runs it (so the test above means it)
        load_model(path, trust_pickle=True)
    assert marker.exists()


def test_unknown_class_is_refused_by_name(tmp_path) -> None:
    marker = tmp_path / "ran"
    model = MarkerModule(torch.nn.Linear(3, 2), snn.LIF(2))
    model.__dict__["marker"] = str(marker)
    path = tmp_path / "custom.pt"
    torch.save(model, path)
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    message = _one_line(err)
    assert "MarkerModule" in message and "--trust-pickle" in message
    assert "runs code from the file; only for files you trust" in message
    assert not marker.exists()
    graph = load_model(path, trust_pickle=True)
    assert marker.exists() and [type(op).__name__ for op in graph.nodes.values()] == [
        "Input", "Affine", "LIF", "Output"]


def test_snncompile_model_loads_and_runs_the_same(tmp_path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), snn.LIF((2, 6, 6), beta=0.8), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(18, 4), snn.CubaLIF(4, alpha=0.3, beta=0.7),
        torch.nn.Linear(4, 3), snn.IF(3, reset="subtract"))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.mul_(3.0)
    path = tmp_path / "model.pt"
    snn.save(model, path, input_shape=(1, 6, 6), dt=2e-3)
    graph = load_model(path)
    assert graph.dt == 2e-3 and graph.meta == {"source": path.name, "frontend": "torch"}
    assert [type(op).__name__ for op in graph.nodes.values()] == [
        "Input", "Conv2d", "LIF", "AvgPool2d", "Flatten", "Affine", "CubaLIF", "Affine", "IF",
        "Output"]
    x = (np.random.default_rng(0).random((4, 30, 1, 6, 6)) < 0.5).astype(np.float64)
    ref = run_reference(graph, x, record=True)
    out = snn.run(model.double(), torch.as_tensor(x)).detach().numpy()
    assert ref["5"].mean() > 0.01 and out.mean() > 0.01
    np.testing.assert_array_equal(ref[graph.outputs[0]], out)


@pytest.mark.parametrize("grad", ["surrogate_disable", "ATan.apply"])
def test_bare_snntorch_sequential_loads(tmp_path, grad: str) -> None:
    """snnTorch's default spike_grad is a closure torch.save cannot pickle at all; models that
    can be saved whole use surrogate_disable=True or a surrogate class's apply."""
    kw = ({"surrogate_disable": True} if grad == "surrogate_disable"
          else {"spike_grad": snntorch.surrogate.ATan.apply})
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 4), snntorch.Leaky(beta=0.9, init_hidden=True, **kw),
        torch.nn.Linear(4, 2), snntorch.Synaptic(alpha=0.5, beta=0.8, init_hidden=True,
                                                 reset_mechanism="zero", **kw))
    path = tmp_path / "snntorch.pth"
    torch.save(net, path)
    graph = load_model(path)
    assert graph.shapes["input"] == (5,)
    lif, cuba = graph.nodes["1"], graph.nodes["3"]
    assert type(lif).__name__ == "LIF"
    assert (lif.reset, lif.reset_timing) == ("subtract", "next_step")
    assert type(cuba).__name__ == "CubaLIF" and cuba.reset == "zero"


def test_state_dict_is_refused_with_advice(tmp_path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(ModelLoadError, match="state dict"):
        load_model(path)


def test_input_shape_needed_for_conv_first(tmp_path) -> None:
    path = tmp_path / "conv.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), snn.IF((2, 2, 2))), path)
    with pytest.raises(ModelLoadError, match="input_shape"):
        load_model(path)
    assert load_model(path, input_shape=(1, 4, 4)).shapes["1"] == (2, 2, 2)


def test_unsupported_layer_names_file_module_and_class(tmp_path) -> None:
    from snncompile.errors import UnsupportedOp

    path = tmp_path / "relu.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU()), path)
    with pytest.raises(UnsupportedOp) as err:
        load_model(path)
    message = _one_line(err)
    assert str(path) in message and "'1'" in message and "ReLU" in message


def test_getattr_is_limited_to_snntorch_methods(tmp_path) -> None:
    """snnTorch needs pickled getattr for its bound methods; nothing else may use it."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), snn.LIF(2))
    model.__dict__["hook"] = model[0].forward  # a bound method: pickled as getattr(obj, name)
    path = tmp_path / "bound.pt"
    torch.save(model, path)
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    assert "getattr:Linear.forward" in _one_line(err)


def test_garbage_file_is_one_sentence(tmp_path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    assert _one_line(err).startswith(f"{path}: not a loadable PyTorch file")


def test_module_missing_a_field_is_one_sentence(tmp_path) -> None:
    """Found by fuzzing (benchmarks/fuzz.py seed 22, bytes .pt case 22009496): a mutated pickle
    gave a Linear without its bias field; it was `internal error: AttributeError`."""
    linear = torch.nn.Linear(3, 2)
    del linear._parameters["bias"]
    path = tmp_path / "damaged.pt"
    torch.save(torch.nn.Sequential(linear, snn.IF((2,))), path)
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    message = _one_line(err)
    assert str(path) in message and "'0' (Linear)" in message and "bias" in message
