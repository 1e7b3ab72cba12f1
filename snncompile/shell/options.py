"""The options several commands share, each one keyword of snncompile.api, with its help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from snncompile.engine import LOCAL_RAY
from snncompile.layouts import LAYOUTS
from snncompile.target import target_help


def frontend_options(f):
    """Options every command that reads a model file takes."""
    f = click.option("--dt", type=float, help="Seconds per time step (NIR files: default 1e-4).")(f)
    f = click.option("--input-shape",
                     help="Per-step input shape, e.g. 2,34,34 (if the file lacks it).")(f)
    f = click.option(
        "--reset-interval", type=click.IntRange(min=1),
        help="netx files: clear every neuron's u and v every N steps, as lava-dl's "
             "netx.hdf5.Network(reset_interval=N) (e.g. 16 steps per PilotNet frame).")(f)
    f = click.option(
        "--reset", type=click.Choice(["zero", "subtract"]),
        help="How NIR neurons reset after a spike (NIR files do not say; default zero, with a "
             "notice): subtract is snnTorch's default reset_mechanism.")(f)
    f = click.option(
        "--reset-timing", type=click.Choice(["immediate", "next_step"]),
        help="How to read NIR neurons' reset: next_step is snnTorch's reset_delay=True.",
    )(f)
    f = click.option(
        "--trust-pickle", is_flag=True,
        help="Load a .pt file even if unpickling runs code from it (only for files you trust).",
    )(f)
    f = click.option("--calibration", type=click.Path(path_type=Path),
                     help="ONNX ANNs: inputs .npy in [0, 1] whose activations set the "
                          "thresholds; with --input-kind analog (any model), inputs whose "
                          "largest |x| sets the input scale; any model's input (samples, "
                          "steps, ...): the floor centring measures each neuron's rounding "
                          "loss on it (docs/semantics.md). verify never calibrates on its "
                          "own input.")(f)
    f = click.option(
        "--input-kind", type=click.Choice(["spikes", "analog"]),
        help="spikes (0/1, the default) or analog: real values into the first synapses, "
             "quantized to 8-bit graded spikes (verify picks analog by itself for input other "
             "than 0/1).")(f)
    f = click.option(
        "--input-range", type=float,
        help="Analog input: the largest |x| it takes (scale = range / 127); default: from "
             "--calibration, or verify's own input.")(f)
    f = click.option("--percentile", type=float,
                     help="ONNX ANNs: activation percentile used as threshold (default 99.9).")(f)
    f = click.option("--max-pool", type=click.Choice(["refuse", "average"]),
                     help="ONNX ANNs: replace MaxPool by an average pool (changes the ANN).")(f)
    f = click.option(
        "--onnx-mode", type=click.Choice(["auto", "ann", "step"]),
        help="ONNX: ann (an ANN, converted), step (one step of a stateful SNN: inputs x, mem1, "
             "...; outputs spikes, mem1', ...); auto (default): step when the graph has more "
             "than one input.")(f)
    return f


def weight_split_option(f):
    return click.option(
        "--weight-split", is_flag=True,
        help="Give each Dense a second, finer Dense for its rounding residual (twice the "
             "synapses, about 8 more weight bits).")(f)


def weight_bits_option(f):
    return click.option(
        "--weight-bits", type=int, default=8, show_default=True,
        help="num_weight_bits of every synapse, 1..8: weights are chosen on the grid Lava keeps "
             "at that width (Conv held to the same magnitude).")(f)


def layout_option(f):
    return click.option(
        "--layout", type=click.Choice(list(LAYOUTS)), default="btn", show_default=True,
        help="How the input .npy is laid out: btn (batch, time, *shape), ours; tbn (time, batch, "
             "*shape), snnTorch's; nt (*shape, time) or (batch, *shape, time), Lava's. Outputs "
             "are written in the same layout.")(f)


def frames_option(f):
    return click.option(
        "--frame-steps", type=click.IntRange(min=1),
        help="netx graded input: the input .npy holds frames (batch, *input_shape) that drive "
             "the input layer's bias, as Intel's PilotNet examples do, each held for N steps.")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as one JSON document on stdout (nothing else).")(f)


def engine_options(f):
    """--workers N and --ray [ADDRESS]: where verify and run send their sample shards (verify,
    run) or a sweep its points (snncompile.engine)."""
    f = click.option(
        "--ray", "ray", is_flag=False, flag_value=LOCAL_RAY, default=None, metavar="[ADDRESS]",
        help="Shard over a Ray cluster (pip install snncompile[ray]): ADDRESS is a running "
             "one's host:port; without it, join the Ray instance on this machine or start one. "
             "The result is the same as on one process.")(f)
    return click.option(
        "--workers", default=1, show_default=True, type=int,
        help="Local worker processes to shard the samples over (same result for any N); with "
             "--ray, the number of Ray tasks (default: one per CPU of the cluster).")(f)


def target_option(default: str):
    """--target: a registered name or a target folder (the list comes from targets/)."""
    return click.option("--target", "-t", default=default, show_default=True,
                        help=f"The target: {target_help()}.")


def frontend_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    shape = kw.pop("input_shape", None)
    if shape:
        try:
            kw["input_shape"] = tuple(int(s) for s in shape.split(","))
        except ValueError:
            raise click.BadParameter(f"{shape!r} is not a comma-separated list of integers",
                                     param_hint="--input-shape") from None
    kw["trust_pickle"] = kw.pop("trust_pickle") or None
    return kw


def model_input_options(f):
    """What verify and estimate share: input layout and frames, --json, the quantization and
    model options."""
    for option in (frontend_options, weight_bits_option, weight_split_option, json_option,
                   frames_option, layout_option):
        f = option(f)
    return f
