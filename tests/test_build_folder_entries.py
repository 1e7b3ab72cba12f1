"""A build's manifest may name a folder as one of its files (fpga: `rtl`); reading it back must
accept that folder, whose files are hashed one by one, and still catch an edited file inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from snncompile import api
from snncompile.build_check import BuildFolderError, read_manifest

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits.pt"


def test_fpga_build_with_its_rtl_folder_reads_back(tmp_path):
    api.compile_model(DIGITS, "fpga", tmp_path / "build")
    manifest = read_manifest(tmp_path / "build")
    assert manifest["files"]["rtl"] == "rtl" and "rtl" in manifest["folders"]
    assert any(name.startswith("rtl/") for name in manifest["hashes"])
    top = tmp_path / "build" / "rtl" / "snn_top.v"
    top.write_text(top.read_text() + "// edited\n")
    with pytest.raises(BuildFolderError, match="snn_top.v was changed after the build"):
        read_manifest(tmp_path / "build")
