"""The shipped digits SNN through the fpga back end: RTL spikes and cycles equal emulator + model.

Icarus runs the first inferences (about 24 k cycles each); Verilator runs all 360 test samples.
Also: the resource report (yosys synth_ice40) and the latency per inference at the target clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snncompile import api
from snncompile.backends import fpga
from snncompile.backends.fpga.plan import make_plan
from snncompile.ir import text
from snncompile.sim.cycles import cycle_trace, latency_report
from snncompile.sim.emulator import run_emulator, simulate
from snncompile.sim.timing import latency
from snncompile.target import known_targets

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits" / "digits.pt"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    from data import load_split

    _, _, x, y = load_split()
    graph, _ = api.lower(api.load(DIGITS), "fpga")
    folder = tmp_path_factory.mktemp("digits") / "build"
    folder.mkdir()
    files = fpga.write(graph, folder)
    return graph, folder, {"files": files}, x, y


def _model(graph, x):
    plan = make_plan(graph)
    steps = x.shape[1] + latency(graph)
    trace = simulate(graph, x, steps)
    return plan, cycle_trace(plan, x, trace.spikes)


def test_fpga_target_lowers_exactly_like_the_emulator_target():
    ref = "emu" if "emu" in known_targets() else "loihi2"
    nn = api.load(DIGITS)
    a, b = api.lower(nn, "fpga")[0], api.lower(nn, ref)[0]
    def strip(g):
        return [ln for ln in text.dumps(g).splitlines() if not ln.startswith("meta")]

    assert strip(a) == strip(b)


def test_icarus_equals_emulator_and_cycle_model(digits, tmp_path):
    graph, folder, manifest, x, _ = digits
    x = x[:6]
    out, rows = fpga.run(folder, manifest, x, simulator="icarus", report=tmp_path / "cycles.json")
    emu = run_emulator(graph, x)
    np.testing.assert_array_equal(out, emu.outputs[graph.outputs[0]])
    assert out.sum() > 0 and rows == []
    _, _, trace = fpga.simulate_build(folder, x, "icarus")
    _, want = _model(graph, x)
    assert trace.equals(want)
    rep = json.loads((tmp_path / "cycles.json").read_text())
    assert rep["total_cycles"] == want.total
    assert rep["simulator"] == "icarus" and rep["us_per_inference"]["mean"] > 0


def test_verilator_all_samples_equal_emulator(digits, tmp_path):
    graph, folder, _, x, y = digits
    _, plan, trace = fpga.simulate_build(folder, x, "verilator", work=tmp_path)
    _, want = _model(graph, x)
    assert trace.total == want.total
    np.testing.assert_array_equal(trace.stamps, want.stamps)
    np.testing.assert_array_equal(trace.step_end, want.step_end)
    emu = run_emulator(graph, x)
    out_core = plan.cores[plan.output_core]
    depth = latency(graph)
    rtl_out = trace.spikes(plan.output_core, out_core.n, len(x), x.shape[1] + depth)
    np.testing.assert_array_equal(rtl_out[:, depth:], emu.outputs[graph.outputs[0]])
    accuracy = (rtl_out.sum(axis=1).argmax(axis=1) == y).mean()
    assert accuracy > 0.9  # the emulator's 97.5 %, reached on the RTL
    rep = latency_report(plan, trace, 100.0)
    assert 10_000 < rep["cycles_per_inference"]["mean"] < 60_000


def test_compile_and_run_through_the_api(monkeypatch, tmp_path, digits):
    """As the CLI will: registry entry "fpga" -> compile_model writes rtl/, run_build simulates."""
    from snncompile.backends import BACKENDS

    monkeypatch.setitem(BACKENDS, "fpga", "snncompile.backends.fpga")
    graph, _, _, x, _ = digits
    api.compile_model(DIGITS, "fpga", tmp_path / "a")
    api.compile_model(DIGITS, "fpga", tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and (p.parent.name == "rtl" or p.name == "README.md"))
    assert len(files) > 8
    for rel in files:  # byte-identical from run to run
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert "do not edit" in (tmp_path / "a" / "README.md").read_text().splitlines()[0]
    lint = subprocess.run(["make", "lint"], cwd=tmp_path / "a" / "rtl", capture_output=True,
                          text=True, check=False)  # the generated Makefile's lint target
    assert lint.returncode == 0 and "%Warning" not in lint.stderr, lint.stderr
    out, _ = api.run_build(tmp_path / "a", x[:2])
    np.testing.assert_array_equal(out, run_emulator(graph, x[:2]).outputs[graph.outputs[0]])
