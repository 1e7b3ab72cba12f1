"""`snncompile run --workers N` (issue 18): the samples of a build folder run in local worker
processes give the one-process outputs exactly, with progress (samples done out of all) on a
terminal; options that write one file for the whole run are refused with shards."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from test_cli import assert_one_sentence_error, snncompile
from test_cli_shell import _on_a_terminal

DIGITS = Path(__file__).parent.parent / "examples" / "digits" / "digits.pt"


def test_run_with_workers_equals_one_process_and_shows_progress(tmp_path, digits_inputs):
    x_path, _ = digits_inputs
    build = tmp_path / "build"
    assert snncompile(DIGITS, "-o", build).returncode == 0
    x = np.load(x_path)[:60]
    np.save(tmp_path / "x.npy", x.transpose(1, 0, 2))  # snnTorch's (time, batch, ...) layout
    one = snncompile("run", build, "-i", tmp_path / "x.npy", "--layout", "tbn", "-o",
                     tmp_path / "one.npy")
    assert one.returncode == 0, one.stderr
    shown = _on_a_terminal("run", str(build), "-i", str(tmp_path / "x.npy"), "--layout", "tbn",
                           "-o", str(tmp_path / "two.npy"), "--workers", "2")
    assert re.search(r"samples (0|30)/60 done", shown), shown
    two = np.load(tmp_path / "two.npy")
    assert two.shape == (16, 60, 10) and np.array_equal(two, np.load(tmp_path / "one.npy"))


def test_a_whole_run_file_with_workers_is_refused(tmp_path, digits_inputs):
    """Refused before the folder is read, so any folder shows it."""
    x_path, _ = digits_inputs
    build = tmp_path / "build"
    build.mkdir()
    result = snncompile("run", build, "-i", x_path, "-o", tmp_path / "y.npy", "--record", "v",
                        "--workers", "2")
    assert_one_sentence_error(result, "--record writes one file for the whole run")
    assert not (tmp_path / "y.npy").exists()
