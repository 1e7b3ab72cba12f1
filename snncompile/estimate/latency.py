"""Per-core activity and time per step: Loihi-style cores from the partitioner's Placement (slowest
core + routing + barrier, Davies'18 times) and the fpga template's exact cycle formula.

Why per core: a time step ends when the slowest core finishes (all cores meet at a barrier), so
latency follows the busiest core, not the network's average.
"""

from __future__ import annotations

import numpy as np

from snncompile.estimate.activity import Activity

HOST = -1


def core_of_neurons(placement) -> dict[str, np.ndarray]:
    """layer -> core index of every flat neuron."""
    out = {x.name: np.full(int(np.prod(x.shape)), -1, np.int64) for x in placement.layers}
    for c in range(len(placement.cores)):
        for layer, idx in placement.core_neurons(c).items():
            out[layer][idx] = c
    return out


def per_core(act: Activity, placement) -> dict[str, np.ndarray]:
    """(cores, steps) arrays: synops, updates, active updates, spikes fired, per core and step."""
    n_cores, steps = len(placement.cores), act.steps
    owner = core_of_neurons(placement)
    out = {k: np.zeros((n_cores, steps)) for k in ("synops", "updates", "active", "spikes")}
    for name, la in act.layers.items():
        cores = owner.get(name)
        if cores is None:  # a population the partitioner does not place (none today)
            continue
        for t in range(steps):
            out["synops"][:, t] += np.bincount(cores, la.synops[t], n_cores)
            out["active"][:, t] += np.bincount(cores, la.active[t], n_cores)
            out["spikes"][:, t] += np.bincount(cores, la.spikes[t], n_cores)
        out["updates"] += np.bincount(cores, minlength=n_cores)[:, None]
    return out


def loihi_time(core: dict[str, np.ndarray], route: tuple[int, int],
               k: dict[str, float]) -> dict:
    """Time per step (ns): the busiest core's serial work (synops, neuron updates, spike messages
    it sends, each at its Davies'18 time), plus the longest busy route's transit (E-W and N-S
    hops) and one barrier. Cores run in parallel and meet at the barrier, so the step waits for
    the busiest core, not the network's average."""
    busy = (core["synops"] * k["synop_ns"] + core["active"] * k["neuron_update_active_ns"]
            + (core["updates"] - core["active"]) * k["neuron_update_inactive_ns"]
            + core["messages_out"] * k["spike_ns"])  # (cores, steps)
    transit = route[0] * k["hop_ew_ns"] + route[1] * k["hop_ns_ns"]
    step = busy.max(axis=0) + transit + k["barrier_ns"]
    slowest = np.bincount(busy.argmax(axis=0), minlength=busy.shape[0])
    return {"ns_per_step": step, "core_ns": busy.mean(axis=1),
            "components_ns": {"busiest core": float(busy.max(axis=0).mean()),
                              "routing": float(transit), "barrier": float(k["barrier_ns"])},
            "slowest_core": int(slowest.argmax())}


def fpga_time(act: Activity, plan) -> dict:
    """Cycles per step of the fpga template (the formula of sim/cycles.step_cycles, on mean spike
    counts): a tick pass, the input words and events, each source core's spike events."""
    tm = plan.timing
    n_in = act.input_events.sum(axis=1)
    c = (tm["wait"] + plan.tick_len + (n_in + 1) * tm["word"] + n_in * plan.event_len[0]
         + tm["step_end"])
    for j, k in enumerate(plan.source_cores):  # a core = one partitioner block of a population
        core = plan.cores[k]
        counts = act.layers[core.name].spikes.reshape(len(n_in), -1)[:, core.neurons].sum(axis=1)
        c = c + counts * (tm["pop"] + plan.event_len[j + 1]) + tm["source"]
    return {"cycles_per_step": c, "clear_cycles": tm["wait"] + plan.clear_len}
