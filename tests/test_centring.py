"""Floor centring (passes/centring.py): the bias that cancels Lava's floor of each step's fan-in
sum, half a unit per flooring synapse without data, or measured on calibration input
(--calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import api
from snncompile.errors import SnnCompileError
from snncompile.ir import hw_ops as hw
from snncompile.ir import nn_ops as nn
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.passes.centring import measured_loss
from snncompile.sim.emulator import simulate
from snncompile.sim.reference import run_reference
from snncompile.sim.timing import synaptic_depths

N_IN, N_OUT, THR = 40, 6, 5.0


def quiet_layer(seed: int = 3) -> Graph:
    """A Dense into a LIF that never spikes (threshold far above its input): v is the leaky sum
    of the input in the float model and on the chip, so the floors' drift shows in v alone."""
    w = np.random.default_rng(seed).normal(0, 0.2, (N_OUT, N_IN))
    lif = nn.LIF(tau=np.full(N_OUT, 10e-3), r=np.full(N_OUT, 10.0), v_leak=np.zeros(N_OUT),
                 v_threshold=np.full(N_OUT, THR), v_reset=np.zeros(N_OUT))
    return Graph("nn", {"in": nn.Input((N_IN,)), "fc": nn.Linear(w), "lif": lif,
                        "out": nn.Output((N_OUT,))},
                 [("in", "fc"), ("fc", "lif"), ("lif", "out")], dt=1e-3)


def sparse(seed: int, rate: float = 0.01, batch: int = 8, steps: int = 200) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, steps, N_IN)) < rate).astype(np.float64)


def bias_units(op: hw.LIF) -> np.ndarray:
    """The neuron bias in a_in units (64 raw v units each), per neuron."""
    return np.broadcast_to(op.bias_mant * 2.0**np.asarray(op.bias_exp), (N_OUT,)) / 64.0


def test_measured_loss_is_the_mean_of_what_the_shift_drops():
    """Against float arithmetic: sum * 2^e - floor(sum * 2^e), averaged over the steps, for
    spikes, signed graded payloads and a DelayDense's per-delay shifts."""
    rng = np.random.default_rng(0)
    w = rng.integers(-255, 256, (7, 30))
    rows = rng.integers(-127, 128, (500, 30)) * (rng.random((500, 30)) < 0.1)
    for e in (-1, -3, -7):
        exact = rows @ w.T * 2.0**e
        np.testing.assert_allclose(measured_loss(w, e, rows), (exact - np.floor(exact)).mean(0))
    delays = rng.integers(0, 3, w.shape)
    want = sum(((rows @ np.where(delays == k, w, 0).T * 2.0**-4) % 1.0).mean(0) for k in range(3))
    np.testing.assert_allclose(measured_loss(w, -4, rows, delays), want)
    assert not measured_loss(w, 0, rows).any()


def test_calibration_sets_each_neurons_bias_to_its_measured_loss():
    """With calibration input the centring bias of each neuron is the loss its floored synapses
    show on that input (recomputed here from the compiled weights), the same compile twice
    gives the same hw graph, and without calibration the data-free bias is kept."""
    g, cal = quiet_layer(), sparse(seed=1)
    plain, _ = api.lower(g, "emu", weight_split=True)
    tuned, _ = api.lower(g, "emu", weight_split=True, calibration=cal)
    again, _ = api.lower(g, "emu", weight_split=True, calibration=cal.copy())
    assert text.dumps(tuned) == text.dumps(again)
    floored = [n for n in tuned.predecessors("lif") if tuned.nodes[n].weight_exp < 0]
    assert floored
    rows = cal.reshape(-1, N_IN)
    sums = [rows @ tuned.nodes[n].weights.T * 2.0**tuned.nodes[n].weight_exp for n in floored]
    want = sum((acc - np.floor(acc)).mean(0) for acc in sums)
    bias = bias_units(tuned.nodes["lif"])
    np.testing.assert_allclose(bias, want, atol=1 / 64)  # the bias grid: 1/64 a_in unit
    data_free = bias_units(plain.nodes["lif"])
    assert np.all(data_free > 0.3) and np.all(bias < data_free / 2)  # sparse: far less lost


def test_calibrated_centring_follows_the_float_model_on_sparse_input():
    """On sparse input (1 % of the inputs spike) the data-free bias over-corrects: v drifts up
    against the float reference; calibrated on other sparse samples, v's mean error is at least
    3x smaller."""
    g = quiet_layer()
    x = sparse(seed=2)
    ref = run_reference(g, x, state=True)["lif:v"] / THR  # in thresholds
    errors = {}
    for name, cal in (("data-free", None), ("calibrated", sparse(seed=9))):
        hw_graph, _ = api.lower(g, "emu", weight_split=True, calibration=cal)
        k, steps = synaptic_depths(hw_graph)["lif"], x.shape[1]
        run = simulate(hw_graph, x, steps + k, record=True)
        assert not run.spikes["lif"].any()
        v = run.v["lif"][:, k:k + steps] / (64.0 * hw_graph.nodes["lif"].vth)
        errors[name] = float(np.mean(v - ref))
    assert errors["data-free"] > 0 and abs(errors["calibrated"]) < errors["data-free"] / 3, errors


@pytest.mark.parametrize("shape", [(4, 20), (4, 20, 3, 2)])
def test_calibration_of_the_wrong_shape_is_one_sentence(shape):
    with pytest.raises(SnnCompileError, match=r"shape .* reads .* \(samples, steps, 40\)"):
        api.lower(quiet_layer(), "emu", calibration=np.zeros(shape))


def test_calibration_reaches_the_quantizer_of_a_pt_model():
    """`--calibration` is no longer an ONNX-only front-end option: for a .pt model it goes to the
    quantizer (its shape checked against the model's input), and changes the centring biases."""
    from pathlib import Path

    digits = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits.pt"
    cal = (np.random.default_rng(0).random((4, 16, 64)) < 0.2).astype(np.float32)
    plain = api.build(digits, "emu", weight_split=True).hw_graph
    tuned = api.build(digits, "emu", weight_split=True, calibration=cal).hw_graph
    layers = [n for n, op in plain.nodes.items() if isinstance(op, hw.LIF)]
    assert any(not np.array_equal(plain.nodes[n].bias_mant, tuned.nodes[n].bias_mant)
               for n in layers)
    with pytest.raises(SnnCompileError, match=r"calibration data has shape \(4, 16, 63\)"):
        api.build(digits, "emu", calibration=cal[..., :63])
