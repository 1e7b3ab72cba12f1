"""`snncompile report`: one self-contained HTML page a person reads before deploying a model:
whether `verify` passes and by how much, what quantization cost, where float and hardware spikes
differ, where each layer sits on the chip, and what an inference costs in energy and time, with
every assumption and where the page came from."""

from __future__ import annotations

from collections.abc import Callable
from html import escape  # (a bare `import html` is shadowed by the report.html submodule)
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.build import Build, check_input
from snncompile.errors import SnnCompileError
from snncompile.report import charts, sections
from snncompile.report.html import img, page, para, table
from snncompile.report.provenance import provenance_rows


def network_order(graph) -> list[str]:
    """Neuron layers in the order spikes reach them (the graph's schedule), not by name."""
    return [n for n in graph.schedule if graph.nodes[n].kind == "neuron"]


def _spikes(graph, hw_graph, x: np.ndarray, order: list[str]):
    """Every layer's spikes in the float reference and the emulator (nn time), network order."""
    from snncompile.sim.emulator import run_emulator
    from snncompile.sim.reference import run_reference

    hw = run_emulator(hw_graph, x, record=True).spikes
    ref = run_reference(graph, x.astype(np.float64), record=True)
    layers = [n for n in order if n in hw and n in ref]
    return ({n: np.asarray(ref[n]).reshape(hw[n].shape) for n in layers},
            {n: np.asarray(hw[n]) for n in layers}, layers)


def pick_sample(float_spikes: dict, hw_spikes: dict, layers: list[str],
                sample: int | None, batch: int) -> tuple[int, str]:
    """The sample the rasters show: the one asked for, else the one whose last layer differs
    most between float and hardware (the first sample if none differs)."""
    if sample is not None:
        return sample, "chosen with --sample"
    if not layers:
        return 0, "the first sample"
    last = layers[-1]
    diff = (float_spikes[last] != 0) != (hw_spikes[last] != 0)
    per_sample = diff.reshape(batch, -1).sum(axis=1)
    best = int(per_sample.argmax())
    if per_sample[best] == 0:
        return 0, "the first sample; no sample's output spikes differ"
    return best, (f"the sample whose output layer ({last}) differs most: {per_sample[best]} "
                  "spike entries")


def _verify(verify, build, x, labels, weight_bits, frontend_options):
    """`snncompile verify`'s own verdict on the report's inputs (the same checks and limits)."""
    try:
        return verify(build, x, labels, weight_bits=weight_bits, **frontend_options), None
    except SnnCompileError as exc:
        if not build.backend.OWN_ARTEFACT:  # a file already in hw integers: nothing to verify
            return None, str(exc)
        raise


def _estimate_sections(est: dict[str, Any], order: list[str], pipelined: bool
                       ) -> list[tuple[str, str]]:
    """Energy (dynamic next to static), latency, NeuroBench and the baseline, assumptions."""
    nb, b = est["neurobench"], est["baseline"]
    return [
        ("Energy per inference", sections.energy_section(est, pipelined)
         + img(charts.energy_chart(est, order), "energy chart")
         + table([{k.replace("_uj", " µJ"): v for k, v in r.items()}
                  for r in sections.in_order(est["layers"], order)])),
        ("Latency", sections.latency_section(est)
         + img(charts.latency_chart(est), "latency chart")),
        ("NeuroBench metrics and conventional baseline", table(
            [{"metric": k, "value": v} for k, v in nb.items()]
            + [{"metric": f"baseline: {b['name']}, µJ", "value": b["energy_uj"]},
               {"metric": "baseline / snn estimate",
                "value": b["ratio_baseline_over_estimate"]}])),
        ("Assumptions", "<ul>" + "".join(f"<li>{escape(a)}</li>" for a in est["assumptions"])
         + "<li>placement: the one the compiler writes to the build (placement.json), "
           "which `snncompile estimate` uses too</li></ul>" + table(est["constants"])),
    ]


