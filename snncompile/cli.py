"""Command line: `snncompile MODEL --target T -o DIR`, `snncompile run`, `snncompile verify`.

Each option maps to one keyword of snncompile.api; no compiler logic lives here (progress,
did-you-mean, Ctrl-C and JSON output live in snncompile.shell). Errors print as one sentence on
stderr with a non-zero exit; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from snncompile import api
from snncompile.artifacts import refuse_overwrite
from snncompile.backends import get_backend
from snncompile.engine import LOCAL_RAY
from snncompile.errors import SnnCompileError
from snncompile.passes.pipeline import PASSES
from snncompile.shell import cmdline, jsonout, signals
from snncompile.shell import options as opt
from snncompile.shell.progress import phases, shown
from snncompile.shell.sweep_cmd import sweep_cmd
from snncompile.shell.tables import table as _table
from snncompile.version import __version__

EXIT_ERROR, EXIT_VERIFY_FAILED, EXIT_INTERNAL = 2, 1, 3


class _DefaultCompile(click.Group):
    """Treat `snncompile MODEL ...` as `snncompile compile MODEL ...` (the design card's form)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = cmdline.bare_ray(args, LOCAL_RAY)
        for i, arg in enumerate(args):
            if not arg.startswith("-"):
                if arg not in self.commands:
                    if (sentence := cmdline.misspelt_command(arg, self.commands)) is not None:
                        raise SnnCompileError(sentence)
                    args = args[:i] + ["compile"] + args[i:]
                break
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultCompile)
@click.version_option(__version__, prog_name="snncompile")
@click.option("--debug", is_flag=True,
              help="Show tracebacks instead of one-sentence errors (also after the subcommand).")
@click.option("--quiet", "-q", is_flag=True,
              help="No progress on stderr (also after the subcommand; progress is only shown "
                   "on a terminal).")
@click.option("--verbose", "-v", is_flag=True,
              help="One line per finished stage with its time on stderr (also after the "
                   "subcommand).")
def cli(debug: bool, quiet: bool, verbose: bool) -> None:
    """Compile trained spiking neural networks to neuromorphic hardware and verify them."""


@cli.command("compile")
@click.argument("model", type=click.Path(path_type=Path))
@opt.target_option("emu")
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path),
              help="Build folder to write.")
@opt.weight_split_option
@opt.weight_bits_option
@click.option("--decay", type=click.Choice(["multiply", "shift-add"]),
              help="fpga builds: the decay datapath (default from targets/fpga/target.toml); "
                   "shift-add uses no multiplier and computes the same integers.")
@click.option("--dump-after", type=click.Choice(PASSES),
              help="Print the graph after this pass in the stable text form (docs/ir.md) and "
                   "stop; frontend = the checked nn graph, quantize = the hw graph.")
@opt.json_option
@opt.frontend_options
def compile_cmd(model: Path, target: str, out_dir: Path | None, weight_split: bool,
                weight_bits: int, decay: str | None, dump_after: str | None, as_json: bool,
                **kw: Any) -> None:
    """Compile MODEL (.nir, .pt) for a target and write its artefacts."""
    if dump_after is not None:
        graph = api.load(model, **opt.frontend_kwargs(kw))
        api.lower(graph, target, weight_split, weight_bits, dump_after,
                  lambda t: click.echo(t, nl=False))
        return
    result = api.compile_model(model, target, out_dir, weight_split, weight_bits,
                               {"decay": decay}, **opt.frontend_kwargs(kw))
    if as_json:
        jsonout.echo(jsonout.compile_document(result, target))
        return
    _table(f"{model.name} -> {target}", result.summary())
    if hasattr(result.report, "weight_bits"):
        click.echo(f"weights: {result.report.weight_bits} bits (num_weight_bits)")
    if result.placement is not None:
        _table("core utilization", result.placement.utilization_rows())
        click.echo(f"placement: {result.placement.summary()}")
    for warning in getattr(result.report, "warnings", ()):
        click.echo(f"warning: {warning}", err=True)
    if out_dir:
        click.echo(f"wrote {out_dir}/")


