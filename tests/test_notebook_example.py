"""The README's notebook example runs (examples/notebook/notebook.py: an snnTorch model trained in
memory, compiled to loihi2, verified against snnTorch, the float reference, the emulator and
Lava, estimated, run and saved), and the README shows exactly the script's lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "notebook" / "notebook.py"
START, END = "    # --- the README's notebook example ---\n", "    # ---\n"


def test_readme_shows_the_scripts_lines():
    source = SCRIPT.read_text()
    block = source[source.index(START) + len(START):source.index(END)]
    lines = textwrap.dedent(block).strip()
    assert len(lines.splitlines()) <= 12
    assert lines in (REPO / "README.md").read_text()


@pytest.mark.slow
def test_notebook_example_passes_on_loihi2(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=1200, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    out = result.stdout
    assert "PASS source vs float reference mismatch 0.0" in out, out  # snnTorch == reference
    assert "PASS emulator vs loihi2: differing output entries 0" in out, out
    assert "FAIL" not in out and " uJ per inference" in out, out
    assert (tmp_path / "build" / "manifest.json").is_file()
    assert (tmp_path / "build" / "run_lava.py").is_file()
