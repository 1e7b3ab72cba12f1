"""Golden artefacts: the hw graph text, the generated Lava program (run_lava.py, model.net as
text) and the Verilog of shipped models are byte-identical from run to run and across pure
refactors. The golden files are the exact artefacts, long lines wrapped (tests/golden_text.py).
After an intended change, regenerate with
SNNCOMPILE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from golden_text import folder_text, wrap

from snncompile import api
from snncompile.ir import text

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "digits": lambda data: REPO / "examples/digits/digits.pt",
    "lif_norse": lambda data: data / "nir-paper/01_lif/lif_norse.nir",
    "braille_bias_zero": lambda data: data / "nir-paper/03_rnn/braille_noDelay_bias_zero.nir",
}
# the files of a build that are generated from the graph (placement.png and the manifest, which
# names the model's path, are not): the Lava program and the RTL
LOIHI2_FILES = ["run_lava.py", "README.md", "netx_notes.json", "model.net", "placement.json"]


def fpga_files(folder: Path) -> list[str]:
    rtl = sorted(f"rtl/{p.name}" for p in (folder / "rtl").iterdir())
    return [*rtl, "README.md", "fpga.json", "placement.json"]


def check_golden(name: str, got: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("SNNCOMPILE_UPDATE_GOLDEN"):
        golden.write_text(got)
    assert golden.is_file(), f"missing {golden}; run with SNNCOMPILE_UPDATE_GOLDEN=1 to create it"
    assert got == golden.read_text(), f"{name} changed; see the module docstring"


@pytest.mark.parametrize("name", MODELS)
def test_hw_graph_text_is_golden(third_party, name):
    hw_text = text.dumps(api.lower(api.load(MODELS[name](third_party)))[0])
    assert hw_text == text.dumps(api.lower(api.load(MODELS[name](third_party)))[0])  # repeatable
    check_golden(f"{name}.hw.txt", wrap(hw_text))


@pytest.mark.parametrize("name", MODELS)
def test_lava_program_is_golden(third_party, tmp_path, name):
    api.compile_model(MODELS[name](third_party), "loihi2", tmp_path / "b")
    check_golden(f"{name}.loihi2.txt", folder_text(tmp_path / "b", LOIHI2_FILES))


@pytest.mark.parametrize("name", MODELS)
def test_verilog_is_golden(third_party, tmp_path, name):
    api.compile_model(MODELS[name](third_party), "fpga", tmp_path / "b")
    check_golden(f"{name}.fpga.txt", folder_text(tmp_path / "b", fpga_files(tmp_path / "b")))
