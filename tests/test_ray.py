"""verify and run over a Ray cluster on this machine (issue 18): a head node and a second node
on 127.0.0.1, one CPU each (tests/localhost_ray.py, loopback only, no usage statistics, no
dashboard, taken down after the module). The sharded reports and outputs equal the
one-process run's byte for byte; a task that fails names its samples, a worker that dies is
retried by Ray and then named missing, and Ctrl-C stops the tasks' child programs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import localhost_ray
import numpy as np
import pytest

DIGITS = Path(__file__).parent.parent / "examples" / "digits" / "digits.pt"
ENV = {**os.environ, **localhost_ray.LOOPBACK_ENV}


@pytest.fixture(scope="module")
def ray_address():
    proc, address = localhost_ray.start()
    yield address
    localhost_ray.stop(proc)
    assert proc.returncode == 0


def cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snncompile.cli", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout, check=False)


def driver(script: str, address: str, *args, timeout: float = 180) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, address, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def test_verify_loihi2_on_the_cluster_equals_one_process(ray_address, digits_inputs, tmp_path):
    """Four digits samples through Lava, in one process and as two Ray tasks on two nodes."""
    x, y = (np.load(p)[:4] for p in digits_inputs)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    common = ("verify", DIGITS, "--target", "loihi2", "-i", tmp_path / "x.npy", "-l",
              tmp_path / "y.npy", "--json")
    one = cli(*common)
    sharded = cli(*common, "--ray", ray_address)
    assert one.returncode == 0 and '"backend_mismatches": 0' in one.stdout, one.stderr
    assert sharded.returncode == 0, sharded.stderr
    assert sharded.stdout == one.stdout


def test_run_on_the_cluster_equals_one_process_with_overflows(ray_address, third_party,
                                                              tmp_path):
    """A net whose v saturates under full drive: spikes and strict overflow rows of 3 Ray
    tasks (some saturating, some silent) equal the one-process run's, in a tbn layout."""
    model = third_party / "nir-paper/03_rnn/braille_noDelay_bias_zero.nir"
    build = tmp_path / "build"
    assert cli(model, "-o", build).returncode == 0
    rng = np.random.default_rng(5)
    x = (rng.random((7, 20, 12)) < 0.3).astype(np.int8)
    x[[1, 5]] = 1
    np.save(tmp_path / "x.npy", x.transpose(1, 0, 2))
    common = ("run", build, "-i", tmp_path / "x.npy", "--layout", "tbn", "--strict", "--json")
    one = cli(*common, "-o", tmp_path / "one.npy")
    sharded = cli(*common, "-o", tmp_path / "ray.npy", "--ray", ray_address, "--workers", 3)
    assert one.returncode == 1 and '"overflows": [' in one.stdout, one.stderr  # some overflow
    assert sharded.returncode == 1, sharded.stderr
    assert sharded.stdout.replace("ray.npy", "one.npy") == one.stdout
    assert np.array_equal(np.load(tmp_path / "ray.npy"), np.load(tmp_path / "one.npy"))


RETRIED = """
import os, sys
from pathlib import Path
import numpy as np
from snncompile.engine import Engine
from snncompile.shard import ShardError, run_sharded

def die_once(build, x, marker):
    if 0 in x[:, 0] and not Path(marker).exists():
        Path(marker).write_text("died")
        os._exit(3)
    return x[:, 0].tolist()

def always_die_on_0(build, x):
    if 0 in x[:, 0]:
        os._exit(3)
    return x[:, 0].tolist()

def fail_on_7(build, x):
    if 7 in x[:, 0]:
        raise ValueError("sample 7 is bad")
    return x[:, 0].tolist()

engine = Engine(2, sys.argv[1])
x = np.arange(10)[:, None]
parts = run_sharded(die_once, None, x, engine=engine, marker=sys.argv[2])
print("retried:", [i for part in parts for i in part])
for fn in (always_die_on_0, fail_on_7):
    try:
        run_sharded(fn, None, x, engine=engine)
    except ShardError as exc:
        print("error:", exc)
"""


def test_ray_retries_a_dead_worker_then_names_missing_samples(ray_address, tmp_path):
    proc = driver(RETRIED, ray_address, tmp_path / "died")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert (tmp_path / "died").exists()
    lines = out.splitlines()
    assert lines[0] == f"retried: {list(range(10))}"
    assert lines[1].startswith("error: Ray workers died on samples 0-4 (2 tries each); they "
                               "are missing"), lines
    assert lines[2] == "error: samples 5-9: ValueError: sample 7 is bad"


SLEEPER = """
import sys
from pathlib import Path
import numpy as np
from snncompile import children
from snncompile.engine import Engine
from snncompile.shard import run_sharded

def sleep(build, x):
    children.run(["sleep", "611.25"])

print("started", flush=True)
run_sharded(sleep, None, np.arange(2)[:, None], engine=Engine(2, sys.argv[1]))
"""


def _sleepers() -> list[int]:
    found = subprocess.run(["pgrep", "-f", r"^sleep 611\.25$"], capture_output=True, text=True,
                           check=False)
    return [int(pid) for pid in found.stdout.split()]


def test_ctrl_c_cancels_the_clusters_tasks_and_their_children(ray_address):
    proc = driver(SLEEPER, ray_address)
    deadline = time.monotonic() + 120
    while len(_sleepers()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert len(_sleepers()) == 2, proc.stderr.read() if proc.poll() is not None else "no tasks"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    deadline = time.monotonic() + 20
    while _sleepers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _sleepers() == []


def test_sweep_on_the_cluster_equals_one_process(ray_address, digits_inputs, tmp_path):
    """snncompile sweep (issue 18): two points as Ray tasks on the two nodes, then the front's
    points confirmed in Lava as Ray tasks; the JSON equals the one-process run's."""
    x, y = (np.load(p)[:4] for p in digits_inputs)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    common = ("sweep", DIGITS, "--target", "loihi2", "-i", tmp_path / "x.npy", "-l",
              tmp_path / "y.npy", "--weight-bits", "2,8", "--weight-split", "off", "--json")
    one = cli(*common)
    sharded = cli(*common, "--ray", ray_address)
    assert one.returncode == 0 and '"differing_entries": 0' in one.stdout, one.stderr
    assert sharded.returncode == 0, sharded.stderr
    assert sharded.stdout == one.stdout
