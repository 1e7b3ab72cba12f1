"""Run the CLI in this process (no interpreter start-up per call): exit code, stdout, stderr."""

from __future__ import annotations

import contextlib
import io

from snncompile.cli import main


def invoke(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def assert_refused(result: tuple[int, str, str], *words: str) -> str:
    """Exit 2 with exactly one line `error: ...` holding `words` (beside `notice:` lines, the
    assumptions a compile states, e.g. a NIR file's reset mode); the line is returned."""
    code, _, err = result
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("notice: ")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
