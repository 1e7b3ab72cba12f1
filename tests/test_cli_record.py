"""`run --record u,v,spikes` writes every layer's state per step: the emulator's for an emu build,
Lava's own (the generated program's probes) for a loihi2 build, and the two are equal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_cli import DIGITS, assert_one_sentence_error, snncompile


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("record")
    for target in ("emu", "loihi2"):
        result = snncompile(DIGITS, "-t", target, "-o", folder / target)
        assert result.returncode == 0, result.stderr
    return folder


def test_emu_and_lava_recordings_are_equal(builds, digits_inputs):
    x = np.load(digits_inputs[0])[:4]
    np.save(builds / "x.npy", x)
    files = {}
    for target in ("emu", "loihi2"):
        out = builds / f"y_{target}.npy"
        result = snncompile("run", builds / target, "-i", builds / "x.npy", "-o", out,
                            "--record", "u,v,spikes")
        assert result.returncode == 0, result.stderr
        files[target] = np.load(out.with_suffix(".record.npz"))
        y = np.load(out)
        np.testing.assert_array_equal(files[target]["spikes:3"], y)  # the output layer
    emu, lava = files["emu"], files["loihi2"]
    assert sorted(emu.files) == sorted(lava.files) == [
        "spikes:1", "spikes:3", "u:1", "u:3", "v:1", "v:3"]
    for key in emu.files:
        assert emu[key].shape[:2] == (4, 16), key
        np.testing.assert_array_equal(emu[key], lava[key], err_msg=key)
    assert emu["v:1"].any() and emu["spikes:1"].any()


def test_record_choices_and_refusals(builds, tmp_path, digits_inputs):
    x = np.load(digits_inputs[0])[:2]
    np.save(tmp_path / "x.npy", x)
    result = snncompile("run", builds / "emu", "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy",
                        "--record", "v", "--record-out", tmp_path / "v.npz")
    assert result.returncode == 0, result.stderr
    assert sorted(np.load(tmp_path / "v.npz").files) == ["v:1", "v:3"]
    bad = snncompile("run", builds / "emu", "-i", tmp_path / "x.npy", "-o", tmp_path / "z.npy",
                     "--record", "w")
    assert_one_sentence_error(bad, "cannot record w", "u, v, spikes")
    assert not (tmp_path / "z.npy").exists()


@pytest.mark.parametrize("model", ["dense", "dense_biased", "braille"])
def test_run_is_the_same_sample_by_sample_at_batch_7_8_9_and_17(tmp_path, model):
    """The emulator's loops chosen by batch size and recording: `run` at batch 7, 8, 9 and 17,
    with --record and without, gives each sample the same output spikes and u, v, spikes
    records (issue 20 rerun: also at 129, by hand). dense: fast.py, its 6-neuron output layer
    in narrow_lif from 8 samples without records; dense_biased (a bias clock): compiled_steps,
    batched_steps from 8; braille (recurrent): batched_steps from 8."""
    import torch
    from cli_inprocess import invoke

    import snncompile.nn as snc

    if model.startswith("dense"):
        torch.manual_seed(0)
        bias = model == "dense_biased"
        net = torch.nn.Sequential(torch.nn.Linear(24, 32, bias=bias),
                                  snc.CubaLIF(32, alpha=0.7, beta=0.8),
                                  torch.nn.Linear(32, 6, bias=bias),
                                  snc.CubaLIF(6, alpha=0.7, beta=0.8))
        with torch.no_grad():
            net[0].weight.mul_(3)
            net[2].weight.mul_(3)
        snc.save(net, tmp_path / "m.pt", (24,))
        source, width = tmp_path / "m.pt", 24
    else:
        source = Path(__file__).parent / "data/nir-paper/03_rnn/braille_noDelay_bias_zero.nir"
        width = 12
    assert invoke("compile", source, "-t", "emu", "-o", tmp_path / "b")[0] == 0
    x = (np.random.default_rng(3).random((17, 12, width)) < 0.3).astype(np.float32)
    want: dict = {}
    for batch in (17, 7, 8, 9):
        np.save(tmp_path / "x.npy", x[:batch])
        for record in (True, False):
            extra = ["--record", "u,v,spikes", "--record-out", tmp_path / "r.npz"] * record
            code, _, err = invoke("run", tmp_path / "b", "-i", tmp_path / "x.npy",
                                  "-o", tmp_path / "y.npy", *extra)
            assert code == 0, err
            got = {"out": np.load(tmp_path / "y.npy")}
            if record:
                got.update(np.load(tmp_path / "r.npz"))
            for key, value in got.items():
                want.setdefault(key, value)
                np.testing.assert_array_equal(value, want[key][:batch], err_msg=f"{key} {batch}")
    assert want["out"].sum() > 20 and len(want) == 7
