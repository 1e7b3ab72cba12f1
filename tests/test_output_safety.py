"""-o safety (issue 20): only an earlier snncompile build is ever replaced, never before the new
build is in place, never the user's inputs; leftovers of killed runs are cleaned; `run -o` never
overwrites its input."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_inprocess import assert_refused, invoke

from snncompile.artifacts import atomic_dir
from snncompile.errors import SnnCompileError

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_o_dot_is_refused_and_deletes_nothing(in_tmp):
    (in_tmp / "notes.txt").write_text("mine")
    assert_refused(invoke(DIGITS, "-o", "."), "working directory")
    assert (in_tmp / "notes.txt").read_text() == "mine"
    assert_refused(invoke(DIGITS, "-o", ".."), "working directory")


def test_o_symlink_is_refused_with_a_sentence(in_tmp):
    (in_tmp / "real").mkdir()
    (in_tmp / "link").symlink_to(in_tmp / "real")
    assert_refused(invoke(DIGITS, "-o", "link"), "symbolic link")


def test_o_folder_that_merely_holds_a_manifest_json_is_not_replaced(in_tmp):
    (in_tmp / "data").mkdir()
    (in_tmp / "data" / "manifest.json").write_text('{"snncompile": "0"}')
    (in_tmp / "data" / "precious.csv").write_text("1,2,3")
    assert_refused(invoke(DIGITS, "-o", "data"), "not an snncompile build folder")
    assert (in_tmp / "data" / "precious.csv").read_text() == "1,2,3"


def test_o_file_is_refused(in_tmp):
    (in_tmp / "f").write_text("x")
    assert_refused(invoke(DIGITS, "-o", "f"), "is a file")


def test_model_inside_the_build_folder_is_never_deleted(in_tmp):
    assert invoke(DIGITS, "-o", "b")[0] == 0
    shutil.copy(DIGITS, in_tmp / "b" / "model.pt")
    assert_refused(invoke("b/model.pt", "-o", "b"), "lies inside")
    assert (in_tmp / "b" / "model.pt").read_bytes() == DIGITS.read_bytes()


def test_a_user_file_added_to_a_build_blocks_its_replacement(in_tmp):
    assert invoke(DIGITS, "-o", "b")[0] == 0
    (in_tmp / "b" / "results.npy").write_bytes(b"mine")
    assert_refused(invoke(DIGITS, "-o", "b"), "not an snncompile build folder")
    assert (in_tmp / "b" / "results.npy").read_bytes() == b"mine"


def test_an_earlier_build_is_replaced_and_nothing_is_left_beside_it(in_tmp):
    assert invoke(DIGITS, "-o", "b")[0] == 0
    assert invoke(DIGITS, "-t", "fpga", "-o", "b")[0] == 0
    assert (in_tmp / "b" / "manifest.json").is_file()
    assert sorted(p.name for p in in_tmp.iterdir()) == ["b"]


def test_a_failed_rename_keeps_the_earlier_build(in_tmp, monkeypatch):
    assert invoke(DIGITS, "-o", "b")[0] == 0
    before = {p.name: p.read_bytes() for p in (in_tmp / "b").iterdir()}
    real_rename = Path.rename

    def rename(self, target):
        if self.name.startswith(".b.snncompile-tmp-"):  # the new build going in: an I/O error
            raise OSError(5, "Input/output error")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(SnnCompileError, match="earlier build is unchanged"), \
            atomic_dir(in_tmp / "b") as tmp:
        (tmp / "manifest.json").write_text("{}")
    assert {p.name: p.read_bytes() for p in (in_tmp / "b").iterdir()} == before
    assert sorted(p.name for p in in_tmp.iterdir()) == ["b"]


def test_sigkill_leftovers_are_cleaned_on_the_next_run(in_tmp):
    code = ("import os, signal, sys; from snncompile.artifacts import atomic_dir\n"
            "with atomic_dir(sys.argv[1]) as tmp:\n"
            "    (tmp / 'half').write_text('x'); os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(in_tmp / "b")], check=False,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in in_tmp.iterdir()]
    assert len(left) == 1 and left[0].startswith(".b.snncompile-tmp-")
    assert invoke(DIGITS, "-o", "b")[0] == 0
    assert sorted(p.name for p in in_tmp.iterdir()) == ["b"]


def test_a_live_runs_temporary_folder_is_left_alone(in_tmp):
    live = in_tmp / f".b.snncompile-tmp-{os.getpid()}-abc"
    live.mkdir()
    assert invoke(DIGITS, "-o", "b")[0] == 0
    assert live.is_dir()


def test_run_output_equal_to_input_is_refused(in_tmp):
    assert invoke(DIGITS, "-o", "b")[0] == 0
    x = np.zeros((1, 3, 64))
    np.save(in_tmp / "x.npy", x)
    assert_refused(invoke("run", "b", "-i", "x.npy", "-o", "x.npy"), "x.npy")
    assert_refused(invoke("run", "b", "-i", "./x.npy", "-o", str(in_tmp / "x.npy")), "input")
    assert np.array_equal(np.load(in_tmp / "x.npy"), x)
    assert_refused(invoke("run", "b", "-i", "x.npy", "-o", "b/y.npy"), "input b")


def test_o_below_a_file_is_one_sentence(in_tmp):  # was FileExistsError
    (in_tmp / "keep.txt").write_text("mine")
    assert_refused(invoke(DIGITS, "-o", "keep.txt/sub"), "cannot create")
    assert (in_tmp / "keep.txt").read_text() == "mine"
