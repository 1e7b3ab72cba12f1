"""One sweep point, run wherever the engine puts it: a full compile with the point's options,
the float reference and the emulator on every input (verify's stages, so its figures), the
energy and latency estimate on the emulator's measured activity, and the placement's cores.
`confirm_point` runs the target's own artefact (Lava, RTL) and counts where it differs from the
emulator. Both are module-level functions of plain picklable arguments (Ray imports them by name).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.target import Target


@dataclasses.dataclass(frozen=True)
class SweepJob:
    """What every point shares: the model as given, the Target, the checked inputs
    (batch, time, *input_shape), one label per sample, the front end's options."""

    model: Any
    target: Target
    x: np.ndarray
    labels: np.ndarray
    frontend_options: dict[str, Any]


def _build(job: SweepJob, point: dict[str, Any]) -> Any:
    from snncompile import api

    return api.build(job.model, job.target, **point, **job.frontend_options)


def evaluate_point(job: SweepJob, point: dict[str, Any]) -> dict[str, Any]:
    """The point's figures as plain values; a compile the target refuses (a layer that does not
    fit its cores, say) gives {"error": sentence} instead, a result of the sweep, not a failure."""
    from snncompile import api
    from snncompile.verify import compare_tallies
    from snncompile.verify_stages import run_stages

    try:
        build = _build(job, point)
    except SnnCompileError as exc:
        return {"error": str(exc)}
    tally = run_stages(build, job.x, artefact=False, **job.frontend_options)
    report = compare_tallies(job.target.name, tally.samples, tally.steps, tally.layers,
                             tally.float_pred, tally.hw_pred, "output", job.labels)
    est = api.build_energy(build, job.x)
    placement = build.placement
    assert report.hw_accuracy is not None and report.float_accuracy is not None
    return {
        "accuracy": report.hw_accuracy,
        "float_accuracy": report.float_accuracy,
        "count_error": report.output_count_error,
        "train_agreement": report.output_train_agreement,
        "prediction_agreement": report.prediction_agreement,
        "passes_verify": report.passed,
        "energy_uj": est["energy_uj"]["total"],
        "dynamic_uj": est["energy_uj"]["dynamic"],
        "latency_us": est["latency"]["us_per_inference"],
        "cores": None if placement is None else int(placement.metrics["cores"]),
        "synapses": int(sum(row["synapses"] for row in build.summary())),
    }


def confirm_point(job: SweepJob, point: dict[str, Any]) -> dict[str, Any]:
    """The target's own artefact (Lava program, RTL simulation) on every input, against the
    emulator: the output entries where they differ (0: the point's figures hold on the target)."""
    from snncompile.verify_stages import run_stages

    tally = run_stages(_build(job, point), job.x, **job.frontend_options)
    assert tally.backend_differing is not None, "confirm needs a back end with its own artefact"
    return {"differing_entries": tally.backend_differing,
            "entries": int(tally.layers["output"].entries)}
