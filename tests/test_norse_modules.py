"""Norse nets give the same spikes in Norse and in the reference (read with from_module).

Precision: Norse computes in float32, so the reference runs in float32 too. The arithmetic is
not Norse's op for op (Norse computes v + dt tau_mem_inv ((v_leak - v) + i) and i + (-dt
tau_syn_inv i); the reference folds these into a v + c + b i, and the potential is shifted by
-v_leak), so membranes agree within float32 rounding: asserted within 1e-5 + 2e-6 |v|. Spikes
could then differ only where a potential lands within a few ulps of the threshold (rare, and
fixed seeds keep the tests deterministic); they are asserted exactly equal. Norse modules cannot
be saved whole with torch.save (their parameter tuples are generated classes), so there is no
.pt test here.
"""

from __future__ import annotations

import norse.torch as nt
import numpy as np
import pytest
import torch
from norse.torch.functional.reset import reset_subtract

from snncompile.errors import UnsupportedOp
from snncompile.frontends.torch_modules import from_module
from snncompile.sim.reference import run_reference

N_IN, N_HID, N_OUT, T, BATCH = 10, 32, 8, 60, 6


def _lif(n: int, per_neuron: bool, **kw) -> nt.LIFParameters:
    if per_neuron:  # per-neuron time constants, as a trained Norse model may hold
        kw.setdefault("tau_mem_inv", 60.0 + 80.0 * torch.rand(n))
        kw.setdefault("tau_syn_inv", 150.0 + 100.0 * torch.rand(n))
    return nt.LIFParameters(**{k: torch.as_tensor(v) for k, v in kw.items()})


def _cell(kind: str, n: int, dt: float, per_neuron: bool, **kw) -> torch.nn.Module:
    if kind == "LIFBoxCell":
        reset = kw.pop("reset_method", None)
        p = nt.LIFBoxParameters(**{k: torch.as_tensor(v) for k, v in kw.items()},
                                **({"reset_method": reset} if reset else {}))
        return nt.LIFBoxCell(p, dt=dt)
    return nt.LIFCell(_lif(n, per_neuron, **kw), dt=dt)


def _net(kind: str, gain: float, dt: float = 1e-3, per_neuron: bool = False, seed: int = 2,
         **kw) -> nt.SequentialState:
    torch.manual_seed(seed)
    net = nt.SequentialState(torch.nn.Linear(N_IN, N_HID),
                             _cell(kind, N_HID, dt, per_neuron, **dict(kw)),
                             torch.nn.Linear(N_HID, N_OUT),
                             _cell(kind, N_OUT, dt, per_neuron, **dict(kw)))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(gain)
    return net


def _norse_run(net: nt.SequentialState, x: np.ndarray) -> tuple[dict, dict]:
    """Spikes and (post-reset) membranes of layers '1' and '3', one Norse step at a time."""
    spikes, mems = {"1": [], "3": []}, {"1": [], "3": []}
    state: dict = {}
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = torch.as_tensor(x[:, t])
            for name, m in net.named_children():
                if name in spikes:
                    h, state[name] = m(h, state.get(name))
                    spikes[name].append(h.numpy().copy())
                    mems[name].append(state[name].v.expand_as(h).numpy().copy())
                else:
                    h = m(h)
    return ({k: np.stack(v, 1) for k, v in spikes.items()},
            {k: np.stack(v, 1) for k, v in mems.items()})


def _inputs(seed: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).random((BATCH, T, N_IN)) < 0.3).astype(np.float32)


CASES = [  # (kind, weight gain, dt, per-neuron params, parameters)
    ("LIFCell", 8.0, 1e-3, False, {}),
    ("LIFCell", 6.0, 1e-3, True, {"v_leak": 0.1, "v_th": 0.9, "v_reset": -0.1}),
    ("LIFCell", 8.0, 2e-3, True, {}),
    ("LIFBoxCell", 40.0, 1e-3, False, {}),
    ("LIFBoxCell", 20.0, 2e-3, False, {"v_leak": 0.2, "v_reset": 0.1, "v_th": 0.8}),
    ("LIFBoxCell", 20.0, 2e-3, False, {"reset_method": reset_subtract}),
]


@pytest.mark.parametrize("kind,gain,dt,per_neuron,params", CASES)
def test_from_module_matches_norse(kind, gain, dt, per_neuron, params) -> None:
    net = _net(kind, gain, dt, per_neuron, **params)
    x = _inputs()
    spikes, mems = _norse_run(net, x)
    for name, s in spikes.items():
        assert 0.02 < s.mean() < 0.8, f"layer {name} fires at {s.mean()}: vacuous test"
    ref = run_reference(from_module(net, (N_IN,), dt=dt), x, record=True, state=True,
                        dtype=np.float32)
    v_leak = params.get("v_leak", 0.0)
    for name, expected in spikes.items():
        np.testing.assert_allclose(ref[f"{name}:v"], mems[name] - v_leak, rtol=2e-6, atol=1e-5)
        np.testing.assert_array_equal(ref[name], expected)


def test_lif_over_time_matches_cells() -> None:
    """norse LIF (time-first input, whole sequence) maps like LIFCell, and its spikes match."""
    torch.manual_seed(5)
    net = nt.SequentialState(torch.nn.Linear(N_IN, N_HID), nt.LIF(),
                             torch.nn.Linear(N_HID, N_OUT), nt.LIF())
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(8.0)
    x = _inputs(6)
    with torch.no_grad():
        out, _ = net(torch.as_tensor(x).transpose(0, 1).contiguous())
    out = out.transpose(0, 1).numpy()
    assert 0.02 < out.mean() < 0.8
    ref = run_reference(from_module(net, (N_IN,)), x, dtype=np.float32)
    np.testing.assert_array_equal(ref["output"], out)


def test_refusals_name_module_and_parameter() -> None:
    lin = torch.nn.Linear(3, 2)
    with pytest.raises(UnsupportedOp, match=r"module '1'.*LIBoxCell.*outputs its membrane"):
        from_module(nt.SequentialState(lin, nt.LIBoxCell()), (3,))
    with pytest.raises(UnsupportedOp, match=r"LIFCell has dt=0.001 but the graph's dt is 0.002"):
        from_module(nt.SequentialState(lin, nt.LIFCell()), (3,), dt=2e-3)
    box = nt.LIFBoxCell(nt.LIFBoxParameters(v_leak=torch.tensor(0.1), reset_method=reset_subtract))
    with pytest.raises(UnsupportedOp, match=r"reset_subtract and v_leak != 0"):
        from_module(nt.SequentialState(lin, box), (3,))
