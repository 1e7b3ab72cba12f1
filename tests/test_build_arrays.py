"""Build folders keep graph structure as text and large arrays in a binary .npz beside it: the
text of a compiled model stays readable (every node and edge, small parameters inline), reads
back to the exact graph (nn and hw), and the golden form (text.dumps alone) is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snncompile import api
from snncompile.errors import GraphCheckError
from snncompile.ir import text
from snncompile.ir.image import load_image

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


@pytest.mark.parametrize("target", ["emu", "loihi2"])
def test_build_text_plus_npz_reads_back_exactly(tmp_path, target):
    result = api.compile_model(DIGITS, target, out_dir=tmp_path / "build")
    build = tmp_path / "build"
    files = json.loads((build / "manifest.json").read_text())["files"]
    assert files["hw_graph"] == "model.hw.txt" and files["hw_graph_arrays"] == "model.hw.npz"
    assert files["nn_graph"] == "model.nn.txt" and files["nn_graph_arrays"] == "model.nn.npz"
    hw_text = (build / "model.hw.txt").read_text()
    # structure in the text, one line per node and edge; the 64x64 weights only in the npz
    assert hw_text.count("\nnode ") == len(result.hw_graph.nodes)
    assert hw_text.count("\nedge ") == len(result.hw_graph.edges)
    assert '"npz": "' in hw_text and len(hw_text) < 20_000
    assert text.dumps(text.read(build / "model.hw.txt")) == text.dumps(result.hw_graph)
    assert text.dumps(text.read(build / "model.nn.txt")) == text.dumps(result.nn_graph)
    if target == "emu":
        assert text.dumps(load_image(build / files["image"])) == text.dumps(result.hw_graph)


def test_small_arrays_stay_inline_and_missing_arrays_are_named(tmp_path):
    graph = api.lower(api.load(DIGITS))[0]
    arrays: dict = {}
    dumped = text.dumps(graph, arrays)
    assert arrays and all(a.size > text.INLINE for a in arrays.values())
    assert text.dumps(text.loads(dumped, arrays)) == text.dumps(graph)
    assert '"data": [' in dumped  # small parameters (shapes, biases of few values) stay readable
    missing = next(iter(arrays))
    with pytest.raises(GraphCheckError, match=missing.replace(".", r"\.")):
        text.loads(dumped, {k: v for k, v in arrays.items() if k != missing})
