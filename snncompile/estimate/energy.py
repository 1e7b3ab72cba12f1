"""Energy and latency per inference from activity counters and a target's [energy] constants.

Every constant comes from targets/<name>/target.toml with its source and status, and the report
lists them, so a reader can see which numbers are measured, published or assumed. The same
network as an ANN (one MAC per connection per inference, targets/cpu_baseline/baseline.toml)
gives the conventional baseline the ratio is taken against.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import SnnCompileError
from snncompile.estimate import latency as lat
from snncompile.estimate.activity import Activity, fan
from snncompile.estimate.traffic import traffic
from snncompile.ir.graph import Graph
from snncompile.ir.stats import connections
from snncompile.progress import staged
from snncompile.target import Target, known_targets, load_target

LOIHI_KEYS = ("synop_pj", "neuron_update_active_pj", "neuron_update_inactive_pj", "spike_pj",
              "hop_ew_pj", "hop_ns_pj", "synop_ns", "neuron_update_active_ns",
              "neuron_update_inactive_ns", "spike_ns", "hop_ew_ns", "hop_ns_ns", "barrier_ns",
              "static_power_mw")
FPGA_KEYS = ("synop_pj", "neuron_update_pj", "spike_pj", "static_power_mw")


def constants(target: str | Path | Target) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The target's [energy] values and their rows {name, value, status, source}; a clock in
    its back-end section ([fpga] clock_mhz) comes along."""
    spec = load_target(target)
    if not spec.energy:
        with_energy = [t for t in known_targets() if load_target(t).energy]
        raise SnnCompileError(f"target {spec.name!r} has no [energy] section in its target.toml; "
                              f"energy estimates exist for {', '.join(with_energy)}")
    rows = [{"name": k, "value": p.value, "status": p.status, "source": p.source}
            for k, p in spec.energy.items()]
    values = {k: float(p.value) for k, p in spec.energy.items()}
    if "clock_mhz" in spec.sections.get(spec.backend, {}):
        values["clock_mhz"] = float(spec.value(spec.backend, "clock_mhz"))
    need = FPGA_KEYS if values.get("model") == 2 else LOIHI_KEYS
    missing = [k for k in need if k not in values]
    if missing:
        raise SnnCompileError(f"target {spec.name!r}: [energy] lacks {', '.join(missing)}")
    return values, rows


def baseline_constants() -> tuple[dict[str, float], list[dict[str, Any]], str]:
    path = resources.files("snncompile.targets") / "cpu_baseline" / "baseline.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))["baseline"]
    name = str(data.pop("name"))
    rows = [{"name": f"baseline.{k}", **v} for k, v in data.items()]
    return {k: float(v["value"]) for k, v in data.items()}, rows, name


def neurobench(graph: Graph, act: Activity) -> dict[str, float]:
    """NeuroBench's workload metrics on the hw graph, per sample (Yik et al. 2025, spec §6.3):
    effective ACs (spike x non-zero weight), Dense (every weight each step) and activation
    sparsity (zero outputs / outputs over the spiking layers); bias-clock wiring excluded: the
    clock's own nodes and the synapses that carry biases from it (NeuroBench counts a bias as
    part of the neuron, not as a synapse)."""
    clock = set(graph.meta.get("bias_clock", ()))
    dense = 0.0
    for name, op in graph.nodes.items():
        if op.kind != "synapse" or name in clock or set(graph.predecessors(name)) & clock:
            continue
        src = graph.predecessors(name)[0]
        shape = tuple(graph.shapes[src])
        dense += float(fan(op, np.ones((1, *shape)), shape, dense=True).sum()) * act.steps
    layers = [la for la in act.layers.values() if not la.clock]
    outs = sum(la.neurons * act.steps for la in layers)
    spikes = sum(float(la.spikes.sum()) for la in layers)
    acs = sum(float(la.synops.sum()) for la in layers)
    return {"effective_acs": acs, "effective_macs": 0.0, "dense": dense,
            "activation_sparsity": 1.0 - spikes / max(outs, 1)}


