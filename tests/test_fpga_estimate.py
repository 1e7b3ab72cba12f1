"""Resource estimates: yosys family flows on the digits RTL, and the analytical model's
calibration against them (the model must stay within 2x on LUT/FF and close on BRAM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_fpga_cosim import random_graph

from snncompile import api
from snncompile.backends import fpga
from snncompile.backends.fpga.plan import make_plan
from snncompile.errors import SnnCompileError
from snncompile.estimate import analytic_resources, estimate_build

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits" / "digits.pt"


def _build(graph, tmp_path):
    folder = tmp_path / "build"
    folder.mkdir()
    fpga.write(graph, folder)
    return folder


def _close(analytic: dict, yosys: dict) -> None:
    for key in ("lut", "ff"):
        assert 0.5 <= analytic[key] / yosys[key] <= 2.0, (key, analytic, yosys)
    assert abs(analytic["bram"] - yosys["bram"]) <= max(2, yosys["bram"] // 2), (analytic, yosys)


@pytest.mark.parametrize("family", ["ice40", "xilinx"])
def test_digits_yosys_and_analytic(family, tmp_path):
    graph, _ = api.lower(api.load(DIGITS), "fpga")
    rep = estimate_build(_build(graph, tmp_path), family)
    ys = rep["yosys"]
    assert ys["lut"] > 100 and ys["ff"] > 100 and ys["bram"] >= 1
    assert sum(ys["cells"].values()) >= ys["lut"] + ys["ff"] + ys["bram"] // 2
    _close(rep["analytic"], ys)


def test_analytic_calibrated_on_a_random_graph(tmp_path):
    graph = random_graph(np.random.default_rng(104), "stress")  # not one of the fitted designs
    rep = estimate_build(_build(graph, tmp_path), "ice40")
    _close(rep["analytic"], rep["yosys"])


def test_analytic_bram_grows_with_weights():
    small = random_graph(np.random.default_rng(2))
    graph, _ = api.lower(api.load(DIGITS), "fpga")
    a, b = analytic_resources(make_plan(small)), analytic_resources(make_plan(graph))
    assert b["memory_bits"] > a["memory_bits"] and b["bram"] >= 10


def test_unknown_family_is_one_sentence(tmp_path):
    graph = random_graph(np.random.default_rng(2))
    with pytest.raises(SnnCompileError, match="unknown FPGA family 'gowin'"):
        estimate_build(_build(graph, tmp_path), "gowin")
