"""npy.load_array: hostile .npy files end in one sentence naming the file, never a silent cast
(found by hand on the calibration / run inputs, issue pfuzz)."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile.errors import InputError
from snncompile.npy import load_array


def test_complex_input_is_refused_not_cast(tmp_path):
    """A cast to float would drop the imaginary parts and run on other values than given."""
    path = tmp_path / "complex.npy"
    np.save(path, np.ones((2, 3, 4)) + 1j)
    with pytest.raises(InputError, match=r"complex\.npy has dtype complex128; expected real"):
        load_array(path, "input")


def test_truncated_npy_is_named_cut_short_not_objects(tmp_path):
    """A file cut short was reported as holding Python objects."""
    whole, cut = tmp_path / "whole.npy", tmp_path / "cut.npy"
    np.save(whole, np.zeros((4, 10, 64)))
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(InputError, match=r"cut\.npy is cut short") as info:
        load_array(cut, "calibration")
    assert "Python objects" not in str(info.value)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="does not unpickle"):
        load_array(objects, "calibration")
    assert load_array(whole, "calibration").shape == (4, 10, 64)