@cli.command("run")
@click.argument("build", type=click.Path(path_type=Path))
@click.option("--input", "-i", "input_path", required=True, type=click.Path(path_type=Path),
              help="Input spikes .npy shaped (batch, time, *input_shape).")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(path_type=Path),
              help="Where to write output spikes .npy (batch, time, *output_shape).")
@click.option("--strict", is_flag=True,
              help="Report every u wrap / v saturation with layer and step; exit 1 if any.")
@click.option("--simulator", type=click.Choice(["icarus", "verilator"]),
              help="fpga builds: the Verilog simulator (default: icarus for a run under 1 M "
                   "synaptic events, else verilator when installed).")
@click.option("--cycles-report", type=click.Path(path_type=Path),
              help="fpga builds: write cycles per step and per inference (JSON) here.")
@click.option("--record", help="Record every neuron layer's state per step: a comma-separated "
              "choice of u,v,spikes (emu builds: the emulator's; loihi2: Lava's).")
@click.option("--record-out", type=click.Path(path_type=Path),
              help="Where --record writes its .npz (default: beside -o, as NAME.record.npz).")
@opt.engine_options
@opt.layout_option
@opt.frames_option
@opt.json_option
def run_cmd(build: Path, input_path: Path, out_path: Path, strict: bool, simulator: str | None,
            cycles_report: Path | None, record: str | None, record_out: Path | None,
            workers: int, ray: str | None, layout: str, frame_steps: int | None,
            as_json: bool) -> None:
    """Run a compiled BUILD folder on an input file (Lava for loihi2, the RTL for fpga)."""
    refuse_overwrite(out_path, [input_path, build])
    if record and record_out is None:
        record_out = out_path.with_suffix(".record.npz")
    spikes, events = api.run_build(build, api.load_array(input_path, "input"), strict=strict,
                                   layout=layout, frame_steps=frame_steps,
                                   simulator=simulator, report=cycles_report,
                                   record=record, record_to=record_out, workers=workers,
                                   ray=ray)
    api.save_array(out_path, spikes, "output")
    if as_json:
        jsonout.echo({"output": out_path, "shape": spikes.shape,
                      "spikes": int(np.count_nonzero(spikes)), "cycles_report": cycles_report,
                      "record": record_out,
                      "overflows": events if strict else None})
        sys.exit(EXIT_VERIFY_FAILED if strict and events else 0)
    click.echo(f"wrote {out_path} {tuple(spikes.shape)}, {int(np.count_nonzero(spikes))} spikes")
    if record_out:
        click.echo(f"wrote {record_out} ({record} of every layer per step)")
    if cycles_report:
        report = json.loads(cycles_report.read_text())
        click.echo(f"wrote {cycles_report}: {report['cycles_per_inference']['mean']:.0f} cycles "
                   f"per inference on average")
    if strict:
        _table("overflows (strict mode)", events)
        click.echo(f"strict: {len(events)} overflow event(s)")
        if events:
            sys.exit(EXIT_VERIFY_FAILED)


@cli.command("verify")
@click.argument("model", type=click.Path(path_type=Path))
@opt.target_option("emu")
@click.option("--input", "-i", "input_path", required=True, type=click.Path(path_type=Path),
              help="Input spikes .npy shaped (batch, time, *input_shape).")
@click.option("--labels", "-l", "labels_path", type=click.Path(path_type=Path),
              help="Class labels .npy (batch,) to report task accuracy.")
@click.option("--max-count-error", default=0.1, show_default=True,
              help="Largest tolerated per-neuron output spike-count error, relative to the "
                   "reference's spikes (0.4 = 40 % of the spikes lost or added).")
@click.option("--min-train-agreement", default=0.8, show_default=True,
              help="Smallest tolerated output spike-train agreement: twice the coinciding "
                   "spikes over all spikes of both (shared silence ignored).")
@click.option("--min-prediction-agreement", type=float,
              help="Smallest tolerated fraction of samples whose predicted class (most output "
                   "spikes) is the same on both sides (default: not gated).")
@click.option("--max-accuracy-drop", default=1.0, show_default=True,
              help="Largest tolerated accuracy loss in points (needs --labels).")
