"""Child programs (the Lava run, Icarus, Verilator, yosys) that stop when snncompile stops.

Each child starts in a process group of its own, so a terminal's Ctrl-C reaches only snncompile;
when snncompile is interrupted (KeyboardInterrupt) or a child outlives its timeout, the child's
whole group goes (Lava's worker processes with it) before the exception travels on. Without
this, an interrupted `snncompile run` left Lava and its workers running.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence

GRACE_S = 2.0  # SIGTERM first; SIGKILL whatever is left after this long


def stop_group(proc: subprocess.Popen) -> None:
    """End proc's process group: SIGTERM, then SIGKILL after GRACE_S; reap proc."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; workers it left in the group go too
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break
    proc.wait()


def run(cmd: Sequence[str], *, cwd: str | os.PathLike | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """subprocess.run(cmd, capture_output=True, text=True) in a process group of its own, which is
    stopped whole on an interrupt, and on a timeout (then subprocess.TimeoutExpired is raised)."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        stop_group(proc)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)
