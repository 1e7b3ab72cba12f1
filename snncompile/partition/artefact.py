"""The Placement: blocks, cores, mesh positions and routes, as JSON, tables and a picture."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.partition.layers import Layer
from snncompile.partition.place import Mesh
from snncompile.partition.resources import CoreModel
from snncompile.partition.route import HOST, Routes
from snncompile.partition.split import RESOURCES, Block


@dataclasses.dataclass
class Placement:
    """What a back end needs: core i holds `blocks` cores[i], sits at mesh slot slot_of[i], and
    receives the source neurons axon_table(i); `metrics` has cores, lower bound, traffic x hops."""

    model: CoreModel
    layers: list[Layer]
    blocks: list[Block]
    cores: list[list[int]]
    routes: Routes
    core_of: np.ndarray
    mesh: Mesh
    slot_of: np.ndarray
    core_routes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    metrics: dict[str, Any]

    # -- per core ---------------------------------------------------------------------------------
    def core_use(self) -> np.ndarray:
        """(cores, 4) neurons, synapse bits, fan-in axons, fan-out axons of every core: neurons
        and synapse bits sum the core's blocks; fan-in and fan-out come from the core routes,
        which partition() counts as the chip does (one in-axon per distinct source neuron of
        the core, one out-axon per source neuron and destination core: axons.py)."""
        use = np.zeros((len(self.cores), 4), np.int64)
        for i, members in enumerate(self.cores):
            for j in members:
                use[i] += self.blocks[j].use()
        src, dst, axons, _ = self.core_routes
        use[:, 2] = np.bincount(dst, axons, minlength=len(self.cores))
        keep = src >= 0
        use[:, 3] = np.bincount(src[keep], axons[keep], minlength=len(self.cores))
        return use

    def core_neurons(self, core: int) -> dict[str, np.ndarray]:
        """layer -> flat neuron indices held by the core (C-order index c * H*W + p)."""
        out: dict[str, list[np.ndarray]] = {}
        for j in self.cores[core]:
            b = self.blocks[j]
            perm = self._layer(b.layer).order.perm
            idx = (np.arange(b.c0, b.c1)[:, None] * len(perm) + perm[b.p0:b.p1][None, :]).ravel()
            out.setdefault(b.layer, []).append(idx)
        return {k: np.concatenate(v) for k, v in out.items()}

    def axon_table(self, core: int) -> dict[str, np.ndarray]:
        """source node -> flat indices of the source neurons whose spikes this core receives:
        the needed neurons of its blocks that the routes deliver (small graphs: materializes)."""
        src, dst, _ = self.routes.src, self.routes.dst, self.routes.axons
        layers = {layer.name: layer for layer in self.layers}
        out: dict[str, set[int]] = {}
        for j in self.cores[core]:
            b = self.blocks[j]
            senders = src[dst == j]
            for inc in layers[b.layer].incoming:
                for need in inc.needed(b.c0, b.c1, b.p0, b.p1):
                    flat = need.flat()
                    if need.src in layers:
                        c, p = np.divmod(flat, need.hw_size)
                        p = layers[need.src].order.inv[p]
                        ok = np.zeros(len(flat), bool)
                        for s in senders[senders >= 0]:
                            sb = self.blocks[s]
                            if sb.layer == need.src:
                                ok |= (c >= sb.c0) & (c < sb.c1) & (p >= sb.p0) & (p < sb.p1)
                        flat = flat[ok]
                    elif HOST not in senders:
                        flat = flat[:0]
                    out.setdefault(need.src, set()).update(flat.tolist())
        return {k: np.array(sorted(v), np.int64) for k, v in out.items()}

    def _layer(self, name: str) -> Layer:
        return next(x for x in self.layers if x.name == name)

    # -- reports ----------------------------------------------------------------------------------
    def utilization_rows(self) -> list[dict[str, Any]]:
        """One row per core resource: limit, total used, mean and max per-core utilization."""
        use = self.core_use()
        rows = []
        for k, name in enumerate(RESOURCES):
            cap = self.model.limits()[name]
            col = use[:, k]
            rows.append({
                "resource": name, "limit_per_core": cap, "used": int(col.sum()),
                "mean_util": float(col.mean() / cap) if cap else None,
                "max_util": float(col.max(initial=0) / cap) if cap else None,
            })
        return rows

    def summary(self) -> str:
        """One line for the compile summary."""
        m = self.metrics
        lb = m["lower_bound"]
        binding = max(lb, key=lb.get)
        halo = max(m.get("lower_bound_halo", lb).values())
        return (f"{m['cores']} cores on {m['chips']} chip(s) of {self.model.target} (lower bound "
                f"{lb[binding]}, {binding}; with conv halos {halo}); spike traffic x hops "
                f"{m['traffic_hops']:.4g} = "
                f"{m['traffic_hops_vs_greedy']:.2f} x layer-order placement")

    def layer_rows(self) -> list[dict[str, Any]]:
        """One row per layer: neurons, synapses, blocks and the cores its blocks sit on."""
        rows: dict[str, dict[str, Any]] = {}
        for j, b in enumerate(self.blocks):
            r = rows.setdefault(b.layer, {"layer": b.layer, "neurons": 0, "synapses": 0,
                                          "blocks": 0, "cores": set()})
            r["neurons"] += b.neurons
            r["synapses"] += b.synapses
            r["blocks"] += 1
            r["cores"].add(int(self.core_of[j]))
        return [{**r, "cores": len(r["cores"])} for r in rows.values()]

    def to_json(self) -> dict[str, Any]:
        """placement.json content: target limits, mesh, every core with its blocks and position,
        core-to-core routes (axons, spikes per step at the assumed rates, hops), metrics."""
        use = self.core_use()
        r, c, chip = self.mesh.xy(self.slot_of)
        cores = [{
            "core": i, "chip": int(chip[i]), "row": int(r[i]), "col": int(c[i]),
            "use": dict(zip(RESOURCES, map(int, use[i]))),
            "blocks": [{"layer": self.blocks[j].layer, "channels": [self.blocks[j].c0,
                        self.blocks[j].c1], "positions": [self.blocks[j].p0, self.blocks[j].p1]}
                       for j in members]}
            for i, members in enumerate(self.cores)]
        src, dst, axons, traffic = self.core_routes
        routes = [{"src": int(s), "dst": int(d), "axons": int(a), "spikes_per_step": float(t)}
                  for s, d, a, t in zip(src, dst, axons, traffic)]
        return {
            "format": "snncompile-placement/1", "target": self.model.target,
            "limits": self.model.limits(), "notes": list(self.model.notes),
            "mesh": dataclasses.asdict(self.mesh),
            "layers": [{"name": x.name, "shape": list(x.shape), "strip_width": x.order.width,
                        "tiles": [[int(v) for v in t[1:]] for t in x.order.tiles]}
                       for x in self.layers],
            "metrics": {k: v for k, v in self.metrics.items() if k != "seconds"},  # no wall time
            "cores": cores, "routes": routes,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")), encoding="utf-8")
        return path
