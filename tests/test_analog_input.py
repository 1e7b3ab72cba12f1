"""Analog (direct) input (issue 14): real values into the first synapses, quantized to int8
graded spikes. The trainer's own forward (snnTorch, onnxruntime's ANN) on the same real input is
the reference; Lava (Dense/Conv with num_message_bits > 0) equals the emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import snntorch
import torch
from cli_inprocess import assert_refused, invoke

import snncompile.nn as snc
from snncompile import api
from snncompile.errors import InputError, SnnCompileError
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.passes.analog import with_input_kind
from snncompile.progress import AssumptionNotice
from snncompile.sim.emulator import run_emulator

ROOT = Path(__file__).resolve().parents[1]


def snntorch_net() -> torch.nn.Sequential:
    """snnTorch's default Leaky (delayed subtraction) behind a Linear reading real values."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(20, 32), snntorch.Leaky(beta=0.9, init_hidden=True),
        torch.nn.Linear(32, 5), snntorch.Leaky(beta=0.9, init_hidden=True, output=True))
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(3.0)
    return net.eval()


def features(batch: int, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (batch, steps, 20)).astype(np.float32)


def test_quantize_rule_is_round_to_nearest_and_clip():
    op = hw.AnalogInput((3,), scale=0.5, bits=4)  # qmax 7
    x = np.array([[[-10.0, 0.26, 1.24]], [[0.74, 3.4, -3.6]]])
    want = [[[-7, 1, 2]], [[1, 7, -7]]]  # independent: x / 0.5 rounded, clipped to +-7
    np.testing.assert_array_equal(op.quantize(x), want)
    assert op.quantize(x).dtype == np.int8


def test_snntorch_analog_input_on_loihi2_verifies():
    """verify on real features: snnTorch == float reference exactly, emulator within the gates,
    the Lava program (graded spikes into Dense) == emulator."""
    net, x = snntorch_net(), features(3, 25)
    compiled = api.compile_model(net, "loihi2", input_shape=(20,), input_kind="analog",
                                 input_range=4.0)
    node = compiled.hw_graph.nodes[compiled.hw_graph.inputs[0]]
    assert isinstance(node, hw.AnalogInput) and node.scale == pytest.approx(4.0 / 127)
    report = api.verify_build(compiled, x)
    checks = {c.name: c for c in report.checks}
    assert all(c.passed for c in report.checks), report.checks
    assert checks["source vs float reference mismatch"].value == 0
    assert checks["emulator vs loihi2: differing output entries"].value == 0
    hidden = next(layer for layer in report.layers if layer.name == "1")
    assert hidden.float_spikes > 100  # the input does drive the network


def test_verify_turns_to_analog_by_itself_and_spikes_refuse_it(tmp_path):
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(20, 16), snc.LIF(16), torch.nn.Linear(16, 4),
                              snc.LIF(4))
    snc.save(net, tmp_path / "m.pt", (20,))
    x = features(2, 12)
    with pytest.warns(AssumptionNotice, match="verifying with analog input"):
        report = api.verify(tmp_path / "m.pt", x)  # no input kind given: non-binary -> analog
    assert all(c.passed for c in report.checks)
    assert next(la for la in report.layers if la.name == "1").float_spikes > 0
    with pytest.raises(InputError, match="must be binary spikes.*--input-kind analog"):
        api.verify(tmp_path / "m.pt", x, input_kind="spikes")
    with pytest.raises(SnnCompileError, match="needs its range.*--input-range"):
        api.compile_model(tmp_path / "m.pt", "emu", input_kind="analog")
    with pytest.raises(SnnCompileError, match="--input-range applies to analog input"):
        api.compile_model(tmp_path / "m.pt", "emu", input_range=2.0)


