"""verify.compare on arrays built by hand: every number in the report is the one we can compute."""

import numpy as np
import pytest

from snncompile.verify import TIMING_ADVICE, compare, predictions, with_advice


def test_report_numbers_and_checks():
    rng = np.random.default_rng(1)
    out = (rng.random((4, 6, 3)) < 0.4).astype(np.int8)
    out[:, :, 0] += 2 * (np.arange(4) == 0)[:, None].astype(np.int8)  # sample 0 prefers class 0
    hidden = (rng.random((4, 6, 5)) < 0.5).astype(np.int8)
    hw_hidden = hidden.copy()
    hw_hidden[2, 3, 1] = 1 - hw_hidden[2, 3, 1]  # one flip at step 4 (1-based)
    labels = predictions(out)
    report = compare("emu", {"h": hidden, "output": out}, {"h": hw_hidden, "output": out},
                     "output", labels=labels, max_count_error=0.0, max_accuracy_drop=0.0,
                     min_train_agreement=1.0)
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
                     labels=np.array([0, 0]), max_count_error=0.1, max_accuracy_drop=1.0,
                     min_train_agreement=None)
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


def _sparse_output(seed: int = 3) -> np.ndarray:
    """An output layer as real ones look: 218 spikes in 8 x 100 x 10 = 8,000 entries."""
    out = np.zeros((8, 100, 10), dtype=np.int8)
    flat = np.random.default_rng(seed).choice(out.size, 218, replace=False)
    out.reshape(-1)[flat] = 1
    return out


def test_losing_40_percent_of_output_spikes_fails():
    """The entry-wise figure hides the loss (1.1 % of entries differ, far inside the old
    5 % gate); the per-neuron count error (0.4) and spike-train agreement (0.75) catch it."""
    ref = _sparse_output()
    hw = ref.copy()
    spikes = np.flatnonzero(hw)
    hw.reshape(-1)[spikes[::5]] = 0  # drop 2 of every 5 spikes
    hw.reshape(-1)[spikes[1::5]] = 0
    lost = 1 - hw.sum() / ref.sum()
    assert 0.39 < lost < 0.41
    report = compare("emu", {"output": ref}, {"output": hw}, "output")
    assert 1 - report.output_agreement < 0.012  # what the old gate measured (limit 0.05)
    assert report.output_count_error == pytest.approx(lost)
    assert report.output_train_agreement == 2 * hw.sum() / (ref.sum() + hw.sum())
    assert report.output_train_agreement < 0.76
    failed = {c.name for c in report.checks if not c.passed}
    assert failed == {"output spike-count error", "output spike-train agreement"}
    assert not report.passed


def test_equal_spikes_pass_and_moved_spikes_do_not():
    """Equal trains pass with error 0 and agreement 1; the same counts at other steps keep the
    count error at 0 but fail the spike-train agreement."""
    ref = _sparse_output()
    report = compare("emu", {"output": ref}, {"output": ref}, "output")
    assert (report.output_count_error, report.output_train_agreement) == (0.0, 1.0)
    assert report.passed
    moved = np.roll(ref, 1, axis=1)  # every spike one step later
    moved[:, 0] = ref[:, -1]  # np.roll wraps: the same counts per neuron
    report = compare("emu", {"output": ref}, {"output": moved}, "output")
    assert report.output_count_error == 0.0 and report.output_train_agreement < 0.1
    assert [c.name for c in report.checks if not c.passed] == ["output spike-train agreement"]


def test_silence_on_both_sides_agrees_and_worst_layer_is_named():
    silent = np.zeros((2, 5, 3), dtype=np.int8)
    hidden = _sparse_output()[:2, :5]
    hw_hidden = hidden.copy()
    hw_hidden[hw_hidden != 0] = 0
    report = compare("emu", {"h": hidden, "g": hidden, "output": silent},
                     {"h": hw_hidden, "g": hidden, "output": silent}, "output")
    assert report.output_train_agreement == 1.0 and report.output_count_error == 0.0
    assert report.worst_layer == "h"


def test_prediction_agreement_gate():
    out = np.zeros((2, 4, 2), dtype=np.int8)
    out[:, :, 0] = 1
    hw = out.copy()
    hw[0] = hw[0, :, ::-1]
    report = compare("emu", {"output": out}, {"output": hw}, "output", max_count_error=None,
                     min_train_agreement=None, min_prediction_agreement=0.75)
    (check,) = report.checks
    assert (check.name, check.value, check.at_least, check.passed) == (
        "prediction agreement", 0.5, True, False)


def test_moved_output_spikes_get_the_timing_advice_and_lost_ones_do_not():
    """Spikes moved by one step (counts equal) fail the train gate only, and the advice names
    the count-read alternative; losing half of them fails the count gate too: no such advice."""
    out = np.zeros((2, 12, 3), dtype=np.int8)
    out[:, ::3, 1] = 1
    moved, lost = np.roll(out, 1, axis=1), out.copy()
    lost[:, ::6] = 0
    for hw, timing in ((moved, True), (lost, False)):
        report = with_advice(compare("emu", {"output": out}, {"output": hw}, "output"), True, 8)
        failed = {c.name for c in report.checks if not c.passed}
        assert ("output spike-count error" in failed) != timing
        assert "output spike-train agreement" in failed
        assert (TIMING_ADVICE in report.advice) == timing
