"""NeuroBench's trained keyword-spotting model (issue 14): compiles to emu, loihi2 and fpga,
`estimate` counts NeuroBench's published dense synaptic operations without any data, and its
spikes follow snnTorch's on speech (espeak-ng keywords through S2S, tests/gsc_speech.py) and on
synthetic features."""

from __future__ import annotations

import numpy as np
import pytest
from gsc_speech import load_speech, s2s_events
from neurobench_gsc import (
    LAYERS,
    PUBLISHED_DENSE,
    STEPS,
    gsc_net,
    mfcc_like,
    neurobench_class,
    on_input_grid,
    signed_events,
    snntorch_layers,
    snntorch_output,
    with_beta,
)

from snncompile import api
from snncompile.backends import loihi2
from snncompile.estimate import activity, energy
from snncompile.frontends.torch_modules import from_module
from snncompile.ir import hw_ops as hw
from snncompile.passes.analog import with_input_kind
from snncompile.sim.emulator import run_emulator


def test_dense_synops_equal_neurobench_published(third_party):
    """Data-free: the bias-clock synapses that carry the Linear biases are not model synapses."""
    hw_graph, _ = api.lower(from_module(gsc_net(third_party), (20,)), "loihi2")
    assert any(n.endswith(".bias") for n in hw_graph.nodes)  # biases do ride the bias clock
    act = activity.assume(hw_graph, STEPS, 0.1)
    assert energy.neurobench(hw_graph, act)["dense"] == PUBLISHED_DENSE


def test_compiles_to_every_target(third_party, tmp_path):
    from snncompile.backends import get_backend

    for target in ("emu", "loihi2", "fpga"):
        hw_graph, _ = api.lower(from_module(gsc_net(third_party), (20,)), target)
        (tmp_path / target).mkdir()
        files = get_backend(target).write(hw_graph, tmp_path / target)
        assert files and all((tmp_path / target / f).exists() for f in files.values())


@pytest.mark.slow
def test_spikes_follow_snntorch_on_binary_events(third_party, tmp_path):
    """snnTorch's default Leaky subtracts the previous step's spike after the leak: hw reset
    "subtract_next" (the shipped SnnLIF on loihi2) does the same, so the hidden layers' spike
    counts match snnTorch's within 1 % and the output's within 10 % (with --weight-split; the
    35-neuron output layer spikes rarely and is the most sensitive to weight rounding)."""
    x = (np.random.default_rng(0).random((8, STEPS, 20)) < 0.15).astype(np.float32)
    want, _ = snntorch_layers(third_party, x)
    hw_graph, _ = api.lower(from_module(gsc_net(third_party), (20,)), "loihi2",
                            weight_split=True)
    assert {hw_graph.nodes[n].reset for n in want} == {"subtract_next"}
    emu = run_emulator(hw_graph, x.astype(np.int8), record=True)
    for name in ("2", "4", "6"):
        assert abs(emu.spikes[name].sum() - want[name].sum()) <= 0.01 * want[name].sum(), name
    out, ref_out = emu.spikes["8"].sum(), want["8"].sum()
    assert ref_out > 40 and abs(out - ref_out) <= 0.1 * ref_out, (out, ref_out)
    agree = (neurobench_class(emu.spikes["8"]) == neurobench_class(want["8"])).mean()
    assert agree >= 0.75, agree  # 0/1 events are not its input (S2S sends signed ones)
    loihi2.write(hw_graph, tmp_path)
    lava, _ = loihi2.run_program(tmp_path, x[:1].astype(np.int8))
    np.testing.assert_array_equal(lava, emu.outputs["output"][:1])


def _snntorch(third_party, x: np.ndarray) -> dict[str, np.ndarray]:
    """snnTorch's spikes of the four layers for input x (float32, its own forward)."""
    return snntorch_layers(third_party, x)[0]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mfcc", "signed events"])
