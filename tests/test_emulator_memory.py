"""Issue 19's memory bar at batch 1: benchmarks/emulator_memory.py's batch-1 rows (the dense net
of vs_peers.py and the NIR-paper CNN, each in a fresh process: the rise of the run's own peak
RSS over the bytes it must hold) stay under 2x. They read 2.5x and 4-5x with cache-sized blocks
at every batch; sim/fast.block_budget sizes them by the run's spike trains."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "emulator_memory.py"


@pytest.mark.parametrize("row", ["dense,1,500", "cnn,1,100"])
def test_batch_1_peak_memory_under_twice_the_runs_bytes(row):
    proc = subprocess.run([sys.executable, str(BENCH), "--one", row], capture_output=True,
                          text=True, check=True, timeout=300)
    cells = [c.strip() for c in proc.stdout.strip().splitlines()[-1].strip("|").split("|")]
    need, rise, ratio = (float(c) for c in cells[-3:])
    assert need > 0.5 and rise >= 0
    assert ratio < 2, proc.stdout
