"""Shared fixtures. Real third-party data lives in ../shared/data beside the checkout (as in CI).

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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; a missing folder fails the test (never a silent skip)."""
    root = Path(os.environ.get("SNNCOMPILE_SHARED", REPO.parent / "shared"))
    data = root / "data"
    assert data.is_dir(), f"shared data not found at {data}; set SNNCOMPILE_SHARED"
    return data


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