def test_spikes_follow_snntorch_on_analog_input(third_party, tmp_path, kind):
    """Direct input, as the model was trained: MFCC-like real features (scale from their own
    range) and S2S-style signed -1/0/+1 events (range 1: exact). Hidden layers within 2 % of
    snnTorch's spike counts (5 % under 1,000 spikes), the output within 10 %, and NeuroBench's
    predicted class (its own rule, ties to the first index) the same on every sample. The chip
    takes the features as int8 payloads: the class is compared with snnTorch on the features it
    receives (for events they are the features); on the raw float features the rounding alone
    moves snnTorch's own class on some samples (README), and there the class must agree
    wherever snnTorch's own class does not move. The Lava program (graded spikes into the first
    Dense) equals the emulator."""
    features = mfcc_like(4, STEPS, seed=1)
    x, rng = ((features, float(np.abs(features).max())) if kind == "mfcc"
              else (signed_events(features), 1.0))
    want, received = _snntorch(third_party, x), on_input_grid(x, rng)
    assert np.array_equal(received, x) == (kind != "mfcc")  # events exact, mfcc rounded
    graph = with_input_kind(from_module(gsc_net(third_party), (20,)), "analog", rng, "gsc")
    hw_graph, _ = api.lower(graph, "loihi2", weight_split=True)
    assert isinstance(hw_graph.nodes[hw_graph.inputs[0]], hw.AnalogInput)
    assert "1.fine" in hw_graph.nodes  # the payload makes the input Dense's fine twin pay
    emu = run_emulator(hw_graph, x, record=True)
    for name in ("2", "4", "6"):  # 2 % (5 % for a layer of under 1,000 spikes: events' third)
        ref = want[name].sum()
        assert abs(emu.spikes[name].sum() - ref) <= (0.02 if ref > 1000 else 0.05) * ref, name
    out, ref_out = emu.spikes["8"].sum(), want["8"].sum()
    assert ref_out > 100 and abs(out - ref_out) <= 0.1 * ref_out, (out, ref_out)
    ours, theirs = neurobench_class(emu.spikes["8"]), neurobench_class(want["8"])
    on_received = neurobench_class(_snntorch(third_party, received)["8"])
    np.testing.assert_array_equal(ours, on_received)  # strict, every sample
    steady = on_received == theirs
    np.testing.assert_array_equal(ours[steady], theirs[steady])
    short = x[:1, :40]
    loihi2.write(hw_graph, tmp_path)
    lava, _ = loihi2.run_program(tmp_path, short)
    np.testing.assert_array_equal(lava, run_emulator(hw_graph, short).outputs["output"])


@pytest.mark.slow
def test_spikes_follow_snntorch_on_speech(third_party, tmp_path):
    """The model's own input: S2S signed events of espeak-ng keywords (every 42nd clip: five
    words, five voices), exact on the analog input (range 1). With --weight-split the hidden
    layers are within 2 % of snnTorch's spike counts, every sample's output count within 10 %,
    and NeuroBench's class the same on each of these five (on all 210 clips: docs/neurobench.md).
    Lava == the emulator."""
    audio, _, _ = load_speech()
    x = s2s_events(audio[::42])
    want = _snntorch(third_party, x)
    graph = with_input_kind(from_module(gsc_net(third_party), (20,)), "analog", 1.0, "gsc")
    hw_graph, _ = api.lower(graph, "loihi2", weight_split=True)
    emu = run_emulator(hw_graph, x, record=True)
    for name in ("2", "4", "6"):
        ref = want[name].sum()
        assert ref > 10_000 and abs(emu.spikes[name].sum() - ref) <= 0.02 * ref, name
    out, ref_out = emu.spikes["8"].sum((1, 2)), want["8"].sum((1, 2))
    assert (ref_out > 100).all() and (np.abs(out - ref_out) <= 0.1 * ref_out).all(), (out, ref_out)
    np.testing.assert_array_equal(neurobench_class(emu.spikes["8"]), neurobench_class(want["8"]))
    word = x[:1, 90:115]  # the middle of the clip, where the word is
    assert np.abs(word).sum() > 30
    loihi2.write(hw_graph, tmp_path)
    lava, _ = loihi2.run_program(tmp_path, word)
    np.testing.assert_array_equal(lava, run_emulator(hw_graph, word).outputs["output"])


