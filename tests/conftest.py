"""Shared fixtures. Real third-party model files live in tests/data (origin and licences in its
README).

CI gates on a reproducible run: hypothesis draws the same examples every time when CI is set.
Locally it explores new examples on each run, which is where new bugs are found.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skipped test fails the run: a missing tool or a plugin (nengo's skips tests marked slow)
    must never hide a test silently."""
    report = (yield).get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} was skipped, and skips are not allowed: {report.longrepr}"


THIRD_PARTY = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def third_party() -> Path:
    """tests/data: third-party model files committed with their licences (tests/data/README.md)."""
    return THIRD_PARTY


@pytest.fixture(scope="session")
def lava_dl_wheel() -> Path:
    """lava-dl 0.6.0's netx test networks and expected outputs, extracted by set-up
    (scripts/fetch-lava-dl-tests.py); a missing extraction fails, naming the command."""
    folder = THIRD_PARTY / "lava-dl-wheel"
    if not (folder / "COMPLETE").exists():
        pytest.fail(f"{folder} is missing: run python scripts/fetch-lava-dl-tests.py (set-up does)")
    return folder


@pytest.fixture(scope="session")
def digits_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """The digits example's 360-sample test split as input spikes and labels .npy files."""
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from data import load_split

    folder = tmp_path_factory.mktemp("digits")
    _, _, x, y = load_split()
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    return folder / "x.npy", folder / "y.npy"