def test_signed_events_are_exact_with_range_one():
    """NeuroBench-style -1/0/+1 events: range 1 puts +-1 on +-127 exactly, so the first layer's
    input current equals W x up to the weights' own rounding."""
    net = snntorch_net()
    x = np.random.default_rng(2).choice([-1.0, 0.0, 1.0], size=(2, 15, 20), p=[0.2, 0.6, 0.2])
    graph = with_input_kind(from_module(net, (20,)), "analog", 1.0, "test")
    hw_graph, _ = api.lower(graph, "emu")
    node = hw_graph.nodes[hw_graph.inputs[0]]
    np.testing.assert_array_equal(node.quantize(x), 127 * x)
    emu = run_emulator(hw_graph, x, record=True)
    snc.reset_state(net)
    with torch.no_grad():
        want = torch.stack([net[:2](torch.tensor(x[:, t], dtype=torch.float32))
                            for t in range(x.shape[1])], 1).numpy()
    got = emu.spikes["1"].reshape(want.shape)
    assert want.sum() > 20 and abs(got.sum() - want.sum()) <= 0.05 * want.sum()


def test_weight_split_refines_the_analog_input_synapse():
    """An analog payload (up to 127) multiplies each weight's rounding error but not Lava's floor
    of the sum, so --weight-split gives the input Dense its fine twin too: the first layer's
    input current u then equals W x (float64, torch's weights) within 3 a_in units per step (two
    floors, one per Dense, and the fine grid's rounding), the coarse Dense alone 5x further off."""
    net = snntorch_net()
    x = features(2, 15, seed=4)
    graph = with_input_kind(from_module(net, (20,)), "analog", 4.0, "test")
    w = net[0].weight.detach().double().numpy()
    x_hw = np.clip(np.rint(x / (4.0 / 127)), -127, 127) * (4.0 / 127)  # the int8 input it gets
    errors = {}
    for split in (False, True):
        hw_graph, _ = api.lower(graph, "loihi2", weight_split=split)
        emu = run_emulator(hw_graph, x, record=True)
        vth = hw_graph.nodes["1"].vth
        u_units = emu.u["1"].reshape(2, 15, 32) / 64  # a_in units: 1/vth thresholds each
        errors[split] = np.abs(u_units - vth * (x_hw @ w.T)).max()
        assert ("0.fine" in hw_graph.nodes) == split
    assert errors[True] <= 3 and errors[False] > 5 * errors[True], errors


def test_onnx_cnn_analog_pixels_conv_in_lava(tmp_path):
    """ANN-to-SNN with the pixels as direct input (no rate coding): a Conv reads graded spikes;
    the converted SNN's predictions follow onnxruntime's ANN, and Lava's Conv == emulator."""
    import onnxruntime

    from snncompile.backends import loihi2
    from snncompile.verify import predictions

    sys.path.insert(0, str(ROOT / "examples" / "ann_conversion"))
    from train import load_images

    x_train, _, x_test, _ = load_images()
    model = ROOT / "examples" / "ann_conversion" / "digits_cnn.onnx"
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ann = session.run(None, {session.get_inputs()[0].name: x_test[:48]})[0].argmax(1)
    compiled = api.compile_model(model, "loihi2", calibration=x_train, input_kind="analog")
    hw_graph = compiled.hw_graph
    assert isinstance(hw_graph.nodes[hw_graph.inputs[0]], hw.AnalogInput)
    x = np.repeat(x_test[:48, None], 16, axis=1)  # the image held for 16 steps
    emu = run_emulator(hw_graph, x).outputs[hw_graph.outputs[0]]
    assert np.mean(predictions(emu) == ann) >= 0.9
    loihi2.write(hw_graph, tmp_path)
    lava, _ = loihi2.run_program(tmp_path, x[:1])
    np.testing.assert_array_equal(lava, emu[:1])


@pytest.mark.parametrize("target", ["loihi2", "fpga"])
def test_nir_recurrent_analog_input_verifies(third_party, target):
    """A NIR file (the NIR paper's braille RNN: recurrence, the stepwise emulator path) on real
    input: verify passes and the target's own artefact equals the emulator."""
    model = third_party / "nir-paper" / "03_rnn" / "braille_noDelay_noBias_subtract.nir"
    x = np.random.default_rng(0).normal(0, 1, (2, 40, 12))
    report = api.verify(model, x, target=target, reset="subtract", input_kind="analog")
    assert all(c.passed for c in report.checks), report.checks
    assert report.backend_mismatches == 0
    assert next(la for la in report.layers if la.name == "output").float_spikes > 50


