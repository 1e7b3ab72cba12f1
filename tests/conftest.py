"""Shared fixtures. Real third-party data lives in ../shared/data beside the checkout (as in CI)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; a missing folder fails the test (never a silent skip)."""
    root = Path(os.environ.get("SNNCOMPILE_SHARED", REPO.parent / "shared"))
    data = root / "data"
    assert data.is_dir(), f"shared data not found at {data}; set SNNCOMPILE_SHARED"
    return data
