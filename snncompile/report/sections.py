"""The report's sections as HTML: the verdict, the per-layer tables in network order, energy and
latency with dynamic next to static. Each function takes computed values and only formats."""

from __future__ import annotations

import html
from typing import Any

from snncompile.report.charts import num
from snncompile.report.html import para, table


def artefact(target: str) -> str:
    """What the target's back end runs beside the emulator (its ARTEFACT: the generated Lava
    program, the RTL), or "the <target> build" for a target this process cannot look up."""
    from snncompile.backends import get_backend
    from snncompile.errors import SnnCompileError

    try:
        return str(get_backend(target).ARTEFACT)
    except SnnCompileError:
        return f"the {target} build"


def verdict_banner(verdict, target: str, reason: str | None) -> str:
    """PASS / FAIL of `snncompile verify` on the report's inputs; on a FAIL, the failed checks,
    the worst layer and what may help."""
    if verdict is None:
        return ("<div class='verdict none' id='verdict'><b>NOT VERIFIED</b>"
                f"{html.escape(reason)}</div>")
    word, cls = ("PASS", "pass") if verdict.passed else ("FAIL", "fail")
    failed = [c.name for c in verdict.checks if not c.passed]
    detail = (f"all {len(verdict.checks)} checks of snncompile verify hold" if not failed
              else f"failed: {'; '.join(failed)}")
    detail += (f" (target {target}, {verdict.samples} sample(s) x {verdict.steps} steps)")
    if failed and verdict.worst_layer is not None and verdict.reference != "emulator":
        detail += f". Worst layer: {verdict.worst_layer}"
    if failed and verdict.advice:
        detail += ". May help: " + "; ".join(verdict.advice)
    return f"<div class='verdict {cls}' id='verdict'><b>{word}</b>{html.escape(detail)}</div>"


def check_rows(verdict) -> list[dict[str, Any]]:
    return [{"check": c.name, "value": c.value,
             "limit": f"{'≥' if getattr(c, 'at_least', False) else '≤'} {c.limit:g}",
             "result": "PASS" if c.passed else "FAIL"} for c in verdict.checks]


def chain_rows(verdict, target: str) -> list[dict[str, Any]]:
    """Each link of the chain trainer -> float reference -> emulator -> target artefact."""
    rows = []
    if verdict.source_agreement is not None:
        rows.append({"link": "trainer's model vs float reference",
                     "compared": "output spike entries", "value": verdict.source_agreement})
    artefact_name = artefact(target)
    # a file already in hw integers has no float model: the emulator is compared with the target
    pair = (f"emulator vs {artefact_name}" if verdict.reference == "emulator"
            else f"{verdict.reference} vs emulator")
    rows += [{"link": pair, "compared": "output spike-count error (per neuron, over the "
              "reference's spikes)", "value": verdict.output_count_error},
             {"link": pair, "compared": "output spike-train agreement (shared silence ignored)",
              "value": verdict.output_train_agreement},
             {"link": pair, "compared": "predicted class agreement",
              "value": verdict.prediction_agreement},
             {"link": pair, "compared": "output spike entries equal (information only)",
              "value": verdict.output_agreement}]
    if verdict.backend_mismatches is not None:
        rows.append({"link": f"emulator vs {artefact_name}", "compared": "output spike entries",
                     "value": "identical" if verdict.backend_mismatches == 0
                     else f"{verdict.backend_mismatches} entries differ"})
    return rows


def accuracy_rows(verdict, target: str) -> list[dict[str, Any]]:
    """Task accuracy (with labels) of each run; the target artefact's equals the emulator's when
    their outputs are identical, which is what the exact check proves."""
    rows = [{"run": verdict.reference, "accuracy %": verdict.float_accuracy},
            {"run": "emulator", "accuracy %": verdict.hw_accuracy}]
    if verdict.backend_mismatches is not None:
        same = verdict.backend_mismatches == 0
        rows.append({"run": artefact(target),
                     "accuracy %": verdict.hw_accuracy if same else "- (outputs differ)"})
    return rows