@pytest.mark.slow
def test_analog_input_on_the_fpga(third_party, tmp_path):
    """The same model with MFCC-like direct input on the fpga: the generated RTL (its graded
    input port, run on the real values, snnTorch's delayed subtraction in a last-spike memory)
    equals the emulator in every output entry."""
    from snncompile.backends import fpga

    x = mfcc_like(1, 20, seed=1)
    compiled = api.compile_model(gsc_net(third_party), "fpga", tmp_path / "b",
                                 input_shape=(20,), input_kind="analog",
                                 input_range=float(np.abs(x).max()), weight_split=True)
    resets = {compiled.hw_graph.nodes[n].reset for n in ("2", "4", "6", "8")}
    assert resets == {"subtract_next"}  # snnTorch's delayed subtraction, exact on the RTL too
    out, _ = fpga.run(tmp_path / "b", {}, x)
    emu = run_emulator(compiled.hw_graph, x, record=True)
    np.testing.assert_array_equal(out, emu.outputs[compiled.hw_graph.outputs[0]])
    assert out.sum() > 5 and emu.spikes["2"].sum() > 500


def test_calibration_centres_each_layers_floors_by_its_activity(third_party, monkeypatch):
    """Floor centring (passes/centring.py) with calibration input: the output layer, whose
    inputs spike on ~0.2 % of the steps of signed events, loses far less than the data-free
    half unit per step to the floors, so its centring bias drops by more than 0.4 a_in units;
    the first layer (16 % of its inputs active, two flooring synapses) stays within 0.15 of the
    data-free unit (tests/test_centring.py: exact values, reproducible builds). The calibrated
    headroom (passes/headroom.py, which moves vth and so the a_in unit) is held off here."""
    from snncompile.passes import headroom

    monkeypatch.setattr(headroom, "measured_ranges", lambda graph, recorded: {})
    x = signed_events(mfcc_like(8, STEPS, seed=100))
    graph = with_input_kind(from_module(gsc_net(third_party), (20,)), "analog", 1.0, "gsc")
    plain, _ = api.lower(graph, "loihi2", weight_split=True)
    tuned, _ = api.lower(graph, "loihi2", weight_split=True, calibration=x)

    def bias(g, name):  # a_in units (64 raw v units), mean over the layer
        op = g.nodes[name]
        return float(np.mean(op.bias_mant * 2.0**np.asarray(op.bias_exp))) / 64

    assert bias(plain, "8") - bias(tuned, "8") > 0.4
    assert abs(bias(plain, "2") - bias(tuned, "2")) < 0.15


@pytest.mark.slow
def test_a_twelve_bit_decay_alone_moves_snntorchs_own_classes(third_party):
    """Why the same class on every speech clip is out of reach on every target (README, issue
    14): Loihi 2 holds a decay as 12 bits of 4096, which every target keeps, and beta = 0.9 is not
    one of them; the compiler takes dv = 410 (beta 0.899902). snnTorch's own float32 forward with
    only that change moves the class of several of the 210 clips (benchmarks/gsc_sensitivity.py:
    201 of 210 kept, while its float64 forward keeps all 210; moving every weight by +-1e-4,
    less than the fine twin's grid step, keeps 201-204)."""
    hw_graph, _ = api.lower(from_module(gsc_net(third_party), (20,)), "loihi2", weight_split=True)
    for name in LAYERS:  # the four Leaky layers (the bias clock's own neuron does not decay)
        assert (np.asarray(hw_graph.nodes[name].dv) == 410).all(), name
    x = s2s_events(load_speech()[0])
    want = neurobench_class(snntorch_output(gsc_net(third_party), x))
    on_chip = with_beta(gsc_net(third_party), 1 - 410 / 4096)
    moved = int((neurobench_class(snntorch_output(on_chip, x)) != want).sum())
    assert 3 <= moved <= 30, moved