def _layer_rows(act: Activity, k: dict[str, float], fpga: bool) -> list[dict[str, Any]]:
    rows = []
    for la in act.layers.values():
        syn, spk, act_u = float(la.synops.sum()), float(la.spikes.sum()), float(la.active.sum())
        upd = la.neurons * act.steps
        if fpga:
            e = syn * k["synop_pj"] + upd * k["neuron_update_pj"] + spk * k["spike_pj"]
        else:
            e = (syn * k["synop_pj"] + act_u * k["neuron_update_active_pj"]
                 + (upd - act_u) * k["neuron_update_inactive_pj"] + spk * k["spike_pj"])
        rows.append({"layer": la.name, "neurons": la.neurons, "spikes": spk, "synops": syn,
                     "updates": upd, "active_updates": act_u, "dynamic_uj": e * 1e-6})
    return rows


def _core_rows(core: dict[str, np.ndarray], tm: dict, k: dict[str, float],
               placement) -> list[dict[str, Any]]:
    """One row per core, per inference: work, messages, hops and its dynamic energy (the host's
    messages are charged to no core)."""
    r, c, chip = placement.mesh.xy(placement.slot_of)
    e = (core["synops"].sum(1) * k["synop_pj"]
         + core["active"].sum(1) * k["neuron_update_active_pj"]
         + (core["updates"].sum(1) - core["active"].sum(1)) * k["neuron_update_inactive_pj"]
         + core["messages_out"].sum(1) * k["spike_pj"]
         + core["hops_ew_out"].sum(1) * k["hop_ew_pj"]
         + core["hops_ns_out"].sum(1) * k["hop_ns_pj"])
    rows = []
    for i in range(len(placement.cores)):
        rows.append({
            "core": i, "chip": int(chip[i]), "row": int(r[i]), "col": int(c[i]),
            "layers": sorted({placement.blocks[j].layer for j in placement.cores[i]}),
            "neurons": int(core["updates"][i, 0]) if core["updates"].shape[1] else 0,
            "neuron_updates": float(core["updates"][i].sum()),
            "synops": float(core["synops"][i].sum()), "spikes": float(core["spikes"][i].sum()),
            "messages_out": float(core["messages_out"][i].sum()),
            "messages_in": float(core["messages_in"][i].sum()),
            "hops_ew_out": float(core["hops_ew_out"][i].sum()),
            "hops_ns_out": float(core["hops_ns_out"][i].sum()),
            "chip_crossings_out": float(core["crossings_out"][i].sum()),
            "us_per_step": float(tm["core_ns"][i]) * 1e-3, "dynamic_uj": float(e[i]) * 1e-6})
    return rows


def _placement_summary(placement) -> dict[str, Any]:
    """What the estimate placed on: cores, chips, mesh, quality metrics of the partitioner."""
    m = placement.metrics
    keep = ("method", "cores", "chips", "blocks", "lower_bound", "cores_over_lower_bound",
            "traffic_hops", "chip_crossings", "traffic_hops_vs_greedy")
    return {"target": placement.model.target, **{key: m[key] for key in keep if key in m},
            "cores": len(placement.cores), "chips": int(placement.mesh.chips),
            "mesh": {"rows": placement.mesh.rows, "cols": placement.mesh.cols,
                     "chip_rows": placement.mesh.chip_rows, "chip_cols": placement.mesh.chip_cols}}


def estimate_build(build: Any, act: Activity) -> dict[str, Any]:
    """`estimate` of a Build (snncompile.build) on its own placement."""
    return estimate(build.hw_graph, build.target, act, build.placement)


