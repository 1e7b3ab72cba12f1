"""Plain-text lines of an estimate's placement and spike traffic, for the CLI: what the estimate
placed on and what moving spikes costs, next to the energy table."""

from __future__ import annotations

from typing import Any

BUSIEST_COLUMNS = ("core", "chip", "row", "col", "layers", "synops", "messages_out",
                   "messages_in", "hops_ew_out", "hops_ns_out", "us_per_step", "dynamic_uj")


def placement_lines(est: dict[str, Any]) -> list[str]:
    """One line for the placement and one for the traffic (empty for targets without cores)."""
    p, t = est.get("placement"), est.get("traffic")
    if not p or not t:
        return []
    lb = p.get("lower_bound", {})
    binding = max(lb, key=lb.get) if lb else "-"
    e = t["energy_uj"]
    where = (f"placement: {p['cores']} cores on {p['chips']} chip(s) "
             f"({p.get('method', 'given')}), lower bound {lb.get(binding, '-')} ({binding})")
    flow = (f"spike traffic per inference: {t['messages']:.4g} messages ({t['host_messages']:.4g} "
            f"from the host, {t['inter_core_messages']:.4g} between cores), hops "
            f"{t['hops_ew']:.4g} E-W + {t['hops_ns']:.4g} N-S, {t['chip_crossings']:.4g} chip "
            f"crossings: {e['spike messages']:.4g} + {e['mesh hops']:.4g} uJ")
    return [where, flow]


def busiest_rows(est: dict[str, Any], n: int = 5) -> list[dict[str, Any]]:
    """The n busiest cores (the step waits for the first), selected columns."""
    return [{k: (",".join(r[k]) if k == "layers" else r[k]) for k in BUSIEST_COLUMNS}
            for r in est.get("busiest_cores", [])[:n]]
