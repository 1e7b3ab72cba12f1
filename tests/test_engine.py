"""snncompile.engine, the task map verify, run and sweep share (issue 18): results in task
order, errors naming the task by its label, `--ray` without an address, and one sentence when
Ray is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_one_sentence_error

from snncompile.engine import LOCAL_RAY, Engine, TaskError, map_tasks
from snncompile.errors import SnnCompileError
from snncompile.shell.cmdline import bare_ray

DIGITS = Path(__file__).parent.parent / "examples" / "digits" / "digits.pt"


def scaled(shared, item, offset=0):
    if item == "bad":
        raise ValueError("no number")
    return shared * item + offset


def test_results_come_back_in_task_order_in_processes_and_here():
    items = list(range(7))
    expected = [3 * i + 1 for i in items]
    labels = [f"point {i}" for i in items]
    assert map_tasks(scaled, 3, items, labels, Engine(workers=3), offset=1) == expected
    seen = []
    assert map_tasks(scaled, 3, items, labels, watch=lambda i, what: seen.append((i, what)),
                     offset=1) == expected
    assert seen == [(i, "done") for i in items]


def test_a_failing_task_is_named_by_its_label():
    with pytest.raises(TaskError, match=r"^weight_bits=4: ValueError: no number$"):
        map_tasks(scaled, 2, [1, "bad"], ["weight_bits=8", "weight_bits=4"], Engine(workers=2))


def test_engine_refuses_bad_workers_and_empty_addresses():
    with pytest.raises(SnnCompileError, match="--workers must be a whole number"):
        Engine(workers=0)
    with pytest.raises(SnnCompileError, match="--ray takes the address"):
        Engine(ray=" ")


def test_ray_without_an_address_leaves_the_model_argument_alone():
    assert bare_ray(["verify", "--ray", "m.pt", "-i", "x"], LOCAL_RAY) == [
        "verify", f"--ray={LOCAL_RAY}", "m.pt", "-i", "x"]
    assert bare_ray(["verify", "m.pt", "--ray"], LOCAL_RAY) == ["verify", "m.pt",
                                                                f"--ray={LOCAL_RAY}"]
    assert bare_ray(["verify", "--ray", "127.0.0.1:6379", "m.pt"], LOCAL_RAY) == [
        "verify", "--ray", "127.0.0.1:6379", "m.pt"]
    assert bare_ray(["--ray", "auto"], LOCAL_RAY) == ["--ray", "auto"]


def test_without_ray_installed_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(SnnCompileError, match=r"pip install snncompile\[ray\]"):
        map_tasks(scaled, 1, [1], ["samples 0"], Engine(ray=LOCAL_RAY))


def test_verify_ray_without_ray_installed_is_one_sentence_before_the_compile(tmp_path):
    """The command line as a user without the extra meets it (ray hidden from the import)."""
    np.save(tmp_path / "x.npy", np.zeros((2, 4, 64), np.int8))
    code = ("import sys; sys.modules['ray'] = None; from snncompile.cli import main; "
            f"main(['verify', '--ray', {str(DIGITS)!r}, '-i', {str(tmp_path / 'x.npy')!r}])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert_one_sentence_error(result, "--ray needs the ray package", "pip install snncompile[ray]")
