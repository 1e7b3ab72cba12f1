"""A new chip of a known kind is a target folder and no Python (docs/adding-a-chip.md): copies
of targets/fpga and targets/loihi2 with other limits compile from `--target that/folder`, and
their builds run bit-exact with the emulator."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snncompile import api
from snncompile.cli import cli
from snncompile.errors import SnnCompileError
from snncompile.partition import core_model
from snncompile.sim.emulator import run_emulator
from snncompile.target import load_target, registry

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


def new_chip(tmp_path: Path, kind: str, name: str, neurons_per_core: int) -> Path:
    """targets/<kind> copied to tmp_path/<name> with its own name and neurons_per_core: the
    steps of docs/adding-a-chip.md, as a user does them, in text."""
    folder = tmp_path / name
    shutil.copytree(registry() / kind, folder)
    toml = folder / "target.toml"
    text = toml.read_text()
    text = re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', text, count=1)
    text = re.sub(r"(?m)^neurons_per_core = \{ value = \d+,",
                  f"neurons_per_core = {{ value = {neurons_per_core},", text, count=1)
    toml.write_text(text)
    return folder


def compile_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, ["compile", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def digits_x(n: int) -> np.ndarray:
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from data import load_split

    _, _, x, _ = load_split()
    return x[:n]


def test_target_is_a_name_a_folder_or_a_target(tmp_path):
    by_name = load_target("fpga")
    assert load_target(registry() / "fpga") is load_target(str(registry() / "fpga"))
    assert load_target(by_name) is by_name
    assert load_target("fpga") is by_name  # read once
    assert by_name.ref == "fpga" and by_name.templates == registry() / "fpga" / "templates"
    board = load_target(new_chip(tmp_path, "fpga", "board8", 8))
    assert (board.name, board.backend, board.ref) == ("board8", "fpga", str(tmp_path / "board8"))
    assert core_model(board).neurons == 8 and core_model(by_name).neurons == 4096
    with pytest.raises(SnnCompileError, match=r"^unknown target 'nope' \(known targets: emu, "):
        load_target("nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SnnCompileError, match=r"^target folder .*empty has no target.toml$"):
        load_target(tmp_path / "empty")


@pytest.mark.slow
def test_new_fpga_board_from_a_folder(tmp_path):
    """neurons_per_core = 8: the 64-neuron hidden layer takes 8 RTL cores, the output 2; the
    RTL simulated by Icarus equals the emulator."""
    board = new_chip(tmp_path, "fpga", "board8", 8)
    (board / "templates" / "README.md.j2").write_text(
        (board / "templates" / "README.md.j2").read_text() + "Built for board8.\n")
    out = compile_cli(DIGITS, "--target", board, "-o", tmp_path / "b")
    assert "wrote" in out
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["target"] == str(board)
    cores = sorted((tmp_path / "b" / "rtl").glob("snn_core*.v"))
    assert len(cores) == 10
    placed = json.loads((tmp_path / "b" / "placement.json").read_text())
    assert max(c["use"]["neurons"] for c in placed["cores"]) == 8
    assert (tmp_path / "b" / "README.md").read_text().endswith("Built for board8.\n")
    shipped = api.compile_model(DIGITS, "fpga", tmp_path / "shipped")
    assert len(list((tmp_path / "shipped" / "rtl").glob("snn_core*.v"))) == 2
    x = digits_x(1).astype(np.int8)
    got, _ = api.run_build(tmp_path / "b", x)
    want = run_emulator(shipped.hw_graph, x).outputs["output"]
    assert want.any()
    np.testing.assert_array_equal(got, want)


def test_report_lists_the_rtl_cores_of_the_builds_own_board(tmp_path):
    """The report's RTL core table plans against the Build's Target and placement: the
    8-neuron board lists 10 cores (8 for the 64 hidden neurons, 2 for the 10 outputs), all from
    the partitioner's placement; the shipped board holds each layer in one core."""
    from snncompile.report.cores import rtl_core_rows

    board = api.build(DIGITS, new_chip(tmp_path, "fpga", "board8", 8))
    rows = rtl_core_rows(board.hw_graph, board.target, board.placement)
    assert [r["neurons"] for r in rows] == [8] * 8 + [8, 2]
    assert len(board.placement.blocks) == len(rows)
    shipped = api.build(DIGITS, "fpga")
    assert [r["neurons"] for r in rtl_core_rows(shipped.hw_graph, shipped.target)] == [64, 10]


@pytest.mark.slow
def test_new_loihi2_part_from_a_folder(tmp_path):
    """A Loihi-2-like part with 16 neurons per core: the same Lava program, a placement on more
    cores, and Lava's run equal to the emulator's."""
    part = new_chip(tmp_path, "loihi2", "loihi2x16", 16)
    out = compile_cli(DIGITS, "--target", part, "-o", tmp_path / "b")
    assert "placement: 5 cores" in out
    placed = json.loads((tmp_path / "b" / "placement.json").read_text())
    assert len(placed["cores"]) == 5
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["target"] == str(part)
    shipped = api.compile_model(DIGITS, "loihi2", tmp_path / "shipped")
    assert len(shipped.placement.cores) == 1
    for name in ("run_lava.py", "model.hw.txt"):
        assert (tmp_path / "b" / name).read_text().replace("loihi2x16", "loihi2") == (
            tmp_path / "shipped" / name).read_text()
    x = digits_x(2).astype(np.int8)
    got, _ = api.run_build(tmp_path / "b", x)
    np.testing.assert_array_equal(got, run_emulator(shipped.hw_graph, x).outputs["output"])


def test_loihi1_builds_with_a_placement(tmp_path):
    """targets/loihi1 names the emulator back end; its build carries the partitioner's map of
    Loihi 1 cores (1024 neurons each)."""
    out = compile_cli(DIGITS, "--target", "loihi1", "-o", tmp_path / "b")
    assert "placement: 1 cores on 1 chip(s) of loihi1" in out
    files = json.loads((tmp_path / "b" / "manifest.json").read_text())["files"]
    assert files["placement"] == "placement.json" and files["image"] == "model.emu.npz"
    x = digits_x(2).astype(np.int8)
    got, _ = api.run_build(tmp_path / "b", x)
    hw_graph = api.compile_model(DIGITS, "loihi1").hw_graph
    np.testing.assert_array_equal(got, run_emulator(hw_graph, x).outputs["output"])
