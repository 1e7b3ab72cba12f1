"""Compare, on the same inputs, the trainer's own model (where it can run), the float reference
and a hardware back end: the chain that proves the chip computes what the trainer computed."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from snncompile.spike_tally import SpikeTally


@dataclasses.dataclass(frozen=True)
class LayerAgreement:
    """Spikes of one neuron layer in the float model and on the hardware."""

    name: str
    neurons: int
    float_spikes: int
    hw_spikes: int
    count_error: float  # per-neuron spike-count error over the reference's spikes (spike_metrics)
    train_agreement: float  # spike-train agreement ignoring shared silence (Dice)
    agreement: float  # information only: fraction of equal (sample, step, neuron) entries
    first_divergence: int | None  # earliest time step (1-based) where they differ in any sample


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    passed: bool
    at_least: bool = False  # the limit is a floor (agreements), not a ceiling (errors)


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    target: str
    samples: int
    steps: int
    layers: tuple[LayerAgreement, ...]
    output_agreement: float  # information only: entry-wise, dominated by shared silence
    prediction_agreement: float
    float_accuracy: float | None
    hw_accuracy: float | None
    checks: tuple[Check, ...]
    source_agreement: float | None = None  # trainer's model vs float reference, output spikes
    overflows: tuple[dict, ...] = ()  # strict mode: every u wrap / v saturation (layer, step)
    reference: str = "float reference"  # what the hardware side is compared with
    backend_mismatches: int | None = None  # target's output entries that differ from the emulator
    output_count_error: float = 0.0  # per-neuron spike-count error of the output layer
    output_train_agreement: float = 1.0  # spike-train agreement of the output layer
    worst_layer: str | None = None  # the layer whose spike trains agree least
    advice: tuple[str, ...] = ()  # what may help when a spike or accuracy check fails

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["passed"] = self.passed
        return d


def predictions(spikes: np.ndarray) -> np.ndarray:
    """Class per sample: the output neuron with the most spikes (ties go to the lowest index)."""
    counts = spikes.reshape(spikes.shape[0], spikes.shape[1], -1).sum(axis=1)
    return counts.argmax(axis=1)


def with_backend(report: VerifyReport, emulator_out: np.ndarray, backend_out: np.ndarray
                 ) -> VerifyReport:
    """Add the exact check: the target's own run (Lava, RTL) must equal the emulator entry for
    entry, since both implement the same integer arithmetic."""
    return with_backend_count(report, int(np.count_nonzero((emulator_out != 0)
                                                           != (backend_out != 0))))


def with_backend_count(report: VerifyReport, differing: int) -> VerifyReport:
    """with_backend given the count of differing output entries (merged over shards)."""
    check = Check(f"emulator vs {report.target}: differing output entries", differing, 0,
                  differing == 0)
    return dataclasses.replace(report, checks=(*report.checks, check),
                               backend_mismatches=differing)


SPIKE_CHECKS = ("output spike-count error", "output spike-train agreement",
                "accuracy drop (points)", "prediction agreement")


def with_advice(report: VerifyReport, weight_split: bool, weight_bits: int) -> VerifyReport:
    """When a spike or accuracy check fails, say which quantization options may help."""
    if all(c.passed for c in report.checks if c.name in SPIKE_CHECKS):
        return report
    advice = []
    if weight_bits < 8:
        advice.append(f"--weight-bits 8 (now {weight_bits}): the widest weights Lava keeps")
    if not weight_split:
        advice.append("--weight-split: a finer twin per Dense, about 8 more weight bits for "
                      "twice the synapses")
    failed = {c.name for c in report.checks if not c.passed}
    if "output spike-train agreement" in failed and "output spike-count error" not in failed:
        advice.append(TIMING_ADVICE)
    return dataclasses.replace(report, advice=tuple(advice))


# the output fires as often but at other steps (measured: tests/test_neurobench_gsc.py, README)
TIMING_ADVICE = (
    "the output neurons fire as often as in the reference but at other steps: a model whose "
    "output spike timing drifts with any rounding cannot meet this gate in fixed point "
    "(NeuroBench's GSC model: its own float forward, weights moved by 1e-5 of their range, keeps "
    "0.76-0.83 of its output spike train); a model read by spike counts is checked by the count "
    "error and --min-prediction-agreement, with --min-train-agreement 0")


def _layer(name: str, tally: SpikeTally) -> LayerAgreement:
    return LayerAgreement(
        name=name,
        neurons=tally.neurons,
        float_spikes=tally.ref_spikes,
        hw_spikes=tally.other_spikes,
        count_error=tally.count_error,
        train_agreement=tally.train_agreement,
        agreement=tally.entry_agreement,
        first_divergence=tally.first_divergence,
    )


def compare(target: str, float_spikes: dict[str, np.ndarray], hw_spikes: dict[str, np.ndarray],
            output: str, labels: np.ndarray | None = None,
            source_spikes: np.ndarray | None = None, **limits: Any) -> VerifyReport:
    """Build the report from per-layer spike arrays (batch, time, *shape) keyed by layer name.

    Checks on the output layer: the per-neuron spike-count error relative to the reference's
    spikes is at most `max_count_error`, and the spike-train agreement (shared silence ignored)
    at least `min_train_agreement` (None: not checked, as when with_backend gates the same
    outputs exactly); with labels, hardware accuracy is at most `max_accuracy_drop` points below
    float accuracy; with `min_prediction_agreement`, at least that fraction of samples gets the
    same class; with `source_spikes` (the trainer's model on the same input), at most
    `max_source_mismatch` of its output entries differ from the float reference (float32 vs
    float64 rounding only); with `overflows` (strict mode), there are none. `limits` are
    compare_tallies' keywords.
    """
    tallies = {name: SpikeTally.of(float_spikes[name], hw_spikes[name])
               for name in float_spikes if name in hw_spikes}
    f_out = float_spikes[output]
    source = None if source_spikes is None else SpikeTally.of(source_spikes, f_out)
    return compare_tallies(target, f_out.shape[0], f_out.shape[1], tallies,
                           predictions(f_out), predictions(hw_spikes[output]), output, labels,
                           source=source, **limits)


def compare_tallies(
    target: str,
    samples: int,
    steps: int,
    tallies: dict[str, SpikeTally],
    f_pred: np.ndarray,
    h_pred: np.ndarray,
    output: str,
    labels: np.ndarray | None = None,
    max_count_error: float | None = 0.1,
    max_accuracy_drop: float = 1.0,
    source: SpikeTally | None = None,
    max_source_mismatch: float = 0.001,
    overflows: list[dict] | None = None,
    reference: str = "float reference",
    min_train_agreement: float | None = 0.8,
    min_prediction_agreement: float | None = None,
) -> VerifyReport:
    """`compare` from the integer tallies of each layer (reference vs hardware), the predicted
    class per sample on both sides and the source tally (trainer's model vs reference): the form
    that shards merge exactly (snncompile.shard)."""
    layers = tuple(_layer(name, tally) for name, tally in tallies.items())
    out = next(layer for layer in layers if layer.name == output)
    prediction_agreement = float(np.mean(f_pred == h_pred))
    checks = []
    if max_count_error is not None:
        checks.append(Check("output spike-count error", out.count_error, max_count_error,
                            out.count_error <= max_count_error))
    if min_train_agreement is not None:
        checks.append(Check("output spike-train agreement", out.train_agreement,
                            min_train_agreement, out.train_agreement >= min_train_agreement,
                            at_least=True))
    if min_prediction_agreement is not None:
        checks.append(Check("prediction agreement", prediction_agreement,
                            min_prediction_agreement,
                            prediction_agreement >= min_prediction_agreement, at_least=True))
    source_agreement = None
    if source is not None:
        source_agreement = source.entry_agreement
        checks.insert(0, Check("source vs float reference mismatch", 1 - source_agreement,
                               max_source_mismatch, 1 - source_agreement <= max_source_mismatch))
    if overflows is not None:
        checks.append(Check("overflow events (strict)", len(overflows), 0, not overflows))
    f_acc = h_acc = None
    if labels is not None:
        f_acc = float(np.mean(f_pred == labels) * 100)
        h_acc = float(np.mean(h_pred == labels) * 100)
        checks.append(Check("accuracy drop (points)", f_acc - h_acc, max_accuracy_drop,
                            f_acc - h_acc <= max_accuracy_drop))
    hidden = [layer for layer in layers if layer.name != output] or [out]
    worst = min(hidden, key=lambda layer: (layer.train_agreement, -layer.count_error))
    return VerifyReport(
        target=target,
        samples=int(samples),
        steps=int(steps),
        layers=layers,
        output_agreement=out.agreement,
        prediction_agreement=prediction_agreement,
        float_accuracy=f_acc,
        hw_accuracy=h_acc,
        checks=tuple(checks),
        source_agreement=source_agreement,
        overflows=tuple(overflows or ()),
        reference=reference,
        output_count_error=out.count_error,
        output_train_agreement=out.train_agreement,
        worst_layer=worst.name,
    )