def build_report(build: Build, out, verify: Callable[..., Any], x: np.ndarray | None = None,
                 progress=None, weight_bits: int = 8, labels: np.ndarray | None = None,
                 pipelined: bool = False, sample: int | None = None,
                 command: str | None = None, **frontend_options: Any) -> Path:
    """Verify, estimate and write `out` (HTML) for a compiled Build (snncompile.api.write_report
    makes it; its placement is the build's). `verify(build, x, labels, **options)` is
    api.verify_build. Without x, 8 samples of random spikes (20 % of entries) drive everything,
    and the page says so. `labels` (batch,) add task accuracy; `pipelined` as `snncompile
    estimate --pipelined`; `sample` picks the rasters' sample; `command` is the provenance's
    command line (default: this process's)."""
    from snncompile.estimate import activity, energy
    from snncompile.ir.stats import connections
    from snncompile.report.cores import core_rows, placement_chart, rtl_core_rows

    step = progress or (lambda name: None)
    model = build.model
    target = build.target.name if build.target is not None else ""
    graph, hw_graph, quant = build.nn_graph, build.hw_graph, build.report
    (in_name,) = hw_graph.inputs
    if x is None:
        if labels is not None:
            raise SnnCompileError("labels name the class of each input sample: give the "
                                  "samples too (--input)")
        shape = tuple(hw_graph.shapes[in_name])
        x = (np.random.default_rng(0).random((8, 16, *shape)) < 0.2).astype(np.int8)
        x_note = "no input given: 8 samples x 16 steps of random spikes (20 % of entries)"
    else:
        x_note = "given by the caller"
    check_input(x, hw_graph.shapes[in_name], str(model))
    if labels is not None and np.shape(labels) != (x.shape[0],):
        raise SnnCompileError(f"labels have shape {np.shape(labels)}; expected ({x.shape[0]},), "
                              "one per sample")
    if sample is not None and not 0 <= sample < len(x):
        raise SnnCompileError(f"--sample {sample} is outside the input's {len(x)} samples "
                              f"(0..{len(x) - 1})")
    order = network_order(hw_graph)
    step("verify")
    verdict, not_verified = _verify(verify, build, x, labels, weight_bits, frontend_options)
    float_spikes, hw_spikes, raster_layers = ({}, {}, [])
    if graph.level == "nn":
        float_spikes, hw_spikes, raster_layers = _spikes(graph, hw_graph, x, order)
    step("place")
    placement = build.placement  # the placement `snncompile MODEL` writes, made by the compile
    step("estimate")
    est = None
    if build.target.energy:  # emu is the emulator, not a chip: it has no energy model
        est = energy.estimate(hw_graph, build.target, activity.measure(hw_graph, x, pipelined),
                              placement)
    step("charts")
    name = Path(model).name if isinstance(model, (str, Path)) else type(model).__name__
    summary = build.summary()
    s = []
    if verdict is not None:
        body = (para(f"The checks `snncompile verify` gates on, with its default limits, on the "
                     f"report's {verdict.samples} input sample(s).")
                + table(sections.check_rows(verdict), "checks")
                + table(sections.chain_rows(verdict, target), "chain"))
        if verdict.float_accuracy is not None:
            body += table(sections.accuracy_rows(verdict, target), "accuracy")
        else:
            body += para("No labels given: pass --labels y.npy for task accuracy.")
        s.append(("Verification", body))
    s.append(("Layers in network order",
              para("Float reference vs emulator per layer, as verify measures them: count "
                   "error is the per-neuron spike-count error over the reference's spikes, "
                   "train agreement ignores steps where both stay silent, entries equal counts "
                   "every (sample, step, neuron) and is information only.")
              + table(sections.layer_rows(order, summary, connections(hw_graph), verdict,
                                       placement, est), "layers")))
    s.append(("Quantization error per layer",
              para(f"{getattr(quant, 'weight_bits', 8)}-bit weights (num_weight_bits)")
              + table(sections.in_order(quant.rows(), order))))
    if raster_layers:
        k, why = pick_sample(float_spikes, hw_spikes, raster_layers, sample, len(x))
        s.append(("Float vs hardware spikes",
                  para(f"Sample {k} of {len(x)} ({why}). Black: both runs spike; blue o: only "
                       "the float reference; red x: only the hardware (the emulator, which the "
                       "target's artefact equals exactly when the chain above says identical). "
                       f"Layers with more than {charts.MAX_RASTER_NEURONS} neurons show every "
                       "neuron that differs and evenly spaced others.")
                  + img(charts.raster_chart(float_spikes, hw_spikes, raster_layers, k),
                        f"spike rasters, sample {k}")))
    if placement is not None:
        rows, note = core_rows(placement, est)
        s.append(("Core placement", para(placement.summary())
                  + img(placement_chart(placement, order), "placement map")
                  + para(f"Core table: {note}. fullest: the core's most used resource and its "
                         "share of the per-core limit.")
                  + table(rows, "cores") + table(placement.utilization_rows())))
    if getattr(build.backend, "RTL", None):  # a back end that writes RTL lists its cores
        s.append(("RTL cores", para("One time-multiplexed core per block of a population "
                                    "(docs/fpga.md); spikes travel as events between them.")
                  + table(rtl_core_rows(hw_graph, build.target, placement), "rtl-cores")))
    if est is not None:
        s += _estimate_sections(est, order, pipelined)
    else:
        s.append(("Energy per inference", para(f"Target {target} has no energy model (its "
                                               "target.toml has no [energy] section): use "
                                               "--target loihi2, loihi1 or fpga.")))
    options = {"target": target, "weight bits": weight_bits, "pipelined": pipelined,
               **{k: v for k, v in frontend_options.items() if v is not None}}
    s.append(("Provenance", table(provenance_rows(model, x, x_note, labels, options, command),
                                  "provenance")))
    kpis = sections.kpi_cards(verdict, est, placement, order[-1] if order else "-")
    text = page(f"snncompile deployment report: {name} on {target}",
                f"{len(x)} input sample(s) x {x.shape[1]} steps; {x_note}",
                sections.verdict_banner(verdict, target, not_verified), kpis, s)
    out = Path(out)
    out.write_text(text, encoding="utf-8")
    return out
