"""Build folders are checked when read (issue 20): a damaged, truncated or hand-edited build is
one sentence naming the file, never a KeyError or TokenError from a back end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_inprocess import assert_refused, invoke

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("b") / "build"
    assert invoke(DIGITS, "-o", folder)[0] == 0
    return folder


@pytest.fixture()
def damaged(build, tmp_path):
    import shutil

    copy = tmp_path / "build"
    shutil.copytree(build, copy)
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 64)))
    return copy, tmp_path / "x.npy"


def run(folder: Path, x: Path):
    return invoke("run", folder, "-i", x, "-o", x.with_name("y.npy"))


def _edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_run_on_an_intact_build_works(damaged):
    assert run(*damaged)[0] == 0


def test_run_on_a_manifest_without_target_names_the_field(damaged):
    _edit_manifest(damaged[0], lambda m: m.pop("target"))  # was KeyError: 'target'
    assert_refused(run(*damaged), "manifest.json", "'target'")


def test_run_on_a_manifest_without_input_shape_names_the_field(damaged):
    _edit_manifest(damaged[0], lambda m: m.pop("input_shape"))  # was KeyError: 'input_shape'
    assert_refused(run(*damaged), "manifest.json", "'input_shape'")


def test_run_on_a_hand_edited_manifest_is_refused(damaged):
    _edit_manifest(damaged[0], lambda m: m.update(input_shape=[32]))
    assert_refused(run(*damaged), "manifest.json", "edited")


def test_run_on_a_truncated_graph_text_names_the_file(damaged):  # was TokenError
    path = damaged[0] / "model.hw.txt"
    path.write_bytes(path.read_bytes()[:100])
    assert_refused(run(*damaged), "model.hw.txt", "changed after the build")


def test_run_on_a_missing_array_file_names_it(damaged):
    (damaged[0] / "model.emu.npz").unlink()
    assert_refused(run(*damaged), "model.emu.npz", "missing")


def test_run_on_a_manifest_that_is_not_json(damaged):
    (damaged[0] / "manifest.json").write_text('{"target": ')
    assert_refused(run(*damaged), "manifest.json", "not valid JSON")


def test_run_on_a_deeply_nested_manifest_is_one_sentence(damaged):  # was RecursionError
    (damaged[0] / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_refused(run(*damaged), "manifest.json")


def test_a_manifest_naming_a_file_outside_the_build_is_refused(damaged):
    from snncompile.artifacts import manifest_digest

    def point_out(m):
        m["hashes"]["../../etc/passwd"] = "0" * 64
        m["manifest_sha256"] = manifest_digest(m)
    _edit_manifest(damaged[0], point_out)
    assert_refused(run(*damaged), "outside the build folder")


def test_run_on_a_folder_that_is_no_build(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 64)))
    (tmp_path / "empty").mkdir()
    assert_refused(run(tmp_path / "empty", tmp_path / "x.npy"), "not a build folder")


def _rehash(folder: Path) -> None:
    """Re-make every hash of the manifest, as an attacker who edited a file would."""
    from snncompile.artifacts import manifest_digest, sha256_file

    def change(manifest):
        for name in manifest["hashes"]:
            manifest["hashes"][name] = sha256_file(folder / name)
        manifest["manifest_sha256"] = manifest_digest(manifest)
    _edit_manifest(folder, change)


@pytest.mark.parametrize("text", [b"", b"\xff" * 64])
def test_run_on_a_rehashed_damaged_text_graph_names_the_file(damaged, text):
    # fuzz: UnicodeDecodeError / BadZipFile from model.hw.txt and its .npz sidecar
    folder, x = damaged
    (folder / "model.hw.txt").write_bytes(b"snncompile-ir " + text)
    _rehash(folder)
    assert_refused(run(folder, x), "model.hw.txt")


def test_run_on_a_loihi2_build_with_a_rehashed_damaged_model_net_is_one_sentence(tmp_path):
    # fuzz: KeyError 'Unable to synchronously open object (message size exceeds buffer end)'
    folder = tmp_path / "build"
    assert invoke(DIGITS, "-t", "loihi2", "-o", folder)[0] == 0
    data = bytearray((folder / "model.net").read_bytes())
    data[800:1600] = b"\xff" * 800
    (folder / "model.net").write_bytes(bytes(data))
    _rehash(folder)
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 64)))
    assert_refused(run(folder, tmp_path / "x.npy"), "model.net")


def test_an_emu_manifest_without_its_image_names_it(damaged):
    """Found by fuzzing (benchmarks/fuzz.py seed 24, damaged builds case 24000814): a manifest
    re-hashed with no files was `internal error: KeyError: 'image'`."""
    from snncompile.artifacts import manifest_digest

    def drop_files(m):
        m["files"] = {}
        m["manifest_sha256"] = manifest_digest(m)
    _edit_manifest(damaged[0], drop_files)
    assert_refused(run(*damaged), "manifest.json", "'image'")
