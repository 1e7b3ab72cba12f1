"""Shared fixtures. Real third-party data lives in ../shared/data beside the checkout (as in CI).

CI gates on a reproducible run: hypothesis draws the same examples every time when CI is set.
Locally it explores new examples on each run, which is where new bugs are found.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; a missing folder fails the test (never a silent skip)."""
    root = Path(os.environ.get("SNNCOMPILE_SHARED", REPO.parent / "shared"))
    data = root / "data"
    assert data.is_dir(), f"shared data not found at {data}; set SNNCOMPILE_SHARED"
    return data
