"""verify's report as a person reads it: the per-layer table, the agreement figures, each check
with its limit, and on a FAIL the worst layer and what may help."""

from __future__ import annotations

import click

from snncompile.shell.tables import table
from snncompile.verify import Check, VerifyReport


def _check_line(c: Check) -> str:
    limit = f"at least {c.limit:g}" if c.at_least else f"limit {c.limit:g}"
    return f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.value:.4g} ({limit})"


def print_report(report: VerifyReport, model_name: str, target: str) -> None:
    hw_side = "emulator" if report.reference != "emulator" else target
    if report.reference != "emulator":
        table(f"{model_name}: {report.reference} vs emulator ({report.samples} samples x "
              f"{report.steps} steps)",
              [{"layer": layer.name, "neurons": layer.neurons,
                "float_spikes": layer.float_spikes, "hw_spikes": layer.hw_spikes,
                "count_error": layer.count_error, "train_agreement": layer.train_agreement,
                "entry_agreement": layer.agreement,
                "first_divergence": layer.first_divergence or "-"} for layer in report.layers])
    if report.float_accuracy is not None:
        click.echo(f"accuracy: {report.reference} {report.float_accuracy:.2f}%  {hw_side} "
                   f"{report.hw_accuracy:.2f}%")
    if report.source_agreement is not None:
        click.echo(f"trainer's model vs float reference: output spikes agree "
                   f"{report.source_agreement:.4f}")
    click.echo(f"{report.reference} vs {hw_side}: output spike-count error "
               f"{report.output_count_error:.4f}, spike-train agreement "
               f"{report.output_train_agreement:.4f}; predictions agree "
               f"{report.prediction_agreement:.4f} (entries agree {report.output_agreement:.4f}, "
               f"information only)")
    if report.backend_mismatches is not None:
        click.echo(f"emulator vs {target}: {report.backend_mismatches} differing output "
                   f"entries ({'identical' if not report.backend_mismatches else 'NOT exact'})")
    if report.overflows:
        table("overflows (strict mode)", list(report.overflows))
    for c in report.checks:
        click.echo(_check_line(c))
    if not report.passed and report.worst_layer is not None and report.reference != "emulator":
        worst = next(layer for layer in report.layers if layer.name == report.worst_layer)
        step = f", first differs at step {worst.first_divergence}" if worst.first_divergence else ""
        click.echo(f"worst layer: {worst.name} (spike-train agreement {worst.train_agreement:.4f}, "
                   f"spike-count error {worst.count_error:.4f}{step})")
    for hint in report.advice:
        click.echo(f"may help: {hint}")
