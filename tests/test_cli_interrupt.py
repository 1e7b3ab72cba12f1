"""Ctrl-C stops everything snncompile started: a real SIGINT to a real `snncompile run` of a
Lava program ends the Lava child and every worker in its process group, and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snncompile import children

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every process we can see."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return table


def _group(pgid: int) -> list[int]:
    return [pid for pid, (_, group, _) in _processes().items() if group == pgid]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


@pytest.mark.slow
def test_ctrl_c_stops_the_lava_child_and_its_workers(tmp_path, digits_inputs):
    x_path, _ = digits_inputs
    build = tmp_path / "build"
    done = subprocess.run([sys.executable, "-m", "snncompile.cli", DIGITS, "--target", "loihi2",
                           "-o", build], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "y.npy"
    run = subprocess.Popen([sys.executable, "-m", "snncompile.cli", "run", build, "-i", x_path,
                            "-o", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        lava = _wait_for(lambda: [pid for pid, (ppid, _, cmd) in _processes().items()
                                  if ppid == run.pid and "run_lava.py" in cmd],
                         120, "the Lava child")[0]
        # Lava's runtime starts worker processes in the child's group; wait until it has
        _wait_for(lambda: len(_group(lava)) >= 2, 120, "Lava's workers")
        workers = _group(lava)
        os.kill(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends snncompile
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    _wait_for(lambda: not _group(lava) or None, 10, f"the group of {workers} to end")
    assert not out.exists()


def test_interrupt_stops_a_child_and_its_grandchildren():
    """children.run: a KeyboardInterrupt (here from SIGALRM) ends the child's whole group."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            children.run(["sh", "-c", "sleep 61.25 & sleep 61.25 & wait"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < 10
    _wait_for(lambda: not [cmd for _, _, cmd in _processes().values() if "61.25" in cmd] or None,
              5, "the grandchildren to end")


def test_a_timeout_stops_the_group_and_says_so():
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        children.run(["sh", "-c", "sleep 62.25 & wait"], timeout=0.5)
    assert time.monotonic() - start < 10
    _wait_for(lambda: not [cmd for _, _, cmd in _processes().values() if "62.25" in cmd] or None,
              5, "the grandchild to end")


def test_a_finished_child_returns_its_output():
    program = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = children.run([sys.executable, "-c", program])
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
