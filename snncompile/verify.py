"""Compare, on the same inputs, the trainer's own model (where it can run), the float reference
and a hardware back end: the chain that proves the chip computes what the trainer computed."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class LayerAgreement:
    """Spikes of one neuron layer in the float model and on the hardware."""

    name: str
    neurons: int
    float_spikes: int
    hw_spikes: int
    agreement: float  # fraction of (sample, step, neuron) entries where both spike or both stay silent
    first_divergence: int | None  # earliest time step (1-based) where they differ in any sample


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    passed: bool


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    target: str
    samples: int
    steps: int
    layers: tuple[LayerAgreement, ...]
    output_agreement: float
    prediction_agreement: float
    float_accuracy: float | None
    hw_accuracy: float | None
    checks: tuple[Check, ...]
    source_agreement: float | None = None  # trainer's model vs float reference, output spikes
    overflows: tuple[dict, ...] = ()  # strict mode: every u wrap / v saturation (layer, step)
    reference: str = "float reference"  # what the hardware side is compared with
    backend_mismatches: int | None = None  # target's output entries that differ from the emulator

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


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a != 0) == (b != 0))) if a.size else 1.0


def _first_divergence(a: np.ndarray, b: np.ndarray) -> int | None:
    """Where to start looking: the earliest step at which any sample's spikes differ."""
    steps = np.flatnonzero(((a != 0) != (b != 0)).reshape(a.shape[0], a.shape[1], -1).any(axis=(0, 2)))
    return int(steps[0]) + 1 if steps.size else None


def with_backend(report: VerifyReport, emulator_out: np.ndarray, backend_out: np.ndarray
                 ) -> VerifyReport:
    """Add the exact check: the target's own run (Lava, RTL) must equal the emulator entry for
    entry, since both implement the same integer arithmetic."""
    differing = int(np.count_nonzero((emulator_out != 0) != (backend_out != 0)))
    check = Check(f"emulator vs {report.target}: differing output entries", differing, 0,
                  differing == 0)
    return dataclasses.replace(report, checks=(*report.checks, check),
                               backend_mismatches=differing)


def compare(
    target: str,
    float_spikes: dict[str, np.ndarray],
    hw_spikes: dict[str, np.ndarray],
    output: str,
    labels: np.ndarray | None = None,
    max_spike_mismatch: float | None = 0.05,
    max_accuracy_drop: float = 1.0,
    source_spikes: np.ndarray | None = None,
    max_source_mismatch: float = 0.001,
    overflows: list[dict] | None = None,
    reference: str = "float reference",
) -> VerifyReport:
    """Build the report from per-layer spike arrays (batch, time, *shape) keyed by layer name.

    Checks: the fraction of output spike entries that differ is at most `max_spike_mismatch`
    (None: not checked here, as when with_backend gates the same outputs exactly);
    with labels, hardware accuracy is at most `max_accuracy_drop` points below float accuracy;
    with `source_spikes` (the trainer's model on the same input), at most `max_source_mismatch`
    of its output entries differ from the float reference (float32 vs float64 rounding only);
    with `overflows` (strict mode), there are none.
    """
    layers = tuple(
        LayerAgreement(
            name=name,
            neurons=int(np.prod(float_spikes[name].shape[2:])),
            float_spikes=int(np.count_nonzero(float_spikes[name])),
            hw_spikes=int(np.count_nonzero(hw_spikes[name])),
            agreement=_agreement(float_spikes[name], hw_spikes[name]),
            first_divergence=_first_divergence(float_spikes[name], hw_spikes[name]),
        )
        for name in float_spikes
        if name in hw_spikes
    )
    f_out, h_out = float_spikes[output], hw_spikes[output]
    f_pred, h_pred = predictions(f_out), predictions(h_out)
    output_agreement = _agreement(f_out, h_out)
    checks = []
    if max_spike_mismatch is not None:
        checks.append(Check("output spike mismatch", 1 - output_agreement, max_spike_mismatch,
                            1 - output_agreement <= max_spike_mismatch))
    source_agreement = None
    if source_spikes is not None:
        source_agreement = _agreement(source_spikes, f_out)
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
    return VerifyReport(
        target=target,
        samples=int(f_out.shape[0]),
        steps=int(f_out.shape[1]),
        layers=layers,
        output_agreement=output_agreement,
        prediction_agreement=float(np.mean(f_pred == h_pred)),
        float_accuracy=f_acc,
        hw_accuracy=h_acc,
        checks=tuple(checks),
        source_agreement=source_agreement,
        overflows=tuple(overflows or ()),
        reference=reference,
    )
