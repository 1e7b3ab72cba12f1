"""The NIR paper's LIF neuron: the reference reproduces Norse's recorded trace.

lif_norse.nir is one LIF (tau = 2.5 ms, r = 1, v_threshold = 0.1, v_reset = 0) behind a 1x1
Affine; lif_norse.csv is Norse's run of it at dt = 1e-4 over 1000 steps, columns input spike,
membrane voltage, output spike. Norse (LIFBox, lif_box_feed_forward_step) records the voltage
after the reset: at the 4 spike steps (460, 510, 710, 760) the recorded voltage is v_reset = 0,
not the potential that crossed the threshold. That is the reference's state "v" (the potential
carried to the next step). Norse computes in float32 and the CSV keeps ~8 digits: the float64
reference matches the voltage within 2.5e-8 (measured 2.43e-8); asserted at 1e-7. Spikes are
equal at every step.
"""

from __future__ import annotations

import numpy as np

from snncompile.frontends import load_model
from snncompile.sim.reference import run_reference


def test_reference_matches_norse_trace(third_party) -> None:
    folder = third_party / "nir-paper" / "01_lif"
    trace = np.loadtxt(folder / "lif_norse.csv", delimiter=",")
    graph = load_model(folder / "lif_norse.nir")
    assert graph.dt == 1e-4
    (lif,) = graph.of_kind("neuron")
    (out,) = graph.outputs
    result = run_reference(graph, trace[None, :, 0:1], state=True)
    voltage, spikes = result[f"{lif}:v"][0, :, 0], result[out][0, :, 0]
    np.testing.assert_array_equal(spikes, trace[:, 2])
    assert np.nonzero(spikes)[0].tolist() == [460, 510, 710, 760]
    assert np.all(trace[spikes == 1, 1] == 0.0)  # Norse records the post-reset voltage
    assert np.abs(voltage - trace[:, 1]).max() < 1e-7