def layer_rows(order: list[str], summary: list[dict], synapses: dict[str, int], verdict,
               placement, est) -> list[dict]:
    """One row per neuron layer in network order: size, cores, spikes and agreement, energy."""
    agree = {la.name: la for la in (verdict.layers if verdict else ())}
    cores = {r["layer"]: r["cores"] for r in placement.layer_rows()} if placement else {}
    dyn = {r["layer"]: r["dynamic_uj"] for r in est["layers"]} if est else {}
    size = {r["layer"]: r for r in summary}
    rows = []
    for name in order:
        la = agree.get(name)
        rows.append({
            "layer": name, "neurons": size.get(name, {}).get("neurons", "-"),
            "synapses": synapses.get(name, "-"), "cores": cores.get(name, "-"),
            "float spikes": la.float_spikes if la else "-",
            "hw spikes": la.hw_spikes if la else "-",
            "count error": la.count_error if la else "-",
            "train agreement": la.train_agreement if la else "-",
            "entries equal": la.agreement if la else "-",
            "first divergence (step)": (la.first_divergence or "none") if la else "-",
            "dynamic µJ": dyn.get(name, "-"),
        })
    return rows


def in_order(rows: list[dict[str, Any]], order: list[str], key: str = "layer") -> list[dict]:
    """rows sorted into network order (rows for names outside `order` keep their place last)."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(rows, key=lambda r: rank.get(str(r[key]), len(rank)))


def energy_section(est: dict[str, Any], pipelined: bool) -> str:
    """The component table: µJ, share of the total and of the dynamic part."""
    e = est["energy_uj"]
    mode = ("pipelined: inputs stream back to back, one inference is T hw steps" if pipelined
            else "not pipelined: the pipeline drains before the next input (T + L hw steps); "
                 "--pipelined streams inputs back to back")
    rows = [{"component": name, "µJ / inference": v,
             "% of total": 100 * v / e["total"] if e["total"] else 0.0,
             "% of dynamic": (100 * v / e["dynamic"] if e["dynamic"] else 0.0)
             if name != "static" else "-"}
            for name, v in est["breakdown_uj"].items()]
    rows.append({"component": "total", "µJ / inference": e["total"], "% of total": 100.0,
                 "% of dynamic": "-"})
    return (para(f"{est['steps_per_inference']} hw steps per inference ({mode}); activity "
                 f"{est['activity']} on {est['samples']} sample(s). Dynamic "
                 f"{e['dynamic']:.4g} µJ, static {e['static']:.4g} µJ per inference.")
            + table(rows, "energy-table"))


def latency_section(est: dict[str, Any]) -> str:
    lt = est["latency"]
    return para(f"{lt['us_per_step']:.4g} µs per step on average (slowest step "
                f"{lt['max_us_per_step']:.4g} µs), {lt['us_per_inference']:.4g} µs per "
                f"inference, {lt['inferences_per_s']:.4g} inferences/s.")


def kpi_cards(verdict, est, placement, out_layer: str) -> list[tuple[str, str, str]]:
    """The cards under the banner: (name, value, note) of what a reader checks first."""
    kpis = [("verify", ("PASS" if verdict.passed else "FAIL") if verdict else "not run",
             f"{len(verdict.checks)} checks" if verdict else ""),
            ("output agreement", f"{verdict.output_train_agreement:.4f}" if verdict else "-",
             f"spike trains, layer {out_layer}; count error {verdict.output_count_error:.3g}"
             if verdict else "")]
    if verdict is not None and verdict.float_accuracy is not None:
        kpis.append(("accuracy", f"{verdict.hw_accuracy:.2f} %",
                     f"float {verdict.float_accuracy:.2f} %"))
    if est is not None:
        e, lt = est["energy_uj"], est["latency"]
        kpis += [("energy / inference", f"{e['total']:.4g} µJ",
                  f"dynamic {e['dynamic']:.3g} µJ ({100 * e['dynamic'] / e['total']:.2g} %)"
                  if e["total"] else ""),
                 ("latency / inference", f"{lt['us_per_inference']:.4g} µs",
                  f"{num(lt['inferences_per_s'])} inferences/s")]
    if placement is not None:
        kpis.append(("cores", str(len(placement.cores)),
                     f"{placement.metrics['chips']} chip(s)"))
    return kpis
