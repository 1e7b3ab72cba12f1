"""`snncompile report`: one self-contained HTML page a person reads before deploying a model:
what was compiled, what quantization cost, whether the hardware spikes like the float model,
where each layer sits, and what an inference costs in energy and time, with every assumption."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.report import charts
from snncompile.report.html import img, page, table


def _agreement(graph, hw_graph, x: np.ndarray) -> tuple[list[dict], dict, dict]:
    """Per-layer spike agreement of the float reference and the emulator (nn time)."""
    from snncompile.sim.emulator import run_emulator
    from snncompile.sim.reference import run_reference

    emu = run_emulator(hw_graph, x, record=True)
    hw_spikes = dict(emu.spikes)
    if graph.level != "nn":
        return [], {}, hw_spikes
    ref = run_reference(graph, x.astype(np.float64), record=True)
    float_spikes = {n: ref[n] for n in graph.of_kind("neuron") if n in hw_spikes}
    rows = [{"layer": n, "float_spikes": int(float_spikes[n].sum()),
             "hw_spikes": int(hw_spikes[n].sum()),
             "agreement": float(np.mean(float_spikes[n].reshape(hw_spikes[n].shape)
                                        == hw_spikes[n]))} for n in float_spikes]
    return rows, float_spikes, hw_spikes


def build_report(model, out, target: str = "loihi2", x: np.ndarray | None = None,
                 progress=None, weight_bits: int = 8, **frontend_options: Any) -> Path:
    """Compile, run, estimate and write `out` (HTML). Without x, 8 samples of random spikes
    (20 % of entries) drive the rasters and energy, and the page says so. `weight_bits`: as
    snncompile.api.lower."""
    from snncompile import api
    from snncompile.estimate import activity, energy
    from snncompile.partition import partition
    from snncompile.partition.plot import plot

    step = progress or (lambda name: None)
    step("compile")
    graph = api.load(model, **frontend_options)
    hw_graph, quant = api.lower(graph, target, weight_bits=weight_bits)
    (in_name,) = hw_graph.inputs
    notes = []
    if x is None:
        shape = tuple(hw_graph.shapes[in_name])
        x = (np.random.default_rng(0).random((8, 16, *shape)) < 0.2).astype(np.int8)
        notes.append("no input given: 8 samples x 16 steps of random spikes (20 % of entries)")
    api.check_input(x, hw_graph.shapes[in_name], str(model))
    step("float vs hardware")
    agree, float_spikes, hw_spikes = _agreement(graph, hw_graph, x)
    step("place")
    placement = partition(hw_graph, target) if target in ("loihi2", "loihi1") else None
    step("estimate")
    est = energy.estimate(hw_graph, target, activity.measure(hw_graph, x), placement)
    step("charts")
    sections = []
    summary = [{"layer": r["layer"], "neurons": r["neurons"], "synapses": r["synapses"]}
               for r in api.CompileResult(graph, hw_graph, quant, None).summary()]
    sections.append(("Model", f"<p>{Path(model).name} &rarr; {target}, {len(x)} input sample(s) "
                              f"x {x.shape[1]} steps. {' '.join(notes)}</p>" + table(summary)))
    sections.append(("Quantization error per layer",
                     f"<p>{getattr(quant, 'weight_bits', 8)}-bit weights (num_weight_bits)</p>"
                     + table(quant.rows())))
    rast = charts.raster_chart(float_spikes, hw_spikes)
    sections.append(("Float vs hardware spikes", table(agree) + img(rast, "spike rasters")))
    if placement is not None:
        with tempfile.TemporaryDirectory() as tmp:
            plot(placement, Path(tmp) / "p.png")
            pmap = charts.file_png(Path(tmp) / "p.png")
        sections.append(("Core placement", f"<p>{placement.summary()}</p>"
                         + img(pmap, "placement map") + table(placement.utilization_rows())))
    e, lt = est["energy_uj"], est["latency"]
    sections.append(("Energy per inference", img(charts.energy_chart(est), "energy chart")
                     + table(est["layers"])))
    sections.append(("Latency", img(charts.latency_chart(est), "latency chart")))
    nb = est["neurobench"]
    b = est["baseline"]
    sections.append(("NeuroBench metrics and conventional baseline", table(
        [{"metric": k, "value": v} for k, v in nb.items()]
        + [{"metric": f"baseline: {b['name']}, uJ", "value": b["energy_uj"]},
           {"metric": "baseline / snn estimate", "value": b["ratio_baseline_over_estimate"]}])))
    sections.append(("Assumptions", "<ul>" + "".join(f"<li>{a}</li>" for a in
                                                     est["assumptions"]) + "</ul>"
                     + table(est["constants"])))
    kpis = {"energy / inference": f"{e['total']:.4g} uJ",
            "dynamic": f"{e['dynamic']:.4g} uJ",
            "latency / inference": f"{lt['us_per_inference']:.4g} us",
            "output agreement": f"{agree[-1]['agreement']:.4f}" if agree else "-"}
    text = page(f"snncompile deployment report: {Path(model).name} on {target}", kpis, sections)
    out = Path(out)
    out.write_text(text, encoding="utf-8")
    return out
