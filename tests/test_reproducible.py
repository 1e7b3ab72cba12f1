"""Reproducible builds (issue 20): the same model and options give byte-identical build folders
whatever the output path, working directory or model location; the manifest records the model's
sha256, not its path; `run` works on a build given as a relative path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_inprocess import invoke

from snncompile.artifacts import sha256_file

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def build_twice(model: Path, target: str, tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """Once with an absolute -o from one directory, once with a relative -o from another, with
    the model copied elsewhere under the same name."""
    one, two = tmp_path / "one", tmp_path / "deeper" / "two"
    one.mkdir()
    two.mkdir(parents=True)
    copy = two / "models" / model.name
    copy.parent.mkdir()
    shutil.copy(model, copy)
    monkeypatch.chdir(one)
    assert invoke(model, "-t", target, "-o", one / "build")[0] == 0
    monkeypatch.chdir(two)
    assert invoke(Path("models") / model.name, "-t", target, "-o", "out/b")[0] == 0
    return one / "build", two / "out" / "b"


@pytest.mark.parametrize("target", ["emu", "loihi2", "fpga"])
def test_two_builds_in_different_places_are_byte_identical(target, tmp_path, monkeypatch):
    first, second = build_twice(DIGITS, target, tmp_path, monkeypatch)
    a, b = folder_bytes(first), folder_bytes(second)
    assert sorted(a) == sorted(b)
    differing = [name for name in a if a[name] != b[name]]
    assert differing == []
    for name, content in a.items():  # no path of either build reaches any file
        assert str(tmp_path).encode() not in content, name


def test_netx_builds_are_byte_identical(third_party, tmp_path, monkeypatch):
    """A .net file's path used to reach every artefact."""

    net = third_party / "lava-dl" / "pilotnet_lif" / "network.net"
    first, second = build_twice(net, "emu", tmp_path, monkeypatch)
    assert folder_bytes(first) == folder_bytes(second)


def test_manifest_records_the_model_hash_not_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(DIGITS, "-o", "b")[0] == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["model"] == {"name": "digits.pt", "sha256": sha256_file(DIGITS)}
    assert str(REPO) not in (tmp_path / "b" / "manifest.json").read_text()


def test_placement_json_has_no_wall_clock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(DIGITS, "-t", "loihi2", "-o", "b")[0] == 0
    placement = json.loads((tmp_path / "b" / "placement.json").read_text())
    assert "seconds" not in placement["metrics"]


def test_run_on_a_loihi2_build_given_as_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(DIGITS, "-t", "loihi2", "-o", "b")[0] == 0
    rng = np.random.default_rng(0)
    np.save("x.npy", (rng.random((1, 4, 64)) < 0.5).astype(np.float64))
    code, _, err = invoke("run", "b", "-i", "x.npy", "-o", "y.npy")
    assert code == 0, err
    assert np.load("y.npy").shape == (1, 4, 10)
