"""`snncompile sweep`: the command over snncompile.sweep, each option one keyword of
sweep.sweep; the table on stdout, or the whole result as JSON, and the HTML page with -o."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from snncompile.shell import jsonout
from snncompile.shell import options as opt
from snncompile.shell.tables import table

EXIT_CONFIRM_FAILED = 1  # a confirmed point's artefact differs from the emulator (as verify)


@click.command("sweep")
@click.argument("model", type=click.Path(path_type=Path))
@opt.target_option("loihi2")
@click.option("--input", "-i", "input_path", required=True, type=click.Path(path_type=Path),
              help="Input spikes .npy shaped (batch, time, *input_shape).")
@click.option("--labels", "-l", "labels_path", required=True, type=click.Path(path_type=Path),
              help="Class labels .npy (batch,): the accuracy each point is measured by.")
@click.option("--weight-bits", help="Weight bits to try, comma-separated (default 2,4,6,8).")
@click.option("--weight-split", help="Whether to give each Dense a finer twin: off, on or "
                                     "off,on (default off,on).")
@click.option("--confirm/--no-confirm", default=None,
              help="Run the target's own artefact (Lava, RTL) on the Pareto points and check "
                   "that it equals the emulator (default: on for targets that have one).")
@opt.engine_options
@click.option("--out", "-o", "out_path", type=click.Path(path_type=Path),
              help="Also write the HTML report (Pareto plot and table) here.")
@opt.json_option
@opt.frontend_options
def sweep_cmd(model: Path, target: str, input_path: Path, labels_path: Path,
              weight_bits: str | None, weight_split: str | None, confirm: bool | None,
              workers: int, ray: str | None, out_path: Path | None, as_json: bool,
              **kw: Any) -> None:
    """Compile MODEL at every point of a grid of quantization options, measure each on the
    emulator (accuracy, verify's spike figures, energy, latency, cores) and mark the Pareto
    front over accuracy, energy and cores; exit 1 if a confirmed point's artefact differs."""
    from snncompile import api
    from snncompile.artifacts import refuse_overwrite
    from snncompile.sweep import sweep

    if out_path is not None:
        refuse_overwrite(out_path, [model, input_path, labels_path])
    x = api.load_array(input_path, "input")
    labels = api.load_array(labels_path, "labels")
    frontend = opt.frontend_kwargs(kw)
    result = sweep(model, x, labels, target, weight_bits, weight_split, confirm, workers, ray,
                   **frontend)
    if out_path is not None:
        from snncompile.sweep.report import write_html

        options = {k: v for k, v in frontend.items() if v is not None}
        write_html(result, out_path, model, x, labels, options)
    if as_json:
        jsonout.echo({**result.to_dict(), "html": out_path})
    else:
        table(f"{result.model} -> {result.target}: {len(result.points)} points on "
              f"{result.samples} samples x {result.steps} steps", result.rows())
        for line in result.errors():
            click.echo(f"does not compile: {line}")
        click.echo("Pareto-optimal (accuracy max, energy min, cores min): "
                   + (", ".join(f"#{i}" for i in result.pareto) or "none"))
        if out_path is not None:
            click.echo(f"wrote {out_path}")
    if any(p["confirmed"] and p["confirmed"]["differing_entries"] for p in result.points):
        sys.exit(EXIT_CONFIRM_FAILED)
