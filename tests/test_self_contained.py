"""The repo stands alone: no code, test, example, benchmark or script reads a path outside the
checkout, and every third-party file the tests read is committed with its licence."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# a parent-relative "shared" folder, an absolute path into a machine's work folder, or the old
# environment variable that pointed tests at data outside the repo
# (spelled in pieces so that grep-based checks of the repo do not find the detector itself)
OUTSIDE = re.compile("|".join([r"\.\./" + "shared", r"[\"']/" + "work/",
                               r'parent / "' + 'shared"', "SNNCOMPILE_" + "SHARED"]))


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return [REPO / line for line in out.splitlines()]


def test_no_source_file_reads_outside_the_checkout():
    sources = tracked("*.py", "*.sh", "Makefile", ".ci/*", "*.toml")
    assert len(sources) > 50
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in sources if p.name != Path(__file__).name
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if OUTSIDE.search(line)]
    assert offenders == []


def test_third_party_data_is_committed_with_its_licences():
    data = REPO / "tests" / "data"
    files = {str(p.relative_to(data)) for p in tracked("tests/data")}
    assert {"README.md", "nir-paper/LICENSE", "lava-dl/LICENSE",
            "lava-dl/pilotnet_lif/network.net", "nir-paper/02_cnn/cnn_sinabs.nir"} <= files
    readme = (data / "README.md").read_text(encoding="utf-8")
    for folder in {f.split("/")[0] for f in files if "/" in f}:
        assert f"## {folder}/" in readme, f"tests/data/README.md does not describe {folder}/"


def test_every_subpackage_ships_in_the_wheel():
    """pyproject lists packages by hand (targets/ is mapped into the package): a new subpackage
    left off the list would import from a checkout and fail from the wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts)
             for p in (REPO / "snncompile").rglob("__init__.py")}
    assert found - listed == set()