@click.option("--max-source-mismatch", default=0.001, show_default=True,
              help="Largest tolerated fraction of output entries where the trainer's own model "
                   "(.pt) and the float reference differ.")
@click.option("--strict", is_flag=True,
              help="Also fail on any u wrap / v saturation on the target, listing each.")
@opt.engine_options
@opt.model_input_options
def verify_cmd(model: Path, target: str, input_path: Path, labels_path: Path | None,
               max_count_error: float, min_train_agreement: float,
               min_prediction_agreement: float | None, max_accuracy_drop: float,
               max_source_mismatch: float, strict: bool, workers: int, ray: str | None,
               layout: str,
               frame_steps: int | None, as_json: bool, weight_split: bool, weight_bits: int,
               **kw: Any) -> None:
    """Run the float reference, the emulator and the target on the same inputs; exit 1 past the
    tolerances or if the target's own run (Lava) differs from the emulator at all."""
    x = api.load_array(input_path, "input")
    labels = api.load_array(labels_path, "labels") if labels_path else None
    report = api.verify(model, x, target, labels, max_count_error, min_train_agreement,
                        max_accuracy_drop, max_source_mismatch, strict, weight_split,
                        weight_bits, min_prediction_agreement, layout, frame_steps,
                        workers=workers, ray=ray, **opt.frontend_kwargs(kw))
    if as_json:
        jsonout.echo(report.to_dict())
    else:
        from snncompile.shell.verify_text import print_report

        print_report(report, model.name, target)
    if not report.passed:
        sys.exit(EXIT_VERIFY_FAILED)


@cli.command("estimate")
@click.argument("model", type=click.Path(path_type=Path))
@opt.target_option("loihi2")
@click.option("--input", "-i", "input_path", type=click.Path(path_type=Path),
              help="Inputs .npy (batch, time, *input_shape): activity measured by the emulator; "
                   "without it, firing rates are assumed (--rate).")
@click.option("--pipelined", is_flag=True,
              help="Inputs stream back to back: one inference is T hw steps (no pipeline drain).")
@click.option("--steps", default=16, show_default=True, help="Steps per inference without --input.")
@click.option("--rate", default=0.1, show_default=True,
              help="Assumed spikes per neuron per step without --input.")
@click.option("--family", type=click.Choice(["ice40", "xilinx", "ecp5"]), default="ice40",
              show_default=True, help="FPGA family whose yosys flow (synth_<family>) counts cells.")
@click.option("--no-synth", is_flag=True,
              help="fpga: only the instant analytical resource estimate.")
@opt.model_input_options
def estimate_cmd(model: Path, target: str, input_path: Path | None, pipelined: bool, steps: int,
                 rate: float, family: str, no_synth: bool, layout: str, frame_steps: int | None,
                 as_json: bool, weight_split: bool, weight_bits: int, **kw: Any) -> None:
    """Energy and latency per inference of MODEL on a target (and FPGA resources for fpga)."""
    kw = opt.frontend_kwargs(kw)
    x = api.load_array(input_path, "input") if input_path else None
    est = api.estimate_energy(model, target, x, pipelined, steps, rate, weight_split, weight_bits,
                              layout, frame_steps, **kw)
    res = (api.estimate_resources(model, target, family, not no_synth, weight_bits, **kw)
           if getattr(get_backend(target), "ESTIMATES_RESOURCES", False) else None)
    if as_json:
        jsonout.echo({"energy": est, "resources": res})
        return
    e, lt = est["energy_uj"], est["latency"]
    _table(f"{model.name} -> {target}: energy per inference ({est['activity']} activity, "
           f"{est['steps_per_inference']} hw steps)",
           [{"component": k, "uJ": v} for k, v in est["breakdown_uj"].items()]
           + [{"component": "total", "uJ": e["total"]}])
    _table("per layer", est["layers"])
    from snncompile.estimate.text import busiest_rows, placement_lines

    _table("busiest cores (per inference; a step waits for the busiest)", busiest_rows(est))
    for line in placement_lines(est):
        click.echo(line)
    click.echo(f"energy per inference: {e['total']:.4g} uJ ({e['dynamic']:.4g} dynamic, "
               f"{e['static']:.4g} static)")
    click.echo(f"latency: {lt['us_per_step']:.4g} us per step, {lt['us_per_inference']:.4g} us "
               f"per inference ({lt['inferences_per_s']:.4g} inferences/s)")
    nb, b = est["neurobench"], est["baseline"]
    click.echo(f"NeuroBench: effective ACs {nb['effective_acs']:.4g}, dense {nb['dense']:.4g}, "
               f"activation sparsity {nb['activation_sparsity']:.4f} (per sample)")
    click.echo(f"baseline ({b['name']}): {b['macs']:.4g} MACs, {b['energy_uj']:.4g} uJ = "
               f"{b['ratio_baseline_over_estimate']:.3g} x this estimate")
    for note in est["assumptions"]:
        click.echo(f"assumption: {note}")
    if res is not None:
        columns = ("lut", "ff", "bram", "dsp", "carry", "lutram")
        rows = [{"estimate": name, **{c: values.get(c, "-") for c in columns}}
                for name in ("analytic", "yosys") if (values := res.get(name))]
        _table(f"{model.name} -> {target} ({family}): resources", rows)
        if not res["analytic"].get("calibrated", True):
            click.echo(f"note: the analytical model is not calibrated for {family}")


