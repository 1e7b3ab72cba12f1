"""Input layouts named and checked: btn (ours), tbn (snnTorch's time-first), nt (Lava's
time-last); an array that fits only in another layout is refused in a sentence naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli import DIGITS, assert_one_sentence_error, snncompile

from snncompile.errors import InputError
from snncompile.layouts import LAYOUTS, from_btn, to_btn

SHAPE = (2, 3)


def _btn(batch=4, steps=5) -> np.ndarray:
    return np.arange(batch * steps * 6).reshape(batch, steps, *SHAPE)


@pytest.mark.parametrize("layout, arrange", [
    ("btn", lambda x: x),
    ("tbn", lambda x: x.transpose(1, 0, 2, 3)),
    ("nt", lambda x: x.transpose(0, 2, 3, 1)),
])
def test_each_layout_round_trips(layout, arrange):
    x = _btn()
    given = arrange(x)
    np.testing.assert_array_equal(to_btn(given, layout, SHAPE, "x.npy"), x)
    np.testing.assert_array_equal(from_btn(x, layout), given)


def test_one_time_last_sample():
    x = _btn(batch=1)
    single = x[0].transpose(1, 2, 0)  # (*shape, time), as a Lava RingBuffer holds it
    np.testing.assert_array_equal(to_btn(single, "nt", SHAPE, "x.npy"), x)
    np.testing.assert_array_equal(from_btn(x, "nt", single=True), single)


def test_a_transposed_array_is_refused_naming_the_layout_it_fits():
    """Time-last and time-first differ in where the neuron axes stand, so a mix-up is caught
    (btn and tbn cannot be told apart by shape: the layout is the user's statement)."""
    nt = _btn().transpose(0, 2, 3, 1)  # (4, 2, 3, 5): time last
    with pytest.raises(InputError, match=r"fits the model only in layout nt .*not btn.*"
                                         r"--layout nt"):
        to_btn(nt, "btn", SHAPE, "x.npy")
    with pytest.raises(InputError, match=r"only in layout btn .*not nt"):
        to_btn(_btn(), "nt", SHAPE, "x.npy")
    with pytest.raises(InputError, match=r"x.npy: input has shape \(4, 5, 3, 2\) but the model "
                                         r"takes \(batch, time, 2, 3\) in layout btn"):
        to_btn(_btn().transpose(0, 1, 3, 2), "btn", SHAPE, "x.npy")
    with pytest.raises(InputError, match="unknown input layout 'ntb'"):
        to_btn(_btn(), "ntb", SHAPE, "x.npy")
    assert set(LAYOUTS) == {"btn", "tbn", "nt"}


def test_run_and_verify_in_every_layout(tmp_path, digits_inputs):
    x_path, _ = digits_inputs
    x = np.load(x_path)[:12]
    build = tmp_path / "build"
    assert snncompile(DIGITS, "-o", build).returncode == 0
    arranged = {"btn": x, "tbn": x.transpose(1, 0, 2), "nt": x.transpose(0, 2, 1)}
    outputs = {}
    for layout, array in arranged.items():
        np.save(tmp_path / f"{layout}.npy", array)
        result = snncompile("run", build, "-i", tmp_path / f"{layout}.npy", "--layout", layout,
                            "-o", tmp_path / f"y_{layout}.npy")
        assert result.returncode == 0, result.stderr
        outputs[layout] = np.load(tmp_path / f"y_{layout}.npy")
    np.testing.assert_array_equal(outputs["tbn"], outputs["btn"].transpose(1, 0, 2))
    np.testing.assert_array_equal(outputs["nt"], outputs["btn"].transpose(0, 2, 1))
    assert outputs["btn"].sum() > 0
    refused = snncompile("run", build, "-i", tmp_path / "nt.npy", "-o", tmp_path / "z.npy")
    assert_one_sentence_error(refused, "(12, 64, 16)", "only in layout nt", "--layout nt")
    reports = [json.loads(snncompile("verify", DIGITS, "-i", tmp_path / f"{layout}.npy",
                                     "--layout", layout, "--json").stdout)
               for layout in ("btn", "tbn")]
    assert reports[0]["samples"] == reports[1]["samples"] == 12
    assert reports[0]["layers"] == reports[1]["layers"]
