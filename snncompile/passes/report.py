"""What quantization did to each layer, in threshold units, for the CLI table and the build
manifest.

Units: "thr" = one firing threshold of the layer (errors are per spike / per step, worst case);
"lsb" = the spacing of the synapse's representable weights. A layer's `scale` S is hw v units per
nn v unit (S = 64 vth / threshold). `bits` is how many weight bits the largest weight uses (sign
included for mixed; bits Lava truncates at num_weight_bits are not counted); `bits_lost` =
weight_bits - bits (weight_bits = num_weight_bits, 8 unless --weight-bits), the range left unused
because one exponent and one threshold are shared by the whole layer.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


@dataclasses.dataclass(frozen=True)
class SynapseQuant:
    name: str
    source: str
    # "dense" | "conv" | "bias" (through the bias clock) | "fine" (split weights' residual)
    kind: str
    sign_mode: str
    weight_exp: int
    bits: int
    lsb_thr: float
    max_err_thr: float
    max_err_lsb: float
    floor_err_thr: float


@dataclasses.dataclass(frozen=True)
class LayerQuant:
    layer: str
    kind: str
    neurons: int
    depth: int
    vth: int
    scale: float
    threshold_err: float
    du: int | tuple[int, ...]  # one value, or one per neuron (flat) when they differ
    dv: int | tuple[int, ...]
    du_err: float
    dv_err: float
    bias_route: str  # "-", "neuron" (bias_mant, LIFReset), "clock", "neuron+clock"
    bias_err_thr: float
    headroom_thr: float
    synapses: tuple[SynapseQuant, ...]
    warnings: tuple[str, ...]
    param_groups: int = 1  # distinct (du, dv, vth) tuples: populations if split into groups

    @property
    def max_err_thr(self) -> float:
        return max((s.max_err_thr for s in self.synapses), default=0.0)

    @property
    def max_err_lsb(self) -> float:
        return max((s.max_err_lsb for s in self.synapses), default=0.0)

    @property
    def bits(self) -> int:
        return min((s.bits for s in self.synapses if s.kind in ("dense", "conv")), default=0)


@dataclasses.dataclass(frozen=True)
class QuantReport:
    target: str
    layers: tuple[LayerQuant, ...]
    weight_bits: int = 8  # num_weight_bits of the model's synapses (the --weight-bits choice)

    @property
    def warnings(self) -> list[str]:
        return [f"{layer.layer}: {w}" for layer in self.layers for w in layer.warnings]

    def rows(self) -> list[dict[str, Any]]:
        """One row per layer for a 140-column table (to_dict has every field)."""
        return [
            {
                "layer": q.layer,
                "neurons": q.neurons,
                "vth": q.vth,
                "scale": q.scale,
                "weight_exp": ",".join(str(s.weight_exp) for s in q.synapses if s.kind != "bias"),
                "bits used/lost": f"{q.bits}/{self.weight_bits - q.bits}" if q.synapses else "-",
                "w_err/thr": q.max_err_thr,
                "du_err": q.du_err,
                "dv_err": q.dv_err,
                "bias": q.bias_route,
                "headroom": q.headroom_thr,
            }
            for q in self.layers
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, per layer and per synapse, plus the warnings."""
        layers = []
        for q in self.layers:
            d = dataclasses.asdict(q)
            d["synapses"] = [dataclasses.asdict(s) for s in q.synapses]
            d["warnings"] = list(q.warnings)
            d.update(max_err_thr=q.max_err_thr, max_err_lsb=q.max_err_lsb, bits=q.bits,
                     bits_lost=self.weight_bits - q.bits if q.synapses else 0)
            layers.append(d)
        return {"target": self.target, "weight_bits": self.weight_bits, "layers": layers,
                "warnings": self.warnings}


@dataclasses.dataclass(frozen=True)
class PrequantizedReport:
    """For files that arrive already in hw integers (netx): nothing was quantized, so the table
    lists each layer's hardware parameters as read."""

    target: str
    layers: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, hw_graph: Any, target: str) -> PrequantizedReport:
        rows = []
        for name in hw_graph.of_kind("neuron"):
            op = hw_graph.nodes[name]
            synapses = [hw_graph.nodes[s] for s in hw_graph.predecessors(name)
                        if hw_graph.nodes[s].kind == "synapse"]
            # a sigma-delta neuron (hw.Sigma, Delta, SigmaDelta) has no decays: "-"
            rows.append({"layer": name, "neurons": int(math.prod(op.shape)),
                         "vth": getattr(op, "vth", "-"), "du": getattr(op, "du", "-"),
                         "dv": getattr(op, "dv", "-"),
                         "synapses": ",".join(type(s).__name__ for s in synapses) or "-",
                         "weight_exp": ",".join(str(getattr(s, "weight_exp", "-"))
                                                for s in synapses) or "-"})
        return cls(target, tuple(rows))

    def rows(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.layers]

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "prequantized": True, "layers": self.rows(),
                "warnings": list(self.warnings)}
