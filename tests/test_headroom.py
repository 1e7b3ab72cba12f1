"""Calibrated headroom (passes/headroom.py): with --calibration each layer's u/v range comes from
the float model's measured |u| and |v| on that input instead of the worst case clipped to
[8, 128] thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from snncompile import api
from snncompile.errors import SnnCompileError
from snncompile.ir import nn_ops as nn
from snncompile.ir import text
from snncompile.ir.graph import Graph
from snncompile.passes import headroom
from snncompile.sim.emulator import run_emulator
from snncompile.sim.reference import run_reference

N_IN, N_OUT, BURST, STEPS = 20, 4, 10, 300


def piling_layer() -> Graph:
    """IF neurons, subtract reset, each input spike worth about 2 thresholds: a burst of all
    inputs piles v up to ~390 thresholds, which then drains one threshold a step. The worst-case
    bound (1 + 40 thresholds: one step of all inputs) is far below what the data reaches."""
    w = np.random.default_rng(1).uniform(1.8, 2.2, (N_OUT, N_IN))
    neuron = nn.IF(r=np.ones(N_OUT), v_threshold=np.ones(N_OUT), v_reset=np.zeros(N_OUT),
                   reset="subtract")
    return Graph("nn", {"in": nn.Input((N_IN,)), "fc": nn.Linear(w), "if": neuron,
                        "out": nn.Output((N_OUT,))},
                 [("in", "fc"), ("fc", "if"), ("if", "out")], dt=1e-3)


def burst(batch: int) -> np.ndarray:
    x = np.zeros((batch, STEPS, N_IN))
    x[:, :BURST] = 1.0
    return x


def saturations(hw_graph: Graph, x: np.ndarray) -> int:
    """Strict mode's v saturation entries in the burst and just after (where v piles up)."""
    events = run_emulator(hw_graph, x[:, :BURST + 5], strict=True).events
    return sum(e.count for e in events if e.kind == "v_saturation")


def test_calibrated_headroom_saturates_less_and_matches_the_float_model():
    """Default: the range is the worst case (~41 thresholds; the vth search rounds it up to ~140)
    and v saturates on every burst step; calibrated on the same kind of input, the range covers
    the pile-up: no saturation, and the spike counts equal the float reference's (the data-free
    range drains ~140 thresholds, not ~390, and loses about half the spikes)."""
    g, x = piling_layer(), burst(1)
    plain, plain_report = api.lower(g, "loihi2")
    calibrated, report = api.lower(g, "loihi2", calibration=burst(3))
    want = run_reference(g, x)["out"].sum()
    assert plain_report.layers[0].headroom_thr < 200
    assert report.layers[0].headroom_thr > 300
    assert saturations(plain, x) > 20  # each burst step clips v again
    assert saturations(calibrated, x) == 0
    got_plain = run_emulator(plain, x).outputs["out"].sum()
    got = run_emulator(calibrated, x).outputs["out"].sum()
    assert got == want and got_plain < 0.7 * want


def test_measured_ranges_follow_the_float_potential():
    """The measured range is the 0.999 quantile of |v| (pre-reset) and |u| in thresholds, taken
    here from the reference's own v trace: IF with subtract reset carries v + spike * thr."""
    g, x = piling_layer(), burst(2)
    r = run_reference(g, x, record=True, state=True)
    before_reset = r["if:v"] + r["if"]  # thr = 1
    want = max(np.quantile(np.abs(before_reset), headroom.QUANTILE),
               np.quantile(np.abs(r["fc"]), headroom.QUANTILE))
    assert headroom.measured_ranges(g, r)["if"] == pytest.approx(want)


def test_calibrated_headroom_is_reproducible():
    """The same calibration input gives the same hw graph, byte for byte, and the data-free
    rule stays when no calibration is given (no calibration: the goldens' path)."""
    g = piling_layer()
    first = text.dumps(api.lower(g, "loihi2", calibration=burst(3))[0])
    assert first == text.dumps(api.lower(g, "loihi2", calibration=burst(3))[0])
    assert first != text.dumps(api.lower(g, "loihi2")[0])
    assert headroom.room(500.0, None, 8.0, 128.0, 1e5) == 128.0
    assert headroom.room(500.0, 0.5, 8.0, 128.0, 1e5) == 8.5
    assert headroom.room(500.0, 1e6, 8.0, 128.0, 1e5) == 1e5
    assert headroom.room(500.0, float("nan"), 8.0, 128.0, 1e5) == 1e5


def test_static_calibration_data_keeps_the_data_free_headroom():
    """Data without a time axis (an ANN's threshold data, or an input range only) calibrates
    nothing here: the build equals the one without calibration."""
    g = piling_layer()
    static = api.lower(g, "loihi2", calibration=np.ones((3, N_IN)))[0]
    assert text.dumps(static) == text.dumps(api.lower(g, "loihi2")[0])


@pytest.mark.parametrize("bad, words", [
    (np.zeros((0, STEPS, N_IN)), "holds no samples or no steps"),
    (np.zeros((2, 0, N_IN)), "holds no samples or no steps"),
    (np.full((1, 5, N_IN), np.nan), "finite model input"),
])
def test_bad_calibration_data_is_one_sentence(bad, words):
    with pytest.raises(SnnCompileError, match=words) as info:
        api.lower(piling_layer(), "loihi2", calibration=bad)
    assert "\n" not in str(info.value)
