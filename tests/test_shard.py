"""verify sharded over local worker processes (issue 18): the counts merge exactly, so the JSON
report is byte-identical for 1 worker and N on the digits example (emulator and Lava); a failing
shard names its samples, a worker that dies is retried once, Ctrl-C stops the workers."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_one_sentence_error, snncompile

from snncompile import api, spike_metrics
from snncompile.shard import ShardError, bounds, run_sharded
from snncompile.spike_tally import SpikeTally

DIGITS = Path(__file__).parent.parent / "examples" / "digits" / "digits.pt"


def test_tallies_give_spike_metrics_figures_and_add_exactly():
    rng = np.random.default_rng(3)
    for shape in [(7, 9, 5), (12, 4, 2, 3), (1, 1, 1)]:
        ref = (rng.random(shape) < 0.3).astype(np.int8)
        hw = np.where(rng.random(shape) < 0.1, 1 - ref, ref).astype(np.int8)
        whole = SpikeTally.of(ref, hw)
        assert whole.count_error == spike_metrics.count_error(ref, hw)
        assert whole.train_agreement == spike_metrics.train_agreement(ref, hw)
        assert whole.entry_agreement == spike_metrics.entry_agreement(ref, hw)
        assert whole.first_divergence == spike_metrics.first_divergence(ref, hw)
        for shards in (1, 2, 3, shape[0]):
            parts = [SpikeTally.of(ref[a:b], hw[a:b]) for a, b in bounds(shape[0], shards)]
            assert sum(parts[1:], parts[0]) == whole


def test_bounds_cover_every_sample_once():
    for samples, shards in [(10, 3), (3, 8), (360, 2), (1, 1)]:
        ranges = bounds(samples, shards)
        assert ranges[0][0] == 0 and ranges[-1][1] == samples
        assert all(b == c for (_, b), (c, _) in itertools.pairwise(ranges))
        assert all(b > a for a, b in ranges) and len(ranges) == min(samples, shards)


def test_any_number_of_shards_gives_the_same_report_with_overflows(third_party):
    """Strict mode on a net whose v saturates under full drive: the overflow events of 4 shards
    (some silent, some saturating) merge to the one-shard list, order and counts included."""
    model = third_party / "nir-paper/03_rnn/braille_noDelay_bias_zero.nir"
    rng = np.random.default_rng(5)
    x = (rng.random((9, 20, 12)) < 0.3).astype(np.int8)
    x[[1, 6, 7]] = 1
    build = api.build(model)
    one = api.verify_build(build, x, strict=True).to_dict()
    assert one["overflows"]
    for shards in (2, 4, 9):
        assert api.verify_build(build, x, strict=True, shards=shards).to_dict() == one


def _verify_json(target: str, x: Path, y: Path, workers: int) -> str:
    result = snncompile("verify", DIGITS, "--target", target, "--input", x, "--labels", y,
                        "--json", "--workers", workers)
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    return result.stdout


def test_digits_report_is_byte_identical_for_1_and_2_workers(digits_inputs):
    x, y = digits_inputs
    one = _verify_json("emu", x, y, 1)
    assert json.loads(one)["samples"] == 360
    assert _verify_json("emu", x, y, 2) == one


@pytest.mark.slow
def test_digits_loihi2_report_is_byte_identical_for_1_and_2_workers(digits_inputs, tmp_path):
    """Lava runs in each worker (its own processes under a spawned one): 40 digits samples."""
    x, y = digits_inputs
    np.save(tmp_path / "x.npy", np.load(x)[:40])
    np.save(tmp_path / "y.npy", np.load(y)[:40])
    one = _verify_json("loihi2", tmp_path / "x.npy", tmp_path / "y.npy", 1)
    report = json.loads(one)
    assert report["samples"] == 40 and report["backend_mismatches"] == 0
    assert _verify_json("loihi2", tmp_path / "x.npy", tmp_path / "y.npy", 2) == one


def test_workers_must_be_a_positive_count(digits_inputs):
    x, _ = digits_inputs
    result = snncompile("verify", DIGITS, "--input", x, "--workers", "0")
    assert_one_sentence_error(result, "--workers", "got 0")


def fail_on_sample_7(build, x):
    if 7 in x[:, 0]:
        raise ValueError("sample 7 is bad")
    return x[:, 0].tolist()


def die_once(build, x, marker):
    """Kills its worker the first time it sees sample 0, as a crashed simulator would."""
    if 0 in x[:, 0] and not Path(marker).exists():
        Path(marker).write_text("died")
        os._exit(3)
    return x[:, 0].tolist()


def always_die_on_0(build, x):
    if 0 in x[:, 0]:
        os._exit(3)
    return x[:, 0].tolist()


def test_a_failing_shard_names_its_samples():
    x = np.arange(12)[:, None]
    with pytest.raises(ShardError, match=r"samples 6-11: ValueError: sample 7 is bad"):
        run_sharded(fail_on_sample_7, None, x, workers=2)
    with pytest.raises(ShardError, match=r"samples 6-8: ValueError"):
        run_sharded(fail_on_sample_7, None, x, workers=1, shards=4)


def test_a_dead_worker_is_retried_once_then_its_samples_are_named(tmp_path):
    x = np.arange(10)[:, None]
    parts = run_sharded(die_once, None, x, workers=2, marker=tmp_path / "died")
    assert (tmp_path / "died").exists() and [i for part in parts for i in part] == list(range(10))
    with pytest.raises(ShardError, match=r"died twice on samples 0-4;.* missing"):
        run_sharded(always_die_on_0, None, x, workers=2)


SLEEPER = """
import os, sys, time
from pathlib import Path
import numpy as np
from snncompile.shard import run_sharded

def sleep(build, x, folder):
    Path(folder, str(os.getpid())).write_text("")
    time.sleep(600)

if __name__ == "__main__":
    run_sharded(sleep, None, np.arange(4)[:, None], workers=2, folder=sys.argv[1])
"""


def test_ctrl_c_stops_the_workers(tmp_path):
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    pids = tmp_path / "pids"
    pids.mkdir()
    parent = subprocess.Popen([sys.executable, tmp_path / "sleeper.py", pids],
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2
    parent.send_signal(signal.SIGINT)  # to the parent only, not to the workers' group
    _, err = parent.communicate(timeout=60)
    assert parent.returncode != 0 and "KeyboardInterrupt" in err
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