@cli.command("report")
@click.argument("model", type=click.Path(path_type=Path))
@opt.target_option("loihi2")
@click.option("--input", "-i", "input_path", type=click.Path(path_type=Path),
              help="Inputs .npy (batch, time, *input_shape); without it, random spikes.")
@click.option("--labels", "-l", "labels_path", type=click.Path(path_type=Path),
              help="Class labels .npy (batch,) to report task accuracy.")
@click.option("--pipelined", is_flag=True,
              help="Energy as `estimate --pipelined`: inputs stream back to back.")
@click.option("--sample", type=int,
              help="Which input sample the rasters show (default: the one whose output differs "
                   "most between float and hardware).")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(path_type=Path),
              help="The HTML file to write.")
@opt.weight_bits_option
@opt.json_option
@opt.frontend_options
def report_cmd(model: Path, target: str, input_path: Path | None, labels_path: Path | None,
               pipelined: bool, sample: int | None, out_path: Path, weight_bits: int,
               as_json: bool, **kw: Any) -> None:
    """Write one self-contained HTML deployment report of MODEL on a target."""
    refuse_overwrite(out_path, [model, input_path])
    x = api.load_array(input_path, "input") if input_path else None
    labels = api.load_array(labels_path, "labels") if labels_path else None
    with phases() as progress:
        api.write_report(model, out_path, target, x, progress, weight_bits, labels, pipelined,
                         sample, **opt.frontend_kwargs(kw))
    if as_json:
        jsonout.echo({"report": out_path})
    else:
        click.echo(f"wrote {out_path}")


cli.add_command(sweep_cmd)  # its own module (snncompile.shell.sweep_cmd)


def one_line(message: str) -> str:
    """An error as one line: control characters (a newline in a name from a model file)
    escaped, and at most 1,000 characters."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    return text if len(text) <= 1000 else text[:997] + "..."


def main(argv: list[str] | None = None) -> None:
    flags, args = cmdline.split_flags(sys.argv[1:] if argv is None else argv)
    signals.install()
    if not flags.debug:  # library warnings (numpy, torch) are noise around our one-sentence errors
        import warnings

        warnings.simplefilter("ignore")
    try:
        with shown(flags.quiet, flags.verbose):
            cli.main(args=args, prog_name="snncompile", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        interrupt = exc if isinstance(exc, KeyboardInterrupt) else exc.__cause__
        click.echo("interrupted; stopped everything snncompile started", err=True)
        sys.exit(signals.exit_code(interrupt) if interrupt else signals.EXIT_SIGINT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except SnnCompileError as exc:
        if flags.debug:
            raise
        click.echo(f"error: {one_line(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a bug of ours: say so in one line, traceback with --debug
        if flags.debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {one_line(str(exc))} (rerun with "
                   "--debug and report it)", err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
