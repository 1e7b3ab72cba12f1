"""Run one fuzz case through the real CLI in a child and classify how it ended.

The child is a fork of a fork server (tests/fuzz_forkserver.py): a fresh, single-threaded
interpreter that imported torch and snncompile once, never the test process (its threads held
locks, and forked cases deadlocked in the full suite). It runs `snncompile.cli.main(argv)` in the
case's own folder, in its own session (so Lava and simulator children are killed with it), under
an address-space limit and a wall-clock limit. Outcomes (issue 20's definitions):

    ok        exit 0
    refused   exit 1/2 with stderr one line `error: ...` or verify's PASS/FAIL lines
    crash     "internal error", a traceback, a signal, or an error spread over several lines
    hang      the time limit
    memory    MemoryError or the address-space limit
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fuzz_forkserver import server

os.environ.setdefault("OMP_NUM_THREADS", "1")  # forked children run torch: no OpenMP pool here

BAD = ("crash", "hang", "memory", "data-loss")


@dataclasses.dataclass(frozen=True)
class Outcome:
    category: str
    case: str
    kind: str  # ok, refused, crash, hang, memory, setup
    detail: str
    seconds: float


def _vm_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(folder: Path, argv: list[str], out: Path, err: Path, memory: int) -> None:
    code = 70
    try:
        import torch  # noqa: F401 - loaded before the limit, as it was in the parent of a fork

        from snncompile.cli import main

        os.chdir(folder)
        limit = _vm_bytes() + memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        fd_out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - pytest replaced sys.std*
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - escaped the CLI: print it, the parent calls it a crash
        import traceback

        traceback.print_exc()
        code = 71
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def classify(status: int | None, stderr: str) -> tuple[str, str]:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if status is None:
        return "hang", "time limit"
    if os.WIFSIGNALED(status):
        return "crash", f"signal {os.WTERMSIG(status)}"
    code = os.WEXITSTATUS(status)
    if "MemoryError" in stderr or "Unable to allocate" in stderr:
        return "memory", first
    if "internal error" in stderr or "Traceback" in stderr or code in (3, 70, 71):
        return "crash", first or f"exit {code}"
    rest = [ln for ln in lines if not ln.startswith(("warning: ", "notice: "))]
    if code == 0:
        return ("ok", "") if not rest else ("crash", f"exit 0 with stderr: {rest[0]}")
    if len(rest) == 1 and rest[0].startswith("error: ") or (code == 1 and not rest):
        return "refused", rest[0] if rest else "verify failed"
    if len(rest) == 1 and rest[0].startswith(("Error: ", "Usage: ")):
        return "refused", rest[0]  # click's own usage errors
    if rest and rest[-1].startswith(("Error: ", "error: ")) and all(
            ln.startswith(("Usage: ", "Try ")) for ln in rest[:-1]):
        return "refused", rest[-1]
    return "crash", f"exit {code}, {len(rest)} stderr lines: {first}"


PROTECTED = ("keep.txt", "*.pt", "*.nir", "*.onnx", "*.net", "x.npy")


def _digest(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _inputs(folder: Path) -> dict[str, str | None]:
    """The user's files a case must leave alone: models, inputs, keep.txt."""
    found = {p for pattern in PROTECTED for p in folder.rglob(pattern)
             if p.is_file() and not p.is_symlink()}
    return {p.relative_to(folder).as_posix(): _digest(p) for p in found}


def run_case(category: str, name: str, setup: Callable[[Path], list[str]], root: Path,
             timeout: float = 60.0, memory: int = 2 << 30) -> Outcome:
    """Prepare the case's folder with `setup` (returns argv), run it, classify, clean up."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    t0 = time.monotonic()
    try:
        (folder / "work").mkdir()
        try:
            argv = setup(folder / "work")
        except Exception as exc:  # noqa: BLE001 - a generator that cannot build its file
            return Outcome(category, name, "setup", f"{type(exc).__name__}: {exc}"[:200], 0.0)
        out, err = folder / "stdout", folder / "stderr"
        before = _inputs(folder / "work")
        status = server().run(folder / "work", argv, out, err, memory, timeout)
        stderr = err.read_text(errors="replace") if err.exists() else ""
        kind, detail = classify(status, stderr)
        lost = [name for name, digest in before.items()
                if _digest(folder / "work" / name) != digest]
        if lost and kind not in BAD:
            kind, detail = "data-loss", f"{lost[0]} was deleted or changed ({detail})"
        return Outcome(category, name, kind, detail[:300], time.monotonic() - t0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

