"""`run --record u,v,spikes` writes every layer's state per step: the emulator's for an emu build,
Lava's own (the generated program's probes) for a loihi2 build, and the two are equal."""

from __future__ import annotations

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
