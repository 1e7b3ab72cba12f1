"""verify.compare on arrays built by hand: every number in the report is the one we can compute."""

import numpy as np

from snncompile.verify import compare, predictions


def test_report_numbers_and_checks():
    rng = np.random.default_rng(1)
    out = (rng.random((4, 6, 3)) < 0.4).astype(np.int8)
    out[:, :, 0] += 2 * (np.arange(4) == 0)[:, None].astype(np.int8)  # sample 0 prefers class 0
    hidden = (rng.random((4, 6, 5)) < 0.5).astype(np.int8)
    hw_hidden = hidden.copy()
    hw_hidden[2, 3, 1] = 1 - hw_hidden[2, 3, 1]  # one flip at step 4 (1-based)
    labels = predictions(out)
    report = compare("emu", {"h": hidden, "output": out}, {"h": hw_hidden, "output": out},
                     "output", labels=labels, max_spike_mismatch=0.0, max_accuracy_drop=0.0)
    h, o = report.layers
    assert (h.name, h.neurons, h.first_divergence) == ("h", 5, 4)
    assert h.agreement == 1 - 1 / hidden.size
    assert o.agreement == 1.0 and o.first_divergence is None
    assert report.float_accuracy == report.hw_accuracy == 100.0
    assert report.passed and report.to_dict()["passed"]


def test_failing_checks():
    out = np.zeros((2, 4, 2), dtype=np.int8)
    out[:, :, 0] = 1
    hw = out.copy()
    hw[0] = hw[0, :, ::-1]  # sample 0's class flips
    report = compare("emu", {"output": out}, {"output": hw}, "output",
                     labels=np.array([0, 0]), max_spike_mismatch=0.1, max_accuracy_drop=1.0)
    assert report.prediction_agreement == 0.5
    assert (report.float_accuracy, report.hw_accuracy) == (100.0, 50.0)
    assert [c.passed for c in report.checks] == [False, False]
    assert not report.passed


def test_ties_go_to_the_lowest_index():
    spikes = np.ones((1, 3, 4), dtype=np.int8)
    assert predictions(spikes).tolist() == [0]


def test_source_tier():
    """The trainer's model is compared with the float reference on the output; None skips it."""
    out = np.zeros((2, 5, 3), dtype=np.int8)
    out[:, ::2, 1] = 1
    source = out.copy()
    source[1, 4, 2] = 1
    report = compare("emu", {"output": out}, {"output": out}, "output",
                     source_spikes=source, max_source_mismatch=0.0)
    assert report.source_agreement == 1 - 1 / out.size
    assert report.checks[0].name == "source vs float reference mismatch"
    assert not report.checks[0].passed and not report.passed
    plain = compare("emu", {"output": out}, {"output": out}, "output")
    assert plain.source_agreement is None and plain.passed
