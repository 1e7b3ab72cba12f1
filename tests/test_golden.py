"""Golden artefacts: the hw graph text of shipped models is byte-identical from run to run and
across pure refactors. After an intended change, regenerate with
SNNCOMPILE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from snncompile import api
from snncompile.ir import text

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "digits": lambda data: REPO / "examples/digits/digits.pt",
    "lif_norse": lambda data: data / "nir-paper/01_lif/lif_norse.nir",
    "braille_bias_zero": lambda data: data / "nir-paper/03_rnn/braille_noDelay_bias_zero.nir",
}


@pytest.mark.parametrize("name", MODELS)
def test_hw_graph_text_is_golden(third_party, name):
    hw_text = text.dumps(api.lower(api.load(MODELS[name](third_party)))[0])
    assert hw_text == text.dumps(api.lower(api.load(MODELS[name](third_party)))[0])  # repeatable
    golden = GOLDEN / f"{name}.hw.txt"
    if os.environ.get("SNNCOMPILE_UPDATE_GOLDEN"):
        golden.write_text(hw_text)
    assert golden.is_file(), f"missing {golden}; run with SNNCOMPILE_UPDATE_GOLDEN=1 to create it"
    assert hw_text == golden.read_text(), f"{name}: hw graph changed; see the module docstring"