def test_events_in_the_calibration_narrow_the_payload():
    """Calibration input whose values all lie on a coarser grid than int8 (signed -1/0/+1 events)
    gets fewer payload bits (analog.payload_bits: 2, payload +-1 instead of +-127), which lifts
    the input Dense's exponents by 7, off Lava's floor of -8, so its fine twin keeps its bits:
    the first layer's u equals W x (float64, torch's weights) over 20x closer than with
    8-bit payloads. Real-valued calibration keeps 8 bits; Lava equals the emulator."""
    from snncompile.passes.analog import payload_bits

    x = np.random.default_rng(5).choice([-1.0, 0.0, 1.0], size=(2, 15, 20), p=[0.2, 0.6, 0.2])
    assert payload_bits(x, 1.0) == 2 and payload_bits(x / 2, 0.5) == 2
    assert payload_bits(np.array([0.0, 1 / 7, -1.0]), 1.0) == 4  # the first qmax 7k: 7
    assert payload_bits(features(1, 5), 4.0) == 8
    net = snntorch_net()
    w = net[0].weight.detach().double().numpy()
    errors, builds = {}, {}
    for given in ("range", "calibration"):
        source = {"input_range": 1.0} if given == "range" else {"calibration": x}
        built = api.compile_model(net, "loihi2", input_shape=(20,), input_kind="analog",
                                  weight_split=True, **source)
        node = built.hw_graph.nodes[built.hw_graph.inputs[0]]
        assert (node.bits, node.scale) == ((8, 1 / 127) if given == "range" else (2, 1.0))
        emu = run_emulator(built.hw_graph, x, record=True)
        vth = built.hw_graph.nodes["1"].vth
        u_units = emu.u["1"].reshape(2, 15, 32) / 64
        errors[given] = np.abs(u_units / vth - x @ w.T).max()  # thresholds
        builds[given] = built
    assert errors["range"] > 20 * errors["calibration"], errors
    report = api.verify_build(builds["calibration"], x)
    checks = {c.name: c.value for c in report.checks}
    assert checks["emulator vs loihi2: differing output entries"] == 0


def test_narrow_payload_on_the_fpga(tmp_path):
    """2-bit payloads (signed events in the calibration) still travel in the RTL's 8-bit payload
    field of each input word: the fpga equals the emulator in every output entry."""
    from snncompile.backends import fpga

    x = np.random.default_rng(5).choice([-1.0, 0.0, 1.0], size=(2, 15, 20), p=[0.2, 0.6, 0.2])
    built = api.compile_model(snntorch_net(), "fpga", tmp_path / "b", input_shape=(20,),
                              input_kind="analog", weight_split=True, calibration=x)
    assert built.hw_graph.nodes[built.hw_graph.inputs[0]].bits == 2
    out, _ = fpga.run(tmp_path / "b", {}, x)
    emu = run_emulator(built.hw_graph, x)
    assert out.sum() > 5
    np.testing.assert_array_equal(out, emu.outputs[built.hw_graph.outputs[0]])


def test_payload_bits_of_a_subnormal_range():
    """Calibration values of 1e-310 (a subnormal range): qmax / range overflowed to inf, so no
    grid matched and the payload took 8 bits; the grid is x / (range / qmax), as
    AnalogInput.quantize reads it, and one value on it takes 2."""
    from snncompile.passes.analog import payload_bits

    tiny = np.full((1, 3, 4), 1e-310)
    assert payload_bits(tiny, 1e-310) == 2
    assert payload_bits(np.array([0.0, 1e-310 / 3, -1e-310]), 1e-310) == 3
    assert payload_bits(np.array([0.0, 0.3e-310, 1e-310]), 1e-310) == 8
    node = hw.AnalogInput((4,), scale=1e-310, bits=2)
    assert (node.quantize(tiny) == 1).all()


def test_two_bit_payload_of_a_quarter_range_keeps_its_scale():
    """Calibration events of 0 / +-0.25 take 2-bit payloads (qmax 1) at scale 0.25: the quantize
    pass chose the input synapses by qmax > 1 and so left their weights per payload 4x too
    large (digits at the CLI: output spike-count error 20 vs the float model). The first
    layer's u now equals W x (torch's weights) in thresholds."""
    x = np.random.default_rng(7).choice([-0.25, 0.0, 0.25], size=(2, 15, 20), p=[0.2, 0.6, 0.2])
    net = snntorch_net()
    built = api.compile_model(net, "emu", input_shape=(20,), input_kind="analog", calibration=x)
    node = built.hw_graph.nodes[built.hw_graph.inputs[0]]
    assert (node.bits, node.scale) == (2, 0.25)
    emu = run_emulator(built.hw_graph, x, record=True)
    u = emu.u["1"].reshape(2, 15, 32) / 64 / built.hw_graph.nodes["1"].vth
    want = x @ net[0].weight.detach().double().numpy().T
    assert np.abs(u - want).max() < 0.02 * np.abs(want).max(), np.abs(u - want).max()