@staged("energy and latency model")
def estimate(graph: Graph, target: str | Path | Target, act: Activity, placement=None
             ) -> dict[str, Any]:
    """Energy (uJ) and latency (us) per inference, with breakdowns, constants and assumptions.
    Without a placement, the partitioner places the graph weighing routes by the measured
    rates (an fpga places its own way, fpga/blocks.py)."""
    target = load_target(target)
    k, rows = constants(target)
    tot = act.totals()
    notes = list(act.notes)
    fpga = k.get("model") == 2
    per_core: list[dict[str, Any]] = []
    busiest: list[dict[str, Any]] = []
    traffic_out: dict[str, Any] | None = None
    placement_out: dict[str, Any] | None = None
    if fpga:
        from snncompile.backends.fpga.plan import make_plan

        plan = make_plan(graph, target=target, placement=placement)
        cyc = lat.fpga_time(act, plan)
        ns_step = cyc["cycles_per_step"] * 1e3 / k["clock_mhz"]
        t_inf_ns = float(ns_step.sum()) + cyc["clear_cycles"] * 1e3 / k["clock_mhz"]
        parts = {"synaptic ops": tot["synops"] * k["synop_pj"],
                 "neuron updates": tot["neuron_updates"] * k["neuron_update_pj"],
                 "spikes and routing": tot["spikes"] * k["spike_pj"]}
        time_parts = {"cycle model": t_inf_ns}
        chips = 1
        notes.append(f"fpga: time = cycles of the template's schedule (timing.toml) at "
                     f"{k['clock_mhz']:g} MHz (assumed clock); per-op energies are 45 nm "
                     "placeholders, static power dominates")
    else:
        if placement is None:
            from snncompile.estimate.rates import neuron_rates
            from snncompile.partition import partition

            # the placement weighs each route by the measured rates of the neurons it carries
            placement = partition(graph, target, rates=neuron_rates(act))
        core = lat.per_core(act, placement)
        tr = traffic(act, placement)
        core.update(tr.per_core(len(placement.cores)))
        tm = lat.loihi_time(core, tr.longest_busy_route(), k)
        ns_step = tm["ns_per_step"]
        t_inf_ns = float(ns_step.sum())
        flow = tr.totals()
        parts = {"synaptic ops": tot["synops"] * k["synop_pj"],
                 "neuron updates": tot["active_updates"] * k["neuron_update_active_pj"]
                 + tot["inactive_updates"] * k["neuron_update_inactive_pj"],
                 "spike messages": flow["messages"] * k["spike_pj"],
                 "mesh hops": flow["hops_ew"] * k["hop_ew_pj"] + flow["hops_ns"] * k["hop_ns_pj"]}
        time_parts = {name: v * act.steps for name, v in tm["components_ns"].items()}
        chips = int(placement.mesh.chips)
        per_core = _core_rows(core, tm, k, placement)
        busiest = sorted(per_core, key=lambda r: -r["us_per_step"])[:10]
        traffic_out = {**flow, "energy_uj": {"spike messages": parts["spike messages"] * 1e-6,
                                             "mesh hops": parts["mesh hops"] * 1e-6},
                       "longest_busy_route_hops": dict(zip(("ew", "ns"),
                                                           tr.longest_busy_route()))}
        placement_out = _placement_summary(placement)
        notes.append(f"{len(placement.cores)} cores on {chips} chip(s) from the partitioner "
                     f"({placement.metrics.get('method', 'given')} placement); a step ends when "
                     "the busiest core is done, plus the longest busy route's transit and one "
                     "barrier")
        notes.append("spike messages: one per (spike, destination core that reads the neuron), "
                     "counted from the spikes of the exact source neurons each (block, core) "
                     "pair carries; core-mesh hops are charged as tile hops; chip crossings are "
                     "counted but not charged beyond their hops (no published per-crossing "
                     "figure)")
    dynamic_uj = sum(parts.values()) * 1e-6
    static_uj = k["static_power_mw"] * chips * t_inf_ns * 1e-6  # mW x ns = 1e-12 J = 1e-6 uJ
    notes.append(f"static energy = {k['static_power_mw']:g} mW x {chips} chip(s) x the "
                 "estimated time per inference")
    b, b_rows, b_name = baseline_constants()
    macs = float(sum(connections(graph).values()))
    base_uj = macs * (b["mac_pj"] + b["weight_fetch_pj"]) * 1e-6
    us_inf = t_inf_ns * 1e-3
    return {
        "target": target.name, "activity": act.source, "samples": act.samples,
        "steps_per_inference": act.steps,
        "energy_uj": {"dynamic": dynamic_uj, "static": static_uj, "total": dynamic_uj + static_uj},
        "breakdown_uj": {**{n: v * 1e-6 for n, v in parts.items()}, "static": static_uj},
        "latency": {"us_per_step": float(np.mean(ns_step)) * 1e-3,
                    "max_us_per_step": float(np.max(ns_step)) * 1e-3,
                    "us_per_inference": us_inf,
                    "inferences_per_s": 1e6 / us_inf if us_inf > 0 else float("inf"),
                    "breakdown_us": {n: v * 1e-3 for n, v in time_parts.items()}},
        "counts": tot, "neurobench": neurobench(graph, act),
        "layers": _layer_rows(act, k, fpga), "cores": per_core, "busiest_cores": busiest,
        "traffic": traffic_out, "placement": placement_out,
        "baseline": {"name": b_name, "macs": macs, "energy_uj": base_uj,
                     "ratio_baseline_over_estimate": base_uj / max(dynamic_uj + static_uj, 1e-30)},
        "constants": rows + b_rows, "assumptions": notes,
    }
