"""NIR files carry no reset mode: `--reset zero|subtract` chooses it, and reading a file whose
reset had to be assumed says so in a notice (on stderr; a Python warning for library users)."""

from __future__ import annotations

import json
import warnings

import nir
import numpy as np
import pytest
from test_cli import snncompile

from snncompile import api
from snncompile.frontends.nir import to_nir
from snncompile.progress import AssumptionNotice


def _model(path) -> None:
    """One LIF layer driven hard enough that v overshoots the threshold: subtracting the
    threshold keeps the overshoot, so it fires more often than resetting to zero."""
    w = np.full((3, 4), 0.4)
    nir.write(path, nir.NIRGraph.from_list(
        nir.Affine(w, np.zeros(3)),
        nir.LIF(tau=np.full(3, 1e-3), r=np.ones(3), v_leak=np.zeros(3),
                v_threshold=np.full(3, 0.25), v_reset=np.zeros(3))))


def _neuron_resets(build) -> set[str]:
    text = (build / "model.nn.txt").read_text()
    return {json.loads(line.split(" LIF ", 1)[1])["reset"] for line in text.splitlines()
            if " LIF " in line}


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_reset_option_sets_every_neuron(tmp_path, reset):
    _model(tmp_path / "m.nir")
    result = snncompile(tmp_path / "m.nir", "--reset", reset, "-o", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    assert _neuron_resets(tmp_path / "b") == {reset}
    assert "notice" not in result.stderr  # nothing was assumed


def test_assumed_reset_is_a_notice(tmp_path):
    _model(tmp_path / "m.nir")
    result = snncompile(tmp_path / "m.nir", "-o", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("notice: m.nir carries no reset mode") and "--reset subtract" in line
    assert _neuron_resets(tmp_path / "b") == {"zero"}
    assert snncompile(tmp_path / "m.nir", "-q").stderr == ""  # -q: no notices either


def test_the_two_resets_compute_differently_and_the_notice_is_a_warning(tmp_path):
    _model(tmp_path / "m.nir")
    x = np.ones((1, 20, 4), dtype=np.int8)
    with pytest.warns(AssumptionNotice, match="m.nir carries no reset mode"):
        zero = api.load(tmp_path / "m.nir")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stated reset warns about nothing
        subtract = api.load(tmp_path / "m.nir", reset="subtract")
        api.load(tmp_path / "m.nir", reset="zero")
        nir.write(tmp_path / "ours.nir", to_nir(subtract))  # our writer records each reset
        assert api.load(tmp_path / "ours.nir").nodes["lif"].reset == "subtract"
    from snncompile.sim.reference import run_reference

    counts = [run_reference(g, x)[g.outputs[0]].sum() for g in (zero, subtract)]
    assert counts[1] > counts[0] > 0
