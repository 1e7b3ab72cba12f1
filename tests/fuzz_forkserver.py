"""A fork server for the fuzz harness: one fresh interpreter imports torch and snncompile once
(single-threaded: BLAS and OpenMP pools are set to one thread before numpy loads), then forks
a child per case. A fresh interpreter per case cost about 7 s of imports for a case that runs in
well under one; forking the test process itself deadlocked (its threads held locks), but a fork
of a process that never started a thread is safe.

Each child is exactly what a fresh interpreter gave: its own session (a simulator or Lava child
dies with it), stdin from /dev/null, the address-space limit and the wall-clock limit, counted
from the fork. The server is replaced every RESTART cases, and whenever it stops answering.

Protocol, one JSON line each way: the client sends {folder, out, err, memory, timeout, argv};
the server answers {"pid": ...} at the fork, then {"status": ..., "seconds": ...}, status as
os.waitpid gives it, or null for the time limit."""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

THREAD_VARS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "NUMEXPR_NUM_THREADS": "1"}
RESTART = 500  # cases per server: bounds any drift in the server, picks up edited code
PRELOAD = ("torch", "h5py", "nir", "onnx", "snncompile.cli", "snncompile.frontends.nir",
           "snncompile.frontends.onnx", "snncompile.frontends.netx",
           "snncompile.frontends.torch_file", "snncompile.api", "snncompile.build_folder")


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _wait(pid: int, timeout: float) -> int | None:
    """The child's wait status, or None when `timeout` seconds passed (it is left unreaped)."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], max(timeout, 0.0))
    finally:
        os.close(fd)
    return os.waitpid(pid, 0)[1] if ready else None


def _warm_up() -> None:
    """Compile and run the digits example once, output discarded: the imports and JIT kernels a
    case needs are then loaded once here, not in every child (each child starts from this same
    state, so cases stay independent of each other)."""
    import tempfile

    import numpy as np

    from snncompile.cli import main

    digits = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits.pt"
    saved = os.dup(1), os.dup(2), os.getcwd()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with tempfile.TemporaryDirectory(prefix="fuzz-warm-") as tmp:
            os.chdir(tmp)
            np.save("x.npy", np.zeros((1, 4, 64)))
            for argv in ([str(digits), "-o", "b"], ["run", "b", "--input", "x.npy"],
                         ["estimate", "b"]):
                try:
                    main(argv)
                except SystemExit:
                    pass
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.chdir(saved[2])
        for fd in (null, saved[0], saved[1]):
            os.close(fd)


def serve() -> None:
    import importlib

    from fuzz_harness import _child

    for name in PRELOAD:
        importlib.import_module(name)
    _warm_up()
    if _threads() != 1:
        print(json.dumps({"error": f"{_threads()} threads after the imports: fork unsafe"}),
              flush=True)
        return
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            _child(Path(req["folder"]), req["argv"], Path(req["out"]), Path(req["err"]),
                   int(req["memory"]))  # never returns: os._exit
        print(json.dumps({"pid": pid}), flush=True)
        status = _wait(pid, req["timeout"] - (time.monotonic() - t0))
        try:  # the case's session: children it left (a simulator) die with it
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if status is None:
            os.waitpid(pid, 0)
        print(json.dumps({"status": status, "seconds": time.monotonic() - t0}), flush=True)


class ForkServer:
    """The client: one server process, restarted every RESTART cases or when it fails."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.cases = 0
        self.pending = b""  # bytes read past the last line (two answers can come in one read)

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, **THREAD_VARS}
        proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env, start_new_session=True, cwd=Path(__file__).parent)
        self.pending = b""
        answer = self._read(proc, 600.0)
        if not answer or not answer.get("ready"):
            self._kill(proc)
            raise RuntimeError(f"the fuzz fork server did not start: {answer}")
        return proc

    def _read(self, proc: subprocess.Popen, timeout: float) -> dict | None:
        """The server's next JSON line, or None after `timeout` seconds or at its exit. Read
        from the raw pipe: a buffered readline may swallow the next answer too, and select
        would then wait for data already read."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                return None
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    @staticmethod
    def _kill(proc: subprocess.Popen, pid: int | None = None) -> None:
        for group in (pid, proc.pid):
            if group is not None:
                try:
                    os.killpg(group, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        proc.wait()

    def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._kill(self.proc)
            self.proc = None

    def run(self, folder: Path, argv: list[str], out: Path, err: Path, memory: int,
            timeout: float) -> int | None:
        """The case's wait status, or None for the time limit."""
        if self.proc is None or self.cases >= RESTART:
            self.close()
            self.proc, self.cases = self._start(), 0
        self.cases += 1
        proc = self.proc
        assert proc.stdin is not None
        req = {"folder": str(folder), "out": str(out), "err": str(err), "memory": memory,
               "timeout": timeout, "argv": argv}
        proc.stdin.write(json.dumps(req) + "\n")
        proc.stdin.flush()
        started = self._read(proc, 60.0)
        done = self._read(proc, timeout + 60.0) if started else None
        if done is None:  # the server itself stopped answering: a hang, and a new server
            self._kill(proc, started.get("pid") if started else None)
            self.proc = None
            return None
        return done["status"]


_local = threading.local()
_servers: list[ForkServer] = []


def server() -> ForkServer:
    """This thread's fork server (each shard thread has its own)."""
    if not hasattr(_local, "server"):
        _local.server = ForkServer()
        _servers.append(_local.server)
    return _local.server


@atexit.register
def close_all() -> None:
    while _servers:
        _servers.pop().close()


if __name__ == "__main__":
    for _name, _value in THREAD_VARS.items():
        os.environ[_name] = _value
    sys.path.insert(0, str(Path(__file__).parent))
    serve()
