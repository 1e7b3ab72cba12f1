"""The built wheel in a clean virtual environment (no --system-site-packages) with NO extras runs
the main job: compile the digits model to emu, loihi2 and fpga, run it, verify and estimate it.
Without Lava, running or verifying a loihi2 build is one sentence naming the install commands;
the test then installs Lava exactly as that sentence (and the README) says, and the loihi2 build
runs under Lava, equal to the emulator, and verify passes.

torch comes from `pip install -c constraints.txt torch==2.13.0` (the CPU wheel, from local disk
here); the other dependencies from the package index, the way a user's `pip install` gets them.
This is the one test that downloads: it tests installing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"
LAVA_STEP = "pip install --no-deps --ignore-requires-python lava-nc==0.10.0"


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of the package as committed (a copy of what the wheel holds, so no build/ from
    an earlier run of setuptools in the checkout can slip stale modules in)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("snncompile", "targets"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(dist), str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = dist.glob("snncompile-*.whl")
    return wheel


def _pip(venv: Path, *args: str) -> None:
    result = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q",
                             "--disable-pip-version-check", *args], capture_output=True,
                            text=True, timeout=1200, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_clean_venv_wheel_runs_the_main_job_and_lava_installs_as_documented(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "snncompile/targets/loihi2/target.toml" in names
    assert "snncompile/compiled.py" in names and "snncompile/__main__.py" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    constraints = str(REPO / "constraints.txt")
    _pip(venv, "-c", constraints, "torch==2.13.0")
    _pip(venv, "-c", constraints, str(wheel))

    def run(*args, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                                cwd=tmp_path, timeout=900, check=False)
        assert (result.returncode == 0) == ok, (args, result.stdout[-2000:], result.stderr[-2000:])
        return result

    python, cli = venv / "bin" / "python", venv / "bin" / "snncompile"
    where = run(python, "-c", "import sys, snncompile; print(snncompile.__file__, 'lava' in "
                "sys.modules); import importlib.util as u; print(u.find_spec('lava'))").stdout
    assert where.split() == [str(venv / "lib" / "python3.11" / "site-packages" / "snncompile"
                                 / "__init__.py"), "False", "None"], where  # the wheel's copy

    sys.path.insert(0, str(REPO / "examples" / "digits"))
    try:
        from data import load_split
    finally:
        sys.path.pop(0)
    _, _, x_test, y_test = load_split()
    np.save(tmp_path / "x.npy", x_test)
    np.save(tmp_path / "y.npy", y_test)

    for target in ("emu", "loihi2", "fpga"):
        run(cli, DIGITS, "--target", target, "-o", tmp_path / target)
    run(python, "-m", "snncompile", "run", tmp_path / "emu", "--input", "x.npy", "-o", "y_emu.npy")
    estimate = json.loads(run(cli, "estimate", DIGITS, "--target", "loihi2", "--input", "x.npy",
                              "--json").stdout)
    assert estimate["energy"]["energy_uj"]["total"] > 0
    fpga = json.loads(run(cli, "estimate", DIGITS, "--target", "fpga", "--json").stdout)
    assert fpga["resources"]["yosys"]["lut"] > 0 and fpga["resources"]["analytic"]["lut"] > 0
    run(cli, "verify", DIGITS, "--target", "emu", "--input", "x.npy", "--labels", "y.npy")
    api = run(python, "-c", "import numpy as np, snncompile; x = np.load('x.npy'); "
              f"c = snncompile.compile({str(DIGITS)!r}, target='loihi2'); "
              "print(c.estimate(x)['energy']['energy_uj']['total'] > 0, np.array_equal("
              "snncompile.compile(c.model, target='emu').run(x), np.load('y_emu.npy')))").stdout
    assert api.split() == ["True", "True"], api  # the Python API from the wheel

    # no Lava: one sentence naming the documented install, no traceback
    for args in (("run", tmp_path / "loihi2", "--input", "x.npy", "-o", "y.npy"),
                 ("verify", DIGITS, "--target", "loihi2", "--input", "x.npy")):
        err = run(cli, *args, ok=False).stderr.strip()
        assert LAVA_STEP in err and 'pip install "snncompile[lava]"' in err, err
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err

    # the [lava] extra, then Lava itself, exactly as the sentence says
    _pip(venv, "-c", constraints, f"{wheel}[lava]")
    _pip(venv, *LAVA_STEP.split()[2:])
    run(cli, "run", tmp_path / "loihi2", "--input", "x.npy", "-o", "y_loihi2.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "y_loihi2.npy"),
                                  np.load(tmp_path / "y_emu.npy"))
    verdict = run(cli, "verify", DIGITS, "--target", "loihi2", "--input", "x.npy", "--labels",
                  "y.npy").stdout
    assert "emulator vs loihi2: 0 differing output entries" in verdict, verdict
