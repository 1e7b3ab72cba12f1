"""The wheel carries targets/ and works outside the checkout: build it, install it into a fresh
venv, compile the digits example with the venv's own `snncompile` command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_compiles(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = dist.glob("snncompile-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "snncompile/targets/emu/target.toml" in names

    venv = tmp_path / "venv"
    # System site-packages supply torch & co. (no downloads); snncompile itself comes from the wheel.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    where = subprocess.run([python, "-c", "import snncompile; print(snncompile.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert str(venv) in where, where  # the wheel's copy, not the checkout

    out = tmp_path / "build"
    result = subprocess.run(
        [venv / "bin" / "snncompile", REPO / "examples" / "digits" / "digits.pt", "--target", "emu",
         "-o", out], capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "manifest.json").is_file() and (out / "model.emu.npz").is_file()