def small_pt(folder: Path) -> Path:
    """A 20-16-4 LIF net saved as a .pt: the CLI's calibration cases below compile it."""
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(20, 16), snc.LIF(16), torch.nn.Linear(16, 4),
                              snc.LIF(4))
    snc.save(net, folder / "m.pt", (20,))
    return folder / "m.pt"


@pytest.mark.parametrize("case, value", [("subnormal", 1e-310), ("1e-30", 1e-30),
                                         ("float16_subnormal", np.float16(1e-7))])
def test_calibration_of_tiny_values_is_refused_naming_the_file(tmp_path, case, value):
    """Calibration values all 1e-310 (subnormal), 1e-30 or float16's 1.2e-7 set a range at
    which every input weight rounds to 0: the build ignored its input and verify on real data
    failed; now one sentence naming the calibration file and why, exit 2."""
    model = small_pt(tmp_path)
    cal = tmp_path / f"cal_{case}.npy"
    np.save(cal, np.full((2, 12, 20), value, dtype=np.asarray(value).dtype))
    for command in ("compile", "verify"):
        io = ["-o", tmp_path / "b"] if command == "compile" else ["-i", cal]
        line = assert_refused(invoke(command, model, "--input-kind", "analog",
                                     "--calibration", cal, *io),
                              f"calibration {cal}", "rounds to 0", "ignore its input")
        assert "\n" not in line
    assert not (tmp_path / "b").exists()


def test_calibration_all_zero_is_refused_naming_the_file(tmp_path):
    model, cal = small_pt(tmp_path), tmp_path / "zeros.npy"
    np.save(cal, np.zeros((2, 12, 20)))
    assert_refused(invoke("compile", model, "--input-kind", "analog", "--calibration", cal,
                          "-o", tmp_path / "b"), f"calibration {cal}", "positive finite")


@pytest.mark.parametrize("case", ["subnormal_and_one", "float16", "int32"])
def test_calibration_of_mixed_or_narrow_dtypes_builds_and_verifies(tmp_path, case):
    """1e-310 beside 1.0 (range 1: the subnormal values read as 0 on the 2-bit grid), float16
    and int32 calibration: a build whose verify PASSes on input of the calibration's kind."""
    model, rng = small_pt(tmp_path), np.random.default_rng(5)
    if case == "subnormal_and_one":
        x = rng.choice([1e-310, 0.0, 1.0], size=(3, 12, 20), p=[0.4, 0.3, 0.3])
    elif case == "float16":
        x = rng.normal(0, 1, (3, 12, 20)).astype(np.float16)
    else:
        x = rng.integers(-3, 4, (3, 12, 20)).astype(np.int32)
    cal, inp = tmp_path / "cal.npy", tmp_path / "x.npy"
    np.save(cal, x)
    np.save(inp, x[:2])
    code, _, err = invoke("compile", model, "--input-kind", "analog", "--calibration", cal,
                          "-o", tmp_path / "b")
    assert code == 0 and (tmp_path / "b" / "manifest.json").exists(), err
    code, out, err = invoke("verify", model, "--input-kind", "analog", "--calibration", cal,
                            "-i", inp)
    assert code == 0 and "FAIL" not in out, out + err
    assert "PASS  output spike-count error" in out


def test_verify_input_of_subnormal_values_is_refused_naming_the_verify_input(tmp_path):
    """verify measures the range on its own input when none is given: an input of 1e-310 is
    refused as the calibration is, naming the verify input (no --input-range was typed)."""
    model, x = small_pt(tmp_path), tmp_path / "x.npy"
    np.save(x, np.full((2, 12, 20), 1e-310))
    assert_refused(invoke("verify", model, "-i", x), "error: the verify input: ", "rounds to 0")
